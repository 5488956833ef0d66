"""Text-to-speech with Piper voices (ONNX) from the model directory."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import AssistantError, UnknownNameError
from ..text import MAX_CHUNK_CHARS, cut_to_length
from ..types import AudioChunk, Voice
from . import WARM_UP_TEXT
from .instructions import SpeechStyle, read_instructions, styled
from .onnx_sessions import open_voice_session
from .openai_api import check_synthesis
from .store import ModelStore

# characters Piper voices at once at most: its working memory grows ~1 MB a character (a run of
# 154 characters took 162 MB, of 100 took 98 MB); a longer chunk is cut at a clause or a space
RUN_CHARS = 100
# voice -> its character, for `assistant voices` (others show their catalog description)
CHARACTERS = {"en_US-joe-medium": "Joe: steady and plain-spoken, an American man; the quickest"}


@dataclass(frozen=True)
class VoiceFiles:
    model: Path  # voice.onnx
    config: Path  # voice.onnx.json


class PiperTTS:
    """Speaks with any downloaded Piper voice; each is loaded on first use and kept."""

    def __init__(
        self,
        voices: dict[str, VoiceFiles],
        *,
        default_voice: str,
        threads: int = 0,
        release_memory: bool = True,
        descriptions: dict[str, str] | None = None,
    ) -> None:
        self._files = voices
        self._default = default_voice
        self._threads = threads
        self._release_memory = release_memory  # tts.release_memory: see onnx_sessions.py
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        descriptions = descriptions or {}
        self._voices = {
            name: _describe(name, files.config, descriptions.get(name, ""))
            for name, files in voices.items()
        }

    @property
    def default_voice(self) -> str:
        """The voice spoken when a request names none."""
        return self._default

    def voices(self) -> list[Voice]:
        return list(self._voices.values())

    def load_voice(self, name: str) -> Any:
        """The loaded `piper.PiperVoice` for `name` (loads it the first time)."""
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = _load_piper_voice(
                    self._files[name], self._threads, self._release_memory
                )
            return self._loaded[name]

    def resolve(self, voice: str | None) -> tuple[str, int | None]:
        """`name` or `name:speaker` -> (voice name, speaker id or None)."""
        requested = voice or self._default
        name, _, speaker = requested.partition(":")
        if name not in self._voices:
            raise UnknownNameError("voice", requested, self._voice_ids())
        description = self._voices[name]
        if not speaker:
            return name, None
        speaker_map = _speaker_map(self._files[name].config)
        if speaker in speaker_map:
            return name, speaker_map[speaker]
        if speaker.isdigit() and int(speaker) < max(len(description.speakers), 1):
            return name, int(speaker)
        raise UnknownNameError("voice", requested, self._voice_ids())

    def _voice_ids(self) -> list[str]:
        ids = []
        for voice in self._voices.values():
            ids.extend([f"{voice.id}:{s}" for s in voice.speakers] or [voice.id])
        return ids

    def warm_up(self) -> None:
        """Speak one short sentence with the default voice, so the first reply pays no first-run
        costs."""
        for _ in self.synthesize(WARM_UP_TEXT["en"]):
            pass

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        speed: float = 1.0,
        instructions: str | None = None,  # read by providers.instructions
    ) -> Iterator[AudioChunk]:
        check_synthesis(text, speed, MAX_CHUNK_CHARS)
        name, speaker_id = self.resolve(voice)
        style = read_instructions(instructions)
        return styled(self._synthesize(text, name, speaker_id, speed, style), style)

    def _synthesize(
        self, text: str, name: str, speaker_id: int | None, speed: float, style: SpeechStyle
    ) -> Iterator[AudioChunk]:
        from piper import SynthesisConfig

        piper_voice = self.load_voice(name)
        options = SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=1.0 / (speed * style.speed),
            noise_scale=style.noise_scale,
            noise_w_scale=style.noise_w,
        )
        for piece in cut_to_length(text, RUN_CHARS):
            for audio in piper_voice.synthesize(piece, options):
                yield AudioChunk(audio.audio_int16_bytes, audio.sample_rate)


def _load_piper_voice(files: VoiceFiles, threads: int, release_memory: bool) -> Any:
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    try:
        config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        session = open_voice_session(files.model, threads=threads, release_memory=release_memory)
    except (
        OSError,
        ValueError,
        KeyError,
        onnxruntime.capi.onnxruntime_pybind11_state.Fail,
    ) as error:
        raise AssistantError(f"Piper could not load the voice {files.model}: {error}") from None
    return PiperVoice(session=session, config=config)


def _describe(name: str, config_path: Path, description: str) -> Voice:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    language = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice", "")
    speakers = tuple(_speaker_map(config_path)) if config.get("num_speakers", 1) > 1 else ()
    return Voice(
        id=name,
        language=language,
        sample_rate=config["audio"]["sample_rate"],
        speakers=speakers,
        languages=(language.replace("-", "_").split("_")[0].lower(),) if language else (),
        description=CHARACTERS.get(name, description),
    )


def _speaker_map(config_path: Path) -> dict[str, int]:
    return dict(json.loads(config_path.read_text(encoding="utf-8")).get("speaker_id_map", {}))


def piper_voices(store: ModelStore) -> dict[str, tuple[VoiceFiles, str]]:
    """The downloaded Piper voices: name -> (files, catalog description)."""
    found = {}
    for entry in store.catalog.by_role("tts"):
        piper = {"voice.onnx", "voice.onnx.json"} <= {f.name for f in entry.files}
        if piper and store.is_present(entry):
            directory = store.path(entry.name)
            files = VoiceFiles(directory / "voice.onnx", directory / "voice.onnx.json")
            found[entry.name] = (files, entry.description)
    return found


def create_engine(
    store: ModelStore, default_voice: str, threads: int, release_memory: bool = True
) -> PiperTTS | None:
    """A PiperTTS over every downloaded Piper voice (none loaded yet); None when there is none."""
    found = piper_voices(store)
    if not found:
        return None
    name = default_voice.partition(":")[0]
    return PiperTTS(
        {voice: files for voice, (files, _) in found.items()},
        default_voice=default_voice if name in found else next(iter(found)),
        threads=threads,
        release_memory=release_memory,
        descriptions={voice: description for voice, (_, description) in found.items()},
    )


def create(config: Config, store: ModelStore) -> PiperTTS:
    store.require(config.tts.voice.partition(":")[0], "tts")  # the default voice must be there
    tts = create_engine(store, config.tts.voice, config.tts.threads, config.tts.release_memory)
    assert tts is not None  # the default voice is there
    tts.load_voice(tts.resolve(config.tts.voice)[0])
    return tts
