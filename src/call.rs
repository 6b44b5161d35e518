//! Call sessions: one state machine per call (ivr → queued → offered → talking → wrap-up →
//! ended), pure. `event` is what FreeSWITCH told us, translated by `esl::translate`.

pub mod event;

pub use event::{Direction, Event, EventKind, HungUpBy, KefuVars, LiveChannel};
pub mod session;

pub use session::{Customer, Phase, Session, SlaRule};
