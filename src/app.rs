//! Wiring: the only file that knows every part. Connects the database, loads the flows,
//! spawns the writer, the FreeSWITCH nodes and the engine, binds HTTP, and shuts it all
//! down in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod demo;
mod users;

pub use demo::demo;

use crate::config::Config;
use crate::directory::Directory;
use crate::domain::NodeId;
use crate::engine::{self, EngineHandle, Ports};
use crate::esl::node::{NodeSettings, spawn_node};
use crate::gateway::directory::DirectoryState;
use crate::gateway::{self, AppState, Auth, Hub};
use crate::ivr::{self, FlowLibrary, Known};
use crate::recorder::writer::{RecorderHandle, WriterSettings, spawn_writer};
use crate::store::Store;
use crate::telemetry::Metrics;

/// A running kefu.
pub struct RunningApp {
    /// The HTTP address actually bound (port 0 resolved).
    pub http_addr: SocketAddr,
    /// The outbound-mode listener's address, when `[outbound]` is configured.
    pub outbound_addr: Option<SocketAddr>,
    /// The engine's handle.
    pub engine: EngineHandle,
    /// The database.
    pub store: Store,
    /// Agent sockets.
    pub hub: Hub,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The database writer (its counters).
    pub recorder: RecorderHandle,
    /// The flows new calls start on; calls in the IVR keep the version they started with.
    flows: FlowLibrary,
    directory: DirectoryState,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// How long shutdown waits for tasks to drain.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starts everything the configuration describes.
///
/// # Errors
/// The database cannot be opened or migrated, the flows are invalid, or the HTTP address
/// cannot be bound.
pub async fn start(config: Config) -> anyhow::Result<RunningApp> {
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let store = Store::connect(&config.database.url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    // Read before the seed, which makes an added entry the file's when the file now
    // defines its name: the directory says which, for the log.
    let added = (store.api_entries().await).context("reading what admins added")?;
    store
        .seed(&config)
        .await
        .context("seeding from the configuration")?;
    let (directory, shadowed) = Directory::new(config.clone(), added)
        .context("the agents, queues and skills admins added no longer fit the configuration")?;
    for entry in shadowed {
        tracing::warn!(%entry, "the configuration file now defines an entry an admin added; the file's is used");
    }
    let auth = Auth::new(&config.auth)?;
    let users = users::seed_users(&store, &config, auth.passwords())
        .await
        .context("writing the configured users")?;
    tracing::info!(users, "users configured");
    // From here on the configuration includes what admins added.
    let config = directory.config().clone();
    let directory = DirectoryState::new(directory);
    let flows = FlowLibrary::load(Arc::new(config.clone()))
        .map_err(|errors| anyhow::anyhow!("invalid IVR flows:\n{}", errors.join("\n")))?;
    tracing::info!(flows = flows.current().load().len(), dir = %config.flows.dir.display(), "IVR flows loaded");
    let metrics = Arc::new(Metrics::new());
    let hub = Hub::new();
    // The writers stop after the engine, so that what it records while stopping is kept.
    let writers_stop = CancellationToken::new();
    let recorder = spawn_writer(
        store.clone(),
        WriterSettings {
            spill: Some(config.database.spill.clone()),
            ..WriterSettings::default()
        },
        writers_stop.clone(),
        &tracker,
    );
    let agent_states = spawn_writer(
        store.clone(),
        WriterSettings {
            spill: Some(agent_states_spill(&config.database.spill)),
            ..WriterSettings::default()
        },
        writers_stop.clone(),
        &tracker,
    );

    let (switch_tx, switch_rx) = engine::switch_channel();
    let nodes: HashMap<NodeId, _> = config
        .freeswitch
        .iter()
        .map(|n| {
            let name = NodeId::new(&n.name);
            let settings =
                NodeSettings::new(name.clone(), n.host.clone(), n.port, n.password.clone());
            (
                name,
                spawn_node(settings, switch_tx.clone(), cancel.clone(), &tracker),
            )
        })
        .collect();
    drop(switch_tx);

    let ports = Ports {
        nodes: nodes.clone(),
        hub: hub.clone(),
        recorder: recorder.clone(),
        agent_states: agent_states.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
    };
    let saved_callbacks = saved_callbacks(&store).await;
    let (engine, inputs, handle) = engine::build(
        &config,
        flows.current(),
        ports,
        switch_rx,
        tracker.clone(),
        saved_callbacks,
    );
    let engine_stop = cancel.clone();
    tracker.spawn(async move {
        engine::run(engine, inputs, engine_stop).await;
        writers_stop.cancel();
    });

    let state = AppState {
        engine: handle.clone(),
        hub: hub.clone(),
        store: store.clone(),
        nodes: Arc::new(nodes),
        recorder: recorder.clone(),
        agent_states,
        metrics: metrics.clone(),
        auth,
        directory: directory.clone(),
        reports: gateway::reports::ReportSettings::from_config(&config),
        flows: flows.clone(),
    };
    let outbound_addr = match &config.outbound {
        Some(outbound) => Some(spawn_outbound(outbound.listen, &cancel, &tracker).await?),
        None => None,
    };
    let listener = listen(config.http.bind)
        .with_context(|| format!("binding http.bind = {}", config.http.bind))?;
    let http_addr = listener.local_addr()?;
    let shutdown = cancel.clone();
    tracker.spawn(async move {
        let served = axum::serve(listener, gateway::router(state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(error = %error, "http server failed");
        }
    });
    tracing::info!(http = %http_addr, "kefu started");
    Ok(RunningApp {
        http_addr,
        outbound_addr,
        engine: handle,
        store,
        hub,
        metrics,
        recorder,
        flows,
        directory,
        cancel,
        tracker,
    })
}

/// The callbacks a previous run saved and did not make. A row that cannot be read is left
/// in the table (and logged) for someone to look at; the others go back in their queues.
async fn saved_callbacks(store: &Store) -> Vec<crate::call::Session> {
    let rows = match store.pending_callbacks().await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(error = %error, "saved callbacks unreadable: none restored");
            return Vec::new();
        }
    };
    let sessions: Vec<crate::call::Session> = rows
        .into_iter()
        .filter_map(|(call, json)| match serde_json::from_str(&json) {
            Ok(session) => Some(session),
            Err(error) => {
                tracing::error!(call_id = %call, error = %error, "saved callback unreadable; left in the table");
                None
            }
        })
        .collect();
    if !sessions.is_empty() {
        tracing::info!(
            callbacks = sessions.len(),
            "callbacks restored to their queues"
        );
    }
    sessions
}

/// Binds `[outbound] listen` and accepts the dialplan's `socket` connections there.
async fn spawn_outbound(
    addr: SocketAddr,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding outbound.listen = {addr}"))?;
    let bound = listener.local_addr()?;
    let settings = crate::esl::outbound::OutboundSettings {
        max_frame_bytes: crate::esl::DEFAULT_MAX_FRAME_BYTES,
        reply_timeout: Duration::from_secs(5),
    };
    let listening =
        crate::esl::outbound::listen(listener, settings, cancel.clone(), tracker.clone());
    tracker.spawn(listening);
    tracing::info!(outbound = %bound, "listening for the dialplan's socket application");
    Ok(bound)
}

/// The agent-state spill file, beside the calls' one (`spill.jsonl` → `spill.agent-states.jsonl`).
fn agent_states_spill(calls: &std::path::Path) -> std::path::PathBuf {
    calls.with_extension("agent-states.jsonl")
}

/// Pending connections the HTTP socket holds: thousands of agents reconnect at once after
/// a restart, and the usual 1,024 makes the kernel reset some of them.
const HTTP_BACKLOG: u32 = 8192;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(HTTP_BACKLOG)
}

impl RunningApp {
    /// Stops every task and waits (bounded) for them to finish.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within the grace time");
        }
    }

    /// Reloads the flows directory. An invalid set is refused with its errors and the
    /// running set stays; calls already in the IVR finish on the version they started with.
    ///
    /// # Errors
    /// The new set does not load (every error listed).
    pub async fn reload_flows(&self) -> anyhow::Result<usize> {
        let _no_directory_changes = self.directory.hold().await;
        self.flows
            .reload(&self.directory.known())
            .map_err(|errors| anyhow::anyhow!("invalid IVR flows:\n{}", errors.join("\n")))
    }

    /// A token that stops the app when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// `kefu serve`: run until Ctrl-C / SIGTERM.
///
/// # Errors
/// When start-up fails.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = start(config).await?;
    reload_on_hangup_until_stopped(&app).await;
    tracing::info!("shutting down");
    app.shutdown().await;
    Ok(())
}

/// `kefu migrate`.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database.url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    println!("migrations applied");
    Ok(())
}

/// `kefu hash-password`: one line from standard input (kept out of the shell's history
/// and the process list) → its argon2id hash on standard output.
///
/// # Errors
/// When standard input cannot be read, is empty, or the `[auth]` cost is out of range.
pub async fn hash_password(config: Config) -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    let passwords = crate::auth::Passwords::new(&config.auth)?;
    println!("{}", passwords.hash(password).await);
    Ok(())
}

/// `kefu flows check DIR`: prints every error, exit code 1 when there is any. Names are
/// checked against the configuration plus what admins added, read from the database when
/// it is there; otherwise against the file alone, and the output says so.
pub async fn check_flows(config: &Config, dir: &std::path::Path) -> std::process::ExitCode {
    let known = match with_added(config).await {
        Ok(Some(directory)) => Known::from_config(directory.config()),
        Ok(None) => {
            eprintln!("note: no database yet; names checked against the configuration alone");
            Known::from_config(config)
        }
        Err(error) => {
            eprintln!("note: names checked against the configuration alone ({error:#})");
            Known::from_config(config)
        }
    };
    let errors = ivr::check_dir(dir, &known);
    for error in &errors {
        eprintln!("{error}");
    }
    if errors.is_empty() {
        println!("{}: flows OK", dir.display());
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("{} error(s)", errors.len());
        std::process::ExitCode::FAILURE
    }
}

/// The directory kefu would start with: the file plus what admins added (`None` when there
/// is no database yet).
async fn with_added(config: &Config) -> anyhow::Result<Option<Directory>> {
    let Some(store) = Store::connect_existing(&config.database.url).await? else {
        return Ok(None);
    };
    let added = store.api_entries().await;
    store.close().await;
    let (directory, _) = Directory::new(config.clone(), added?)?;
    Ok(Some(directory))
}

/// SIGHUP reloads the flows; Ctrl-C / SIGTERM return.
async fn reload_on_hangup_until_stopped(app: &RunningApp) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return wait_for_signal().await;
        };
        let stop = wait_for_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = hangup.recv() => match app.reload_flows().await {
                    Ok(count) => tracing::info!(flows = count, "SIGHUP: flows reloaded"),
                    Err(error) => tracing::error!(error = %format!("{error:#}"), "SIGHUP: flows refused; the running set stays"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    wait_for_signal().await;
}

pub(crate) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
