"""The speaking voice's persona line in the conversation's system prompt (issue #11,
`instructions`): built from the voice catalog's character line, put where llama.cpp's cached
prefix holds, and sent to the real model by the one Reply pipeline for the voice that speaks."""

from __future__ import annotations

from assistant.conversation.events import TurnTimings
from assistant.conversation.persona import persona_line, speaking_voice, with_persona
from assistant.conversation.reply import Reply, ReplySettings, Stages, Workers
from assistant.conversation.sinks import CollectingSink
from assistant.text import has_cjk
from assistant.types import ChatMessage, Voice

SYSTEM = ChatMessage("system", "You are a helpful voice assistant.")
JOE = Voice("en_US-joe-medium", "en_US", 22050, description="Joe: steady and plain-spoken; quick")


def test_the_persona_line_is_the_voices_character_and_the_manner_asked_for():
    assert persona_line(JOE) == "You are Joe, steady and plain-spoken."
    assert persona_line(JOE, "Speak slowly and calmly.") == (
        "You are Joe, steady and plain-spoken. Speak in this manner: Speak slowly and calmly."
    )
    plain = Voice("en_GB-alba-medium", "en_GB", 22050, description="Piper voice alba (English)")
    assert persona_line(plain) == ""  # a description with no "Name: character"
    assert persona_line(None, "  ") == ""
    assert persona_line(None, "cheerful!") == "Speak in this manner: cheerful."


def test_the_persona_line_ends_the_first_system_message_so_the_cached_prefix_holds():
    history = [SYSTEM, ChatMessage("user", "Hi."), ChatMessage("assistant", "Hello!")]
    question = ChatMessage("user", "What is your name?")
    told = with_persona([*history, question], "You are Joe.")
    assert told[0] == ChatMessage("system", "You are a helpful voice assistant. You are Joe.")
    assert told[1:] == [*history[1:], question]
    # the next turn's prompt begins exactly as this one did
    assert (
        with_persona([*history, question, ChatMessage("user", "More.")], "You are Joe.")[
            : len(told)
        ]
        == told
    )
    assert with_persona([question], "You are Joe.") == [ChatMessage("system", "You are Joe."),
                                                        question]  # fmt: skip
    assert with_persona(history, "") == history


def test_the_speaking_voice_is_found_by_id_speaker_or_the_default():
    voices = [JOE, Voice("kokoro-kumo", "en", 24000)]
    assert speaking_voice(voices, "kokoro-kumo", "en_US-joe-medium").id == "kokoro-kumo"
    assert speaking_voice(voices, None, "en_US-joe-medium") is JOE
    assert speaking_voice(voices, "en_US-joe-medium:0", None) is JOE
    assert speaking_voice(voices, None, None) is None


class Recording:
    """The real model, with what it was asked kept (a short reply, for speed)."""

    def __init__(self, chat) -> None:
        self.chat, self.asked = chat, []

    def stream_chat(self, messages, **options):
        self.asked.append(list(messages))
        return self.chat.stream_chat(messages, max_tokens=8)


def _system_prompt_of_a_reply(chat, tts, said: str, settings: ReplySettings) -> str:
    model = Recording(chat)
    workers = Workers()
    try:
        reply = Reply(
            Stages(None, model, tts), workers, said, history=[SYSTEM], sink=CollectingSink(),
            settings=settings, timings=TurnTimings(),
        )  # fmt: skip
        record = reply.run_blocking()
    finally:
        workers.shutdown()
    if not has_cjk(said):  # (the tiny model's Chinese is not always speakable: not this test's)
        assert reply.failure is None and record is not None and record.spoken, reply.failure
    return model.asked[0][0].content


def test_a_reply_tells_the_model_the_persona_of_the_voice_that_speaks_it(chat, tts):
    voices = {voice.id: voice for voice in tts.voices()}
    default = _system_prompt_of_a_reply(chat, tts, "Hello.", ReplySettings())
    assert default == f"{SYSTEM.content} {persona_line(voices[tts.default_voice])}"
    assert "You are Joe, steady and plain-spoken" in default
    asked = ReplySettings(voice="kokoro-kumo", instructions="speak slowly and calmly")
    kumo = _system_prompt_of_a_reply(chat, tts, "Hello.", asked)
    assert kumo.endswith("You are Kumo, calm and low, an unhurried man. "
                         "Speak in this manner: speak slowly and calmly.")  # fmt: skip
    # a Mandarin turn is spoken by the Mandarin voice: its persona, not Joe's
    mandarin = _system_prompt_of_a_reply(chat, tts, "你好。", ReplySettings())
    assert "You are Nezumi, soft and gentle." in mandarin and "Joe" not in mandarin
    off = _system_prompt_of_a_reply(chat, tts, "Hello.", ReplySettings(voice_persona=False))
    assert off == SYSTEM.content


def test_the_warm_up_caches_the_system_prompt_the_first_reply_sends(stt, chat, tts):
    """With the persona line in it: the first turn after start-up reads only its own words."""
    from assistant.conversation.options import ConversationOptions
    from assistant.providers.loading import Engines, warm_up

    for options in (
        ConversationOptions(SYSTEM.content),
        ConversationOptions(SYSTEM.content, voice="kokoro-kumo", instructions="cheerful"),
        ConversationOptions(SYSTEM.content, voice_persona=False),
    ):
        settings = ReplySettings(options.voice, instructions=options.instructions,
                                 voice_persona=options.voice_persona)  # fmt: skip
        sent = _system_prompt_of_a_reply(chat, tts, "Hello.", settings)
        assert options.first_system_prompt(tts) == sent
    assert "You are Joe" in ConversationOptions(SYSTEM.content).first_system_prompt(tts)
    warm_up(Engines(stt, chat, tts), ConversationOptions(SYSTEM.content).first_system_prompt)
    cached = list(chat.llama._input_ids[: chat.tokens_in_context])
    system = ChatMessage("system", ConversationOptions(SYSTEM.content).first_system_prompt(tts))
    first_turn = chat.prompt_tokens([system, ChatMessage("user", "What is two plus two?")])
    alone = chat.prompt_tokens([system])
    shared = next(i for i, (a, b) in enumerate(zip(alone, first_turn, strict=False)) if a != b)
    assert shared > 20 and cached[:shared] == first_turn[:shared]  # the persona's words too
