//! One call's run through a flow: a small state machine. Each method returns the next
//! [`Step`] for the engine to carry out; the run then waits for the matching report
//! (`on_app_done`, `on_customer`). Pure: time arrives as `now`. The `callback_offer` node's
//! questions are in `callback`.

mod callback;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::flow::{
    Case, Flow, Input, LANG, LookupBy, Node, NodeIx, Prompt, QueueCondition, is_text,
};
use super::parse::variables_in;
use super::{AppResult, CallContext, CustomerInfo, LookupKey, PathStep, Step};
use crate::domain::Timestamp;

/// A run passing this many nodes is cut with a hang-up: the validator refuses loops without
/// input, so only a caller pressing wrong keys forever gets here.
const MAX_STEPS: u32 = 200;

/// The cause when a run is cut.
const CUT_CAUSE: &str = "RECOVERY_ON_TIMER_EXPIRE";

/// One call's run through a flow.
#[derive(Debug)]
pub struct IvrRun {
    flow: Arc<Flow>,
    at: NodeIx,
    vars: BTreeMap<String, String>,
    /// Channel variables of a `set` node still to send, one `set` execute each.
    pending_sets: VecDeque<(String, String)>,
    customer_known: bool,
    steps: u32,
    path: Vec<PathStep>,
    /// The score a `survey` node got, 1–5.
    survey_score: Option<u8>,
    /// Which question of a `callback_offer` node the caller is answering.
    callback: Option<callback::Question>,
}

impl IvrRun {
    /// Starts `flow` for a call; the first step is what to do now.
    pub fn start(flow: Arc<Flow>, ctx: &CallContext, now: Timestamp) -> (IvrRun, Step) {
        IvrRun::start_with(flow, BTreeMap::new(), ctx, now)
    }

    /// Starts `flow` with variables an earlier run set (the caller's language, for the
    /// post-call survey); the flow's own fill in the rest.
    pub fn start_with(
        flow: Arc<Flow>,
        mut vars: BTreeMap<String, String>,
        ctx: &CallContext,
        now: Timestamp,
    ) -> (IvrRun, Step) {
        for (name, value) in &flow.vars {
            vars.entry(name.clone()).or_insert_with(|| value.clone());
        }
        let mut run = IvrRun {
            at: flow.start,
            vars,
            flow,
            pending_sets: VecDeque::new(),
            customer_known: false,
            steps: 0,
            path: Vec::new(),
            survey_score: None,
            callback: None,
        };
        let step = run.enter(run.at, ctx, now);
        (run, step)
    }

    /// Goes on in another flow (a `transfer` to a flow), keeping the path and variables.
    pub fn continue_in(&mut self, flow: Arc<Flow>, ctx: &CallContext, now: Timestamp) -> Step {
        for (name, value) in &flow.vars {
            self.vars
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        let start = flow.start;
        self.flow = flow;
        self.enter(start, ctx, now)
    }

    /// The application the last step started has completed.
    pub fn on_app_done(&mut self, result: AppResult, ctx: &CallContext, now: Timestamp) -> Step {
        let flow = self.flow.clone();
        match &flow.nodes[self.at] {
            Node::Play { next, .. } => self.enter(*next, ctx, now),
            Node::Set { next, .. } => match self.pending_sets.pop_front() {
                Some(set) => set_channel(set),
                None => self.enter(*next, ctx, now),
            },
            Node::Menu {
                options, on_fail, ..
            } => {
                let chosen = match &result {
                    AppResult::Digits(d) => options.get(d.as_str()).copied(),
                    AppResult::Done | AppResult::NoInput => None,
                };
                self.note_digits(&result);
                self.enter(chosen.unwrap_or(*on_fail), ctx, now)
            }
            Node::Collect {
                into,
                next,
                on_fail,
                ..
            } => {
                self.note_digits(&result);
                match result {
                    AppResult::Digits(d) => {
                        self.vars.insert(into.clone(), d);
                        self.enter(*next, ctx, now)
                    }
                    AppResult::Done | AppResult::NoInput => self.enter(*on_fail, ctx, now),
                }
            }
            Node::Survey { next, .. } => {
                self.note_digits(&result);
                if let AppResult::Digits(d) = &result {
                    // FreeSWITCH checked `[1-5]`; what arrives from the network is checked again.
                    self.survey_score = d.parse().ok().filter(|s| (1..=5).contains(s));
                }
                self.enter(*next, ctx, now)
            }
            Node::CallbackOffer(offer) => self.on_callback_answer(offer, result, ctx, now),
            // A report for a node that started no application: a stale event, stay put.
            Node::Lookup { .. }
            | Node::Branch { .. }
            | Node::Queue { .. }
            | Node::TransferNumber(_)
            | Node::TransferFlow(_)
            | Node::Hangup(_) => Step::Wait,
        }
    }

    /// The customer lookup the last step asked for has finished.
    pub fn on_customer(
        &mut self,
        found: Option<CustomerInfo>,
        ctx: &CallContext,
        now: Timestamp,
    ) -> Step {
        let Node::Lookup {
            found: yes,
            not_found: no,
            ..
        } = &self.flow.nodes[self.at]
        else {
            return Step::Wait;
        };
        let next = if found.is_some() { *yes } else { *no };
        if let Some(customer) = found {
            self.customer_known = true;
            self.vars
                .insert("customer_tier".into(), customer.tier.to_string());
        }
        self.enter(next, ctx, now)
    }

    /// The nodes entered so far, with digits and times.
    pub fn path(&self) -> &[PathStep] {
        &self.path
    }

    /// The run's variables (passed on to the post-call survey).
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The score the caller gave in a `survey` node, if any.
    pub fn survey_score(&self) -> Option<u8> {
        self.survey_score
    }

    /// The flow the call is in now.
    pub fn flow_name(&self) -> &str {
        &self.flow.name
    }

    /// Enters nodes until one needs FreeSWITCH, the database or the engine.
    fn enter(&mut self, mut ix: NodeIx, ctx: &CallContext, now: Timestamp) -> Step {
        let flow = self.flow.clone();
        self.callback = None;
        loop {
            if !self.record(flow.names[ix].clone(), now) {
                return cut();
            }
            self.at = ix;
            match &flow.nodes[ix] {
                Node::Play { prompts, .. } => {
                    return Step::Execute {
                        app: "playback".into(),
                        arg: self.playlist(prompts),
                    };
                }
                Node::Menu { input, .. }
                | Node::Collect { input, .. }
                | Node::Survey { input, .. } => {
                    return Step::Execute {
                        app: "play_and_get_digits".into(),
                        arg: self.digits_arg(input),
                    };
                }
                Node::CallbackOffer(offer) => match self.offer_callback(offer, ctx) {
                    Some(step) => return step,
                    None => ix = offer.next,
                },
                Node::Lookup { by, not_found, .. } => {
                    let by = match by {
                        LookupBy::CallerNumber => LookupKey::CallerNumber,
                        LookupBy::Variable(name) => match self.vars.get(name) {
                            Some(value) => LookupKey::Account(value.clone()),
                            None => {
                                ix = *not_found; // nothing collected: nothing to look up
                                continue;
                            }
                        },
                    };
                    return Step::LookupCustomer { by };
                }
                Node::Branch { cases, otherwise } => {
                    ix = cases
                        .iter()
                        .find(|c| self.holds(c, ctx, now))
                        .map_or(*otherwise, |c| c.next);
                }
                Node::Set {
                    vars,
                    channel,
                    next,
                } => {
                    self.vars.extend(vars.clone());
                    self.pending_sets = channel.iter().cloned().collect();
                    match self.pending_sets.pop_front() {
                        Some(set) => return set_channel(set),
                        None => ix = *next,
                    }
                }
                Node::Queue {
                    queue,
                    priority_bonus,
                    skills,
                    reason,
                } => {
                    return Step::Enqueue {
                        queue: queue.clone(),
                        priority_bonus: *priority_bonus,
                        extra_skills: skills.clone(),
                        reason: reason.clone(),
                    };
                }
                Node::TransferNumber(number) => {
                    return Step::Transfer { to: number.clone() };
                }
                Node::TransferFlow(name) => {
                    return Step::StartFlow { flow: name.clone() };
                }
                Node::Hangup(cause) => {
                    return Step::Hangup {
                        cause: cause.clone(),
                    };
                }
            }
        }
    }

    fn holds(&self, case: &Case, ctx: &CallContext, now: Timestamp) -> bool {
        let open = |name: &String| self.flow.hours.get(name).is_some_and(|h| h.is_open(now));
        case.tiers.as_ref().is_none_or(|t| t.contains(ctx.tier))
            && case.customer_known.is_none_or(|k| k == self.customer_known)
            && case.open.as_ref().is_none_or(open)
            && case.closed.as_ref().is_none_or(|name| !open(name))
            && case
                .variable
                .as_ref()
                .is_none_or(|(name, value)| self.vars.get(name) == Some(value))
            && case.queue.as_ref().is_none_or(|q| queue_holds(q, ctx))
    }

    /// Counts one step of the run and adds it to the path; false once the run is too long.
    fn record(&mut self, node: String, now: Timestamp) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return false;
        }
        self.path.push(PathStep {
            node,
            digits: None,
            at: now,
        });
        true
    }

    fn note_digits(&mut self, result: &AppResult) {
        if let (AppResult::Digits(d), Some(last)) = (result, self.path.last_mut()) {
            last.digits = Some(d.clone());
        }
    }

    /// One prompt, or several chained with `file_string://` (one `playback`).
    fn playlist(&self, prompts: &[Prompt]) -> String {
        let files: Vec<String> = prompts.iter().map(|p| self.resolve(p)).collect();
        match files.as_slice() {
            [one] => one.clone(),
            many => format!("file_string://{}", many.join("!")),
        }
    }

    /// `play_and_get_digits <min> <max> <tries> <timeout_ms> <terminators> <prompt>
    /// <invalid_prompt> <var> <regex> <digit_timeout_ms>`; the digits come back in
    /// `kefu_digits`, which the ESL layer reads.
    fn digits_arg(&self, input: &Input) -> String {
        self.digits_arg_playing(input, &self.resolve(&input.prompt))
    }

    /// [`Self::digits_arg`] with a prompt built at run time (variables already expanded).
    fn digits_arg_playing(&self, input: &Input, prompt: &str) -> String {
        format!(
            "{} {} {} {} # {} {} kefu_digits ^{}$ {}",
            input.min,
            input.max,
            input.tries,
            input.timeout.as_millis(),
            digits_argument(prompt),
            digits_argument(&self.resolve(&input.invalid_prompt)),
            input.pattern,
            DIGIT_TIMEOUT_MS,
        )
    }

    /// A prompt as FreeSWITCH gets it: `@name` taken from the prompt set of the run's
    /// `lang` now (the flow's starting language's set when `lang` names none), then
    /// `${name}` expanded.
    fn resolve(&self, prompt: &Prompt) -> String {
        match prompt {
            Prompt::Given(written) => self.expand(written),
            Prompt::Named(name) => {
                let lang = self.vars.get(LANG).map(String::as_str);
                // The validator put every name in every set, and gave the fallback a set.
                self.expand(self.flow.prompts.get(lang, name).unwrap_or_default())
            }
        }
    }

    /// `${name}` replaced by the run's variables (the validator made sure they exist).
    fn expand(&self, prompt: &str) -> String {
        let mut out = prompt.to_owned();
        for name in variables_in(prompt) {
            let value = self.vars.get(name).map_or("", String::as_str);
            out = out.replace(&format!("${{{name}}}"), value);
        }
        out
    }
}

/// How long FreeSWITCH waits between keys of a multi-digit entry.
const DIGIT_TIMEOUT_MS: u32 = 3000;

/// A prompt as one argument of play_and_get_digits. Its arguments are split on spaces by
/// switch_separate_string, which keeps a `'`-quoted run together and strips the quotes
/// (switch_utils.c, separate_string_blank_delim, cleanup_separated_string), so `say:` text
/// with spaces is quoted; the validator keeps `'` and `\` out of text.
fn digits_argument(prompt: &str) -> String {
    if is_text(prompt) {
        format!("'{prompt}'")
    } else {
        prompt.to_owned()
    }
}

/// A condition on live figures; an unknown estimated wait is never "above".
fn queue_holds(condition: &QueueCondition, ctx: &CallContext) -> bool {
    let live = ctx.queues;
    condition.wait_above.is_none_or(|limit| {
        live.estimated_wait(&condition.queue)
            .is_some_and(|wait| wait > limit)
    }) && condition
        .agents_below
        .is_none_or(|n| live.agents_serving(&condition.queue) < n)
}

/// The hang-up of a run that passed [`MAX_STEPS`].
fn cut() -> Step {
    Step::Hangup {
        cause: CUT_CAUSE.into(),
    }
}

fn set_channel((name, value): (String, String)) -> Step {
    Step::Execute {
        app: "set".into(),
        arg: format!("{name}={value}"),
    }
}

#[cfg(test)]
mod tests;
