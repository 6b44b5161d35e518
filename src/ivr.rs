//! The IVR: flows as files (`ivr_flows/*.toml`, format in `docs/ivr-flows.md`), checked
//! against the configuration when loaded (`parse`), and a pure interpreter (`run`) that
//! tells the engine what to do next for one call. Only `files` touches the disk.

mod files;
mod flow;
mod parse;
mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

pub use files::{FlowLibrary, check_dir, load_dir};
pub use flow::Flow;
pub use run::IvrRun;

use crate::domain::{QueueId, Skill, TierId, Timestamp};

/// The loaded flows, by name.
#[derive(Debug, Default)]
pub struct FlowSet {
    flows: BTreeMap<String, Arc<Flow>>,
}

impl FlowSet {
    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    /// Every flow's name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flows.keys().map(String::as_str)
    }

    /// How many flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// No flows at all.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
    /// The first flow that names this queue (to queue a call, or in a branch), if any.
    pub fn using_queue(&self, queue: &QueueId) -> Option<&str> {
        self.first(|flow| flow.uses_queue(queue))
    }

    /// The first flow that asks for this skill in a `queue` node, if any.
    pub fn using_skill(&self, skill: &Skill) -> Option<&str> {
        self.first(|flow| flow.uses_skill(skill))
    }

    fn first(&self, uses: impl Fn(&Flow) -> bool) -> Option<&str> {
        self.flows
            .iter()
            .find(|(_, flow)| uses(flow))
            .map(|(name, _)| name.as_str())
    }
}

/// What the configuration defines, for flows to refer to.
#[derive(Clone, Debug, Default)]
pub struct Known {
    queues: BTreeSet<QueueId>,
    skills: BTreeSet<Skill>,
    tiers: BTreeSet<TierId>,
    /// Flow names (the files of the same directory), for `transfer` to a flow.
    flows: BTreeSet<String>,
}

impl Known {
    /// The names flows may use.
    pub fn new(
        queues: impl IntoIterator<Item = QueueId>,
        skills: impl IntoIterator<Item = Skill>,
        tiers: impl IntoIterator<Item = TierId>,
    ) -> Known {
        Known {
            queues: queues.into_iter().collect(),
            skills: skills.into_iter().collect(),
            tiers: tiers.into_iter().collect(),
            flows: BTreeSet::new(),
        }
    }

    /// The names the configuration defines.
    pub fn from_config(config: &crate::config::Config) -> Known {
        Known::new(
            config.queues.iter().map(|q| QueueId::new(&q.name)),
            config.skills.names.iter().map(Skill::new),
            config.tiers.iter().map(|t| TierId::new(&t.name)),
        )
    }
}

/// One problem in a flow file, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowError {
    /// The file.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            path,
            line,
            column,
            message,
        } = self;
        write!(f, "{path}:{line}:{column}: {message}")
    }
}

/// Builds a flow from its text (tests, and `files`).
///
/// # Errors
/// Every syntax and validation error.
pub fn parse_flow(
    name: &str,
    path: &str,
    text: &str,
    known: &Known,
) -> Result<Flow, Vec<FlowError>> {
    parse::parse_flow(name, path, text, known)
}

/// How to look a customer up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKey {
    /// By the caller's number.
    CallerNumber,
    /// By an account number the caller typed.
    Account(String),
}

/// What the engine must do next for the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Run a dialplan application on the caller's channel; report its completion with
    /// [`IvrRun::on_app_done`].
    Execute {
        /// Application (`playback`, `play_and_get_digits`, `set`).
        app: String,
        /// Its argument.
        arg: String,
    },
    /// Look the customer up, then report with [`IvrRun::on_customer`].
    LookupCustomer {
        /// By what.
        by: LookupKey,
    },
    /// The IVR is done: the call waits in a queue.
    Enqueue {
        /// Queue.
        queue: QueueId,
        /// Added to the call's priority.
        priority_bonus: i32,
        /// Skills required on top of the queue's.
        extra_skills: Vec<Skill>,
        /// Why the caller called (menu choice), for the screen-pop.
        reason: Option<String>,
    },
    /// The IVR is done: the caller asked to be called back (a `callback_offer` node). They
    /// hear `goodbye` and are hung up; the call then waits its turn in `queue` as if they
    /// had stayed on the line, and an agent calls `number` back when it comes.
    Callback {
        /// Queue.
        queue: QueueId,
        /// Added to the call's priority.
        priority_bonus: i32,
        /// Skills required on top of the queue's.
        extra_skills: Vec<Skill>,
        /// Why the caller called (menu choice), for the screen-pop.
        reason: Option<String>,
        /// The number the caller confirmed.
        number: crate::domain::CallbackNumber,
        /// The prompt played before the hang-up (variables expanded): a sound path, or
        /// `say:` text, for `playback` as it is (unquoted).
        goodbye: String,
    },
    /// The IVR is done: transfer the call to a number through the dialplan.
    Transfer {
        /// The number.
        to: String,
    },
    /// Go on in another flow: [`IvrRun::continue_in`].
    StartFlow {
        /// Its name (checked at load).
        flow: String,
    },
    /// The IVR is done: hang up.
    Hangup {
        /// Hangup cause.
        cause: String,
    },
    /// Nothing to do (a report that did not concern the current node).
    Wait,
}

/// How an application ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppResult {
    /// Completed (playback, set).
    Done,
    /// Digits collected (`read_result=success`).
    Digits(String),
    /// `play_and_get_digits` ran out of tries.
    NoInput,
}

/// A recognised customer, as flows may branch on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerInfo {
    /// Tier.
    pub tier: TierId,
}

/// What branches may ask about the call.
#[derive(Clone, Copy, Debug)]
pub struct CallContext<'a> {
    /// Caller number.
    pub caller_number: &'a str,
    /// The call's tier now (the default until a lookup finds the customer).
    pub tier: &'a TierId,
    /// The queues' live figures.
    pub queues: &'a dyn LiveQueues,
}

/// Live queue figures a branch may ask about; the engine answers from the router.
pub trait LiveQueues: std::fmt::Debug {
    /// The estimated wait of a caller joining `queue` now, when it can be estimated
    /// (`reference/contact-center-metrics.md`: not before 10 recent calls back it).
    fn estimated_wait(&self, queue: &QueueId) -> Option<std::time::Duration>;
    /// Agents logged into `queue` and not on a break.
    fn agents_serving(&self, queue: &QueueId) -> u32;
}

/// One node a call entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStep {
    /// Node name.
    pub node: String,
    /// Digits the caller pressed there.
    pub digits: Option<String>,
    /// When the call entered it.
    pub at: Timestamp,
}
