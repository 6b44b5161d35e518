//! The ESL decoder on arbitrary bytes: the first byte picks how the rest is cut into reads
//! (1 to 255 bytes each), as a TCP stream may cut it anywhere. Frames are classified and
//! events translated, as the connection does. Nothing may panic; an error ends the input
//! (the connection would be dropped and re-established).

#![no_main]

use bytes::BytesMut;
use kefu::domain::NodeId;
use kefu::esl::{FrameDecoder, Incoming, TranslateStats, classify, translate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new(64 * 1024);
    let mut buf = BytesMut::new();
    let stats = TranslateStats::default();
    let node = NodeId::new("fuzz");
    for read in stream.chunks(usize::from(step.max(1))) {
        buf.extend_from_slice(read);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Ok(Incoming::Event(event)) = classify(frame) {
                        let _ = translate(&event, &node, kefu::clock::monotonic(), &stats);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
