use super::writer::{fixed_chunks, ledger_insert, CHUNK_SIZES};
use super::*;
use crate::types::{GroupBy, Status, UsageRow};
use std::collections::BTreeMap;

/// One page of workspace `a`'s usage between `from` and `to`, grouped in `tz`: `limit` groups
/// after `after`. Every read of usage in these tests goes through here.
async fn usage_page(
    store: &Store,
    (group_by, tz): (GroupBy, chrono_tz::Tz),
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    limit: usize,
    after: Option<&UsageCursor>,
) -> UsagePage {
    let page = Page { limit, after };
    let usage = store.usage("a", from, to, group_by, tz, page);
    usage.await.unwrap_or_else(|e| panic!("{group_by:?}: {e}"))
}

/// Workspace `a`'s first 100 groups of usage in `span` (UTC days).
async fn first_page(
    store: &Store,
    span: (DateTime<Utc>, DateTime<Utc>),
    g: GroupBy,
) -> Vec<UsageRow> {
    let page = usage_page(store, (g, chrono_tz::UTC), span, 100, None).await;
    page.rows
}

/// An empty database for one test: a SQLite file in a new folder (a subfolder, so that
/// opening creates it), or a new schema on the test PostgreSQL server that
/// `scripts/with-engines.sh` starts (`QS_TEST_POSTGRES_URL`).
pub(crate) struct TestDb {
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                TestDb {
                    url: format!("sqlite://{}/sub/t.db", dir.path().display()),
                    _dir: Some(dir),
                }
            }
            Engine::Postgres => {
                use sqlx::Connection;
                let Ok(base) = std::env::var("QS_TEST_POSTGRES_URL") else {
                    panic!(
                        "QS_TEST_POSTGRES_URL is not set: the store tests also run on PostgreSQL; \
                         run them with `make test` or `scripts/with-engines.sh cargo test`"
                    )
                };
                let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = conn.close().await;
                TestDb {
                    url: format!("{base}?options=-c%20search_path%3D{schema}"),
                    _dir: None,
                }
            }
        }
    }
}

/// Runs each named `async fn(Engine)` as two tests, `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Engine::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Engine::Postgres).await
            }
        }
    )*};
}

on_both_engines!(
    queued_notifications_are_listed_before_they_are_stored_and_once_after,
    writes_are_flushed_when_the_senders_drop_and_survive_reopen,
    roll_up_keeps_totals_and_prunes_rows,
    the_audit_trail_outlives_the_ledger_retention,
    a_row_keeps_the_requested_model_and_the_retries,
    runs_of_rolled_up_rows_are_still_known,
    usage_pages_hold_every_group_once_ledger_and_roll_ups_together,
    the_outbox_gets_one_row_per_matching_channel_once_and_leases_each_row_to_one_worker,
    workspaces_keys_sessions_and_edits_are_kept,
    a_batch_written_again_adds_nothing,
);

async fn temp_store(engine: Engine) -> (Store, tokio::task::JoinHandle<()>, TestDb) {
    let db = TestDb::new(engine).await;
    let (store, writer) = Store::open(&db.url).await.unwrap_or_else(|e| panic!("{e}"));
    (store, tokio::spawn(writer.run()), db)
}

fn row(
    ws: &str,
    ts: DateTime<Utc>,
    family: &str,
    input: u64,
    output: u64,
    cost: Option<u64>,
) -> LedgerRow {
    LedgerRow {
        ts,
        workspace: ws.into(),
        key_id: "k1".into(),
        family: family.into(),
        model: Some("gpt-4o-mini".into()),
        http_status: 200,
        input_tokens: input,
        output_tokens: output,
        cost_nanos: cost,
        latency_ms: 5,
        goal: Some("g".into()),
        ..Default::default()
    }
}

#[test]
fn batches_are_cut_into_cached_statement_sizes() {
    for n in [0usize, 1, 3, 5, 17, 255, 256, 300, 512, 700] {
        let rows: Vec<usize> = (0..n).collect();
        let chunks: Vec<&[usize]> = fixed_chunks(&rows).collect();
        assert!(chunks.iter().all(|c| CHUNK_SIZES.contains(&c.len())), "{n}");
        let joined: Vec<usize> = chunks.concat();
        assert_eq!(joined, rows, "{n}");
    }
    // 300 = 256 + 2×16 + 3×4: few statements, all of them cached.
    let rows = vec![0u8; 300];
    assert_eq!(fixed_chunks(&rows).count(), 6);
}

#[test]
fn sqlite_ledger_inserts_bind_by_position_and_postgres_by_number() {
    // SQLite reads `$n` as a named parameter and finds each name by a walk of the statement's
    // list of names: binding a 256-row INSERT by name was quadratic (6,400 names).
    let sqlite = ledger_insert(Engine::Sqlite, 256);
    assert!(!sqlite.contains('$'), "named parameters in SQLite's insert");
    assert_eq!(sqlite.matches('?').count(), 256 * 25);
    let postgres = ledger_insert(Engine::Postgres, 256);
    assert!(postgres.contains("$6400)") && !postgres.contains('?'));
    assert_eq!(ledger_insert(Engine::Sqlite, 1).matches('?').count(), 25);
}

async fn flushed(store: Store, writer: tokio::task::JoinHandle<()>, db: &TestDb) -> Store {
    // Dropping the only sender lets the writer drain and stop; reopen to read.
    let pool = store.pool.clone();
    drop(store);
    writer.await.unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    let (s, _w) = Store::open(&db.url).await.unwrap_or_else(|e| panic!("{e}"));
    s
}

fn note(ws: &str, i: i64, t0: DateTime<Utc>) -> StoredNotification {
    StoredNotification {
        id: format!("{ws}-{i:04}"),
        workspace: ws.into(),
        ts: t0 + chrono::Duration::milliseconds(i),
        level: crate::types::Level::Info,
        status: Status::Normal,
        key: "notif-recovered".into(),
        args: BTreeMap::new(),
        action_keys: vec![],
    }
}

fn ids(list: &[StoredNotification]) -> Vec<&str> {
    list.iter().map(|n| n.id.as_str()).collect()
}

async fn queued_notifications_are_listed_before_they_are_stored_and_once_after(engine: Engine) {
    let db = TestDb::new(engine).await;
    let (store, writer) = Store::open(&db.url).await.unwrap_or_else(|e| panic!("{e}"));
    let t0 = Utc::now();
    for i in 0..3 {
        assert!(store.write(Write::Notification(Box::new(note("a", i, t0)))));
    }
    assert!(store.write(Write::Notification(Box::new(note("b", 9, t0)))));
    // No writer yet: served from memory, newest first, per workspace, cut to `limit`.
    let listed = store.notifications("a", 2).await.unwrap_or_default();
    assert_eq!(ids(&listed), ["a-0002", "a-0001"]);
    assert_eq!(
        ids(&store.notifications("b", 50).await.unwrap_or_default()),
        ["b-0009"]
    );
    // The writer stores them and empties the rings; the list is the same, each once.
    let task = tokio::spawn(writer.run());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.queued.len() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored = store.notifications("a", 50).await.unwrap_or_default();
    assert_eq!(ids(&stored), ["a-0002", "a-0001", "a-0000"]);
    assert_eq!(stored[..2], listed[..], "the stored form is the queued one");
    // Both places at once (committed, not yet taken out): still once.
    store.queued.push(&note("a", 1, t0));
    assert_eq!(
        ids(&store.notifications("a", 50).await.unwrap_or_default()),
        ["a-0002", "a-0001", "a-0000"]
    );
    drop(store);
    task.await.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_ring_of_queued_notifications_is_bounded() {
    let q = Queued::default();
    let t0 = Utc::now();
    for i in 0..(QUEUED_NOTIFICATIONS_CAP as i64 + 10) {
        q.push(&note("a", i, t0));
    }
    let ring = q.of(Some("a"));
    assert_eq!(ring.len(), QUEUED_NOTIFICATIONS_CAP);
    assert_eq!(ring.first().map(|n| n.id.as_str()), Some("a-0010"));
    q.remove(ring.iter().map(|n| (n.workspace.as_str(), n.id.as_str())));
    assert_eq!(q.len(), 0);
    assert!(q.lock().is_empty(), "empty rings are dropped");
}

async fn writes_are_flushed_when_the_senders_drop_and_survive_reopen(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let now = Utc::now();
    for i in 0..1000 {
        assert!(store.write(Write::Call(Box::new(row(
            "a",
            now,
            "chat.completions",
            i,
            1,
            Some(1000)
        )))));
    }
    let store = flushed(store, writer, &db).await;
    assert_eq!(store.ledger_count("a").await.unwrap_or(0), 1000);
    let span = (
        now - chrono::Duration::hours(1),
        now + chrono::Duration::hours(1),
    );
    let rows = first_page(&store, span, GroupBy::Family).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].requests, 1000);
    assert_eq!(rows[0].input_tokens, (0..1000).sum::<u64>());
    assert!((rows[0].cost_usd - 1000.0 * 1000.0 / 1e9).abs() < 1e-12);
}

async fn roll_up_keeps_totals_and_prunes_rows(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let now = Utc::now();
    let old = now - chrono::Duration::days(100);
    for (ts, input, cost) in [(old, 10, None), (old, 5, Some(7)), (now, 1, Some(1))] {
        store.write(Write::Call(Box::new(row(
            "a",
            ts,
            "embeddings",
            input,
            0,
            cost,
        ))));
    }
    let store = flushed(store, writer, &db).await;
    let n = store
        .roll_up(now - chrono::Duration::days(90))
        .await
        .unwrap_or(0);
    assert_eq!(n, 2);
    assert_eq!(store.ledger_count("a").await.unwrap_or(0), 1);
    let span = (
        old - chrono::Duration::days(1),
        now + chrono::Duration::hours(1),
    );
    let rows = first_page(&store, span, GroupBy::Day).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].requests, 2);
    assert_eq!(rows[0].input_tokens, 15);
    assert_eq!(rows[0].unpriced_requests, 1);
    let buckets = store
        .usage_buckets(old - chrono::Duration::hours(1), now)
        .await
        .unwrap_or_default();
    let total: u64 = buckets.iter().map(|b| b.requests).sum();
    assert_eq!(total, 3);
}

async fn the_audit_trail_outlives_the_ledger_retention(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let old = Utc::now() - chrono::Duration::days(400);
    store.write(Write::Call(Box::new(row(
        "a",
        old,
        "embeddings",
        1,
        0,
        None,
    ))));
    let store = flushed(store, writer, &db).await;
    let entry = AuditEntry {
        ts: old,
        actor: "admin-key".into(),
        address: Some("127.0.0.1".into()),
        action: "quota.reset",
        target: "a".into(),
        before: Some(serde_json::json!({"requests_day": 1})),
        after: None,
    };
    store.audit(&entry).await.unwrap_or_else(|e| panic!("{e}"));
    let pruned = store
        .roll_up(Utc::now() - chrono::Duration::days(90))
        .await
        .unwrap_or(0);
    assert_eq!(pruned, 1, "the ledger row went");
    let trail = store.audit_page(10, None).await.unwrap_or_default();
    assert_eq!(trail.len(), 1, "the audit entry stayed");
    assert_eq!(trail[0].action, "quota.reset");
    assert_eq!(trail[0].at.timestamp(), old.timestamp());
    assert_eq!(trail[0].before, entry.before);
}

async fn a_row_keeps_the_requested_model_and_the_retries(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let now = Utc::now();
    store.write(Write::Call(Box::new(LedgerRow {
        model: Some("gpt-4o-mini-2024-07-18".into()),
        requested_model: Some("gpt-4o".into()),
        upstream_retries: 2,
        ..row("a", now, "chat.completions", 1, 1, Some(1))
    })));
    store.write(Write::Call(Box::new(row(
        "b",
        now,
        "chat.completions",
        1,
        1,
        Some(1),
    ))));
    let store = flushed(store, writer, &db).await;
    let rows: Vec<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT workspace, model, requested_model, upstream_retries FROM ledger ORDER BY workspace",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rows,
        [
            (
                "a".to_string(),
                Some("gpt-4o-mini-2024-07-18".to_string()),
                Some("gpt-4o".to_string()),
                2
            ),
            ("b".to_string(), Some("gpt-4o-mini".to_string()), None, 0),
        ]
    );
}

async fn runs_of_rolled_up_rows_are_still_known(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let now = Utc::now();
    let old = now - chrono::Duration::days(100);
    for (ts, run) in [(old, "run_old"), (old, "run_old"), (now, "run_new")] {
        store.write(Write::Call(Box::new(LedgerRow {
            run_id: Some(run.into()),
            ..row("a", ts, "threads.runs", 1, 1, Some(1))
        })));
    }
    let store = flushed(store, writer, &db).await;
    let before = store.recent_run_ids(10).await.unwrap_or_default();
    assert_eq!(before, ["run_new", "run_old"]);
    let n = store
        .roll_up(now - chrono::Duration::days(90))
        .await
        .unwrap_or(0);
    assert_eq!(n, 2);
    assert_eq!(store.recent_run_ids(10).await.unwrap_or_default(), before);
    assert_eq!(
        store.recent_run_ids(1).await.unwrap_or_default(),
        ["run_new"]
    );
    // Rolling up again (nothing new) keeps them.
    assert_eq!(
        store
            .roll_up(now - chrono::Duration::days(90))
            .await
            .unwrap_or(9),
        0
    );
    assert_eq!(store.recent_run_ids(10).await.unwrap_or_default(), before);
}

/// Every group of `group_by`, walked `limit` at a time; checks each page's size.
async fn walk(
    store: &Store,
    group_by: GroupBy,
    tz: chrono_tz::Tz,
    limit: usize,
    span: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<UsageRow> {
    let mut out = Vec::new();
    let mut after: Option<UsageCursor> = None;
    loop {
        let page = usage_page(store, (group_by, tz), span, limit, after.as_ref()).await;
        assert!(page.rows.len() <= limit);
        if page.next.is_some() {
            assert_eq!(page.rows.len(), limit, "{group_by:?}");
        }
        out.extend(page.rows);
        // The cursor goes through its opaque form, as clients send it.
        let Some(next) = page.next else { break };
        let text = next.encode(group_by);
        after = UsageCursor::decode(&text, group_by);
        assert_eq!(after.as_ref(), Some(&next), "{text}");
        assert!(out.len() < 10_000, "the pages never end");
    }
    out
}

async fn usage_pages_hold_every_group_once_ledger_and_roll_ups_together(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let now = Utc::now();
    // 40 days × 5 hours, half of them old enough to be rolled up; families and models
    // spread over the rows.
    let mut n = 0u64;
    for d in 0..40i64 {
        for h in [0i64, 3, 7, 13, 22] {
            let ts = now - chrono::Duration::days(d) - chrono::Duration::hours(h);
            let fam = ["embeddings", "files", "moderations"][(d % 3) as usize];
            store.write(Write::Call(Box::new(LedgerRow {
                model: Some(format!("m-{:02}", (d * 5 + h) % 37).into()),
                ..row("a", ts, fam, 1, 2, Some(3))
            })));
            n += 1;
        }
    }
    let store = flushed(store, writer, &db).await;
    assert!(
        store
            .roll_up(now - chrono::Duration::days(20))
            .await
            .unwrap_or(0)
            > 0
    );
    let rome = chrono_tz::Europe::Rome;
    let range = (
        now - chrono::Duration::days(400),
        now + chrono::Duration::hours(1),
    );
    for (g, limit) in [
        (GroupBy::Family, 1),
        (GroupBy::Family, 2),
        (GroupBy::Model, 5),
        (GroupBy::Hour, 7),
        (GroupBy::Day, 3),
        (GroupBy::Day, 1000),
    ] {
        let all = usage_page(&store, (g, rome), range, 10_000, None).await;
        assert!(all.next.is_none());
        let walked = walk(&store, g, rome, limit, range).await;
        assert_eq!(walked, all.rows, "{g:?} by {limit}");
        let keys: std::collections::BTreeSet<&str> =
            walked.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys.len(), walked.len(), "{g:?}: a group twice");
        assert_eq!(walked.iter().map(|r| r.requests).sum::<u64>(), n, "{g:?}");
    }
    // Days are calendar days in the zone: about 40 of them, in time order.
    let days = walk(&store, GroupBy::Day, rome, 3, range).await;
    assert!((40..=42).contains(&days.len()), "{}", days.len());
    assert!(days.windows(2).all(|w| w[0].key < w[1].key));
    assert!(UsageCursor::decode("family.00", GroupBy::Day).is_none());
    assert!(UsageCursor::decode("day.zz", GroupBy::Day).is_none());
}

/// Waits (bounded) until `count` rows of `sql` (a `SELECT COUNT(*)`) are there.
async fn wait_count(store: &Store, sql: &'static str, count: i64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&store.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if n == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {n}, not {count}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn the_outbox_gets_one_row_per_matching_channel_once_and_leases_each_row_to_one_worker(
    engine: Engine,
) {
    use crate::model::ChannelFilter;
    use crate::types::{DeliveryOutcome, Level};
    let db = TestDb::new(engine).await;
    // Two instances on one database.
    let (a, wa) = Store::open(&db.url).await.unwrap_or_else(|e| panic!("{e}"));
    let (b, wb) = Store::open(&db.url).await.unwrap_or_else(|e| panic!("{e}"));
    let (wa, wb) = (tokio::spawn(wa.run()), tokio::spawn(wb.run()));
    let filter = |channel: &str, workspaces: &[&str], levels: &[Level]| ChannelFilter {
        channel: channel.into(),
        workspaces: workspaces.iter().map(|w| w.to_string()).collect(),
        levels: levels.to_vec(),
        statuses: vec![],
    };
    let filters = vec![
        filter("all", &[], &[Level::Info, Level::Warning, Level::Error]),
        filter("errors", &[], &[Level::Error]),
        filter("other", &["other"], &[Level::Info]),
    ];
    a.set_channel_filters(filters.clone());
    b.set_channel_filters(filters);
    let ready = a.outbox_ready();
    let woken = ready.notified();
    let t0 = Utc::now();
    let n = note("acme", 1, t0);
    assert!(a.write(Write::Notification(Box::new(n.clone()))));
    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .unwrap_or_else(|_| panic!("the writer did not wake the worker"));
    wait_count(&a, "SELECT COUNT(*) FROM outbox", 1).await;
    // The other instance stores the same notification: the insert adds no row, so no delivery.
    assert!(b.write(Write::Notification(Box::new(n.clone()))));
    assert!(b.write(Write::Notification(Box::new(note("acme", 2, t0)))));
    wait_count(&a, "SELECT COUNT(*) FROM outbox", 2).await;
    let channels: Vec<String> = sqlx::query_scalar("SELECT channel_id FROM outbox")
        .fetch_all(&a.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(channels, vec!["all", "all"], "an info notice of acme");

    // One claim leases the due rows; a second worker finds none until the lease ends.
    let lease = chrono::Duration::seconds(60);
    let now = Utc::now();
    let got = a.claim_due("wa", now, lease, 10).await.unwrap_or_default();
    assert_eq!(got.len(), 2);
    let stored = StoredNotification {
        ts: chrono::SubsecRound::trunc_subsecs(n.ts, 3),
        ..n.clone()
    };
    assert_eq!(got[0].notification, stored, "as stored: to the millisecond");
    assert!(b
        .claim_due("wb", now, lease, 10)
        .await
        .unwrap_or_default()
        .is_empty());
    let later = now + chrono::Duration::seconds(61);
    let taken = b.claim_due("wb", later, lease, 1).await.unwrap_or_default();
    assert_eq!(taken.len(), 1, "a lease that ran out is claimed again");
    let attempt = |worker: &str, id: i64, outcome| Attempt {
        outbox_id: id,
        worker: worker.into(),
        number: 1,
        at: later,
        first_attempt: later,
        outcome,
        next_due: None,
        http_status: Some(200),
        smtp_code: None,
        detail: None,
        latency_ms: 3,
    };
    // The worker that lost the lease records nothing; the one that holds it does.
    let lost = attempt("wa", taken[0].id, DeliveryOutcome::Delivered);
    assert!(!a.record_attempt(&lost).await.unwrap_or(true));
    let held = attempt("wb", taken[0].id, DeliveryOutcome::Delivered);
    assert!(b.record_attempt(&held).await.unwrap_or(false));
    let log = a.deliveries("all", 10).await.unwrap_or_default();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(log[0].http_status, Some(200));
    // Delivered rows are never claimed again.
    let much_later = later + chrono::Duration::seconds(3600);
    let left = a
        .claim_due("wa", much_later, lease, 10)
        .await
        .unwrap_or_default();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id, taken[0].id);
    drop((a, b));
    let _ = (wa.await, wb.await);
}

async fn workspaces_keys_sessions_and_edits_are_kept(engine: Engine) {
    use crate::model::StatusChange;
    let (store, writer, db) = temp_store(engine).await;
    let t0 = Utc::now();
    let limits = LimitFields {
        requests_per_day: Some(50),
        ..Default::default()
    };
    for id in ["beta", "alpha"] {
        let w = StoredWorkspace {
            id: id.into(),
            name: format!("{id} team"),
            limits: limits.clone(),
        };
        store
            .insert_workspace(&w, t0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let dup = StoredWorkspace {
        id: "alpha".into(),
        name: "again".into(),
        limits: LimitFields::default(),
    };
    assert!(
        store.insert_workspace(&dup, t0).await.is_err(),
        "ids are unique"
    );
    for (key_id, ws, byte) in [("k1", "alpha", 1u8), ("k2", "beta", 2)] {
        let k = StoredKey {
            key_id: key_id.into(),
            workspace: ws.into(),
            sha256: [byte; 32],
        };
        store
            .insert_key(&k, t0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .delete_key("k2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let salt = store.session_salt().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(salt.len(), 32);
    // Signed out twice: the later end wins, whatever the order.
    for until in [2_000, 1_000] {
        store
            .revoke_session("s1", until, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .revoke_session("gone", 10, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let edit = LimitFields {
        requests_per_day: Some(7),
        ..Default::default()
    };
    for l in [&limits, &edit] {
        store
            .put_workspace_edit("alpha", l, t0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let alert = StoredNotification {
        id: "alert:alpha:requests_per_day:20000:5000".into(),
        ..note("alpha", 1, t0)
    };
    store.write(Write::Notification(Box::new(alert.clone())));
    store.write(Write::Notification(Box::new(note("beta", 2, t0))));
    store.write(Write::StatusChange(Box::new(StatusChange {
        workspace: "alpha".into(),
        ts: t0,
        from: Status::Normal,
        to: Status::Warning,
        cause_json: "{}".into(),
    })));

    // Read back by a second open of the database, as after a restart.
    let store = flushed(store, writer, &db).await;
    let ws = store.workspaces().await.unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = ws.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(ws[0].name, "alpha team");
    assert_eq!(ws[0].limits, Ok(limits.clone()));
    let keys = store.keys().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].key_id.as_str(), keys[0].sha256), ("k1", [1u8; 32]));
    assert_eq!(
        store.session_salt().await.unwrap_or_default(),
        salt,
        "made once"
    );
    let revoked = store.revoked_sessions(500).await.unwrap_or_default();
    assert_eq!(revoked, [("s1".to_string(), 2_000)]);
    // A later sign-out forgets the expired ones.
    store
        .revoke_session("s2", 3_000, 1_500)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut left = store.revoked_sessions(0).await.unwrap_or_default();
    left.sort();
    assert_eq!(left, [("s1".to_string(), 2_000), ("s2".to_string(), 3_000)]);
    let edits = store
        .workspace_edits()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].limits, Ok(edit));
    let since = t0 - chrono::Duration::minutes(1);
    let marks = store.alert_ids_since(since).await.unwrap_or_default();
    assert_eq!(marks, std::slice::from_ref(&alert.id));
    let all = store.notifications_of_all(10).await.unwrap_or_default();
    assert_eq!(ids(&all), ["beta-0002", alert.id.as_str()]);
    let changes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM status_changes")
        .fetch_one(&store.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changes, 1);
}

/// A spooled batch replayed after its commit went through (the answer was lost, or a replay
/// was cut short) finds its id in `written_batches` and adds nothing.
async fn a_batch_written_again_adds_nothing(engine: Engine) {
    let (store, writer, db) = temp_store(engine).await;
    let now = Utc::now();
    let batch: Vec<Write> = (0..3)
        .map(|i| Write::Call(Box::new(row("a", now, "embeddings", i, 0, Some(1)))))
        .chain([Write::Notification(Box::new(note("a", 1, now)))])
        .collect();
    let first =
        super::writer::write_batch(&store.pool, store.engine(), "batch-1", &batch, &[]).await;
    assert_eq!(first.unwrap_or_else(|e| panic!("{e}")), Some(0));
    let again =
        super::writer::write_batch(&store.pool, store.engine(), "batch-1", &batch, &[]).await;
    assert_eq!(
        again.unwrap_or_else(|e| panic!("{e}")),
        None,
        "already written"
    );
    let other =
        super::writer::write_batch(&store.pool, store.engine(), "batch-2", &batch[..1], &[]).await;
    assert_eq!(other.unwrap_or_else(|e| panic!("{e}")), Some(0));
    let store = flushed(store, writer, &db).await;
    assert_eq!(store.ledger_count("a").await.unwrap_or(0), 4);
    assert_eq!(
        store.notifications("a", 10).await.unwrap_or_default().len(),
        1
    );
}
