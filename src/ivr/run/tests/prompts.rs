//! `@name` prompts: taken from the prompt set of the run's `lang` each time they play, with
//! `${name}` expanded, and from the flow's starting language's set when `lang` names none.

use std::collections::BTreeMap;

use super::{ctx, digits, flow, office_open, prompt_of};
use crate::domain::TierId;
use crate::ivr::{AppResult, IvrRun, Step};

/// English text and Chinese recordings; a `set` node switches to Chinese, another changes
/// the brand that the welcome's path names.
const SETS_FLOW: &str = r#"
start = "welcome"
vars = { lang = "en", brand = "acme" }

[prompts.en]
welcome = "kefu/${brand}/en/welcome.wav"
menu = "say:Press 1 for Chinese, 2 for Globex"
goodbye = "kefu/en/goodbye.wav"

[prompts.zh]
welcome = "kefu/${brand}/zh/welcome.wav"
menu = "kefu/zh/menu.wav"
goodbye = "kefu/zh/goodbye.wav"

[nodes.welcome]
kind = "play"
prompt = "@welcome"
next = "menu"

[nodes.menu]
kind = "menu"
prompt = "@menu"
invalid_prompt = "@goodbye"
options = { "1" = "chinese", "2" = "globex" }
on_fail = "bye"

[nodes.chinese]
kind = "set"
vars = { lang = "zh" }
next = "bye"

[nodes.globex]
kind = "set"
vars = { brand = "globex" }
next = "welcome_again"

[nodes.welcome_again]
kind = "play"
prompt = "@welcome"
next = "bye"

[nodes.bye]
kind = "play"
prompt = ["@goodbye", "ivr/ivr-thank_you_for_calling.wav"]
next = "hang_up"

[nodes.hang_up]
kind = "hangup"
"#;

/// The first step of a run of `text` starting with `lang`.
fn first_prompt(text: &str, lang: &str) -> String {
    let tier = TierId::new("standard");
    let vars = BTreeMap::from([("lang".to_owned(), lang.to_owned())]);
    let (_, step) = IvrRun::start_with(flow("sets", text), vars, &ctx(&tier), office_open());
    prompt_of(&step).to_owned()
}

#[test]
fn a_named_prompt_comes_from_the_set_of_the_runs_language() {
    let tier = TierId::new("standard");
    let (_, step) = IvrRun::start(flow("sets", SETS_FLOW), &ctx(&tier), office_open());
    assert_eq!(
        prompt_of(&step),
        "kefu/acme/en/welcome.wav",
        "the flow's `lang`"
    );
    assert_eq!(
        first_prompt(SETS_FLOW, "zh"),
        "kefu/acme/zh/welcome.wav",
        "a `lang` the run started with (the survey's)"
    );
}

#[test]
fn a_set_node_switching_language_switches_every_later_prompt() {
    let tier = TierId::new("standard");
    let c = ctx(&tier);
    let now = office_open();
    let (mut run, _) = IvrRun::start(flow("sets", SETS_FLOW), &c, now);
    let step = run.on_app_done(AppResult::Done, &c, now);
    assert_eq!(
        step,
        Step::Execute {
            app: "play_and_get_digits".into(),
            arg: "1 1 3 5000 # 'say:Press 1 for Chinese, 2 for Globex' kefu/en/goodbye.wav kefu_digits ^[12]$ 3000".into(),
        },
        "English text, quoted as any text prompt"
    );
    let step = run.on_app_done(digits("1"), &c, now);
    assert_eq!(
        prompt_of(&step),
        "file_string://kefu/zh/goodbye.wav!ivr/ivr-thank_you_for_calling.wav"
    );
    assert_eq!(run.vars()["lang"], "zh");
}

#[test]
fn variables_in_a_set_value_are_expanded_when_it_plays() {
    let tier = TierId::new("standard");
    let c = ctx(&tier);
    let now = office_open();
    let (mut run, _) = IvrRun::start(flow("sets", SETS_FLOW), &c, now);
    run.on_app_done(AppResult::Done, &c, now);
    let step = run.on_app_done(digits("2"), &c, now);
    assert_eq!(prompt_of(&step), "kefu/globex/en/welcome.wav");
}

#[test]
fn a_language_without_a_set_falls_back_to_the_flows_starting_language() {
    assert_eq!(first_prompt(SETS_FLOW, "fr"), "kefu/acme/en/welcome.wav");
    let chinese_first = SETS_FLOW.replacen("lang = \"en\"", "lang = \"zh\"", 1);
    assert_eq!(
        first_prompt(&chinese_first, "fr"),
        "kefu/acme/zh/welcome.wav",
        "the starting language of this flow, not English"
    );
    let tier = TierId::new("standard");
    let vars = BTreeMap::from([("lang".to_owned(), "fr".to_owned())]);
    let (run, _) = IvrRun::start_with(flow("sets", SETS_FLOW), vars, &ctx(&tier), office_open());
    assert_eq!(run.vars()["lang"], "fr", "the run keeps its language");
}
