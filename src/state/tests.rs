//! The scripts against a real Redis (`scripts/with-engines.sh` starts one and sets
//! `QS_TEST_REDIS_URL`). Each test uses workspaces of its own.

use super::*;

const T0: i64 = 1_800_000_000;
const DAY: i64 = 740_000;
const MONTH: i64 = 24_300;

async fn state(hold_secs: u64) -> RedisState {
    let url = std::env::var("QS_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("QS_TEST_REDIS_URL is not set: run the tests through scripts/with-engines.sh")
    });
    RedisState::connect(&url, hold_secs, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn workspace() -> String {
    format!("ws-{:x}", rand::random::<u64>())
}

fn caps(list: &[(LimitKind, u64)]) -> [Option<u64>; LimitKind::COUNT] {
    let mut c = [None; LimitKind::COUNT];
    for &(k, v) in list {
        c[k as usize] = Some(v);
    }
    c
}

fn ask<'a>(
    ws: &'a str,
    id: u64,
    now_sec: i64,
    tokens: u64,
    cost_nanos: u64,
    caps: [Option<u64>; LimitKind::COUNT],
) -> AdmitArgs<'a> {
    AdmitArgs {
        workspace: ws,
        id,
        now_sec,
        day: DAY,
        month: MONTH,
        demand: Demand { tokens, cost_nanos },
        caps,
    }
}

fn done(
    ws: &str,
    id: u64,
    admitted_sec: i64,
    now_sec: i64,
    tokens: u64,
    cost: u64,
) -> SettleArgs<'_> {
    SettleArgs {
        workspace: ws,
        id,
        admitted_sec,
        now_sec,
        day: DAY,
        month: MONTH,
        tokens,
        cost_nanos: cost,
    }
}

fn empty() -> SharedCounters {
    SharedCounters {
        day: DAY,
        month: MONTH,
        ..SharedCounters::default()
    }
}

async fn seeded(s: &RedisState, ws: &str, now_sec: i64) {
    assert!(s.seed(ws, &empty(), now_sec).await.expect("redis answers"));
}

fn minute_requests(c: &SharedCounters) -> u64 {
    c.minute.iter().map(|m| m.1).sum()
}

#[tokio::test]
async fn a_cold_workspace_is_seeded_by_setting_never_by_adding() {
    let s = state(60).await;
    let ws = workspace();
    let none = caps(&[]);
    assert_eq!(
        s.admit(&ask(&ws, 1, T0, 1, 0, none))
            .await
            .expect("redis answers"),
        Admission::Cold
    );
    assert_eq!(
        s.settle(&done(&ws, 1, T0, T0, 5, 0))
            .await
            .expect("redis answers"),
        None
    );
    let seed = SharedCounters {
        day_requests: 7,
        day_tokens: 70,
        day_cost_nanos: 700,
        month_cost_nanos: 7_000,
        minute: vec![(T0 - 5, 2, 20)],
        ..empty()
    };
    assert!(s.seed(&ws, &seed, T0).await.expect("redis answers"));
    // A second seed (another instance, or a retry) changes nothing.
    assert!(!s.seed(&ws, &seed, T0).await.expect("redis answers"));
    let Admission::Reserved(before) = s
        .admit(&ask(&ws, 2, T0 + 1, 0, 0, none))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    assert_eq!(before.day_requests, 7);
    assert_eq!(before.day_tokens, 70);
    assert_eq!(before.month_cost_nanos, 7_000);
    assert_eq!(before.minute, vec![(T0 - 5, 2, 20)]);
}

#[tokio::test]
async fn admission_checks_every_window_and_reserves_all_or_nothing() {
    let s = state(60).await;
    let ws = workspace();
    seeded(&s, &ws, T0).await;
    let c = caps(&[
        (LimitKind::RequestsPerMinute, 3),
        (LimitKind::TokensPerDay, 100),
    ]);
    let Admission::Reserved(first) = s
        .admit(&ask(&ws, 1, T0, 60, 5, c))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    assert_eq!(first.day_requests, 0);
    // 60 + 60 tokens would pass the day's 100: refused, naming that limit, nothing reserved.
    let Admission::Refused(now, kind) = s
        .admit(&ask(&ws, 2, T0, 60, 5, c))
        .await
        .expect("redis answers")
    else {
        panic!("admitted")
    };
    assert_eq!(kind, Some(LimitKind::TokensPerDay));
    assert_eq!(
        (now.day_requests, now.day_tokens, now.day_held_tokens),
        (1, 60, 60)
    );
    assert_eq!(
        (
            now.day_cost_nanos,
            now.month_cost_nanos,
            now.month_held_cost_nanos
        ),
        (5, 5, 5)
    );
    assert!(matches!(
        s.admit(&ask(&ws, 3, T0, 10, 0, c))
            .await
            .expect("redis answers"),
        Admission::Reserved(_)
    ));
    assert!(matches!(
        s.admit(&ask(&ws, 4, T0 + 1, 10, 0, c))
            .await
            .expect("redis answers"),
        Admission::Reserved(_)
    ));
    // The fourth request of the minute is refused until the first second leaves the window.
    let Admission::Refused(now, kind) = s
        .admit(&ask(&ws, 5, T0 + 59, 0, 0, c))
        .await
        .expect("redis answers")
    else {
        panic!("admitted")
    };
    assert_eq!(kind, Some(LimitKind::RequestsPerMinute));
    assert_eq!(minute_requests(&now), 3);
    let Admission::Reserved(now) = s
        .admit(&ask(&ws, 6, T0 + 60, 0, 0, c))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    assert_eq!(minute_requests(&now), 1);
}

#[tokio::test]
async fn settlement_replaces_the_reservation_once_per_id() {
    let s = state(60).await;
    let ws = workspace();
    seeded(&s, &ws, T0).await;
    let none = caps(&[]);
    let Admission::Reserved(_) = s
        .admit(&ask(&ws, 1, T0, 100, 50, none))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    let after = s
        .settle(&done(&ws, 1, T0, T0 + 2, 30, 20))
        .await
        .expect("redis answers")
        .expect("redis answers");
    assert_eq!((after.day_tokens, after.day_held_tokens), (30, 0));
    assert_eq!((after.day_cost_nanos, after.month_cost_nanos), (20, 20));
    assert_eq!(after.day_requests, 1);
    let mut minute = after.minute.clone();
    minute.sort_unstable();
    assert_eq!(minute, vec![(T0, 1, 0), (T0 + 2, 0, 30)]);
    // The same settlement again (a retry after a lost reply) counts nothing more.
    let again = s
        .settle(&done(&ws, 1, T0, T0 + 3, 30, 20))
        .await
        .expect("redis answers")
        .expect("redis answers");
    assert_eq!((again.day_tokens, again.day_cost_nanos), (30, 20));
    assert_eq!(again.version, after.version);
}

#[tokio::test]
async fn a_settled_id_is_remembered_for_the_retries_not_for_the_hold() {
    // A hold of ten minutes (the default upstream timeout): settled ids must not live as long.
    let s = state(610).await;
    let ws = workspace();
    seeded(&s, &ws, T0).await;
    let Admission::Reserved(_) = s
        .admit(&ask(&ws, 1, T0, 100, 50, caps(&[])))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    let settled = |now| done(&ws, 1, T0, now, 30, 20);
    s.settle(&settled(T0 + 2)).await.expect("redis answers");
    // A retry within the time kept counts nothing more.
    let again = s
        .settle(&settled(T0 + 1 + SETTLED_KEPT_SECS))
        .await
        .expect("redis answers")
        .expect("seeded");
    assert_eq!((again.day_tokens, again.day_cost_nanos), (30, 20));
    // After it, the id is forgotten (the next script releases it).
    let r_key = keys(&ws)[2].clone();
    let remembered = || async {
        let mut conn = s.conn.clone();
        redis::cmd("HEXISTS")
            .arg(&r_key)
            .arg(s.id(1))
            .query_async::<bool>(&mut conn)
            .await
            .expect("redis answers")
    };
    assert!(remembered().await);
    s.peek(&ws, T0 + 3 + SETTLED_KEPT_SECS, DAY, MONTH)
        .await
        .expect("redis answers");
    assert!(
        !remembered().await,
        "a settled id kept past SETTLED_KEPT_SECS"
    );
}

#[tokio::test]
async fn an_unsettled_reservation_expires_and_a_late_settlement_counts_the_actual_only() {
    let s = state(10).await;
    let ws = workspace();
    seeded(&s, &ws, T0 - 1).await;
    let c = caps(&[(LimitKind::TokensPerDay, 1_000)]);
    let Admission::Reserved(_) = s
        .admit(&ask(&ws, 1, T0, 900, 0, c))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    // Held: another 900 does not fit.
    assert!(matches!(
        s.admit(&ask(&ws, 2, T0 + 5, 900, 0, c))
            .await
            .expect("redis answers"),
        Admission::Refused(..)
    ));
    // Its instance died: at T0 + 10 the reservation is released, and the 900 fits again.
    let Admission::Reserved(now) = s
        .admit(&ask(&ws, 3, T0 + 10, 900, 0, c))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    assert_eq!((now.day_tokens, now.day_held_tokens), (0, 0));
    assert_eq!(now.day_requests, 1);
    // The first call's settlement arrives after all: its actual counts, nothing is taken back
    // twice.
    let after = s
        .settle(&done(&ws, 1, T0, T0 + 11, 40, 0))
        .await
        .expect("redis answers")
        .expect("redis answers");
    assert_eq!((after.day_tokens, after.day_held_tokens), (940, 900));
}

#[tokio::test]
async fn a_call_admitted_before_the_seed_is_not_counted_twice() {
    let s = state(60).await;
    let ws = workspace();
    seeded(&s, &ws, T0).await;
    let none = caps(&[]);
    let Admission::Reserved(_) = s
        .admit(&ask(&ws, 1, T0 + 1, 10, 0, none))
        .await
        .expect("redis answers")
    else {
        panic!("refused")
    };
    // Redis is flushed while the call is in flight; the ledger (with the call's row, written
    // meanwhile) seeds the counters again.
    let mut conn = s.conn.clone();
    let k = keys(&ws);
    let _: () = redis::cmd("DEL")
        .arg(&k[..])
        .query_async(&mut conn)
        .await
        .expect("redis answers");
    let seed = SharedCounters {
        day_requests: 1,
        day_tokens: 25,
        ..empty()
    };
    assert!(s.seed(&ws, &seed, T0 + 5).await.expect("redis answers"));
    let after = s
        .settle(&done(&ws, 1, T0 + 1, T0 + 6, 25, 0))
        .await
        .expect("redis answers")
        .expect("redis answers");
    assert_eq!((after.day_requests, after.day_tokens), (1, 25));
}

#[tokio::test]
async fn concurrent_admissions_never_pass_the_limit() {
    let s = std::sync::Arc::new(state(60).await);
    let ws = workspace();
    seeded(&s, &ws, T0).await;
    let c = caps(&[(LimitKind::RequestsPerMinute, 10)]);
    let mut tasks = Vec::new();
    for id in 0..50 {
        let (s, ws) = (s.clone(), ws.clone());
        tasks.push(tokio::spawn(async move {
            s.admit(&ask(&ws, id, T0, 1, 0, c))
                .await
                .expect("redis answers")
        }));
    }
    let mut reserved = 0;
    for t in tasks {
        if matches!(t.await.expect("redis answers"), Admission::Reserved(_)) {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 10);
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_at_connect() {
    let Err(e) = RedisState::connect("redis://127.0.0.1:1", 60, false).await else {
        panic!("connected to nothing")
    };
    assert!(matches!(e, StateError::Unavailable(_)), "{e}");
}

#[test]
fn observations_survive_their_announcement() {
    let h = UpstreamHeadroom {
        limit_requests: Some(100),
        remaining_requests: Some(3),
        reset_requests_ms: Some(1500),
        limit_tokens: None,
        remaining_tokens: Some(10),
        reset_tokens_ms: None,
        observed_at: chrono::DateTime::from_timestamp(T0, 0).expect("a time"),
    };
    for o in [
        UpstreamObservation::QuotaExhausted,
        UpstreamObservation::Failure,
        UpstreamObservation::RateLimited {
            retry_after_secs: Some(20),
            headroom: Some(h.clone()),
        },
        UpstreamObservation::RateLimited {
            retry_after_secs: None,
            headroom: None,
        },
        UpstreamObservation::Success { headroom: Some(h) },
    ] {
        let text = encode_observation(&o).expect("announced");
        assert_eq!(decode_observation(&text), Some(o), "{text}");
    }
    assert_eq!(
        encode_observation(&UpstreamObservation::Success { headroom: None }),
        None
    );
    assert_eq!(decode_observation("x"), None);
    assert_eq!(decode_observation("r 5"), None);
}
