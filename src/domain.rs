//! Ids and values shared by every layer: the domain words of PRODUCT.md as types.
//!
//! Everything here is parsed once at the edge ("parse, don't validate"): a value that exists
//! is valid, so the core never re-checks it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One caller's interaction, keyed by the FreeSWITCH channel UUID of the caller leg.
/// Also used for agent legs: every FreeSWITCH channel has a UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub uuid::Uuid);

impl CallId {
    /// A fresh random id (kefu chooses the UUID of every agent leg it originates).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses a FreeSWITCH `Unique-ID`.
    ///
    /// # Errors
    /// When the text is not a UUID.
    pub fn parse(text: &str) -> Result<Self, uuid::Error> {
        uuid::Uuid::parse_str(text.trim()).map(Self)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({self})")
    }
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a name taken from configuration, the database or a client.
            pub fn new(name: impl AsRef<str>) -> Self {
                Self(Arc::from(name.as_ref()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self::new(name)
            }
        }
    };
}

name_id!(
    /// An agent's login id (`1001`, `alice`).
    AgentId
);
name_id!(
    /// A queue's name (`general`, `complaints`).
    QueueId
);
name_id!(
    /// A skill's name (`billing`, `repair`, `mandarin`).
    Skill
);
name_id!(
    /// A customer tier's name (`platinum`, `gold`, `silver`, `standard`).
    TierId
);
name_id!(
    /// A FreeSWITCH node's name from the configuration (`fs1`).
    NodeId
);

/// Wall-clock time in microseconds since the Unix epoch: FreeSWITCH's `Event-Date-Timestamp`
/// unit, so event times are used as they arrive.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis.saturating_mul(1000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self - earlier`, never negative (FreeSWITCH clocks may step back a tick).
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_micros(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// This time plus a duration.
    pub fn plus(self, duration: std::time::Duration) -> Timestamp {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// As a chrono UTC time (for display and reports).
    pub fn to_utc(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }
}

/// An agent's skill level, 1 (novice) to 10 (expert).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(transparent)]
pub struct Proficiency(u8);

/// A proficiency outside 1..=10.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("proficiency {0} is outside 1..=10")]
pub struct ProficiencyOutOfRange(pub i64);

impl Proficiency {
    /// The lowest level: any agent with the skill at all.
    pub const MIN: Proficiency = Proficiency(1);

    /// # Errors
    /// When `level` is not within 1..=10.
    pub fn new(level: i64) -> Result<Self, ProficiencyOutOfRange> {
        match u8::try_from(level) {
            Ok(l @ 1..=10) => Ok(Self(l)),
            _ => Err(ProficiencyOutOfRange(level)),
        }
    }

    /// The level, 1..=10.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Proficiency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let level = i64::deserialize(d)?;
        Proficiency::new(level).map_err(serde::de::Error::custom)
    }
}

/// What the agent says the call was about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A question.
    Inquiry,
    /// A complaint; unresolved ones are shown as open complaints in later screen-pops.
    Complaint,
    /// A repair request.
    Repair,
    /// Anything else.
    Other,
}

impl Category {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Inquiry => "inquiry",
            Category::Complaint => "complaint",
            Category::Repair => "repair",
            Category::Other => "other",
        }
    }
}

/// The agent's classification of a call, sent at wrap-up.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Disposition {
    /// What the call was about.
    pub category: Category,
    /// Whether the customer's matter was resolved on this call.
    pub resolved: bool,
    /// Free notes (customer data: only the agent and supervisors see them).
    #[serde(default)]
    pub notes: String,
}

/// How the caller's leg of a call ended, as the recorder stores it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Bridged to an agent.
    Answered,
    /// The caller hung up while waiting in a queue.
    Abandoned,
    /// The queue's overflow action took the call elsewhere (voicemail, message, callback).
    Overflowed,
    /// The caller hung up (or was hung up) in the IVR, before any queue.
    EndedInIvr,
}

impl Outcome {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Abandoned => "abandoned",
            Outcome::Overflowed => "overflowed",
            Outcome::EndedInIvr => "ended_in_ivr",
        }
    }
}

/// A number kefu may dial to call a customer back: an optional `+` and 3 to 15 digits
/// (E.164's longest). Anything else (an anonymous caller ID, a SIP URI, text from the
/// network) is refused, so a dial string built from it can carry nothing but digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CallbackNumber(String);

impl TryFrom<String> for CallbackNumber {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        CallbackNumber::parse(&raw).ok_or_else(|| format!("not a number to call back: {raw:?}"))
    }
}

impl From<CallbackNumber> for String {
    fn from(number: CallbackNumber) -> String {
        number.0
    }
}

impl CallbackNumber {
    /// Checks a number typed on the keypad or taken from the caller ID.
    pub fn parse(raw: &str) -> Option<CallbackNumber> {
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        let ok = (3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| CallbackNumber(raw.to_owned()))
    }

    /// The number as it will be dialled.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallbackNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An agent's state as the agent and supervisors see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not logged in.
    LoggedOut,
    /// Ready for calls.
    Available,
    /// On a break (with a reason).
    Break,
    /// Reserved for a call; their phone is ringing.
    Offered,
    /// On a call.
    Talking,
    /// After-call work.
    WrapUp,
    /// Not ready after a missed or rejected offer.
    NotReady,
}

impl AgentState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Available => "available",
            AgentState::Break => "break",
            AgentState::Offered => "offered",
            AgentState::Talking => "talking",
            AgentState::WrapUp => "wrap_up",
            AgentState::NotReady => "not_ready",
        }
    }
}

/// One step of the caller's path through the IVR, shown in the screen-pop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IvrStep {
    /// The flow node entered.
    pub node: String,
    /// Digits the caller pressed there, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proficiency_accepts_one_to_ten_only() {
        assert!(Proficiency::new(0).is_err());
        assert_eq!(Proficiency::new(1).map(Proficiency::get), Ok(1));
        assert_eq!(Proficiency::new(10).map(Proficiency::get), Ok(10));
        assert!(Proficiency::new(11).is_err());
        assert!(Proficiency::new(-3).is_err());
    }

    #[test]
    fn timestamp_since_never_goes_negative() {
        let a = Timestamp::from_micros(1_000);
        let b = Timestamp::from_micros(500);
        assert_eq!(a.since(b).as_micros(), 500);
        assert_eq!(b.since(a).as_micros(), 0);
    }

    #[test]
    fn call_id_parses_freeswitch_unique_ids() {
        let id = CallId::parse("6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00").expect("valid uuid");
        assert_eq!(id.to_string(), "6b2f0a4c-1f0e-4d8e-9c3a-5e7d2b1a9f00");
        assert!(CallId::parse("not-a-uuid").is_err());
    }
}
