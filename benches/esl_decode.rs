//! ESL decoding speed on the real FreeSWITCH 1.10.12 captures: cut frames, decode the event
//! payload (plain: URL-decoded headers; JSON), and translate to engine events. Throughput is
//! per frame. Run: `cargo bench --bench esl_decode`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kefu::domain::NodeId;
use kefu::esl::{
    DEFAULT_MAX_FRAME_BYTES, FrameDecoder, Incoming, TranslateStats, classify, translate,
};

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/esl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Frames in a capture, so throughput is reported per frame.
fn frame_count(bytes: &[u8]) -> u64 {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    let mut buf = BytesMut::from(bytes);
    let mut n = 0;
    while let Ok(Some(_)) = decoder.decode(&mut buf) {
        n += 1;
    }
    n
}

/// Cuts every frame and classifies it (decoding event payloads); optionally translates.
fn decode_all(bytes: &[u8], translate_too: bool, node: &NodeId, stats: &TranslateStats) -> usize {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    let mut buf = BytesMut::from(bytes);
    let now = kefu::clock::monotonic();
    let mut events = 0;
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        if let Ok(Incoming::Event(event)) = classify(frame) {
            events += 1;
            if translate_too {
                black_box(translate(&event, node, now, stats));
            }
        }
    }
    events
}

fn bench(c: &mut Criterion) {
    let node = NodeId::new("fs1");
    let stats = TranslateStats::default();
    let mut group = c.benchmark_group("esl_decode");
    for name in [
        "real-1.10.12-plain-session.bin",
        "real-1.10.12-json-session.bin",
    ] {
        let bytes = capture(name);
        group.throughput(Throughput::Elements(frame_count(&bytes)));
        let label = name
            .trim_start_matches("real-1.10.12-")
            .trim_end_matches("-session.bin");
        group.bench_function(format!("{label}/decode"), |b| {
            b.iter(|| decode_all(black_box(&bytes), false, &node, &stats))
        });
        group.bench_function(format!("{label}/decode+translate"), |b| {
            b.iter(|| decode_all(black_box(&bytes), true, &node, &stats))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
