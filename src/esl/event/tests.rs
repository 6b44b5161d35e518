use proptest::prelude::*;

use super::*;
use crate::esl::frame::Headers;

/// switch_url_encode as the reference (§2) describes it, quirk included.
fn fs_url_encode(input: &[u8]) -> String {
    const SPECIAL: &[u8] = b" #%&+:;<=>?@[\\]^`{|}\"";
    let is_upper_hex =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b));
    let mut out = String::new();
    for (i, &b) in input.iter().enumerate() {
        let quirk = b == b'%' && is_upper_hex(input.get(i + 1)) && is_upper_hex(input.get(i + 2));
        if quirk || ((0x20..=0x7e).contains(&b) && !SPECIAL.contains(&b)) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn plain(text: &str) -> EslEvent {
    EslEvent::from_plain(&Bytes::copy_from_slice(text.as_bytes())).expect("valid plain event")
}

#[test]
fn plain_values_are_url_decoded_and_plus_stays_plus() {
    let e = plain(
        "Event-Name: DTMF\nUnique-ID: 6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00\nDTMF-Digit: %23\n\
         Caller-Caller-ID-Number: %2B15551234567\nX-Plus: a+b\nChannel-Name: sofia/external/a%40b%3A5060\n\
         X-Euro: %E2%82%AC\nX-Lower: %3a\n\n",
    );
    assert_eq!(e.name(), Some("DTMF"));
    assert_eq!(e.header("dtmf-digit"), Some("#"));
    assert_eq!(e.header("Caller-Caller-ID-Number"), Some("+15551234567"));
    assert_eq!(e.header("X-Plus"), Some("a+b"));
    assert_eq!(e.header("Channel-Name"), Some("sofia/external/a@b:5060"));
    assert_eq!(e.header("X-Euro"), Some("€"));
    assert_eq!(e.header("X-Lower"), Some(":"));
    assert_eq!(e.body(), None);
}

#[test]
fn percent_quirk_and_stray_percent_are_tolerated() {
    // `50%41` arrives unchanged (reference §2 quirk) and decodes to `50A`; a `%` without two
    // hex digits stays a `%`.
    assert_eq!(url_decode("50%41"), "50A");
    assert_eq!(url_decode("100%"), "100%");
    assert_eq!(url_decode("%zz%4"), "%zz%4");
    assert_eq!(url_decode("%FF"), "\u{FFFD}");
}

#[test]
fn plain_nested_content_length_body_is_raw() {
    let e = plain(
        "Event-Name: BACKGROUND_JOB\nJob-UUID: 9d1c3e5a-7b2f-4e60-8a14-c0ffee000001\n\
         Job-Command: originate\nContent-Length: 41\n\n+OK 2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02\n",
    );
    assert_eq!(e.job_uuid(), Some("9d1c3e5a-7b2f-4e60-8a14-c0ffee000001"));
    assert_eq!(
        e.body(),
        Some(&b"+OK 2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02\n"[..])
    );
    let body_with_percent = plain("Event-Name: X\nContent-Length: 3\n\n%41\n");
    assert_eq!(body_with_percent.body(), Some(&b"%41"[..]));
}

#[test]
fn plain_inner_content_length_past_the_end_is_an_error() {
    let err = EslEvent::from_plain(&Bytes::from_static(
        b"Event-Name: X\nContent-Length: 30\n\nshort",
    ));
    assert!(matches!(err, Err(EslError::BadContentLength { .. })));
}

#[test]
fn accessors_read_variables_timestamps_and_arrays() {
    let e = plain(
        "Event-Name: CUSTOM\nEvent-Subclass: kefu::x\nEvent-Date-Timestamp: 1715674867482913\n\
         variable_kefu_queue: sales\nvariable_DP_MATCH: ARRAY%3A%3A1000%7C%3A1001\n\n",
    );
    assert_eq!(e.subclass(), Some("kefu::x"));
    assert_eq!(
        e.timestamp(),
        Some(Timestamp::from_micros(1_715_674_867_482_913))
    );
    assert_eq!(e.variable("kefu_queue"), Some("sales"));
    assert_eq!(e.variable("KEFU_QUEUE"), Some("sales"));
    assert_eq!(e.variable("kefu"), None);
    assert_eq!(e.header_array("variable_DP_MATCH"), ["1000", "1001"]);
}

#[test]
fn json_keeps_duplicates_arrays_and_body() {
    let e = EslEvent::from_json(
        br#"{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":"NORMAL_CLEARING","Hangup-Cause":"USER_BUSY","variable_DP_MATCH":["1000","1000"],"Content-Length":"3","_body":"+OK","X-Esc":"a\"b\r\n"}"#,
    )
    .expect("valid json");
    assert_eq!(e.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    assert_eq!(e.headers().get_all("hangup-cause").count(), 2);
    assert_eq!(e.header_array("variable_DP_MATCH"), ["1000", "1000"]);
    assert_eq!(e.header("variable_DP_MATCH"), Some("ARRAY::1000|:1000"));
    assert_eq!(e.body(), Some(&b"+OK"[..]));
    assert_eq!(e.header("_body"), None);
    assert_eq!(e.header("X-Esc"), Some("a\"b\r\n"));
    assert_eq!(e.headers().iter().last(), Some(("X-Esc", "a\"b\r\n")));
}

#[test]
fn json_with_invalid_utf8_is_decoded_lossily() {
    let mut raw = br#"{"Event-Name":"CHANNEL_PARK","variable_x":"a"#.to_vec();
    raw.push(0xff);
    raw.extend_from_slice(br#"b"}"#);
    let e = EslEvent::from_json(&raw).expect("lossy fallback");
    assert_eq!(e.variable("x"), Some("a\u{FFFD}b"));
}

#[test]
fn json_that_is_not_an_event_object_is_an_error() {
    for bad in [
        &b"[1,2]"[..],
        b"{\"a\":{\"b\":1}}",
        b"{\"a\":\"b\"} trailing",
        b"{",
    ] {
        assert!(
            matches!(EslEvent::from_json(bad), Err(EslError::BadEventJson { .. })),
            "{:?} accepted",
            String::from_utf8_lossy(bad)
        );
    }
}

fn frame(headers: &[(&str, &str)], body: Option<&'static [u8]>) -> Frame {
    Frame {
        headers: headers.iter().copied().collect::<Headers>(),
        body: body.map(Bytes::from_static),
    }
}

#[test]
fn frames_are_classified_by_content_type() {
    assert_eq!(
        classify(frame(&[("Content-Type", "auth/request")], None)).expect("ok"),
        Incoming::AuthRequest
    );
    let Incoming::CommandReply(text, headers) = classify(frame(
        &[
            ("Content-Type", "command/reply"),
            ("Reply-Text", "+OK Job-UUID: x"),
            ("Job-UUID", "x"),
        ],
        None,
    ))
    .expect("ok") else {
        panic!("not a reply")
    };
    assert_eq!(text, "+OK Job-UUID: x");
    assert_eq!(headers.get("Job-UUID"), Some("x"));
    assert_eq!(
        classify(frame(&[("Content-Type", "api/response")], Some(b"+OK\n"))).expect("ok"),
        Incoming::ApiResponse(Bytes::from_static(b"+OK\n"))
    );
    assert!(matches!(
        classify(frame(
            &[
                ("Content-Type", "text/disconnect-notice"),
                ("Content-Disposition", "linger")
            ],
            Some(b"")
        )),
        Ok(Incoming::DisconnectNotice { linger: true, .. })
    ));
    assert!(matches!(
        classify(frame(
            &[("Content-Type", "text/disconnect-notice")],
            Some(b"bye\n")
        )),
        Ok(Incoming::DisconnectNotice { linger: false, .. })
    ));
    assert_eq!(
        classify(frame(
            &[("Content-Type", "text/rude-rejection")],
            Some(b"Access Denied, go away.\n")
        ))
        .expect("ok"),
        Incoming::RudeRejection
    );
    assert!(matches!(
        classify(frame(&[("Content-Type", "log/data")], Some(b"x"))),
        Ok(Incoming::Log(_))
    ));
    assert!(matches!(
        classify(frame(
            &[("Content-Type", "text/event-xml")],
            Some(b"<event/>")
        )),
        Ok(Incoming::Unsupported { .. })
    ));
    assert!(matches!(
        classify(frame(&[("Content-Type", "text/event-json")], Some(b"{\"Event-Name\":\"HEARTBEAT\"}"))),
        Ok(Incoming::Event(e)) if e.name() == Some("HEARTBEAT")
    ));
}

proptest! {
    #[test]
    fn url_decoding_inverts_freeswitch_encoding(input in prop::collection::vec(any::<u8>(), 0..64)) {
        // The quirk loses information only when a `%` is followed by two uppercase hex digits.
        let quirky = input.windows(3).any(|w| {
            w[0] == b'%' && w[1..].iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
        });
        prop_assume!(!quirky);
        let mut out = Vec::new();
        url_decode_into(fs_url_encode(&input).as_bytes(), &mut out);
        prop_assert_eq!(out, input);
    }

    #[test]
    fn plain_event_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = EslEvent::from_plain(&Bytes::from(bytes));
    }

    #[test]
    fn json_event_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = EslEvent::from_json(&bytes);
    }

    #[test]
    fn plain_headers_round_trip_through_encoding(
        pairs in prop::collection::vec(("[A-Za-z][A-Za-z0-9_-]{0,20}", "\\PC{0,30}"), 1..10),
    ) {
        let pairs: Vec<_> = pairs.into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length"))
            .collect();
        let mut text = String::new();
        for (n, v) in &pairs {
            text.push_str(&format!("{n}: {}\n", fs_url_encode(v.as_bytes())));
        }
        text.push('\n');
        let e = EslEvent::from_plain(&Bytes::from(text)).expect("valid");
        let got: Vec<_> = e.headers().iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        let quirk_free = pairs.iter().all(|(_, v)| !v.contains('%'));
        if quirk_free {
            prop_assert_eq!(got, pairs);
        } else {
            prop_assert_eq!(got.len(), pairs.len());
        }
    }
}
