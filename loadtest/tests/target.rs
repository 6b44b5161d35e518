//! `--target`: the load test against a kefu it did not start. kefu runs first with its own
//! configuration, whose FreeSWITCH node is a port nobody listens on yet; the load test reads
//! the same file, opens the simulated switch there, waits for kefu to connect, and checks
//! only this run's calls.

use std::time::Duration;

use kefu::config::{Config, Secret};
use kefu_loadtest::{LoadSettings, Target, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_kefu_is_loaded_through_its_own_configuration() {
    let data = tempfile::tempdir().expect("temp dir");
    let flows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr_flows");
    let mut config = Config::defaults().expect("defaults");
    config.http.bind = "127.0.0.1:0".parse().expect("address");
    let db = data.path().join("kefu.db");
    config.database.url = Secret::new(format!("sqlite://{}?mode=rwc", db.display()));
    config.database.spill = data.path().join("spill.jsonl");
    config.flows.dir = flows.clone();
    config.flows.survey = None;
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = free.local_addr().expect("address").port();
    drop(free);
    config.freeswitch.truncate(1);
    config.freeswitch[0].host = "127.0.0.1".into();
    config.freeswitch[0].port = port;
    let file = data.path().join("kefu.toml");
    std::fs::write(&file, toml::to_string(&config).expect("toml")).expect("write");
    let kefu = kefu::app::start(config).await.expect("kefu starts");

    let settings = LoadSettings {
        cps: 10.0,
        duration: Duration::from_secs(2),
        agents: 0,
        switches: 0,
        time_scale: 0.02,
        missed_percent: 2,
        flows,
        drain_for: Duration::from_secs(60),
        kefu: None,
        target: Some(Target {
            http: kefu.http_addr,
            config: file.clone(),
            agent_password: "demo".into(),
        }),
    };
    let first = run(&settings).await.expect("the first run completes");
    assert_eq!(first.placed, 20);
    assert!(first.is_sound(), "{first:?}");
    assert!(!first.kefu_in_process && first.kefu_process.is_none());
    let summary = kefu_loadtest::summary(&first);
    assert!(summary.contains("kefu runs elsewhere"), "{summary}");
    assert!(
        first.outcomes.get("answered").is_some_and(|&n| n > 0),
        "{first:?}"
    );
    // The running kefu is not stopped, and a second run counts only its own calls.
    let second = run(&settings).await.expect("the second run completes");
    assert_eq!(second.placed, 20);
    assert!(second.is_sound(), "{second:?}");
    assert_eq!(second.outcomes.values().sum::<u64>(), 20, "{second:?}");
    kefu.shutdown().await;
}
