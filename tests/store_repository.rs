//! The repository layer on a real database: every test runs on SQLite, and on PostgreSQL
//! too when `KEFU_TEST_DATABASE_URL` is set (`.ci/run` sets it).

mod common;

use common::{answered_call, test_stores};
use kefu::config::{Config, Secret};
use kefu::domain::{AgentId, Category, Disposition, Outcome, TierId, Timestamp};
use kefu::store::{Store, StoreError};

#[tokio::test]
async fn migrations_and_seeding_are_idempotent_and_customers_are_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::defaults().expect("defaults");
    for (db, store) in test_stores(&dir).await {
        store.migrate().await.expect("a second migrate is a no-op");
        store.seed(&config).await.expect("seed");
        store
            .seed(&config)
            .await
            .expect("seeding again updates in place");
        let acme = store
            .find_customer_by_number("+15551234567")
            .await
            .expect("lookup")
            .unwrap_or_else(|| panic!("{db}: ACME is seeded"));
        assert_eq!(acme.name, "ACME Corp", "{db}");
        assert_eq!(acme.account_number, "100200", "{db}");
        assert_eq!(acme.tier, TierId::new("platinum"), "{db}");
        assert_eq!(acme.account_manager, Some(AgentId::new("1001")), "{db}");
        let by_account = store
            .find_customer_by_account("100200")
            .await
            .expect("lookup");
        assert_eq!(by_account, Some(acme), "{db}");
        let stranger = store
            .find_customer_by_number("+10000000000")
            .await
            .expect("lookup");
        assert_eq!(stranger, None, "{db}");
    }
}

#[tokio::test]
async fn a_call_and_its_timeline_read_back_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let full = answered_call(1);
        let mut bare = answered_call(2);
        // an abandoned call: every optional figure absent
        bare.call.outcome = Outcome::Abandoned;
        bare.call.agent = None;
        bare.call.answered_at = None;
        bare.call.talk_ended_at = None;
        bare.call.wrap_up_ended_at = None;
        bare.call.talk_ms = None;
        bare.call.acw_ms = None;
        bare.call.sla_met = None;
        bare.call.short_abandon = true;
        bare.call.disposition = None;
        bare.call.survey_score = None;
        bare.timeline.clear();
        store
            .insert_calls(&[full.clone(), bare.clone()])
            .await
            .expect("insert");
        for expected in [full, bare] {
            let stored = store
                .call_with_timeline(expected.call.call)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{db}: call stored"));
            assert_eq!(stored, expected, "{db}");
        }
        let unknown = kefu::domain::CallId::random();
        assert_eq!(store.call_with_timeline(unknown).await.expect("read"), None);
    }
}

#[tokio::test]
async fn calls_are_found_by_a_timeline_entry_from_a_time_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        // Enqueued 4 s after arriving; arrivals 1 s × n after the same start.
        let calls = [answered_call(1), answered_call(10), answered_call(20)];
        store.insert_calls(&calls).await.expect("insert");
        let from = calls[1].call.arrived_at;
        let mut found = store
            .calls_with_event("enqueued", from)
            .await
            .expect("read");
        found.sort();
        let mut expected = vec![calls[1].call.call, calls[2].call.call];
        expected.sort();
        assert_eq!(
            found, expected,
            "{db}: the first call's entry is before `from`"
        );
        let none = store.calls_with_event("caller_left_for_callback", from);
        assert_eq!(none.await.expect("read"), Vec::new(), "{db}");
    }
}

#[tokio::test]
async fn a_retried_batch_stores_each_call_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let batch = vec![answered_call(1), answered_call(2)];
        store.insert_calls(&batch).await.expect("first try");
        store
            .insert_calls(&batch)
            .await
            .expect("the retry succeeds too");
        let timeline = store
            .call_with_timeline(batch[0].call.call)
            .await
            .expect("read")
            .expect("stored")
            .timeline;
        assert_eq!(timeline.len(), 3, "{db}: no duplicated timeline");
    }
}

#[tokio::test]
async fn a_customers_history_is_newest_first_and_complaints_are_the_unresolved_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::defaults().expect("defaults");
    for (db, store) in test_stores(&dir).await {
        store.seed(&config).await.expect("seed");
        let acme = store
            .find_customer_by_number("+15551234567")
            .await
            .expect("lookup")
            .expect("seeded");
        let calls: Vec<_> = (0..7)
            .map(|n| {
                let mut call = answered_call(n);
                call.call.customer_id = Some(acme.id);
                if n == 2 || n == 4 {
                    call.call.disposition = Some(Disposition {
                        category: Category::Complaint,
                        resolved: n == 4,
                        notes: String::new(),
                    });
                }
                call
            })
            .collect();
        store.insert_calls(&calls).await.expect("insert");
        let recent = store.recent_calls(acme.id, 5).await.expect("history");
        let order: Vec<_> = recent.iter().map(|c| c.call).collect();
        let newest: Vec<_> = calls.iter().rev().take(5).map(|c| c.call.call).collect();
        assert_eq!(order, newest, "{db}: newest first, five of seven");
        let open = store.open_complaints(acme.id, 5).await.expect("complaints");
        assert_eq!(open.len(), 1, "{db}");
        assert_eq!(
            open[0].call, calls[2].call.call,
            "{db}: only the unresolved one"
        );
    }
}

#[tokio::test]
async fn an_unsupported_url_is_refused_without_echoing_secrets() {
    let error = Store::connect(&Secret::new("mysql://kefu:s3cret@db/kefu"))
        .await
        .expect_err("mysql is not supported");
    assert!(matches!(error, StoreError::UnsupportedUrl(_)));
    let text = error.to_string();
    assert!(text.contains("database.url"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    // a server that is not there: a clear error, no password in it
    let error = Store::connect(&Secret::new("postgres://kefu:s3cret@127.0.0.1:1/kefu"))
        .await
        .expect_err("nothing listens on port 1");
    let text = error.to_string();
    assert!(text.contains("connecting to PostgreSQL"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[tokio::test]
async fn nul_characters_from_outside_are_stored_as_replacement_characters() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let mut call = answered_call(1);
        call.call.caller_number = "+1555\u{0}123".into();
        if let Some(d) = call.call.disposition.as_mut() {
            d.notes = "said \u{0} twice".into();
        }
        store
            .insert_calls(&[call.clone()])
            .await
            .unwrap_or_else(|e| panic!("{db}: {e}"));
        let stored = store
            .call_with_timeline(call.call.call)
            .await
            .expect("read")
            .expect("stored")
            .call;
        assert_eq!(stored.caller_number, "+1555\u{fffd}123", "{db}");
        assert_eq!(
            stored.disposition.map(|d| d.notes),
            Some("said \u{fffd} twice".into())
        );
    }
}

#[tokio::test]
async fn call_search_filters_by_time_queue_agent_outcome_and_caller() {
    use kefu::domain::QueueId;
    use kefu::store::CallFilter;
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let calls: Vec<_> = (0..6)
            .map(|n| {
                let mut call = answered_call(n); // one second apart
                if n % 2 == 1 {
                    call.call.queue = Some(QueueId::new("repair"));
                    call.call.agent = Some(AgentId::new("1005"));
                }
                if n == 4 {
                    call.call.outcome = Outcome::Abandoned;
                    call.call.agent = None;
                }
                call
            })
            .collect();
        store.insert_calls(&calls).await.expect("insert");
        let ids = |found: Vec<kefu::recorder::CallRecord>| -> Vec<_> {
            found.iter().map(|c| c.call).collect()
        };
        let search = |filter: CallFilter| {
            let store = store.clone();
            async move { store.list_calls(&filter).await.expect("search") }
        };
        let all = search(CallFilter {
            limit: 100,
            ..CallFilter::default()
        })
        .await;
        let newest_first: Vec<_> = calls.iter().rev().map(|c| c.call.call).collect();
        assert_eq!(ids(all), newest_first, "{db}");
        let repair = search(CallFilter {
            queue: Some(QueueId::new("repair")),
            limit: 100,
            ..CallFilter::default()
        })
        .await;
        assert_eq!(
            ids(repair),
            vec![calls[5].call.call, calls[3].call.call, calls[1].call.call],
            "{db}"
        );
        let some_queues = |names: &[&str]| CallFilter {
            queues: Some(names.iter().map(QueueId::new).collect()),
            limit: 100,
            ..CallFilter::default()
        };
        let repair_only = search(some_queues(&["repair"])).await;
        assert_eq!(
            ids(repair_only),
            vec![calls[5].call.call, calls[3].call.call, calls[1].call.call],
            "{db}: a list of one queue"
        );
        let both = search(some_queues(&["repair", "general"])).await;
        let queued: Vec<_> = calls
            .iter()
            .rev()
            .filter(|c| c.call.queue.is_some())
            .map(|c| c.call.call)
            .collect();
        assert_eq!(ids(both), queued, "{db}: two queues");
        let none = search(some_queues(&[])).await;
        assert!(none.is_empty(), "{db}: an empty list matches nothing");
        let abandoned = search(CallFilter {
            outcome: Some(Outcome::Abandoned),
            limit: 100,
            ..CallFilter::default()
        })
        .await;
        assert_eq!(ids(abandoned), vec![calls[4].call.call], "{db}");
        let t = |n: usize| Timestamp::from_micros(calls[n].call.arrived_at.as_micros());
        let window = search(CallFilter {
            from: Some(t(1)),
            to: Some(t(3)),
            limit: 100,
            ..CallFilter::default()
        })
        .await;
        assert_eq!(
            ids(window),
            vec![calls[2].call.call, calls[1].call.call],
            "{db}: from inclusive, to exclusive"
        );
        let by_agent_and_caller = search(CallFilter {
            agent: Some(AgentId::new("1005")),
            caller_number: Some(calls[3].call.caller_number.clone()),
            limit: 100,
            ..CallFilter::default()
        })
        .await;
        assert_eq!(ids(by_agent_and_caller), vec![calls[3].call.call], "{db}");
        let two = search(CallFilter {
            limit: 2,
            ..CallFilter::default()
        })
        .await;
        assert_eq!(two.len(), 2, "{db}");
    }
}

#[tokio::test]
async fn the_audit_trail_reads_back_newest_first_within_the_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let at = |s: i64| Timestamp::from_micros(1_800_000_000_000_000 + s * 1_000_000);
        for (s, action) in [(0, "move_call"), (10, "set_priority"), (20, "agent_state")] {
            let entry = kefu::store::AuditEntry {
                at: at(s),
                actor: "lead".into(),
                action: action.into(),
                target: "1002".into(),
                detail: serde_json::json!({ "n": s }),
                outcome: "done".into(),
            };
            store.insert_audit(&entry).await.expect("insert");
        }
        let entries = store.audit_entries(at(5), at(30), 10).await.expect("read");
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["agent_state", "set_priority"], "{db}");
        assert_eq!(entries[1].detail["n"], 10, "{db}");
        let newest = store.audit_entries(at(0), at(30), 1).await.expect("read");
        assert_eq!(newest.len(), 1, "{db}");
    }
}

#[tokio::test]
async fn customers_are_added_listed_changed_and_removed_unless_their_calls_are_on_record() {
    use kefu::store::{CustomerFields, CustomerFilter};
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::defaults().expect("defaults");
    for (db, store) in test_stores(&dir).await {
        store.seed(&config).await.expect("seed");
        let fields = |phone: &str, account: &str| CustomerFields {
            name: "Umbrella".into(),
            phone: phone.into(),
            account: account.into(),
            tier: TierId::new("gold"),
            account_manager: Some(AgentId::new("1002")),
        };
        let added = store
            .insert_customer(&fields("+15557770000", "900100"))
            .await
            .expect("added");
        assert_eq!(
            store.customer(added.id).await.expect("read"),
            Some(added.clone()),
            "{db}"
        );
        let duplicate = store
            .insert_customer(&fields("+15557770000", "900999"))
            .await;
        assert!(
            matches!(duplicate, Err(StoreError::Refused(_))),
            "{db}: {duplicate:?}"
        );

        let by_phone = CustomerFilter {
            phone: Some("+15557770000".into()),
            ..CustomerFilter::default()
        };
        assert_eq!(
            store.list_customers(&by_phone).await.expect("list"),
            std::slice::from_ref(&added),
            "{db}"
        );
        let gold = CustomerFilter {
            tier: Some("gold".into()),
            ..CustomerFilter::default()
        };
        let names: Vec<String> = (store.list_customers(&gold).await.expect("list"))
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Globex Ltd", "Umbrella"], "{db}: by id");
        let second_page = CustomerFilter {
            after: Some(added.id - 1),
            limit: Some(1),
            ..CustomerFilter::default()
        };
        assert_eq!(
            store.list_customers(&second_page).await.expect("list"),
            std::slice::from_ref(&added),
            "{db}"
        );

        let mut changed = fields("+15557770000", "900100");
        changed.tier = TierId::new("platinum");
        changed.account_manager = None;
        let updated = store
            .update_customer(added.id, &changed)
            .await
            .expect("update");
        assert_eq!(
            updated.as_ref().map(|c| c.tier.as_str()),
            Some("platinum"),
            "{db}"
        );
        let found = store
            .find_customer_by_number("+15557770000")
            .await
            .expect("lookup");
        assert_eq!(found, updated, "{db}: routing sees the change");
        assert_eq!(
            store
                .update_customer(999_999, &changed)
                .await
                .expect("update"),
            None,
            "{db}"
        );

        let mut call = answered_call(7);
        call.call.customer_id = Some(added.id);
        store.insert_calls(&[call]).await.expect("a call of theirs");
        let refused = store.delete_customer(added.id).await;
        assert!(
            matches!(refused, Err(StoreError::Refused(_))),
            "{db}: {refused:?}"
        );
        let other = store
            .insert_customer(&fields("+15557771111", "900200"))
            .await
            .expect("added");
        assert!(
            store.delete_customer(other.id).await.expect("delete"),
            "{db}"
        );
        assert!(
            !store.delete_customer(other.id).await.expect("delete"),
            "{db}: gone"
        );
        assert_eq!(store.customer(other.id).await.expect("read"), None, "{db}");
    }
}

#[tokio::test]
async fn what_admins_add_reads_back_until_the_file_takes_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::defaults().expect("defaults");
    for (db, store) in test_stores(&dir).await {
        store.seed(&config).await.expect("seed");
        let mut queue = config.queues[0].clone();
        queue.name = "sales".into();
        let mut agent = config.agents[0].clone();
        agent.id = "2001".into();
        agent.password = Secret::new("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g");
        agent.queues = vec!["sales".into()];
        store.put_api_skill("sales").await.expect("skill");
        store.put_api_queue(&queue).await.expect("queue");
        store.put_api_agent(&agent).await.expect("agent");
        store
            .put_api_agent(&agent)
            .await
            .expect("written again in place");
        let added = store.api_entries().await.expect("read back");
        assert_eq!(added.skills, ["sales"], "{db}");
        assert_eq!(added.queues.len(), 1, "{db}");
        assert_eq!(added.queues[0].steps.len(), queue.steps.len(), "{db}");
        assert_eq!(added.queues[0].max_wait, queue.max_wait, "{db}");
        assert_eq!(added.agents[0].queues, ["sales"], "{db}");
        assert_eq!(added.agents[0].skills, agent.skills, "{db}");
        let user = store.user("2001").await.expect("user").expect("a login");
        assert_eq!(user.password_hash, agent.password.expose(), "{db}");

        // A customer naming the agent keeps them; the file taking the queue's name makes
        // it the file's.
        let fields = kefu::store::CustomerFields {
            name: "Initech".into(),
            phone: "+15550002001".into(),
            account: "2001".into(),
            tier: TierId::new("gold"),
            account_manager: Some(AgentId::new("2001")),
        };
        let customer = store.insert_customer(&fields).await.expect("customer");
        let refused = store.delete_api_agent("2001").await.expect_err("managed");
        assert!(matches!(refused, StoreError::Refused(_)), "{db}: {refused}");
        assert!(
            store.delete_customer(customer.id).await.expect("gone"),
            "{db}"
        );
        store.delete_api_agent("2001").await.expect("now it goes");
        assert!(store.user("2001").await.expect("read").is_none(), "{db}");
        let mut with_sales = config.clone();
        with_sales.queues.push(queue.clone());
        store.seed(&with_sales).await.expect("seed with sales");
        let added = store.api_entries().await.expect("read back");
        assert!(added.queues.is_empty(), "{db}: the file's now");
        store.delete_api_skill("sales").await.expect("skill goes");
        assert!(
            store.api_entries().await.expect("read").skills.is_empty(),
            "{db}"
        );
    }
}

#[tokio::test]
async fn a_saved_callback_is_replaced_by_its_next_save_and_gone_once_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (db, store) in test_stores(&dir).await {
        let (a, b) = (
            kefu::domain::CallId::random(),
            kefu::domain::CallId::random(),
        );
        store
            .save_callback(a, r#"{"try":1}"#)
            .await
            .expect("save a");
        store
            .save_callback(b, r#"{"try":1}"#)
            .await
            .expect("save b");
        store
            .save_callback(a, r#"{"try":2}"#)
            .await
            .expect("save a again");
        let pending = store.pending_callbacks().await.expect("read");
        assert_eq!(pending.len(), 2, "{db}: one row per call");
        let a_row = pending.iter().find(|(call, _)| *call == a.to_string());
        assert_eq!(a_row.map(|(_, s)| s.as_str()), Some(r#"{"try":2}"#), "{db}");
        store.delete_callback(a).await.expect("remove");
        let pending = store.pending_callbacks().await.expect("read");
        assert_eq!(
            pending,
            [(b.to_string(), r#"{"try":1}"#.to_owned())],
            "{db}"
        );
    }
}
