//! The interpreter on the shipped flows and on small flows written here; the
//! `callback_offer` node in `callback`, text prompts in `text`, prompt sets in `prompts`.

mod callback;
mod prompts;
mod text;

use std::sync::Arc;

use chrono::TimeZone;
use proptest::prelude::*;

use crate::config::Config;
use crate::domain::{QueueId, TierId, Timestamp};
use crate::ivr::{
    AppResult, CallContext, CustomerInfo, Flow, IvrRun, Known, LookupKey, Step, parse_flow,
};

fn known() -> Known {
    let mut known = Known::from_config(&Config::defaults().expect("defaults"));
    known.flows = ["main", "after_hours"].map(String::from).into();
    known
}

fn flow(name: &str, text: &str) -> Arc<Flow> {
    let parsed = parse_flow(name, name, text, &known());
    Arc::new(parsed.unwrap_or_else(|e| panic!("{name}: {e:?}")))
}

fn main_flow() -> Arc<Flow> {
    flow("main", include_str!("../../../ivr_flows/main.toml"))
}

fn after_hours_flow() -> Arc<Flow> {
    flow(
        "after_hours",
        include_str!("../../../ivr_flows/after_hours.toml"),
    )
}

/// UTC wall time as a Timestamp.
fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
    let t = chrono::Utc
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time");
    Timestamp::from_micros(t.timestamp_micros())
}

/// Friday 2026-12-04 12:00 in Shanghai: office open.
fn office_open() -> Timestamp {
    utc(2026, 12, 4, 4, 0)
}

/// Sunday 2026-12-06 12:00 in Shanghai: office closed.
fn sunday() -> Timestamp {
    utc(2026, 12, 6, 4, 0)
}

/// Live figures a test sets: every queue has this estimated wait and these agents.
#[derive(Debug)]
struct Figures {
    wait: Option<std::time::Duration>,
    serving: u32,
}

impl crate::ivr::LiveQueues for Figures {
    fn estimated_wait(&self, _: &QueueId) -> Option<std::time::Duration> {
        self.wait
    }

    fn agents_serving(&self, _: &QueueId) -> u32 {
        self.serving
    }
}

/// Three agents, the wait not known yet.
const QUIET: Figures = Figures {
    wait: None,
    serving: 3,
};

fn ctx(tier: &TierId) -> CallContext<'_> {
    call("+15551234567", tier, &QUIET)
}

/// A call from `number` while `figures` hold.
fn call<'a>(number: &'a str, tier: &'a TierId, figures: &'a Figures) -> CallContext<'a> {
    CallContext {
        caller_number: number,
        tier,
        queues: figures,
    }
}

/// Reports `answers` one by one until the run hangs up (or they run out); the last step.
fn answer_until_hangup(
    run: &mut IvrRun,
    c: &CallContext,
    answers: impl IntoIterator<Item = AppResult>,
) -> Step {
    let mut last = Step::Wait;
    for answer in answers {
        last = run.on_app_done(answer, c, office_open());
        if matches!(last, Step::Hangup { .. }) {
            break;
        }
    }
    last
}

fn digits(d: &str) -> AppResult {
    AppResult::Digits(d.into())
}

fn prompt_of(step: &Step) -> &str {
    match step {
        Step::Execute { app, arg } if app == "play_and_get_digits" => {
            arg.split(' ').nth(5).expect("prompt")
        }
        Step::Execute { arg, .. } => arg,
        other => panic!("not an execute: {other:?}"),
    }
}

#[test]
fn a_known_platinum_caller_reaches_the_queue_they_choose() {
    let (standard, platinum) = (TierId::new("standard"), TierId::new("platinum"));
    let now = sunday(); // platinum is served out of hours too
    let (mut run, step) = IvrRun::start(main_flow(), &ctx(&standard), now);
    assert_eq!(
        step,
        Step::Execute {
            app: "playback".into(),
            arg: "kefu/welcome.wav".into()
        }
    );
    let step = run.on_app_done(AppResult::Done, &ctx(&standard), now);
    assert_eq!(
        step,
        Step::Execute {
            app: "play_and_get_digits".into(),
            arg: "1 1 2 5000 # kefu/choose_language.wav ivr/ivr-that_was_an_invalid_entry.wav kefu_digits ^[12]$ 3000".into(),
        }
    );
    let step = run.on_app_done(digits("2"), &ctx(&standard), now);
    assert_eq!(
        step,
        Step::LookupCustomer {
            by: LookupKey::CallerNumber
        }
    );
    let customer = CustomerInfo {
        tier: platinum.clone(),
    };
    let step = run.on_customer(Some(customer), &ctx(&platinum), now);
    assert_eq!(prompt_of(&step), "kefu/en/main_menu.wav");
    let step = run.on_app_done(digits("1"), &ctx(&platinum), now);
    assert_eq!(
        step,
        Step::Enqueue {
            queue: QueueId::new("general"),
            priority_bonus: 0,
            extra_skills: vec![],
            reason: Some("inquiry".into()),
        }
    );
    let path: Vec<(&str, Option<&str>)> = run
        .path()
        .iter()
        .map(|p| (p.node.as_str(), p.digits.as_deref()))
        .collect();
    assert_eq!(
        path,
        [
            ("greeting", None),
            ("language", Some("2")),
            ("english", None),
            ("identify", None),
            ("hours", None),
            ("main_menu", Some("1")),
            ("offer_inquiry", None), // no call back offered: the wait is not known
            ("inquiry", None),
        ]
    );
}

#[test]
fn an_unknown_caller_types_an_account_number_in_chinese() {
    let standard = TierId::new("standard");
    let c = ctx(&standard);
    let now = office_open();
    let (mut run, _) = IvrRun::start(main_flow(), &c, now);
    run.on_app_done(AppResult::Done, &c, now);
    let step = run.on_app_done(digits("1"), &c, now);
    assert_eq!(
        step,
        Step::Execute {
            app: "set".into(),
            arg: "sound_prefix=${sounds_dir}/zh/cn/sinmei".into()
        }
    );
    let step = run.on_app_done(AppResult::Done, &c, now);
    assert_eq!(
        step,
        Step::LookupCustomer {
            by: LookupKey::CallerNumber
        }
    );
    let step = run.on_customer(None, &c, now);
    assert_eq!(
        prompt_of(&step),
        "kefu/zh/enter_account_number.wav",
        "the language variable"
    );
    assert!(prompt_of(&step).ends_with(".wav"));
    let step = run.on_app_done(digits("100200"), &c, now);
    assert_eq!(
        step,
        Step::LookupCustomer {
            by: LookupKey::Account("100200".into())
        }
    );
    let step = run.on_customer(None, &c, now);
    assert_eq!(prompt_of(&step), "kefu/zh/main_menu.wav");
    let step = run.on_app_done(digits("2"), &c, now);
    assert!(
        matches!(&step, Step::Enqueue { queue, priority_bonus: 10, .. } if queue.as_str() == "complaints"),
        "{step:?}"
    );
}

#[test]
fn after_hours_a_standard_caller_goes_on_in_the_after_hours_flow() {
    let standard = TierId::new("standard");
    let c = ctx(&standard);
    let now = sunday();
    let (mut run, _) = IvrRun::start(main_flow(), &c, now);
    run.on_app_done(AppResult::Done, &c, now);
    run.on_app_done(digits("2"), &c, now);
    let step = run.on_customer(
        Some(CustomerInfo {
            tier: standard.clone(),
        }),
        &c,
        now,
    );
    assert_eq!(
        step,
        Step::StartFlow {
            flow: "after_hours".into()
        }
    );
    let step = run.continue_in(after_hours_flow(), &c, now);
    assert_eq!(
        prompt_of(&step),
        "file_string://kefu/en/office_closed.wav!kefu/en/office_hours.wav"
    );
    assert_eq!(run.flow_name(), "after_hours");
    run.on_app_done(AppResult::Done, &c, now);
    let step = run.on_app_done(digits("2"), &c, now);
    assert_eq!(prompt_of(&step), "ivr/ivr-thank_you_for_calling.wav");
    let step = run.on_app_done(AppResult::Done, &c, now);
    assert_eq!(
        step,
        Step::Hangup {
            cause: "NORMAL_CLEARING".into()
        }
    );
}

#[test]
fn a_caller_who_presses_nothing_ends_with_the_operator() {
    let standard = TierId::new("standard");
    let c = ctx(&standard);
    let now = office_open();
    let (mut run, _) = IvrRun::start(main_flow(), &c, now);
    run.on_app_done(AppResult::Done, &c, now);
    run.on_app_done(AppResult::NoInput, &c, now); // language: English by default
    run.on_customer(None, &c, now);
    run.on_app_done(AppResult::NoInput, &c, now); // no account number
    let step = run.on_app_done(AppResult::NoInput, &c, now); // main menu
    assert!(
        matches!(&step, Step::Enqueue { reason: Some(r), .. } if r == "operator"),
        "{step:?}"
    );
}

#[test]
fn a_digit_the_menu_does_not_offer_takes_the_fail_path() {
    let standard = TierId::new("standard");
    let c = ctx(&standard);
    let now = office_open();
    let (mut run, _) = IvrRun::start(main_flow(), &c, now);
    run.on_app_done(AppResult::Done, &c, now);
    let step = run.on_app_done(digits("9"), &c, now);
    assert_eq!(
        step,
        Step::LookupCustomer {
            by: LookupKey::CallerNumber
        },
        "language on_fail = english"
    );
}

#[test]
fn a_caller_pressing_wrong_keys_forever_is_cut() {
    let looping = flow(
        "looping",
        r#"
start = "menu"
[nodes.menu]
kind = "menu"
prompt = "kefu/menu.wav"
options = { "1" = "done" }
on_fail = "menu"
[nodes.done]
kind = "hangup"
"#,
    );
    let standard = TierId::new("standard");
    let c = ctx(&standard);
    let (mut run, _) = IvrRun::start(looping, &c, office_open());
    let answers = std::iter::repeat_n(AppResult::NoInput, 1000);
    let last = answer_until_hangup(&mut run, &c, answers);
    assert_eq!(
        last,
        Step::Hangup {
            cause: "RECOVERY_ON_TIMER_EXPIRE".into()
        }
    );
}

fn survey_flow() -> Arc<Flow> {
    flow("survey", include_str!("../../../ivr_flows/survey.toml"))
}

#[test]
fn the_survey_asks_in_the_callers_language_and_keeps_a_score_of_1_to_5() {
    let tier = TierId::new("standard");
    let now = office_open();
    let chinese = [("lang".to_owned(), "zh".to_owned())].into();
    let (mut run, step) = IvrRun::start_with(survey_flow(), chinese, &ctx(&tier), now);
    assert_eq!(
        step,
        Step::Execute {
            app: "play_and_get_digits".into(),
            arg: "1 1 2 5000 # kefu/zh/survey_question.wav kefu/zh/survey_invalid.wav kefu_digits ^[1-5]$ 3000".into(),
        }
    );
    let step = run.on_app_done(digits("4"), &ctx(&tier), now);
    assert_eq!(prompt_of(&step), "ivr/ivr-thank_you_for_calling.wav");
    assert_eq!(run.survey_score(), Some(4));
    let step = run.on_app_done(AppResult::Done, &ctx(&tier), now);
    assert!(matches!(step, Step::Hangup { .. }), "{step:?}");
}

#[test]
fn a_survey_without_an_answer_or_with_a_bad_one_has_no_score() {
    let tier = TierId::new("standard");
    for result in [AppResult::NoInput, digits("9"), digits("45"), digits("x")] {
        let (mut run, _) = IvrRun::start(survey_flow(), &ctx(&tier), office_open());
        let step = run.on_app_done(result.clone(), &ctx(&tier), office_open());
        assert_eq!(prompt_of(&step), "ivr/ivr-thank_you_for_calling.wav");
        assert_eq!(run.survey_score(), None, "{result:?}");
    }
}

/// Callers facing a long wait, or nobody to answer, hear a message before they queue.
const BUSY_FLOW: &str = r#"
start = "check"

[nodes.check]
kind = "branch"
cases = [
    { queue = "general", agents_below = 1, next = "nobody" },
    { queue = "general", wait_above = "2m", next = "long_wait" },
]
otherwise = "wait"

[nodes.nobody]
kind = "hangup"

[nodes.long_wait]
kind = "play"
prompt = "kefu/en/long_wait.wav"
next = "wait"

[nodes.wait]
kind = "queue"
queue = "general"
"#;

#[test]
fn branches_read_the_queues_live_figures() {
    let tier = TierId::new("standard");
    let first_step = |figures: &Figures| {
        let ctx = CallContext {
            caller_number: "+15551234567",
            tier: &tier,
            queues: figures,
        };
        IvrRun::start(flow("busy", BUSY_FLOW), &ctx, office_open()).1
    };
    let minutes = |m: u64| Some(std::time::Duration::from_secs(60 * m));
    let nobody = first_step(&Figures {
        wait: minutes(9),
        serving: 0,
    });
    assert!(matches!(nobody, Step::Hangup { .. }), "{nobody:?}");
    let long = first_step(&Figures {
        wait: minutes(3),
        serving: 4,
    });
    assert_eq!(prompt_of(&long), "kefu/en/long_wait.wav");
    for figures in [
        Figures {
            wait: minutes(2),
            serving: 4,
        },
        QUIET, // no estimate yet: never "above"
    ] {
        let step = first_step(&figures);
        assert!(
            matches!(step, Step::Enqueue { .. }),
            "{figures:?}: {step:?}"
        );
    }
}

#[test]
fn business_hours_follow_the_flows_time_zone() {
    let hours = main_flow();
    let office = &hours.hours["office"];
    // Shanghai is UTC+8: Monday 08:00 local is Monday 00:00 UTC.
    assert!(
        !office.is_open(utc(2026, 12, 6, 23, 59)),
        "Mon 07:59 local: closed"
    );
    assert!(
        office.is_open(utc(2026, 12, 7, 0, 0)),
        "Mon 08:00 local: open"
    );
    assert!(
        office.is_open(utc(2026, 12, 7, 13, 59)),
        "Mon 21:59 local: open"
    );
    assert!(
        !office.is_open(utc(2026, 12, 7, 14, 0)),
        "Mon 22:00 local: closed"
    );
    assert!(
        !office.is_open(utc(2026, 12, 31, 20, 0)),
        "Jan 1 04:00 local, a holiday: closed"
    );
    assert!(
        !office.is_open(utc(2027, 1, 1, 4, 0)),
        "Jan 1 noon local, a holiday: closed"
    );
}

#[test]
fn a_report_the_current_node_did_not_ask_for_changes_nothing() {
    let standard = TierId::new("standard");
    let c = ctx(&standard);
    let (mut run, _) = IvrRun::start(main_flow(), &c, office_open());
    run.on_app_done(AppResult::Done, &c, office_open());
    run.on_app_done(digits("2"), &c, office_open()); // now waiting for the lookup
    assert_eq!(
        run.on_app_done(AppResult::Done, &c, office_open()),
        Step::Wait
    );
    assert_eq!(run.path().len(), 4);
}

#[derive(Clone, Debug)]
enum Report {
    App(AppResult),
    Customer(Option<&'static str>),
}

fn report() -> impl Strategy<Value = Report> {
    prop_oneof![
        Just(Report::App(AppResult::Done)),
        Just(Report::App(AppResult::NoInput)),
        "[0-9*#]{1,7}".prop_map(|d| Report::App(AppResult::Digits(d))),
        // The keys that go deeper, and numbers to call back.
        Just(Report::App(AppResult::Digits("1".into()))),
        "[0-9]{6,15}".prop_map(|d| Report::App(AppResult::Digits(d))),
        Just(Report::Customer(None)),
        Just(Report::Customer(Some("platinum"))),
        Just(Report::Customer(Some("gold"))),
    ]
}

proptest! {
    /// Whatever FreeSWITCH and the database report, in any order, a run through the shipped
    /// flows ends in a queue, a call back, a transfer or a hang-up, without panicking, with
    /// the wait unknown or long enough for the call-back offer.
    #[test]
    fn any_reports_through_main_end_in_a_final_step(
        reports in prop::collection::vec(report(), 0..60),
        hour in 0u32..24,
        long_wait in any::<bool>(),
    ) {
        let standard = TierId::new("standard");
        let long = Figures { wait: Some(std::time::Duration::from_secs(900)), serving: 1 };
        let c = CallContext {
            queues: if long_wait { &long } else { &QUIET },
            ..ctx(&standard)
        };
        let now = utc(2026, 12, 4, hour, 0);
        let (mut run, mut step) = IvrRun::start(main_flow(), &c, now);
        for r in reports {
            if matches!(
                step,
                Step::Enqueue { .. } | Step::Callback { .. } | Step::Transfer { .. } | Step::Hangup { .. }
            ) {
                break;
            }
            if step == (Step::StartFlow { flow: "after_hours".into() }) {
                step = run.continue_in(after_hours_flow(), &c, now);
                continue;
            }
            let next = match r {
                Report::App(result) => run.on_app_done(result, &c, now),
                Report::Customer(tier) => run.on_customer(tier.map(|t| CustomerInfo { tier: TierId::new(t) }), &c, now),
            };
            if next != Step::Wait {
                step = next;
            }
        }
        prop_assert!(run.path().len() <= 200);
        if let Step::Execute { arg, .. } = &step {
            prop_assert!(!arg.contains("${lang}"), "variables expanded: {}", arg);
        }
    }
}
