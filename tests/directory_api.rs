//! `/api/agents`, `/api/queues`, `/api/skills` end to end: an admin adds a skill, a queue
//! and an agent while kefu runs; a flow reloaded onto the new queue routes a simulated call
//! to the new agent over their WebSocket; a change of skills reaches a waiting call at
//! once; what is in use cannot be removed; the file's entries are read-only; and what
//! admins added is still there after a restart.

mod common;

use std::time::Duration;

use common::{
    AgentClient, bearer, fake_switch, get, live_queues_until, login_token, point_at, post, request,
    request_with_body, spawn_app,
};
use kefu::config::Config;
use kefu::sim::{CallerScript, FakeFreeswitch, SimConfig};
use serde_json::{Value, json};

/// A request with a JSON body as `who` (a token): (status, JSON reply).
async fn send(
    http: std::net::SocketAddr,
    who: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let headers = format!(
        "{}Content-Type: application/json\r\nContent-Length: {}\r\n",
        bearer(who),
        body.len()
    );
    let (status, reply) = request_with_body(http, method, path, &headers, &body).await;
    (status, serde_json::from_str(&reply).unwrap_or_default())
}

fn sales_queue() -> Value {
    json!({
        "name": "sales",
        "strategy": "longest_idle",
        "max_wait": "10m",
        "overflow": { "action": "message", "prompt": "ivr/ivr-all_circuits_busy.wav" },
        "short_abandon": "5s",
        "steps": [
            { "after": "0s", "skills": { "sales": 5 } },
            { "after": "1h", "skills": { "sales": 1 } }
        ]
    })
}

fn new_agent(id: &str, queues: &[&str], sales: i64) -> Value {
    json!({
        "id": id,
        "name": format!("Agent {id}"),
        "password": format!("s3cret-{id}"),
        "dial_string": format!("user/{id}"),
        "queues": queues,
        "skills": { "sales": sales }
    })
}

fn straight_to(queue: &str) -> String {
    format!("start = \"q\"\n[nodes.q]\nkind = \"queue\"\nqueue = \"{queue}\"\n")
}

/// `path`'s body, polled until `done` holds or the wait runs out.
async fn get_text_until(
    http: std::net::SocketAddr,
    path: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = kefu::clock::monotonic() + common::WAIT;
    loop {
        let (_, body) = request(http, "GET", path, "").await;
        if done(&body) || kefu::clock::monotonic() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An admin's token.
async fn admin(http: std::net::SocketAddr) -> String {
    login_token(http, "admin", "demo").await
}

/// Adds skill `sales` and queue `sales`.
async fn add_sales(http: std::net::SocketAddr, admin: &str) {
    let (status, reply) = send(
        http,
        admin,
        "POST",
        "/api/skills",
        &json!({"name": "sales"}),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let (status, reply) = send(http, admin, "POST", "/api/queues", &sales_queue()).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["origin"], "api");
    assert_eq!(reply["steps"][1]["after"], "1h", "{reply}");
}

/// kefu against a 100×-fast switch; every call runs `main.toml` of the returned folder,
/// which queues in `general` until a test rewrites it.
async fn running() -> (tempfile::TempDir, FakeFreeswitch, common::TestApp) {
    let flows = tempfile::tempdir().expect("flows dir");
    std::fs::write(flows.path().join("main.toml"), straight_to("general")).expect("flow");
    let switch = fake_switch(SimConfig {
        time_scale: 0.01,
        ..SimConfig::default()
    })
    .await;
    let dir = flows.path().to_owned();
    let test = spawn_app(|config: &mut Config| {
        config.flows.dir = dir;
        config.flows.survey = None;
        config.flows.routes.clear();
        point_at(config, &switch);
    })
    .await;
    (flows, switch, test)
}

#[tokio::test]
async fn an_added_queue_and_agent_take_calls_after_a_flow_reload() {
    let (flows, switch, test) = running().await;
    let http = test.http;
    let admin = admin(http).await;

    // A supervisor reads the directory but may not change it.
    let lead = login_token(http, "lead", "demo").await;
    let (status, _) = send(http, &lead, "POST", "/api/skills", &json!({"name": "x"})).await;
    assert_eq!(status, 403);

    add_sales(http, &admin).await;

    // The flow can name the new queue now; reloaded, calls go there, and the queue stays
    // while the flow names it.
    std::fs::write(flows.path().join("main.toml"), straight_to("sales")).expect("flow");
    let (status, reply) = post(http, "/api/flows/reload").await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = send(http, &admin, "DELETE", "/api/queues/sales", &Value::Null).await;
    assert_eq!(status, 409, "{reply}");
    assert_eq!(
        reply["message"],
        "IVR flow `main` names queue `sales`; change the flow and reload first"
    );

    let (status, reply) = send(
        http,
        &admin,
        "POST",
        "/api/agents",
        &new_agent("2001", &["sales"], 7),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["state"], "logged_out");
    assert!(reply.get("password").is_none(), "{reply}");

    let mut agent = AgentClient::login(http, "2001", "s3cret-2001").await;
    agent.set_available().await;
    let mut caller = CallerScript::new("+15550001111", "100");
    caller.patience = Duration::from_secs(3600);
    let call = switch.place_call(caller);
    assert_eq!(
        agent.next_offer().await,
        call,
        "the added agent gets the call"
    );
    let queues = live_queues_until(http, |q| {
        q.as_array()
            .is_some_and(|qs| qs.iter().any(|q| q["name"] == "sales" && q["offered"] == 1))
    })
    .await;
    assert!(
        queues
            .as_array()
            .is_some_and(|qs| qs.iter().any(|q| q["name"] == "sales")),
        "{queues}"
    );

    // In use: the agent is logged in and serves the queue; the flow names the queue and
    // the queue requires the skill.
    let (status, reply) = send(http, &admin, "DELETE", "/api/agents/2001", &Value::Null).await;
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("logged in")),
        "{reply}"
    );
    let (status, reply) = send(http, &admin, "DELETE", "/api/queues/sales", &Value::Null).await;
    assert_eq!(status, 409, "{reply}");
    assert_eq!(
        reply["message"],
        "agent `2001`: queues: unknown queue `sales`"
    );
    let (status, reply) = send(http, &admin, "DELETE", "/api/skills/sales", &Value::Null).await;
    assert_eq!(status, 409, "{reply}");

    // The file's entries are changed in the file.
    let (status, reply) = send(
        http,
        &admin,
        "PUT",
        "/api/agents/1001",
        &new_agent("1001", &["general"], 3),
    )
    .await;
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("configuration file")),
        "{reply}"
    );

    // A bad body names what is wrong.
    let (status, reply) = send(
        http,
        &admin,
        "POST",
        "/api/agents",
        &new_agent("2002", &["nowhere"], 3),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        reply["message"],
        "agent `2002`: queues: unknown queue `nowhere`"
    );

    let (_, audit) = get(http, "/api/audit").await;
    let audit: Value = serde_json::from_str(&audit).expect("audit JSON");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "skill_create",
        "queue_create",
        "agent_create",
        "agent_delete",
        "agent_update",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        !audit.to_string().contains("s3cret"),
        "no password in the trail"
    );
    test.app.shutdown().await;
}

#[tokio::test]
async fn new_skills_reach_a_waiting_call_at_once() {
    let (_flows, switch, test) = running().await;
    let http = test.http;
    let admin = admin(http).await;
    add_sales(http, &admin).await;
    // general wants billing ≥ 5 for its first 30 s; this agent has 1.
    let mut body = new_agent("2001", &["general"], 1);
    body["skills"] = json!({ "billing": 1 });
    let (status, reply) = send(http, &admin, "POST", "/api/agents", &body).await;
    assert_eq!(status, 201, "{reply}");
    let mut agent = AgentClient::login(http, "2001", "s3cret-2001").await;
    agent.set_available().await;
    let mut caller = CallerScript::new("+15550001111", "100");
    caller.patience = Duration::from_secs(3600);
    let call = switch.place_call(caller);
    live_queues_until(http, |q| q[0]["waiting"] == 1).await;
    let early = tokio::time::timeout(Duration::from_millis(300), agent.next_offer()).await;
    assert!(early.is_err(), "not skilled enough yet");

    // Trained: the same agent, billing 8, password unchanged.
    body["skills"] = json!({ "billing": 8 });
    body.as_object_mut().expect("object").remove("password");
    let (status, reply) = send(http, &admin, "PUT", "/api/agents/2001", &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["skills"]["billing"], 8);
    assert_eq!(
        agent.next_offer().await,
        call,
        "offered as soon as they qualify"
    );
    login_token(http, "2001", "s3cret-2001").await; // the password was kept
    test.app.shutdown().await;
}

#[tokio::test]
async fn what_admins_added_is_there_after_a_restart_and_can_then_be_removed() {
    let dir = tempfile::tempdir().expect("db dir");
    let config = common::test_config(&dir);
    let app = kefu::app::start(config.clone()).await.expect("starts");
    let http = app.http_addr;
    let admin_token = admin(http).await;
    add_sales(http, &admin_token).await;
    let (status, _) = send(
        http,
        &admin_token,
        "POST",
        "/api/agents",
        &new_agent("2001", &["sales", "general"], 6),
    )
    .await;
    assert_eq!(status, 201);
    app.shutdown().await;

    // The offline check knows the added queue from the database; without it, it does not.
    let flows = tempfile::tempdir().expect("flows dir");
    std::fs::write(flows.path().join("main.toml"), straight_to("sales")).expect("flow");
    let check = |config: &Config| {
        let file = flows.path().join("kefu.conf");
        std::fs::write(&file, toml::to_string(config).expect("TOML")).expect("config");
        std::process::Command::new(env!("CARGO_BIN_EXE_kefu"))
            .args(["flows", "check"])
            .arg(flows.path())
            .arg("--config")
            .arg(&file)
            .output()
            .expect("kefu runs")
    };
    let with_db = check(&config);
    assert!(
        with_db.status.success(),
        "{}",
        String::from_utf8_lossy(&with_db.stderr)
    );
    let mut no_db = config.clone();
    no_db.database.url = kefu::config::Secret::new(format!(
        "sqlite://{}",
        dir.path().join("absent.db").display()
    ));
    let without = check(&no_db);
    assert_eq!(without.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(stderr.contains("no database yet"), "{stderr}");
    assert!(stderr.contains("no queue named `sales`"), "{stderr}");
    assert!(
        !dir.path().join("absent.db").exists(),
        "the check creates no database"
    );

    let app = kefu::app::start(config).await.expect("starts again");
    let http = app.http_addr;
    let admin_token = admin(http).await;
    let (status, agent) = send(http, &admin_token, "GET", "/api/agents/2001", &Value::Null).await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["origin"], "api");
    assert_eq!(agent["queues"], json!(["sales", "general"]));
    let (_, file_agent) = send(http, &admin_token, "GET", "/api/agents/1001", &Value::Null).await;
    assert_eq!(file_agent["origin"], "file");
    let (_, queue) = send(http, &admin_token, "GET", "/api/queues/sales", &Value::Null).await;
    assert_eq!(queue["steps"][0]["skills"]["sales"], 5, "{queue}");
    let (_, skills) = send(http, &admin_token, "GET", "/api/skills", &Value::Null).await;
    assert!(
        skills["skills"]
            .as_array()
            .is_some_and(|s| s.contains(&json!({"name": "sales", "origin": "api"}))),
        "{skills}"
    );
    // What a GET shows can be sent back as it is.
    let mut changed = queue.clone();
    changed["max_wait"] = json!("5m");
    let (status, reply) = send(http, &admin_token, "PUT", "/api/queues/sales", &changed).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["max_wait"], "5m");
    let (status, reply) = send(http, &admin_token, "PUT", "/api/agents/2001", &agent).await;
    assert_eq!(status, 200, "{reply}");
    let token = login_token(http, "2001", "s3cret-2001").await;
    // An agent's token reads nothing of the directory.
    let (status, _) = request(http, "GET", "/api/agents", &bearer(&token)).await;
    assert_eq!(status, 403);

    // Out of use, in order, everything goes; the login goes with the agent.
    let sales_gauge = "kefu_queue_waiting{queue=\"sales\"}";
    let metrics = get_text_until(http, "/metrics", |m| m.contains(sales_gauge)).await;
    assert!(
        metrics.contains(sales_gauge),
        "the added queue has its gauge"
    );
    for path in ["/api/agents/2001", "/api/queues/sales", "/api/skills/sales"] {
        let (status, reply) = send(http, &admin_token, "DELETE", path, &Value::Null).await;
        assert_eq!(status, 204, "{path}: {reply}");
    }
    let (status, _) = request(http, "GET", "/api/me", &bearer(&token)).await;
    assert_eq!(status, 401, "the removed agent's session ended");
    let (status, _) = send(http, &admin_token, "GET", "/api/queues/sales", &Value::Null).await;
    assert_eq!(status, 404);
    tokio::time::sleep(Duration::from_millis(400)).await; // a snapshot or two later
    let (_, metrics) = request(http, "GET", "/metrics", "").await;
    assert!(
        !metrics.contains(sales_gauge),
        "a removed queue's gauge goes"
    );
    app.shutdown().await;
}
