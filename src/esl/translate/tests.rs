use bytes::Bytes;

use super::*;

const A: &str = "6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00";
const B: &str = "2c8e7f10-44aa-4b3b-9e21-7d5f3a6b8c02";
const APP: &str = "9d1c3e5a-7b2f-4e60-8a14-c0ffee000001";

fn event(lines: &[(&str, &str)], body: Option<&'static str>) -> EslEvent {
    let headers = lines.iter().copied().collect();
    EslEvent::new(headers, body.map(|b| Bytes::from_static(b.as_bytes())))
}

fn kind(e: &EslEvent) -> Option<EventKind> {
    let stats = TranslateStats::default();
    translate(e, &NodeId::new("fs1"), crate::clock::monotonic(), &stats).map(|e| e.kind)
}

fn id(text: &str) -> CallId {
    CallId::parse(text).expect("uuid")
}

#[test]
fn digits_are_taken_only_when_read_result_is_success() {
    let base = [
        ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
        ("Unique-ID", A),
        ("Application", "play_and_get_digits"),
        ("Application-UUID", APP),
        ("Application-Response", "_none_"),
        ("variable_kefu_digits", "42"),
    ];
    let mut ok = base.to_vec();
    ok.push(("variable_read_result", "success"));
    assert_eq!(
        kind(&event(&ok, None)),
        Some(EventKind::ExecuteCompleted {
            channel: id(A),
            application: "play_and_get_digits".into(),
            application_uuid: Some(uuid::Uuid::parse_str(APP).expect("uuid")),
            response: Some("_none_".into()),
            digits: Some("42".into()),
            hanging_up: false,
        })
    );
    // The caller hung up during the prompt: the app ends with the channel going down.
    let mut hung_up = base.to_vec();
    hung_up.push(("Answer-State", "hangup"));
    assert!(matches!(
        kind(&event(&hung_up, None)),
        Some(EventKind::ExecuteCompleted {
            hanging_up: true,
            ..
        })
    ));
    let mut timeout = base.to_vec();
    timeout.push(("variable_read_result", "timeout"));
    assert!(matches!(
        kind(&event(&timeout, None)),
        Some(EventKind::ExecuteCompleted { digits: None, .. })
    ));
    assert!(matches!(
        kind(&event(&base, None)),
        Some(EventKind::ExecuteCompleted { digits: None, .. })
    ));
    let no_var: Vec<_> = ok
        .iter()
        .copied()
        .filter(|(n, _)| *n != "variable_kefu_digits")
        .collect();
    assert!(matches!(
        kind(&event(&no_var, None)),
        Some(EventKind::ExecuteCompleted { digits: None, .. })
    ));
}

#[test]
fn dtmf_digit_is_url_decoded_from_plain() {
    let e = EslEvent::from_plain(&Bytes::from(format!(
        "Event-Name: DTMF\nUnique-ID: {A}\nDTMF-Digit: %23\nDTMF-Duration: 2000\n\n"
    )))
    .expect("valid");
    assert_eq!(
        kind(&e),
        Some(EventKind::Dtmf {
            channel: id(A),
            digit: '#'
        })
    );
}

#[test]
fn bridge_unbridge_job_and_heartbeat_are_translated() {
    assert_eq!(
        kind(&event(
            &[
                ("Event-Name", "CHANNEL_BRIDGE"),
                ("Unique-ID", A),
                ("Bridge-A-Unique-ID", A),
                ("Bridge-B-Unique-ID", B)
            ],
            None
        )),
        Some(EventKind::Bridged { a: id(A), b: id(B) })
    );
    assert_eq!(
        kind(&event(
            &[
                ("Event-Name", "CHANNEL_UNBRIDGE"),
                ("Unique-ID", A),
                ("Other-Leg-Unique-ID", B)
            ],
            None
        )),
        Some(EventKind::Unbridged {
            channel: id(A),
            other: Some(id(B))
        })
    );
    assert_eq!(
        kind(&event(
            &[("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", APP)],
            Some("-ERR NO_ANSWER\n")
        )),
        Some(EventKind::JobCompleted {
            job: uuid::Uuid::parse_str(APP).expect("uuid"),
            body: "-ERR NO_ANSWER\n".into()
        })
    );
    assert_eq!(
        kind(&event(&[("Event-Name", "HEARTBEAT")], None)),
        Some(EventKind::Heartbeat)
    );
}

#[test]
fn hangup_takes_first_cause_direction_and_kefu_vars() {
    let e = event(
        &[
            ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
            ("Event-Date-Timestamp", "1715674867482913"),
            ("Hangup-Cause", "ORIGINATOR_CANCEL"),
            ("Unique-ID", B),
            ("Call-Direction", "outbound"),
            ("Hangup-Cause", "NORMAL_CLEARING"),
            ("variable_kefu_call", A),
            ("variable_kefu_queue", "sales"),
            ("variable_kefu_enqueued_at", "1715674860000000"),
            ("variable_kefu_agent", "1001"),
            ("variable_sip_hangup_disposition", "send_cancel"),
        ],
        None,
    );
    let stats = TranslateStats::default();
    let out = translate(&e, &NodeId::new("fs1"), crate::clock::monotonic(), &stats).expect("used");
    assert_eq!(out.at, Timestamp::from_micros(1_715_674_867_482_913));
    assert_eq!(out.node, NodeId::new("fs1"));
    assert_eq!(
        out.kind,
        EventKind::HungUp {
            channel: id(B),
            direction: Direction::Outbound,
            cause: "ORIGINATOR_CANCEL".into(),
            by: HungUpBy::Switch,
            vars: KefuVars {
                call: Some(id(A)),
                queue: Some("sales".into()),
                enqueued_at: Some(Timestamp::from_micros(1_715_674_860_000_000)),
                agent: Some("1001".into()),
            },
        }
    );
}

#[test]
fn unused_and_incomplete_events_are_counted_and_dropped() {
    let stats = TranslateStats::default();
    let node = NodeId::new("fs1");
    let state = event(&[("Event-Name", "CHANNEL_STATE"), ("Unique-ID", A)], None);
    assert!(translate(&state, &node, crate::clock::monotonic(), &stats).is_none());
    let no_id = event(
        &[("Event-Name", "CHANNEL_PARK"), ("Unique-ID", "junk")],
        None,
    );
    assert!(translate(&no_id, &node, crate::clock::monotonic(), &stats).is_none());
    assert_eq!(stats.ignored.load(Ordering::Relaxed), 1);
    assert_eq!(stats.incomplete.load(Ordering::Relaxed), 1);
}

#[test]
fn undef_kefu_variables_count_as_absent() {
    let e = event(
        &[
            ("Event-Name", "CHANNEL_ANSWER"),
            ("Unique-ID", A),
            ("variable_kefu_queue", "_undef_"),
        ],
        None,
    );
    assert_eq!(
        kind(&e),
        Some(EventKind::ChannelAnswered {
            channel: id(A),
            vars: KefuVars::default()
        })
    );
}

#[test]
fn channel_listing_with_and_without_rows() {
    assert_eq!(
        live_channels(b"{\"row_count\": 0}\n").expect("valid"),
        vec![]
    );
    let listing = format!(
        r#"{{"row_count":2,"rows":[{{"uuid":"{A}","direction":"inbound","created_epoch":"1","name":"sofia/x","state":"CS_EXECUTE","cid_num":"+1555","dest":"8005550100","application":"park","callstate":"ACTIVE"}},{{"uuid":"not-a-uuid","direction":"outbound"}}]}}"#
    );
    assert_eq!(
        live_channels(listing.as_bytes()).expect("valid"),
        vec![LiveChannel {
            channel: id(A),
            direction: Direction::Inbound,
            caller_number: "+1555".into(),
            destination: "8005550100".into(),
            call_state: "ACTIVE".into(),
            application: "park".into(),
        }]
    );
    assert!(matches!(
        live_channels(b"-ERR no reply\n"),
        Err(EslError::BadChannelList { .. })
    ));
}
