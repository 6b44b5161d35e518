//! Users, logins, tokens and roles over real HTTP and WebSockets: argon2 hashes in the
//! database, a bounded rate of login attempts, tokens that end at logout, agents kept to
//! their desktop, and supervisors kept to their queues.

mod common;

use common::{AgentClient, bearer, get_with, login_token, request, spawn_app};
use futures_util::StreamExt;
use kefu::config::{Secret, SupervisorConfig};
use kefu::gateway::protocol::{ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// POST `/api/login`: (status, whole response head and body).
async fn try_login(http: std::net::SocketAddr, id: &str, password: &str) -> (u16, String) {
    let body = serde_json::json!({ "id": id, "password": password }).to_string();
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    common::exchange(http, "POST", "/api/login", &headers, &body).await
}

fn repair_lead() -> SupervisorConfig {
    SupervisorConfig {
        id: "repair_lead".into(),
        name: "Repair Lead".into(),
        password: Secret::new("fixit"),
        role: kefu::auth::Role::Supervisor,
        queues: Some(vec!["repair".into()]),
    }
}

#[tokio::test]
async fn a_login_gives_a_token_that_works_until_logout_and_only_hashes_are_stored() {
    let test = spawn_app(|_| {}).await;
    let (status, reply) = try_login(test.http, "lead", "demo").await;
    assert_eq!(status, 200, "{reply}");
    let json: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("json");
    assert_eq!(json["role"], "supervisor");
    assert!(json["queues"].is_null(), "every queue: {json}");
    assert!(
        json["expires_at"].as_str().is_some_and(|t| t.len() > 18),
        "{json}"
    );
    let token = json["token"].as_str().expect("token").to_owned();

    let (status, me) = get_with(test.http, "/api/me", &bearer(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert!(me.contains("\"id\":\"lead\""), "{me}");

    // The database keeps an argon2id hash, never the password or the token.
    let stored = test
        .app
        .store
        .user("lead")
        .await
        .expect("db")
        .expect("lead");
    assert!(stored.password_hash.starts_with("$argon2id$"), "{stored:?}");
    assert!(!stored.password_hash.contains("demo"));

    let (status, _) = request(
        test.http,
        "POST",
        "/api/logout",
        &format!("{}Content-Length: 0\r\n", bearer(&token)),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = get_with(test.http, "/api/me", &bearer(&token)).await;
    assert_eq!(status, 401, "a token ends at logout: {body}");
    test.app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_id_get_the_same_answer() {
    let test = spawn_app(|_| {}).await;
    let (wrong_status, wrong) = try_login(test.http, "lead", "nope").await;
    let (unknown_status, unknown) = try_login(test.http, "nobody", "nope").await;
    assert_eq!((wrong_status, unknown_status), (401, 401));
    let body = |r: &str| r.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    assert_eq!(body(&wrong), body(&unknown), "nothing revealed");
    assert!(wrong.contains("www-authenticate: Bearer"), "{wrong}");
    let (status, _) = try_login(test.http, "lead", "").await;
    assert_eq!(status, 401);
    let (status, _) = try_login(test.http, &"x".repeat(100_000), "nope").await;
    assert_eq!(
        status, 401,
        "an overlong id is refused before it is remembered"
    );
    let (status, bad) = common::exchange(
        test.http,
        "POST",
        "/api/login",
        "Content-Type: application/json\r\nContent-Length: 5\r\n",
        "{nope",
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    test.app.shutdown().await;
}

#[tokio::test]
async fn login_attempts_past_the_rate_are_refused_before_any_password_check() {
    let test = spawn_app(|config| {
        config.auth.login_attempts_per_minute = std::num::NonZeroU32::new(3).expect("3");
    })
    .await;
    for _ in 0..3 {
        assert_eq!(try_login(test.http, "1001", "guess").await.0, 401);
    }
    let (status, reply) = try_login(test.http, "1001", "demo").await;
    assert_eq!(status, 429, "even the right password waits: {reply}");
    let retry_after: u64 = reply
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Retry-After header");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // Over the socket too: the same allowance.
    let mut socket = AgentClient::connect(test.http).await;
    socket
        .send(&ClientMessage::password_login(&"1001".into(), "demo"))
        .await;
    assert!(matches!(
        socket.recv().await,
        Some(ServerMessage::Error { code, .. }) if code == "too_many_attempts"
    ));
    // Another id is not held up.
    assert_eq!(try_login(test.http, "1002", "demo").await.0, 200);
    test.app.shutdown().await;
}

#[tokio::test]
async fn an_agent_logs_in_with_a_token_by_message_or_header_and_a_supervisor_cannot() {
    let test = spawn_app(|_| {}).await;
    let token = login_token(test.http, "1002", "demo").await;
    let mut by_message = AgentClient::connect(test.http).await;
    by_message
        .send(&ClientMessage::Login {
            agent: None,
            password: None,
            token: Some(token.clone()),
        })
        .await;
    assert!(matches!(
        by_message.recv().await,
        Some(ServerMessage::Welcome { agent, .. }) if agent.as_str() == "1002"
    ));

    let url = format!("ws://{}/ws/agent", test.http);
    let with_header = |token: String| {
        let mut request = url.as_str().into_client_request().expect("request");
        let value = format!("Bearer {token}").parse().expect("header");
        request.headers_mut().insert("Authorization", value);
        tokio_tungstenite::connect_async(request)
    };
    let (mut socket, _) = with_header(token.clone())
        .await
        .expect("upgrade with a token");
    let first = socket.next().await.expect("a message").expect("frame");
    assert!(
        first.to_text().expect("text").contains("\"welcome\""),
        "{first:?}"
    );

    let status = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
        Ok(_) => 101,
    };
    assert_eq!(status(with_header("forged".into()).await), 401);
    let lead = login_token(test.http, "lead", "demo").await;
    assert_eq!(status(with_header(lead.clone()).await), 403, "not an agent");

    let mut supervisor = AgentClient::connect(test.http).await;
    supervisor
        .send(&ClientMessage::Login {
            agent: None,
            password: None,
            token: Some(lead),
        })
        .await;
    assert!(matches!(
        supervisor.recv().await,
        Some(ServerMessage::Error { code, .. }) if code == "unauthorised"
    ));
    assert_eq!(supervisor.close_code().await, Some(4001));
    test.app.shutdown().await;
}

#[tokio::test]
async fn an_agents_token_reads_no_call_records_and_no_supervisor_route() {
    let test = spawn_app(|_| {}).await;
    let agent = bearer(&login_token(test.http, "1001", "demo").await);
    for path in [
        "/api/calls",
        "/api/audit",
        "/api/reports/queues",
        "/api/reports/agents",
    ] {
        let (status, body) = get_with(test.http, path, &agent).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, _) = request(
        test.http,
        "POST",
        "/api/flows/reload",
        &format!("{agent}Content-Length: 0\r\n"),
    )
    .await;
    assert_eq!(status, 403);
    test.app.shutdown().await;
}

#[tokio::test]
async fn a_supervisor_limited_to_a_queue_sees_and_acts_only_there() {
    let test = spawn_app(|config| config.supervisors.push(repair_lead())).await;
    let mut general = common::answered_call(1);
    let mut repair = common::answered_call(2);
    repair.call.queue = Some(kefu::domain::QueueId::new("repair"));
    repair.call.agent = Some(kefu::domain::AgentId::new("1005"));
    general.call.agent = Some(kefu::domain::AgentId::new("1002"));
    test.app
        .store
        .insert_calls(&[general.clone(), repair.clone()])
        .await
        .expect("stored");
    let scoped = bearer(&login_token(test.http, "repair_lead", "fixit").await);
    let get = |path: String| {
        let scoped = scoped.clone();
        async move { get_with(test.http, &path, &scoped).await }
    };

    let (status, body) = get("/api/calls".into()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&repair.call.call.to_string()), "{body}");
    assert!(!body.contains(&general.call.call.to_string()), "{body}");
    let (status, _) = get(format!("/api/calls/{}", general.call.call)).await;
    assert_eq!(status, 404, "another queue's call is not revealed");
    let (status, _) = get(format!("/api/calls/{}", repair.call.call)).await;
    assert_eq!(status, 200);

    let day = "from=2027-01-15&to=2027-01-16&interval=1d";
    let (status, body) = get(format!("/api/reports/queues?{day}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"repair\"") && !body.contains("\"general\""),
        "{body}"
    );
    let (status, _) = get(format!("/api/reports/queues?{day}&queue=general")).await;
    assert_eq!(status, 403);
    let (status, body) = get(format!("/api/reports/agents?{day}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"1005\"") && !body.contains("\"1002\""),
        "{body}"
    );
    let (status, _) = get("/api/audit".into()).await;
    assert_eq!(
        status, 403,
        "the whole trail is for supervisors of every queue"
    );

    // 1002 serves only general; 1003 serves general and repair.
    let act = |agent: &'static str| {
        let scoped = scoped.clone();
        async move {
            let body = r#"{"state":"logged_out"}"#;
            let headers = format!(
                "{scoped}Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
            common::exchange(
                test.http,
                "POST",
                &format!("/api/agents/{agent}/state"),
                &headers,
                body,
            )
            .await
            .0
        }
    };
    assert_eq!(act("1002").await, 403);
    assert_eq!(act("1003").await, 200);
    let trail = common::get_json(test.http, "/api/audit").await;
    let outcomes: Vec<&str> = trail["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["done", "refused: outside your queues"],
        "{trail}"
    );

    // The live stream: the repair queue and the agents who serve it.
    let mut request = format!("ws://{}/ws/supervisor", test.http)
        .into_client_request()
        .expect("request");
    let value = scoped
        .trim_end()
        .trim_start_matches("Authorization: ")
        .parse()
        .expect("header");
    request.headers_mut().insert("Authorization", value);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("stream");
    let frame = socket.next().await.expect("snapshot").expect("frame");
    let snapshot: serde_json::Value =
        serde_json::from_str(frame.to_text().expect("text")).expect("json");
    let names = |key: &str, field: &str| -> Vec<String> {
        snapshot["snapshot"][key]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v[field].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(names("queues", "name"), ["repair"]);
    let mut agents = names("agents", "agent");
    agents.sort();
    assert_eq!(agents, ["1003", "1005", "1006", "1008"], "{snapshot}");
    test.app.shutdown().await;
}

#[tokio::test]
async fn users_follow_the_configuration_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = kefu::auth::Passwords::new(&common::test_config(&dir).auth)
        .expect("settings")
        .hash("from-a-hash")
        .await;
    let start = |with_repair_lead: bool| {
        let mut config = common::test_config(&dir);
        config.supervisors[0].password = Secret::new(hash.clone());
        if with_repair_lead {
            config.supervisors.push(repair_lead());
        }
        kefu::app::start(config)
    };
    let app = start(true).await.expect("starts");
    assert_eq!(
        try_login(app.http_addr, "lead", "from-a-hash").await.0,
        200,
        "a configured hash"
    );
    assert_eq!(try_login(app.http_addr, "lead", "demo").await.0, 401);
    let before = app
        .store
        .user("repair_lead")
        .await
        .expect("db")
        .expect("user");
    let token = login_token(app.http_addr, "repair_lead", "fixit").await;
    app.shutdown().await;

    let app = start(true).await.expect("restarts");
    let again = app
        .store
        .user("repair_lead")
        .await
        .expect("db")
        .expect("user");
    assert_eq!(
        again.password_hash, before.password_hash,
        "an unchanged password keeps its hash"
    );
    app.shutdown().await;

    let app = start(false).await.expect("restarts without repair_lead");
    assert_eq!(app.store.user("repair_lead").await.expect("db"), None);
    assert_eq!(
        try_login(app.http_addr, "repair_lead", "fixit").await.0,
        401
    );
    let (status, _) = get_with(app.http_addr, "/api/me", &bearer(&token)).await;
    assert_eq!(status, 401, "their sessions went with them");
    app.shutdown().await;
}

/// A request with a JSON body and a token: (status, body).
async fn send_json(
    http: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    json: &str,
) -> (u16, String) {
    let headers = format!(
        "{}Content-Type: application/json\r\nContent-Length: {}\r\n",
        bearer(token),
        json.len()
    );
    let (status, response) = common::exchange(http, method, path, &headers, json).await;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn admins_manage_customers_supervisors_read_them_and_agents_do_neither() {
    let test = spawn_app(|_| {}).await;
    let admin = login_token(test.http, "admin", "demo").await;
    let lead = login_token(test.http, "lead", "demo").await;
    let agent = login_token(test.http, "1001", "demo").await;
    let http = test.http;
    let umbrella = r#"{"name":" Umbrella ","phone":"+15557770000","account":"900100","tier":"gold","account_manager":"1002"}"#;

    let (status, body) = send_json(http, "POST", "/api/customers", &lead, umbrella).await;
    assert_eq!(status, 403, "supervisors do not write: {body}");
    let (status, body) = send_json(http, "POST", "/api/customers", &admin, umbrella).await;
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(created["name"], "Umbrella", "trimmed: {created}");
    assert_eq!(created["account"], "900100");
    let id = created["id"].as_i64().expect("id");

    let (status, body) = send_json(http, "POST", "/api/customers", &admin, umbrella).await;
    assert_eq!(status, 409, "the phone is taken: {body}");
    for (bad, why) in [
        (
            r#"{"name":"X","phone":"+1","account":"1","tier":"diamond"}"#,
            "unknown tier",
        ),
        (
            r#"{"name":"X","phone":"+1","account":"1","tier":"gold","account_manager":"9"}"#,
            "unknown agent",
        ),
        (
            r#"{"name":" ","phone":"+1","account":"1","tier":"gold"}"#,
            "name: 1 to 200",
        ),
        (
            r#"{"name":"X","phone":"+1","account":"1","tier":"gold","vip":true}"#,
            "unknown field",
        ),
    ] {
        let (status, body) = send_json(http, "POST", "/api/customers", &admin, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains(why), "{bad}: {body}");
    }

    let path = format!("/api/customers/{id}");
    let (status, body) = get_with(http, &path, &bearer(&lead)).await;
    assert_eq!(status, 200, "supervisors read customers: {body}");
    let (status, _) = get_with(http, &path, &bearer(&agent)).await;
    assert_eq!(
        status, 403,
        "agents see customers only in their own screen-pop"
    );
    let (status, body) =
        get_with(http, "/api/customers?phone=%2B15557770000", &bearer(&lead)).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"Umbrella\""), "{body}");

    let platinum =
        r#"{"name":"Umbrella","phone":"+15557770000","account":"900100","tier":"platinum"}"#;
    let (status, body) = send_json(http, "PUT", &path, &admin, platinum).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"platinum\"") && body.contains("\"account_manager\":null"),
        "{body}"
    );
    let (status, _) = send_json(http, "PUT", "/api/customers/999999", &admin, platinum).await;
    assert_eq!(status, 404);

    let (status, _) = common::exchange(http, "DELETE", &path, &bearer(&lead), "").await;
    assert_eq!(status, 403);
    let (status, _) = common::exchange(http, "DELETE", &path, &bearer(&admin), "").await;
    assert_eq!(status, 204);
    let (status, _) = get_with(http, &path, &bearer(&lead)).await;
    assert_eq!(status, 404);

    let trail = common::get_json(http, "/api/audit").await;
    let actions: Vec<(&str, &str)> = trail["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| Some((e["action"].as_str()?, e["outcome"].as_str()?)))
        .filter(|(action, _)| action.starts_with("customer_"))
        .collect();
    assert_eq!(
        actions,
        [
            ("customer_delete", "done"),
            ("customer_update", "refused: customer not found"),
            ("customer_update", "done"),
            (
                "customer_create",
                "refused: another customer has this phone or account number"
            ),
            ("customer_create", "done"),
        ],
        "{trail}"
    );
    test.app.shutdown().await;
}
