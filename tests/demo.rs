//! The README's first command, `kefu demo`, on the embedded defaults: within 15 seconds the
//! queues show answered calls (issue 2's "done when").

mod common;

use std::time::Duration;

use common::{get_json, test_config};
use kefu::app::demo::{DemoSettings, start_demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_answers_calls_within_fifteen_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start_demo(test_config(&dir), DemoSettings::default())
        .await
        .expect("the demo starts");
    let http = demo.app.http_addr;
    let deadline = kefu::clock::monotonic() + Duration::from_secs(15);
    let answered = loop {
        let queues = get_json(http, "/api/snapshot").await["queues"].take();
        let answered: u64 = queues
            .as_array()
            .map(|qs| qs.iter().filter_map(|q| q["answered"].as_u64()).sum())
            .unwrap_or(0);
        if answered > 0 || kefu::clock::monotonic() > deadline {
            break answered;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(answered > 0, "no call answered within 15 s");
    let ready = get_json(http, "/readyz").await;
    assert_eq!(ready["database"], true, "{ready}");
    assert_eq!(ready["nodes"][0]["connected"], true, "{ready}");
    demo.shutdown().await;
}
