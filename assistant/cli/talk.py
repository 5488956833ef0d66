"""`assistant talk`: configuration, devices, engines and the terminal view wired together."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ..audio.devices import Microphone, Speaker, find_device
from ..audio.echo import load_echo_canceller
from ..config import Config
from ..conversation.engine import Conversation
from ..conversation.options import conversation_options
from ..providers.loading import load_conversation_engines
from ..tools import scheduler_for
from ..types import ChatMessage
from .context import config_of, keep_audio_option
from .terminal import TalkDisplay, TerminalView, run_talk
from .tools import local_skills, tool_store
from .voices import language_option
from .wake_words import wake_word_option, with_wake_word


@click.command()
@click.option("--input-device", help="Microphone: index or name (see `assistant devices`).")
@click.option("--output-device", help="Speaker: index or name.")
@click.option(
    "--barge-in", type=click.Choice(["on", "off"]), help="Interrupt by speaking (default on)."
)
@click.option("--voice", help="Voice for the replies (see `assistant voices`).")
@click.option("--speed", type=float, help="Speaking rate, 0.25 to 4.0.")
@click.option("--system", "system_prompt", help="System prompt (default: llm.system_prompt).")
@click.option("--timings", is_flag=True, help="Print each turn's latencies.")
@click.option("--continue", "resume", is_flag=True, help="Resume the last conversation.")
@keep_audio_option("this conversation's audio")
@language_option("you speak; each turn is answered in it")
@wake_word_option
@click.pass_context
def talk(ctx: click.Context, language: str | None, wake_word: str | None, **options) -> None:
    """Hands-free voice conversation through the microphone and speaker.

    Keys: p pause/resume, m mute/unmute, s stop speaking, n new conversation, q quit.
    """
    run_talk_command(with_wake_word(config_of(ctx, language=language), wake_word), **options)


def run_talk_command(
    config: Config,
    *,
    input_device: str | None,
    output_device: str | None,
    barge_in: str | None,
    voice: str | None,
    speed: float | None,
    system_prompt: str | None,
    timings: bool,
    resume: bool = False,
    keep_audio: Path | None = None,
) -> None:
    from ..history.keep_audio import NO_AUDIO, AudioKeeper
    from ..history.recorder import Recorder, recording
    from ..history.store import open_history
    from ..providers.wake_words import wake_word_factory

    make_detector = wake_word_factory(config)  # an unknown wake word fails before devices open
    echo = load_echo_canceller(config.audio.echo_cancellation)
    stall = config.audio.stall_timeout_s
    microphone = Microphone(find_device(input_device or config.audio.input_device, "input"), stall)
    output = find_device(output_device or config.audio.output_device, "output")
    speaker = Speaker(output, echo, stall)
    options = conversation_options(
        config, barge_in=barge_in, voice=voice, speed=speed, system_prompt=system_prompt
    )
    if echo is not None:
        options = options.echo_cancelled()
    keeper = AudioKeeper(keep_audio) if keep_audio else NO_AUDIO
    recorder = Recorder(
        open_history(config.history), stt_model=config.stt.model, llm_model=config.llm.model,
        voice=options.voice or "", meta=keeper.meta,
    )  # fmt: skip
    context = recorder.resume() if resume else []
    engines, vad = load_conversation_engines(config, options.first_system_prompt)
    live = sys.stdout.isatty()
    detector = make_detector() if make_detector else None
    display = TalkDisplay(sys.stdout, live, timings, detector.phrase if detector else "")
    view = TerminalView(display)
    record = recording(recorder, keeper)
    if detector:
        view.message(f"(say '{detector.phrase}' to begin; after a reply, go on without it for "
                     f"{options.follow_up_s:g} s)")  # fmt: skip
    if resume:
        view.message(
            f"(continuing conversation {recorder.conversation_id}: {len(context)} earlier messages)"
            if context
            else "(no earlier conversation)"
        )

    def on_event(event) -> None:
        record(event)
        view(event)

    store = tool_store(config)

    def make_conversation(sink: Speaker) -> Conversation:
        history = [ChatMessage("system", options.system_prompt), *context]
        conversation = Conversation(
            engines.stt, engines.chat, engines.tts, vad, sink, options,
            on_event=on_event, history=history, wake_word=detector, turn_model=engines.turn,
            skills=local_skills(config, store),
        )  # fmt: skip
        if store is not None:  # timers ring while the conversation runs (cancelled with it)
            scheduler_for(config, store, conversation.announce).start(lambda: conversation.closed)
        return conversation

    if config.audio.echo_cancellation and echo is None:
        view.message("(echo cancellation unavailable: pip install pywebrtc-audio)")
    asyncio.run(run_talk(make_conversation, microphone, speaker, view, echo=echo))
    if live:
        sys.stdout.write("\n")
