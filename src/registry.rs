//! The live workspaces: key index, each workspace's meter and status tracker, the upstream
//! account's state, and the turning of status transitions into notifications.
//!
//! Owns: the in-memory state the pure [`crate::quota`] core computes on, and the glue that sends
//! its results to the edges (the store's writer, the alerts hub). Locks are `std::sync` and held
//! only for a few arithmetic steps, never across an `.await`; the lock order is account, then
//! workspace. Must not: do IO itself (it queues writes and publishes events, neither waits) or
//! format text.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::alerts::{Event, Hub};
use crate::quota::{
    self, AccountPolicy, AccountState, Actual, Demand, Evaluation, Notice, Refusal, Reservation,
    StatusTracker, UpstreamObservation, WorkspaceMeter,
};
use crate::store::{StatusChange, Store, StoredNotification, Write};
use crate::types::{ArgValue, Cause, Limits, Status, UpstreamHeadroom, Usage};

/// Everything a status report holds, before rendering in a locale.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusView {
    pub workspace: String,
    pub name: String,
    pub status: Status,
    pub since: DateTime<Utc>,
    pub cause: Cause,
    pub message_key: &'static str,
    pub message_args: BTreeMap<String, ArgValue>,
    pub action_keys: Vec<&'static str>,
    pub usage: Usage,
    pub limits: Limits,
    pub upstream: Option<UpstreamHeadroom>,
    pub retry_after_secs: Option<u64>,
    pub last_error: Option<LastError>,
}

/// The last failure seen for a workspace: a Fluent key and its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct LastError {
    pub key: &'static str,
    pub args: BTreeMap<String, ArgValue>,
    pub at: DateTime<Utc>,
}

/// One live workspace.
#[derive(Debug)]
pub struct Workspace {
    pub id: Arc<str>,
    /// `id` as the `x-quota-workspace` response header (ids are ASCII; `None` if one is not).
    pub id_header: Option<axum::http::HeaderValue>,
    pub name: String,
    state: Mutex<WsState>,
}

#[derive(Debug)]
struct WsState {
    meter: WorkspaceMeter,
    tracker: StatusTracker,
    last_error: Option<LastError>,
    /// Usage changed since the last snapshot pushed to subscribers.
    dirty: bool,
}

/// An authenticated caller of the proxy.
#[derive(Clone, Debug)]
pub struct Caller {
    pub workspace: Arc<Workspace>,
    pub key_id: Arc<str>,
}

#[derive(Default, Debug)]
struct Index {
    by_id: HashMap<Arc<str>, Arc<Workspace>>,
    by_key: HashMap<[u8; 32], Caller>,
}

/// Remembers the ids of runs already counted (a run's usage counts once).
#[derive(Default, Debug)]
struct SeenRuns {
    set: HashSet<String>,
    order: VecDeque<String>,
}

/// How many counted run ids are remembered (and reloaded from the ledger at start).
pub const SEEN_RUNS_CAP: usize = 100_000;

/// The registry. Shared as `Arc<Registry>`.
#[derive(Debug)]
pub struct Registry {
    tz: chrono_tz::Tz,
    index: RwLock<Index>,
    account: Mutex<AccountState>,
    unpriced_seen: Mutex<HashSet<String>>,
    runs: Mutex<SeenRuns>,
    store: Store,
    hub: Arc<Hub>,
}

/// SHA-256 of a key, as stored and configured.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Registry {
    pub fn new(tz: chrono_tz::Tz, policy: AccountPolicy, store: Store, hub: Arc<Hub>) -> Registry {
        Registry {
            tz,
            index: RwLock::new(Index::default()),
            account: Mutex::new(AccountState::new(policy)),
            unpriced_seen: Mutex::new(HashSet::new()),
            runs: Mutex::new(SeenRuns::default()),
            store,
            hub,
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// Adds a workspace (or replaces its limits if it exists). Returns it.
    pub fn upsert_workspace(
        &self,
        id: &str,
        name: &str,
        limits: Limits,
        now: DateTime<Utc>,
    ) -> Arc<Workspace> {
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = idx.by_id.get(id) {
            w.lock().meter.set_limits(limits);
            return w.clone();
        }
        let w = Arc::new(Workspace {
            id: Arc::from(id),
            id_header: axum::http::HeaderValue::from_str(id).ok(),
            name: name.to_string(),
            state: Mutex::new(WsState {
                meter: WorkspaceMeter::new(limits, self.tz),
                tracker: StatusTracker::new(now),
                last_error: None,
                dirty: false,
            }),
        });
        idx.by_id.insert(w.id.clone(), w.clone());
        w
    }

    /// Binds a key hash to a workspace. False if the hash is already bound.
    pub fn add_key(&self, workspace: &str, key_id: &str, hash: [u8; 32]) -> bool {
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        let Some(w) = idx.by_id.get(workspace).cloned() else {
            return false;
        };
        if idx.by_key.contains_key(&hash) {
            return false;
        }
        idx.by_key.insert(
            hash,
            Caller {
                workspace: w,
                key_id: Arc::from(key_id),
            },
        );
        true
    }

    /// Whether `key_id` is still a key of workspace `workspace` (a browser session is bound to
    /// the key it was made from).
    pub fn has_key(&self, workspace: &str, key_id: &str) -> bool {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        idx.by_key
            .values()
            .any(|c| &*c.workspace.id == workspace && &*c.key_id == key_id)
    }

    /// The caller a workspace key belongs to.
    pub fn authenticate(&self, key: &str) -> Option<Caller> {
        let h = key_hash(key);
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        idx.by_key.get(&h).cloned()
    }

    pub fn workspace(&self, id: &str) -> Option<Arc<Workspace>> {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        idx.by_id.get(id).cloned()
    }

    /// All workspaces, sorted by id.
    pub fn workspaces(&self) -> Vec<Arc<Workspace>> {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = idx.by_id.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Adds usage read back from the ledger at start.
    pub fn restore(
        &self,
        workspace: &str,
        at: DateTime<Utc>,
        requests: u64,
        tokens: u64,
        cost_nanos: u64,
        now: DateTime<Utc>,
    ) {
        if let Some(w) = self.workspace(workspace) {
            w.lock()
                .meter
                .restore(at, requests, tokens, cost_nanos, now);
        }
    }

    /// Reserves a call's worst case, or refuses it (and reports the status change if any).
    pub fn admit(
        &self,
        w: &Workspace,
        demand: Demand,
        now: DateTime<Utc>,
    ) -> Result<Reservation, Refusal> {
        let r = {
            let mut st = w.lock();
            st.dirty = true;
            st.meter.admit(demand, now)
        };
        if let Err(refusal) = &r {
            // Only a refusal can change the status here; the account lock (taken first, per the
            // lock order) stays off the admission path of calls that pass.
            let acct = self.account.lock().unwrap_or_else(|p| p.into_inner());
            let mut st = w.lock();
            let mut args = BTreeMap::new();
            args.insert(
                "limit".into(),
                ArgValue::Text(refusal.limit.as_str().into()),
            );
            args.insert(
                "retry_after".into(),
                ArgValue::Number(refusal.retry_after_secs as f64),
            );
            st.last_error = Some(LastError {
                key: "error-workspace-limit",
                args,
                at: now,
            });
            let e = quota::evaluate(&st.meter, &acct, now);
            self.apply(w, &mut st, &acct, &e, now);
        }
        r
    }

    /// Replaces a reservation by the actual usage and records what the upstream said.
    pub fn settle(
        &self,
        w: &Workspace,
        r: Reservation,
        actual: Actual,
        observation: Option<UpstreamObservation>,
        error: Option<(&'static str, BTreeMap<String, ArgValue>)>,
        now: DateTime<Utc>,
    ) {
        let mut acct = self.account.lock().unwrap_or_else(|p| p.into_inner());
        let mut account_changed = false;
        if let Some(o) = observation {
            let before = account_view(&acct, now);
            acct.observe(o, now);
            account_changed = account_view(&acct, now) != before;
        }
        {
            let mut st = w.lock();
            st.meter.settle(r, actual, now);
            st.dirty = true;
            if let Some((key, args)) = error {
                st.last_error = Some(LastError { key, args, at: now });
            }
            let e = quota::evaluate(&st.meter, &acct, now);
            self.apply(w, &mut st, &acct, &e, now);
        }
        if account_changed {
            self.evaluate_all(&acct, now);
        }
    }

    /// Re-evaluates every workspace: statuses that expired end here. Pushes a fresh status to
    /// subscribers of workspaces whose usage changed.
    pub fn tick(&self, now: DateTime<Utc>) {
        let acct = self.account.lock().unwrap_or_else(|p| p.into_inner());
        self.evaluate_all(&acct, now);
        for w in self.workspaces() {
            let view = {
                let mut st = w.lock();
                if !st.dirty {
                    continue;
                }
                st.dirty = false;
                if !self.hub.has_subscribers(&w.id) {
                    continue;
                }
                view_of(&w, &st, &acct, now)
            };
            self.hub.publish(Event::Status(Arc::new(view)));
        }
    }

    /// Admin reset: clears the workspace's counters and refusals and the account-level status.
    pub fn reset(&self, w: &Workspace, now: DateTime<Utc>) {
        let mut acct = self.account.lock().unwrap_or_else(|p| p.into_inner());
        acct.reset(now);
        {
            let mut st = w.lock();
            st.meter.reset(now);
            st.last_error = None;
            st.dirty = true;
        }
        self.evaluate_all(&acct, now);
    }

    /// The workspace's status report, unrendered.
    pub fn view(&self, w: &Workspace, now: DateTime<Utc>) -> StatusView {
        let acct = self.account.lock().unwrap_or_else(|p| p.into_inner());
        let st = w.lock();
        view_of(w, &st, &acct, now)
    }

    /// A warning, once per model and process, that a model has no price.
    pub fn note_unpriced(&self, w: &Workspace, model: &str, now: DateTime<Utc>) {
        {
            let mut seen = self.unpriced_seen.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.insert(format!("{}\u{0}{model}", w.id)) {
                return;
            }
        }
        let status = w.lock().tracker.current().0;
        self.emit(w, quota::unpriced_model_notice(model, status), now);
    }

    /// True the first time a terminal run id is seen: its usage counts then only.
    /// Remembers runs counted before a restart (ids newest first, as the store gives them).
    pub fn remember_runs(&self, ids: Vec<String>) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids.into_iter().take(SEEN_RUNS_CAP).rev() {
            if runs.set.insert(id.clone()) {
                runs.order.push_back(id);
            }
        }
    }

    pub fn first_sight_of_run(&self, run_id: &str) -> bool {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if runs.set.contains(run_id) {
            return false;
        }
        if runs.order.len() >= SEEN_RUNS_CAP {
            if let Some(old) = runs.order.pop_front() {
                runs.set.remove(&old);
            }
        }
        runs.set.insert(run_id.to_string());
        runs.order.push_back(run_id.to_string());
        true
    }

    fn evaluate_all(&self, acct: &AccountState, now: DateTime<Utc>) {
        for w in self.workspaces() {
            let mut st = w.lock();
            let e = quota::evaluate(&st.meter, acct, now);
            self.apply(&w, &mut st, acct, &e, now);
        }
    }

    /// Feeds an evaluation to the tracker; on a transition, records it and notifies.
    fn apply(
        &self,
        w: &Workspace,
        st: &mut WsState,
        acct: &AccountState,
        e: &Evaluation,
        now: DateTime<Utc>,
    ) {
        let Some(t) = st.tracker.update(e, now) else {
            return;
        };
        self.store.write(Write::StatusChange(Box::new(StatusChange {
            workspace: w.id.to_string(),
            ts: now,
            from: t.from,
            to: t.to,
            cause_json: serde_json::to_string(&t.cause).unwrap_or_default(),
        })));
        metrics::counter!("qs_status_transitions_total", "workspace" => w.id.to_string(), "to" => t.to.as_str()).increment(1);
        tracing::info!(workspace = %w.id, from = t.from.as_str(), to = t.to.as_str(), "status changed");
        self.emit(w, t.notice, now);
        // Subscribers get the new status right away, not at the next tick.
        st.dirty = false;
        self.hub
            .publish(Event::Status(Arc::new(view_of(w, st, acct, now))));
    }

    fn emit(&self, w: &Workspace, n: Notice, now: DateTime<Utc>) {
        let stored = StoredNotification {
            id: uuid::Uuid::now_v7().to_string(),
            workspace: w.id.to_string(),
            ts: now,
            level: n.level,
            status: n.status,
            key: n.key.to_string(),
            args: n.args,
            action_keys: n.action_keys.iter().map(|s| s.to_string()).collect(),
        };
        let stored = Arc::new(stored);
        self.store
            .write(Write::Notification(Box::new((*stored).clone())));
        self.hub.publish(Event::Notification(stored));
    }
}

impl Workspace {
    fn lock(&self) -> std::sync::MutexGuard<'_, WsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current status without evaluating (cheap; for response headers).
    pub fn status(&self) -> Status {
        self.lock().tracker.current().0
    }

    pub fn limits(&self) -> Limits {
        self.lock().meter.limits().clone()
    }
}

/// The account's own contribution to status, to tell whether an observation changed it. Only
/// the kind of cause counts: a headroom ratio moving on every call is not a change (the
/// once-a-second tick picks up such drifts).
fn account_view(
    acct: &AccountState,
    now: DateTime<Utc>,
) -> (Status, std::mem::Discriminant<Cause>) {
    let e = acct.evaluate(Limits::default().warning_at, now);
    (e.status, std::mem::discriminant(&e.cause))
}

fn view_of(w: &Workspace, st: &WsState, acct: &AccountState, now: DateTime<Utc>) -> StatusView {
    let e = quota::evaluate(&st.meter, acct, now);
    let (status, cause, since) = st.tracker.current();
    let (message_key, message_args, action_keys) = quota::describe(&e);
    StatusView {
        workspace: w.id.to_string(),
        name: w.name.clone(),
        status,
        since,
        cause: cause.clone(),
        message_key,
        message_args,
        action_keys,
        usage: st.meter.usage(now),
        limits: st.meter.limits().clone(),
        upstream: acct.headroom(now).cloned(),
        retry_after_secs: e.retry_after_secs,
        last_error: st.last_error.clone(),
    }
}
