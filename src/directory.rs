//! The live directory of agents, queues and skills: those the configuration file defines,
//! plus those an admin added through the REST API. Pure: a change makes a new directory,
//! validated as a whole exactly as a configuration file is, or an error that says why.
//!
//! The file's entries cannot be changed through the API: the file would put them back at
//! the next start, so the API says where to change them instead.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::auth::Scope;
use crate::config::{AgentConfig, Config, ConfigError, QueueConfig};
use crate::domain::{AgentId, QueueId};
use crate::store::ApiEntries;

/// What kind of entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An agent.
    Agent,
    /// A queue.
    Queue,
    /// A skill.
    Skill,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Agent => "agent",
            Kind::Queue => "queue",
            Kind::Skill => "skill",
        })
    }
}

/// Where an entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The configuration file: read-only through the API.
    File,
    /// An admin, through the API.
    Api,
}

/// One change an admin asks for.
#[derive(Clone, Debug)]
pub enum Change {
    /// A new agent.
    AddAgent(AgentConfig),
    /// Every field of an agent replaced.
    ReplaceAgent(AgentConfig),
    /// An agent removed.
    RemoveAgent(String),
    /// A new queue.
    AddQueue(QueueConfig),
    /// Every field of a queue replaced.
    ReplaceQueue(QueueConfig),
    /// A queue removed.
    RemoveQueue(String),
    /// A new skill.
    AddSkill(String),
    /// A skill removed.
    RemoveSkill(String),
}

impl Change {
    /// The entry it is about.
    pub fn target(&self) -> (Kind, &str) {
        match self {
            Change::AddAgent(a) | Change::ReplaceAgent(a) => (Kind::Agent, &a.id),
            Change::RemoveAgent(id) => (Kind::Agent, id),
            Change::AddQueue(q) | Change::ReplaceQueue(q) => (Kind::Queue, &q.name),
            Change::RemoveQueue(name) => (Kind::Queue, name),
            Change::AddSkill(name) | Change::RemoveSkill(name) => (Kind::Skill, name),
        }
    }
}

/// Why a change is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The entry is the configuration file's.
    #[error("{kind} `{name}` is defined in the configuration file; change it there")]
    FromFile {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
    },
    /// No such entry.
    #[error("no {kind} named `{name}`")]
    NotFound {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
    },
    /// The name is taken.
    #[error("{kind} `{name}` already exists")]
    Exists {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
    },
    /// The directory it would make is invalid (an unknown queue or skill, a queue still
    /// served, a skill still required, a bad name or value).
    #[error("{0}")]
    Invalid(String),
}

/// The agents, queues and skills kefu runs with.
#[derive(Clone, Debug)]
pub struct Directory {
    /// The whole configuration, with the API's entries added.
    config: Config,
    /// The entries an admin added.
    from_api: BTreeSet<(Kind, String)>,
    /// Each agent's queues (what a supervisor limited to some queues may see of them).
    agent_queues: HashMap<AgentId, Vec<QueueId>>,
}

/// The longest id, name or dial string an admin may give.
const MAX_NAME: usize = 64;
const MAX_TEXT: usize = 200;

impl Directory {
    /// The file's configuration plus what admins added. An added entry whose name the file
    /// now defines is dropped (the file wins; `Store::seed` has already made the row the
    /// file's), and listed in the second value for a warning.
    ///
    /// # Errors
    /// The added entries no longer fit the file (e.g. a queue an added agent serves was
    /// taken out of the file); the error names the entry.
    pub fn new(file: Config, api: ApiEntries) -> Result<(Directory, Vec<String>), DirectoryError> {
        let mut directory = Directory {
            config: file,
            from_api: BTreeSet::new(),
            agent_queues: HashMap::new(),
        };
        let mut shadowed = Vec::new();
        for name in api.skills {
            if directory.config.skills.names.contains(&name) {
                shadowed.push(format!("skill `{name}`"));
            } else {
                directory.insert(Kind::Skill, name.clone());
                directory.config.skills.names.push(name);
            }
        }
        for queue in api.queues {
            if directory.queue(&queue.name).is_some() {
                shadowed.push(format!("queue `{}`", queue.name));
            } else {
                directory.insert(Kind::Queue, queue.name.clone());
                directory.config.queues.push(queue);
            }
        }
        for agent in api.agents {
            if directory.agent(&agent.id).is_some() {
                shadowed.push(format!("agent `{}`", agent.id));
            } else {
                directory.insert(Kind::Agent, agent.id.clone());
                directory.config.agents.push(agent);
            }
        }
        directory.checked().map(|d| (d, shadowed))
    }

    fn insert(&mut self, kind: Kind, name: String) {
        self.from_api.insert((kind, name));
    }

    /// The whole configuration as it now is.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where an entry comes from.
    pub fn origin(&self, kind: Kind, name: &str) -> Origin {
        if self.from_api.contains(&(kind, name.to_owned())) {
            Origin::Api
        } else {
            Origin::File
        }
    }

    /// An agent by id.
    pub fn agent(&self, id: &str) -> Option<&AgentConfig> {
        self.config.agents.iter().find(|a| a.id == id)
    }

    /// A queue by name.
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.config.queues.iter().find(|q| q.name == name)
    }

    /// The queues an agent serves (`None`: no such agent).
    pub fn agent_queues(&self, agent: &AgentId) -> Option<&[QueueId]> {
        self.agent_queues.get(agent).map(Vec::as_slice)
    }

    /// Whether the agent serves one of the scope's queues (with every queue in scope, any
    /// agent, even one no longer in the directory).
    pub fn agent_in_scope(&self, scope: &Scope, agent: &AgentId) -> bool {
        *scope == Scope::All
            || self
                .agent_queues(agent)
                .is_some_and(|queues| scope.allows_any(queues.iter()))
    }

    /// The directory after `change`, validated.
    ///
    /// # Errors
    /// The entry is the file's, missing, or taken; or the result is invalid.
    pub fn with(&self, change: &Change) -> Result<Directory, DirectoryError> {
        let (kind, name) = change.target();
        let exists = match kind {
            Kind::Agent => self.agent(name).is_some(),
            Kind::Queue => self.queue(name).is_some(),
            Kind::Skill => self.config.skills.names.iter().any(|s| s == name),
        };
        let (kind, name) = (kind, name.to_owned());
        let adding = matches!(
            change,
            Change::AddAgent(_) | Change::AddQueue(_) | Change::AddSkill(_)
        );
        if adding {
            check_name(kind, &name)?;
            if exists {
                return Err(DirectoryError::Exists { kind, name });
            }
        } else if !exists {
            return Err(DirectoryError::NotFound { kind, name });
        } else if self.origin(kind, &name) == Origin::File {
            return Err(DirectoryError::FromFile { kind, name });
        }
        let mut next = self.clone();
        let config = &mut next.config;
        match change.clone() {
            Change::AddAgent(agent) => {
                check_agent(&agent)?;
                config.agents.push(agent);
            }
            Change::ReplaceAgent(agent) => {
                check_agent(&agent)?;
                config.agents.retain(|a| a.id != name);
                config.agents.push(agent);
            }
            Change::RemoveAgent(_) => config.agents.retain(|a| a.id != name),
            Change::AddQueue(queue) => config.queues.push(queue),
            Change::ReplaceQueue(queue) => {
                config.queues.retain(|q| q.name != name);
                config.queues.push(queue);
            }
            Change::RemoveQueue(_) => config.queues.retain(|q| q.name != name),
            Change::AddSkill(_) => config.skills.names.push(name.clone()),
            Change::RemoveSkill(_) => config.skills.names.retain(|s| *s != name),
        }
        if adding {
            next.from_api.insert((kind, name));
        } else if matches!(
            change,
            Change::RemoveAgent(_) | Change::RemoveQueue(_) | Change::RemoveSkill(_)
        ) {
            next.from_api.remove(&(kind, name));
        }
        next.checked()
    }

    /// Validates the whole configuration and rebuilds the derived map.
    fn checked(mut self) -> Result<Directory, DirectoryError> {
        if let Err(error) = self.config.validate() {
            return Err(DirectoryError::Invalid(self.named(error)));
        }
        self.agent_queues = (self.config.agents.iter())
            .map(|a| {
                let queues = a.queues.iter().map(QueueId::new).collect();
                (AgentId::new(&a.id), queues)
            })
            .collect();
        Ok(self)
    }

    /// A validation error with the entry named rather than numbered (`agents[9].queues`
    /// becomes ``agent `1010`: queues``): an API client never saw the list's order.
    fn named(&self, error: ConfigError) -> String {
        let ConfigError::Invalid { key, reason } = &error else {
            return error.to_string();
        };
        let config = &self.config;
        let entry = |list: &str| -> Option<(usize, &str)> {
            let rest = key.strip_prefix(list)?.strip_prefix('[')?;
            let (index, rest) = rest.split_once(']')?;
            Some((index.parse().ok()?, rest.trim_start_matches('.')))
        };
        let named = if let Some((i, rest)) = entry("agents") {
            config
                .agents
                .get(i)
                .map(|a| format!("agent `{}`: {rest}", a.id))
        } else if let Some((i, rest)) = entry("queues") {
            config
                .queues
                .get(i)
                .map(|q| format!("queue `{}`: {rest}", q.name))
        } else if let Some((i, rest)) = entry("supervisors") {
            (config.supervisors.get(i)).map(|s| format!("supervisor `{}`: {rest}", s.id))
        } else if let Some((i, rest)) = entry("customers") {
            (config.customers.get(i)).map(|c| format!("customer `{}`: {rest}", c.name))
        } else {
            None
        };
        format!("{}: {reason}", named.unwrap_or_else(|| key.clone()))
    }
}

/// Ids and names go into URLs, channel variables and dial strings: letters, digits, `_`,
/// `-` and `.` only.
fn check_name(kind: Kind, name: &str) -> Result<(), DirectoryError> {
    let fine = !name.is_empty()
        && name.len() <= MAX_NAME
        && (name.chars()).all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if fine {
        Ok(())
    } else {
        Err(DirectoryError::Invalid(format!(
            "{kind} name `{name}`: 1 to {MAX_NAME} letters, digits, `_`, `-` or `.`"
        )))
    }
}

/// What the file's validation leaves to the file's author but an API client must be told.
fn check_agent(agent: &AgentConfig) -> Result<(), DirectoryError> {
    let invalid = |message: String| Err(DirectoryError::Invalid(message));
    let id = &agent.id;
    if agent.name.trim().is_empty() || agent.name.chars().count() > MAX_TEXT {
        return invalid(format!("agent `{id}`: name: 1 to {MAX_TEXT} characters"));
    }
    let dial = &agent.dial_string;
    if dial.is_empty() || dial.len() > MAX_TEXT || dial.chars().any(char::is_whitespace) {
        return invalid(format!(
            "agent `{id}`: dial_string: 1 to {MAX_TEXT} characters without spaces"
        ));
    }
    let mut queues = BTreeSet::new();
    if let Some(twice) = agent.queues.iter().find(|q| !queues.insert(q.as_str())) {
        return invalid(format!("agent `{id}`: queues: `{twice}` is listed twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
