//! Flow file text → a validated [`Flow`], or every error found, each pointing at the line
//! and column of the key or value at fault. Pure: the text comes from `files`. The
//! `callback_offer` node's fields are checked in `callback`, prompts in `prompt`, the
//! `[prompts.<lang>]` sets and `@name` prompts in `prompt_set`.

mod callback;
mod prompt;
mod prompt_set;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::Deserialize;
use toml::Spanned;

use super::flow::{
    Case, Flow, Hours, Input, LANG, LookupBy, Node, NodeIx, Prompt, PromptSets, QueueCondition,
};
use super::{FlowError, Known};
use crate::domain::{QueueId, Skill, TierId};

/// Digits prompts: tries, wait for the first key, and the invalid-entry prompt, unless the
/// node says otherwise.
const DEFAULT_TRIES: u32 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_INVALID: &str = "ivr/ivr-that_was_an_invalid_entry.wav";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    start: Option<Spanned<String>>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    hours: BTreeMap<String, Spanned<RawHours>>,
    #[serde(default)]
    prompts: prompt_set::RawPromptSets,
    #[serde(default)]
    nodes: BTreeMap<String, Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    timezone: Spanned<String>,
    days: Vec<Spanned<String>>,
    open: Spanned<String>,
    close: Spanned<String>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Prompts {
    One(String),
    Many(Vec<String>),
}

/// Every field any node kind takes; `node` checks which the kind allows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    kind: Spanned<String>,
    prompt: Option<Spanned<Prompts>>,
    invalid_prompt: Option<Spanned<String>>,
    number_prompt: Option<Spanned<String>>,
    confirm_prompt: Option<Spanned<String>>,
    confirm_keys_prompt: Option<Spanned<String>>,
    goodbye_prompt: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    on_fail: Option<Spanned<String>>,
    options: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    tries: Option<Spanned<u32>>,
    timeout: Option<Spanned<String>>,
    min: Option<Spanned<u32>>,
    max: Option<Spanned<u32>>,
    pattern: Option<Spanned<String>>,
    into: Option<Spanned<String>>,
    by: Option<Spanned<String>>,
    variable: Option<Spanned<String>>,
    found: Option<Spanned<String>>,
    not_found: Option<Spanned<String>>,
    cases: Option<Vec<Spanned<RawCase>>>,
    otherwise: Option<Spanned<String>>,
    vars: Option<BTreeMap<String, Spanned<String>>>,
    channel: Option<BTreeMap<String, Spanned<String>>>,
    queue: Option<Spanned<String>>,
    priority_bonus: Option<i32>,
    skills: Option<Vec<Spanned<String>>>,
    reason: Option<String>,
    number: Option<Spanned<String>>,
    flow: Option<Spanned<String>>,
    cause: Option<Spanned<String>>,
    wait_above: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    tier: Option<Vec<Spanned<String>>>,
    customer: Option<Spanned<String>>,
    open: Option<Spanned<String>>,
    closed: Option<Spanned<String>>,
    variable: Option<Spanned<String>>,
    equals: Option<String>,
    queue: Option<Spanned<String>>,
    wait_above: Option<Spanned<String>>,
    agents_below: Option<u32>,
    next: Spanned<String>,
}

/// Collects errors for one file.
struct Checker<'a> {
    path: &'a str,
    text: &'a str,
    errors: Vec<FlowError>,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.errors.push(FlowError {
            path: self.path.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Parses and validates one flow file. `path` is only used in error messages.
///
/// # Errors
/// Every syntax and validation error, in file order.
pub(crate) fn parse_flow(
    name: &str,
    path: &str,
    text: &str,
    known: &Known,
) -> Result<Flow, Vec<FlowError>> {
    let mut check = Checker {
        path,
        text,
        errors: Vec::new(),
    };
    let raw: RawFlow = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message: Vec<&str> = error.message().lines().map(str::trim).collect();
            check.error(span, message.join("; "));
            return Err(check.errors);
        }
    };
    let flow = build(name, raw, known, &mut check);
    let mut errors = check.errors;
    errors.sort_by_key(|e| (e.line, e.column));
    match flow {
        Some(flow) if errors.is_empty() => Ok(flow),
        _ => Err(errors),
    }
}

fn build(name: &str, raw: RawFlow, known: &Known, check: &mut Checker) -> Option<Flow> {
    let names: Vec<String> = raw.nodes.keys().cloned().collect();
    let index: HashMap<&str, NodeIx> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let kinds: HashMap<&str, &str> = raw
        .nodes
        .iter()
        .map(|(name, n)| (name.as_str(), n.get_ref().kind.get_ref().as_str()))
        .collect();
    let hours = hours(&raw.hours, check);
    let vars: BTreeMap<String, String> = raw
        .vars
        .iter()
        .map(|(name, value)| (name.clone(), value.get_ref().clone()))
        .collect();
    let prompts = prompt_set::prompt_sets(&raw.prompts, &raw.vars, &vars, check);
    let resolve = Resolver {
        index: &index,
        kinds: &kinds,
        known,
        vars: &vars,
        hours: &hours,
        prompt_sets: &prompts,
    };
    let start = match &raw.start {
        Some(start) => resolve.target(start, check),
        None => {
            check.error(0..0, "missing `start`: the node every call begins at");
            None
        }
    };
    let nodes: Vec<Option<Node>> = raw
        .nodes
        .values()
        .map(|n| resolve.node(n.get_ref(), check))
        .collect();
    let start = start?;
    let nodes: Vec<Node> = nodes.into_iter().collect::<Option<_>>()?;
    let kind_spans: Vec<Range<usize>> = raw
        .nodes
        .values()
        .map(|n| n.get_ref().kind.span())
        .collect();
    graph_checks(start, &nodes, &names, &kind_spans, check);
    Some(Flow {
        name: name.to_owned(),
        start,
        nodes,
        names,
        vars,
        prompts,
        hours,
    })
}

fn hours(
    raw: &BTreeMap<String, Spanned<RawHours>>,
    check: &mut Checker,
) -> BTreeMap<String, Hours> {
    let mut out = BTreeMap::new();
    for (name, spanned) in raw {
        let h = spanned.get_ref();
        let timezone = h.timezone.get_ref().parse().map_err(|_| {
            check.error(
                h.timezone.span(),
                format!("unknown time zone `{}`", h.timezone.get_ref()),
            );
        });
        let days: Vec<Weekday> = h
            .days
            .iter()
            .filter_map(|d| {
                d.get_ref()
                    .parse()
                    .map_err(|_| {
                        check.error(
                            d.span(),
                            format!("`{}` is not a day (mon, tue, …)", d.get_ref()),
                        )
                    })
                    .ok()
            })
            .collect();
        let time = |t: &Spanned<String>, check: &mut Checker| {
            NaiveTime::parse_from_str(t.get_ref(), "%H:%M")
                .map_err(|_| {
                    check.error(t.span(), format!("`{}` is not a time (HH:MM)", t.get_ref()))
                })
                .ok()
        };
        let (open, close) = (time(&h.open, check), time(&h.close, check));
        let holidays: Vec<NaiveDate> = h
            .holidays
            .iter()
            .filter_map(|d| {
                NaiveDate::parse_from_str(d.get_ref(), "%Y-%m-%d")
                    .map_err(|_| {
                        check.error(
                            d.span(),
                            format!("`{}` is not a date (YYYY-MM-DD)", d.get_ref()),
                        )
                    })
                    .ok()
            })
            .collect();
        if let (Some(open), Some(close)) = (open, close)
            && open >= close
        {
            check.error(h.close.span(), "`close` must be after `open`");
        }
        if let (Ok(timezone), Some(open), Some(close)) = (timezone, open, close) {
            out.insert(
                name.clone(),
                Hours {
                    timezone,
                    days,
                    open,
                    close,
                    holidays,
                },
            );
        }
    }
    out
}

/// Resolves names in nodes: targets, queues, skills, tiers, flows, variables, hours.
struct Resolver<'a> {
    index: &'a HashMap<&'a str, NodeIx>,
    /// Each node's `kind`, by name (a `callback_offer` must lead to a `queue` node).
    kinds: &'a HashMap<&'a str, &'a str>,
    known: &'a Known,
    vars: &'a BTreeMap<String, String>,
    hours: &'a BTreeMap<String, Hours>,
    /// What `@name` prompts may name.
    prompt_sets: &'a PromptSets,
}

impl Resolver<'_> {
    fn target(&self, name: &Spanned<String>, check: &mut Checker) -> Option<NodeIx> {
        let found = self.index.get(name.get_ref().as_str()).copied();
        if found.is_none() {
            check.error(name.span(), format!("no node named `{}`", name.get_ref()));
        }
        found
    }

    /// A required target field.
    fn required(
        &self,
        field: &Option<Spanned<String>>,
        key: &str,
        node: &RawNode,
        check: &mut Checker,
    ) -> Option<NodeIx> {
        match field {
            Some(name) => self.target(name, check),
            None => {
                let kind = node.kind.get_ref();
                check.error(node.kind.span(), format!("a `{kind}` node needs `{key}`"));
                None
            }
        }
    }

    fn node(&self, raw: &RawNode, check: &mut Checker) -> Option<Node> {
        self.refuse_foreign_fields(raw, check);
        match raw.kind.get_ref().as_str() {
            "play" => {
                let prompts = self.prompts(raw, check)?;
                let next = self.required(&raw.next, "next", raw, check)?;
                Some(Node::Play { prompts, next })
            }
            "menu" => {
                let options = self.options(raw, check);
                let on_fail = self.required(&raw.on_fail, "on_fail", raw, check);
                let keys: String = options.keys().map(String::as_str).collect();
                let pattern = format!("[{}]", keys.replace('*', "\\*"));
                let input = self.input(raw, 1, 1, pattern, check)?;
                Some(Node::Menu {
                    input,
                    options,
                    on_fail: on_fail?,
                })
            }
            "collect" => {
                let (min, max) = (
                    raw.min.as_ref().map_or(1, |m| *m.get_ref()),
                    raw.max.as_ref().map_or(1, |m| *m.get_ref()),
                );
                if min == 0 || min > max || max > 128 {
                    let span = raw.min.as_ref().map_or(raw.kind.span(), Spanned::span);
                    check.error(span, "needs 1 <= min <= max <= 128");
                }
                let pattern = match &raw.pattern {
                    Some(p) => self.pattern(p, check).unwrap_or_default(),
                    None => format!("\\d{{{min},{max}}}"),
                };
                let into = raw.into.as_ref().map(|i| i.get_ref().clone());
                if into.is_none() {
                    check.error(
                        raw.kind.span(),
                        "a `collect` node needs `into` (a variable name)",
                    );
                }
                let next = self.required(&raw.next, "next", raw, check);
                let on_fail = self.required(&raw.on_fail, "on_fail", raw, check);
                let input = self.input(raw, min, max, pattern, check)?;
                Some(Node::Collect {
                    input,
                    into: into?,
                    next: next?,
                    on_fail: on_fail?,
                })
            }
            "survey" => {
                let next = self.required(&raw.next, "next", raw, check);
                let input = self.input(raw, 1, 1, "[1-5]".into(), check)?;
                Some(Node::Survey { input, next: next? })
            }
            "lookup_customer" => {
                let by = match raw.by.as_ref().map(|b| (b.get_ref().as_str(), b.span())) {
                    None | Some(("caller_number", _)) => Some(LookupBy::CallerNumber),
                    Some(("variable", _)) => match &raw.variable {
                        Some(v) => Some(LookupBy::Variable(v.get_ref().clone())),
                        None => {
                            check.error(raw.kind.span(), "`by = \"variable\"` needs `variable`");
                            None
                        }
                    },
                    Some((other, span)) => {
                        check.error(
                            span,
                            format!("`by` is `caller_number` or `variable`, not `{other}`"),
                        );
                        None
                    }
                };
                let found = self.required(&raw.found, "found", raw, check);
                let not_found = self.required(&raw.not_found, "not_found", raw, check);
                Some(Node::Lookup {
                    by: by?,
                    found: found?,
                    not_found: not_found?,
                })
            }
            "branch" => {
                let cases: Vec<Option<Case>> = raw
                    .cases
                    .iter()
                    .flatten()
                    .map(|c| self.case(c, check))
                    .collect();
                let otherwise = self.required(&raw.otherwise, "otherwise", raw, check);
                Some(Node::Branch {
                    cases: cases.into_iter().collect::<Option<_>>()?,
                    otherwise: otherwise?,
                })
            }
            "set" => {
                let written = raw.vars.as_ref();
                if let Some(lang) = written.and_then(|vars| vars.get(LANG)) {
                    self.check_language(lang, check);
                }
                let vars = written
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.clone(), value.get_ref().clone()))
                    .collect();
                let channel = raw
                    .channel
                    .iter()
                    .flatten()
                    .map(|(k, v)| {
                        if !is_word(k) || v.get_ref().chars().any(char::is_whitespace) {
                            check.error(
                                v.span(),
                                "channel variables are words, their values have no spaces",
                            );
                        }
                        (k.clone(), v.get_ref().clone())
                    })
                    .collect();
                let next = self.required(&raw.next, "next", raw, check)?;
                Some(Node::Set {
                    vars,
                    channel,
                    next,
                })
            }
            "queue" => {
                let mut skills = Vec::new();
                for s in raw.skills.iter().flatten() {
                    let skill = Skill::new(s.get_ref());
                    if !self.known.skills.contains(&skill) {
                        check.error(
                            s.span(),
                            format!("no skill named `{}` in the configuration", s.get_ref()),
                        );
                    }
                    skills.push(skill);
                }
                let queue = match &raw.queue {
                    Some(q) if self.known.queues.contains(&QueueId::new(q.get_ref())) => {
                        QueueId::new(q.get_ref())
                    }
                    Some(q) => {
                        check.error(
                            q.span(),
                            format!("no queue named `{}` in the configuration", q.get_ref()),
                        );
                        return None;
                    }
                    None => {
                        check.error(raw.kind.span(), "a `queue` node needs `queue`");
                        return None;
                    }
                };
                let priority_bonus = raw.priority_bonus.unwrap_or(0);
                Some(Node::Queue {
                    queue,
                    priority_bonus,
                    skills,
                    reason: raw.reason.clone(),
                })
            }
            "callback_offer" => self.callback_offer(raw, check),
            "transfer" => match (&raw.number, &raw.flow) {
                (Some(n), None) if is_dialable(n.get_ref()) => {
                    Some(Node::TransferNumber(n.get_ref().clone()))
                }
                (Some(n), None) => {
                    check.error(n.span(), "a number is digits, `+`, `*` or `#`");
                    None
                }
                (None, Some(f)) if self.known.flows.contains(f.get_ref()) => {
                    Some(Node::TransferFlow(f.get_ref().clone()))
                }
                (None, Some(f)) => {
                    check.error(f.span(), format!("no flow named `{}`", f.get_ref()));
                    None
                }
                _ => {
                    check.error(
                        raw.kind.span(),
                        "a `transfer` node needs either `number` or `flow`",
                    );
                    None
                }
            },
            "hangup" => {
                let cause = raw
                    .cause
                    .as_ref()
                    .map_or("NORMAL_CLEARING", |c| c.get_ref().as_str());
                if !cause.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    let span = raw.cause.as_ref().map_or(raw.kind.span(), Spanned::span);
                    check.error(
                        span,
                        format!("`{cause}` is not a hangup cause (NORMAL_CLEARING, …)"),
                    );
                }
                Some(Node::Hangup(cause.to_owned()))
            }
            other => {
                check.error(
                    raw.kind.span(),
                    format!("unknown node kind `{other}` (play, menu, collect, survey, lookup_customer, branch, set, queue, callback_offer, transfer, hangup)"),
                );
                None
            }
        }
    }

    /// Fields set that this kind does not use are mistakes: say so rather than ignore them.
    fn refuse_foreign_fields(&self, raw: &RawNode, check: &mut Checker) {
        let kind = raw.kind.get_ref().as_str();
        let allowed: &[&str] = match kind {
            "play" => &["prompt", "next"],
            "menu" => &[
                "prompt",
                "invalid_prompt",
                "options",
                "tries",
                "timeout",
                "on_fail",
            ],
            "collect" => &[
                "prompt",
                "invalid_prompt",
                "tries",
                "timeout",
                "min",
                "max",
                "pattern",
                "into",
                "next",
                "on_fail",
            ],
            "survey" => &["prompt", "invalid_prompt", "tries", "timeout", "next"],
            "lookup_customer" => &["by", "variable", "found", "not_found"],
            "branch" => &["cases", "otherwise"],
            "set" => &["vars", "channel", "next"],
            "queue" => &["queue", "priority_bonus", "skills", "reason"],
            "callback_offer" => &[
                "next",
                "wait_above",
                "prompt",
                "number_prompt",
                "confirm_prompt",
                "confirm_keys_prompt",
                "goodbye_prompt",
                "invalid_prompt",
                "tries",
                "timeout",
                "min",
                "max",
            ],
            "transfer" => &["number", "flow"],
            "hangup" => &["cause"],
            _ => return,
        };
        let present = [
            ("prompt", raw.prompt.is_some()),
            ("invalid_prompt", raw.invalid_prompt.is_some()),
            ("number_prompt", raw.number_prompt.is_some()),
            ("confirm_prompt", raw.confirm_prompt.is_some()),
            ("confirm_keys_prompt", raw.confirm_keys_prompt.is_some()),
            ("goodbye_prompt", raw.goodbye_prompt.is_some()),
            ("next", raw.next.is_some()),
            ("on_fail", raw.on_fail.is_some()),
            ("options", raw.options.is_some()),
            ("tries", raw.tries.is_some()),
            ("timeout", raw.timeout.is_some()),
            ("min", raw.min.is_some()),
            ("max", raw.max.is_some()),
            ("pattern", raw.pattern.is_some()),
            ("into", raw.into.is_some()),
            ("by", raw.by.is_some()),
            ("variable", raw.variable.is_some()),
            ("found", raw.found.is_some()),
            ("not_found", raw.not_found.is_some()),
            ("cases", raw.cases.is_some()),
            ("otherwise", raw.otherwise.is_some()),
            ("vars", raw.vars.is_some()),
            ("channel", raw.channel.is_some()),
            ("queue", raw.queue.is_some()),
            ("priority_bonus", raw.priority_bonus.is_some()),
            ("skills", raw.skills.is_some()),
            ("reason", raw.reason.is_some()),
            ("number", raw.number.is_some()),
            ("flow", raw.flow.is_some()),
            ("cause", raw.cause.is_some()),
            ("wait_above", raw.wait_above.is_some()),
        ];
        for (field, set) in present {
            if set && !allowed.contains(&field) {
                check.error(
                    raw.kind.span(),
                    format!("a `{kind}` node does not take `{field}`"),
                );
            }
        }
    }

    fn options(&self, raw: &RawNode, check: &mut Checker) -> BTreeMap<String, NodeIx> {
        let mut out = BTreeMap::new();
        let Some(options) = &raw.options else {
            check.error(
                raw.kind.span(),
                "a `menu` node needs `options` (digit = node)",
            );
            return out;
        };
        for (digit, target) in options {
            let key = digit.get_ref();
            if key.len() != 1
                || !key
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                check.error(
                    digit.span(),
                    format!("option `{key}`: one key, 0-9, * or #"),
                );
            }
            if let Some(ix) = self.target(target, check) {
                out.insert(key.clone(), ix);
            }
        }
        if options.is_empty() {
            check.error(raw.kind.span(), "a `menu` needs at least one option");
        }
        out
    }

    fn input(
        &self,
        raw: &RawNode,
        min: u32,
        max: u32,
        pattern: String,
        check: &mut Checker,
    ) -> Option<Input> {
        let prompt = self.one_prompt(raw, check);
        let settings = self.digit_settings(raw, check);
        Some(settings.input(prompt?, min, max, pattern))
    }

    /// The `prompt` of a digits node: one sound file.
    fn one_prompt(&self, raw: &RawNode, check: &mut Checker) -> Option<Prompt> {
        let prompt = self.prompts(raw, check)?;
        if prompt.len() != 1 {
            let span = raw.prompt.as_ref().map_or(raw.kind.span(), Spanned::span);
            check.error(span, "a digits prompt is one sound file or text");
        }
        prompt.into_iter().next()
    }

    /// `invalid_prompt`, `tries` and `timeout` of a node that asks for digits.
    fn digit_settings(&self, raw: &RawNode, check: &mut Checker) -> DigitSettings {
        let invalid_prompt = match &raw.invalid_prompt {
            Some(p) => self.prompt(p.get_ref(), p.span(), check),
            None => Prompt::given(DEFAULT_INVALID),
        };
        let tries = raw.tries.as_ref().map_or(DEFAULT_TRIES, |t| *t.get_ref());
        if !(1..=10).contains(&tries) {
            let span = raw.tries.as_ref().map_or(raw.kind.span(), Spanned::span);
            check.error(span, "`tries` is 1 to 10");
        }
        let timeout = match &raw.timeout {
            Some(t) => match humantime_serde::re::humantime::parse_duration(t.get_ref()) {
                Ok(d) if d >= Duration::from_secs(1) => d,
                _ => {
                    check.error(
                        t.span(),
                        format!("`{}`: a duration of at least 1s (e.g. \"5s\")", t.get_ref()),
                    );
                    DEFAULT_TIMEOUT
                }
            },
            None => DEFAULT_TIMEOUT,
        };
        DigitSettings {
            invalid_prompt,
            tries,
            timeout,
        }
    }

    fn pattern(&self, pattern: &Spanned<String>, check: &mut Checker) -> Option<String> {
        let text = pattern.get_ref();
        if text.chars().any(char::is_whitespace) {
            check.error(
                pattern.span(),
                "a pattern has no spaces (FreeSWITCH splits arguments on spaces)",
            );
            return None;
        }
        match regex::Regex::new(text) {
            Ok(_) => Some(text.clone()),
            Err(error) => {
                let reason = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .trim_start_matches("error: ")
                    .to_owned();
                check.error(pattern.span(), format!("invalid pattern: {reason}"));
                None
            }
        }
    }

    fn case(&self, raw: &Spanned<RawCase>, check: &mut Checker) -> Option<Case> {
        let c = raw.get_ref();
        let mut case = Case {
            next: self.target(&c.next, check)?,
            ..Case::default()
        };
        if let Some(tiers) = &c.tier {
            for t in tiers {
                if !self.known.tiers.contains(&TierId::new(t.get_ref())) {
                    check.error(
                        t.span(),
                        format!("no tier named `{}` in the configuration", t.get_ref()),
                    );
                }
            }
            case.tiers = Some(tiers.iter().map(|t| TierId::new(t.get_ref())).collect());
        }
        if let Some(customer) = &c.customer {
            case.customer_known = match customer.get_ref().as_str() {
                "known" => Some(true),
                "unknown" => Some(false),
                other => {
                    check.error(
                        customer.span(),
                        format!("`customer` is `known` or `unknown`, not `{other}`"),
                    );
                    None
                }
            };
        }
        for (field, slot) in [(&c.open, &mut case.open), (&c.closed, &mut case.closed)] {
            if let Some(name) = field {
                if !self.hours.contains_key(name.get_ref()) {
                    check.error(
                        name.span(),
                        format!("no hours named `{}` in this flow", name.get_ref()),
                    );
                }
                *slot = Some(name.get_ref().clone());
            }
        }
        match (&c.variable, &c.equals) {
            (Some(v), Some(value)) => case.variable = Some((v.get_ref().clone(), value.clone())),
            (None, None) => {}
            _ => check.error(raw.span(), "`variable` and `equals` go together"),
        }
        case.queue = self.queue_condition(raw, check);
        let conditions = [
            case.tiers.is_some(),
            c.customer.is_some(),
            case.open.is_some(),
            case.closed.is_some(),
            case.variable.is_some(),
            // A queue condition with a mistake has its own error already.
            c.queue.is_some() || c.wait_above.is_some() || c.agents_below.is_some(),
        ];
        if !conditions.contains(&true) {
            check.error(
                raw.span(),
                "a case needs a condition (tier, customer, open, closed, variable, or queue with wait_above or agents_below)",
            );
        }
        Some(case)
    }

    /// `queue` with `wait_above` and/or `agents_below`: a condition on live figures.
    fn queue_condition(
        &self,
        raw: &Spanned<RawCase>,
        check: &mut Checker,
    ) -> Option<QueueCondition> {
        let c = raw.get_ref();
        let Some(queue) = &c.queue else {
            if c.wait_above.is_some() || c.agents_below.is_some() {
                check.error(raw.span(), "`wait_above` and `agents_below` need `queue`");
            }
            return None;
        };
        if !self.known.queues.contains(&QueueId::new(queue.get_ref())) {
            check.error(
                queue.span(),
                format!("no queue named `{}` in the configuration", queue.get_ref()),
            );
        }
        if c.wait_above.is_none() && c.agents_below.is_none() {
            check.error(queue.span(), "`queue` needs `wait_above` or `agents_below`");
            return None;
        }
        let wait_above = match &c.wait_above {
            Some(text) => match humantime_serde::re::humantime::parse_duration(text.get_ref()) {
                Ok(wait) => Some(wait),
                Err(_) => {
                    let message = format!("`{}`: a duration (e.g. \"2m\")", text.get_ref());
                    check.error(text.span(), message);
                    return None;
                }
            },
            None => None,
        };
        Some(QueueCondition {
            queue: QueueId::new(queue.get_ref()),
            wait_above,
            agents_below: c.agents_below,
        })
    }
}

/// What every digits prompt of a node shares: `invalid_prompt`, `tries`, `timeout`.
struct DigitSettings {
    invalid_prompt: Prompt,
    tries: u32,
    timeout: Duration,
}

impl DigitSettings {
    fn input(&self, prompt: Prompt, min: u32, max: u32, pattern: String) -> Input {
        Input {
            prompt,
            invalid_prompt: self.invalid_prompt.clone(),
            min,
            max,
            tries: self.tries,
            timeout: self.timeout,
            pattern,
        }
    }
}

/// Unreachable nodes, and loops a call could go round forever without pressing a key.
fn graph_checks(
    start: NodeIx,
    nodes: &[Node],
    names: &[String],
    kinds: &[Range<usize>],
    check: &mut Checker,
) {
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![start];
    while let Some(ix) = stack.pop() {
        if !std::mem::replace(&mut seen[ix], true) {
            stack.extend(successors(&nodes[ix]));
        }
    }
    for (ix, reached) in seen.iter().enumerate() {
        if !reached {
            check.error(
                kinds[ix].clone(),
                format!("node `{}` is unreachable from `start`", names[ix]),
            );
        }
    }
    // Among nodes that take no input, any cycle repeats forever. A `callback_offer` counts
    // as one (with a short wait it asks nothing); it only leads to a `queue` node anyway.
    let silent = |n: &Node| {
        !matches!(
            n,
            Node::Menu { .. } | Node::Collect { .. } | Node::Survey { .. }
        )
    };
    let mut state = vec![0u8; nodes.len()]; // 0 new, 1 on the path, 2 done
    let mut reported = BTreeSet::new();
    for root in 0..nodes.len() {
        find_silent_cycle(root, nodes, &silent, &mut state, &mut reported);
    }
    for ix in reported {
        check.error(
            kinds[ix].clone(),
            format!(
                "node `{}` is on a loop that repeats forever without caller input",
                names[ix]
            ),
        );
    }
}

fn find_silent_cycle(
    ix: NodeIx,
    nodes: &[Node],
    silent: &dyn Fn(&Node) -> bool,
    state: &mut [u8],
    reported: &mut BTreeSet<NodeIx>,
) {
    if state[ix] != 0 || !silent(&nodes[ix]) {
        return;
    }
    state[ix] = 1;
    for next in successors(&nodes[ix]) {
        if state[next] == 1 {
            reported.insert(next);
        } else {
            find_silent_cycle(next, nodes, silent, state, reported);
        }
    }
    state[ix] = 2;
}

fn successors(node: &Node) -> Vec<NodeIx> {
    match node {
        Node::Play { next, .. } | Node::Set { next, .. } | Node::Survey { next, .. } => {
            vec![*next]
        }
        Node::Menu {
            options, on_fail, ..
        } => options.values().copied().chain([*on_fail]).collect(),
        Node::Collect { next, on_fail, .. } => vec![*next, *on_fail],
        Node::CallbackOffer(offer) => vec![offer.next],
        Node::Lookup {
            found, not_found, ..
        } => vec![*found, *not_found],
        Node::Branch { cases, otherwise } => {
            cases.iter().map(|c| c.next).chain([*otherwise]).collect()
        }
        Node::Queue { .. } | Node::TransferNumber(_) | Node::TransferFlow(_) | Node::Hangup(_) => {
            Vec::new()
        }
    }
}

/// `${name}` references in a prompt.
pub(crate) fn variables_in(prompt: &str) -> impl Iterator<Item = &str> {
    prompt
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

fn is_word(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_dialable(number: &str) -> bool {
    !number.is_empty()
        && number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'))
}
