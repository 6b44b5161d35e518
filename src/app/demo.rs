//! `kefu demo`: kefu on its embedded defaults plus the built-in simulated FreeSWITCH, a
//! steady stream of simulated callers and simulated agents logged in over real WebSockets.
//! Everything talks over real sockets: the ESL client to the fake switch, the agents to
//! `/ws/agent`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::{RunningApp, start, wait_for_signal};
use crate::config::{Config, Secret};
use crate::domain::AgentId;
use crate::sim::agents::{AgentBehaviour, run_agent};
use crate::sim::{CallerScript, FakeFreeswitch, PhoneBehavior, SimConfig};

/// How the demo's simulated world behaves.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    /// New calls per second.
    pub calls_per_second: f64,
    /// Simulated durations (prompts, ringing, talk, patience) are multiplied by this; the
    /// switch applies it, so the ranges below are simulated time.
    pub time_scale: f64,
    /// Talk time range of the simulated agents' phones.
    pub talk: (Duration, Duration),
    /// Callers hang up after waiting this long.
    pub patience: (Duration, Duration),
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            calls_per_second: 1.0,
            time_scale: 0.1,
            talk: (Duration::from_secs(40), Duration::from_secs(120)),
            patience: (Duration::from_secs(60), Duration::from_secs(300)),
        }
    }
}

/// A running demo: kefu, the fake switch and the simulated people.
pub struct Demo {
    /// kefu itself.
    pub app: RunningApp,
    /// The fake FreeSWITCH.
    pub switch: FakeFreeswitch,
    people: CancellationToken,
}

/// Starts the fake switch, points kefu at it, starts kefu, logs the agents in and starts
/// the callers.
///
/// # Errors
/// When the fake switch or kefu cannot start.
pub async fn start_demo(mut config: Config, settings: DemoSettings) -> anyhow::Result<Demo> {
    let sim_config = SimConfig {
        time_scale: settings.time_scale,
        ..SimConfig::default()
    };
    let password = sim_config.password.clone();
    let switch = FakeFreeswitch::start(SocketAddr::from(([127, 0, 0, 1], 0)), sim_config)
        .await
        .context("starting the simulated FreeSWITCH")?;
    config.freeswitch.truncate(1);
    if let Some(node) = config.freeswitch.first_mut() {
        node.host = switch.addr().ip().to_string();
        node.port = switch.addr().port();
        node.password = Secret::new(password);
    }
    let scale = |d: Duration| d.mul_f64(settings.time_scale);
    for agent in &config.agents {
        let talk = random_between(settings.talk);
        switch.set_phone(
            &agent.dial_string,
            PhoneBehavior::Answer {
                // simulated time: the switch applies `time_scale` itself
                ring: Duration::from_secs(3),
                talk,
            },
        );
    }
    let app = start(config.clone()).await?;
    let people = CancellationToken::new();
    let url = format!("ws://{}/ws/agent", app.http_addr);
    for agent in &config.agents {
        let behaviour = AgentBehaviour {
            wrap_up: scale(Duration::from_secs(10)), // real time: the agent's own timer
            reject_probability: 0.02,
        };
        let (id, password) = (AgentId::new(&agent.id), agent.password.expose().to_owned());
        tokio::spawn(run_agent(
            url.clone(),
            id,
            password,
            behaviour,
            people.clone(),
        ));
    }
    let callers = Callers::from_config(&config, &settings);
    tokio::spawn(callers.run(switch.clone(), people.clone()));
    Ok(Demo {
        app,
        switch,
        people,
    })
}

impl Demo {
    /// Stops the callers and agents, then kefu and the switch.
    pub async fn shutdown(self) {
        self.people.cancel();
        self.app.shutdown().await;
        self.switch.shutdown().await;
    }
}

/// `kefu demo`.
///
/// # Errors
/// When start-up fails.
pub async fn demo(config: Config) -> anyhow::Result<()> {
    let demo = start_demo(config, DemoSettings::default()).await?;
    println!(
        "kefu demo running: wallboard at http://{}/wallboard (Ctrl-C to stop)",
        demo.app.http_addr
    );
    wait_for_signal().await;
    demo.shutdown().await;
    Ok(())
}

/// The stream of simulated callers: a mix of known customers and unknown numbers, who press
/// through the main flow's menus and have a patience. The load test uses it too.
pub struct Callers {
    known: Vec<(String, String)>,
    destination: String,
    settings: DemoSettings,
}

impl Callers {
    /// Callers for the configuration's customers and first routed number.
    pub fn from_config(config: &Config, settings: &DemoSettings) -> Callers {
        let known = config
            .customers
            .iter()
            .map(|c| (c.phone.clone(), c.account.clone()))
            .collect();
        let destination = config
            .flows
            .routes
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "8005550100".into());
        Callers {
            known,
            destination,
            settings: settings.clone(),
        }
    }

    async fn run(self, switch: FakeFreeswitch, cancel: CancellationToken) {
        let gap = Duration::from_secs_f64(1.0 / self.settings.calls_per_second.max(0.01));
        let mut tick = tokio::time::interval(gap);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => { switch.place_call(self.next_caller()); }
            }
        }
    }

    /// The next caller: who, which keys, how patient.
    pub fn next_caller(&self) -> CallerScript {
        let mut rng = rand::rng();
        let reason = ["1", "1", "1", "2", "3"][rng.random_range(0..5)].to_owned();
        let language = ["1", "2"][rng.random_range(0..2)].to_owned();
        // Three callers in five are customers on file, whatever the size of the file.
        let known = (rng.random_bool(0.6) && !self.known.is_empty())
            .then(|| &self.known[rng.random_range(0..self.known.len())]);
        let (number, mut digits) = match known {
            Some((phone, _)) => (phone.clone(), VecDeque::from([language, reason])),
            None => {
                let number = format!("+1555{:07}", rng.random_range(0..10_000_000));
                // an unknown caller types an account number (not on file: default tier)
                (
                    number,
                    VecDeque::from([
                        language,
                        format!("{}", rng.random_range(500_000..600_000)),
                        reason,
                    ]),
                )
            }
        };
        // Four in five answer the survey after the agent hangs up, mostly content.
        if rng.random_bool(0.8) {
            digits
                .push_back(["5", "5", "4", "4", "3", "2", "1"][rng.random_range(0..7)].to_owned());
        }
        let patience = random_between(self.settings.patience); // simulated time, like the switch's
        let mut script = CallerScript::new(&number, &self.destination);
        script.digits = digits;
        script.patience = patience;
        script
    }
}

/// A uniformly random duration in `low..=high` (to the millisecond).
pub fn random_between((low, high): (Duration, Duration)) -> Duration {
    let mut rng = rand::rng();
    let span = high.saturating_sub(low).as_millis() as u64;
    low + Duration::from_millis(rng.random_range(0..=span))
}
