//! TEMPORARY stand-in with the IVR API the engine codes against; replaced by the real IVR
//! module (flows from files, validator, interpreter) when its branch merges.

use std::sync::Arc;

use crate::domain::{QueueId, Skill, TierId, Timestamp};

/// A flow.
#[derive(Debug)]
pub struct Flow {
    /// Name.
    pub name: String,
}

/// The loaded flows.
#[derive(Debug, Default)]
pub struct FlowSet {
    flows: Vec<Arc<Flow>>,
}

impl FlowSet {
    /// The built-in single flow.
    pub fn builtin() -> FlowSet {
        FlowSet {
            flows: vec![Arc::new(Flow {
                name: "main".into(),
            })],
        }
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.iter().find(|f| f.name == name).cloned()
    }
}

/// How to look a customer up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKey {
    /// By the caller's number.
    CallerNumber,
    /// By an account number the caller typed.
    Account(String),
}

/// What the engine must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Run a dialplan application.
    Execute {
        /// Application.
        app: String,
        /// Argument.
        arg: String,
    },
    /// Look the customer up, then call `on_customer`.
    LookupCustomer {
        /// By what.
        by: LookupKey,
    },
    /// Put the call in a queue.
    Enqueue {
        /// Queue.
        queue: QueueId,
        /// Priority bonus.
        priority_bonus: i32,
        /// Extra skills.
        extra_skills: Vec<Skill>,
        /// Reason label.
        reason: Option<String>,
    },
    /// Transfer.
    Transfer {
        /// Where.
        to: String,
    },
    /// Hang up.
    Hangup {
        /// Cause.
        cause: String,
    },
}

/// How an application ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppResult {
    /// Completed.
    Done,
    /// Digits collected.
    Digits(String),
    /// Nothing pressed.
    NoInput,
}

/// A recognised customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerInfo {
    /// Tier.
    pub tier: TierId,
}

/// What branches may ask about.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// Caller number.
    pub caller_number: String,
    /// Tier.
    pub tier: TierId,
}

/// One step of the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStep {
    /// Node.
    pub node: String,
    /// Digits.
    pub digits: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// One call's run through a flow.
#[derive(Clone, Debug)]
pub struct IvrRun {
    stage: u8,
    path: Vec<PathStep>,
}

impl IvrRun {
    /// Starts a flow.
    pub fn start(_flow: Arc<Flow>, _ctx: &CallContext, now: Timestamp) -> (IvrRun, Step) {
        let path = vec![PathStep {
            node: "greeting".into(),
            digits: None,
            at: now,
        }];
        let step = Step::Execute {
            app: "playback".into(),
            arg: "ivr/ivr-welcome.wav".into(),
        };
        (IvrRun { stage: 0, path }, step)
    }

    /// An application completed.
    pub fn on_app_done(&mut self, _result: AppResult, _ctx: &CallContext, _now: Timestamp) -> Step {
        self.stage += 1;
        match self.stage {
            1 => Step::LookupCustomer {
                by: LookupKey::CallerNumber,
            },
            _ => Step::Hangup {
                cause: "NORMAL_CLEARING".into(),
            },
        }
    }

    /// The customer lookup finished.
    pub fn on_customer(
        &mut self,
        _found: Option<CustomerInfo>,
        _ctx: &CallContext,
        now: Timestamp,
    ) -> Step {
        self.path.push(PathStep {
            node: "queue".into(),
            digits: None,
            at: now,
        });
        Step::Enqueue {
            queue: QueueId::new("general"),
            priority_bonus: 0,
            extra_skills: vec![],
            reason: Some("inquiry".into()),
        }
    }

    /// The path so far.
    pub fn path(&self) -> &[PathStep] {
        &self.path
    }
}
