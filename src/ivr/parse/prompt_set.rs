//! `[prompts.<lang>]`: named prompts per language, and the `@name` prompts that play them.
//! Each set's values are checked like any prompt; every set has the same names; every
//! `@name` is in every set; the language a run starts in, and each one a `set` node
//! switches to, has a set (`docs/ivr-flows.md`, "Languages and prompt sets").

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::prompt::given;
use super::{Checker, Resolver, is_word};
use crate::ivr::flow::{LANG, Prompt, PromptSets};

/// `[prompts.<lang>]` as written: language, then name, then prompt.
pub(super) type RawPromptSets =
    BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>;

/// The flow's prompt sets, checked; `written_vars` are the flow's `vars` as written (for
/// where `lang` starts), `vars` the same values (for `${name}` in the prompts).
pub(super) fn prompt_sets(
    raw: &RawPromptSets,
    written_vars: &BTreeMap<String, Spanned<String>>,
    vars: &BTreeMap<String, String>,
    check: &mut Checker,
) -> PromptSets {
    let Some(first) = raw.keys().next() else {
        return PromptSets::default();
    };
    let fallback = match written_vars.get(LANG) {
        Some(lang) => {
            if !raw.contains_key(lang.get_ref().as_str()) {
                check.error(
                    lang.span(),
                    format!(
                        "`lang` starts as `{0}`, but the flow has no [prompts.{0}]",
                        lang.get_ref()
                    ),
                );
            }
            lang.get_ref().clone()
        }
        None => {
            check.error(
                first.span(),
                "prompt sets need `lang` in the flow's `vars`: its value picks the set",
            );
            String::new()
        }
    };
    let mut sets = BTreeMap::new();
    for (lang, set) in raw {
        if !is_word(lang.get_ref()) {
            check.error(
                lang.span(),
                format!(
                    "[prompts.{}]: a language is a word (letters, digits, `_`)",
                    lang.get_ref()
                ),
            );
        }
        let loaded = set
            .iter()
            .map(|(name, value)| (name.get_ref().clone(), entry(name, value, vars, check)))
            .collect();
        sets.insert(lang.get_ref().clone(), loaded);
    }
    same_names(raw, check);
    PromptSets { sets, fallback }
}

/// One prompt of a set: a sound path or text, as a node's prompt would be.
fn entry(
    name: &Spanned<String>,
    value: &Spanned<String>,
    vars: &BTreeMap<String, String>,
    check: &mut Checker,
) -> String {
    if !is_word(name.get_ref()) {
        check.error(
            name.span(),
            format!(
                "prompt name `{}`: a word (letters, digits, `_`)",
                name.get_ref()
            ),
        );
    }
    if value.get_ref().starts_with('@') {
        check.error(
            value.span(),
            format!(
                "`{}`: a prompt set holds sound paths and text, not `@name`",
                value.get_ref()
            ),
        );
        return String::new();
    }
    given(vars, value.get_ref(), value.span(), check)
}

/// Every set has the same names: a name some sets lack is reported where the first set
/// that has it defines it.
fn same_names(raw: &RawPromptSets, check: &mut Checker) {
    let mut reported = std::collections::BTreeSet::new();
    for (lang, set) in raw {
        for name in set.keys() {
            if !reported.insert(name.get_ref().as_str()) {
                continue;
            }
            let lacking: Vec<&str> = raw
                .iter()
                .filter(|(_, other)| !other.contains_key(name.get_ref().as_str()))
                .map(|(other, _)| other.get_ref().as_str())
                .collect();
            if !lacking.is_empty() {
                check.error(
                    name.span(),
                    format!(
                        "prompt `{}` is in [prompts.{}] but not in {}",
                        name.get_ref(),
                        lang.get_ref(),
                        listed(&lacking)
                    ),
                );
            }
        }
    }
}

impl Resolver<'_> {
    /// `@name`: a prompt every set of the flow has.
    pub(super) fn named(&self, name: &str, span: Range<usize>, check: &mut Checker) -> Prompt {
        let sets = &self.prompt_sets.sets;
        if !is_word(name) {
            check.error(
                span,
                format!("prompt `@{name}`: a prompt name is a word (letters, digits, `_`)"),
            );
        } else if sets.is_empty() {
            check.error(
                span,
                format!("prompt `@{name}`: the flow has no [prompts.<lang>] to take it from"),
            );
        } else {
            let lacking: Vec<&str> = sets
                .iter()
                .filter(|(_, set)| !set.contains_key(name))
                .map(|(lang, _)| lang.as_str())
                .collect();
            if !lacking.is_empty() {
                check.error(
                    span,
                    format!("prompt `@{name}` is not in {}", listed(&lacking)),
                );
            }
        }
        Prompt::Named(name.to_owned())
    }

    /// A `set` node's `lang`: with prompt sets, one of their languages. (A value from
    /// elsewhere, such as a `collect` into `lang`, falls back at run time.)
    pub(super) fn check_language(&self, lang: &Spanned<String>, check: &mut Checker) {
        let sets = &self.prompt_sets.sets;
        if !sets.is_empty() && !sets.contains_key(lang.get_ref()) {
            check.error(
                lang.span(),
                format!(
                    "sets `lang` to `{0}`, but the flow has no [prompts.{0}]",
                    lang.get_ref()
                ),
            );
        }
    }
}

/// `[prompts.en], [prompts.zh]`.
fn listed(langs: &[&str]) -> String {
    let sets: Vec<String> = langs.iter().map(|l| format!("[prompts.{l}]")).collect();
    sets.join(", ")
}

#[cfg(test)]
mod tests;
