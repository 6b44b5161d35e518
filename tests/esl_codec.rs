//! The decoder against real FreeSWITCH 1.10.12 byte streams (`tests/fixtures/esl/README.md`):
//! whole, cut at every byte offset, and in random chunkings; then the real events translated.

use std::collections::BTreeMap;

use bytes::BytesMut;
use kefu::call::{Direction, EventKind, HungUpBy};
use kefu::domain::{CallId, NodeId, Timestamp};
use kefu::esl::{
    DEFAULT_MAX_FRAME_BYTES, EslEvent, Frame, FrameDecoder, Incoming, TranslateStats, classify,
    translate,
};
use proptest::prelude::*;

const JSON: &[u8] = include_bytes!("fixtures/esl/real-1.10.12-json-session.bin");
const PLAIN: &[u8] = include_bytes!("fixtures/esl/real-1.10.12-plain-session.bin");

fn decode(chunks: &[&[u8]]) -> Vec<Frame> {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).expect("real stream decodes") {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frames
}

/// "content-type" or "content-type EVENT_NAME" -> count.
fn census(frames: &[Frame]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for frame in frames {
        let key = match classify(frame.clone()).expect("classifies") {
            Incoming::Event(e) => format!("event {}", e.name().unwrap_or("?")),
            Incoming::AuthRequest => "auth/request".into(),
            Incoming::CommandReply(..) => "command/reply".into(),
            Incoming::ApiResponse(_) => "api/response".into(),
            Incoming::DisconnectNotice { linger: false, .. } => "disconnect".into(),
            other => format!("{other:?}"),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn expected(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn json_capture_has_the_23_frames_the_readme_lists() {
    let frames = decode(&[JSON]);
    assert_eq!(frames.len(), 23);
    assert_eq!(
        census(&frames),
        expected(&[
            ("auth/request", 1),
            ("command/reply", 4),
            ("api/response", 1),
            ("event BACKGROUND_JOB", 1),
            ("event CHANNEL_ANSWER", 5),
            ("event CHANNEL_PARK", 5),
            ("event CHANNEL_HANGUP_COMPLETE", 5),
            ("disconnect", 1),
        ])
    );
    assert_eq!(frames[0].content_type(), Some("auth/request"));
    assert_eq!(frames[22].content_type(), Some("text/disconnect-notice"));
    // command/reply frames carry no Content-Length.
    assert!(
        frames
            .iter()
            .filter(|f| f.content_type() == Some("command/reply"))
            .all(|f| f.body.is_none())
    );
}

#[test]
fn plain_capture_has_56_frames() {
    let frames = decode(&[PLAIN]);
    assert_eq!(frames.len(), 56);
    assert_eq!(
        census(&frames),
        expected(&[
            ("auth/request", 1),
            ("command/reply", 4),
            ("api/response", 1),
            ("event API", 2),
            ("event BACKGROUND_JOB", 1),
            ("event CHANNEL_ANSWER", 2),
            ("event CHANNEL_CALLSTATE", 6),
            ("event CHANNEL_CREATE", 2),
            ("event CHANNEL_DESTROY", 2),
            ("event CHANNEL_EXECUTE", 4),
            ("event CHANNEL_EXECUTE_COMPLETE", 4),
            ("event CHANNEL_HANGUP", 2),
            ("event CHANNEL_HANGUP_COMPLETE", 2),
            ("event CHANNEL_PARK", 2),
            ("event CHANNEL_STATE", 14),
            ("event CHANNEL_UNPARK", 2),
            ("event CODEC", 4),
            ("disconnect", 1),
        ])
    );
}

#[test]
fn both_captures_decode_identically_when_cut_at_every_byte_offset() {
    for capture in [JSON, PLAIN] {
        let whole = decode(&[capture]);
        for cut in 0..=capture.len() {
            let (a, b) = capture.split_at(cut);
            let frames = decode(&[a, b]);
            assert!(frames == whole, "cut at {cut} differs");
        }
    }
}

#[test]
fn json_background_job_body_is_the_status_output() {
    let frames = decode(&[JSON]);
    let job = frames
        .iter()
        .filter_map(|f| match classify(f.clone()) {
            Ok(Incoming::Event(e)) if e.name() == Some("BACKGROUND_JOB") => Some(e),
            _ => None,
        })
        .next()
        .expect("one job");
    assert_eq!(job.job_uuid(), Some("a09787e9-b675-4669-bea5-4204ae0bb4fb"));
    assert!(job.body_text().expect("body").starts_with("UP 0 years"));
}

fn events(capture: &[u8], name: &str) -> Vec<EslEvent> {
    decode(&[capture])
        .into_iter()
        .filter_map(|f| match classify(f) {
            Ok(Incoming::Event(e)) if e.name() == Some(name) => Some(e),
            _ => None,
        })
        .collect()
}

fn translated(event: &EslEvent) -> kefu::call::Event {
    let stats = TranslateStats::default();
    translate(event, &NodeId::new("fs1"), kefu::clock::monotonic(), &stats)
        .expect("kefu uses this event")
}

#[test]
fn real_plain_channel_park_translates_to_channel_parked() {
    let park = &events(PLAIN, "CHANNEL_PARK")[0];
    // URL-decoded on the way in.
    assert_eq!(
        park.header("Channel-Name"),
        Some("sofia/internal/sipp@127.0.0.1:5061")
    );
    assert_eq!(park.header_array("variable_DP_MATCH"), ["1000", "1000"]);
    let event = translated(park);
    assert_eq!(event.at, Timestamp::from_micros(1_795_328_088_864_877));
    let EventKind::ChannelParked {
        channel,
        direction,
        caller_number,
        caller_name,
        destination,
        vars,
    } = event.kind
    else {
        panic!("not parked: {:?}", event.kind)
    };
    assert_eq!(
        channel,
        CallId::parse("7d775ecf-5561-46a8-8711-dfa83adcf13d").expect("uuid")
    );
    assert_eq!(direction, Direction::Inbound);
    assert_eq!(caller_number, "sipp");
    assert_eq!(caller_name, "sipp");
    assert_eq!(destination, "1000");
    assert_eq!(vars, Default::default());
}

#[test]
fn real_json_events_translate_with_first_hangup_cause() {
    let parks = events(JSON, "CHANNEL_PARK");
    assert_eq!(parks.len(), 5);
    for park in &parks {
        assert!(matches!(
            translated(park).kind,
            EventKind::ChannelParked { direction: Direction::Inbound, ref destination, .. } if destination == "1000"
        ));
        assert_eq!(park.header_array("variable_DP_MATCH"), ["1000", "1000"]);
    }
    let hangups = events(JSON, "CHANNEL_HANGUP_COMPLETE");
    assert_eq!(hangups.len(), 5);
    for hangup in &hangups {
        assert_eq!(hangup.headers().get_all("Hangup-Cause").count(), 2);
        let event = translated(hangup);
        let EventKind::HungUp {
            channel,
            direction,
            cause,
            by,
            ..
        } = event.kind
        else {
            panic!("not hung up")
        };
        assert_eq!(Some(channel.to_string().as_str()), hangup.unique_id());
        assert_eq!(direction, Direction::Inbound);
        assert_eq!(cause, "NORMAL_CLEARING");
        // sipp sent the BYE: `sip_hangup_disposition` is `recv_bye`.
        assert_eq!(by, HungUpBy::Party);
        assert_eq!(event.at, hangup.timestamp().expect("timestamp"));
    }
    let plain_hangup = &events(PLAIN, "CHANNEL_HANGUP_COMPLETE")[0];
    assert!(matches!(
        translated(plain_hangup).kind,
        EventKind::HungUp { ref cause, .. } if cause == "NORMAL_CLEARING"
    ));
}

#[test]
fn plain_and_json_parks_agree_on_the_headers_kefu_reads() {
    for park in events(PLAIN, "CHANNEL_PARK")
        .iter()
        .chain(&events(JSON, "CHANNEL_PARK"))
    {
        assert_eq!(park.variable("current_application"), Some("park"));
        assert!(park.timestamp().is_some());
        assert_eq!(park.header("Call-Direction"), Some("inbound"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_chunkings_decode_like_the_whole_stream(
        json in any::<bool>(),
        sizes in prop::collection::vec(1usize..4096, 1..200),
    ) {
        let capture = if json { JSON } else { PLAIN };
        let mut chunks = Vec::new();
        let mut rest = capture;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            let (a, b) = rest.split_at(n);
            chunks.push(a);
            rest = b;
            i += 1;
        }
        let frames = decode(&chunks);
        prop_assert!(frames == decode(&[capture]));
    }
}

/// The fuzz target's seed corpus (`fuzz/corpus/esl_decoder`): each seed is a step byte and
/// one real frame, which decodes whole at that step.
#[test]
fn the_fuzz_seed_corpus_holds_real_frames() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/esl_decoder");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus folder").flatten() {
        let data = std::fs::read(entry.path()).expect("seed");
        let (&step, stream) = data.split_first().expect("not empty");
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        let mut buf = BytesMut::new();
        let mut frames = 0;
        for read in stream.chunks(usize::from(step.max(1))) {
            buf.extend_from_slice(read);
            while let Some(frame) = decoder.decode(&mut buf).expect("a real frame decodes") {
                classify(frame).expect("and classifies");
                frames += 1;
            }
        }
        assert_eq!((frames, buf.len()), (1, 0), "{}", entry.path().display());
        seeds += 1;
    }
    assert!(seeds >= 20, "{seeds} seeds");
}
