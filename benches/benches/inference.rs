//! One inference call of the real model: 30 and 120 phoneme ids, one thread.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kokoro::infer::{init_runtime, KokoroSession, SessionOptions, Synthesize, VoiceSet};
use kokoro_benches::assets;

fn inference(c: &mut Criterion) {
    let paths = assets();
    init_runtime(&paths.runtime).unwrap();
    let voice = VoiceSet::open(&paths.voices)
        .unwrap()
        .load("af_heart")
        .unwrap();
    let mut session = KokoroSession::open(
        &paths.model,
        SessionOptions {
            intra_threads: 1,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    let word: [i64; 10] = [50, 156, 86, 54, 156, 57, 135, 16, 65, 156];
    let mut g = c.benchmark_group("inference");
    g.sample_size(10);
    for n in [30usize, 120] {
        let ids: Vec<i64> = word.iter().copied().cycle().take(n).collect();
        g.bench_function(format!("{n}_ids_1_thread"), |b| {
            b.iter(|| {
                session
                    .synthesize(black_box(&ids), voice.style_for(n), 1.0)
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);
