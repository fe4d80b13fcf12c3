//! The text front end: sentence splitting, and split + G2P + chunking of medium.txt.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kokoro::text::{split_sentences, ChunkOptions, Frontend, G2p, Lang, SpellingFallback};
use kokoro_benches::corpus;

fn frontend(c: &mut Criterion) {
    let medium = corpus("medium");
    let long = corpus("long");
    let fe = Frontend::new(
        G2p::new(Lang::EnUs, Arc::new(SpellingFallback)).expect("English needs no backend"),
    );
    let mut g = c.benchmark_group("frontend");
    g.throughput(Throughput::Bytes(long.len() as u64));
    g.bench_function("split_sentences/long", |b| {
        b.iter(|| split_sentences(black_box(&long)))
    });
    g.throughput(Throughput::Bytes(medium.len() as u64));
    g.sample_size(10);
    g.bench_function("chunks/medium", |b| {
        b.iter(|| {
            fe.chunks(black_box(&medium), ChunkOptions::default())
                .count()
        })
    });
    g.bench_function("first_streaming_chunk/long", |b| {
        b.iter(|| {
            fe.chunks(black_box(&long), ChunkOptions::streaming())
                .next()
        })
    });
    g.finish();
}

criterion_group!(benches, frontend);
criterion_main!(benches);
