//! A short load run in the test suite: every placed call is recorded with an outcome, and the
//! report is complete.

use std::time::Duration;

use kefu_loadtest::{LoadSettings, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_loses_no_call() {
    let settings = LoadSettings {
        cps: 25.0,
        duration: Duration::from_secs(2),
        agents: 30,
        switches: 2,
        time_scale: 0.02,   // the switch scales every simulated duration
        missed_percent: 20, // enough that some ring unanswered in 50 calls
        flows: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr_flows"),
        drain_for: Duration::from_secs(60),
        kefu: None,
        target: None,
    };
    let report = run(&settings).await.expect("the run completes");
    assert_eq!(report.placed, 50);
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.wrong_outcome, 0, "{report:?}");
    assert_eq!(report.unknown, 0, "{report:?}");
    assert_eq!(report.outcomes.values().sum::<u64>(), 50, "{report:?}");
    assert!(
        report.outcomes.get("answered").is_some_and(|&n| n > 0),
        "{report:?}"
    );
    // Offers left ringing went back to their queue and were still recorded (above).
    assert!(report.rang_unanswered > 0, "{report:?}");
    assert!(
        report.rang_unanswered + report.declined < report.offers,
        "{report:?}"
    );
    // SL per tier from kefu's own queue report: every queued call of the run is in it.
    let by_tier: u64 = report
        .service_level_by_tier
        .values()
        .map(|t| t.offered)
        .sum();
    let queued = 50 - report.outcomes.get("ended_in_ivr").copied().unwrap_or(0);
    assert_eq!(by_tier, queued, "{:?}", report.service_level_by_tier);
    for (tier, t) in &report.service_level_by_tier {
        let sl_ok = t.service_level.is_none_or(|sl| (0.0..=1.0).contains(&sl));
        assert!(sl_ok && t.target.is_some(), "{tier}: {t:?}");
    }
    let placed = report
        .kefu
        .event_to_decision
        .expect("kefu timed its decisions");
    assert!(
        placed.count > 0 && placed.p50_us <= placed.p99_us,
        "{placed:?}"
    );
    let pop = report.enqueue_to_pop_ms.expect("screen-pops measured");
    assert!(
        pop.count > 0 && pop.p50 <= pop.p99 && pop.p99 <= pop.max,
        "{pop:?}"
    );
    // Every answered call was bridged once; the offer's time includes the agent's phone
    // ringing (2 s × 0.02 = 40 ms), the answer's does not.
    let answered = report.outcomes["answered"];
    let offer = report.offer_to_bridge_ms.expect("offer → bridge measured");
    let answer = report
        .answer_to_bridge_ms
        .expect("answer → bridge measured");
    assert_eq!(
        (offer.count, answer.count),
        (answered, answered),
        "{report:?}"
    );
    assert!(offer.p50 >= 40.0, "{offer:?}");
    assert!(answer.p50 < offer.p50 && answer.max < 1_000.0, "{answer:?}");
}

/// The ramp runs each rate on a fresh kefu and stops at the first failing step; with a
/// loose limit both small steps pass. Agents to spare (a declined or missed offer takes an
/// agent out for 30 s × 0.02): the pop latency is then kefu's, not a queue wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_reports_the_highest_passing_rate() {
    let base = LoadSettings {
        cps: 0.0,
        duration: Duration::from_secs(1),
        agents: 100,
        switches: 1,
        time_scale: 0.02,
        missed_percent: 2,
        flows: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr_flows"),
        drain_for: Duration::from_secs(60),
        kefu: None,
        target: None,
    };
    let found = kefu_loadtest::ramp(&base, &[5.0, 10.0], 5_000.0)
        .await
        .expect("the ramp completes");
    assert_eq!(found.steps.len(), 2, "{found:?}");
    assert!(
        found.steps.iter().all(|s| s.passed && s.lost == 0),
        "{found:?}"
    );
    assert_eq!(found.highest_passing_cps, Some(10.0));
    // An impossible limit fails the first step and stops there.
    let strict = kefu_loadtest::ramp(&base, &[5.0, 10.0], 0.0)
        .await
        .expect("the ramp completes");
    assert_eq!(
        (strict.steps.len(), strict.highest_passing_cps),
        (1, None),
        "{strict:?}"
    );
}

/// `target/debug/kefu` (or whichever profile this test was built in), built if missing.
fn kefu_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = dir.join("kefu");
    if !binary.exists() {
        let built = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "kefu", "--bin", "kefu"])
            .status()
            .expect("cargo runs");
        assert!(built.success(), "building the kefu binary");
    }
    binary
}

#[tokio::test]
async fn kefu_in_its_own_process_is_measured_apart_from_the_generator() {
    let settings = LoadSettings {
        cps: 20.0,
        duration: Duration::from_secs(2),
        agents: 30,
        switches: 2,
        time_scale: 0.02,
        missed_percent: 2,
        flows: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr_flows"),
        drain_for: Duration::from_secs(60),
        kefu: Some(kefu_binary()),
        target: None,
    };
    let report = run(&settings).await.expect("the run completes");
    assert_eq!(report.placed, 40);
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.unknown, 0, "{report:?}");
    let usage = report.kefu_process.expect("kefu's own usage");
    assert!(usage.cpu_s > 0.0, "{usage:?}");
    assert!(
        usage.peak_rss_mib > 5.0 && usage.peak_rss_mib < 1024.0,
        "{usage:?}"
    );
    // Every thread that ran was put on a core at least once.
    assert!(usage.runs > 0, "{usage:?}");
    let generator = report.generator.expect("the generator's own usage");
    assert!(generator.cpu_s > 0.0 && generator.runs > 0, "{generator:?}");
    let decisions = report
        .kefu
        .event_to_decision
        .expect("kefu's latencies over HTTP");
    assert!(decisions.count > 0, "{decisions:?}");
    let summary = kefu_loadtest::summary(&report);
    assert!(summary.contains("kefu process:"), "{summary}");
    assert!(summary.contains("waited for a core"), "{summary}");
}
