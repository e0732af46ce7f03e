//! Admission and settlement through shared state (Redis, `crate::state`), when several
//! instances share a workspace's counters: the registry says what to check, one script call
//! decides, the registry mirrors the shared counters and makes the verdict local (statuses,
//! refusals, alerts work as on one node).
//!
//! Owns: the order of those steps, seeding a cold workspace from the ledger, the settlement's
//! retries, and what a call gets while Redis does not answer (workspaces with USD budgets:
//! 503 `quota_state_unavailable` unless `[redis] on_failure = "open"`; others: this
//! instance's own counters). Must not: decide a limit, or hold a workspace's lock across an
//! await.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::loglimit::LineBudget;
use crate::proxy::Proxy;
use crate::quota::{Actual, Demand, Refusal, Reservation, UpstreamObservation};
use crate::registry::{Caller, Workspace};
use crate::state::{Admission, AdmitArgs, RedisState, SettleArgs, StateError};
use crate::types::Priority;

/// How long a settlement is retried while Redis does not answer; after that the reservation
/// expires there by itself (the call's row is in the ledger, and a cold rebuild reads it).
const SETTLE_RETRY_FOR: Duration = Duration::from_secs(30);
// A retried settlement must find its id still marked settled in Redis.
const _: () = assert!(SETTLE_RETRY_FOR.as_secs() * 2 <= crate::state::SETTLED_KEPT_SECS as u64);

/// Warnings about an unreachable Redis: at most one a second.
static UNREACHABLE_LINES: std::sync::Mutex<LineBudget> = std::sync::Mutex::new(LineBudget::new(1));

/// A call's reservation in shared state.
#[derive(Clone, Copy, Debug)]
pub(super) struct SharedCall {
    id: u64,
    admitted_sec: i64,
}

impl Proxy {
    /// Admits a call through shared state: `Ok((reservation, Some(..)))` when Redis decided,
    /// `Ok((reservation, None))` when this instance's counters did (Redis unreachable, the
    /// workspace without USD budgets or the gateway failing open).
    pub(super) async fn admit_shared(
        &self,
        state: &RedisState,
        caller: &Caller,
        demand: Demand,
        priority: Option<Priority>,
    ) -> Result<Result<(Reservation, Option<SharedCall>), Refusal>, AppError> {
        let w = &caller.workspace;
        let now = Utc::now();
        let q = self.registry.shared_question(w, priority, now);
        let args = AdmitArgs {
            workspace: &w.id,
            id: state.next_id(),
            now_sec: now.timestamp(),
            day: q.day,
            month: q.month,
            demand,
            caps: q.caps,
        };
        let mut answer = state.admit(&args).await;
        if matches!(answer, Ok(Admission::Cold)) {
            answer = match self.seed(state, w, now).await {
                Ok(()) => state.admit(&args).await,
                Err(e) => Err(e),
            };
        }
        let shared = SharedCall {
            id: args.id,
            admitted_sec: args.now_sec,
        };
        let reg = &self.registry;
        Ok(match answer {
            Ok(Admission::Reserved(c)) => reg
                .admit_shared(w, demand, priority, &c, true, None, now)
                .map(|r| (r, Some(shared))),
            Ok(Admission::Refused(c, kind)) => reg
                .admit_shared(w, demand, priority, &c, false, kind, now)
                .map(|r| (r, None)),
            Ok(Admission::Cold) | Err(_) => {
                if let Err(e) = &answer {
                    let second = now.timestamp().unsigned_abs();
                    let line = UNREACHABLE_LINES
                        .lock()
                        .map_or(None, |mut b| b.take(second));
                    if let Some(dropped) = line {
                        tracing::warn!(error = %e, dropped, "shared quota state unavailable");
                    }
                }
                if q.has_budget && !state.fails_open() {
                    reg.note_state_unavailable(w, now);
                    return Err(AppError::QuotaStateUnavailable(w.id.to_string()));
                }
                reg.admit(w, demand, priority, now).map(|r| (r, None))
            }
        })
    }

    /// Seeds `w`'s cold shared counters from the ledger (its current month period on).
    async fn seed(
        &self,
        state: &RedisState,
        w: &Workspace,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let since = self.registry.month_start_of(w, now);
        let buckets = self
            .store
            .usage_buckets_of(&w.id, since, now)
            .await
            .map_err(|_| StateError::Protocol("the ledger could not be read to seed"))?;
        let buckets: Vec<_> = buckets
            .iter()
            .map(|b| (b.at, b.requests, b.tokens, b.cost_nanos))
            .collect();
        let counters = self.registry.seed_counters(w, &buckets, now);
        state.seed(&w.id, &counters, now.timestamp()).await?;
        Ok(())
    }
}

/// Settles a call's shared reservation off the call's way (tracked by `settling`, so shutdown
/// waits for it), retried while Redis does not answer, and mirrors the counters it answers.
pub(super) fn settle_shared(
    proxy: &Arc<Proxy>,
    workspace: Arc<Workspace>,
    call: SharedCall,
    actual: Actual,
    now: DateTime<Utc>,
) {
    let Some(state) = proxy.state.clone() else {
        return;
    };
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let settling = proxy.settling.clone();
    let proxy = proxy.clone();
    let task = async move {
        let (day, month) = proxy.registry.periods_of(&workspace, now);
        let args = SettleArgs {
            workspace: &workspace.id,
            id: call.id,
            admitted_sec: call.admitted_sec,
            now_sec: now.timestamp(),
            day,
            month,
            tokens: actual.tokens,
            cost_nanos: actual.cost_nanos.unwrap_or(0),
        };
        let give_up = tokio::time::Instant::now() + SETTLE_RETRY_FOR;
        loop {
            match state.settle(&args).await {
                Ok(Some(c)) => {
                    proxy.registry.mirror(&workspace, &c, Utc::now());
                    return;
                }
                Ok(None) => return,
                Err(e) => {
                    if tokio::time::Instant::now() >= give_up {
                        tracing::warn!(error = %e, workspace = %workspace.id, "a shared settlement was given up; its reservation expires in redis by itself");
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    };
    settling.spawn_on(task, &handle);
}

/// Announces what the upstream answered this call to the other instances (the account's
/// state is shared: see `RedisState::announce_upstream`), off the call's way.
pub(super) fn announce_upstream(proxy: &Proxy, o: &UpstreamObservation, now: DateTime<Utc>) {
    let Some(state) = proxy.state.clone() else {
        return;
    };
    if !state.worth_announcing(o, now.timestamp()) {
        return;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let o = o.clone();
    proxy
        .settling
        .spawn_on(async move { state.announce_upstream(&o).await }, &handle);
}
