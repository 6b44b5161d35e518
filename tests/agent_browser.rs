//! The agent desktop in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver and fantoccini), logs agent 1002 in, goes available, shows a simulated
//! call's screen-pop, accepts it and submits the wrap-up. The stored record carries the
//! disposition typed into the page, today's figures count the call, a reload resumes the
//! session with the kept token, and the wallboard shows the answered call. Screenshots of
//! each step go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

mod common;

use std::time::Duration;

use common::{WAIT, fake_switch, get_json_until, point_at, spawn_app};
use fantoccini::{Client, ClientBuilder, Locator};
use kefu::sim::{CallerScript, PhoneBehavior, SimConfig};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    _process: tokio::process::Child,
    url: String,
}

async fn chromedriver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "chromedriver not found: `apt-get install chromium-driver`"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let process = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let deadline = kefu::clock::monotonic() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            kefu::clock::monotonic() < deadline,
            "chromedriver listens in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver {
        _process: process,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver, chromium: &std::path::Path, profile: &std::path::Path) -> Client {
    let options = json!({
        "binary": chromium,
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000",
            "--no-first-run", "--disable-background-networking", "--disable-sync",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Waits until the element is displayed.
async fn visible(client: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = kefu::clock::monotonic() + WAIT;
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if element.is_displayed().await.unwrap_or(false) {
                return element;
            }
        }
        assert!(kefu::clock::monotonic() < deadline, "{css} shown in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the element's text satisfies `done`; returns it.
async fn text_until(client: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = kefu::clock::monotonic() + WAIT;
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if done(&text) || kefu::clock::monotonic() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(client: &Client, id: &str) {
    let element = client.find(Locator::Id(id)).await;
    element.expect(id).click().await.expect("clicked");
}

async fn type_into(client: &Client, id: &str, text: &str) {
    let element = client.find(Locator::Id(id)).await;
    element.expect(id).send_keys(text).await.expect("typed");
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(common::screenshot_dir().join(name), png).expect("saved");
}

#[tokio::test]
async fn an_agent_takes_a_call_from_the_web_desktop_in_chromium() {
    let Some(chromium) = common::chromium_or_skip() else {
        return;
    };
    // A tenth of real time: the IVR takes about a second, the phone rings 3 s, talk 1 s.
    let switch = fake_switch(SimConfig {
        time_scale: 0.1,
        ..SimConfig::default()
    })
    .await;
    switch.set_phone(
        "user/1002",
        PhoneBehavior::Answer {
            ring: Duration::from_secs(30),
            talk: Duration::from_secs(10),
        },
    );
    let test = spawn_app(|config| {
        point_at(config, &switch);
        config.acd.ring_timeout = Duration::from_secs(60);
    })
    .await;
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, &chromium, profile.path()).await;
    let page = format!("http://{}/agent", test.http);
    client.goto(&page).await.expect("agent page");

    type_into(&client, "agent", "1002").await;
    type_into(&client, "password", "demo").await;
    screenshot(&client, "agent-login.png").await;
    click(&client, "login").await;
    visible(&client, "#controls").await;
    click(&client, "go-available").await;
    let state = text_until(&client, "#state", |t| t == "available").await;
    assert_eq!(state, "available");

    // Initech (silver) chooses English, then 1: general.
    let mut caller = CallerScript::new("+15550001111", "8005550100");
    caller.digits = ["2", "1"].into_iter().map(String::from).collect();
    caller.patience = Duration::from_secs(3600);
    switch.place_call(caller);

    visible(&client, "#offer").await;
    let customer = text_until(&client, "#pop [data-field=customer]", |t| t == "Initech").await;
    assert_eq!(customer, "Initech", "the screen-pop names the customer");
    assert_eq!(
        text_until(&client, "#pop [data-field=tier]", |t| t == "silver").await,
        "silver"
    );
    let path = text_until(&client, "#path", |t| t.contains('→')).await;
    assert!(
        path.contains("[2]") && path.contains("[1]"),
        "the IVR digits: {path}"
    );
    screenshot(&client, "agent-offer.png").await;
    click(&client, "accept").await;

    // The phone answers, the call connects, the agent hangs up: the wrap-up form.
    visible(&client, "#wrapup").await;
    client
        .find(Locator::Id("category"))
        .await
        .expect("category")
        .select_by_label("complaint")
        .await
        .expect("choose");
    type_into(&client, "notes", "printer on fire").await;
    screenshot(&client, "agent-wrapup.png").await;
    click(&client, "submit-wrapup").await;

    let stored = get_json_until(test.http, "/api/calls?agent=1002", |v| {
        v["calls"][0]["disposition"]["category"] == "complaint"
    })
    .await;
    let call = &stored["calls"][0];
    assert_eq!(call["disposition"]["category"], "complaint", "{stored}");
    assert_eq!(call["disposition"]["notes"], "printer on fire");
    assert_eq!(call["outcome"], "answered");

    // Today's own figures count the call once its record is written.
    let today = text_until(&client, "#today", |t| t.starts_with("today: 1 call ")).await;
    assert!(today.starts_with("today: 1 call · AHT "), "{today}");

    // A reload keeps the session: the tab kept the token, not the password.
    client.refresh().await.expect("reload");
    visible(&client, "#controls").await;

    client
        .goto(&format!("http://{}/wallboard", test.http))
        .await
        .expect("wallboard");
    let answered = text_until(&client, "[data-queue=general] [data-field=answered]", |t| {
        t == "1 · 1 · 0"
    })
    .await;
    assert_eq!(
        answered, "1 · 1 · 0",
        "offered · answered · abandoned on the wallboard"
    );
    screenshot(&client, "wallboard.png").await;

    client.close().await.expect("close the session");
    test.app.shutdown().await;
    switch.shutdown().await;
}
