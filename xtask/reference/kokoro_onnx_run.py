"""The Python reference as a whole process, for `docs/BENCHMARKS.md`.

kokoro-onnx 0.6.1 (ONNX Runtime, default threads) speaks a text file with voice
af_heart and writes a 16-bit WAV: the same job as `kokoro TEXT OUT.wav`.

    python kokoro_onnx_run.py MODEL VOICES_DIR TEXT OUT.wav

VOICES_DIR is the cache's directory of `.bin` voices; the voice is packed into
the `.npz` kokoro-onnx reads, beside OUT.
"""

import sys
import wave

import numpy as np
from kokoro_onnx import Kokoro


def main() -> None:
    model, voices_dir, text_path, out = sys.argv[1:5]
    style = np.fromfile(f"{voices_dir}/af_heart.bin", dtype="<f4").reshape(510, 1, 256)
    npz = out + ".voices.npz"
    np.savez(npz, af_heart=style)
    kokoro = Kokoro(model, npz)
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    samples, rate = kokoro.create(text, voice="af_heart", speed=1.0, lang="en-us")
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    print(f"{len(samples) / rate:.1f} s of audio")


if __name__ == "__main__":
    main()
