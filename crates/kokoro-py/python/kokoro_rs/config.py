"""Constants and configuration classes, as ``kokoro_onnx.config`` has them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import _native

#: Samples per second of every output.
SAMPLE_RATE: int = _native.SAMPLE_RATE
#: The most phoneme ids one model call takes.
MAX_PHONEME_LENGTH: int = _native.MAX_PHONEME_LENGTH
#: Kokoro v1.0's phoneme vocabulary, symbol to id.
DEFAULT_VOCAB: dict = dict(_native.vocabulary())


@dataclass
class EspeakConfig:
    """Accepted for kokoro-onnx compatibility. kokoro_rs reads words out of
    its lexicon with its own espeak-ng (data fetched into its cache), so these
    paths are not used."""

    lib_path: Optional[str] = None
    data_path: Optional[str] = None


class KoKoroConfig:
    """The model and voices files, checked as kokoro-onnx checks them."""

    def __init__(
        self,
        model_path: str,
        voices_path: str,
        espeak_config: Optional[EspeakConfig] = None,
    ):
        self.model_path = model_path
        self.voices_path = voices_path
        self.espeak_config = espeak_config

    def validate(self) -> None:
        """Raises ``FileNotFoundError`` for a missing voices or model file."""
        from .errors import MissingFile

        if not Path(self.voices_path).exists():
            raise MissingFile(f"Voices file not found at {self.voices_path}")
        if not Path(self.model_path).exists():
            raise MissingFile(f"Model file not found at {self.model_path}")


def get_vocab() -> dict:
    """Kokoro v1.0's phoneme vocabulary."""
    return dict(DEFAULT_VOCAB)
