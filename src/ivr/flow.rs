//! A validated flow: nodes by index, every target resolved, every name checked against the
//! configuration. Built only by `parse` (from a flow file); the interpreter trusts it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

use crate::domain::{QueueId, Skill, TierId, Timestamp};

/// A node's index in its flow.
pub(crate) type NodeIx = usize;

/// How a text prompt starts once loaded (`say:` or `speak:` in the file): FreeSWITCH's
/// switch_ivr_play_file speaks the rest with the channel's `tts_engine` and `tts_voice`.
pub(crate) const TEXT_PREFIX: &str = "say:";

/// Whether a loaded prompt is text for the TTS engine rather than a sound path.
pub(crate) fn is_text(prompt: &str) -> bool {
    prompt.starts_with(TEXT_PREFIX)
}

/// The run variable whose value picks the prompt set (`@name` prompts).
pub(crate) const LANG: &str = "lang";

/// A prompt as a node holds it.
#[derive(Clone, Debug)]
pub(crate) enum Prompt {
    /// A sound path (`${name}` expanded when played) or `say:` text.
    Given(String),
    /// `@name` in the file: that entry of the prompt set of the run's `lang`, looked up
    /// each time it is played.
    Named(String),
}

impl Prompt {
    /// A fixed sound path or text (the defaults).
    pub(crate) fn given(prompt: &str) -> Prompt {
        Prompt::Given(prompt.to_owned())
    }
}

/// A flow's `[prompts.<lang>]` tables. Every set has the same names and the flow's starting
/// `lang` has a set (both checked at load).
#[derive(Debug, Default)]
pub(crate) struct PromptSets {
    /// Prompts by language, then name; each loaded like a [`Prompt::Given`].
    pub sets: BTreeMap<String, BTreeMap<String, String>>,
    /// The flow's starting `lang`: its set serves a run whose `lang` names no set.
    pub fallback: String,
}

impl PromptSets {
    /// The prompt `name` of the set of `lang`, or of the fallback set when `lang` names
    /// none (a language another flow or a `collect` node put in `lang`).
    pub(crate) fn get(&self, lang: Option<&str>, name: &str) -> Option<&str> {
        let set = lang
            .and_then(|lang| self.sets.get(lang))
            .or_else(|| self.sets.get(&self.fallback))?;
        set.get(name).map(String::as_str)
    }

    /// The languages whose prompt `name` is text.
    pub(crate) fn text_in<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.sets
            .iter()
            .filter(move |(_, set)| set.get(name).is_some_and(|p| is_text(p)))
            .map(|(lang, _)| lang.as_str())
    }
}

/// One IVR flow (one file).
#[derive(Debug)]
pub struct Flow {
    /// Its name: the file stem.
    pub name: String,
    pub(crate) start: NodeIx,
    pub(crate) nodes: Vec<Node>,
    /// Node names, by index (for the call's path).
    pub(crate) names: Vec<String>,
    /// Variables every run starts with (`${name}` in prompts).
    pub(crate) vars: BTreeMap<String, String>,
    /// `[prompts.<lang>]`: what `@name` prompts play, per language (empty without).
    pub(crate) prompts: PromptSets,
    pub(crate) hours: BTreeMap<String, Hours>,
}

impl Flow {
    /// How many nodes it has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true for a valid flow (a start node is required).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether a node queues calls to `queue` or branches on its figures.
    pub fn uses_queue(&self, queue: &QueueId) -> bool {
        self.nodes.iter().any(|node| match node {
            Node::Queue { queue: q, .. } => q == queue,
            Node::Branch { cases, .. } => cases
                .iter()
                .any(|c| c.queue.as_ref().is_some_and(|c| c.queue == *queue)),
            _ => false,
        })
    }

    /// Whether a `queue` node asks for `skill`.
    pub fn uses_skill(&self, skill: &Skill) -> bool {
        self.nodes.iter().any(|node| match node {
            Node::Queue { skills, .. } => skills.contains(skill),
            _ => false,
        })
    }
}

/// What one node does.
#[derive(Debug)]
pub(crate) enum Node {
    /// Plays prompts, then goes on.
    Play { prompts: Vec<Prompt>, next: NodeIx },
    /// One key from a set of options; FreeSWITCH replays the prompt on bad or no input.
    Menu {
        input: Input,
        options: BTreeMap<String, NodeIx>,
        on_fail: NodeIx,
    },
    /// Several digits into a variable.
    Collect {
        input: Input,
        into: String,
        next: NodeIx,
        on_fail: NodeIx,
    },
    /// The post-call question: one key 1–5, the caller's satisfaction score.
    Survey { input: Input, next: NodeIx },
    /// Looks the customer up, by caller number or by a collected variable.
    Lookup {
        by: LookupBy,
        found: NodeIx,
        not_found: NodeIx,
    },
    /// The first case that holds picks the next node.
    Branch { cases: Vec<Case>, otherwise: NodeIx },
    /// Sets run variables and channel variables.
    Set {
        vars: BTreeMap<String, String>,
        channel: Vec<(String, String)>,
        next: NodeIx,
    },
    /// Offers a call back when the wait of the queue of `next` (a `queue` node) is long;
    /// otherwise, and whenever the caller does not finish, goes on to `next`.
    CallbackOffer(Box<CallbackOffer>),
    /// Ends the IVR in a queue.
    Queue {
        queue: QueueId,
        priority_bonus: i32,
        skills: Vec<Skill>,
        reason: Option<String>,
    },
    /// Ends the IVR with a transfer to a number (FreeSWITCH dialplan).
    TransferNumber(String),
    /// Goes on in another flow.
    TransferFlow(String),
    /// Hangs up.
    Hangup(String),
}

/// A digits prompt, as `play_and_get_digits` takes it.
#[derive(Debug)]
pub(crate) struct Input {
    /// A sound path, or `say:` text (quoted when the argument is built).
    pub prompt: Prompt,
    /// The same.
    pub invalid_prompt: Prompt,
    pub min: u32,
    pub max: u32,
    pub tries: u32,
    pub timeout: Duration,
    /// Whole-input pattern (no spaces: the application's arguments are space-separated).
    pub pattern: String,
}

/// A `callback_offer` node: three questions, each a digits prompt.
#[derive(Debug)]
pub(crate) struct CallbackOffer {
    /// A `queue` node (checked at load): its queue's wait is checked, and the call back
    /// takes its queue, priority bonus, skills and reason.
    pub next: NodeIx,
    /// Offered only when the estimated wait is known and longer.
    pub wait_above: Duration,
    /// "Press 1 to be called back on this number, 2 for another": one key, `[12]`.
    pub offer: Input,
    /// "Type the number, then #": `min..=max` digits.
    pub number: Input,
    /// "We will call you back on": the number's digits and `confirm_keys` follow it in one
    /// playlist; one key, `[12]`.
    pub confirm: Input,
    /// "Press 1 if that is right, 2 to give another number".
    pub confirm_keys: Prompt,
    /// Played before the hang-up once the caller confirmed.
    pub goodbye: Prompt,
}

/// Where a lookup takes its key.
#[derive(Debug)]
pub(crate) enum LookupBy {
    CallerNumber,
    Variable(String),
}

/// One condition of a branch; every given part must hold.
#[derive(Debug, Default)]
pub(crate) struct Case {
    pub tiers: Option<Vec<TierId>>,
    pub customer_known: Option<bool>,
    /// Named opening hours: holds while open.
    pub open: Option<String>,
    /// Named opening hours: holds while closed.
    pub closed: Option<String>,
    pub variable: Option<(String, String)>,
    pub queue: Option<QueueCondition>,
    pub next: NodeIx,
}

/// A condition on a queue's live figures; every given part must hold.
#[derive(Debug)]
pub(crate) struct QueueCondition {
    pub queue: QueueId,
    /// Holds when a new caller's estimated wait is known and longer.
    pub wait_above: Option<Duration>,
    /// Holds when fewer agents serve the queue.
    pub agents_below: Option<u32>,
}

/// Opening hours in a time zone, with closed days.
#[derive(Debug)]
pub(crate) struct Hours {
    pub timezone: Tz,
    pub days: Vec<Weekday>,
    pub open: NaiveTime,
    pub close: NaiveTime,
    pub holidays: Vec<NaiveDate>,
}

impl Hours {
    /// Whether `now` falls in the opening hours (local time of the zone).
    pub(crate) fn is_open(&self, now: Timestamp) -> bool {
        let local = now.to_utc().with_timezone(&self.timezone);
        let (date, time) = (local.date_naive(), local.time());
        self.days.contains(&date.weekday())
            && !self.holidays.contains(&date)
            && time >= self.open
            && time < self.close
    }
}
