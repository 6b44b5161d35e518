use std::num::NonZeroU32;

use super::*;

fn cheap() -> AuthConfig {
    AuthConfig {
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        ..AuthConfig::default()
    }
}

#[tokio::test]
async fn a_hash_verifies_its_password_and_no_other() {
    let passwords = Passwords::new(&cheap()).expect("settings");
    let hash = passwords.hash("s3cret").await;
    assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
    assert!(is_password_hash(&hash));
    assert!(passwords.verify("s3cret", Some(&hash)).await);
    assert!(!passwords.verify("s3cret ", Some(&hash)).await);
    assert!(!passwords.verify("", Some(&hash)).await);
    assert_ne!(
        passwords.hash("s3cret").await,
        hash,
        "a new salt every time"
    );
}

#[tokio::test]
async fn an_unknown_user_or_a_garbled_hash_never_verifies() {
    let passwords = Passwords::new(&cheap()).expect("settings");
    assert!(
        !passwords.verify("decoy password", None).await,
        "the decoy itself"
    );
    assert!(!passwords.verify("x", Some("not a hash")).await);
    assert!(!passwords.verify("x", Some("$argon2id$v=19$m=64")).await);
}

#[tokio::test]
async fn a_hash_made_with_other_settings_still_verifies() {
    let old = Passwords::new(&cheap()).expect("settings");
    let hash = old.hash("pw").await;
    let costlier = Passwords::new(&AuthConfig {
        argon2_memory_kib: 128,
        argon2_iterations: 2,
        ..AuthConfig::default()
    })
    .expect("settings");
    assert!(costlier.verify("pw", Some(&hash)).await);
}

#[test]
fn out_of_range_settings_are_refused() {
    let tiny = AuthConfig {
        argon2_memory_kib: 1,
        ..AuthConfig::default()
    };
    assert!(Passwords::new(&tiny).is_err());
}

#[test]
fn tokens_are_random_and_stored_only_as_their_digest() {
    let a = Token::generate();
    let b = Token::generate();
    assert_ne!(a, b);
    assert_eq!(a.expose().len(), 43, "32 bytes in unpadded base64");
    let digest = a.digest();
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        Token::from_client(&format!(" {} ", a.expose())).digest(),
        digest
    );
    assert_eq!(format!("{a:?}"), "Token(***)");
    // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    assert_eq!(
        Token::from_client("abc").digest(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn the_gate_allows_the_quota_per_id_then_says_how_long_to_wait() {
    let gate = LoginGate::new(NonZeroU32::new(3).expect("3"));
    for _ in 0..3 {
        assert!(gate.attempt("1001").is_ok());
    }
    let wait = gate.attempt("1001").expect_err("fourth within the minute");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(20),
        "{wait:?}"
    );
    assert!(
        gate.attempt("1002").is_ok(),
        "another id has its own allowance"
    );
}

#[test]
fn a_scope_limits_queues_and_calls_that_never_queued() {
    let general = QueueId::new("general");
    let repair = QueueId::new("repair");
    let some = Scope::from_queues(Some(vec!["general".into()]));
    assert!(some.allows(&general) && !some.allows(&repair));
    assert!(some.covers(Some(&general)) && !some.covers(None));
    assert!(Scope::All.covers(None));
    assert!(some.allows_any([repair.clone(), general.clone()].iter()));
    assert!(!some.allows_any([repair].iter()));
    assert_eq!(Scope::from_queues(None), Scope::All);
    assert_eq!(some.queues(), Some(vec![general]));
    assert_eq!(Scope::All.queues(), None);
}

#[test]
fn roles_round_trip_through_their_stored_names() {
    for role in [Role::Admin, Role::Supervisor, Role::Agent] {
        assert_eq!(Role::parse(role.as_str()), Some(role));
    }
    assert_eq!(Role::parse("root"), None);
}
