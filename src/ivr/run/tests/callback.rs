//! The `callback_offer` node: offered only when the wait is long, every question answered
//! or not, and the call back it asks the engine for.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Figures, QUIET, answer_until_hangup, call, digits, flow, main_flow, office_open, prompt_of,
};
use crate::domain::{CallbackNumber, QueueId, Skill, TierId};
use crate::ivr::{AppResult, CallContext, Flow, IvrRun, Step};

/// A caller offered a call back before a queue with a bonus, a skill and a reason.
const OFFER_FLOW: &str = r#"
start = "offer"
vars = { lang = "zh" }

[nodes.offer]
kind = "callback_offer"
next = "billing"
wait_above = "3m"
prompt = "kefu/${lang}/callback_offer.wav"
number_prompt = "kefu/${lang}/callback_number.wav"
confirm_prompt = "kefu/${lang}/callback_confirm.wav"
confirm_keys_prompt = "kefu/${lang}/callback_confirm_keys.wav"
goodbye_prompt = "kefu/${lang}/callback_goodbye.wav"

[nodes.billing]
kind = "queue"
queue = "general"
priority_bonus = 5
skills = ["mandarin"]
reason = "billing"
"#;

/// The same with every optional field left out.
const PLAIN_FLOW: &str = r#"
start = "offer"

[nodes.offer]
kind = "callback_offer"
next = "wait"
wait_above = "3m"

[nodes.wait]
kind = "queue"
queue = "general"
"#;

fn offer_flow() -> Arc<Flow> {
    flow("offer", OFFER_FLOW)
}

/// Ten minutes' wait in every queue, three agents.
const LONG: Figures = Figures {
    wait: Some(Duration::from_secs(600)),
    serving: 3,
};

fn digits_step(arg: &str) -> Step {
    Step::Execute {
        app: "play_and_get_digits".into(),
        arg: arg.into(),
    }
}

fn path(run: &IvrRun) -> Vec<(&str, Option<&str>)> {
    run.path()
        .iter()
        .map(|p| (p.node.as_str(), p.digits.as_deref()))
        .collect()
}

fn waits_in_billing(step: &Step) -> bool {
    matches!(step, Step::Enqueue { queue, reason: Some(r), .. } if queue.as_str() == "general" && r == "billing")
}

#[test]
fn an_unknown_or_short_wait_goes_straight_to_the_queue() {
    let tier = TierId::new("standard");
    let three_minutes = Figures {
        wait: Some(Duration::from_secs(180)),
        serving: 3,
    };
    for figures in [QUIET, three_minutes] {
        let c = call("+15551234567", &tier, &figures);
        let (run, step) = IvrRun::start(offer_flow(), &c, office_open());
        assert!(waits_in_billing(&step), "{figures:?}: {step:?}");
        assert_eq!(path(&run), [("offer", None), ("billing", None)]);
    }
}

#[test]
fn a_caller_is_called_back_on_the_number_they_call_from() {
    let tier = TierId::new("standard");
    let c = call("+8613800138000", &tier, &LONG);
    let now = office_open();
    let (mut run, step) = IvrRun::start(offer_flow(), &c, now);
    assert_eq!(
        step,
        digits_step(
            "1 1 3 5000 # kefu/zh/callback_offer.wav ivr/ivr-that_was_an_invalid_entry.wav kefu_digits ^[12]$ 3000"
        )
    );
    let step = run.on_app_done(digits("1"), &c, now);
    assert_eq!(
        step,
        digits_step(
            "1 1 3 5000 # file_string://kefu/zh/callback_confirm.wav!digits/8.wav!digits/6.wav!digits/1.wav!digits/3.wav!digits/8.wav!digits/0.wav!digits/0.wav!digits/1.wav!digits/3.wav!digits/8.wav!digits/0.wav!digits/0.wav!digits/0.wav!kefu/zh/callback_confirm_keys.wav ivr/ivr-that_was_an_invalid_entry.wav kefu_digits ^[12]$ 3000"
        ),
        "the number read digit by digit, without its +"
    );
    let step = run.on_app_done(digits("1"), &c, now);
    assert_eq!(
        step,
        Step::Callback {
            queue: QueueId::new("general"),
            priority_bonus: 5,
            extra_skills: vec![Skill::new("mandarin")],
            reason: Some("billing".into()),
            number: CallbackNumber::parse("+8613800138000").expect("a number"),
            goodbye: "kefu/zh/callback_goodbye.wav".into(),
        }
    );
    assert_eq!(
        path(&run),
        [("offer", Some("1")), ("offer:confirm", Some("1"))]
    );
    assert_eq!(
        run.on_app_done(AppResult::Done, &c, now),
        Step::Wait,
        "the goodbye's end is not an answer"
    );
}

#[test]
fn a_caller_without_a_usable_caller_id_types_the_number() {
    let tier = TierId::new("standard");
    let now = office_open();
    for (caller_id, key) in [("anonymous", "1"), ("12", "1"), ("+15551234567", "2")] {
        let c = call(caller_id, &tier, &LONG);
        let (mut run, _) = IvrRun::start(offer_flow(), &c, now);
        let step = run.on_app_done(digits(key), &c, now);
        assert_eq!(
            step,
            digits_step(
                r"6 15 3 5000 # kefu/zh/callback_number.wav ivr/ivr-that_was_an_invalid_entry.wav kefu_digits ^\d+$ 3000"
            ),
            "{caller_id} pressed {key}"
        );
        let step = run.on_app_done(digits("13900139000"), &c, now);
        assert!(
            prompt_of(&step).starts_with(
                "file_string://kefu/zh/callback_confirm.wav!digits/1.wav!digits/3.wav!digits/9.wav!"
            ),
            "{step:?}"
        );
        let step = run.on_app_done(digits("1"), &c, now);
        assert!(
            matches!(&step, Step::Callback { number, .. } if number.as_str() == "13900139000"),
            "{step:?}"
        );
        assert_eq!(
            path(&run),
            [
                ("offer", Some(key)),
                ("offer:number", Some("13900139000")),
                ("offer:confirm", Some("1")),
            ]
        );
    }
}

#[test]
fn two_at_the_confirmation_asks_for_the_number_again() {
    let tier = TierId::new("standard");
    let c = call("+15551234567", &tier, &LONG);
    let now = office_open();
    let (mut run, _) = IvrRun::start(offer_flow(), &c, now);
    run.on_app_done(digits("1"), &c, now);
    let step = run.on_app_done(digits("2"), &c, now);
    assert_eq!(prompt_of(&step), "kefu/zh/callback_number.wav");
    run.on_app_done(digits("02125550123"), &c, now);
    let step = run.on_app_done(digits("1"), &c, now);
    assert!(
        matches!(&step, Step::Callback { number, .. } if number.as_str() == "02125550123"),
        "{step:?}"
    );
    assert_eq!(
        path(&run),
        [
            ("offer", Some("1")),
            ("offer:confirm", Some("2")),
            ("offer:number", Some("02125550123")),
            ("offer:confirm", Some("1")),
        ]
    );
}

#[test]
fn a_caller_who_does_not_answer_keeps_waiting_at_every_question() {
    let tier = TierId::new("standard");
    let c = call("anonymous", &tier, &LONG);
    let now = office_open();
    // The answers that lead to each question, then what comes instead of an answer there.
    let questions: [&[&str]; 3] = [&[], &["2"], &["2", "13900139000"]];
    let silences = [AppResult::NoInput, AppResult::Done, digits("7")];
    for before in questions {
        for silence in &silences {
            let (mut run, _) = IvrRun::start(offer_flow(), &c, now);
            for d in before {
                run.on_app_done(digits(d), &c, now);
            }
            let step = run.on_app_done(silence.clone(), &c, now);
            assert!(
                waits_in_billing(&step),
                "{before:?} then {silence:?}: {step:?}"
            );
            assert_eq!(path(&run).last(), Some(&("billing", None)));
        }
    }
}

#[test]
fn a_typed_number_is_checked_again_on_arrival() {
    let tier = TierId::new("standard");
    let c = call("anonymous", &tier, &LONG);
    let now = office_open();
    // FreeSWITCH checked `^\d+$` and 6 to 15 digits; these did not come from it.
    for typed in [
        "12345",
        "1234567890123456",
        "+861380013",
        "138 0013",
        "13800x38000",
    ] {
        let (mut run, _) = IvrRun::start(offer_flow(), &c, now);
        run.on_app_done(digits("1"), &c, now);
        let step = run.on_app_done(digits(typed), &c, now);
        assert!(waits_in_billing(&step), "{typed}: {step:?}");
    }
}

#[test]
fn a_node_with_only_the_required_fields_uses_the_default_prompts() {
    let tier = TierId::new("standard");
    let c = call("+15551234567", &tier, &LONG);
    let now = office_open();
    let (mut run, step) = IvrRun::start(flow("plain", PLAIN_FLOW), &c, now);
    assert_eq!(prompt_of(&step), "kefu/callback_offer.wav");
    let step = run.on_app_done(digits("2"), &c, now);
    assert_eq!(prompt_of(&step), "kefu/callback_number.wav");
    let step = run.on_app_done(digits("5551234"), &c, now);
    assert_eq!(
        prompt_of(&step),
        "file_string://kefu/callback_confirm.wav!digits/5.wav!digits/5.wav!digits/5.wav!digits/1.wav!digits/2.wav!digits/3.wav!digits/4.wav!kefu/callback_confirm_keys.wav"
    );
    let step = run.on_app_done(digits("1"), &c, now);
    assert_eq!(
        step,
        Step::Callback {
            queue: QueueId::new("general"),
            priority_bonus: 0,
            extra_skills: vec![],
            reason: None,
            number: CallbackNumber::parse("5551234").expect("a number"),
            goodbye: "kefu/callback_goodbye.wav".into(),
        }
    );
}

#[test]
fn a_caller_giving_new_numbers_forever_is_cut() {
    let tier = TierId::new("standard");
    let c = call("+15551234567", &tier, &LONG);
    let now = office_open();
    let (mut run, _) = IvrRun::start(offer_flow(), &c, now);
    run.on_app_done(digits("2"), &c, now);
    let answers = ["13900139000", "2"]
        .iter()
        .cycle()
        .take(1000)
        .map(|a| digits(a));
    let last = answer_until_hangup(&mut run, &c, answers);
    assert_eq!(
        last,
        Step::Hangup {
            cause: "RECOVERY_ON_TIMER_EXPIRE".into()
        }
    );
    assert!(run.path().len() <= 200);
}

#[test]
fn the_main_flow_offers_a_call_back_before_the_general_queue_when_the_wait_is_long() {
    let tier = TierId::new("gold");
    let now = office_open();
    let to_main_menu = |c: &CallContext| {
        let (mut run, _) = IvrRun::start(main_flow(), c, now);
        run.on_app_done(AppResult::Done, c, now); // welcome
        run.on_app_done(digits("1"), c, now); // 中文
        run.on_app_done(AppResult::Done, c, now); // sound_prefix set
        run.on_customer(
            Some(crate::ivr::CustomerInfo { tier: tier.clone() }),
            c,
            now,
        );
        run
    };
    let c = call("+15559876543", &tier, &LONG);
    for (key, reason) in [("1", "inquiry"), ("0", "operator")] {
        let mut run = to_main_menu(&c);
        let step = run.on_app_done(digits(key), &c, now);
        assert_eq!(prompt_of(&step), "kefu/zh/callback_offer.wav", "{key}");
        run.on_app_done(digits("1"), &c, now);
        let step = run.on_app_done(digits("1"), &c, now);
        assert!(
            matches!(&step, Step::Callback { queue, reason: Some(r), goodbye, .. }
                if queue.as_str() == "general" && r == reason && goodbye == "kefu/zh/callback_goodbye.wav"),
            "{key}: {step:?}"
        );
    }
    // A caller who pressed nothing at the main menu is not asked more; other queues never.
    for result in [AppResult::NoInput, digits("2"), digits("3")] {
        let mut run = to_main_menu(&c);
        let step = run.on_app_done(result.clone(), &c, now);
        assert!(matches!(step, Step::Enqueue { .. }), "{result:?}: {step:?}");
    }
    // Nobody is offered a call back before the wait can be estimated.
    let quiet = call("+15559876543", &tier, &QUIET);
    let mut run = to_main_menu(&quiet);
    let step = run.on_app_done(digits("1"), &quiet, now);
    assert!(matches!(step, Step::Enqueue { .. }), "{step:?}");
}
