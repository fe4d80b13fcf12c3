"""``Kokoro``: a drop-in for ``kokoro_onnx.Kokoro`` (kokoro-onnx 0.6.1).

A program written for kokoro-onnx runs by changing its import line::

    from kokoro_rs import Kokoro          # was: from kokoro_onnx import Kokoro
    kokoro = Kokoro("kokoro-v1.0.onnx", "voices-v1.0.bin")
    samples, sample_rate = kokoro.create("Hello.", voice="af_sarah", speed=1.0, lang="en-us")

The same arguments, the same return values (float32 samples, 1-D, at
24000 Hz), the same exception types. What differs, and why:

- ``from_session`` takes a live onnxruntime session, which this engine cannot
  run (it has its own ONNX Runtime): it raises ``NotImplementedError``.
- ``create_timed`` gives one ``Timing`` per phoneme with every model, from the
  engine's own timed form (kokoro-onnx gives none with the published v1.0
  model, which reports no durations); ``has_timings`` is True.
- ``continuous=True`` is accepted: the engine always speaks whole sentences
  per call and joins calls at sentence ends.
- Text is read by this engine's front end (misaki's lexicons, numbers, dates
  and units read out; espeak-ng for words outside the lexicon), not by
  phonemizer; ``espeak_config`` is accepted and not used.
- ``create_stream`` yields a short first chunk, then sentence-sized ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from .config import DEFAULT_VOCAB, SAMPLE_RATE, EspeakConfig, KoKoroConfig
from .errors import BadVoice
from .tokenizer import Tokenizer
from .tts import Tts, _ask

log = logging.getLogger("kokoro_rs")


@dataclass(frozen=True)
class Timing:
    """When a phoneme is spoken, in seconds from the start of the audio."""

    phoneme: str
    start: float
    end: float


Voice = Union[str, NDArray[np.float32]]


class _Voices(Mapping):
    """The voices by name, each its style table (rows, 1, 256), as
    kokoro-onnx's ``Kokoro.voices`` archive gives them."""

    def __init__(self, tts: Tts) -> None:
        self._tts = tts
        self._names = [v.name for v in tts.voices]

    def __getitem__(self, name: str) -> NDArray[np.float32]:
        return self._tts.style(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Kokoro:
    """Kokoro-82M, with kokoro-onnx's interface and this engine underneath."""

    def __init__(
        self,
        model_path: str,
        voices_path: str,
        espeak_config: Optional[EspeakConfig] = None,
        vocab_config: Optional[Union[dict, str]] = None,
    ):
        self.config = KoKoroConfig(model_path, voices_path, espeak_config)
        self.config.validate()
        _check_vocab(vocab_config)
        self._tts = Tts(model=model_path, voices=voices_path)
        self.tokenizer = Tokenizer(espeak_config)
        self.voices = _Voices(self._tts)
        #: Whether ``create_timed`` gives timings: always, with this engine.
        self.has_timings = self._tts.timed

    @classmethod
    def from_session(
        cls,
        session,
        voices_path: str,
        espeak_config: Optional[EspeakConfig] = None,
        vocab_config: Optional[Union[dict, str]] = None,
    ):
        """Not available: kokoro_rs runs the model with its own ONNX Runtime
        and cannot use an onnxruntime session. Give the model's path:
        ``Kokoro(model_path, voices_path)``."""
        raise NotImplementedError(
            "kokoro_rs cannot run a live onnxruntime InferenceSession: it runs the model "
            "with its own ONNX Runtime. Use Kokoro(model_path, voices_path) instead "
            "(the engine picks its threads itself; for a GPU, kokoro_rs.Tts(device='cuda'))."
        )

    def get_voices(self) -> List[str]:
        """The voices' names, sorted."""
        return sorted(self.voices)

    def get_voice_style(self, name: str) -> NDArray[np.float32]:
        """A voice's style table, shape (510, 1, 256): arithmetic on these
        makes blends that ``create`` takes as ``voice``."""
        return self._tts.style(name)

    def create(
        self,
        text: str,
        voice: Voice,
        speed: float = 1.0,
        lang: str = "en-us",
        is_phonemes: bool = False,
        trim: bool = True,
        sentence_pause: float = 0.25,
        clause_pause: float = 0.1,
        continuous: bool = False,
    ) -> Tuple[NDArray[np.float32], int]:
        """Speaks ``text``: (samples, 24000)."""
        samples, _ = self._speak(
            text, voice, speed, lang, is_phonemes, trim, sentence_pause, clause_pause, False
        )
        return samples, SAMPLE_RATE

    def create_timed(
        self,
        text: str,
        voice: Voice,
        speed: float = 1.0,
        lang: str = "en-us",
        is_phonemes: bool = False,
        trim: bool = True,
        sentence_pause: float = 0.25,
        clause_pause: float = 0.1,
        continuous: bool = False,
    ) -> Tuple[NDArray[np.float32], int, List[Timing]]:
        """Speaks ``text``: (samples, 24000, a Timing per phoneme)."""
        samples, spoken = self._speak(
            text, voice, speed, lang, is_phonemes, trim, sentence_pause, clause_pause, True
        )
        timings = [Timing(w[0], w[1], w[2]) for w in spoken.words()]
        return samples, SAMPLE_RATE, timings

    async def create_stream(
        self,
        text: str,
        voice: Voice,
        speed: float = 1.0,
        lang: str = "en-us",
        is_phonemes: bool = False,
        trim: bool = True,
        sentence_pause: float = 0.25,
        clause_pause: float = 0.1,
    ) -> AsyncGenerator[Tuple[NDArray[np.float32], int], None]:
        """Yields (samples, 24000) chunk by chunk as each is made; the model
        runs off the event loop. Leaving the loop early stops the synthesis."""
        name, style = _voice(voice)
        ask = _ask(name, speed, lang, _trim_pauses(trim, sentence_pause, clause_pause))
        stream = self._tts._engine.stream(text, ask, style=style, phonemes=is_phonemes)
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await loop.run_in_executor(None, stream.next_chunk)
                if item is None:
                    break
                yield item[0], SAMPLE_RATE
        finally:
            stream.close()

    def _speak(self, text, voice, speed, lang, is_phonemes, trim, sentence, clause, per_phoneme):
        name, style = _voice(voice)
        ask = _ask(name, speed, lang, _trim_pauses(trim, sentence, clause))
        # Text with nothing to speak is the engine's NothingToSay (a ValueError).
        return self._tts._engine.speak(
            text, ask, style=style, phonemes=is_phonemes, phoneme_words=per_phoneme
        )


def _trim_pauses(trim: bool, sentence: float, clause: float):
    """kokoro-onnx's trim and pauses as the engine's: trimmed chunks joined
    by the pauses (a paragraph as a sentence), or the model's audio as it is."""
    if not trim:
        return None
    return (sentence, clause, sentence)


def _voice(voice: Voice):
    """A voice name, or a style table (any shape of rows of 256 floats,
    kokoro-onnx's (rows, 1, 256) among them) made flat float32."""
    if isinstance(voice, str):
        return voice, None
    table = np.asarray(voice, dtype=np.float32)
    if table.size == 0 or table.size % 256 != 0 or table.shape[-1] != 256:
        raise BadVoice(
            f"a voice style is rows of 256 floats, shape (rows, 1, 256); got shape {table.shape}"
        )
    return None, np.ascontiguousarray(table.reshape(-1))


def _check_vocab(vocab_config) -> None:
    """A vocabulary given must be Kokoro v1.0's: the engine speaks with it."""
    if vocab_config is None:
        return
    if isinstance(vocab_config, str):
        with open(vocab_config, encoding="utf-8") as fp:
            vocab_config = json.load(fp)
    vocab = vocab_config["vocab"]
    if vocab and vocab != DEFAULT_VOCAB:
        differ = sorted(set(vocab.items()) ^ set(DEFAULT_VOCAB.items()))
        raise NotImplementedError(
            "kokoro_rs speaks with Kokoro v1.0's phoneme vocabulary; this vocab_config "
            f"differs from it in {len(differ)} entries (first: {differ[:3]})"
        )
