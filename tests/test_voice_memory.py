"""The voices' working memory (issue #11): ONNX Runtime's arena is handed back after each run
unless `tts.release_memory` is false, a reply hands the heap's freed memory back to the system
after each chunk's synthesis and around the warm-ups, Piper voices at most `RUN_CHARS`
characters a run, the end-of-turn model keeps no arena, and one Silero model serves both VADs."""

from __future__ import annotations

import subprocess
import sys
import threading

import onnxruntime
from faster_whisper.vad import get_vad_model

from assistant.audio.codec import decode_file
from assistant.audio.vad import FRAME_SAMPLES, VAD_RATE, SileroVAD, silero_model_path
from assistant.config import load_config
from assistant.conversation import reply as reply_module
from assistant.conversation.events import TurnTimings
from assistant.conversation.reply import Reply, ReplySettings, Stages, Workers
from assistant.conversation.sinks import CollectingSink
from assistant.providers import loading
from assistant.providers.loading import load_turn_model
from assistant.providers.local_voices import create as create_local_voices
from assistant.providers.onnx_sessions import ARENA_SHRINKAGE, ReleasingSession
from assistant.providers.piper import RUN_CHARS, PiperTTS, VoiceFiles
from assistant.providers.tiers import resolve_models
from assistant.text import cut_to_length
from assistant.types import ChatMessage

VOICE = "en_US-joe-medium"
# one sentence of 156 characters (a reply hands a voice up to 160), clauses inside
LONG = (
    "The weather today is sunny with a light breeze from the west, and the afternoon should "
    "stay warm and dry until the evening, when clouds arrive from the sea."
)


def _piper_session(store, **overrides):
    config = resolve_models(load_config(overrides={"models.tier": "tiny", **overrides}))
    router = create_local_voices(config, store)
    return router.engine_of(VOICE).load_voice(VOICE).session


def test_a_voice_hands_its_arena_back_after_each_run_by_default(store):
    session = _piper_session(store)
    assert isinstance(session, ReleasingSession)
    key, value = ARENA_SHRINKAGE
    assert session.run_options.get_run_config_entry(key) == value


def test_release_memory_false_keeps_the_plain_session(store):
    session = _piper_session(store, **{"tts.release_memory": "false"})
    assert isinstance(session, onnxruntime.InferenceSession)


class _CountingSession:
    """The real session, its runs counted (with the run options they were given)."""

    def __init__(self, session):
        self._session, self.runs = session, []

    def run(self, output_names, input_feed, run_options=None):
        self.runs.append(input_feed["input"].shape[1])
        return self._session.run(output_names, input_feed, run_options)

    def __getattr__(self, name):
        return getattr(self._session, name)


def test_piper_voices_a_long_chunk_in_runs_of_at_most_run_chars(store):
    directory = store.path(VOICE)
    tts = PiperTTS(
        {VOICE: VoiceFiles(directory / "voice.onnx", directory / "voice.onnx.json")},
        default_voice=VOICE,
    )
    voice = tts.load_voice(VOICE)
    counting = voice.session = _CountingSession(voice.session)
    audio = b"".join(chunk.pcm for chunk in tts.synthesize(LONG))
    assert len(counting.runs) == len(cut_to_length(LONG, RUN_CHARS)) == 2
    assert len(audio) / 2 / 22050 > 6  # all of it spoken: ~8 s


def test_cut_to_length_cuts_at_clauses_then_spaces_and_keeps_every_word():
    pieces = cut_to_length(LONG, RUN_CHARS)
    assert pieces[0].endswith("west,") and all(len(p) <= RUN_CHARS for p in pieces)
    assert " ".join(pieces).split() == LONG.split()
    assert cut_to_length("Short.", RUN_CHARS) == ["Short."]
    assert cut_to_length("word " * 50, 20) == ["word word word word"] * 12 + ["word word"]


GROWTH = """
import sys
from assistant.config import load_config
from assistant.memory import release_freed
from assistant.providers.registry import create_tts
from assistant.providers.store import ModelStore
from assistant.providers.tiers import resolve_models
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20
config = resolve_models(load_config(overrides={"models.tier": "tiny",
                                               "tts.release_memory": sys.argv[1]}))
tts = create_tts(config, ModelStore.open(config.models.dir))
release_freed(); before = rss()
for _ in tts.synthesize(sys.argv[2]): pass
release_freed(); print(rss() - before)
"""


def _growth(release: str) -> int:
    """MB the process holds more after voicing LONG once than before (a fresh process)."""
    done = subprocess.run([sys.executable, "-c", GROWTH, release, LONG], capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    return int(done.stdout.split()[-1])


def test_the_memory_of_a_long_chunk_is_returned_only_with_release_memory():
    kept, released = _growth("false"), _growth("true")
    assert kept > 60, kept  # ONNX Runtime's arena keeps ~100 MB for a 100-character run
    assert released < kept / 2, (released, kept)


class _CountingVoice:
    """The real voice, its syntheses counted."""

    def __init__(self, tts):
        self._tts, self.chunks = tts, 0

    def synthesize(self, text, **options):
        self.chunks += 1
        return self._tts.synthesize(text, **options)

    def __getattr__(self, name):
        return getattr(self._tts, name)


def test_a_reply_hands_the_freed_memory_back_after_each_chunk_on_the_voices_thread(
    chat, tts, monkeypatch
):
    trims = []  # the thread of each call; then the real call
    real = reply_module.release_freed

    def recorded():
        trims.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(reply_module, "release_freed", recorded)
    voice, workers = _CountingVoice(tts), Workers()
    try:
        record = Reply(
            Stages(None, chat, voice), workers, "Name three colours, one sentence each.",
            history=[ChatMessage("system", "You are brief.")], sink=CollectingSink(),
            settings=ReplySettings(), timings=TurnTimings(),
        ).run_blocking()  # fmt: skip
    finally:
        workers.shutdown(wait=True)
    assert record is not None and record.spoken and voice.chunks >= 1
    assert trims.count("assistant-tts_0") == voice.chunks, (trims, voice.chunks)


HELD_AFTER_TURN_MODEL = """
from assistant.config import load_config
from assistant.memory import release_freed
from assistant.providers.loading import load_turn_model
from assistant.providers.store import ModelStore
from assistant.providers.tiers import resolve_models
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20
config = resolve_models(load_config(overrides={"models.tier": "tiny"}))
turn = load_turn_model(config, ModelStore.open(config.models.dir))
release_freed(); before = rss()
turn.warm_up(); turn.warm_up()
release_freed(); print(rss() - before)
"""


def test_the_end_of_turn_model_runs_without_an_arena(config, store):
    turn = load_turn_model(config, store)
    assert turn._session.get_session_options().enable_cpu_mem_arena is False
    done = subprocess.run([sys.executable, "-c", HELD_AFTER_TURN_MODEL], capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    held = int(done.stdout.split()[-1])
    assert held < 12, held  # with ONNX Runtime's arena: ~30 MB kept (4 without)


class _LoggedWarmUp:
    """A real stage whose warm-up is written in `log`."""

    def __init__(self, name, stage, log):
        self._name, self._stage, self._log = name, stage, log

    def warm_up(self, *arguments):
        self._log.append(self._name)
        self._stage.warm_up(*arguments)


def test_the_heap_is_trimmed_before_each_warm_up_and_at_ready(stt, chat, tts, monkeypatch):
    log = []
    monkeypatch.setattr(loading, "release_freed", lambda: log.append("trim"))
    stages = {name: _LoggedWarmUp(name, stage, log)
              for name, stage in (("stt", stt), ("chat", chat), ("tts", tts))}  # fmt: skip
    loading.warm_up(loading.Engines(**stages), "You are brief.")
    assert log == ["trim", "stt", "trim", "chat", "trim", "tts", "trim"]


def test_one_silero_model_serves_the_vad_and_whispers_filter(question_wav):
    shared, other = SileroVAD.load(), SileroVAD.load()
    assert shared._session is other._session is get_vad_model().session
    own = SileroVAD.load(silero_model_path())  # a session of its own: the same answers
    samples = decode_file(question_wav, VAD_RATE).to_float32()
    frames = samples[: len(samples) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    heard = [(shared(frame), own(frame)) for frame in frames]
    assert max(p for p, _ in heard) > 0.9  # speech was heard, each VAD with its own state
    assert all(abs(p - q) < 1e-5 for p, q in heard)
