//! `--agents-only`: the load test's agents against a kefu it did not start (here one with a
//! simulated switch behind it, standing in for a real FreeSWITCH under sipp load).

use std::time::Duration;

use kefu::config::{Config, Secret};
use kefu::sim::{CallerScript, FakeFreeswitch, SimConfig};
use kefu_loadtest::agents::{AgentsOnly, drive};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_only_take_the_calls_of_a_running_kefu() {
    let switch = FakeFreeswitch::start(
        "127.0.0.1:0".parse().expect("address"),
        SimConfig {
            time_scale: 0.01,
            ..SimConfig::default()
        },
    )
    .await
    .expect("switch");
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = Config::defaults().expect("defaults");
    config.http.bind = "127.0.0.1:0".parse().expect("address");
    let db = data.path().join("kefu.db");
    config.database.url = Secret::new(format!("sqlite://{}?mode=rwc", db.display()));
    config.database.spill = data.path().join("spill.jsonl");
    config.flows.dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr_flows");
    config.flows.survey = None;
    config.freeswitch[0].host = switch.addr().ip().to_string();
    config.freeswitch[0].port = switch.addr().port();
    config.freeswitch.truncate(1);
    let kefu = kefu::app::start(config).await.expect("kefu starts");
    let settings = AgentsOnly {
        http: kefu.http_addr.to_string(),
        first: 1001,
        count: 8,
        password: "demo".into(),
        wrap_up: Duration::from_millis(50),
        duration: Some(Duration::from_secs(4)),
    };
    let agents = tokio::spawn(async move { drive(&settings).await });
    tokio::time::sleep(Duration::from_millis(500)).await; // they log in
    for _ in 0..3 {
        // Globex (known, gold): English, 1 for an inquiry.
        let mut caller = CallerScript::new("+15559876543", "8005550100");
        caller.digits = ["2", "1"].into_iter().map(String::from).collect();
        switch.place_call(caller);
    }
    let report = agents.await.expect("agents ran");
    assert_eq!(report.agents, 8);
    assert_eq!(report.offers, 3, "{report:?}");
    assert_eq!(report.connected, 3, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    // Three first offers timed from the pop's enqueue time; free agents, so well under the
    // seconds a queue wait would add.
    let pop = report
        .enqueue_to_pop_ms
        .expect("enqueue → screen-pop measured");
    assert_eq!(pop.count, 3, "{pop:?}");
    assert!(pop.max < 1_000.0, "{pop:?}");
    kefu.shutdown().await;
    switch.shutdown().await;
}
