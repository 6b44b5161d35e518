//! `--agents-only`: kefu-loadtest's simulated agents against a kefu that is already running,
//! with a real FreeSWITCH behind it (callers from sipp: docs/load-against-freeswitch.md).
//! Each agent logs in over the WebSocket, goes available, takes its offers (the phone, a
//! sipp UAS, answers), wraps up, and reconnects if kefu restarts.

use std::time::Duration;

use kefu::domain::AgentId;
use kefu::sim::agents::{AgentBehaviour, AgentReport, run_agent};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{Percentiles, enqueue_to_pop};

/// Which agents, where, for how long.
#[derive(Clone, Debug)]
pub struct AgentsOnly {
    /// kefu's HTTP address (`10.0.0.9:8080`).
    pub http: String,
    /// The first agent id; the others follow (`1001`, `1002`, …).
    pub first: u64,
    /// How many agents.
    pub count: usize,
    /// Their password (all the same).
    pub password: String,
    /// After-call work before the disposition.
    pub wrap_up: Duration,
    /// Stop after this long; `None`: at Ctrl-C.
    pub duration: Option<Duration>,
}

/// What the agents saw, added up.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentsReport {
    /// Agents driven.
    pub agents: usize,
    /// Offers received.
    pub offers: u64,
    /// Calls connected (`call_connected`).
    pub connected: u64,
    /// Wrap-ups sent.
    pub wrapped_up: u64,
    /// Failed or dropped connections and server errors.
    pub errors: usize,
    /// The first few of them.
    pub error_samples: Vec<String>,
    /// Enqueue (FreeSWITCH's clock) → screen-pop received (this machine's), each call's first
    /// offer, ms: exact only with the clocks synchronised (chrony: to well under 1 ms).
    pub enqueue_to_pop_ms: Option<Percentiles>,
}

/// Runs the agents until `duration` or Ctrl-C.
pub async fn drive(settings: &AgentsOnly) -> AgentsReport {
    let url = format!("ws://{}/ws/agent", settings.http);
    let behaviour = AgentBehaviour {
        wrap_up: settings.wrap_up,
        reject_probability: 0.0,
    };
    let stop = CancellationToken::new();
    let agents: Vec<_> = (0..settings.count as u64)
        .map(|n| {
            let id = AgentId::new((settings.first + n).to_string());
            let run = run_agent(
                url.clone(),
                id,
                settings.password.clone(),
                behaviour.clone(),
                stop.clone(),
            );
            tokio::spawn(run)
        })
        .collect();
    match settings.duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => drop(tokio::signal::ctrl_c().await),
    }
    stop.cancel();
    let mut reports = Vec::new();
    for agent in agents {
        reports.push(agent.await.unwrap_or_default());
    }
    add_up(&reports)
}

fn add_up(reports: &[AgentReport]) -> AgentsReport {
    let errors: Vec<&String> = reports.iter().flat_map(|r| &r.errors).collect();
    AgentsReport {
        agents: reports.len(),
        offers: reports.iter().map(|r| r.offers).sum(),
        connected: reports.iter().map(|r| r.connected).sum(),
        wrapped_up: reports.iter().map(|r| r.wrapped_up).sum(),
        errors: errors.len(),
        error_samples: errors.into_iter().take(5).cloned().collect(),
        enqueue_to_pop_ms: enqueue_to_pop(reports),
    }
}

/// One readable paragraph.
pub fn agents_summary(report: &AgentsReport) -> String {
    let mut text = format!(
        "agents {} · offers {} · connected {} · wrapped up {} · errors {}",
        report.agents, report.offers, report.connected, report.wrapped_up, report.errors
    );
    if let Some(p) = report.enqueue_to_pop_ms {
        text.push_str(&format!(
            "\nenqueue → screen-pop (FreeSWITCH's clock to this one's; queue wait included): {}",
            p.readable()
        ));
    }
    for sample in &report.error_samples {
        text.push_str("\n  ");
        text.push_str(sample);
    }
    text
}
