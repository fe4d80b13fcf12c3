"""The engine's own API: what kokoro-onnx cannot do.

>>> from kokoro_rs import Tts
>>> tts = Tts()                                   # fetches and verifies on first use
>>> speech = tts.speak("Hello there. How are you?", voice="af_heart")
>>> speech.samples, speech.sample_rate            # float32 numpy array, 24000
>>> [(w.text, w.start, w.end) for w in speech.words]
>>> open("hello.srt", "w").write(speech.captions("srt"))
>>> speech.save("hello.mp3")

One ``Tts`` is meant to be shared: it is safe to use from several threads at
once, and the GIL is released while the model runs. Ctrl-C stops a long call
(no new chunk starts). Nothing is printed: fetching, the model form chosen
and warnings go to the ``kokoro_rs`` logger.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from .config import SAMPLE_RATE

log = logging.getLogger("kokoro_rs")
log.addHandler(logging.NullHandler())

PathLike = Union[str, "os.PathLike[str]"]


class Pauses(NamedTuple):
    """Silence between chunks, in seconds; each chunk's own silence trimmed."""

    sentence: float = 0.25
    clause: float = 0.1
    paragraph: float = 0.6


class VoiceInfo(NamedTuple):
    """A voice, and what its name says of it."""

    name: str
    language: Optional[str]
    gender: str


class Word(NamedTuple):
    """A word and when it is spoken, in seconds; ``span`` is its byte range
    in the text's UTF-8."""

    text: str
    start: float
    end: float
    span: Tuple[int, int]


class Segment(NamedTuple):
    """A chunk of the text (one model call) and when it is spoken."""

    text: str
    start: float
    end: float
    phonemes: str


class Chunk(NamedTuple):
    """A chunk of a stream: its samples (the pause before it included), where
    it lies in the whole, and its words."""

    samples: np.ndarray
    text: str
    start: float
    end: float
    phonemes: str
    words: List[Word]


def _event(kind: str, message: str) -> None:
    if kind == "warning":
        log.warning("%s", message)
    elif kind in ("fetch", "form", "device"):
        log.info("%s", message)
    else:
        log.debug("%s: %s", kind, message)


def _pauses(pauses: Union[None, bool, Pauses, Sequence[float]]) -> Optional[Tuple[float, float, float]]:
    if pauses is None or pauses is False:
        return None
    if pauses is True:
        return tuple(Pauses())
    return tuple(float(p) for p in Pauses(*pauses))


def _ask(voice, speed, lang, pauses=None) -> dict:
    return {
        "voice": voice,
        "speed": None if speed is None else float(speed),
        "lang": lang,
        "pauses": _pauses(pauses),
    }


def _word(w) -> Word:
    text, start, end, a, b = w
    return Word(text, start, end, (a, b))


def _chunk(item) -> Chunk:
    samples, (text, start, end, phonemes), words = item
    return Chunk(samples, text, start, end, phonemes, [_word(w) for w in words])


class Speech:
    """A spoken text: its samples, and where each chunk and word lies."""

    def __init__(self, samples: np.ndarray, spoken) -> None:
        self.samples: np.ndarray = samples
        self.sample_rate: int = SAMPLE_RATE
        self._spoken = spoken

    @property
    def text(self) -> str:
        """The text spoken (an SSML document's without its markup)."""
        return self._spoken.text

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def segments(self) -> List[Segment]:
        return [Segment(*s) for s in self._spoken.segments()]

    @property
    def words(self) -> List[Word]:
        """Every word with its times (empty when the engine runs untimed)."""
        return [_word(w) for w in self._spoken.words()]

    def captions(self, format: str = "srt", line_chars: int = 42, lines: int = 2) -> str:
        """Captions of the words: ``"srt"`` or ``"vtt"``."""
        return self._spoken.captions(format, line_chars, lines)

    def words_json(self) -> str:
        """The words as the command's ``--timestamps`` JSON."""
        return self._spoken.words_json()

    def save(self, path: PathLike) -> None:
        """Writes the audio in the format the extension names (wav, mp3,
        flac, opus, ogg, m4a, aac, pcm): complete, or not at all."""
        _native.Engine.save(os.fspath(path), np.ascontiguousarray(self.samples, dtype=np.float32))

    def __repr__(self) -> str:
        return f"<Speech {self.duration:.2f} s, {len(self._spoken.segments())} chunks>"


class Stream:
    """Chunks of speech in order, as they are made. ``close()`` (or leaving a
    ``with`` block) stops the synthesis."""

    def __init__(self, native) -> None:
        self._native = native

    def __iter__(self) -> Iterator[Chunk]:
        return self

    def __next__(self) -> Chunk:
        return _chunk(next(self._native))

    def close(self) -> None:
        self._native.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Feed(Stream):
    """Text pushed as it arrives (a language model's tokens), spoken
    sentence by sentence; iterate for the chunks, from another thread if the
    pushing goes on meanwhile. ``finish()`` when the text is complete."""

    def push(self, text: str) -> None:
        self._native.push(text)

    def flush(self) -> None:
        """Speaks what was pushed now, complete sentence or not."""
        self._native.flush()

    def finish(self) -> None:
        self._native.finish()

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.finish()
        else:
            self.close()


class Tts:
    """The engine. Settings come as the command's do: defaults, the config
    file (``config=``, else the per-user one), ``KOKORO_*`` variables, then
    these arguments. Any left ``None`` is taken from those layers.

    ``model``, ``voices``, ``ort_lib``: files to use instead of the fetched
    ones; ``cache_dir``: where fetched assets are kept; ``model_form``:
    ``auto``, ``int8``, ``int8-fused`` or ``float``; ``device``: ``cpu``,
    ``cuda`` or ``auto``; ``workers`` and ``threads``: the layout;
    ``timed=False`` skips word timings; ``streaming=True`` lays out the
    workers for the lowest latency to the first audio.
    """

    def __init__(
        self,
        *,
        voice: Optional[str] = None,
        speed: Optional[float] = None,
        lang: Optional[str] = None,
        model: Optional[PathLike] = None,
        voices: Optional[PathLike] = None,
        ort_lib: Optional[PathLike] = None,
        cache_dir: Optional[PathLike] = None,
        lexicon: Optional[PathLike] = None,
        model_form: Optional[str] = None,
        device: Optional[str] = None,
        workers: Optional[int] = None,
        threads: Optional[int] = None,
        parallel: Optional[bool] = None,
        config: Optional[PathLike] = None,
        timed: bool = True,
        streaming: bool = False,
    ) -> None:
        given = _given(
            ("voice", "voice", voice),
            ("speed", "speed", speed),
            ("lang", "lang", lang),
            ("model", "model", model),
            ("voices", "voices", voices),
            ("ort_lib", "ort_lib", ort_lib),
            ("cache_dir", "cache_dir", cache_dir),
            ("lexicon", "lexicon", lexicon),
            ("model_form", "model_form", model_form),
            ("device", "device", device),
            ("workers", "max_workers", workers),
            ("threads", "intra_threads", threads),
            ("parallel", "use_parallel", parallel),
        )
        self._given = given
        self._config = None if config is None else os.fspath(config)
        self._engine = _native.Engine(given, self._config, _event, timed, streaming)

    @property
    def timed(self) -> bool:
        """Whether words are timed."""
        return self._engine.timed

    @property
    def layout(self) -> str:
        """The worker layout in words."""
        return self._engine.layout

    @property
    def voices(self) -> List[VoiceInfo]:
        """Every voice, by name."""
        return [VoiceInfo(*v) for v in self._engine.voices()]

    def style(self, voice: str) -> np.ndarray:
        """A voice's (or blend's) style table, shape (rows, 1, 256)."""
        return self._engine.style(voice).reshape(-1, 1, 256)

    def speak(
        self,
        text: str,
        *,
        voice: Optional[str] = None,
        speed: Optional[float] = None,
        lang: Optional[str] = None,
        ssml: bool = False,
        pauses: Union[None, bool, Pauses, Sequence[float]] = None,
    ) -> Speech:
        """Speaks ``text`` (an SSML document with ``ssml=True``) whole.
        ``voice`` is a name or a blend (``"af_sarah:60,am_adam:40"``);
        ``pauses`` trims each chunk and joins them with these silences."""
        samples, spoken = self._engine.speak(text, _ask(voice, speed, lang, pauses), ssml=ssml)
        return Speech(samples, spoken)

    def stream(
        self,
        text: str,
        *,
        voice: Optional[str] = None,
        speed: Optional[float] = None,
        lang: Optional[str] = None,
        ssml: bool = False,
        pauses: Union[None, bool, Pauses, Sequence[float]] = None,
    ) -> Stream:
        """``text`` spoken chunk by chunk as each is made, the first short so
        that playback can start at once."""
        return Stream(self._engine.stream(text, _ask(voice, speed, lang, pauses), ssml=ssml))

    def feed(
        self,
        *,
        voice: Optional[str] = None,
        speed: Optional[float] = None,
        lang: Optional[str] = None,
        pauses: Union[None, bool, Pauses, Sequence[float]] = None,
    ) -> Feed:
        """A feed for text that arrives over time."""
        return Feed(self._engine.feed(_ask(voice, speed, lang, pauses)))

    def book(
        self,
        source: PathLike,
        output: PathLike,
        *,
        voice: Optional[str] = None,
        speed: Optional[float] = None,
        lang: Optional[str] = None,
        pauses: Union[None, bool, Pauses, Sequence[float]] = None,
        chapters: Optional[str] = None,
        title: Optional[str] = None,
        author: Optional[str] = None,
        split: bool = False,
        captions: Optional[PathLike] = None,
        timestamps: Optional[PathLike] = None,
        highlight_words: bool = False,
        progress: Optional[Callable[[str, float, float, Optional[float]], None]] = None,
    ) -> Tuple[int, float]:
        """Speaks a document (text, Markdown, HTML, EPUB, PDF, SSML) into
        ``output``: an audio file in the format its extension names (``.m4b``:
        an audiobook with chapters, title, author and cover), an EPUB 3
        read-along book (``.epub``), or with ``split=True`` a directory of one
        WAV per chapter (resumable). ``chapters`` picks some (``"1-3,5"``);
        ``captions`` (.srt/.vtt) and ``timestamps`` (.json) are written beside;
        ``progress(label, fraction, audio_seconds, seconds_left)`` is called
        as it goes. Returns (chapters spoken, seconds of audio)."""
        return self._engine.book(
            os.fspath(source),
            os.fspath(output),
            _ask(voice, speed, lang, pauses),
            chapters=chapters,
            title=title,
            author=author,
            split=split,
            captions=None if captions is None else os.fspath(captions),
            timestamps=None if timestamps is None else os.fspath(timestamps),
            highlight_words=highlight_words,
            progress=progress,
        )

    def phonemize(self, text: str, lang: Optional[str] = None) -> str:
        """``text`` in Kokoro's phonemes (``lang``: the settings', else en-us)."""
        lang = lang or self._engine.defaults[2] or "en-us"
        return _native.phonemize(text, lang, self._given, self._config)[0]

    def __repr__(self) -> str:
        return f"<kokoro_rs.Tts {self.layout}>"


def _given(*values: Tuple[str, str, object]) -> List[Tuple[str, str, str]]:
    """Arguments given, as settings: (how the caller named it, key, value)."""
    given = []
    for name, key, value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            raw = "true" if value else "false"
        elif isinstance(value, os.PathLike):
            raw = os.fspath(value)
        else:
            raw = str(value)
        given.append((f"{name}=", key, raw))
    return given
