//! `/api/openapi.json` against the running server: every operation it lists is called, with
//! no token and with an admin's, and each answer must be one the document promises. An
//! operation marked as needing a token must refuse a request without one.

mod common;

use common::{bearer, login_token, request, spawn_app};

/// A concrete URL for a templated path.
fn concrete(path: &str) -> String {
    path.replace("{uuid}", &uuid::Uuid::new_v4().to_string())
        .replace("{id}", "1")
        .replace("{name}", "general")
}

/// One call: (status, body). Writes send an empty JSON object.
async fn call(http: std::net::SocketAddr, method: &str, path: &str, auth: &str) -> u16 {
    let headers = if method == "get" {
        auth.to_owned()
    } else {
        format!("{auth}Content-Type: application/json\r\nContent-Length: 2\r\n")
    };
    let body = if method == "get" { "" } else { "{}" };
    let method = method.to_uppercase();
    if body.is_empty() {
        request(http, &method, path, &headers).await.0
    } else {
        common::request_with_body(http, &method, path, &headers, body)
            .await
            .0
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let test = spawn_app(|config| {
        config.auth.login_attempts_per_minute = std::num::NonZeroU32::new(1000).expect("n");
    })
    .await;
    let (status, text) = request(test.http, "GET", "/api/openapi.json", "").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{doc}"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            operations += 1;
            let documented: Vec<u16> = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter_map(|k| k.parse().ok())
                .collect();
            let url = concrete(path);
            let open = call(test.http, method, &url, "").await;
            if operation.get("security").is_some() {
                assert_eq!(open, 401, "{method} {path} without a token");
            }
            assert!(
                documented.contains(&open),
                "{method} {path} without a token: {open}, documented {documented:?}"
            );
            // A fresh admin token each time: one of the operations is logout.
            let admin = bearer(&login_token(test.http, "admin", "demo").await);
            let status = call(test.http, method, &url, &admin).await;
            assert!(
                documented.contains(&status),
                "{method} {path} as admin: {status}, documented {documented:?}"
            );
        }
    }
    assert!(operations >= 24, "{operations} operations");
    test.app.shutdown().await;
}
