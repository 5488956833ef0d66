"""The local engines against the real default models."""

from __future__ import annotations

import gc
import json
import shutil
import threading
import time
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest
from conftest import word_error_rate, words

from assistant.audio.codec import concat, decode_file, resample, silence
from assistant.errors import UnknownNameError, UsageError
from assistant.providers import (
    ChatModel,
    SpeechToText,
    TextToSpeech,
    TranscriptionStopped,
    TurnSpeechToText,
    speak_text,
    usage_of,
)
from assistant.providers.faster_whisper import turn_tokens, turn_window_frames
from assistant.providers.llama_cpp import LlamaCppChat, StopSequences
from assistant.providers.piper import PiperTTS, VoiceFiles
from assistant.types import AudioChunk, ChatMessage

SENTENCE = "The quick brown fox jumps over the lazy dog."


def test_providers_satisfy_the_interfaces(stt, chat, tts):
    assert isinstance(stt, SpeechToText)
    assert isinstance(chat, ChatModel)
    assert isinstance(tts, TextToSpeech)


def test_piper_speech_transcribes_back_to_the_same_words(stt, tts):
    audio = concat(tts.synthesize(SENTENCE))
    assert audio.sample_rate == 22050
    assert 1.5 < audio.seconds < 6
    assert words(stt.transcribe(audio).text) == words(SENTENCE)


def test_speech_from_another_synthesizer_is_transcribed(stt, espeak):
    said = "Please turn off the kitchen lights and lock the front door."
    result = stt.transcribe(decode_file(espeak(said, "lights")))
    assert word_error_rate(result.text, said) <= 1 / 6
    assert result.language == "en"
    assert result.segments and result.segments[-1].end <= result.duration + 0.5


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_any_input_rate_is_resampled_for_whisper(stt, espeak, rate):
    said = "Tell me a fun fact about cats."
    audio = resample(decode_file(espeak(said, "cats")), rate)
    assert audio.sample_rate == rate
    # 8 kHz (telephone band) costs a word or two; broken resampling would give nonsense
    assert word_error_rate(stt.transcribe(audio).text, said) <= 0.3


def test_a_live_turn_is_heard_without_timestamps_and_given_up_once_no_longer_wanted(
    stt, espeak, monkeypatch
):
    said = "Please turn off the kitchen lights and lock the front door."
    audio = decode_file(espeak(said, "lights"))
    assert isinstance(stt, TurnSpeechToText)
    steps: list[str] = []

    def stopped_after(checks: int):
        def stopped() -> bool:  # each check is a step Whisper is about to take
            steps.append("check")
            return len(steps) > checks

        return stopped

    for checks in (0, 1, 2):  # at once; before encoding; before decoding
        steps.clear()
        with pytest.raises(TranscriptionStopped):
            stt.transcribe_turn(audio, stopped_after(checks))
        assert len(steps) == checks + 1
    prompts: list[list[int]] = []
    new_tokens: list[int] = []
    decode = stt.engine.model.generate  # CTranslate2's, as faster-whisper calls it

    def noting_prompt(features, prompt, **options):
        prompts.append(list(prompt[0]))
        new_tokens.append(options["max_length"] - len(prompt[0]))
        return decode(features, prompt, **options)

    monkeypatch.setattr(stt.engine.model, "generate", noting_prompt)
    heard = stt.transcribe_turn(audio, lambda: False)  # not stopped: the whole transcription
    plain = stt.transcribe(audio)  # plain calls are not watched and keep their timestamps
    assert word_error_rate(heard.text, said) <= 0.2 and word_error_rate(plain.text, said) <= 0.2
    no_timestamps = stt.engine.hf_tokenizer.token_to_id("<|notimestamps|>")
    assert no_timestamps in prompts[0] and no_timestamps not in prompts[-1]
    # a live turn's decode ends at its budget (a loop cannot run on to 448 tokens); files do not
    assert new_tokens[0] == turn_tokens(audio.seconds) < 100 and new_tokens[-1] > 400


def test_a_decode_ends_at_its_token_budget(stt, espeak):
    said = "Tell me a fun fact about cats."
    audio = decode_file(espeak(said, "cats"))
    cut = stt.transcribe(audio, temperature=0.0, max_tokens=3).text
    assert 0 < len(cut.split()) <= 3 and cut.split()[0] == "Tell", cut
    assert turn_tokens(2.0) == 52 and turn_tokens(600.0) == turn_tokens(30.0) == 440


class _EncodedFrames:
    """CTranslate2's Whisper, noting how many log-mel frames each encoding reads."""

    def __init__(self, model) -> None:
        self.model, self.frames = model, []

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def encode(self, features, **options):
        self.frames.append(features.shape[-1])
        return self.model.encode(features, **options)


def test_a_live_turn_is_encoded_in_a_short_window_and_heard_alike(stt, espeak, monkeypatch):
    said = "Please turn off the kitchen lights and lock the front door."
    audio = decode_file(espeak(said, "lights"))
    engine = _EncodedFrames(stt.engine.model._model)
    monkeypatch.setattr(stt.engine.model, "_model", engine)
    stt.transcribe_turn(audio, lambda: False)
    assert engine.frames == [3000]  # by default Whisper's own window (stt.turn_window_s = 30)
    monkeypatch.setattr(stt, "_options", replace(stt._options, turn_window_s=15.0))
    heard = stt.transcribe_turn(audio, lambda: False)
    plain = stt.transcribe(audio)  # a file: Whisper's own 30 s window
    assert engine.frames[1:] == [1500, 3000]
    assert word_error_rate(heard.text, said) <= 0.2 and word_error_rate(plain.text, said) <= 0.2
    long_turn = concat([audio] * 4)  # 4 readings, ~15 s: the turn and 2 s after it
    assert stt.transcribe_turn(long_turn, lambda: False).text.lower().count("kitchen") >= 3
    assert engine.frames[-1] == turn_window_frames(long_turn.seconds, 15.0) > 1600


def test_the_live_window_grows_with_the_turn_up_to_whispers_own():
    assert turn_window_frames(1.5, 10.0) == 1000 and turn_window_frames(1.5, 4.0) == 400
    assert turn_window_frames(12.0, 10.0) == 1400  # the turn and 2 s
    assert turn_window_frames(12.001, 10.0) == 1402  # even: the encoder halves the frames
    assert turn_window_frames(28.0, 10.0) is None  # no shorter than Whisper's: its own
    assert turn_window_frames(1.0, 30.0) is None  # stt.turn_window_s = 30: always its own


def test_silence_gives_an_empty_transcript(stt):
    assert stt.transcribe(silence(3.0, 16000)).text == ""


def test_quiet_noise_gives_an_empty_transcript(stt):
    noise = np.random.default_rng(7).normal(0, 0.003, 16000 * 2).astype(np.float32)
    assert stt.transcribe(AudioChunk.from_float32(noise, 16000)).text == ""


def test_llm_streams_a_reply_that_ends(chat):
    messages = [ChatMessage("system", "You are concise."), ChatMessage("user", "Name a colour.")]
    deltas = list(chat.stream_chat(messages, max_tokens=40))
    assert len(deltas) > 1
    assert "".join(deltas).strip()


def test_llm_uses_the_chat_template_inside_the_gguf(chat):
    tokens = chat.prompt_tokens([ChatMessage("user", "Hi")])
    text = chat.llama.detokenize(tokens, special=True).decode()
    assert "<|im_start|>user\nHi<|im_end|>" in text
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_closing_the_stream_stops_decoding(chat):
    messages = [ChatMessage("user", "Write a long story about a dragon and a knight.")]
    prompt = len(chat.prompt_tokens(messages))
    stream = chat.stream_chat(messages, max_tokens=400, temperature=0.0)
    for _ in range(3):
        next(stream)
    stream.close()
    assert chat.tokens_in_context <= prompt + 6  # no token decoded after close
    # the model is free again: a new request runs at once
    assert "".join(chat.stream_chat([ChatMessage("user", "Say hi.")], max_tokens=8))


def test_llama_cpp_computes_on_one_thread_whichever_thread_asks(chat, monkeypatch):
    """libgomp keeps an OpenMP team per calling thread, and more team threads than cores make
    every team sleep at its barriers: so the warm-up, each conversation's thread and the
    server's request threads all have llama.cpp compute on the one thread of its own."""
    evaluated_on: list[threading.Thread] = []
    evaluate = chat.llama.eval

    def recorded(tokens):
        evaluated_on.append(threading.current_thread())
        return evaluate(tokens)

    monkeypatch.setattr(chat.llama, "eval", recorded)
    chat.warm_up("You are concise.")
    replies: list[str] = []
    askers = [
        threading.Thread(target=lambda: replies.append("".join(chat.stream_chat(
            [ChatMessage("user", "Name a colour.")], max_tokens=6, temperature=0.0))))
        for _ in range(2)
    ]  # fmt: skip
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=60)
    assert len(replies) == 2 and all(reply.strip() for reply in replies)
    assert len(set(evaluated_on)) == 1
    assert evaluated_on[0] not in (threading.current_thread(), *askers)
    # a consumer that stops asking pauses llama.cpp: the engine does not run ahead of it
    stream = chat.stream_chat([ChatMessage("user", "Tell me a long story.")], max_tokens=50)
    next(stream)
    evaluations = len(evaluated_on)
    time.sleep(0.3)
    assert len(evaluated_on) == evaluations
    stream.close()


def test_a_chat_let_go_of_ends_its_engine_thread(chat):
    other = LlamaCppChat(chat.llama, chat._formatter, max_tokens=8, temperature=0.0)
    thread = other.on_engine_thread(threading.current_thread)
    assert thread.is_alive() and thread is not threading.current_thread()
    del other
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()  # its OpenMP team goes with it


def test_stop_sequences_end_the_reply(chat):
    messages = [ChatMessage("user", "Count from 1 to 10.")]
    reply = "".join(chat.stream_chat(messages, max_tokens=60, temperature=0.0, stop=["4"]))
    assert "3" in reply
    assert "4" not in reply


def test_history_longer_than_the_context_window_is_trimmed(store):
    small = LlamaCppChat.load(
        store.require("smollm2-135m-instruct", "llm") / "model.gguf", context=512
    )
    history = [ChatMessage("system", "You are helpful.")]
    for turn in range(40):
        history.append(ChatMessage("user", f"Tell me fact number {turn} about the sea. " * 5))
        history.append(ChatMessage("assistant", "The sea is large and deep and full of life. " * 5))
    history.append(ChatMessage("user", "What is your favourite fish?"))
    reply = "".join(small.stream_chat(history, max_tokens=64))
    assert reply.strip()
    assert small.tokens_in_context <= 512


def test_one_huge_message_is_shortened_to_fit(store):
    small = LlamaCppChat.load(
        store.require("smollm2-135m-instruct", "llm") / "model.gguf", context=256
    )
    huge = "word " * 2000 + "Now say OK."
    assert "".join(small.stream_chat([ChatMessage("user", huge)], max_tokens=16)) is not None
    assert small.tokens_in_context <= 256


def test_piper_yields_one_chunk_per_sentence(tts):
    chunks = list(tts.synthesize("First sentence here. Second one now. And the third!"))
    assert len(chunks) == 3
    assert all(c.sample_rate == 22050 and c.seconds > 0.3 for c in chunks)


def test_speed_changes_the_length_of_speech(tts):
    slow = concat(tts.synthesize(SENTENCE, speed=0.5)).seconds
    normal = concat(tts.synthesize(SENTENCE)).seconds
    fast = concat(tts.synthesize(SENTENCE, speed=2.0)).seconds
    assert slow > normal * 1.5  # measured 1.7-1.9 (noise_w varies durations)
    assert fast < normal * 0.72  # measured 0.60-0.67: pauses do not shrink


def test_markdown_and_emoji_are_not_read_aloud(stt, tts):
    audio = concat(
        speak_text(
            tts, "## Tonight\n**Clear** skies over the hills 😀 ☀️ — see [the map](http://x.y)."
        )
    )
    heard = words(stt.transcribe(audio).text)
    assert heard[:3] == ["tonight", "clear", "skies"]
    assert not {"asterisk", "star", "hash", "http", "smiley"} & set(heard)


def test_run_on_text_is_spoken_in_bounded_chunks(tts):
    text = " ".join(["and then the little boat sailed on"] * 30)  # ~1000 characters, no full stop
    chunks = list(speak_text(tts, text))
    assert len(chunks) >= 4
    assert max(c.seconds for c in chunks) < 20
    with pytest.raises(UsageError, match="more than one synthesis takes"):
        list(tts.synthesize(text))  # the engine itself never takes an unbounded chunk


def test_voices_lists_the_default_voice(tts):
    [voice] = [v for v in tts.voices() if v.id == "en_US-joe-medium"]
    assert voice.sample_rate == 22050
    assert voice.language.startswith("en")


def test_unknown_voice_lists_the_available_ones(tts):
    with pytest.raises(UnknownNameError, match="en_US-joe-medium"):
        list(tts.synthesize("Hello.", voice="nobody"))


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_refused(tts, text):
    with pytest.raises(UsageError, match="no text"):
        tts.synthesize(text)


def test_speaker_names_and_ids_of_a_multi_speaker_voice(store, tmp_path):
    joe = store.path("en_US-joe-medium")
    config = json.loads((joe / "voice.onnx.json").read_text())
    config.update(num_speakers=2, speaker_id_map={"alice": 0, "bob": 1})
    (tmp_path / "voice.onnx.json").write_text(json.dumps(config))
    shutil.copy(joe / "voice.onnx", tmp_path / "voice.onnx")
    tts = PiperTTS(
        {"multi": VoiceFiles(tmp_path / "voice.onnx", tmp_path / "voice.onnx.json")},
        default_voice="multi",
    )
    assert tts.voices()[0].speakers == ("alice", "bob")
    assert tts.resolve("multi:bob") == ("multi", 1)
    assert tts.resolve("multi:0") == ("multi", 0)
    assert tts.resolve(None) == ("multi", None)
    with pytest.raises(UnknownNameError, match="multi:alice, multi:bob"):
        tts.resolve("multi:carol")


def test_warm_up_runs_each_engine_once_and_caches_the_system_prompt(stt, chat, tts):
    from assistant.providers.loading import Engines, warm_up

    system = ChatMessage("system", "You are a warm-up test. Be brief.")
    warm_up(Engines(stt, chat, tts), system.content)
    cached = list(chat.llama._input_ids[: chat.tokens_in_context])
    first_turn = chat.prompt_tokens([system, ChatMessage("user", "What is two plus two?")])
    # all that the first turn's prompt shares with the system prompt alone is cached already
    shared = _common_prefix(chat.prompt_tokens([system]), first_turn)
    assert shared > 10 and _common_prefix(cached, first_turn) >= shared


def _common_prefix(a: list[int], b: list[int]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def test_the_next_turn_reuses_the_cached_prompt_of_the_earlier_ones(chat):
    """llama.cpp keeps the longest common token prefix with its previous call: the rendered
    prompt must grow at its end only, so each turn evaluates just the new words."""
    history = [ChatMessage("system", "Answer in one short sentence.")]
    for question in ("What colour is grass?", "And the sky?"):
        history.append(ChatMessage("user", question))
        prompt = chat.prompt_tokens(history)
        reply = "".join(chat.stream_chat(history, temperature=0, max_tokens=24)).strip()
        history.append(ChatMessage("assistant", reply))
        cached = list(chat.llama._input_ids[: chat.tokens_in_context])
        assert cached[: len(prompt)] == prompt  # this turn's prompt is in the cache
    following = chat.prompt_tokens([*history, ChatMessage("user", "Thanks.")])
    # everything before the last reply is reused; the reply itself is too, where the text
    # round-trips to the same tokens
    assert _common_prefix(following, cached) >= len(prompt)


class _CudaWithoutCublas:
    """faster-whisper's WhisperModel as it behaves on a GPU machine with CUDA 13 only (seen on
    an H200): it loads on "cuda", and the first encoding fails for want of libcublas.so.12."""

    loaded: ClassVar[list[str]] = []

    def __init__(self, path, *, device, compute_type, cpu_threads, local_files_only):
        self.device = device
        self.loaded.append(device)
        self.model = type("Model", (), {"is_multilingual": False})()

    def transcribe(self, audio, **options):
        if self.device == "cuda":
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")
        return iter(()), None


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_a_gpu_whisper_cannot_use_is_found_at_load(monkeypatch, tmp_path, device):
    import ctranslate2
    import faster_whisper

    from assistant.errors import AssistantError
    from assistant.providers.faster_whisper import FasterWhisperSTT

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(faster_whisper, "WhisperModel", _CudaWithoutCublas)
    _CudaWithoutCublas.loaded.clear()
    if device == "cuda":  # asked for the GPU: a clear error saying what to install
        with pytest.raises(AssistantError, match=r"libcublas\.so\.12.*nvidia-cublas-cu12"):
            FasterWhisperSTT.load(tmp_path / "whisper-tiny.en", device=device)
    else:  # "auto": the CPU instead
        stt = FasterWhisperSTT.load(tmp_path / "whisper-tiny.en", device=device)
        assert stt.engine.device == "cpu"
        assert _CudaWithoutCublas.loaded == ["cuda", "cpu"]


def test_chat_usage_is_llama_cpps_own_count(chat):
    """The stream's usage, once read, is what llama.cpp's own non-streamed completion reports
    for the same prompt: at the end of the reply, at max_tokens and at a stop sequence."""
    said = [ChatMessage("user", "Say hi.")]
    for max_tokens, stop in ((100, None), (5, None), (100, ["corner"])):
        stream = chat.stream_chat(said, max_tokens=max_tokens, temperature=0, stop=stop)
        text = "".join(stream)
        own = chat.llama.create_completion(
            chat.prompt_tokens(said), max_tokens=max_tokens, temperature=0, stop=stop
        )
        assert text == own["choices"][0]["text"]
        usage = usage_of(stream)
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
            own["usage"]["prompt_tokens"], own["usage"]["completion_tokens"],
            own["usage"]["total_tokens"],
        )  # fmt: skip
        assert usage.finish_reason == own["choices"][0]["finish_reason"]


def test_a_stop_sequence_split_across_deltas_is_still_found():
    watch = StopSequences(["</end>", "STOP"])
    out = [watch.feed(part) for part in ("Hello </e", "nd> and more")]
    assert out == ["Hello ", ""] and watch.met and watch.flush() == ""
    watch = StopSequences(["STOP"])
    out = [watch.feed(part) for part in ("a ST", "ep S", "T")]
    assert "".join(out) + watch.flush() == "a STep ST" and not watch.met
    assert StopSequences([]).feed("anything") == "anything"
