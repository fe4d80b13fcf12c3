//! kokoro-sched on the real model: parallel and sequential synthesis give
//! identical audio.

use std::sync::Arc;

use kokoro::infer::{KokoroSession, VoiceSet};
use kokoro::sched::{Audio, Control, Layout, Request, SinkError};
use kokoro::text::{ChunkOptions, Frontend, G2p, Lang, SpellingFallback};

use crate::{assets, corpus};

fn synthesise(text: &str, layout: Layout) -> Vec<f32> {
    let paths = assets();
    let voice = VoiceSet::open(&paths.voices)
        .unwrap()
        .resolve("af_heart")
        .unwrap();
    let frontend = Frontend::new(
        G2p::new(Lang::EnUs, Arc::new(SpellingFallback)).expect("English needs no backend"),
    );
    let mut scheduler = layout
        .build(|o| KokoroSession::open(&paths.model, o))
        .unwrap();
    let mut samples = Vec::new();
    let mut order = Vec::new();
    let mut sink = |a: Audio| -> Result<(), SinkError> {
        order.push(a.index);
        samples.extend(a.samples);
        Ok(())
    };
    let request = Request {
        text,
        voice: &voice,
        speed: 1.0,
    };
    let mut chunks = frontend.chunks(text, ChunkOptions::default());
    scheduler
        .run(&request, &mut chunks, &mut sink, &Control::default())
        .unwrap();
    assert_eq!(order, (0..order.len()).collect::<Vec<_>>());
    samples
}

#[test]
fn medium_parallel_is_bit_identical_to_sequential() {
    let text = corpus("medium.txt");
    let seq = synthesise(
        &text,
        Layout {
            workers: 1,
            intra_threads: 1,
        },
    );
    let par = synthesise(
        &text,
        Layout {
            workers: 2,
            intra_threads: 1,
        },
    );
    assert!(seq.len() > 24_000 * 50, "about a minute of audio");
    assert!(seq == par, "parallel output differs from sequential");
}

/// With different intra-op thread counts ONNX Runtime may sum in another order.
/// Observed on the int8 model: identical; the tolerance allowed is 1e-4.
#[test]
fn thread_count_changes_output_at_most_by_rounding() {
    let text = corpus("short.txt");
    let one = synthesise(
        &text,
        Layout {
            workers: 1,
            intra_threads: 1,
        },
    );
    let two = synthesise(
        &text,
        Layout {
            workers: 1,
            intra_threads: 2,
        },
    );
    assert_eq!(one.len(), two.len());
    let diff = one
        .iter()
        .zip(&two)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "max abs diff {diff}");
}
