//! `say:`/`speak:` text prompts: played as `say:` text, and quoted in play_and_get_digits
//! so that FreeSWITCH's argument splitting gives the prompt back whole.

use super::{call, ctx, digits, flow, office_open, prompt_of};
use crate::domain::TierId;
use crate::ivr::{AppResult, IvrRun, Step};

const TEXT_FLOW: &str = r#"
start = "welcome"

[nodes.welcome]
kind = "play"
prompt = "speak:Thank you for calling. Calls are recorded..."
next = "menu"

[nodes.menu]
kind = "menu"
prompt = "SAY:Press 1 for sales, 2 for support"
invalid_prompt = "say:Sorry, I did not get that"
options = { "1" = "bye", "2" = "bye" }
on_fail = "bye"

[nodes.bye]
kind = "callback_offer"
next = "wait"
wait_above = "0s"
prompt = "say:Press 1 to be called back"
goodbye_prompt = "speak:Goodbye: we will call you"

[nodes.wait]
kind = "queue"
queue = "general"
"#;

#[test]
fn a_play_node_speaks_its_text_with_say() {
    let tier = TierId::new("standard");
    let c = ctx(&tier);
    let (_, step) = IvrRun::start(flow("text", TEXT_FLOW), &c, office_open());
    assert_eq!(
        step,
        Step::Execute {
            app: "playback".into(),
            arg: "say:Thank you for calling. Calls are recorded...".into(),
        },
        "playback takes the whole argument: no quotes, which TTS would read"
    );
}

#[test]
fn digits_prompts_with_spaces_are_quoted_and_come_back_whole() {
    let tier = TierId::new("standard");
    let c = ctx(&tier);
    let (mut run, _) = IvrRun::start(flow("text", TEXT_FLOW), &c, office_open());
    let step = run.on_app_done(AppResult::Done, &c, office_open());
    let Step::Execute { app, arg } = &step else {
        panic!("{step:?}");
    };
    assert_eq!(app, "play_and_get_digits");
    assert_eq!(
        arg,
        "1 1 3 5000 # 'say:Press 1 for sales, 2 for support' 'say:Sorry, I did not get that' kefu_digits ^[12]$ 3000"
    );
    // How FreeSWITCH splits it back: `sim::wire::split_arguments` and its test, and the
    // spoken menu in `tests/ivr_e2e.rs`.
}

#[test]
fn a_callback_offer_may_offer_and_say_goodbye_in_text() {
    let tier = TierId::new("standard");
    let long = super::Figures {
        wait: Some(std::time::Duration::from_secs(60)),
        serving: 1,
    };
    let c = call("+15551234567", &tier, &long);
    let now = office_open();
    let (mut run, _) = IvrRun::start(flow("text", TEXT_FLOW), &c, now);
    run.on_app_done(AppResult::Done, &c, now);
    let step = run.on_app_done(digits("1"), &c, now);
    let Step::Execute { arg, .. } = &step else {
        panic!("{step:?}");
    };
    assert!(arg.contains(" # 'say:Press 1 to be called back' "), "{arg}");
    assert!(prompt_of(&step).starts_with("'say:Press"), "{step:?}");
    run.on_app_done(digits("1"), &c, now);
    let step = run.on_app_done(digits("1"), &c, now);
    assert!(
        matches!(&step, Step::Callback { goodbye, .. } if goodbye == "say:Goodbye: we will call you"),
        "{step:?}"
    );
}
