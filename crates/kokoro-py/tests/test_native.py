"""The engine's own API: speech with words, captions, streams, feeds, SSML,
books, threads, Ctrl-C, errors and logging, on the real model."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
import zipfile

import numpy as np
import pytest

import kokoro_rs
from kokoro_rs import Tts, errors

TEXT = "Captain Ahab walked the deck at 6 am. The sea was calm; the crew, quiet. Nobody spoke of the whale."


def test_speak_gives_samples_words_and_chunks(tts):
    speech = tts.speak(TEXT, voice="af_heart")
    assert speech.sample_rate == 24000
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    words = speech.words
    assert [w.text for w in words][:4] == ["Captain", "Ahab", "walked", "the"]
    # Every word of the text is there, in order, each timed within the audio.
    assert len(words) == len(re.findall(r"[A-Za-z0-9]+", TEXT))
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    assert 0 <= words[0].start and words[-1].end <= speech.duration + 1e-6
    for w in words:
        assert TEXT.encode()[w.span[0] : w.span[1]].decode() == w.text
    assert speech.segments and speech.segments[0].phonemes


def test_samples_are_handed_over_without_a_copy(tts):
    speech = tts.speak("Hello.")
    # numpy wraps the engine's own buffer: the array does not own a copy.
    assert not speech.samples.flags["OWNDATA"]
    assert speech.samples.base is not None


def test_captions_parse(tts):
    speech = tts.speak(TEXT)
    srt = speech.captions("srt")
    cues = re.findall(r"(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+?)\n\n", srt, re.S)
    assert len(cues) >= 2
    assert " ".join(c[2].replace("\n", " ") for c in cues).split() == TEXT.split()
    vtt = speech.captions("vtt")
    assert vtt.startswith("WEBVTT\n\n") and vtt.count("-->") == len(cues)
    data = json.loads(speech.words_json())
    assert data["sample_rate"] == 24000 and [w["word"] for w in data["words"]] == [w.text for w in speech.words]
    with pytest.raises(errors.InputError, match="srt or vtt"):
        speech.captions("ass")


def test_save_writes_complete_files_or_none(tts, tmp_path):
    speech = tts.speak("Hello there.")
    speech.save(tmp_path / "a.wav")
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert w.getframerate() == 24000 and w.getnframes() == len(speech.samples)
    speech.save(tmp_path / "a.mp3")
    mp3 = (tmp_path / "a.mp3").read_bytes()
    # An ID3 tag, or an MPEG audio frame's sync word.
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)
    with pytest.raises(errors.KokoroError):
        speech.save(tmp_path / "missing" / "a.wav")
    assert not (tmp_path / "missing").exists()


def test_voices_say_language_and_gender(tts):
    voices = {v.name: v for v in tts.voices}
    assert len(voices) == 54
    assert voices["af_heart"].language == "en-us" and voices["af_heart"].gender == "female"
    assert voices["bm_george"].language == "en-gb" and voices["bm_george"].gender == "male"
    assert tts.style("af_heart").shape == (510, 1, 256)


def test_blends_and_languages(tts):
    blend = tts.speak("Bonjour à tous.", voice="ff_siwis:70,af_heart:30")
    assert blend.duration > 0.5
    french = tts.speak("Bonjour à tous.", voice="ff_siwis")
    assert "ʒ" in french.segments[0].phonemes  # read as French, from the voice
    assert tts.phonemize("Bonjour", lang="fr-fr") != tts.phonemize("Bonjour", lang="en-us")


def test_ssml_changes_voices(tts):
    ssml = (
        '<speak>Hello from the first voice.<break time="500ms"/>'
        '<voice name="am_michael">And hello from the second.</voice></speak>'
    )
    speech = tts.speak(ssml, ssml=True)
    assert speech.text.startswith("Hello from the first voice.")
    assert [w.text for w in speech.words][-2:] == ["the", "second"]
    with pytest.raises(errors.InputError, match="SSML"):
        tts.speak("<speak><voice>unclosed", ssml=True)
    with pytest.raises(ValueError, match="am_nobody"):
        tts.speak('<speak><voice name="am_nobody">x</voice></speak>', ssml=True)


def test_stream_gives_ordered_chunks_as_they_are_made(tts):
    text = " ".join([TEXT] * 3)
    chunks = list(tts.stream(text))
    assert len(chunks) >= 3
    assert all(a.end <= b.start + 1e-6 for a, b in zip(chunks, chunks[1:]))
    assert chunks[0].start == 0
    spoken = [w.text for c in chunks for w in c.words]
    assert spoken == [w.text for w in tts.speak(text).words]
    # The first chunk is short, so that playback can start at once.
    assert len(chunks[0].words) < len(chunks[1].words)


def test_a_stream_closed_early_stops(tts):
    stream = tts.stream(" ".join([TEXT] * 40))
    first = next(stream)
    stream.close()
    assert len(first.samples) > 0
    with pytest.raises(StopIteration):
        next(stream)


def test_feed_speaks_text_as_it_arrives(tts):
    text = "The model writes a word at a time. Each sentence is spoken once it ends. The last one is spoken at the finish"
    feed = tts.feed(voice="am_adam")
    got = []
    reader = threading.Thread(target=lambda: got.extend(feed))
    reader.start()
    for token in re.findall(r"\S+\s*", text):
        feed.push(token)
        time.sleep(0.01)
    feed.finish()
    reader.join(60)
    assert not reader.is_alive()
    assert [w.text for c in got for w in c.words] == re.findall(r"[A-Za-z]+", text)
    with pytest.raises(errors.InputError):
        feed.push("more")


def test_books_m4b_with_progress_and_captions(tts, tmp_path):
    source = tmp_path / "book.md"
    source.write_text("# One\n\nThe first chapter is short.\n\n# Two\n\nThe second is shorter.\n\n# Three\n\nSkipped.\n")
    seen = []
    chapters, seconds = tts.book(
        source,
        tmp_path / "book.m4b",
        chapters="1-2",
        title="A Test",
        author="Someone",
        captions=tmp_path / "book.srt",
        progress=lambda label, fraction, audio, left: seen.append(fraction),
    )
    assert chapters == 2 and seconds > 1
    data = (tmp_path / "book.m4b").read_bytes()
    assert data[4:8] == b"ftyp" and b"chpl" in data
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    srt = (tmp_path / "book.srt").read_text()
    assert "first chapter" in srt and "shorter" in srt and "Skipped" not in srt


def test_books_read_along_epub(tts, tmp_path):
    source = tmp_path / "book.md"
    source.write_text("# Only\n\nA read-along book has audio and text together.\n")
    tts.book(source, tmp_path / "book.epub")
    with zipfile.ZipFile(tmp_path / "book.epub") as z:
        names = z.namelist()
        assert names[0] == "mimetype"
        assert any(n.endswith(".smil") for n in names)
        assert any(n.endswith(".m4a") for n in names)


def test_a_book_output_with_no_format_is_refused(tts, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("Hello.")
    with pytest.raises(errors.InputError, match="extension"):
        tts.book(source, tmp_path / "out.xyz")
    assert not (tmp_path / "out.xyz").exists()
    with pytest.raises(FileNotFoundError):
        tts.book(tmp_path / "absent.txt", tmp_path / "out.wav")


def test_one_engine_from_many_threads(tts):
    texts = [f"Thread number {n} says hello, and counts to {n * 3}." for n in range(6)]
    alone = [tts.speak(t, voice="bf_emma").samples for t in texts]
    together = [None] * len(texts)

    def speak(i):
        together[i] = tts.speak(texts[i], voice="bf_emma").samples

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 1e-3


def test_the_gil_is_released_while_the_model_runs(tts):
    done = threading.Event()
    worker = threading.Thread(target=lambda: (tts.speak(" ".join([TEXT] * 4)), done.set()))
    started = time.monotonic()
    worker.start()
    gaps = []
    last = time.monotonic()
    while not done.is_set():
        time.sleep(0.005)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    worker.join()
    took = time.monotonic() - started
    assert took > 1.0
    # This thread ran all along: no wait for the GIL near the synthesis' length.
    assert max(gaps) < 0.25, max(gaps)


def test_ctrl_c_stops_a_long_synthesis():
    # Python's own handler, as an interactive session has it (a process
    # started in the background inherits SIGINT ignored).
    program = f"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from kokoro_rs import Tts
tts = Tts()
print("ready", flush=True)
started = time.monotonic()
try:
    tts.speak({" ".join([TEXT] * 200)!r})
except KeyboardInterrupt:
    print("interrupted after", round(time.monotonic() - started, 2), flush=True)
    sys.exit(3)
"""
    child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    rest = child.communicate(timeout=30)[0]
    assert child.returncode == 3, rest
    assert "interrupted after" in rest
    assert time.monotonic() - sent < 5


@pytest.mark.parametrize(
    "call, error, builtin, words",
    [
        (lambda t: t.speak("Hi.", speed=0), errors.BadSpeed, ValueError, "speed"),
        (lambda t: t.speak("Hi.", voice="zz_top"), errors.UnknownVoice, ValueError, "zz_top"),
        (lambda t: t.speak("Hi.", voice="af_heart:x"), errors.UnknownVoice, ValueError, "blend"),
        (lambda t: t.speak("Hi.", lang="klingon"), errors.UnknownLanguage, RuntimeError, "klingon"),
        (lambda t: t.speak("   "), errors.NothingToSay, ValueError, "nothing"),
    ],
)
def test_bad_input_is_a_python_exception_with_the_engines_message(tts, call, error, builtin, words):
    with pytest.raises(error, match=words) as raised:
        call(tts)
    assert isinstance(raised.value, builtin)


def test_settings_are_checked_where_they_are_given(tmp_path):
    with pytest.raises(errors.SettingsError, match="speed="):
        Tts(speed=9)
    with pytest.raises(errors.SettingsError, match="model_form="):
        Tts(model_form="int3")
    config = tmp_path / "config.toml"
    config.write_text('speed = "fast"\n')
    with pytest.raises(errors.SettingsError, match="config.toml"):
        Tts(config=config)


def test_settings_from_the_environment():
    program = "from kokoro_rs import Tts; t = Tts(); print(t.speak('Hi.').words[0].text)"
    env = dict(os.environ, KOKORO_SPEED="7")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env)
    assert done.returncode != 0 and "KOKORO_SPEED" in done.stderr


def test_messages_go_to_logging_not_to_the_terminal(caplog):
    with caplog.at_level(logging.INFO, logger="kokoro_rs"):
        Tts()
    assert any("model form" in r.getMessage() for r in caplog.records)
    program = "from kokoro_rs import Tts; Tts().speak('A quiet test of qwxzv.')"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout == "" and done.stderr == ""


def test_version_and_stubs_are_installed():
    assert kokoro_rs.__version__
    package = os.path.dirname(kokoro_rs.__file__)
    assert os.path.isfile(os.path.join(package, "py.typed"))
    assert os.path.isfile(os.path.join(package, "_native.pyi"))
