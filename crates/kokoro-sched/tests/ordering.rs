//! Scheduling invariants with a fake synthesizer: random chunk counts, latencies,
//! failures and worker counts. Output order, exactly-once delivery, identical
//! output across strategies, prompt stops and error reports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kokoro_infer::{Synthesize, Voice};
use kokoro_sched::{Audio, Control, Error, Parallel, Request, Scheduler, Sequential, SinkError};
use kokoro_text::Chunk;
use proptest::prelude::*;

/// Audio is a pure function of the ids; ids holding 999 fail; each call sleeps
/// for the latency its first id asks for. It also checks the reorder window.
struct Fake {
    started: Arc<AtomicUsize>,
    delivered: Arc<AtomicUsize>,
    window: usize,
}

impl Synthesize for Fake {
    fn synthesize(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> kokoro_infer::Result<Vec<f32>> {
        let started = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let delivered = self.delivered.load(Ordering::SeqCst);
        assert!(
            started <= delivered + self.window,
            "{started} started with only {delivered} delivered (window {})",
            self.window
        );
        std::thread::sleep(Duration::from_micros((ids[0] % 7) as u64 * 300));
        if ids.contains(&999) {
            return Err(kokoro_infer::Error::Inference("fake failure".into()));
        }
        Ok(ids.iter().map(|&i| i as f32 * speed + style[0]).collect())
    }
}

/// Fakes that do not check the reorder window.
fn unwindowed_fakes(n: usize) -> Vec<Fake> {
    (0..n)
        .map(|_| Fake {
            started: Arc::default(),
            delivered: Arc::new(AtomicUsize::new(usize::MAX / 2)),
            window: usize::MAX / 2,
        })
        .collect()
}

fn voice() -> Voice {
    let bytes: Vec<u8> = (0..510 * 256)
        .flat_map(|i| ((i / 256) as f32).to_le_bytes())
        .collect();
    Voice::from_bytes("fake", &bytes, std::path::Path::new("fake")).unwrap()
}

fn chunks(spec: &[(u8, bool)]) -> (String, Vec<Chunk>) {
    let mut text = String::new();
    let mut out = Vec::new();
    for (i, &(latency, fail)) in spec.iter().enumerate() {
        let start = text.len();
        text += &format!("Sentence number {i}. ");
        let mut ids = vec![i64::from(latency), i as i64 + 1, 7];
        if fail {
            ids.push(999);
        }
        out.push(Chunk {
            index: i,
            span: start..text.len() - 1,
            phonemes: String::new(),
            ids,
            words: Vec::new(),
            ends_paragraph: false,
            ends_sentence: true,
            pause_before_ms: 0,
            pause_after_ms: None,
            diagnostics: Vec::new(),
        });
    }
    (text, out)
}

struct Run {
    delivered: Vec<Audio>,
    result: Result<usize, Error>,
}

fn run(spec: &[(u8, bool)], workers: usize, cancel_after: Option<usize>) -> Run {
    let (text, chunks) = chunks(spec);
    let voice = voice();
    let started = Arc::new(AtomicUsize::new(0));
    let delivered_count = Arc::new(AtomicUsize::new(0));
    let window = 2 * workers;
    let fakes: Vec<Fake> = (0..workers)
        .map(|_| Fake {
            started: started.clone(),
            delivered: delivered_count.clone(),
            window: if workers == 1 { 1 } else { window },
        })
        .collect();
    let mut scheduler: Box<dyn Scheduler> = if workers == 1 {
        Box::new(Sequential::new(fakes.into_iter().next().unwrap(), 1))
    } else {
        Box::new(Parallel::new(fakes, 1).unwrap())
    };
    let control = Control::default();
    let cancel = control.cancel.clone();
    let mut delivered = Vec::new();
    let request = Request {
        text: &text,
        voice: &voice,
        speed: 1.0,
    };
    let mut sink = |a: Audio| -> Result<(), SinkError> {
        delivered.push(a);
        delivered_count.fetch_add(1, Ordering::SeqCst);
        if Some(delivered_count.load(Ordering::SeqCst)) == cancel_after {
            cancel.store(true, Ordering::SeqCst);
        }
        Ok(())
    };
    let result = scheduler
        .run(&request, &mut chunks.into_iter(), &mut sink, &control)
        .map(|s| s.chunks);
    Run { delivered, result }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn parallel_equals_sequential_in_order_exactly_once(spec in proptest::collection::vec((0u8..7, Just(false)), 0..40), workers in 1usize..=8) {
        let seq = run(&spec, 1, None);
        let par = run(&spec, workers, None);
        prop_assert_eq!(seq.result.as_ref().ok(), Some(&spec.len()));
        prop_assert_eq!(par.result.as_ref().ok(), Some(&spec.len()));
        let order: Vec<usize> = par.delivered.iter().map(|a| a.index).collect();
        prop_assert_eq!(order, (0..spec.len()).collect::<Vec<_>>());
        prop_assert_eq!(&par.delivered, &seq.delivered);
    }

    #[test]
    fn a_failure_stops_the_run_and_names_the_chunk(spec in proptest::collection::vec((0u8..7, proptest::bool::weighted(0.15)), 1..40), workers in 1usize..=8) {
        let first_failure = spec.iter().position(|&(_, f)| f);
        let r = run(&spec, workers, None);
        match first_failure {
            None => prop_assert!(r.result.is_ok()),
            Some(first) => {
                let err = r.result.unwrap_err();
                match &err {
                    Error::Chunk { index, snippet, .. } => {
                        prop_assert!(spec[*index].1, "reported chunk {} did not fail", index);
                        let expect_snippet = format!("Sentence number {index}.");
                        let expect_msg = format!("chunk {index}");
                        prop_assert!(snippet.starts_with(&expect_snippet));
                        prop_assert!(err.to_string().contains(&expect_msg));
                    }
                    other => prop_assert!(false, "unexpected error {:?}", other),
                }
                // Delivered audio is an in-order prefix that stops before the first failure.
                prop_assert!(r.delivered.len() <= first);
                prop_assert!(r.delivered.iter().enumerate().all(|(i, a)| a.index == i));
            }
        }
    }
}

#[test]
fn cancellation_stops_promptly() {
    let spec = vec![(3u8, false); 30];
    for workers in [1, 2, 4] {
        let r = run(&spec, workers, Some(3));
        assert!(
            matches!(r.result, Err(Error::Cancelled)),
            "{workers}: {:?}",
            r.result.as_ref().map(|_| ())
        );
        // Only chunks already in flight (at most the window) may still arrive.
        assert!(
            r.delivered.len() <= 3 + 2 * workers,
            "{workers} workers delivered {}",
            r.delivered.len()
        );
    }
}

#[test]
fn a_sink_error_stops_the_run() {
    let (text, chunks) = chunks(&[(1, false); 20]);
    let voice = voice();
    let fakes = unwindowed_fakes(3);
    let mut scheduler = Parallel::new(fakes, 1).unwrap();
    let mut n = 0;
    let mut sink = |_: Audio| -> Result<(), SinkError> {
        n += 1;
        if n == 5 {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed").into());
        }
        Ok(())
    };
    let request = Request {
        text: &text,
        voice: &voice,
        speed: 1.0,
    };
    let err = scheduler
        .run(
            &request,
            &mut chunks.into_iter(),
            &mut sink,
            &Control::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Sink(_)), "{err}");
    assert_eq!(n, 5);
}

#[test]
fn progress_reports_every_chunk_in_order() {
    let (text, chunks) = chunks(&[(1, false); 12]);
    let voice = voice();
    let fakes = unwindowed_fakes(2);
    let mut scheduler = Parallel::new(fakes, 1).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let control = Control {
        progress: Some(Arc::new(move |p: &kokoro_sched::Progress| {
            seen2
                .lock()
                .unwrap()
                .push((p.chunks_done, p.fraction_done, p.eta))
        })),
        ..Control::default()
    };
    let request = Request {
        text: &text,
        voice: &voice,
        speed: 1.0,
    };
    scheduler
        .run(
            &request,
            &mut chunks.into_iter(),
            &mut |_: Audio| -> Result<(), SinkError> { Ok(()) },
            &control,
        )
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "the share of text done grows"
    );
    assert!(seen.last().unwrap().1 > 0.99);
    assert!(
        seen.last().unwrap().2.unwrap() < Duration::from_millis(50),
        "nothing left at the end"
    );
}

/// Counts the ids being synthesised across all its clones, and the highest
/// count seen while more than one call was running.
#[derive(Clone, Default)]
struct Weighed {
    calls: Arc<std::sync::Mutex<(usize, usize)>>,
    highest_shared: Arc<AtomicUsize>,
    highest: Arc<AtomicUsize>,
}

impl Synthesize for Weighed {
    fn synthesize(
        &mut self,
        ids: &[i64],
        _style: &[f32],
        _speed: f32,
    ) -> kokoro_infer::Result<Vec<f32>> {
        {
            let mut c = self.calls.lock().unwrap();
            c.0 += 1;
            c.1 += ids.len();
            self.highest.fetch_max(c.1, Ordering::SeqCst);
            if c.0 > 1 {
                self.highest_shared.fetch_max(c.1, Ordering::SeqCst);
            }
        }
        std::thread::sleep(Duration::from_micros(ids.len() as u64 * 20));
        let mut c = self.calls.lock().unwrap();
        c.0 -= 1;
        c.1 -= ids.len();
        Ok(ids.iter().map(|&i| i as f32).collect())
    }
}

fn sized_chunks(lengths: &[usize]) -> (String, Vec<Chunk>) {
    let (text, mut out) = chunks(&vec![(0, false); lengths.len()]);
    for (c, &n) in out.iter_mut().zip(lengths) {
        c.ids = (0..n as i64).map(|i| i + c.index as i64).collect();
    }
    (text, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The sessions never run more ids at once than the budget (a longer chunk
    /// runs alone), and the output is still the sequential output, in order.
    #[test]
    fn the_budget_bounds_the_ids_in_flight(
        lengths in proptest::collection::vec(1usize..=200, 1..40),
        workers in 2usize..=4,
        budget in 50usize..=400,
    ) {
        let (text, chunks) = sized_chunks(&lengths);
        let voice = voice();
        let request = Request { text: &text, voice: &voice, speed: 1.0 };
        let fake = Weighed::default();
        let mut parallel = Parallel::new(vec![fake.clone(); workers], 1).unwrap().with_budget(budget);
        let mut sequential = Sequential::new(Weighed::default(), 1);
        let mut got = Vec::new();
        let mut want = Vec::new();
        parallel.run(&request, &mut chunks.clone().into_iter(), &mut |a: Audio| -> Result<(), SinkError> { got.push(a); Ok(()) }, &Control::default()).unwrap();
        sequential.run(&request, &mut chunks.into_iter(), &mut |a: Audio| -> Result<(), SinkError> { want.push(a); Ok(()) }, &Control::default()).unwrap();
        prop_assert_eq!(&got, &want);
        prop_assert!(fake.highest_shared.load(Ordering::SeqCst) <= budget);
        let longest = lengths.iter().copied().max().unwrap_or(0);
        prop_assert!(fake.highest.load(Ordering::SeqCst) <= budget.max(longest));
    }
}

#[test]
fn chunks_that_fit_together_run_together() {
    // Forty short chunks and a budget that holds two: both sessions work.
    let (text, chunks) = sized_chunks(&[100; 40]);
    let voice = voice();
    let request = Request {
        text: &text,
        voice: &voice,
        speed: 1.0,
    };
    let fake = Weighed::default();
    let mut parallel = Parallel::new(vec![fake.clone(); 2], 1)
        .unwrap()
        .with_budget(200);
    parallel
        .run(
            &request,
            &mut chunks.into_iter(),
            &mut |_: Audio| -> Result<(), SinkError> { Ok(()) },
            &Control::default(),
        )
        .unwrap();
    assert_eq!(fake.highest_shared.load(Ordering::SeqCst), 200);
}

/// Word times from synthetic durations: each word takes half of the space on
/// either side, and every time moves three units (75 ms) earlier.
#[test]
fn word_times_follow_the_durations() {
    use kokoro_sched::spoken_words;
    use kokoro_text::Word;
    let space = kokoro_text::vocab::id_of(' ').unwrap();
    // "ab cd.": ids a b ␣ c d .
    let chunk = Chunk {
        index: 0,
        span: 0..6,
        phonemes: "ab cd.".into(),
        ids: vec![43, 44, space, 45, 46, 4],
        words: vec![
            Word {
                span: 0..2,
                ids: 0..2,
            },
            Word {
                span: 3..5,
                ids: 3..5,
            },
            Word {
                span: 5..5,
                ids: 5..5,
            },
        ],
        ends_paragraph: false,
        ends_sentence: true,
        pause_before_ms: 0,
        pause_after_ms: None,
        diagnostics: Vec::new(),
    };
    // pad a b ␣ c d . pad, in units of 600 samples
    let durations = [10, 2, 3, 4, 1, 5, 6, 8];
    let words = spoken_words(&chunk, &durations, 1.0).unwrap();
    let unit = 600;
    // "ab": units 10..15, plus half the space after (2) = 10..17, less 3 = 7..14.
    assert_eq!(words[0].samples, 7 * unit..14 * unit);
    // "cd": units 19..25, less half the space before = 17..25, less 3 = 14..22.
    assert_eq!(words[1].samples, 14 * unit..22 * unit);
    // A word with no ids sits where its ids would start.
    assert_eq!(words[2].samples, 22 * unit..22 * unit);
    // The words' times never pass the audio's end.
    assert!(words.iter().all(|w| w.samples.end <= 36 * unit));
    // At twice the speed the audio's lead is half as long (1.5 units).
    let fast = spoken_words(&chunk, &durations, 2.0).unwrap();
    assert_eq!(fast[0].samples, 10 * unit - 900..17 * unit - 900);
    // Durations that do not fit the chunk give no times.
    assert_eq!(spoken_words(&chunk, &durations[1..], 1.0), None);
    assert_eq!(spoken_words(&chunk, &[10, 2, 3, -4, 1, 5, 6, 8], 1.0), None);
}
