"""`assistant talk`: configuration, devices, engines and the terminal view wired together."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ..audio.devices import Microphone, Speaker, find_device
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
@click.pass_context
def talk(ctx: click.Context, language: str | None, **options) -> None:
    """Hands-free voice conversation through the microphone and speaker.

    Keys: p pause/resume, m mute/unmute, s stop speaking, n new conversation, q quit.
    """
    run_talk_command(config_of(ctx, language=language), **options)


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

    microphone = Microphone(find_device(input_device or config.audio.input_device, "input"))
    speaker = Speaker(find_device(output_device or config.audio.output_device, "output"))
    options = conversation_options(
        config, barge_in=barge_in, voice=voice, speed=speed, system_prompt=system_prompt
    )
    keeper = AudioKeeper(keep_audio) if keep_audio else NO_AUDIO
    recorder = Recorder(
        open_history(config.history), stt_model=config.stt.model, llm_model=config.llm.model,
        voice=options.voice or "", meta=keeper.meta,
    )  # fmt: skip
    context = recorder.resume() if resume else []
    engines, vad = load_conversation_engines(config, options.system_prompt)
    live = sys.stdout.isatty()
    view = TerminalView(TalkDisplay(sys.stdout, live=live, timings=timings))
    record = recording(recorder, keeper)
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
            on_event=on_event, history=history, skills=local_skills(config, store),
        )  # fmt: skip
        if store is not None:  # timers ring while the conversation runs (cancelled with it)
            scheduler_for(config, store, conversation.announce).start(lambda: conversation.closed)
        return conversation

    asyncio.run(run_talk(make_conversation, microphone, speaker, view))
    if live:
        sys.stdout.write("\n")
