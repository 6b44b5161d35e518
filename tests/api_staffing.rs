//! `GET /api/queues/{name}/staffing`: Erlang C staffing over HTTP.

mod common;

use common::{get, get_json_until, spawn_app};

#[tokio::test]
async fn staffing_answers_how_many_agents_for_80_in_20() {
    let test = spawn_app(|_| {}).await;
    // 200 calls an hour at 180 s each: 10 erlangs; 14 agents give 88.8 % in 20 s, 13 give 79.6 %.
    let path = "/api/queues/general/staffing?calls_per_hour=200&aht_s=180";
    let answer = get_json_until(test.http, path, |v| v["agents_needed"].is_u64()).await;
    assert_eq!(answer["agents_needed"], 14, "{answer}");
    assert!((answer["traffic_erlangs"].as_f64().unwrap_or(0.0) - 10.0).abs() < 1e-9);
    let around = answer["around"]
        .as_array()
        .expect("figures around the answer");
    let at = |n: u64| around.iter().find(|r| r["agents"] == n).expect("row");
    assert!((at(13)["p_wait"].as_f64().unwrap_or(0.0) - 0.2853).abs() < 5e-4);
    assert!(at(13)["service_level"].as_f64().unwrap_or(1.0) < 0.8);
    assert!(at(14)["service_level"].as_f64().unwrap_or(0.0) >= 0.8);

    assert_eq!(
        get(
            test.http,
            "/api/queues/nope/staffing?calls_per_hour=1&aht_s=1"
        )
        .await
        .0,
        404
    );
    let (status, body) = get(
        test.http,
        "/api/queues/general/staffing?calls_per_hour=-5&aht_s=180",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        get(test.http, "/api/queues/general/staffing?aht_s=180")
            .await
            .0,
        400
    );
    test.app.shutdown().await;
}
