//! Each way a flow can get prompt sets wrong, refused at load with the place and the
//! language; and what a valid set loads to.

use crate::config::Config;
use crate::ivr::flow::Prompt;
use crate::ivr::{Known, parse_flow};

/// Two languages, a `@name` of each kind of node, and a `set` node switching to Chinese.
const GOOD: &str = r#"
start = "welcome"
vars = { lang = "en", brand = "acme" }

[prompts.en]
welcome = "kefu/${brand}/en/welcome.wav"
menu = "speak:Press 1 for sales"

[prompts.zh]
welcome = "kefu/${brand}/zh/welcome.wav"
menu = "kefu/zh/menu.wav"

[nodes.welcome]
kind = "play"
prompt = "@welcome"
next = "menu"

[nodes.menu]
kind = "menu"
prompt = "@menu"
invalid_prompt = "@welcome"
options = { "1" = "chinese" }
on_fail = "chinese"

[nodes.chinese]
kind = "set"
vars = { lang = "zh" }
next = "bye"

[nodes.bye]
kind = "hangup"
"#;

fn known() -> Known {
    Known::from_config(&Config::defaults().expect("defaults"))
}

/// `line:column: message` of each error of `text`, in file order.
fn errors(text: &str) -> Vec<String> {
    match parse_flow("f", "f.toml", text, &known()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
            .collect(),
    }
}

/// [`GOOD`] with `from` replaced by `to` (which must be there).
fn good_but(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn a_flow_with_prompt_sets_loads_with_each_set_checked() {
    assert_eq!(errors(GOOD), Vec::<String>::new());
    let flow = parse_flow("f", "f.toml", GOOD, &known()).expect("valid");
    assert_eq!(flow.prompts.fallback, "en");
    assert_eq!(flow.prompts.sets["en"]["menu"], "say:Press 1 for sales");
    assert_eq!(
        flow.prompts.sets["zh"]["welcome"], "kefu/${brand}/zh/welcome.wav",
        "variables are expanded when played"
    );
    assert!(matches!(
        &flow.nodes[flow.start],
        crate::ivr::flow::Node::Play { prompts, .. } if matches!(&prompts[..], [Prompt::Named(n)] if n == "welcome")
    ));
}

#[test]
fn a_name_used_but_missing_from_a_set_names_the_language() {
    let text = good_but("prompt = \"@menu\"", "prompt = \"@goodbye\"");
    assert_eq!(
        errors(&text),
        ["20:10: prompt `@goodbye` is not in [prompts.en], [prompts.zh]"]
    );
}

#[test]
fn sets_must_have_the_same_names() {
    let text = good_but(
        "menu = \"kefu/zh/menu.wav\"",
        "menu = \"kefu/zh/menu.wav\"\nextra = \"kefu/zh/extra.wav\"",
    );
    assert_eq!(
        errors(&text),
        ["12:1: prompt `extra` is in [prompts.zh] but not in [prompts.en]"]
    );
    let text = good_but("menu = \"kefu/zh/menu.wav\"", "");
    assert_eq!(
        errors(&text),
        [
            "7:1: prompt `menu` is in [prompts.en] but not in [prompts.zh]",
            "20:10: prompt `@menu` is not in [prompts.zh]",
        ],
        "where the set lacks it, and where it is used"
    );
}

#[test]
fn a_named_prompt_needs_prompt_sets() {
    let text = r#"
start = "a"
vars = { lang = "en" }

[nodes.a]
kind = "play"
prompt = "@welcome"
next = "b"

[nodes.b]
kind = "hangup"
"#;
    assert_eq!(
        errors(text),
        ["7:10: prompt `@welcome`: the flow has no [prompts.<lang>] to take it from"]
    );
}

#[test]
fn prompt_sets_need_lang_declared_with_a_set_of_its_own() {
    let text = good_but(
        "vars = { lang = \"en\", brand = \"acme\" }",
        "vars = { brand = \"acme\" }",
    );
    assert_eq!(
        errors(&text),
        ["5:10: prompt sets need `lang` in the flow's `vars`: its value picks the set"]
    );
    let text = good_but("lang = \"en\"", "lang = \"fr\"");
    assert_eq!(
        errors(&text),
        ["3:17: `lang` starts as `fr`, but the flow has no [prompts.fr]"]
    );
}

#[test]
fn a_set_node_may_only_switch_to_a_language_with_a_set() {
    let text = good_but("vars = { lang = \"zh\" }", "vars = { lang = \"fr\" }");
    assert_eq!(
        errors(&text),
        ["27:17: sets `lang` to `fr`, but the flow has no [prompts.fr]"]
    );
}

#[test]
fn a_name_that_is_text_in_some_language_is_refused_where_only_sound_files_play() {
    let list = good_but(
        "prompt = \"@welcome\"",
        "prompt = [\"@welcome\", \"@menu\"]",
    );
    assert_eq!(
        errors(&list),
        [
            "15:10: a text prompt plays alone: a list is one file_string:// playback, which only opens sound files (`@menu` is text in [prompts.en])"
        ]
    );
    let confirm = good_but(
        "[nodes.bye]\nkind = \"hangup\"",
        "[nodes.bye]\nkind = \"callback_offer\"\nnext = \"wait\"\nwait_above = \"3m\"\nconfirm_prompt = \"@menu\"\n\n[nodes.wait]\nkind = \"queue\"\nqueue = \"general\"",
    );
    assert_eq!(
        errors(&confirm),
        [
            "34:18: `confirm_prompt` is played in one file_string:// playlist with other files: a sound file, not text (`@menu` is text in [prompts.en])"
        ]
    );
}

#[test]
fn each_value_of_a_set_is_checked_as_a_prompt() {
    for (value, error) in [
        (
            "\"kefu/en/wel come.wav\"",
            "6:11: prompt `kefu/en/wel come.wav`: a sound path, without spaces or `..`",
        ),
        (
            "\"kefu/../welcome.wav\"",
            "6:11: prompt `kefu/../welcome.wav`: a sound path, without spaces or `..`",
        ),
        (
            "\"kefu/${who}/welcome.wav\"",
            "6:11: prompt uses `${who}`, not declared in the flow's `vars`",
        ),
        (
            "\"say:It's ${lang}\"",
            "6:11: text prompt `say:It's ${lang}`: no `'`, `\\`, `${`, `@@` or control characters (FreeSWITCH reads them in application arguments)",
        ),
        (
            "\"@menu\"",
            "6:11: `@menu`: a prompt set holds sound paths and text, not `@name`",
        ),
    ] {
        let text = good_but("\"kefu/${brand}/en/welcome.wav\"", value);
        assert_eq!(errors(&text), [error], "{value}");
    }
}

#[test]
fn names_and_languages_are_words() {
    let text = good_but("prompt = \"@welcome\"", "prompt = \"@wel-come\"");
    assert_eq!(
        errors(&text),
        ["15:10: prompt `@wel-come`: a prompt name is a word (letters, digits, `_`)"]
    );
    let text = good_but("[prompts.zh]\nwelcome", "[prompts.zh]\n\"wel come\"");
    let got = errors(&text);
    assert!(
        got.contains(&"10:1: prompt name `wel come`: a word (letters, digits, `_`)".to_owned()),
        "{got:?}"
    );
    let text = good_but("[prompts.zh]", "[prompts.\"zh-cn\"]")
        .replace("vars = { lang = \"zh\" }", "vars = { lang = \"zh-cn\" }");
    assert_eq!(
        errors(&text),
        ["9:10: [prompts.zh-cn]: a language is a word (letters, digits, `_`)"]
    );
}
