//! The facade: speaking, streaming, and the same bytes as before it existed.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use sha2::Digest;

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}
use kokoro::audio::{encoder, Dest, Format};
use kokoro::{AssetOptions, Config, Error, Pauses, SpeakOptions, Tts, Workers};

use crate::{assets, test_data};

/// One engine for these tests: two single-thread sessions, whose output is
/// bit-identical to one single-thread session's.
fn tts() -> &'static Tts {
    static T: OnceLock<Tts> = OnceLock::new();
    T.get_or_init(|| {
        let paths = assets();
        Tts::open(Config {
            assets: AssetOptions {
                runtime: Some(paths.runtime.clone()),
                model: Some(paths.model.clone()),
                voices: Some(paths.voices.clone()),
                cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
            },
            workers: Workers {
                parallel: Some(true),
                max_workers: Some(2),
                intra_threads: Some(1),
                ..Workers::default()
            },
            ..Config::default()
        })
        .expect("the engine opens")
    })
}

/// The WAV of `text` spoken with `options`, streamed chunk by chunk into a
/// writer (its header says "unknown length", as a stream's does).
fn streamed_wav(text: &str, options: &SpeakOptions) -> Vec<u8> {
    let bytes = Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut wav = encoder(Format::Wav, Dest::writer(Shared(bytes.clone()))).unwrap();
    tts()
        .speak_into(text, options, |_, samples| Ok(wav.write(samples)?))
        .unwrap();
    wav.finish().unwrap().commit().unwrap();
    let out = bytes.lock().unwrap().clone();
    out
}

/// Issue 13: the engine moved out of the binary without changing a byte:
/// the WAV of `test_data/paragraph.txt`, plain and with `--pause-sentence 0.4`,
/// against the hashes of `test_data/paragraph.sha256` for this processor
/// (hashed from a file, whose header has the final sizes).
#[test]
fn a_paragraph_gives_the_same_bytes_as_before_the_engine_moved() {
    let text = test_data("paragraph.txt");
    let dir = tempfile::tempdir().unwrap();
    let (Some(plain), Some(paused)) = (
        crate::pinned_paragraph("default"),
        crate::pinned_paragraph("pause-sentence-0.4"),
    ) else {
        eprintln!(
            "skipped: test_data/paragraph.sha256 has no hash for this processor's instruction set"
        );
        return;
    };
    for (options, expected) in [
        (SpeakOptions::default(), plain),
        (
            SpeakOptions {
                pauses: Some(Pauses {
                    sentence: 0.4,
                    ..Pauses::default()
                }),
                ..SpeakOptions::default()
            },
            paused,
        ),
    ] {
        let path = dir.path().join("p.wav");
        tts().speak(&text, &options).unwrap().save(&path).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert_eq!(sha256_hex(&file), expected, "{options:?}");
        // Streamed into a writer chunk by chunk, the same samples: only the
        // header's sizes differ.
        let streamed = streamed_wav(&text, &options);
        assert_eq!(streamed.len(), file.len());
        assert_eq!(
            streamed[44..],
            file[44..],
            "{options:?}: streamed samples differ"
        );
    }
}

#[test]
fn speech_knows_where_each_chunk_came_from() {
    let text = "First sentence here. And a second one, a little longer, follows it.";
    let speech = tts().speak(text, &SpeakOptions::default()).unwrap();
    assert_eq!(speech.sample_rate, 24_000);
    assert!(speech.duration() > 2.0, "{}", speech.duration());
    let mut end = 0;
    for (k, s) in speech.segments.iter().enumerate() {
        assert_eq!(s.index, k);
        assert_eq!(s.samples.start, end, "segments are contiguous");
        end = s.samples.end;
        assert!(!text[s.span.clone()].trim().is_empty());
    }
    assert_eq!(end, speech.samples.len());
    assert_eq!(
        speech.segments.last().unwrap().span.end,
        text.trim_end().len()
    );
}

#[test]
fn a_stream_gives_the_samples_speak_gives() {
    let text = "One. Two, three. Four five six seven.";
    let options = SpeakOptions {
        streaming: true,
        ..SpeakOptions::default()
    };
    let whole = tts().speak(text, &options).unwrap();
    let mut streamed = Vec::new();
    let mut segments = Vec::new();
    for chunk in tts().stream(text, &options) {
        let chunk = chunk.unwrap();
        streamed.extend(chunk.samples);
        segments.push(chunk.segment);
    }
    assert_eq!(streamed, whole.samples);
    assert_eq!(segments, whole.segments);
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let e = tts()
        .speak("Hello.", &SpeakOptions::voice("af_nobody"))
        .unwrap_err();
    assert!(e.to_string().contains("unknown voice `af_nobody`"), "{e}");
    assert!(
        !e.to_string().contains("--"),
        "a library error names no flag: {e}"
    );
    let e = tts()
        .speak(
            "Hello.",
            &SpeakOptions {
                speed: 3.0,
                ..SpeakOptions::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::BadSpeed(_)), "{e}");
    let e = tts().speak("  \n ", &SpeakOptions::default()).unwrap_err();
    assert!(matches!(e, Error::NothingToSay), "{e}");
    let mut stream = tts().stream("", &SpeakOptions::default());
    assert!(matches!(stream.next(), Some(Err(Error::NothingToSay))));
}

#[test]
fn cancelling_stops_the_run() {
    let cancel = Arc::new(AtomicBool::new(true));
    let e = tts()
        .speak(
            "This will not be spoken. Nor this.",
            &SpeakOptions {
                cancel: Some(cancel),
                ..SpeakOptions::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
}

#[test]
fn a_dropped_stream_stops_its_synthesis() {
    let text = crate::corpus("medium.txt");
    let started = std::time::Instant::now();
    let mut stream = tts().stream(text, &SpeakOptions::default());
    let first = stream.next().unwrap().unwrap();
    assert!(!first.samples.is_empty());
    drop(stream);
    // The engine is free again once the chunks in flight are done: a short
    // text goes through long before the rest of medium.txt could have.
    tts().speak("Done.", &SpeakOptions::default()).unwrap();
    assert!(
        started.elapsed().as_secs_f64() < 40.0,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_language_comes_from_the_voice() {
    let result = tts().speak("Hola, ¿qué tal?", &SpeakOptions::voice("ef_dora"));
    if cfg!(feature = "espeak") {
        assert!(result.unwrap().duration() > 0.5);
    } else {
        // Spanish needs espeak-ng: without the feature, a clear error.
        let e = result.unwrap_err();
        assert!(matches!(e, Error::Lang(_)), "{e}");
    }
}

/// Issue 15: every word of the text, in order, with where it is spoken, on
/// the timeline the joiner made: inside its chunk's samples, in the pauses
/// never, and the same whether spoken whole or streamed.
#[test]
fn every_word_is_timed_on_the_output_timeline() {
    assert!(tts().timed(), "the engine derives the timed model");
    let text = "First, a short sentence. Then a second one, which is a little longer!\n\n\
                A new paragraph: [pause:1s] after a pause, it ends.";
    for (pauses, speed) in [
        (None, 1.0),
        (Some(Pauses::default()), 1.0),
        (Some(Pauses::default()), 1.5),
    ] {
        let options = SpeakOptions {
            pauses,
            speed,
            ..SpeakOptions::voice("af_heart")
        };
        let speech = tts().speak(text, &options).unwrap();
        let words: Vec<&kokoro::Word> = speech.words().collect();
        let said: Vec<&str> = words.iter().map(|w| &text[w.span.clone()]).collect();
        assert_eq!(
            said,
            [
                "First",
                "a",
                "short",
                "sentence",
                "Then",
                "a",
                "second",
                "one",
                "which",
                "is",
                "a",
                "little",
                "longer",
                "A",
                "new",
                "paragraph",
                "after",
                "a",
                "pause",
                "it",
                "ends"
            ]
        );
        for s in &speech.segments {
            for w in &s.words {
                assert!(
                    s.samples.start <= w.samples.start
                        && w.samples.start < w.samples.end
                        && w.samples.end <= s.samples.end,
                    "{w:?} lies in its chunk {s:?}"
                );
            }
        }
        assert!(words
            .windows(2)
            .all(|p| p[0].samples.end <= p[1].samples.start + 1200));
        // The marked-up pause of one second lies between "paragraph" and "after".
        let gap = words[16].start() - words[15].end();
        assert!(
            (0.9..1.6).contains(&gap),
            "{gap} s between the words around [pause:1s]"
        );
        // Each word's samples are speech, not the silence around it.
        for w in &words {
            let rms = (speech.samples[w.samples.clone()]
                .iter()
                .map(|s| s * s)
                .sum::<f32>()
                / w.samples.len() as f32)
                .sqrt();
            assert!(rms > 0.01, "`{}` is silent ({rms})", &text[w.span.clone()]);
        }
        let streamed: Vec<kokoro::Word> = tts()
            .stream(text, &options)
            .flat_map(|c| c.unwrap().segment.words)
            .collect();
        assert_eq!(streamed, speech.words().cloned().collect::<Vec<_>>());
    }
}

/// Issue 18: text pushed word by word, as a language model writes, is spoken
/// sentence by sentence before the writer is done; with pauses (a model call
/// per sentence) the audio, the segments and the words equal the whole
/// text's.
#[test]
fn text_fed_over_time_is_spoken_as_it_arrives_and_as_a_whole() {
    let text = "The first sentence is here. Then a second, somewhat longer one follows it.\n\n\
                A new paragraph ends the text.";
    let options = SpeakOptions {
        pauses: Some(Pauses::default()),
        ..SpeakOptions::voice("af_heart")
    };
    let whole = tts().speak(text, &options).unwrap();
    let (mut feed, speech) = tts().feed(&options);
    let written = Arc::new(AtomicBool::new(false));
    // The writer holds back its last word until the first audio has come (or
    // a minute has passed): a feed that waited for the end of the text fails
    // the test, however slow the machine.
    let (heard, first_heard) = std::sync::mpsc::channel::<()>();
    let writer = {
        let written = written.clone();
        std::thread::spawn(move || {
            let tokens: Vec<&str> = text.split_inclusive(' ').collect();
            let (last, rest) = tokens.split_last().unwrap();
            for token in rest {
                feed.push(token);
                std::thread::sleep(std::time::Duration::from_millis(150));
            }
            let _ = first_heard.recv_timeout(std::time::Duration::from_secs(60));
            feed.push(last);
            written.store(true, std::sync::atomic::Ordering::SeqCst);
            feed.finish();
        })
    };
    let (mut samples, mut segments) = (Vec::new(), Vec::new());
    let mut first_before_the_end = None;
    for chunk in speech {
        let chunk = chunk.unwrap();
        first_before_the_end.get_or_insert_with(|| {
            let before = !written.load(std::sync::atomic::Ordering::SeqCst);
            let _ = heard.send(());
            before
        });
        samples.extend(chunk.samples);
        segments.push(chunk.segment);
    }
    writer.join().unwrap();
    assert_eq!(
        first_before_the_end,
        Some(true),
        "the first audio came before the text was all written"
    );
    assert!(
        samples == whole.samples,
        "the same audio as the whole text's"
    );
    assert_eq!(
        segments, whole.segments,
        "the same chunks, spans and word times"
    );
    // Nothing pushed but whitespace: nothing to say, an error.
    let (mut feed, speech) = tts().feed(&options);
    feed.push("   \n");
    feed.finish();
    let results: Vec<_> = speech.collect();
    assert!(
        matches!(results[..], [Err(Error::NothingToSay)]),
        "{results:?}"
    );
}

/// SSML on the real model: a part is spoken exactly as the same text with the
/// part's voice and speed would be; breaks add their silence.
#[test]
fn ssml_voices_rates_and_breaks_are_spoken_as_asked() {
    use kokoro::text::ssml::Ssml;
    let tts = tts();
    let heart = SpeakOptions::voice("af_heart");
    let plain = |text: &str, voice: &str, speed: f32| {
        tts.speak(
            text,
            &SpeakOptions {
                voice: voice.into(),
                speed,
                ..SpeakOptions::default()
            },
        )
        .unwrap()
        .samples
    };
    let ssml = |src: &str| tts.speak_ssml(&Ssml::parse(src).unwrap(), &heart).unwrap();
    // One part: the same samples as plain text with its voice, at its rate.
    let adam =
        ssml(r#"<speak><voice name="am_adam">General Kenobi, you are a bold one.</voice></speak>"#);
    assert_eq!(
        adam.samples,
        plain("General Kenobi, you are a bold one.", "am_adam", 1.0)
    );
    let slow = ssml(r#"<speak><prosody rate="slow">Slowly, now.</prosody></speak>"#);
    assert_eq!(slow.samples, plain("Slowly, now.", "af_heart", 0.75));
    // A voice switch mid-text: the second part ends with Adam's audio for it,
    // after the pause between sentences.
    let both = ssml(r#"<speak>Hello there. <voice name="am_adam">General Kenobi.</voice></speak>"#);
    let adam_alone = plain("General Kenobi.", "am_adam", 1.0);
    let last = both.segments.last().unwrap();
    assert_eq!(both.segments.len(), 2);
    assert!(both.samples[last.samples.clone()].ends_with(&adam_alone));
    assert_eq!(
        &both.samples[..both.segments[0].samples.end],
        &plain("Hello there.", "af_heart", 1.0)[..]
    );
    // A break of 1.5 s: as much silence more than the text without it.
    let without = ssml("<speak>Wait for it. Now.</speak>");
    let with = ssml(r#"<speak>Wait for it. <break time="1500ms"/> Now.</speak>"#);
    let more = with.duration() - without.duration();
    assert!((1.2..1.8).contains(&more), "{more} s more");
    // Every word is timed, in order, on the text of the SSML.
    let parsed = Ssml::parse(r#"<speak>Call <say-as interpret-as="characters">abc</say-as>. <voice name="am_adam">Done.</voice></speak>"#).unwrap();
    let speech = tts.speak_ssml(&parsed, &heart).unwrap();
    let text = parsed.text();
    let words: Vec<&str> = speech.words().map(|w| w.text(&text)).collect();
    assert_eq!(words, ["Call", "A", "B", "C", "Done"], "{text:?}");
    assert!(speech
        .words()
        .zip(speech.words().skip(1))
        .all(|(a, b)| a.end() <= b.start() + 1e-9));
    // A voice that does not exist is an error before anything is spoken.
    let bad = Ssml::parse(r#"<speak>Hi. <voice name="zz_nobody">Bye.</voice></speak>"#).unwrap();
    assert!(matches!(tts.speak_ssml(&bad, &heart), Err(Error::Infer(_))));
}
