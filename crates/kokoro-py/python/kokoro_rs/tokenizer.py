"""Text to phonemes and phonemes to ids, as ``kokoro_onnx.tokenizer`` does it,
with this engine's front end (misaki's lexicons and rules, espeak-ng for
words outside them)."""

from __future__ import annotations

import logging
from typing import List, Optional

from . import _native
from .config import DEFAULT_VOCAB, MAX_PHONEME_LENGTH, EspeakConfig

log = logging.getLogger("kokoro_rs")


class Tokenizer:
    """Phonemizes text and maps phonemes to the model's ids."""

    def __init__(self, espeak_config: Optional[EspeakConfig] = None, vocab: dict = None):
        self.espeak_config = espeak_config
        self.vocab = vocab or DEFAULT_VOCAB

    @staticmethod
    def normalize_text(text) -> str:
        return text.strip()

    def tokenize(self, phonemes, limit: Optional[int] = MAX_PHONEME_LENGTH) -> List[int]:
        """The ids of ``phonemes`` (symbols the model does not know left out)."""
        if limit and len(phonemes) > limit:
            raise ValueError(f"text is too long, must be less than {limit} phonemes")
        return [self.vocab[p] for p in phonemes if p in self.vocab]

    def known(self, phonemes: str) -> str:
        """The symbols of ``phonemes`` the model knows."""
        return "".join(p for p in phonemes if p in self.vocab)

    def phonemize(self, text, lang="en-us", norm=True) -> str:
        """``text`` in Kokoro's phonemes, read as ``lang``."""
        if norm:
            text = self.normalize_text(text)
        phonemes, notes = _native.phonemize(text, lang, [])
        for note in notes:
            log.debug("%s", note)
        return self.known(phonemes).strip()
