//! The wallboard in a real browser: headless Chromium loads `/wallboard`, runs its script
//! against the live API, and the rendered page shows the answered call.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it). Without it the test fails and says so,
//! unless `KEFU_SKIP_BROWSER=1` asks to skip it explicitly.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{AgentClient, fake_switch, live_queues_until, point_at, spawn_app};
use kefu::sim::{CallerScript, PhoneBehavior, SimConfig};

/// The page as Chromium rendered it after its scripts ran for a few (virtual) seconds.
async fn rendered_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=4000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("chromium finishes in time")
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

#[tokio::test]
async fn wallboard_renders_live_queue_figures_in_chromium() {
    let Some(browser) = common::chromium_or_skip() else {
        return;
    };
    let switch = fake_switch(SimConfig {
        time_scale: 0.01,
        ..SimConfig::default()
    })
    .await;
    switch.set_phone(
        "user/1002",
        PhoneBehavior::Answer {
            ring: Duration::from_millis(50),
            talk: Duration::from_millis(100),
        },
    );
    let test = spawn_app(|config| point_at(config, &switch)).await;
    let mut agent = AgentClient::login(test.http, "1002", "demo").await;
    agent.set_available().await;
    // Initech (silver) chooses English, then 1: general (in and out of office hours).
    let mut caller = CallerScript::new("+15550001111", "8005550100");
    caller.digits = ["2", "1"].into_iter().map(String::from).collect();
    caller.patience = Duration::from_secs(3600); // scaled by the switch's time_scale
    switch.place_call(caller);
    live_queues_until(test.http, |q| {
        q.as_array()
            .is_some_and(|qs| qs.iter().any(|q| q["answered"] == 1))
    })
    .await;

    let dom = rendered_dom(&browser, &format!("http://{}/wallboard", test.http)).await;
    let tile = dom
        .split("data-queue=\"")
        .find(|t| t.starts_with("general\""))
        .unwrap_or_else(|| panic!("a tile for queue general in the rendered page: {dom}"));
    assert!(
        tile.contains("data-field=\"answered\">1 · 1 · 0<"),
        "offered · answered · abandoned = 1 · 1 · 0 in {tile}"
    );
    assert!(
        tile.contains("silver 100.0%/80.0%"),
        "the caller's tier, its SL today against its own target, in {tile}"
    );
    assert!(dom.contains("calls in progress"), "status line rendered");
    test.app.shutdown().await;
    switch.shutdown().await;
}
