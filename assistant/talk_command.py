"""Wire configuration, devices, engines and the terminal view together for `assistant talk`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from .config import Config
from .conversation import Conversation
from .conversation_config import conversation_options
from .devices import Microphone, Speaker, find_device
from .engines import load_conversation_engines
from .talk import TalkDisplay, TerminalView, run_talk
from .types import ChatMessage


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
    from .history import open_history
    from .keep_audio import NO_AUDIO, AudioKeeper
    from .recorder import Recorder, recording

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

    def make_conversation(sink: Speaker) -> Conversation:
        history = [ChatMessage("system", options.system_prompt), *context]
        return Conversation(
            engines.stt, engines.chat, engines.tts, vad, sink, options,
            on_event=on_event, history=history,
        )  # fmt: skip

    asyncio.run(run_talk(make_conversation, microphone, speaker, view))
    if live:
        sys.stdout.write("\n")
