"""One client's connection: its events read within limits and dispatched to its own
transcription and speech state and to the shared conversations.

Nothing a client sends stops the server. A bad event gets an `error` event. When it was part
of a request (asr, tts, handle, wake), the connection is closed after the error, as the reference
Wyoming servers do: Home Assistant's speech clients read until `transcript` or `audio-stop`
and pass over `error`, so only a closed connection ends their wait. Other bad events (an
unknown type, a malformed or oversized event) leave the connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wyoming.event import Event, async_write_event
from wyoming.ping import Pong

from ..conversation.reply import Workers
from ..errors import AssistantError
from ..providers.loading import Engines
from .asr import Transcriber
from .handle import Conversations
from .protocol import ConnectionBroken, ProtocolError, error_event, read_event
from .tts import Synthesizer, VoiceSettings
from .wake import WakeListener, WakeWords

log = logging.getLogger("assistant.wyoming")
# the events of a request a client then waits on; an error in one also closes the connection
REQUESTS = frozenset({
    "transcribe", "audio-start", "audio-chunk", "audio-stop",
    "synthesize", "synthesize-start", "synthesize-chunk", "synthesize-stop",
    "transcript", "detect",
})  # fmt: skip


@dataclass(frozen=True)
class Shared:
    """What every connection uses: the engines (each on its own thread), the conversations,
    the `info` answer, and the settings a connection starts from."""

    engines: Engines
    workers: Workers
    conversations: Conversations
    info: Event
    language: str | None  # stt.language for Whisper (None: the model's default)
    stt_languages: frozenset[str]  # what the speech-to-text model speaks (empty: not known)
    voices: VoiceSettings
    wake: WakeWords | None = None  # None: no wake domain (--no-wake)


class ClientHandler:
    """Serves one connection until the client closes it."""

    def __init__(
        self, shared: Shared, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._shared, self._reader, self._writer = shared, reader, writer
        self._transcriber = Transcriber(
            shared.engines.stt, shared.workers, shared.language, shared.stt_languages
        )
        self._synthesizer = Synthesizer(shared.engines.tts, shared.workers, shared.voices)
        self._wake = WakeListener(shared.wake)
        self._detecting = False  # audio-* go to the wake words after detect, until audio-stop
        self._routes: dict[str, Callable[[Event], Awaitable[None]]] = {
            "describe": self._describe,
            "ping": self._ping,
            "select-program": self._ignore,  # one program per domain here: any choice is it
            "transcribe": self._transcribe,
            "detect": self._detect,
            "audio-start": self._audio_start,
            "audio-chunk": self._audio_chunk,
            "audio-stop": self._audio_stop,
            "synthesize": self._synthesize,
            "synthesize-start": self._call(self._synthesizer.start),
            "synthesize-chunk": self._synthesize_chunk,
            "synthesize-stop": self._synthesize_stop,
            "transcript": self._handle,
        }

    async def run(self) -> None:
        try:
            while True:
                event = None
                try:
                    event = await read_event(self._reader)
                    if event is None:
                        return
                    await self._dispatch(event)
                except ProtocolError as error:
                    await self.send(error_event(str(error), error.code))
                    if event is not None and event.type in REQUESTS:
                        return  # the request failed: its client stops waiting
        except ConnectionBroken as error:
            with contextlib.suppress(ConnectionError):
                await self.send(error_event(str(error), "too-big"))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        finally:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()

    async def send(self, event: Event) -> None:
        await async_write_event(event, self._writer)

    async def _dispatch(self, event: Event) -> None:
        route = self._routes.get(event.type)
        if route is None:
            known = ", ".join(sorted(self._routes))
            raise ProtocolError(f"unknown event type '{event.type}'. This server takes: {known}",
                                code="unknown-event")  # fmt: skip
        try:
            await route(event)
        except (ProtocolError, ConnectionError):
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise ProtocolError(f"malformed {event.type} event: {error}") from None
        except AssistantError as error:
            raise ProtocolError(f"{event.type} failed: {error}", code="failed") from None
        except Exception as error:  # an engine broke: say so, serve on
            log.exception("%s failed", event.type)
            raise ProtocolError(f"{event.type} failed: {error}", code="failed") from None

    @staticmethod
    def _call(method: Callable[[Event], None]) -> Callable[[Event], Awaitable[None]]:
        async def route(event: Event) -> None:
            method(event)

        return route

    async def _describe(self, event: Event) -> None:
        await self.send(self._shared.info)

    async def _ping(self, event: Event) -> None:
        text = event.data.get("text")
        await self.send(Pong(text if isinstance(text, str) else None).event())

    async def _ignore(self, event: Event) -> None:
        pass

    async def _transcribe(self, event: Event) -> None:
        self._detecting = False
        self._transcriber.transcribe(event)

    async def _detect(self, event: Event) -> None:
        self._detecting = False
        self._wake.detect(event)
        self._detecting = True

    async def _audio_start(self, event: Event) -> None:
        (self._wake if self._detecting else self._transcriber).start(event)

    async def _audio_chunk(self, event: Event) -> None:
        if not self._detecting:
            self._transcriber.chunk(event)
            return
        for detection in self._wake.chunk(event):
            await self.send(detection)

    async def _audio_stop(self, event: Event) -> None:
        if self._detecting:
            self._detecting = False
            answers = self._wake.stop()
        else:
            answers = await self._transcriber.stop()
        for answer in answers:
            await self.send(answer)

    async def _synthesize(self, event: Event) -> None:
        await self._synthesizer.synthesize(event, self.send)

    async def _synthesize_chunk(self, event: Event) -> None:
        await self._synthesizer.chunk(event, self.send)

    async def _synthesize_stop(self, event: Event) -> None:
        await self._synthesizer.stop(self.send)

    async def _handle(self, event: Event) -> None:
        await self.send(await self._shared.conversations.answer(event))
