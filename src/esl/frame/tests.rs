use proptest::prelude::*;

use super::*;

fn decode_all(decoder: &mut FrameDecoder, buf: &mut BytesMut) -> Result<Vec<Frame>, EslError> {
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

fn decode_chunks(chunks: &[&[u8]], limit: usize) -> Result<Vec<Frame>, EslError> {
    let mut decoder = FrameDecoder::new(limit);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        frames.extend(decode_all(&mut decoder, &mut buf)?);
    }
    Ok(frames)
}

#[test]
fn reply_without_body_and_api_response_with_body_are_cut_in_order() {
    let wire = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n\
                 Content-Type: api/response\nContent-Length: 4\n\n+OK\n";
    let frames = decode_chunks(&[wire], 1024).expect("valid");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].content_type(), Some("command/reply"));
    assert_eq!(frames[0].headers.get("reply-text"), Some("+OK accepted"));
    assert_eq!(frames[0].body, None);
    assert_eq!(frames[1].body.as_deref(), Some(&b"+OK\n"[..]));
}

#[test]
fn crlf_line_endings_are_accepted() {
    let wire = b"Content-Type: api/response\r\nContent-Length: 2\r\n\r\nok";
    let frames = decode_chunks(&[wire], 1024).expect("valid");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].headers.get("Content-Type"), Some("api/response"));
    assert_eq!(frames[0].body.as_deref(), Some(&b"ok"[..]));
}

#[test]
fn header_split_at_first_colon_keeps_colons_in_value_and_empty_values() {
    let wire = b"X-Url: sip:a@b:5060\nUser-Data: \nSpaced:    v\n\n";
    let frames = decode_chunks(&[wire], 1024).expect("valid");
    let h = &frames[0].headers;
    assert_eq!(h.get("x-url"), Some("sip:a@b:5060"));
    assert_eq!(h.get("User-Data"), Some(""));
    assert_eq!(h.get("spaced"), Some("v"));
    assert_eq!(h.iter().next(), Some(("X-Url", "sip:a@b:5060")));
}

#[test]
fn duplicate_headers_are_kept_and_get_returns_the_first() {
    let wire = b"Hangup-Cause: NORMAL_CLEARING\nhangup-cause: USER_BUSY\n\n";
    let frames = decode_chunks(&[wire], 1024).expect("valid");
    let h = &frames[0].headers;
    assert_eq!(h.len(), 2);
    assert_eq!(h.get("HANGUP-CAUSE"), Some("NORMAL_CLEARING"));
    assert_eq!(
        h.get_all("Hangup-Cause").collect::<Vec<_>>(),
        ["NORMAL_CLEARING", "USER_BUSY"]
    );
}

#[test]
fn oversized_content_length_is_refused_before_reading_the_body() {
    let wire = b"Content-Type: api/response\nContent-Length: 1000000000\n\n";
    let err = decode_chunks(&[wire], 1024).expect_err("too large");
    assert!(matches!(
        err,
        EslError::FrameTooLarge {
            len: 1_000_000_000,
            limit: 1024
        }
    ));
}

#[test]
fn endless_header_block_is_refused_once_past_the_limit() {
    let line = b"X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
    let mut decoder = FrameDecoder::new(256);
    let mut buf = BytesMut::new();
    let mut result = Ok(None);
    for _ in 0..10 {
        buf.extend_from_slice(line);
        result = decoder.decode(&mut buf);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(
        result,
        Err(EslError::HeaderBlockTooLarge { limit: 256 })
    ));
}

#[test]
fn malformed_header_and_bad_content_length_are_errors() {
    assert!(matches!(
        decode_chunks(&[b"no colon here\n\n"], 1024),
        Err(EslError::MalformedHeader { .. })
    ));
    for bad in ["-1", "12a", "", "99999999999999999999999"] {
        let wire = format!("Content-Length: {bad}\n\n");
        assert!(
            matches!(
                decode_chunks(&[wire.as_bytes()], 1024),
                Err(EslError::BadContentLength { .. })
            ),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn encode_command_adds_content_length_for_a_body() {
    let wire = encode_command(
        "sendevent CUSTOM",
        &[("Event-Subclass", "kefu::x")],
        Some(b"hi"),
    )
    .expect("safe");
    assert_eq!(
        wire,
        Bytes::from_static(b"sendevent CUSTOM\nEvent-Subclass: kefu::x\nContent-Length: 2\n\nhi")
    );
    assert!(matches!(
        encode_command("api x", &[("A", "b\nc")], None),
        Err(EslError::UnsafeArgument { .. })
    ));
    assert!(matches!(
        encode_command("api x", &[("A:B", "c")], None),
        Err(EslError::UnsafeArgument { .. })
    ));
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,24}".prop_filter("not Content-Length", |n| {
        !n.eq_ignore_ascii_case("content-length")
    })
}

fn header_value() -> impl Strategy<Value = String> {
    // No CR/LF (they end the line) and no leading space (skipped after the colon).
    "([^\r\n ][^\r\n]{0,40})?"
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    (
        prop::collection::vec((header_name(), header_value()), 1..8),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(|(headers, body)| Frame {
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
            body: body.map(Bytes::from),
        })
}

fn without_content_length(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("Content-Length"))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

proptest! {
    #[test]
    fn encoded_frames_decode_back_whatever_the_split_points(
        frames in prop::collection::vec(frame_strategy(), 1..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let wire: Vec<u8> = frames.iter().flat_map(|f| encode_frame(f).to_vec()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&wire[last..p]);
            last = p;
        }
        chunks.push(&wire[last..]);
        let decoded = decode_chunks(&chunks, DEFAULT_MAX_FRAME_BYTES).expect("valid wire");
        prop_assert_eq!(decoded.len(), frames.len());
        for (got, want) in decoded.iter().zip(&frames) {
            prop_assert_eq!(without_content_length(&got.headers), without_content_length(&want.headers));
            prop_assert_eq!(&got.body, &want.body);
        }
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..6),
        limit in 1usize..512,
    ) {
        let mut decoder = FrameDecoder::new(limit);
        let mut buf = BytesMut::new();
        for chunk in &chunks {
            buf.extend_from_slice(chunk);
            while let Ok(Some(_)) = decoder.decode(&mut buf) {}
        }
    }

    #[test]
    fn decoder_never_panics_on_header_like_bytes(
        text in "([A-Za-z-]{0,6}(: ?)?[0-9a-z%\r]{0,6}\n{0,2}){0,12}",
    ) {
        let mut decoder = FrameDecoder::new(64);
        let mut buf = BytesMut::from(text.as_bytes());
        while let Ok(Some(_)) = decoder.decode(&mut buf) {}
    }
}
