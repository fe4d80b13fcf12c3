"""Kokoro-82M text to speech, fast: the kokoro engine (Rust, ONNX Runtime)
for Python.

Two ways in:

- ``Kokoro``: a drop-in for ``kokoro_onnx.Kokoro``. Change the import line of a
  kokoro-onnx program and it runs on this engine.
- ``Tts``: the engine's own API: assets fetched and verified on first use,
  word timings, captions, streams, text fed as it arrives, SSML, and books
  (M4B audiobooks, EPUB 3 read-along books).

Nothing is printed: messages go to the ``kokoro_rs`` logger.
"""

import logging

from . import config, errors, tokenizer
from ._native import __version__
from .config import MAX_PHONEME_LENGTH, SAMPLE_RATE, EspeakConfig, KoKoroConfig
from .dropin import Kokoro, Timing
from .errors import KokoroError
from .tokenizer import Tokenizer
from .tts import Chunk, Feed, Pauses, Segment, Speech, Stream, Tts, VoiceInfo, Word

#: The package's logger (kokoro-onnx's programs configure ``kokoro_onnx.log``).
log = logging.getLogger(__name__)

__all__ = [
    "Kokoro",
    "Timing",
    "EspeakConfig",
    "KoKoroConfig",
    "Tokenizer",
    "SAMPLE_RATE",
    "MAX_PHONEME_LENGTH",
    "Tts",
    "Speech",
    "Stream",
    "Feed",
    "Chunk",
    "Segment",
    "Word",
    "Pauses",
    "VoiceInfo",
    "KokoroError",
    "config",
    "errors",
    "tokenizer",
    "log",
    "__version__",
]
