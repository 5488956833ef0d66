"""Text to speech: `synthesize` (voice by name, language or speaker) answered with
`audio-start` / `audio-chunk`s / `audio-stop`, and the streaming variant
`synthesize-start` / `synthesize-chunk`s / `synthesize-stop`, spoken sentence by sentence as
the text arrives (each sentence its own audio stream), closed by `synthesize-stopped`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from wyoming.audio import AudioChunk as WyomingChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.event import Event
from wyoming.tts import SynthesizeStopped

from ..conversation.language import typed_language, voice_for
from ..conversation.reply import Workers
from ..providers import TextToSpeech
from ..text import SpeakableStream, speakable_chunks
from ..types import AudioChunk
from .protocol import ProtocolError
from .protocol import field as checked

SAMPLES_PER_CHUNK = 1024  # per audio-chunk event, as wyoming-piper sends them
MAX_TEXT_CHARS = 10_000  # one synthesize event, or one streamed request in all
SAMPLE_WIDTH = 2  # bytes
Send = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True)
class VoiceSettings:
    default: str | None  # tts.voice
    speed: float  # tts.speed
    by_language: Mapping[str, str]  # tts.voices_by_language


class Synthesizer:
    """One client's speech: a synthesize at a time, or one streamed request."""

    def __init__(self, tts: TextToSpeech | None, workers: Workers, settings: VoiceSettings) -> None:
        self._tts, self._workers, self._settings = tts, workers, settings
        self._stream: SpeakableStream | None = None  # a streamed request is open
        self._stream_voice: dict | None = None
        self._streamed_chars = 0

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    async def synthesize(self, event: Event, send: Send) -> None:
        """`synthesize`: the whole text as one audio stream. Ignored while a streamed request is
        open: Home Assistant sends it then only for servers that do not stream."""
        if self.streaming:
            return
        text = checked(event.data, "text", str, "synthesize")
        if not text.strip():
            raise ProtocolError("synthesize needs some text to speak")
        if len(text) > MAX_TEXT_CHARS:
            raise ProtocolError(f"synthesize text is over {MAX_TEXT_CHARS} characters", "too-big")
        voice = self._voice(event.data.get("voice"), text)
        if not await self._speak(list(speakable_chunks(text)), voice, send):
            raise ProtocolError("synthesize text has nothing speakable in it (only symbols)")

    def start(self, event: Event) -> None:
        """`synthesize-start`: a streamed request, with its voice."""
        self._engine()
        requested = event.data.get("voice")
        if requested is not None and not isinstance(requested, dict):
            raise ProtocolError('synthesize-start\'s "voice" must be an object')
        self._stream, self._stream_voice, self._streamed_chars = SpeakableStream(), requested, 0

    async def chunk(self, event: Event, send: Send) -> None:
        """`synthesize-chunk`: more text; each sentence it completes is spoken now."""
        if self._stream is None:
            raise ProtocolError("synthesize-chunk before synthesize-start", "not-started")
        text = checked(event.data, "text", str, "synthesize-chunk")
        self._streamed_chars += len(text)
        if self._streamed_chars > MAX_TEXT_CHARS:
            self._stream = None
            raise ProtocolError(f"the streamed text is over {MAX_TEXT_CHARS} characters", "too-big")
        for sentence in self._stream.feed(text):
            await self._speak([sentence], self._voice(self._stream_voice, sentence), send)

    async def stop(self, send: Send) -> None:
        """`synthesize-stop`: the rest of the text, then `synthesize-stopped`."""
        stream, self._stream = self._stream, None
        if stream is None:
            raise ProtocolError("synthesize-stop before synthesize-start", "not-started")
        for sentence in stream.flush():
            await self._speak([sentence], self._voice(self._stream_voice, sentence), send)
        await send(SynthesizeStopped().event())

    def _engine(self) -> TextToSpeech:
        if self._tts is None:
            raise ProtocolError("this server has no text-to-speech voice", code="no-tts")
        return self._tts

    def _voice(self, requested: object, text: str) -> str | None:
        """The voice id: the one named (with its speaker), else one for the language asked for
        (else for the text's own language), else the default."""
        tts, settings = self._engine(), self._settings
        requested = requested if isinstance(requested, dict) else {}
        name, speaker, language = (requested.get(k) for k in ("name", "speaker", "language"))
        voices = tts.voices()
        if name is not None:
            known = {voice.id: voice for voice in voices}
            if not isinstance(name, str) or name not in known:
                raise ProtocolError(f"unknown voice {name!r}. Voices: {', '.join(known)}",
                                    "unknown-voice")  # fmt: skip
            if speaker is None:
                return name
            if speaker not in known[name].speakers:
                raise ProtocolError(f"voice {name} has no speaker {speaker!r}", "unknown-voice")
            return f"{name}:{speaker}"
        wanted = language if isinstance(language, str) else typed_language(text)
        return voice_for(voices, settings.default, wanted, settings.by_language)

    async def _speak(self, sentences: list[str], voice: str | None, send: Send) -> bool:
        """One audio stream for `sentences`, each synthesized (on the voice's thread) and sent
        as soon as it is ready. False when there was nothing to say."""
        tts, speed = self._engine(), self._settings.speed
        started = False
        for sentence in sentences:
            audio = await self._workers.run(
                "tts", lambda text=sentence: list(tts.synthesize(text, voice=voice, speed=speed))
            )
            for chunk in audio:
                if not started:
                    started = True
                    await send(AudioStart(chunk.sample_rate, SAMPLE_WIDTH, 1).event())
                for event in audio_events(chunk):
                    await send(event)
        if started:
            await send(AudioStop().event())
        return started


def audio_events(audio: AudioChunk) -> list[Event]:
    """`audio` as audio-chunk events of SAMPLES_PER_CHUNK samples."""
    step = SAMPLES_PER_CHUNK * SAMPLE_WIDTH
    return [
        WyomingChunk(audio.sample_rate, SAMPLE_WIDTH, 1, audio.pcm[at : at + step]).event()
        for at in range(0, len(audio.pcm), step)
    ]
