"""Type stubs of the native module (the engine, in Rust). Use the package's
``Tts`` and ``Kokoro``; these are what they are built on."""

from typing import Callable, Iterator, List, Optional, Tuple, TypedDict

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE: int
MAX_PHONEME_LENGTH: int
SPEED_RANGE: Tuple[float, float]
__version__: str

Given = List[Tuple[str, str, str]]
WordTuple = Tuple[str, float, float, int, int]
SegmentTuple = Tuple[str, float, float, str]
Item = Tuple[NDArray[np.float32], SegmentTuple, List[WordTuple]]

class Ask(TypedDict):
    voice: Optional[str]
    speed: Optional[float]
    lang: Optional[str]
    pauses: Optional[Tuple[float, float, float]]

def phonemize(text: str, lang: str, given: Given, config: Optional[str] = None) -> Tuple[str, List[str]]: ...
def vocabulary() -> List[Tuple[str, int]]: ...

class Spoken:
    @property
    def text(self) -> str: ...
    def segments(self) -> List[SegmentTuple]: ...
    def words(self) -> List[WordTuple]: ...
    def captions(self, format: str, line_chars: int = 42, lines: int = 2) -> str: ...
    def words_json(self) -> str: ...

class Stream(Iterator[Item]):
    def __iter__(self) -> "Stream": ...
    def __next__(self) -> Item: ...
    def next_chunk(self) -> Optional[Item]: ...
    def close(self) -> None: ...

class Feed(Iterator[Item]):
    def push(self, text: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self) -> None: ...
    def __iter__(self) -> "Feed": ...
    def __next__(self) -> Item: ...
    def next_chunk(self) -> Optional[Item]: ...
    def close(self) -> None: ...

class Engine:
    def __init__(
        self,
        given: Given,
        config: Optional[str] = None,
        events: Optional[Callable[[str, str], None]] = None,
        timed: bool = True,
        streaming: bool = False,
    ) -> None: ...
    @property
    def timed(self) -> bool: ...
    @property
    def layout(self) -> str: ...
    @property
    def defaults(self) -> Tuple[str, float, Optional[str]]: ...
    def voices(self) -> List[Tuple[str, Optional[str], str]]: ...
    def style(self, name: str) -> NDArray[np.float32]: ...
    def speak(
        self,
        text: str,
        ask: Ask,
        style: Optional[NDArray[np.float32]] = None,
        phonemes: bool = False,
        phoneme_words: bool = False,
        ssml: bool = False,
    ) -> Tuple[NDArray[np.float32], Spoken]: ...
    def stream(
        self,
        text: str,
        ask: Ask,
        style: Optional[NDArray[np.float32]] = None,
        phonemes: bool = False,
        ssml: bool = False,
    ) -> Stream: ...
    def feed(self, ask: Ask) -> Feed: ...
    def book(
        self,
        source: str,
        output: str,
        ask: Ask,
        chapters: Optional[str] = None,
        title: Optional[str] = None,
        author: Optional[str] = None,
        split: bool = False,
        captions: Optional[str] = None,
        timestamps: Optional[str] = None,
        highlight_words: bool = False,
        progress: Optional[Callable[[str, float, float, Optional[float]], None]] = None,
    ) -> Tuple[int, float]: ...
    @staticmethod
    def save(path: str, samples: NDArray[np.float32]) -> None: ...
