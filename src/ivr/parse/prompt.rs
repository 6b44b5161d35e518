//! Prompts as written in a flow: a sound path, text for the channel's TTS engine (`say:` or
//! `speak:`, both kept as `say:`), or `@name` of the flow's prompt sets (`prompt_set`). What
//! text may hold follows from how FreeSWITCH reads an application argument
//! (`docs/ivr-flows.md`, "Text prompts").

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{Checker, Prompts, RawNode, Resolver, variables_in};
use crate::ivr::flow::{Prompt, TEXT_PREFIX, is_text};

/// How a flow may start a text prompt (any case, as FreeSWITCH's `strncasecmp`).
const WRITTEN_TEXT_PREFIXES: [&str; 2] = ["say:", "speak:"];

/// Why a list of prompts holds no text. mod_dptools' file_string opens each part with
/// switch_core_file_open, which knows sound files only: `say:` works in
/// switch_ivr_play_file, not there.
const TEXT_PLAYS_ALONE: &str = "a text prompt plays alone: a list is one file_string:// playback, which only opens sound files";

impl Resolver<'_> {
    /// The node's `prompt`: one, or a list played as one `file_string://` playback.
    pub(super) fn prompts(&self, raw: &RawNode, check: &mut Checker) -> Option<Vec<Prompt>> {
        let Some(prompt) = &raw.prompt else {
            check.error(
                raw.kind.span(),
                format!("a `{}` node needs `prompt`", raw.kind.get_ref()),
            );
            return None;
        };
        let written = match prompt.get_ref() {
            Prompts::One(p) => vec![p.clone()],
            Prompts::Many(ps) => ps.clone(),
        };
        if written.is_empty() {
            check.error(prompt.span(), "at least one prompt");
        }
        let list: Vec<Prompt> = written
            .iter()
            .map(|p| self.prompt(p, prompt.span(), check))
            .collect();
        if list.len() > 1 {
            if list
                .iter()
                .any(|p| matches!(p, Prompt::Given(p) if is_text(p)))
            {
                check.error(prompt.span(), TEXT_PLAYS_ALONE);
            }
            for p in &list {
                self.refuse_text_in_sets(p, TEXT_PLAYS_ALONE, prompt.span(), check);
            }
        }
        Some(list)
    }

    /// One prompt, checked, as the run will play it (`speak:` becomes `say:`; `@name` is
    /// looked up when played).
    pub(super) fn prompt(&self, written: &str, span: Range<usize>, check: &mut Checker) -> Prompt {
        match written.strip_prefix('@') {
            Some(name) => self.named(name, span, check),
            None => Prompt::Given(given(self.vars, written, span, check)),
        }
    }

    /// `@name` in a place that takes sound files only: an error for each language whose
    /// prompt `name` is text.
    fn refuse_text_in_sets(
        &self,
        prompt: &Prompt,
        why: &str,
        span: Range<usize>,
        check: &mut Checker,
    ) {
        if let Prompt::Named(name) = prompt {
            for lang in self.prompt_sets.text_in(name) {
                check.error(
                    span.clone(),
                    format!("{why} (`@{name}` is text in [prompts.{lang}])"),
                );
            }
        }
    }

    /// An optional prompt field that is part of a playlist: a sound path, or its default.
    pub(super) fn sound_or(
        &self,
        field: &Option<Spanned<String>>,
        key: &str,
        default: &str,
        check: &mut Checker,
    ) -> Prompt {
        let Some(written) = field else {
            return Prompt::given(default);
        };
        let prompt = self.prompt(written.get_ref(), written.span(), check);
        let why = format!(
            "`{key}` is played in one file_string:// playlist with other files: a sound file, not text"
        );
        match &prompt {
            Prompt::Given(p) if is_text(p) => check.error(written.span(), why),
            Prompt::Given(_) => {}
            Prompt::Named(_) => self.refuse_text_in_sets(&prompt, &why, written.span(), check),
        }
        prompt
    }
}

/// A sound path or text, checked, as the run will play it (`speak:` becomes `say:`);
/// `${name}` in a path must be one of `vars`.
pub(super) fn given(
    vars: &BTreeMap<String, String>,
    written: &str,
    span: Range<usize>,
    check: &mut Checker,
) -> String {
    match text_of(written) {
        Some(text) => {
            check_text(written, text, span, check);
            format!("{TEXT_PREFIX}{text}")
        }
        None => {
            check_path(vars, written, span, check);
            written.to_owned()
        }
    }
}

fn check_path(
    vars: &BTreeMap<String, String>,
    prompt: &str,
    span: Range<usize>,
    check: &mut Checker,
) {
    if prompt.is_empty() || prompt.chars().any(char::is_whitespace) || prompt.contains("..") {
        check.error(
            span.clone(),
            format!("prompt `{prompt}`: a sound path, without spaces or `..`"),
        );
    }
    for var in variables_in(prompt) {
        if !vars.contains_key(var) {
            check.error(
                span.clone(),
                format!("prompt uses `${{{var}}}`, not declared in the flow's `vars`"),
            );
        }
    }
}

/// The text of a `say:`/`speak:` prompt, or `None` for a sound path.
fn text_of(written: &str) -> Option<&str> {
    WRITTEN_TEXT_PREFIXES.iter().find_map(|prefix| {
        let (head, text) = (written.get(..prefix.len())?, written.get(prefix.len()..)?);
        head.eq_ignore_ascii_case(prefix).then_some(text)
    })
}

/// Text reaches FreeSWITCH inside an application argument, where
/// - `switch_core_session_exec` expands `${...}` and, when it sees a backslash escape,
///   rewrites escapes (switch_core_session.c, switch_channel_expand_variables);
/// - play_and_get_digits splits on spaces with `'` quoting and `\` escapes
///   (switch_utils.c, separate_string_blank_delim and cleanup_separated_string): kefu
///   quotes the text with `'`, so the text itself holds no `'` or `\`;
/// - playback cuts its argument at `@@` (a sample offset, mod_dptools.c playback_function);
/// - the ESL command is one header line (no control characters).
fn check_text(written: &str, text: &str, span: Range<usize>, check: &mut Checker) {
    if text.trim().is_empty() {
        check.error(
            span,
            format!("prompt `{written}`: the text to say is missing"),
        );
        return;
    }
    let reserved = text.contains(['\'', '\\'])
        || text.contains("${")
        || text.contains("@@")
        || text.chars().any(char::is_control);
    if reserved {
        check.error(
            span,
            format!(
                "text prompt `{written}`: no `'`, `\\`, `${{`, `@@` or control characters (FreeSWITCH reads them in application arguments)"
            ),
        );
    }
}
