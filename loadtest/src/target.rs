//! The kefu under load: in this process (the default), a `kefu serve` child process
//! (`--kefu PATH`), whose CPU time and peak memory are then measured apart from the load
//! generator's, from `/proc`, or a kefu started elsewhere (`--target`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use kefu::config::Config;
use kefu::store::Store;
use serde::Serialize;

use crate::KefuLatency;

/// A running kefu.
pub enum Kefu {
    /// `kefu::app` in this process.
    InProcess(kefu::app::RunningApp),
    /// A child `kefu serve`, or a kefu started elsewhere, with the same database opened
    /// here for the checks.
    Process {
        /// The child; `None` for a kefu this tool did not start.
        child: Option<tokio::process::Child>,
        /// Its HTTP address.
        http: SocketAddr,
        /// Its database, read by the checks.
        store: Store,
    },
}

/// CPU and memory, from `/proc/<pid>`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Usage {
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
    /// Peak resident memory (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// Time its threads were ready to run but waited for a core, seconds, summed over the
    /// threads alive at the end (`/proc/<pid>/task/*/schedstat`): what sharing the machine
    /// cost it.
    pub core_wait_s: f64,
    /// How many times its threads were put on a core (the same threads): the core wait
    /// divided by this is the mean wait per wake-up.
    pub runs: u64,
}

impl Usage {
    /// Mean wait for a core per run, µs.
    pub fn mean_core_wait_us(&self) -> f64 {
        1e6 * self.core_wait_s / self.runs.max(1) as f64
    }
}

impl Kefu {
    /// Starts kefu with `config`: in this process, or as `binary serve` with the
    /// configuration written beside its database.
    ///
    /// # Errors
    /// kefu does not start, or does not answer `/healthz` within 30 s.
    pub async fn start(config: Config, binary: Option<&Path>, data: &Path) -> anyhow::Result<Kefu> {
        let Some(binary) = binary else {
            return Ok(Kefu::InProcess(kefu::app::start(config).await?));
        };
        let mut config = config;
        config.http.bind = free_port()?;
        let file = data.join("kefu.toml");
        std::fs::write(
            &file,
            toml::to_string(&config).context("writing kefu.toml")?,
        )?;
        let log = std::fs::File::create(data.join("kefu.log"))?;
        let child = tokio::process::Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&file)
            .env("RUST_LOG", "kefu=warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let http = config.http.bind;
        let deadline = kefu::clock::monotonic() + Duration::from_secs(30);
        while get(http, "/healthz").await.is_err() {
            anyhow::ensure!(
                kefu::clock::monotonic() < deadline,
                "kefu did not answer /healthz in 30 s; see {}",
                data.join("kefu.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let store = Store::connect(&config.database.url).await?;
        Ok(Kefu::Process {
            child: Some(child),
            http,
            store,
        })
    }

    /// A kefu already running at `http` with `config`, once it is connected to every
    /// FreeSWITCH node of the configuration (it reconnects on its own, with a backoff of up
    /// to 10 s).
    ///
    /// # Errors
    /// A node is still down after 60 s, or the database cannot be opened.
    pub async fn attach(http: SocketAddr, config: &Config) -> anyhow::Result<Kefu> {
        let deadline = kefu::clock::monotonic() + Duration::from_secs(60);
        loop {
            let ready: Option<serde_json::Value> = get(http, "/readyz")
                .await
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            let connected = |nodes: &Vec<serde_json::Value>| {
                nodes.len() == config.freeswitch.len()
                    && nodes.iter().all(|n| n["connected"] == true)
            };
            if ready
                .as_ref()
                .and_then(|r| r["nodes"].as_array())
                .is_some_and(connected)
            {
                break;
            }
            anyhow::ensure!(
                kefu::clock::monotonic() < deadline,
                "kefu at {http} is not connected to every node of its configuration after 60 s: {ready:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let store = Store::connect(&config.database.url).await?;
        Ok(Kefu::Process {
            child: None,
            http,
            store,
        })
    }

    /// Its HTTP address.
    pub fn http(&self) -> SocketAddr {
        match self {
            Kefu::InProcess(app) => app.http_addr,
            Kefu::Process { http, .. } => *http,
        }
    }

    /// Its database.
    pub fn store(&self) -> &Store {
        match self {
            Kefu::InProcess(app) => &app.store,
            Kefu::Process { store, .. } => store,
        }
    }

    /// Calls in progress plus completed calls not yet written; `None` when kefu does not
    /// answer.
    pub async fn unfinished(&self) -> Option<u64> {
        match self {
            Kefu::InProcess(app) => {
                let busy = app.engine.snapshot().calls_in_progress as u64;
                Some(busy + app.recorder.stats().snapshot().queued)
            }
            Kefu::Process { http, .. } => {
                let snapshot: serde_json::Value =
                    serde_json::from_str(&get(*http, "/api/snapshot").await.ok()?).ok()?;
                let metrics = get(*http, "/metrics").await.ok()?;
                let queued = metrics
                    .lines()
                    .find_map(|l| l.strip_prefix("kefu_writer_queue_depth "))?
                    .trim()
                    .parse::<f64>()
                    .ok()?;
                Some(snapshot["calls_in_progress"].as_u64()? + queued as u64)
            }
        }
    }

    /// Calls waiting in its queues and answered today, from its live snapshot; `None` when
    /// it does not answer.
    pub async fn waiting_and_answered(&self) -> Option<(u64, u64)> {
        let queues: Vec<(u64, u64)> = match self {
            Kefu::InProcess(app) => (app.engine.snapshot().queues.iter())
                .map(|q| (q.waiting as u64, q.answered))
                .collect(),
            Kefu::Process { http, .. } => {
                let text = get(*http, "/api/snapshot").await.ok()?;
                let snapshot: serde_json::Value = serde_json::from_str(&text).ok()?;
                let count = |q: &serde_json::Value, name: &str| q[name].as_u64().unwrap_or(0);
                (snapshot["queues"].as_array()?.iter())
                    .map(|q| (count(q, "waiting"), count(q, "answered")))
                    .collect()
            }
        };
        Some(
            queues
                .iter()
                .fold((0, 0), |(w, a), (qw, qa)| (w + qw, a + qa)),
        )
    }

    /// Its own latencies.
    pub async fn latency(&self) -> KefuLatency {
        match self {
            Kefu::InProcess(app) => KefuLatency::of(&app.metrics),
            Kefu::Process { http, .. } => get(*http, "/api/latency")
                .await
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
        }
    }

    /// The child's CPU time and peak memory so far (`None` in this process: the load
    /// generator's share could not be told apart).
    pub fn usage(&self) -> Option<Usage> {
        match self {
            Kefu::InProcess(_) => None,
            Kefu::Process { child, .. } => usage(child.as_ref()?.id()?),
        }
    }

    /// Stops it (SIGTERM for the child, waiting for it to exit); a kefu started elsewhere
    /// keeps running.
    pub async fn shutdown(self) {
        match self {
            Kefu::InProcess(app) => app.shutdown().await,
            Kefu::Process { child: None, .. } => {}
            Kefu::Process {
                child: Some(mut child),
                ..
            } => {
                if let Some(pid) = child.id() {
                    let _ = tokio::process::Command::new("kill")
                        .arg("-TERM")
                        .arg(pid.to_string())
                        .status()
                        .await;
                }
                if tokio::time::timeout(Duration::from_secs(15), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// CPU time and peak memory of a process.
pub fn usage(pid: u32) -> Option<Usage> {
    // utime and stime are the 14th and 15th fields, counted after the command name (which
    // may hold spaces, inside parentheses), in USER_HZ ticks: 100 a second on Linux.
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let (core_wait_ns, runs) = core_waits(pid);
    Some(Usage {
        cpu_s: ticks / USER_HZ,
        peak_rss_mib: peak_kib / 1024.0,
        core_wait_s: core_wait_ns as f64 / 1e9,
        runs,
    })
}

/// Run-queue wait (ns) and runs, summed over the process's threads. Each thread's
/// `schedstat` holds its time on a core, its time waiting for one, and its runs.
fn core_waits(pid: u32) -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    let mut sum = (0, 0);
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let fields: Vec<u64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if let [_, waited, runs] = fields[..] {
            sum.0 += waited;
            sum.1 += runs;
        }
    }
    sum
}

/// A port the OS says is free now.
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// One GET over HTTP/1.1: the body of a 200.
async fn get(http: SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: kefu\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await??;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP head")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    Ok(body.to_owned())
}
