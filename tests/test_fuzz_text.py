"""Fuzzing the text path to TTS: random Unicode (control characters, right-to-left marks,
zero-width characters, emoji, CJK, 10,000-character words), streamed in random pieces, is cut
into bounded chunks, and the real voice speaks any of them without a crash."""

from __future__ import annotations

import fuzzing
from hypothesis import example, given
from hypothesis import strategies as st

from assistant.providers import speak_text
from assistant.text import MAX_CHUNK_CHARS, SpeakableStream, chunk_limit

# control, zero-width, bidirectional, BOM, replacement, combining, emoji, CJK
ODD = "\x00\x07\x1b\r\t\u200b\u200c\u200d\u200e\u200f\u202e\u2066\ufeff\ufffd\u0301"
ODD += "🙂👍🏽中文。日本語、"
texts = st.text(max_size=400) | st.text(alphabet=ODD + "abc .,!?-`*#", max_size=400)
long_words = st.builds(
    lambda char, n: char * n, st.sampled_from("a中🙂\u200b-."), st.integers(1, 10_000)
)


def chunks_of(deltas: list[str]) -> list[str]:
    stream = SpeakableStream()
    chunks = [c for delta in deltas for c in stream.feed(delta)]
    return chunks + stream.flush()


def assert_bounded(chunks: list[str]) -> None:
    for chunk in chunks:
        assert chunk and chunk == chunk.strip(), repr(chunk)
        assert len(chunk) <= chunk_limit(chunk) <= MAX_CHUNK_CHARS, (len(chunk), chunk[:80])


@fuzzing.scaled(200)
@given(deltas=st.lists(texts | long_words, max_size=8))
@example(deltas=["a" * 10_000])
@example(deltas=["." * 10_000])  # was 80 s: the whole buffer searched for a sentence end per cut
@example(deltas=["\x1b\xa0", "0"])  # a no-break space was left at the start of a chunk
@example(deltas=["中" * 10_000])
@example(deltas=["\u200b" * 5000 + "word " * 100])
@example(deltas=["\u202eevil right-to-left " * 50])
def test_any_stream_is_cut_into_bounded_chunks(deltas):
    assert_bounded(chunks_of(deltas))


@fuzzing.scaled(100)
@given(text=texts | long_words, cuts=st.lists(st.integers(0, 400), max_size=10))
def test_the_cut_does_not_depend_on_how_the_text_was_streamed(text, cuts):
    """However the model's deltas fall, the same text is spoken (only where it is cut differs)."""
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces.append(text[start:cut])
        start = max(start, cut)
    pieces.append(text[start:])
    whole, streamed = chunks_of([text]), chunks_of(pieces)
    assert_bounded(streamed)
    assert "".join(whole).replace(" ", "") == "".join(streamed).replace(" ", "")


class CountingVoice:
    """The real voice, with the length of every text it was handed recorded."""

    def __init__(self, tts) -> None:
        self.tts, self.lengths = tts, []

    def synthesize(self, text, **options):
        self.lengths.append(len(text))
        return self.tts.synthesize(text, **options)


@fuzzing.scaled(6)
@given(
    text=st.text(alphabet=ODD + "Hello world. ", max_size=120)
    | st.builds(lambda char, n: char * n, st.sampled_from("a中🙂\u200b-."), st.integers(1, 200))
)
@example(text="x" * 300)
def test_the_real_voice_speaks_any_text_in_bounded_chunks(tts, text):
    voice = CountingVoice(tts)
    audio = list(speak_text(voice, text))
    assert all(n <= MAX_CHUNK_CHARS for n in voice.lengths)
    assert all(chunk.sample_rate > 0 for chunk in audio)
