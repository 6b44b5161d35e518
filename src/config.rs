//! Configuration: one typed tree, loaded from embedded defaults, an optional `kefu.toml` and
//! `KEFU_*` environment overrides, validated before anything binds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret (ESL password, database URL, agent password): `Debug` and `Display` print `***`
/// so it can never reach a log by accident. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: only for the place that sends it (ESL auth, database connect).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The embedded defaults: a complete configuration for the demo.
pub const DEFAULTS: &str = include_str!("config/default.toml");

/// The whole configuration tree.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP and WebSocket listener.
    pub http: HttpConfig,
    /// Database connection.
    pub database: DatabaseConfig,
    /// IVR flow files and which dialed number runs which flow.
    pub flows: FlowsConfig,
    /// FreeSWITCH nodes kefu connects to.
    pub freeswitch: Vec<NodeConfig>,
    /// Routing timers and knobs.
    pub acd: AcdConfig,
    /// Customer tiers.
    pub tiers: Vec<TierConfig>,
    /// The tier of unknown callers.
    pub default_tier: DefaultTier,
    /// Skill names.
    pub skills: SkillsConfig,
    /// Queues.
    pub queues: Vec<QueueConfig>,
    /// Agents to seed.
    pub agents: Vec<AgentConfig>,
    /// Customers to seed.
    #[serde(default)]
    pub customers: Vec<CustomerConfig>,
    /// Supervisors: they may read call records (customer data) over HTTP.
    #[serde(default)]
    pub supervisors: Vec<SupervisorConfig>,
    /// Reports.
    #[serde(default)]
    pub reports: ReportsConfig,
    /// Logins and tokens.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Calling customers back.
    #[serde(default)]
    pub callback: CallbackConfig,
    /// A listener for the dialplan's `socket` application (outbound mode); off when absent.
    #[serde(default)]
    pub outbound: Option<OutboundConfig>,
}

/// `[outbound]`: FreeSWITCH hands calls over with `socket <host>:<port> async full`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Where to listen (FreeSWITCH's default for `socket` is port 8084).
    pub listen: SocketAddr,
}

/// `[callback]`: how kefu calls back a customer who chose not to wait (an IVR
/// `callback_offer`, or a queue whose overflow action is `callback`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    /// The customer leg's dial string; `{number}` becomes the checked number (digits and
    /// an optional `+`), e.g. `sofia/gateway/pstn/{number}`.
    pub dial_string: String,
    /// The caller ID the customer sees.
    pub caller_id_number: String,
    /// Calls to the customer before giving up.
    pub attempts: u32,
    /// Wait between an unanswered call to the customer and the next try.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// How long the customer's phone rings.
    #[serde(with = "humantime_serde")]
    pub ring_timeout: Duration,
    /// Played when a queue overflows to a callback, before kefu hangs up: "we will call
    /// you back on the number you are calling from".
    pub prompt: String,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            dial_string: "sofia/gateway/pstn/{number}".into(),
            caller_id_number: "8005550100".into(),
            attempts: 3,
            retry_after: Duration::from_secs(300),
            ring_timeout: Duration::from_secs(30),
            prompt: "kefu/callback_overflow.wav".into(),
        }
    }
}

/// `[auth]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a login token is valid.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Login attempts allowed per user id per minute.
    pub login_attempts_per_minute: std::num::NonZeroU32,
    /// argon2id memory cost (KiB) for new password hashes.
    pub argon2_memory_kib: u32,
    /// argon2id passes for new password hashes.
    pub argon2_iterations: u32,
}

impl Default for AuthConfig {
    /// OWASP's argon2id minimum (19 MiB, 2 passes, one lane); tokens for a 12 h shift.
    fn default() -> Self {
        AuthConfig {
            token_ttl: Duration::from_secs(12 * 3600),
            login_attempts_per_minute: std::num::NonZeroU32::MIN.saturating_add(9),
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
        }
    }
}

/// `[reports]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// The call center's time zone (IANA name): report days start at its midnight.
    pub time_zone: chrono_tz::Tz,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            time_zone: chrono_tz::Tz::UTC,
        }
    }
}

/// One `[[supervisors]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Login name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The password, or its argon2 hash (`$argon2id$…`, from `kefu hash-password`). Only
    /// the hash is stored; never logged.
    pub password: Secret,
    /// `supervisor` (the default) or `admin`.
    #[serde(default = "supervisor_role")]
    pub role: crate::auth::Role,
    /// The queues they watch and act on; absent means every queue. Admins see every queue.
    #[serde(default)]
    pub queues: Option<Vec<String>>,
}

fn supervisor_role() -> crate::auth::Role {
    crate::auth::Role::Supervisor
}

/// `[http]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address.
    pub bind: SocketAddr,
}

/// `[database]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db` (a secret: may hold a password).
    pub url: Secret,
    /// Where completed calls wait on disk while the database is unreachable (replayed when
    /// it returns, and at the next start).
    pub spill: PathBuf,
}

/// `[flows]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsConfig {
    /// Folder of flow files.
    pub dir: PathBuf,
    /// Flow for dialed numbers not in `routes`.
    pub default: String,
    /// Dialed number -> flow name.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// The flow callers hear after the agent hangs up (the satisfaction survey); none when
    /// absent: the caller is hung up with the agent.
    #[serde(default)]
    pub survey: Option<String>,
}

/// One `[[freeswitch]]` node.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name, used in logs, metrics and `/readyz`.
    pub name: String,
    /// Event-socket host.
    pub host: String,
    /// Event-socket port (8021).
    pub port: u16,
    /// Event-socket password.
    pub password: Secret,
}

/// `[acd]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AcdConfig {
    /// How long an offer rings.
    #[serde(with = "humantime_serde")]
    pub ring_timeout: Duration,
    /// Not-ready time after a missed or rejected offer.
    #[serde(with = "humantime_serde")]
    pub not_ready_after_no_answer: Duration,
    /// After-call work limit.
    #[serde(with = "humantime_serde")]
    pub wrap_up: Duration,
    /// Priority points gained per minute of waiting.
    pub aging_per_minute: u32,
    /// How long a key customer's call waits for their account manager.
    #[serde(with = "humantime_serde")]
    pub account_manager_first: Duration,
    /// Music on hold played to queued callers.
    pub moh: String,
    /// Waiting callers hear their position and estimated wait this often ("0s": never).
    #[serde(with = "humantime_serde")]
    pub announce_every: Duration,
}

/// One `[[tiers]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Tier name.
    pub name: String,
    /// Base priority (higher is served first).
    pub base_priority: i32,
    /// SL threshold T.
    #[serde(with = "humantime_serde")]
    pub sla_threshold: Duration,
    /// SL target share, 0..=1.
    pub sla_target: f64,
}

/// `[default_tier]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultTier {
    /// Tier of callers kefu does not recognise.
    pub name: String,
}

/// `[skills]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SkillsConfig {
    /// Every skill name queues and agents may use.
    pub names: Vec<String>,
}

/// How a queue picks among eligible agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle the longest.
    LongestIdle,
    /// The agent with the highest proficiency in the queue's skills.
    HighestProficiency,
    /// The agent who handled the fewest calls today.
    FewestCalls,
    /// The agent with the least talk time today.
    LeastTalkTime,
    /// Each agent in turn.
    RoundRobin,
}

impl Strategy {
    /// The spelling in files and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest_idle",
            Strategy::HighestProficiency => "highest_proficiency",
            Strategy::FewestCalls => "fewest_calls",
            Strategy::LeastTalkTime => "least_talk_time",
            Strategy::RoundRobin => "round_robin",
        }
    }
}

/// What happens after a queue's max wait, or when no agent is logged in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum OverflowConfig {
    /// Move the call to another queue.
    Queue {
        /// Target queue.
        queue: String,
    },
    /// Send the call to voicemail (a dialplan extension).
    Voicemail {
        /// Extension to transfer to.
        extension: String,
    },
    /// Keep the caller's place and call them back.
    Callback,
    /// Play a message and hang up.
    Message {
        /// The prompt.
        prompt: String,
    },
}

/// One relaxation step: from `after` waiting, these skill levels suffice.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Waiting time from which this step applies.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// Skill -> minimum proficiency.
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
}

/// One `[[queues]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue name.
    pub name: String,
    /// Agent selection strategy.
    #[serde(default = "default_strategy")]
    pub strategy: Strategy,
    /// Queue priority added to every call's.
    #[serde(default)]
    pub priority: i32,
    /// Longest a call waits before the overflow action.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Overflow action.
    pub overflow: OverflowConfig,
    /// Abandons shorter than this are short abandons.
    #[serde(with = "humantime_serde")]
    pub short_abandon: Duration,
    /// Skill requirements by waiting time; the first must start at 0 s.
    pub steps: Vec<StepConfig>,
}

fn default_strategy() -> Strategy {
    Strategy::LongestIdle
}

/// One `[[agents]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Login id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The login password, or its argon2 hash (`$argon2id$…`). Only the hash is stored;
    /// never logged.
    pub password: Secret,
    /// FreeSWITCH dial string for the agent leg (`user/1001`).
    pub dial_string: String,
    /// Queues served.
    pub queues: Vec<String>,
    /// Skill -> proficiency 1..=10.
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
}

/// One `[[customers]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    /// Customer name.
    pub name: String,
    /// Phone number callers use.
    pub phone: String,
    /// Account number.
    pub account: String,
    /// Tier.
    pub tier: String,
    /// Account manager's agent id.
    #[serde(default)]
    pub account_manager: Option<String>,
}

/// A configuration refused at start: the key and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or type error.
    #[error("{origin}: {message}")]
    Parse {
        /// The file or environment variable.
        origin: String,
        /// The parser's message (names the key).
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{key}: {reason}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Embedded defaults, then `file` (if any), then `KEFU_*` overrides from `env`, validated.
    ///
    /// # Errors
    /// Unreadable file, bad TOML, unknown keys, wrong types, or an invalid value; the error
    /// names the key.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut tree = parse_table(DEFAULTS, "embedded defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let overlay = parse_table(&text, &path.display().to_string())?;
            merge(&mut tree, overlay);
        }
        apply_env(&mut tree, env)?;
        let config: Config =
            toml::Value::Table(tree)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: "configuration".into(),
                    message: e.message().to_owned(),
                })?;
        config.validate()?;
        Ok(config)
    }

    /// The embedded defaults alone.
    ///
    /// # Errors
    /// Never for the shipped defaults (a test proves it).
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::load(None, &HashMap::new())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: String| Err(ConfigError::Invalid { key, reason });
        let skills: HashSet<&str> = self.skills.names.iter().map(String::as_str).collect();
        let tiers: HashSet<&str> = self.tiers.iter().map(|t| t.name.as_str()).collect();
        let queues: HashSet<&str> = self.queues.iter().map(|q| q.name.as_str()).collect();
        let agents: HashSet<&str> = self.agents.iter().map(|a| a.id.as_str()).collect();
        if self.freeswitch.is_empty() {
            return invalid("freeswitch".into(), "at least one node is needed".into());
        }
        if !tiers.contains(self.default_tier.name.as_str()) {
            return invalid(
                "default_tier.name".into(),
                format!("unknown tier `{}`", self.default_tier.name),
            );
        }
        for (i, tier) in self.tiers.iter().enumerate() {
            if !(0.0..=1.0).contains(&tier.sla_target) {
                return invalid(
                    format!("tiers[{i}].sla_target"),
                    "must be within 0..=1".into(),
                );
            }
        }
        for (i, queue) in self.queues.iter().enumerate() {
            validate_queue(i, queue, &skills, &queues)?;
        }
        self.callback.validate()?;
        for (i, agent) in self.agents.iter().enumerate() {
            for queue in &agent.queues {
                if !queues.contains(queue.as_str()) {
                    return invalid(
                        format!("agents[{i}].queues"),
                        format!("unknown queue `{queue}`"),
                    );
                }
            }
            check_skills(&format!("agents[{i}].skills"), &agent.skills, &skills)?;
        }
        let passwords = (self.agents.iter().enumerate())
            .map(|(i, a)| (format!("agents[{i}].password"), &a.password))
            .chain(
                (self.supervisors.iter().enumerate())
                    .map(|(i, s)| (format!("supervisors[{i}].password"), &s.password)),
            );
        for (key, password) in passwords {
            let password = password.expose();
            if password.is_empty() {
                return invalid(key, "empty".into());
            }
            if crate::auth::is_password_hash(password) && !crate::auth::readable_hash(password) {
                return invalid(key, "starts like an argon2 hash but is not one".into());
            }
        }
        let mut supervisors = HashSet::new();
        for (i, supervisor) in self.supervisors.iter().enumerate() {
            if supervisor.id.is_empty()
                || !supervisors.insert(supervisor.id.as_str())
                || agents.contains(supervisor.id.as_str())
            {
                return invalid(
                    format!("supervisors[{i}].id"),
                    "empty, repeated, or an agent's id".into(),
                );
            }
            if supervisor.role == crate::auth::Role::Agent {
                return invalid(
                    format!("supervisors[{i}].role"),
                    "must be `supervisor` or `admin`".into(),
                );
            }
            for queue in supervisor.queues.iter().flatten() {
                if !queues.contains(queue.as_str()) {
                    return invalid(
                        format!("supervisors[{i}].queues"),
                        format!("unknown queue `{queue}`"),
                    );
                }
            }
        }
        for (i, customer) in self.customers.iter().enumerate() {
            if !tiers.contains(customer.tier.as_str()) {
                return invalid(
                    format!("customers[{i}].tier"),
                    format!("unknown tier `{}`", customer.tier),
                );
            }
            if let Some(manager) = &customer.account_manager {
                if !agents.contains(manager.as_str()) {
                    return invalid(
                        format!("customers[{i}].account_manager"),
                        format!("unknown agent `{manager}`"),
                    );
                }
            }
        }
        Ok(())
    }

    /// The tier settings for a name, or the default tier's.
    pub fn tier(&self, name: &str) -> Option<&TierConfig> {
        self.tiers.iter().find(|t| t.name == name)
    }
}

impl CallbackConfig {
    /// The dial string must take the number and stay one originate argument.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| {
            Err(ConfigError::Invalid {
                key: format!("callback.{key}"),
                reason: reason.into(),
            })
        };
        if !self.dial_string.contains("{number}") {
            return invalid("dial_string", "must contain `{number}`");
        }
        let unsafe_char = |c: char| c.is_whitespace() || c == '\'' || c == '"';
        if self.dial_string.contains(unsafe_char) {
            return invalid(
                "dial_string",
                "no spaces or quotes (originate splits on them)",
            );
        }
        if self.prompt.is_empty() || self.prompt.contains(char::is_whitespace) {
            return invalid("prompt", "a sound path without spaces");
        }
        if crate::domain::CallbackNumber::parse(&self.caller_id_number).is_none() {
            return invalid("caller_id_number", "an optional + and 3 to 15 digits");
        }
        if self.attempts == 0 {
            return invalid("attempts", "at least 1");
        }
        if self.ring_timeout < Duration::from_secs(1) {
            return invalid("ring_timeout", "at least 1s");
        }
        Ok(())
    }
}

fn validate_queue(
    i: usize,
    queue: &QueueConfig,
    skills: &HashSet<&str>,
    queues: &HashSet<&str>,
) -> Result<(), ConfigError> {
    let invalid = |key: String, reason: &str| {
        Err(ConfigError::Invalid {
            key,
            reason: reason.into(),
        })
    };
    match queue.steps.first() {
        None => return invalid(format!("queues[{i}].steps"), "at least one step is needed"),
        Some(first) if !first.after.is_zero() => {
            return invalid(
                format!("queues[{i}].steps[0].after"),
                "the first step must start at 0s",
            );
        }
        Some(_) => {}
    }
    for (s, pair) in queue.steps.windows(2).enumerate() {
        if pair[1].after <= pair[0].after {
            return invalid(
                format!("queues[{i}].steps[{}].after", s + 1),
                "steps must be in increasing time",
            );
        }
    }
    for (s, step) in queue.steps.iter().enumerate() {
        check_skills(
            &format!("queues[{i}].steps[{s}].skills"),
            &step.skills,
            skills,
        )?;
    }
    if let OverflowConfig::Queue { queue: target } = &queue.overflow {
        if !queues.contains(target.as_str()) || *target == queue.name {
            return invalid(
                format!("queues[{i}].overflow.queue"),
                "must name another configured queue",
            );
        }
    }
    Ok(())
}

fn check_skills(
    key: &str,
    levels: &BTreeMap<String, i64>,
    skills: &HashSet<&str>,
) -> Result<(), ConfigError> {
    for (skill, level) in levels {
        if !skills.contains(skill.as_str()) {
            return Err(ConfigError::Invalid {
                key: key.into(),
                reason: format!("unknown skill `{skill}`"),
            });
        }
        if let Err(e) = crate::domain::Proficiency::new(*level) {
            return Err(ConfigError::Invalid {
                key: format!("{key}.{skill}"),
                reason: e.to_string(),
            });
        }
    }
    Ok(())
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
        origin: origin.to_owned(),
        message: e.to_string(),
    })
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else (arrays
/// included) replaces. So a file that lists `[[agents]]` replaces the demo agents whole.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `KEFU_DATABASE__URL=...` sets `database.url`; `KEFU_FREESWITCH__0__PASSWORD` indexes an
/// array. A value is read as a TOML literal when it parses as one (`8021`, `true`,
/// `["a"]`), else as a string. Every setting sits in a section, so only names with a `__`
/// are overrides: `KEFU_TEST_DATABASE_URL` and the like belong to the tests, not here.
fn apply_env(tree: &mut toml::Table, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut vars: Vec<_> = env
        .iter()
        .filter(|(k, _)| k.starts_with("KEFU_") && k.contains("__"))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name["KEFU_".len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        let value = parse_env_value(raw);
        set_path(tree, &path, value).map_err(|reason| ConfigError::Invalid {
            key: name.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((head, rest)) = path.split_first() else {
        return Err("empty key".into());
    };
    if rest.is_empty() {
        table.insert(head.clone(), value);
        return Ok(());
    }
    let child = table
        .entry(head.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_value_path(child, rest, value)
}

fn set_value_path(
    node: &mut toml::Value,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match node {
        toml::Value::Table(table) => set_path(table, path, value),
        toml::Value::Array(items) => {
            let (index, rest) = path.split_first().ok_or("empty key")?;
            let index: usize = index
                .parse()
                .map_err(|_| format!("`{index}` is not an array index"))?;
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("no element {index}"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_value_path(item, rest, value)
            }
        }
        _ => Err("cannot set a key inside a plain value".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_defaults_load_and_validate() {
        let config = Config::defaults().expect("defaults are valid");
        assert_eq!(config.http.bind.port(), 8080);
        assert_eq!(config.freeswitch[0].password.expose(), "ClueCon");
        assert_eq!(config.queues.len(), 3);
        assert_eq!(config.acd.ring_timeout, Duration::from_secs(20));
    }

    #[test]
    fn env_overrides_nested_keys_and_array_elements() {
        let config = Config::load(
            None,
            &env(&[
                ("KEFU_HTTP__BIND", "0.0.0.0:9000"),
                ("KEFU_FREESWITCH__0__PORT", "8022"),
                ("KEFU_DATABASE__URL", "postgres://u@h/db"),
                ("UNRELATED", "x"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.http.bind.port(), 9000);
        assert_eq!(config.freeswitch[0].port, 8022);
        assert_eq!(config.database.url.expose(), "postgres://u@h/db");
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let other = env(&[
            ("KEFU_TEST_DATABASE_URL", "postgres://x"),
            ("KEFU_SKIP_BROWSER", "1"),
        ]);
        assert!(
            Config::load(None, &other).is_ok(),
            "variables without `__` are not settings"
        );
        let err = Config::load(None, &env(&[("KEFU_HTTP__BINDD", "x")])).expect_err("unknown key");
        assert!(err.to_string().contains("bindd"), "{err}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let err =
            Config::load(None, &env(&[("KEFU_TIERS__0__SLA_TARGET", "1.5")])).expect_err("bad");
        assert_eq!(err.to_string(), "tiers[0].sla_target: must be within 0..=1");
        let err =
            Config::load(None, &env(&[("KEFU_AGENTS__0__QUEUES", "[\"nope\"]")])).expect_err("bad");
        assert_eq!(err.to_string(), "agents[0].queues: unknown queue `nope`");
    }

    #[test]
    fn a_callback_dial_string_must_take_the_number_as_one_argument() {
        let load = |value: &str| Config::load(None, &env(&[("KEFU_CALLBACK__DIAL_STRING", value)]));
        let err = load("sofia/gateway/pstn/5551234").expect_err("no {number}");
        assert_eq!(
            err.to_string(),
            "callback.dial_string: must contain `{number}`"
        );
        let err = load("sofia/gateway/pstn/{number} &park()").expect_err("a space");
        assert!(
            err.to_string()
                .starts_with("callback.dial_string: no spaces"),
            "{err}"
        );
        assert!(load("loopback/{number}/default").is_ok());
    }

    #[test]
    fn the_example_production_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kefu.toml");
        let config = Config::load(Some(&path), &HashMap::new()).expect("kefu.toml is valid");
        assert_eq!(config.freeswitch.len(), 2);
        assert_eq!(config.agents.len(), 1);
        assert!(config.customers.is_empty());
        assert_eq!(config.queues.len(), 3, "queues come from the defaults");
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::defaults().expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("ClueCon"));
        assert!(!shown.contains("demo\""));
    }
}
