//! The directory's rules, over the shipped defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::config::{OverflowConfig, Secret, StepConfig, Strategy};

fn defaults() -> Directory {
    let config = Config::defaults().expect("the shipped defaults are valid");
    Directory::new(config, ApiEntries::default())
        .expect("no API entries")
        .0
}

fn queue(name: &str, skills: &[(&str, i64)]) -> QueueConfig {
    QueueConfig {
        name: name.into(),
        strategy: Strategy::LongestIdle,
        priority: 0,
        max_wait: Duration::from_secs(600),
        overflow: OverflowConfig::Callback,
        short_abandon: Duration::from_secs(5),
        steps: vec![StepConfig {
            after: Duration::ZERO,
            skills: skills.iter().map(|(s, l)| ((*s).into(), *l)).collect(),
        }],
    }
}

fn agent(id: &str, queues: &[&str], skills: &[(&str, i64)]) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: format!("Agent {id}"),
        password: Secret::new("pw"),
        dial_string: format!("user/{id}"),
        queues: queues.iter().map(|q| (*q).into()).collect(),
        skills: skills
            .iter()
            .map(|(s, l)| ((*s).into(), *l))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn invalid(result: Result<Directory, DirectoryError>) -> String {
    match result {
        Err(DirectoryError::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_skill_then_a_queue_then_an_agent_serving_it() {
    let d = defaults();
    let d = d
        .with(&Change::AddSkill("cantonese".into()))
        .expect("new skill");
    let d = d
        .with(&Change::AddQueue(queue("hk", &[("cantonese", 3)])))
        .expect("new queue");
    let d = d
        .with(&Change::AddAgent(agent(
            "2001",
            &["hk", "general"],
            &[("cantonese", 7)],
        )))
        .expect("new agent");
    assert_eq!(
        d.agent_queues(&AgentId::new("2001")),
        Some(&[QueueId::new("hk"), QueueId::new("general")][..])
    );
    assert_eq!(d.origin(Kind::Queue, "hk"), Origin::Api);
    assert_eq!(d.origin(Kind::Queue, "general"), Origin::File);
}

#[test]
fn the_files_entries_are_changed_in_the_file_only() {
    let d = defaults();
    let general = d.queue("general").expect("shipped").clone();
    for change in [
        Change::ReplaceQueue(general),
        Change::RemoveQueue("general".into()),
        Change::RemoveAgent("1001".into()),
        Change::RemoveSkill("billing".into()),
    ] {
        let error = d.with(&change).expect_err("the file's");
        assert!(
            matches!(error, DirectoryError::FromFile { .. }),
            "{change:?}: {error}"
        );
    }
}

#[test]
fn names_taken_missing_or_malformed_are_refused() {
    let d = defaults();
    assert_eq!(
        d.with(&Change::AddQueue(queue("general", &[]))).err(),
        Some(DirectoryError::Exists {
            kind: Kind::Queue,
            name: "general".into()
        })
    );
    assert_eq!(
        d.with(&Change::RemoveAgent("nobody".into())).err(),
        Some(DirectoryError::NotFound {
            kind: Kind::Agent,
            name: "nobody".into()
        })
    );
    for bad in ["", "a b", "x}", "été", &"q".repeat(65)] {
        let message = invalid(d.with(&Change::AddQueue(queue(bad, &[]))));
        assert!(message.contains("letters, digits"), "{bad:?}: {message}");
    }
    let message = invalid(d.with(&Change::AddAgent(agent("lead", &["general"], &[]))));
    assert!(message.starts_with("supervisor `lead`: id"), "{message}");
}

#[test]
fn what_is_still_used_cannot_go() {
    let d = defaults();
    let d = d.with(&Change::AddSkill("sales".into())).expect("skill");
    let d = d
        .with(&Change::AddQueue(queue("sales", &[("sales", 1)])))
        .expect("queue");
    let d = d
        .with(&Change::AddAgent(agent(
            "2001",
            &["sales"],
            &[("sales", 4)],
        )))
        .expect("agent");
    assert_eq!(
        invalid(d.with(&Change::RemoveQueue("sales".into()))),
        "agent `2001`: queues: unknown queue `sales`"
    );
    assert_eq!(
        invalid(d.with(&Change::RemoveSkill("sales".into()))),
        "queue `sales`: steps[0].skills: unknown skill `sales`"
    );
    let d = d
        .with(&Change::RemoveAgent("2001".into()))
        .expect("agent gone");
    let d = d
        .with(&Change::RemoveQueue("sales".into()))
        .expect("queue gone");
    let d = d
        .with(&Change::RemoveSkill("sales".into()))
        .expect("skill gone");
    assert!(d.agent_queues(&AgentId::new("2001")).is_none());
    assert!(d.queue("sales").is_none());
}

#[test]
fn an_agents_values_are_checked() {
    let d = defaults();
    let mut bad_dial = agent("2001", &["general"], &[]);
    bad_dial.dial_string = "user/2001 &echo".into();
    assert!(invalid(d.with(&Change::AddAgent(bad_dial))).contains("dial_string"));
    let twice = agent("2001", &["general", "general"], &[]);
    assert!(invalid(d.with(&Change::AddAgent(twice))).contains("listed twice"));
    let level = agent("2001", &["general"], &[("billing", 11)]);
    assert!(invalid(d.with(&Change::AddAgent(level))).starts_with("agent `2001`: skills.billing"));
    let unknown = agent("2001", &["nowhere"], &[]);
    assert_eq!(
        invalid(d.with(&Change::AddAgent(unknown))),
        "agent `2001`: queues: unknown queue `nowhere`"
    );
}

#[test]
fn the_file_wins_over_an_added_entry_of_the_same_name() {
    let file = Config::defaults().expect("valid");
    let api = ApiEntries {
        agents: vec![
            agent("1001", &["general"], &[]),
            agent("2001", &["general"], &[]),
        ],
        queues: vec![queue("general", &[])],
        skills: vec!["billing".into(), "sales".into()],
    };
    let (d, shadowed) = Directory::new(file, api).expect("fits");
    assert_eq!(
        shadowed,
        ["skill `billing`", "queue `general`", "agent `1001`"]
    );
    assert_eq!(d.origin(Kind::Agent, "1001"), Origin::File);
    assert_eq!(d.origin(Kind::Agent, "2001"), Origin::Api);
    assert_eq!(d.origin(Kind::Skill, "sales"), Origin::Api);
    let gone = ApiEntries {
        agents: vec![agent("2001", &["gone"], &[])],
        ..ApiEntries::default()
    };
    let error = Directory::new(Config::defaults().expect("valid"), gone).expect_err("no queue");
    assert_eq!(
        error.to_string(),
        "agent `2001`: queues: unknown queue `gone`"
    );
}
