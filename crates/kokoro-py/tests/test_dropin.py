"""kokoro_rs.Kokoro against kokoro-onnx 0.6.1, installed in the same
environment: the same names, signatures, return values and exception types."""

import asyncio
import inspect
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import kokoro_onnx
import kokoro_rs

TEXT = "The quick brown fox jumps over the lazy dog. It was 3:45 pm, and the dog, unbothered, slept on."


def test_the_names_programs_import_are_there_with_the_same_values():
    for name in ["Kokoro", "EspeakConfig", "KoKoroConfig", "Tokenizer", "Timing", "SAMPLE_RATE", "MAX_PHONEME_LENGTH"]:
        assert hasattr(kokoro_rs, name), name
    assert kokoro_rs.SAMPLE_RATE == kokoro_onnx.SAMPLE_RATE == 24000
    assert kokoro_rs.MAX_PHONEME_LENGTH == kokoro_onnx.MAX_PHONEME_LENGTH == 510
    assert kokoro_rs.config.SAMPLE_RATE == kokoro_onnx.config.SAMPLE_RATE
    assert kokoro_rs.config.DEFAULT_VOCAB == kokoro_onnx.config.DEFAULT_VOCAB
    from kokoro_rs.config import EspeakConfig  # noqa: F401
    from kokoro_rs.tokenizer import Tokenizer  # noqa: F401

    assert [f.name for f in kokoro_rs.Timing.__dataclass_fields__.values()] == [
        f.name for f in kokoro_onnx.Timing.__dataclass_fields__.values()
    ]
    assert kokoro_rs.EspeakConfig() == kokoro_rs.EspeakConfig(lib_path=None, data_path=None)


def _params(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(
    "member",
    ["__init__", "from_session", "create", "create_timed", "create_stream", "get_voices", "get_voice_style"],
)
def test_signatures_match_kokoro_onnx(member):
    ours = getattr(kokoro_rs.Kokoro, member)
    theirs = getattr(kokoro_onnx.Kokoro, member)
    assert _params(ours) == _params(theirs)
    assert inspect.isasyncgenfunction(ours) == inspect.isasyncgenfunction(theirs)
    assert isinstance(inspect.getattr_static(kokoro_rs.Kokoro, member), type(inspect.getattr_static(kokoro_onnx.Kokoro, member)))


def test_tokenizer_signatures_match():
    for member in ["__init__", "tokenize", "phonemize", "known", "normalize_text"]:
        assert _params(getattr(kokoro_rs.Tokenizer, member)) == _params(getattr(kokoro_onnx.Tokenizer, member)), member


def test_create_returns_what_kokoro_onnx_returns(kokoro, reference):
    ours, our_rate = kokoro.create(TEXT, voice="af_sarah", speed=1.0, lang="en-us")
    theirs, their_rate = reference.create(TEXT, voice="af_sarah", speed=1.0, lang="en-us")
    assert our_rate == their_rate == 24000
    assert isinstance(our_rate, int)
    assert ours.dtype == theirs.dtype == np.float32
    assert ours.ndim == theirs.ndim == 1
    # The same speech at the same pace: the lengths agree within a fifth.
    assert 0.8 < len(ours) / len(theirs) < 1.25
    assert np.isfinite(ours).all() and np.abs(ours).max() <= 1.0
    assert np.sqrt(np.mean(ours**2)) > 0.02


def test_voices_and_styles_match(kokoro, reference):
    assert kokoro.get_voices() == reference.get_voices()
    ours = kokoro.get_voice_style("af_nicole")
    theirs = reference.get_voice_style("af_nicole")
    assert ours.shape == theirs.shape == (510, 1, 256)
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)
    with pytest.raises(KeyError):
        kokoro.get_voice_style("af_nope")
    assert kokoro.voices["af_nicole"].shape == (510, 1, 256)


def test_a_blend_made_with_numpy_is_the_blend_string(kokoro):
    blend = np.add(kokoro.get_voice_style("af_nicole") * 0.5, kokoro.get_voice_style("am_michael") * 0.5)
    by_array, _ = kokoro.create("Hello there.", voice=blend)
    by_name, _ = kokoro.create("Hello there.", voice="af_nicole:50,am_michael:50")
    assert np.array_equal(by_array, by_name)
    # float64 arithmetic, as numpy gives it, is taken too.
    as_f64, _ = kokoro.create("Hello there.", voice=blend.astype(np.float64))
    assert np.array_equal(as_f64, by_name)


@pytest.mark.parametrize(
    "call, builtin",
    [
        (dict(text="Hello.", voice="af_sarah", speed=3.0), ValueError),
        (dict(text="Hello.", voice="af_sarah", speed=0.1), ValueError),
        (dict(text="Hello.", voice="af_nobody"), ValueError),
        (dict(text="Hello.", voice="af_sarah", lang="xx-yy"), RuntimeError),
        (dict(text="", voice="af_sarah"), ValueError),
        (dict(text="###", voice="af_sarah", is_phonemes=True), ValueError),
    ],
)
def test_bad_input_raises_what_kokoro_onnx_raises(kokoro, reference, call, builtin):
    with pytest.raises(builtin):
        reference.create(**call)
    with pytest.raises(builtin) as raised:
        kokoro.create(**call)
    assert isinstance(raised.value, kokoro_rs.errors.KokoroError)
    assert str(raised.value)


def test_a_style_of_the_wrong_shape_is_a_clear_error(kokoro):
    with pytest.raises(ValueError, match="256"):
        kokoro.create("Hello.", voice=np.zeros((10, 1, 255), dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        kokoro.create("Hello.", voice=np.full((510, 1, 256), np.nan, dtype=np.float32))


def test_missing_files(voices_path, model_path, tmp_path):
    with pytest.raises(FileNotFoundError, match="Voices file not found"):
        kokoro_rs.Kokoro(model_path, str(tmp_path / "nope.bin"))
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        kokoro_rs.Kokoro(str(tmp_path / "nope.onnx"), voices_path)


def test_from_session_says_it_cannot(voices_path):
    with pytest.raises(NotImplementedError, match="onnxruntime"):
        kokoro_rs.Kokoro.from_session(object(), voices_path)


def test_create_timed_times_every_phoneme(kokoro):
    samples, rate, timings = kokoro.create_timed("Hi there. How are you?", "af_sarah")
    assert kokoro.has_timings
    assert rate == 24000 and timings
    assert all(isinstance(t, kokoro_rs.Timing) for t in timings)
    phonemes = kokoro.tokenizer.phonemize("Hi there. How are you?")
    assert "".join(t.phoneme for t in timings).replace(" ", "") == phonemes.replace(" ", "")
    assert all(a.end <= b.start + 1e-9 for a, b in zip(timings, timings[1:]))
    assert 0 <= timings[0].start and timings[-1].end <= len(samples) / rate + 1e-9


def test_phonemes_are_spoken_as_given(kokoro):
    phonemes = kokoro.tokenizer.phonemize("Hello world!")
    by_phonemes, _ = kokoro.create(phonemes, "af_heart", is_phonemes=True)
    by_text, _ = kokoro.create("Hello world!", "af_heart")
    assert np.array_equal(by_phonemes, by_text)


def test_trim_and_pauses(kokoro):
    text = "One. Two. Three."
    trimmed, _ = kokoro.create(text, "af_heart")
    longer, _ = kokoro.create(text, "af_heart", sentence_pause=1.0)
    raw, _ = kokoro.create(text, "af_heart", trim=False)
    # Two pauses between three sentences, each 0.75 s longer.
    assert abs((len(longer) - len(trimmed)) / 24000 - 1.5) < 0.1
    assert len(raw) != len(trimmed)


def test_speed_changes_the_length(kokoro):
    normal, _ = kokoro.create(TEXT, "af_heart")
    fast, _ = kokoro.create(TEXT, "af_heart", speed=2)
    assert 0.4 < len(fast) / len(normal) < 0.65


def test_create_stream_is_an_async_generator_of_chunks(kokoro):
    async def collect():
        return [(s, r) async for s, r in kokoro.create_stream(TEXT + " " + TEXT, "af_sarah")]

    chunks = asyncio.run(collect())
    assert len(chunks) >= 3
    assert all(r == 24000 and s.dtype == np.float32 and s.ndim == 1 for s, r in chunks)
    whole, _ = kokoro.create(TEXT + " " + TEXT, "af_sarah")
    assert 0.8 < sum(len(s) for s, _ in chunks) / len(whole) < 1.25


def test_create_stream_raises_in_the_loop_and_stops_when_abandoned(kokoro):
    async def bad():
        async for _ in kokoro.create_stream("Hello.", "af_sarah", speed=5.0):
            pass

    with pytest.raises(ValueError):
        asyncio.run(bad())

    async def first_only():
        started = time.monotonic()
        async for samples, _ in kokoro.create_stream(" ".join([TEXT] * 30), "af_sarah"):
            return samples, time.monotonic() - started

    samples, took = asyncio.run(first_only())
    assert len(samples) > 0 and took < 10


def test_the_event_loop_runs_while_the_model_does(kokoro):
    """The model runs off the loop: other tasks tick meanwhile."""

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        async for _ in kokoro.create_stream(TEXT * 3, "af_sarah"):
            pass
        took = time.monotonic() - started
        task.cancel()
        return ticks, took

    ticks, took = asyncio.run(main())
    assert ticks > took / 0.01 * 0.3, (ticks, took)


def test_a_kokoro_onnx_program_runs_by_changing_its_import_line(tmp_path, model_path, voices_path):
    program = textwrap.dedent(
        f"""
        import asyncio, sys, wave
        import numpy as np
        from kokoro_onnx import Kokoro, SAMPLE_RATE
        from kokoro_onnx.tokenizer import Tokenizer

        kokoro = Kokoro({model_path!r}, {voices_path!r})
        blend = np.add(kokoro.get_voice_style("af_nicole") * 0.5, kokoro.get_voice_style("am_michael") * 0.5)
        samples, sample_rate = kokoro.create("Hello. How are you today?", voice=blend, speed=1.0, lang="en-us")
        phonemes = Tokenizer().phonemize("Good morning.", lang="en-us")
        more, _ = kokoro.create(phonemes, "af_heart", is_phonemes=True)

        async def stream():
            parts = []
            async for s, _ in kokoro.create_stream("One. Two.", voice="af_sky", speed=1.2, lang="en-us"):
                parts.append(s)
            return np.concatenate(parts)

        streamed = asyncio.run(stream())
        audio = np.concatenate([samples, more, streamed])
        with wave.open(sys.argv[1], "wb") as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(SAMPLE_RATE)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        print(sample_rate, samples.dtype, samples.ndim, kokoro.get_voices()[:2])
        """
    )
    theirs = tmp_path / "theirs.py"
    ours = tmp_path / "ours.py"
    theirs.write_text(program)
    changed = program.replace("from kokoro_onnx import", "from kokoro_rs import").replace(
        "from kokoro_onnx.tokenizer import", "from kokoro_rs.tokenizer import"
    )
    assert changed.count("kokoro_rs") == 2 and "kokoro_onnx" not in changed
    ours.write_text(changed)
    out_theirs = subprocess.run([sys.executable, str(theirs), str(tmp_path / "a.wav")], capture_output=True, text=True, check=True)
    out_ours = subprocess.run([sys.executable, str(ours), str(tmp_path / "b.wav")], capture_output=True, text=True, check=True)
    assert out_ours.stdout == out_theirs.stdout
    import wave

    with wave.open(str(tmp_path / "a.wav")) as a, wave.open(str(tmp_path / "b.wav")) as b:
        assert a.getframerate() == b.getframerate() == 24000
        assert 0.75 < b.getnframes() / a.getnframes() < 1.33


def test_nothing_is_printed(tmp_path, model_path, voices_path):
    program = f"""
from kokoro_rs import Kokoro
k = Kokoro({model_path!r}, {voices_path!r})
k.create("Hello, quiet world. Zyxqwv is not a word.", "af_heart")
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout == "" and done.stderr == ""
