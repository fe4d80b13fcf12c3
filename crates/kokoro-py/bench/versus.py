"""kokoro_rs.Kokoro against kokoro-onnx 0.6.1: the same program, its import
line changed, each run as a process of its own, one after the other and
alternating, on the same texts (and the `kokoro` command with --cli, for
its margin measured in the same run). Wall time (start-up included), seconds of
audio, and each process's own peak RSS (from wait4). Prints a Markdown table.

    python versus.py --model M --voices-dir D --corpus C --texts medium --rounds 2 --machine NAME [--cli PATH]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

PROGRAM = """
import sys
from {package} import Kokoro
kokoro = Kokoro(sys.argv[1], sys.argv[2])
with open(sys.argv[3], encoding="utf-8") as f:
    text = f.read()
samples, rate = kokoro.create(text, voice="af_heart", speed=1.0, lang="en-us")
print(len(samples) / rate)
"""


def measure(package, model, voices, text_path, cli=None, scratch=None):
    """One whole process: (wall s, audio s, peak RSS MiB). The command
    (`cli`) speaks the same text into a WAV, its audio read back."""
    if package == "kokoro (command)":
        out_wav = os.path.join(scratch, "cli.wav")
        command = [cli, text_path, out_wav]
    else:
        command = [sys.executable, "-c", PROGRAM.format(package=package), model, voices, text_path]
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{package} failed ({child.returncode})")
    if package == "kokoro (command)":
        with wave.open(out_wav) as w:
            audio = w.getnframes() / w.getframerate()
    else:
        audio = float(out.strip())
    return wall, audio, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--voices-dir", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--texts", default="medium")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--machine", default="this machine")
    ap.add_argument("--cli", help="the kokoro command too, for its margin in the same run")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="kokoro-bench-py-")
    voices = os.path.join(scratch, "voices-v1.0.bin")
    with open(voices, "wb") as f:
        style = np.fromfile(os.path.join(args.voices_dir, "af_heart.bin"), dtype="<f4").reshape(510, 1, 256)
        np.savez(f, af_heart=style)
    print(f"### The Python drop-in against kokoro-onnx 0.6.1 ({args.machine})\n")
    print("| text | round | package | audio s | wall s | wall / audio | peak RSS MiB | wall vs kokoro-onnx | RSS vs kokoro-onnx |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name in args.texts.split(","):
        text_path = os.path.join(args.corpus, f"{name}.txt")
        for round_ in range(1, args.rounds + 1):
            packages = ["kokoro_onnx", "kokoro_rs"] + (["kokoro (command)"] if args.cli else [])
            order = packages if round_ % 2 else packages[::-1]
            got = {p: measure(p, args.model, voices, text_path, args.cli, scratch) for p in order}
            base_wall, base_audio, base_rss = got["kokoro_onnx"]
            for package in packages:
                wall, audio, rss = got[package]
                per_audio = (base_wall / base_audio) / (wall / audio)
                print(
                    f"| {name} | {round_} | {package} | {audio:.1f} | {wall:.1f} | {wall / audio:.3f} | {rss:.0f} "
                    f"| {per_audio:.2f}x | {rss / base_rss:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
