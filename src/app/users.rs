//! The configured agents and supervisors become users at every start.

use std::collections::HashMap;

use crate::auth::{Passwords, Role, is_password_hash};
use crate::config::{Config, Secret};
use crate::store::{Store, StoreError, User};

/// Writes the configured users: a password given as an argon2 hash is stored as it is; a
/// plain one keeps the stored hash when that still matches it (no new salt at every
/// start) and is hashed otherwise. Configured users that are no longer configured are
/// removed, so taking someone out of the file takes their access away. Returns how many.
///
/// # Errors
/// The database fails.
pub async fn seed_users(
    store: &Store,
    config: &Config,
    passwords: &Passwords,
) -> Result<usize, StoreError> {
    let stored: HashMap<String, String> = store
        .config_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.password_hash))
        .collect();
    let agents = config
        .agents
        .iter()
        .map(|a| (&a.id, &a.password, Role::Agent, None));
    let supervisors = config
        .supervisors
        .iter()
        .map(|s| (&s.id, &s.password, s.role, s.queues.clone()));
    let mut users = Vec::new();
    for (id, password, role, queues) in agents.chain(supervisors) {
        let password_hash = stored_hash(password, stored.get(id), passwords).await;
        users.push(User {
            id: id.clone(),
            role,
            password_hash,
            queues,
        });
    }
    store.replace_config_users(&users).await?;
    Ok(users.len())
}

async fn stored_hash(password: &Secret, stored: Option<&String>, passwords: &Passwords) -> String {
    let password = password.expose();
    if is_password_hash(password) {
        return password.to_owned();
    }
    match stored {
        Some(hash) if passwords.verify(password, Some(hash)).await => hash.clone(),
        _ => passwords.hash(password).await,
    }
}
