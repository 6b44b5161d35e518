//! Who may do what. Users have a role (admin, supervisor, agent); a supervisor may be limited
//! to some queues. Passwords are kept only as argon2id hashes. A login gives a token: 32
//! random bytes, of which the database keeps only the SHA-256, valid for a configured time.
//! Login attempts are limited per user id, and password hashing runs on a bounded number of
//! blocking threads so that a burst of logins never takes the cores routing needs.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::config::AuthConfig;
use crate::domain::QueueId;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything a supervisor may, on every queue, plus managing customers, agents,
    /// queues and skills.
    Admin,
    /// Live views, call records, reports and actions on their queues.
    Supervisor,
    /// Their own desktop: offers, their calls' customer data, their state.
    Agent,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// The queues a supervisor watches and acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every queue (admins, and supervisors configured without `queues`).
    All,
    /// Only these.
    Queues(Arc<HashSet<QueueId>>),
}

impl Scope {
    /// From a stored list: `None` is every queue.
    pub fn from_queues(queues: Option<Vec<String>>) -> Scope {
        match queues {
            None => Scope::All,
            Some(names) => Scope::Queues(Arc::new(names.iter().map(QueueId::new).collect())),
        }
    }

    /// The queues, or `None` for every queue.
    pub fn queues(&self) -> Option<Vec<QueueId>> {
        match self {
            Scope::All => None,
            Scope::Queues(queues) => Some(queues.iter().cloned().collect()),
        }
    }

    /// Whether the queue is within it.
    pub fn allows(&self, queue: &QueueId) -> bool {
        match self {
            Scope::All => true,
            Scope::Queues(queues) => queues.contains(queue),
        }
    }

    /// Whether a call that queued in `queue` (or never queued: `None`) is within it: a
    /// call that never queued belongs to no supervisor's queues.
    pub fn covers(&self, queue: Option<&QueueId>) -> bool {
        match self {
            Scope::All => true,
            Scope::Queues(queues) => queue.is_some_and(|q| queues.contains(q)),
        }
    }

    /// Whether any of the queues is within it (an agent who serves one of them).
    pub fn allows_any<'a>(&self, mut queues: impl Iterator<Item = &'a QueueId>) -> bool {
        match self {
            Scope::All => true,
            Scope::Queues(allowed) => queues.any(|q| allowed.contains(q)),
        }
    }
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user id (an agent's id is their agent id).
    pub id: String,
    /// Their role.
    pub role: Role,
    /// The queues they may see and act on.
    pub scope: Scope,
}

/// A login token as the client holds it. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 32 bytes from the operating system's generator, URL-safe base64.
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Token(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// From a client's header or message.
    pub fn from_client(text: &str) -> Token {
        Token(text.trim().to_owned())
    }

    /// The text to hand the client, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database keeps: hex SHA-256. A stolen table gives no usable token, and a
    /// token is long enough random that no salt or slow hash is needed.
    pub fn digest(&self) -> String {
        Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Whether a configured password is already an argon2 hash (PHC string) rather than the
/// password itself.
pub fn is_password_hash(value: &str) -> bool {
    value.starts_with("$argon2")
}

/// Whether a configured hash can be read (checked before anything starts).
pub fn readable_hash(value: &str) -> bool {
    PasswordHash::new(value).is_ok()
}

/// Hashes and checks passwords with argon2id, off the async threads and a bounded number
/// at a time.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// Checked against when the user does not exist, so that an unknown id takes as long
    /// to refuse as a wrong password.
    decoy: Arc<str>,
}

/// The argon2 settings are out of range.
#[derive(Debug, thiserror::Error)]
#[error("auth: argon2 settings out of range: {0}")]
pub struct BadArgon2Settings(String);

impl Passwords {
    /// With the configured cost, and at most half the cores hashing at once.
    ///
    /// # Errors
    /// When the memory or iteration settings are out of argon2's range.
    pub fn new(config: &AuthConfig) -> Result<Passwords, BadArgon2Settings> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
            .map_err(|e| BadArgon2Settings(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let decoy =
            hash_with(&argon2, "decoy password").map_err(|e| BadArgon2Settings(e.to_string()))?;
        Ok(Passwords {
            argon2,
            permits: Arc::new(Semaphore::new((cores / 2).max(1))),
            decoy: decoy.into(),
        })
    }

    /// A new PHC string for the password (random salt).
    ///
    /// # Panics
    /// Never: the settings were checked in `new`, and the salt is always valid.
    pub async fn hash(&self, password: &str) -> String {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        self.blocking(move || hash_with(&argon2, &password).expect("argon2 settings checked"))
            .await
    }

    /// Whether the password matches the stored hash. `None` (no such user) is checked
    /// against a decoy and is always false.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.decoy.to_string(), str::to_owned);
        let password = password.to_owned();
        let matches = self
            .blocking(move || {
                PasswordHash::new(&stored).is_ok_and(|hash| {
                    // The hash carries its own cost settings: hashes made before a change
                    // of settings still verify.
                    Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
            })
            .await;
        known && matches
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        // The semaphore is never closed.
        let _permit = self.permits.acquire().await.ok();
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => value,
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon2
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// A bounded rate of login attempts per user id. Attempts past it are refused before any
/// password is checked.
pub struct LoginGate {
    limiter: DefaultKeyedRateLimiter<String>,
}

/// How many ids the gate remembers before it forgets the ones whose allowance is full again.
const GATE_KEYS: usize = 10_000;

impl LoginGate {
    /// `per_minute` attempts per id, all of them usable at once.
    pub fn new(per_minute: NonZeroU32) -> LoginGate {
        LoginGate {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    /// `Ok` when one more attempt for this id is allowed; otherwise how long to wait.
    ///
    /// # Errors
    /// The time until the next attempt is allowed.
    pub fn attempt(&self, id: &str) -> Result<(), Duration> {
        if self.limiter.len() > GATE_KEYS {
            self.limiter.retain_recent();
        }
        let key = id.to_owned();
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests;
