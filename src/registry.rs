//! The live workspaces: key index, each workspace's meter and status tracker, the upstream
//! account's state, and the turning of status transitions into notifications.
//!
//! Owns: the in-memory state the pure [`crate::quota`] core computes on, and the glue that sends
//! its results to the edges (the store's writer, the alerts hub). Must not: do IO itself (it
//! queues writes and publishes events, neither waits) or format text.
//!
//! # Locks
//! Locks are `std::sync`, never held across an `.await`. Each workspace has its own lock, held
//! for a few arithmetic steps. No account-wide lock is held while workspaces are evaluated:
//! - the account's state is changed under its own lock, held for one observation, which then
//!   publishes a copy of the state; evaluating a workspace copies out the latest one (under a
//!   read lock held for the copy alone) while it holds the workspace's lock, so each workspace
//!   sees the account's states in the order they were published;
//! - a change of the account's status (it concerns every workspace) walks every workspace
//!   under the account's walk lock, taken before the state's lock is let go and before the
//!   copy is published: walks run one at a time, in the order of the changes, and each reaches
//!   every workspace. Calls and the tick go on meanwhile (they read the same copy);
//! - the tick walks the workspaces under none of the account's locks.
//!
//! The lock order is account state, then account walk, then workspace, then the published
//! copy's lock, which is last: nothing is locked while it is held.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use app::logic::seen::BoundedSeen;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::alerts::{Event, Hub};
use crate::model::{LastError, StatusChange, StatusView, StoredNotification, SEEN_RUNS_CAP};
use crate::quota::{
    self, AccountPolicy, AccountState, Actual, Alert, AlertRules, Demand, Evaluation, Mark, Notice,
    Refusal, Reservation, SharedCounters, Spent, StatusTracker, UpstreamObservation,
    WorkspaceMeter,
};
use crate::store::{Store, Write};
use crate::types::{
    ArgValue, Cause, LimitFields, LimitForecast, LimitKind, Limits, Priority, Status,
};

/// See [`Registry::shared_question`].
#[derive(Clone, Copy, Debug)]
pub struct SharedQuestion {
    pub caps: [Option<u64>; LimitKind::COUNT],
    pub day: i64,
    pub month: i64,
    pub has_budget: bool,
}

/// One live workspace.
#[derive(Debug)]
pub struct Workspace {
    pub id: Arc<str>,
    /// `id` as the `x-quota-workspace` response header (ids are ASCII; `None` if one is not).
    pub id_header: Option<axum::http::HeaderValue>,
    pub name: String,
    /// Calls in flight, buffered request bytes, WebSockets: atomics, read and bumped without
    /// the state's lock (see [`crate::guard`]).
    pub load: Arc<crate::guard::Load>,
    state: Mutex<WsState>,
}

#[derive(Debug)]
struct WsState {
    meter: WorkspaceMeter,
    tracker: StatusTracker,
    /// Boxed, like the rest that most idle workspaces never have (a few bytes each matter
    /// with many workspaces).
    last_error: Option<Box<LastError>>,
    /// Usage changed since the last snapshot pushed to subscribers.
    dirty: bool,
    /// Allocated by the first call of a model without a price.
    unpriced: Option<Box<Unpriced>>,
    alerts: AlertRules,
    /// The admin's edits, if any (boxed: most workspaces have none).
    edited: Option<Box<Edited>>,
}

/// A workspace's limits as the admin edited them (`PATCH /api/admin/workspaces/{id}`).
#[derive(Debug)]
struct Edited {
    /// The limits before the edits: the file's, or the stored workspace's.
    base: Limits,
    /// Every field the admin set, as written.
    fields: LimitFields,
}

/// How many unpriced model names a workspace remembers (the least recently seen is forgotten
/// first): names come from callers, so the set is bounded.
pub const UNPRICED_MODELS_CAP: usize = 64;
/// A model not seen for this long is forgotten (and reported again if it comes back).
pub const UNPRICED_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// At most one unpriced-model notification per workspace in this time.
pub const UNPRICED_NOTICE_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How many models one notification names; the others are counted ("and N more").
pub const UNPRICED_NAMED: usize = 3;
/// Model names are remembered and named cut to this many bytes (a caller chooses them).
pub const UNPRICED_NAME_MAX: usize = 200;

/// A workspace's models without a price, and the coalesced notice about them.
#[derive(Debug, Default)]
struct Unpriced {
    /// Model → when it was last seen (at most [`UNPRICED_MODELS_CAP`]).
    seen: HashMap<Box<str>, DateTime<Utc>>,
    /// New models since the last notice, by name (at most [`UNPRICED_NAMED`]) …
    pending: Vec<Box<str>>,
    /// … and how many more.
    more: u64,
    last_notice: Option<DateTime<Utc>>,
}

impl Unpriced {
    /// Records a call of `model`; true if the model is new (unseen within [`UNPRICED_TTL`]).
    fn see(&mut self, model: &str, now: DateTime<Utc>) -> bool {
        let mut end = model.len().min(UNPRICED_NAME_MAX);
        while !model.is_char_boundary(end) {
            end -= 1;
        }
        let model = &model[..end];
        if let Some(t) = self.seen.get_mut(model) {
            let known = now - *t < UNPRICED_TTL;
            *t = now;
            if known {
                return false;
            }
        } else {
            if self.seen.len() >= UNPRICED_MODELS_CAP {
                self.seen.retain(|_, t| now - *t < UNPRICED_TTL);
            }
            if self.seen.len() >= UNPRICED_MODELS_CAP {
                let oldest = self
                    .seen
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(m, _)| m.clone());
                if let Some(m) = oldest {
                    self.seen.remove(&m);
                }
            }
            self.seen.insert(model.into(), now);
        }
        if self.pending.iter().any(|m| &**m == model) {
            return true;
        }
        if self.pending.len() < UNPRICED_NAMED {
            self.pending.push(model.into());
        } else {
            self.more += 1;
        }
        true
    }

    /// The models to notify about now, if any are pending and no notice was sent within
    /// [`UNPRICED_NOTICE_EVERY`].
    fn due(&mut self, now: DateTime<Utc>) -> Option<(Vec<Box<str>>, u64)> {
        if self.pending.is_empty()
            || self
                .last_notice
                .is_some_and(|t| now - t < UNPRICED_NOTICE_EVERY)
        {
            return None;
        }
        self.last_notice = Some(now);
        Some((
            std::mem::take(&mut self.pending),
            std::mem::take(&mut self.more),
        ))
    }
}

/// An authenticated caller of the proxy.
#[derive(Clone, Debug)]
pub struct Caller {
    pub workspace: Arc<Workspace>,
    pub key_id: Arc<str>,
}

#[derive(Default, Debug)]
struct Index {
    /// Sorted by id: the admin's list pages through it by range, without sorting.
    by_id: BTreeMap<Arc<str>, Arc<Workspace>>,
    by_key: HashMap<[u8; 32], Caller>,
}

/// The upstream account's state (see the module docs' "Locks").
#[derive(Debug)]
struct Account {
    /// The state observations change; held for one observation.
    state: Mutex<AccountState>,
    /// A copy of `state` as of its last change, copied out by evaluations under a read lock
    /// held for the copy alone (nothing else is locked while it is held).
    published: RwLock<AccountState>,
    /// Held by the walk that brings a change of the account's status to every workspace.
    walk: Mutex<()>,
}

/// A walk of every workspace in progress: re-evaluate them all before letting it go.
type Walk<'a> = MutexGuard<'a, ()>;

impl Account {
    fn new(policy: AccountPolicy) -> Account {
        let state = AccountState::new(policy);
        Account {
            published: RwLock::new(state.clone()),
            state: Mutex::new(state),
            walk: Mutex::new(()),
        }
    }

    /// The latest published state.
    fn current(&self) -> AccountState {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish(&self, state: &AccountState) {
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = state.clone();
    }

    /// Records an upstream observation made at `now` and publishes the new state. When the
    /// account's status changed, returns the walk the caller must make.
    fn observe(&self, o: UpstreamObservation, now: DateTime<Utc>) -> Option<Walk<'_>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let before = state.clone();
        state.observe(o, now);
        if *state == before {
            return None;
        }
        let walk = (account_view(&state, now) != account_view(&before, now)).then(|| self.walk());
        self.publish(&state);
        walk
    }

    /// Admin reset: every account state ends. Returns the walk the caller must make.
    fn reset(&self, now: DateTime<Utc>) -> Walk<'_> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.reset(now);
        let walk = self.walk();
        self.publish(&state);
        walk
    }

    fn walk(&self) -> Walk<'_> {
        self.walk.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The registry. Shared as `Arc<Registry>`.
#[derive(Debug)]
pub struct Registry {
    tz: chrono_tz::Tz,
    index: RwLock<Index>,
    account: Account,
    /// The ids of runs already counted (a run's usage counts once).
    runs: Mutex<BoundedSeen>,
    store: Store,
    hub: Arc<Hub>,
    /// The burn rate's warm-up: whole minutes of history before it forecasts (`[alerts]
    /// burn_min_minutes`).
    burn_min_minutes: u32,
    /// The account-wide budget (`[account]`), if one is set: read once a second by the tick.
    account_budget: Mutex<Option<AccountBudget>>,
    /// The limits last put in a meter, shared with the next meter that has equal limits (with
    /// many workspaces on the defaults, one copy serves them all).
    last_limits: Mutex<Option<Arc<Limits>>>,
}

/// A workspace's policies for one call (see [`Registry::call_policy`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallPolicy {
    /// The model a downgrade rule in effect puts in place of the call's.
    pub downgrade_to: Option<String>,
    /// How many times an upstream `rate_limit_exceeded` may be retried (0: never).
    pub retries: u32,
}

/// The notifications of the account-wide budget are filed under this workspace id, which no
/// workspace can have (`config::validate_workspace_id` keeps ids starting with `_`).
pub const ACCOUNT_WORKSPACE: &str = "_account";

/// The account-wide budget: every workspace's spend, summed by the tick, and its alert rules.
#[derive(Debug)]
struct AccountBudget {
    meter: WorkspaceMeter,
    alerts: AlertRules,
    /// The month's total at the last tick (what was spent since feeds the burn rate).
    last_month_nanos: u64,
}

/// SHA-256 of a key, as stored and configured.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Registry {
    /// `burn_min_minutes`: the burn rate's warm-up (see [`crate::quota::alerting`]).
    pub fn new(
        tz: chrono_tz::Tz,
        policy: AccountPolicy,
        store: Store,
        hub: Arc<Hub>,
        burn_min_minutes: u32,
    ) -> Registry {
        Registry {
            tz,
            index: RwLock::new(Index::default()),
            account: Account::new(policy),
            runs: Mutex::new(BoundedSeen::new(SEEN_RUNS_CAP)),
            store,
            hub,
            burn_min_minutes,
            account_budget: Mutex::new(None),
            last_limits: Mutex::new(None),
        }
    }

    /// `limits` as a shared copy: the one last used if equal, else a new one (then the last).
    fn share(&self, limits: Limits) -> Arc<Limits> {
        let mut last = self.last_limits.lock().unwrap_or_else(|p| p.into_inner());
        match &*last {
            Some(l) if **l == limits => l.clone(),
            _ => {
                let l = Arc::new(limits);
                *last = Some(l.clone());
                l
            }
        }
    }

    /// Sets the account-wide budget: warn-only limits over every workspace's spend (see
    /// [`crate::config::Config::account_budget`]).
    pub fn set_account_budget(&self, limits: Option<Limits>) {
        *self
            .account_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = limits.map(|l| AccountBudget {
            meter: WorkspaceMeter::new(l, self.tz),
            alerts: AlertRules::default(),
            last_month_nanos: 0,
        });
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
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
            let w = w.clone();
            drop(idx);
            {
                let mut st = w.lock();
                let st = &mut *st;
                // The admin's edits stay on top of new base limits.
                let limits = match &mut st.edited {
                    Some(e) => {
                        e.base = limits;
                        e.fields.resolve(&e.base).unwrap_or_else(|_| e.base.clone())
                    }
                    None => limits,
                };
                st.meter.set_limits(self.share(limits), now);
                let mut alerts = Vec::new();
                st.alerts.on_limits_changed(&st.meter, now, &mut alerts);
                self.evaluate(&w, st, now, &[]);
                self.raise(&w, st, alerts, now);
            }
            return w;
        }
        let w = Arc::new(Workspace {
            id: Arc::from(id),
            id_header: axum::http::HeaderValue::from_str(id).ok(),
            name: name.to_string(),
            load: Arc::default(),
            state: Mutex::new(WsState {
                meter: WorkspaceMeter::new(self.share(limits), self.tz),
                tracker: StatusTracker::new(now),
                last_error: None,
                dirty: false,
                unpriced: None,
                alerts: AlertRules::default(),
                edited: None,
            }),
        });
        idx.by_id.insert(w.id.clone(), w.clone());
        w
    }

    /// Adds a workspace kept in the database, its limits as written checked against
    /// `defaults`. Limits that break a rule are never used silently: the workspace gets the
    /// defaults, the log a warning and the workspace a notification naming the field.
    pub fn add_stored_workspace(
        &self,
        id: &str,
        name: &str,
        written: Result<&LimitFields, &str>,
        defaults: &Limits,
        now: DateTime<Utc>,
    ) -> Arc<Workspace> {
        // The field at fault and why: a rule a field breaks, or JSON that could not be read.
        let checked = written
            .map_err(|why| ("limits", why.to_string()))
            .and_then(|w| w.resolve(defaults).map_err(|e| (e.field(), e.to_string())));
        let (limits, invalid) = match checked {
            Ok(limits) => (limits, None),
            Err(e) => (defaults.clone(), Some(e)),
        };
        let w = self.upsert_workspace(id, name, limits, now);
        if let Some((field, rule)) = invalid {
            tracing::warn!(workspace = %id, field, rule, "stored limits are invalid: the default limits apply");
            self.emit(
                &w,
                quota::stored_limits_invalid_notice(field, w.status()),
                now,
            );
        }
        w
    }

    /// What an admin's edit would put in force: `edit`'s fields over the workspace's earlier
    /// edits, over its base limits. Returns the merged fields (to store) and the limits, or
    /// the rule the first wrong field breaks.
    pub fn preview_edit(
        &self,
        w: &Workspace,
        edit: &LimitFields,
    ) -> Result<(LimitFields, Limits), crate::types::LimitError> {
        let st = w.lock();
        let (base, earlier) = match &st.edited {
            Some(e) => (&e.base, e.fields.clone()),
            None => (st.meter.limits(), LimitFields::default()),
        };
        let merged = edit.clone().or(earlier);
        let limits = merged.resolve(base)?;
        Ok((merged, limits))
    }

    /// Puts an edit in force at once (from [`Registry::preview_edit`]): the limits change, the
    /// alert rules see it (a raised limit is back under), the status is evaluated again.
    pub fn apply_edit(
        &self,
        w: &Workspace,
        fields: LimitFields,
        limits: Limits,
        now: DateTime<Utc>,
    ) {
        let mut st = w.lock();
        let st = &mut *st;
        let base = match st.edited.take() {
            Some(e) => e.base,
            None => st.meter.limits().clone(),
        };
        st.edited = Some(Box::new(Edited { base, fields }));
        st.meter.set_limits(limits, now);
        st.dirty = true;
        let mut alerts = Vec::new();
        st.alerts.on_limits_changed(&st.meter, now, &mut alerts);
        self.evaluate(w, st, now, &[]);
        self.raise(w, st, alerts, now);
    }

    /// Applies an edit read back at start. An edit that cannot be read or breaks a rule is not
    /// applied: the log and the workspace are told, naming the field.
    pub fn restore_edit(&self, id: &str, written: Result<&LimitFields, &str>, now: DateTime<Utc>) {
        let Some(w) = self.workspace(id) else {
            tracing::warn!(workspace = %id, "edited limits of an unknown workspace are ignored");
            return;
        };
        let checked = written
            .map_err(|why| ("limits", why.to_string()))
            .and_then(|f| {
                self.preview_edit(&w, f)
                    .map_err(|e| (e.field(), e.to_string()))
            });
        match checked {
            Ok((fields, limits)) => self.apply_edit(&w, fields, limits, now),
            Err((field, rule)) => {
                tracing::warn!(workspace = %id, field, rule, "edited limits are invalid: the limits before the edit apply");
                self.emit(
                    &w,
                    quota::stored_limits_invalid_notice(field, w.status()),
                    now,
                );
            }
        }
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

    /// Unbinds a key of a workspace: it stops authenticating at once. False if it was not bound.
    pub fn remove_key(&self, workspace: &str, key_id: &str) -> bool {
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        let before = idx.by_key.len();
        idx.by_key
            .retain(|_, c| !(&*c.workspace.id == workspace && &*c.key_id == key_id));
        idx.by_key.len() != before
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
        idx.by_id.values().cloned().collect()
    }

    /// How many workspaces there are.
    pub fn workspace_count(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .len()
    }

    /// A page of the workspaces whose id or name contains `q` (case-insensitive; every
    /// workspace when `q` is empty), sorted by id: at most `limit` of those with an id after
    /// `after`. Also says how many match in all and whether more follow the page. Holds the
    /// index's read lock for one walk, reading only ids and names (no workspace lock).
    pub fn page(&self, q: &str, after: Option<&str>, limit: usize) -> Page {
        self.page_with_status(q, None, after, limit)
    }

    /// [`Registry::page`] of the workspaces that also have `status` now (any when `None`). The
    /// workspaces are read under their own locks after the index's lock is let go.
    pub fn page_with_status(
        &self,
        q: &str,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Page {
        let Some(status) = status else {
            return self.page_by_text(q, after, limit);
        };
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        let needle = q.to_lowercase();
        let candidates: Vec<Arc<Workspace>> = idx
            .by_id
            .values()
            .filter(|w| {
                needle.is_empty()
                    || contains_ignore_case(&w.id, &needle)
                    || contains_ignore_case(&w.name, &needle)
            })
            .cloned()
            .collect();
        drop(idx);
        let mut page = Page {
            workspaces: Vec::with_capacity(limit.min(candidates.len())),
            total: 0,
            more: false,
        };
        for w in candidates {
            if w.status() != status {
                continue;
            }
            page.total += 1;
            if after.is_some_and(|a| *w.id <= *a) {
                continue;
            }
            if page.workspaces.len() < limit {
                page.workspaces.push(w);
            } else {
                page.more = true;
            }
        }
        page
    }

    fn page_by_text(&self, q: &str, after: Option<&str>, limit: usize) -> Page {
        let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
        let needle = q.to_lowercase();
        let matches = |w: &Workspace| {
            needle.is_empty()
                || contains_ignore_case(&w.id, &needle)
                || contains_ignore_case(&w.name, &needle)
        };
        let mut page = Page {
            workspaces: Vec::with_capacity(limit.min(idx.by_id.len())),
            total: 0,
            more: false,
        };
        let start = match after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        let before = match after {
            // Those up to `after` count in the total only.
            Some(a) if needle.is_empty() => idx
                .by_id
                .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(a)))
                .count(),
            Some(a) => idx
                .by_id
                .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(a)))
                .filter(|(_, w)| matches(w))
                .count(),
            None => 0,
        };
        let mut after_count = 0usize;
        for w in idx
            .by_id
            .range::<str, _>((start, std::ops::Bound::Unbounded))
            .map(|(_, w)| w)
        {
            if !matches(w) {
                continue;
            }
            after_count += 1;
            if page.workspaces.len() < limit {
                page.workspaces.push(w.clone());
            }
        }
        page.more = after_count > page.workspaces.len();
        page.total = before + after_count;
        page
    }

    /// What the admin's overview shows of every workspace, in one walk that copies out a few
    /// numbers under each workspace's lock: spend today and this month summed, the `top`
    /// spenders today, the `top` limits forecast to run out soonest (before their reset), and
    /// the workspace with the greatest account-wide status (its view, for the account's card).
    pub fn overview(&self, now: DateTime<Utc>, top: usize) -> Overview {
        let acct = self.account.current();
        let mut o = Overview {
            workspaces: 0,
            cost_usd_day: 0.0,
            cost_usd_month: 0.0,
            top_spend: Vec::new(),
            burning: Vec::new(),
            account: None,
            upstream: None,
        };
        let mut account: Option<(Status, Arc<Workspace>)> = None;
        for w in self.workspaces() {
            o.workspaces += 1;
            let st = w.lock();
            let usage = st.meter.usage(now);
            o.cost_usd_day += usage.cost_usd_day;
            o.cost_usd_month += usage.cost_usd_month;
            if usage.cost_usd_day > 0.0 {
                keep_top(
                    &mut o.top_spend,
                    top,
                    (w.clone(), usage.cost_usd_day),
                    |a, b| b.1.total_cmp(&a.1),
                );
            }
            for f in st.alerts.forecasts(&st.meter, now, self.burn_min_minutes) {
                if f.before_reset() {
                    keep_top(&mut o.burning, top, (w.clone(), f), |a, b| {
                        a.1.runs_out_at.cmp(&b.1.runs_out_at)
                    });
                }
            }
            let (status, cause, _) = st.tracker.current();
            if cause.scope() == Some(crate::types::Scope::Account)
                && account.as_ref().is_none_or(|(s, _)| status > *s)
            {
                account = Some((status, w.clone()));
            }
            drop(st);
        }
        if o.workspaces > 0 {
            o.upstream = acct.headroom(now).cloned();
        }
        o.account = account.map(|(_, w)| {
            let st = w.lock();
            view_of(&w, &st, &acct, now, self.burn_min_minutes)
        });
        o
    }

    /// The first instant of the earliest current month period among the workspaces (the
    /// server's calendar month when there are none): where the ledger is read back from.
    pub fn earliest_month_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.workspaces()
            .iter()
            .map(|w| w.lock().meter.calendar().month_start(now))
            .fold(quota::window::month_start(now, self.tz), DateTime::min)
    }

    /// The first instant of `w`'s current month period.
    pub fn month_start_of(&self, w: &Workspace, now: DateTime<Utc>) -> DateTime<Utc> {
        w.lock().meter.calendar().month_start(now)
    }

    /// `w`'s day and month periods at `now` ([`WorkspaceMeter::periods`]).
    pub fn periods_of(&self, w: &Workspace, now: DateTime<Utc>) -> (i64, i64) {
        w.lock().meter.periods(now)
    }

    /// Seconds until a call of class `priority` is no longer shed at its share of `w`'s
    /// limits, or `None` when one would be admitted at its share now.
    pub fn shed_for(
        &self,
        w: &Workspace,
        priority: Option<Priority>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        w.lock().meter.shed_for(priority, now)
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
            let mut st = w.lock();
            st.meter.restore(at, requests, tokens, cost_nanos, now);
            // The ledger holds the burn rate's history too: a restart needs no warm-up.
            let spent = Spent {
                requests,
                tokens,
                cost_nanos,
            };
            st.alerts.restore_spend(at, spent, now);
        }
    }

    /// Reserves a call's worst case at its priority class's share of the limits, or refuses
    /// it (and reports the status change if any). A class shed at its share changes no status:
    /// the workspace itself is not limited.
    pub fn admit(
        &self,
        w: &Workspace,
        demand: Demand,
        priority: Option<Priority>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, Refusal> {
        let r = {
            let mut st = w.lock();
            st.dirty = true;
            st.meter.admit_as(demand, priority, now)
        };
        self.after_admission(w, r, now)
    }

    /// What a shared admission of a call of class `priority` asks at `now`: the caps it checks
    /// ([`WorkspaceMeter::shared_caps`]), the day and month periods, and whether the workspace
    /// has USD budgets.
    pub fn shared_question(
        &self,
        w: &Workspace,
        priority: Option<Priority>,
        now: DateTime<Utc>,
    ) -> SharedQuestion {
        let st = w.lock();
        let (day, month) = st.meter.periods(now);
        SharedQuestion {
            caps: st.meter.shared_caps(priority),
            day,
            month,
            has_budget: st.meter.has_budget(),
        }
    }

    /// A shared admission's verdict made local ([`WorkspaceMeter::admit_shared`]): the
    /// counters are mirrored, the call reserved or refused (and the status changed) as
    /// [`Registry::admit`] does.
    #[allow(
        clippy::too_many_arguments,
        reason = "the verdict's parts, as the script gave them"
    )]
    pub fn admit_shared(
        &self,
        w: &Workspace,
        demand: Demand,
        priority: Option<Priority>,
        counters: &SharedCounters,
        reserved: bool,
        refused: Option<LimitKind>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, Refusal> {
        let r = {
            let mut st = w.lock();
            st.dirty = true;
            st.meter
                .admit_shared(demand, priority, counters, reserved, refused, now)
        };
        self.after_admission(w, r, now)
    }

    /// Notes on `w` that a call was refused because shared state did not answer (its last
    /// error: the status report says why).
    pub fn note_state_unavailable(&self, w: &Workspace, now: DateTime<Utc>) {
        let mut st = w.lock();
        st.last_error = Some(Box::new(LastError {
            key: "error-quota-state-unavailable",
            args: BTreeMap::new(),
            at: now,
        }));
        st.dirty = true;
    }

    /// Mirrors the shared counters after a settlement, and re-evaluates the status.
    pub fn mirror(&self, w: &Workspace, counters: &SharedCounters, now: DateTime<Utc>) {
        let mut st = w.lock();
        if st.meter.mirror(counters, now) {
            st.dirty = true;
            self.evaluate(w, &mut st, now, &[]);
        }
    }

    /// The counters a cold shared copy of `w` is seeded with: a meter with `w`'s limits,
    /// rebuilt from `buckets` (the ledger's, as at start-up).
    pub fn seed_counters(
        &self,
        w: &Workspace,
        buckets: &[(DateTime<Utc>, u64, u64, u64)],
        now: DateTime<Utc>,
    ) -> SharedCounters {
        let mut meter = {
            let st = w.lock();
            WorkspaceMeter::new(Arc::new(st.meter.limits().clone()), st.meter.time_zone())
        };
        for &(at, requests, tokens, cost) in buckets {
            meter.restore(at, requests, tokens, cost, now);
        }
        meter.export(now)
    }

    /// The local half of an admission: a refusal of the workspace (not of a class at its
    /// share) becomes its last error and may change its status.
    fn after_admission(
        &self,
        w: &Workspace,
        r: Result<Reservation, Refusal>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, Refusal> {
        if let Some(refusal) = r.as_ref().err().filter(|r| r.priority.is_none()) {
            // Only a refusal can change the status here.
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
            st.last_error = Some(Box::new(LastError {
                key: limit_error_key(refusal.limit),
                args: with_reset_time(args, refusal, self.tz, now),
                at: now,
            }));
            self.evaluate(w, &mut st, now, &[]);
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
        let walk = observation.and_then(|o| self.account.observe(o, now));
        {
            let mut st = w.lock();
            let st = &mut *st;
            st.meter.settle(r, actual, now);
            st.dirty = true;
            if let Some((key, args)) = error {
                st.last_error = Some(Box::new(LastError { key, args, at: now }));
            }
            let spent = Spent {
                requests: 1,
                tokens: actual.tokens,
                cost_nanos: actual.cost_nanos.unwrap_or(0),
            };
            let mut alerts = Vec::new();
            st.alerts.after_call(&st.meter, spent, now, &mut alerts);
            // A threshold alert tells what a status change of the same limit would.
            let told: Vec<LimitKind> = alerts.iter().map(Alert::limit).collect();
            self.evaluate(w, st, now, &told);
            self.raise(w, st, alerts, now);
        }
        if let Some(walk) = walk {
            self.evaluate_all(walk, now);
        }
    }

    /// What the workspace's policies make of a call for `model` at `now`, read under its lock
    /// (held for a lookup): the model to use instead, if a downgrade rule for it (the exact
    /// name) is in effect, and how many times an upstream `rate_limit_exceeded` may be retried.
    pub fn call_policy(
        &self,
        w: &Workspace,
        model: Option<&str>,
        now: DateTime<Utc>,
    ) -> CallPolicy {
        let st = w.lock();
        CallPolicy {
            downgrade_to: model
                .and_then(|m| st.meter.downgrade_of(m, now))
                .map(|r| r.to.clone()),
            retries: st.meter.limits().retries(),
        }
    }

    /// What the upstream answered another instance (shared state): the account's state
    /// observes it as if seen here, and every status follows.
    pub fn observe_remote(&self, observation: UpstreamObservation, now: DateTime<Utc>) {
        if let Some(walk) = self.account.observe(observation, now) {
            self.evaluate_all(walk, now);
        }
    }

    /// Records what the upstream answered to an attempt of a call that is not settled yet (it
    /// is sent again): the account's state observes it as it would a settled call's answer,
    /// and the workspace keeps it as its last error. The call's reservation stays as it is.
    pub fn observe_attempt(
        &self,
        w: &Workspace,
        observation: UpstreamObservation,
        error: Option<(&'static str, BTreeMap<String, ArgValue>)>,
        now: DateTime<Utc>,
    ) {
        let walk = self.account.observe(observation, now);
        {
            let mut st = w.lock();
            if let Some((key, args)) = error {
                st.last_error = Some(Box::new(LastError { key, args, at: now }));
            }
            // Its last error changed: subscribers get it with the next tick.
            st.dirty = true;
            self.evaluate(w, &mut st, now, &[]);
        }
        if let Some(walk) = walk {
            self.evaluate_all(walk, now);
        }
    }

    /// Re-evaluates every workspace: statuses that expired end here. Pushes a fresh status to
    /// subscribers of workspaces whose usage changed. Holds none of the account's locks while
    /// it walks: calls of other workspaces settle meanwhile.
    pub fn tick(&self, now: DateTime<Utc>) {
        let budgeted = self
            .account_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        // Every workspace's settled spend today and this month, for the account's budget.
        let (mut day_nanos, mut month_nanos) = (0u64, 0u64);
        for w in self.workspaces() {
            let (view, unpriced) = {
                let mut st = w.lock();
                let st = &mut *st;
                let acct = self.evaluate(&w, st, now, &[]);
                let mut alerts = Vec::new();
                st.alerts
                    .on_tick(&st.meter, now, self.burn_min_minutes, &mut alerts);
                self.raise(&w, st, alerts, now);
                if budgeted {
                    let settled = st.meter.settled(now);
                    day_nanos =
                        day_nanos.saturating_add(settled[LimitKind::BudgetUsdPerDay as usize]);
                    month_nanos =
                        month_nanos.saturating_add(settled[LimitKind::BudgetUsdPerMonth as usize]);
                }
                let unpriced = st
                    .unpriced
                    .as_mut()
                    .and_then(|u| u.due(now))
                    .map(|d| (d, st.tracker.current().0));
                let view = if st.dirty {
                    st.dirty = false;
                    self.hub
                        .has_subscribers(&w.id)
                        .then(|| view_of(&w, st, &acct, now, self.burn_min_minutes))
                } else {
                    None
                };
                (view, unpriced)
            };
            if let Some(((models, more), status)) = unpriced {
                self.emit(
                    &w,
                    quota::unpriced_models_notice(&models, more, status),
                    now,
                );
            }
            if let Some(view) = view {
                self.hub.publish(Event::Status(Arc::new(view)));
            }
        }
        if budgeted {
            self.tick_account_budget(day_nanos, month_nanos, now);
        }
    }

    /// The account-wide budget's alert rules, on the totals of this tick.
    fn tick_account_budget(&self, day_nanos: u64, month_nanos: u64, now: DateTime<Utc>) {
        let mut guard = self
            .account_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(b) = guard.as_mut() else { return };
        let before = b.meter.period(LimitKind::BudgetUsdPerMonth, now);
        b.meter.set_costs(day_nanos, month_nanos, now);
        // A new month starts the total again.
        let spent = if b.meter.period(LimitKind::BudgetUsdPerMonth, now) != before {
            month_nanos
        } else {
            month_nanos.saturating_sub(b.last_month_nanos)
        };
        b.last_month_nanos = month_nanos;
        let mut alerts = Vec::new();
        if spent > 0 {
            let spent = Spent {
                requests: 0,
                tokens: 0,
                cost_nanos: spent,
            };
            b.alerts.after_call(&b.meter, spent, now, &mut alerts);
        }
        b.alerts
            .on_tick(&b.meter, now, self.burn_min_minutes, &mut alerts);
        let warning_at = b.meter.limits().warning_at;
        drop(guard);
        for a in alerts {
            let notice = quota::account_alert_notice(&a, warning_at);
            self.publish_notice(
                ACCOUNT_WORKSPACE,
                Some(a.id(ACCOUNT_WORKSPACE)),
                notice,
                now,
            );
        }
    }

    /// The account-wide budget's projections, for the admin's overview.
    pub fn account_forecasts(&self, now: DateTime<Utc>) -> Vec<quota::Forecast> {
        let guard = self
            .account_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(|b| b.alerts.forecasts(&b.meter, now, self.burn_min_minutes))
            .unwrap_or_default()
    }

    /// The account-wide budget's limits, if one is set.
    pub fn account_budget(&self) -> Option<Limits> {
        let guard = self
            .account_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|b| b.meter.limits().clone())
    }

    /// Admin reset: clears the workspace's counters and refusals and the account-level status.
    pub fn reset(&self, w: &Workspace, now: DateTime<Utc>) {
        let walk = self.account.reset(now);
        {
            let mut st = w.lock();
            let st = &mut *st;
            st.meter.reset(now);
            st.last_error = None;
            st.dirty = true;
            let mut alerts = Vec::new();
            st.alerts.on_reset(&st.meter, now, &mut alerts);
            self.raise(w, st, alerts, now);
        }
        self.evaluate_all(walk, now);
    }

    /// The workspace's status report, unrendered.
    pub fn view(&self, w: &Workspace, now: DateTime<Utc>) -> StatusView {
        let st = w.lock();
        view_of(w, &st, &self.account.current(), now, self.burn_min_minutes)
    }

    /// Notes a call of a model without a price. New models are reported in one warning per
    /// workspace at most every [`UNPRICED_NOTICE_EVERY`] (right away if none was sent in
    /// that time, else by the tick once it has passed), naming a few and counting the rest.
    pub fn note_unpriced(&self, w: &Workspace, model: &str, now: DateTime<Utc>) {
        let due = {
            let mut st = w.lock();
            let unpriced = st.unpriced.get_or_insert_with(Box::default);
            if !unpriced.see(model, now) {
                return;
            }
            unpriced.due(now).map(|d| (d, st.tracker.current().0))
        };
        if let Some(((models, more), status)) = due {
            self.emit(w, quota::unpriced_models_notice(&models, more, status), now);
        }
    }

    /// True the first time a terminal run id is seen: its usage counts then only.
    /// Remembers runs counted before a restart (ids newest first, as the store gives them).
    pub fn remember_runs(&self, ids: Vec<String>) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids.into_iter().take(SEEN_RUNS_CAP).rev() {
            runs.insert(&id);
        }
    }

    pub fn first_sight_of_run(&self, run_id: &str) -> bool {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.insert(run_id)
    }

    /// Brings a change of the account's status to every workspace, then ends the walk.
    fn evaluate_all(&self, walk: Walk<'_>, now: DateTime<Utc>) {
        for w in self.workspaces() {
            self.evaluate(&w, &mut w.lock(), now, &[]);
        }
        drop(walk);
    }

    /// Evaluates a workspace (its lock held) against the latest account state and applies the
    /// result. Returns that state. A transition caused by a limit in `told` (an alert about
    /// that limit is raised in the same step) is recorded and published without a notice of
    /// its own.
    fn evaluate(
        &self,
        w: &Workspace,
        st: &mut WsState,
        now: DateTime<Utc>,
        told: &[LimitKind],
    ) -> AccountState {
        let acct = self.account.current();
        let e = quota::evaluate(&st.meter, &acct, now);
        self.apply(w, st, &acct, &e, now, told);
        acct
    }

    /// Feeds an evaluation to the tracker; on a transition, records it and notifies.
    fn apply(
        &self,
        w: &Workspace,
        st: &mut WsState,
        acct: &AccountState,
        e: &Evaluation,
        now: DateTime<Utc>,
        told: &[LimitKind],
    ) {
        let Some(t) = st.tracker.update(e, now) else {
            return;
        };
        let already_told = match &t.cause {
            Cause::NearLimit { limit, .. } | Cause::WorkspaceLimit { limit } => {
                told.contains(limit)
            }
            _ => false,
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
        if !already_told {
            self.emit(w, t.notice, now);
        }
        // Subscribers get the new status right away, not at the next tick.
        st.dirty = false;
        self.hub.publish(Event::Status(Arc::new(view_of(
            w,
            st,
            acct,
            now,
            self.burn_min_minutes,
        ))));
    }

    /// Raises the notices of `alerts` (the workspace's lock held, after its evaluation).
    fn raise(&self, w: &Workspace, st: &WsState, alerts: Vec<Alert>, now: DateTime<Utc>) {
        for a in alerts {
            let status = st.tracker.current().0;
            let notice = quota::alert_notice(&a, status, st.meter.limits().warning_at);
            metrics::counter!("qs_alerts_total", "workspace" => w.id.to_string(), "key" => notice.key).increment(1);
            self.emit_as(w, Some(a.id(&w.id)), notice, now);
        }
    }

    /// Takes back the alerts raised before a restart (or by another process sharing the
    /// store), from their notification ids, so that none is raised twice in a period. Ids that
    /// are not alerts are skipped. Give them oldest first.
    pub fn restore_alerts<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            let Some((workspace, mark)) = Mark::parse(id) else {
                continue;
            };
            if workspace == ACCOUNT_WORKSPACE {
                let mut guard = self
                    .account_budget
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if let Some(b) = guard.as_mut() {
                    b.alerts.restore(mark);
                }
            } else if let Some(w) = self.workspace(workspace) {
                w.lock().alerts.restore(mark);
            }
        }
    }

    fn emit(&self, w: &Workspace, n: Notice, now: DateTime<Utc>) {
        self.emit_as(w, None, n, now);
    }

    /// Stores and publishes a notice, under `id` if given (alerts have ids of their own, the
    /// same whichever process raises them), else a new one.
    fn emit_as(&self, w: &Workspace, id: Option<String>, n: Notice, now: DateTime<Utc>) {
        self.publish_notice(&w.id, id, n, now);
    }

    /// [`Registry::emit_as`] for a workspace id (or [`ACCOUNT_WORKSPACE`]).
    fn publish_notice(&self, workspace: &str, id: Option<String>, n: Notice, now: DateTime<Utc>) {
        let stored = StoredNotification {
            id: id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            workspace: workspace.to_string(),
            // The table keeps milliseconds: the live form is the stored one, to the letter.
            ts: chrono::SubsecRound::trunc_subsecs(now, 3),
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

/// A page of the admin's workspace list (see [`Registry::page`]).
#[derive(Debug)]
pub struct Page {
    pub workspaces: Vec<Arc<Workspace>>,
    /// Workspaces matching the search, on every page.
    pub total: usize,
    /// Whether matching workspaces follow this page.
    pub more: bool,
}

/// The admin's overview of every workspace (see [`Registry::overview`]).
#[derive(Debug)]
pub struct Overview {
    pub workspaces: usize,
    pub cost_usd_day: f64,
    pub cost_usd_month: f64,
    /// The greatest spenders today, greatest first.
    pub top_spend: Vec<(Arc<Workspace>, f64)>,
    /// The limits forecast to run out before their reset, soonest first.
    pub burning: Vec<(Arc<Workspace>, quota::Forecast)>,
    /// The view of the workspace with the greatest account-wide status, if any has one.
    pub account: Option<StatusView>,
    /// The upstream's headroom, as every workspace's view shows it (none without workspaces).
    pub upstream: Option<crate::types::UpstreamHeadroom>,
}

/// Inserts `item` into `list` (kept sorted by `cmp`, at most `n` long) if it is among the
/// first `n`. Stable: of equals, the one seen first stays first.
fn keep_top<T>(list: &mut Vec<T>, n: usize, item: T, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let at = list.partition_point(|x| cmp(x, &item) != std::cmp::Ordering::Greater);
    if at < n {
        list.insert(at, item);
        list.truncate(n);
    }
}

/// Whether `hay` contains `needle_lower` (already lower case), ignoring case. An ASCII needle
/// is compared byte by byte without allocating; another needle against `hay` in lower case.
fn contains_ignore_case(hay: &str, needle_lower: &str) -> bool {
    if !needle_lower.is_ascii() {
        return hay.to_lowercase().contains(needle_lower);
    }
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    n.is_empty()
        || h.windows(n.len())
            .any(|win| win.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// The last-error key of a refusal by `limit`: minute limits say "retry in N seconds", day and
/// month limits name their reset time.
fn limit_error_key(limit: LimitKind) -> &'static str {
    match limit {
        LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute => "error-workspace-limit",
        LimitKind::RequestsPerDay | LimitKind::TokensPerDay | LimitKind::BudgetUsdPerDay => {
            "error-workspace-limit-day"
        }
        LimitKind::BudgetUsdPerMonth => "error-workspace-limit-month",
    }
}

/// A period limit's refusal also carries `resets_at`: the local wall-clock time (`HH:MM`, in
/// the server's time zone `tz`) when the limit resets. Locale-neutral; rendered at the edge.
fn with_reset_time(
    mut args: BTreeMap<String, ArgValue>,
    refusal: &Refusal,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> BTreeMap<String, ArgValue> {
    if !refusal.limit.is_per_minute() {
        let at = quota::window::add_secs(now, refusal.retry_after_secs).with_timezone(&tz);
        args.insert(
            "resets_at".into(),
            ArgValue::Text(at.format("%H:%M").to_string()),
        );
    }
    args
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

fn view_of(
    w: &Workspace,
    st: &WsState,
    acct: &AccountState,
    now: DateTime<Utc>,
    burn_min_minutes: u32,
) -> StatusView {
    let e = quota::evaluate(&st.meter, acct, now);
    let (status, cause, since) = st.tracker.current();
    let (message_key, message_args, action_keys) = quota::describe(&e);
    StatusView {
        at: now,
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
        retry_after_ms: e
            .retry_after_secs
            .map(|s| match (&e.cause, acct.rate_limited(now)) {
                // The upstream's reset is an exact instant.
                (Cause::UpstreamRateLimited, Some(until)) => {
                    u64::try_from((until - now).num_milliseconds()).unwrap_or(0)
                }
                // Workspace windows free on whole seconds, counted from the second `now` is in.
                _ => (s * 1000).saturating_sub(u64::from(now.timestamp_subsec_millis())),
            }),
        last_error: st.last_error.as_deref().cloned(),
        forecasts: st
            .alerts
            .forecasts(&st.meter, now, burn_min_minutes)
            .into_iter()
            .map(|f| LimitForecast {
                limit: f.limit,
                runs_out_at: f.runs_out_at,
                resets_at: f.resets_at,
                before_reset: f.before_reset(),
                text: String::new(),
            })
            .collect(),
        next_resets: Some(crate::types::NextResets {
            day: st.meter.resets_at(LimitKind::RequestsPerDay, now),
            month: st.meter.resets_at(LimitKind::BudgetUsdPerMonth, now),
        }),
        downgrades: st.meter.downgrades(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_refusals_carry_the_local_reset_time_and_minute_ones_do_not() {
        let refusal = |limit, retry_after_secs| Refusal {
            limit,
            priority: None,
            retry_after_secs,
            used: 1.0,
            limit_value: 1.0,
        };
        // 2024-05-31 10:00 UTC is 12:00 in Rome; the month resets at 00:00 Rome time, 12 h later.
        let now = DateTime::parse_from_rfc3339("2024-05-31T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let rome = chrono_tz::Europe::Rome;
        let month = with_reset_time(
            BTreeMap::new(),
            &refusal(LimitKind::BudgetUsdPerMonth, 12 * 3600),
            rome,
            now,
        );
        assert_eq!(
            month.get("resets_at"),
            Some(&ArgValue::Text("00:00".into()))
        );
        assert_eq!(
            limit_error_key(LimitKind::BudgetUsdPerMonth),
            "error-workspace-limit-month"
        );
        assert_eq!(
            limit_error_key(LimitKind::TokensPerDay),
            "error-workspace-limit-day"
        );
        let minute = with_reset_time(
            BTreeMap::new(),
            &refusal(LimitKind::RequestsPerMinute, 30),
            rome,
            now,
        );
        assert!(minute.is_empty());
        assert_eq!(
            limit_error_key(LimitKind::RequestsPerMinute),
            "error-workspace-limit"
        );
    }

    #[test]
    fn a_thousand_unpriced_models_make_two_notices_and_a_bounded_set() {
        let t0 = Utc::now();
        let mut u = Unpriced::default();
        let mut notices = vec![];
        for i in 0..1000 {
            let now = t0 + chrono::TimeDelta::milliseconds(i);
            assert!(u.see(&format!("mystery-{i}"), now));
            assert!(u.seen.len() <= UNPRICED_MODELS_CAP);
            assert!(u.pending.len() <= UNPRICED_NAMED);
            notices.extend(u.due(now));
        }
        // The first model right away, alone; the rest wait for the hour.
        assert_eq!(notices, [(vec!["mystery-0".into()], 0)]);
        assert_eq!(u.due(t0 + chrono::TimeDelta::minutes(59)), None);
        let later = t0 + UNPRICED_NOTICE_EVERY + chrono::TimeDelta::seconds(1);
        let (named, more) = u.due(later).unwrap_or_default();
        assert_eq!(named.len(), UNPRICED_NAMED);
        assert_eq!(named.len() as u64 + more, 999);
        assert_eq!(u.due(later + UNPRICED_NOTICE_EVERY), None, "nothing new");
        // A model seen again is not news; one forgotten after the TTL is.
        let m = "mystery-999";
        assert!(!u.see(m, later));
        assert!(u.see(m, later + UNPRICED_TTL));
        assert_eq!(u.seen.len(), UNPRICED_MODELS_CAP);
        // Long names are kept cut.
        let long = "é".repeat(1000);
        assert!(u.see(&long, later));
        assert!(u.seen.keys().all(|m| m.len() <= UNPRICED_NAME_MAX));
        assert!(!u.see(&format!("{long}x"), later), "the same name once cut");
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;
    use crate::quota::window::add_secs;
    use std::sync::mpsc;
    use std::time::Duration;

    /// What a test registry needs kept: the store's writer (returned unrun: writes queue in
    /// memory) and the store's folder.
    type Kept = (crate::store::Writer, tempfile::TempDir);

    /// A registry over a fresh store with workspaces `ids` (default limits).
    fn registry(ids: &[&str], now: DateTime<Utc>) -> (Arc<Registry>, Kept) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let (store, writer) = rt
            .block_on(Store::open(&url))
            .unwrap_or_else(|e| panic!("{e}"));
        let reg = Registry::new(
            chrono_tz::UTC,
            AccountPolicy::default(),
            store,
            Arc::default(),
            crate::quota::alerting::BURN_MIN_MINUTES,
        );
        for id in ids {
            reg.upsert_workspace(id, id, Limits::default(), now);
        }
        (Arc::new(reg), (writer, dir))
    }

    fn call(
        reg: &Registry,
        w: &Workspace,
        observation: Option<UpstreamObservation>,
        now: DateTime<Utc>,
    ) {
        let r = reg
            .admit(w, Demand::default(), None, now)
            .unwrap_or_else(|e| panic!("refused: {e:?}"));
        reg.settle(w, r, Actual::default(), observation, None, now);
    }

    fn ws(reg: &Registry, id: &str) -> Arc<Workspace> {
        reg.workspace(id)
            .unwrap_or_else(|| panic!("no workspace {id}"))
    }

    fn page_ids(p: &Page) -> Vec<&str> {
        p.workspaces.iter().map(|w| &*w.id).collect()
    }

    #[test]
    fn pages_follow_the_id_order_and_count_every_match() {
        let now = crate::quota::testutil::utc("2026-05-10T12:00:00Z");
        let (reg, _kept) = registry(&["delta", "alpha", "charlie", "bravo"], now);
        reg.upsert_workspace("echo", "Research Échelon", Limits::default(), now);
        let p = reg.page("", None, 2);
        assert_eq!(page_ids(&p), ["alpha", "bravo"]);
        assert_eq!((p.total, p.more), (5, true));
        let p = reg.page("", Some("bravo"), 2);
        assert_eq!(page_ids(&p), ["charlie", "delta"]);
        assert_eq!((p.total, p.more), (5, true));
        let p = reg.page("", Some("delta"), 2);
        assert_eq!(page_ids(&p), ["echo"]);
        assert_eq!((p.total, p.more), (5, false));
        // A cursor between ids (a workspace that is gone) pages on after its place.
        let p = reg.page("", Some("b"), 10);
        assert_eq!(page_ids(&p), ["bravo", "charlie", "delta", "echo"]);
        // Search: ids and names, any case (also beyond ASCII), counted before the cursor too.
        let p = reg.page("HA", None, 10);
        assert_eq!(page_ids(&p), ["alpha", "charlie"]);
        let p = reg.page("r", Some("bravo"), 1);
        assert_eq!(page_ids(&p), ["charlie"]);
        // bravo, charlie, echo ("Research"): one before the cursor, one more after the page.
        assert_eq!((p.total, p.more), (3, true));
        let p = reg.page("RESEARCH", None, 10);
        assert_eq!(page_ids(&p), ["echo"]);
        let p = reg.page("éCHEL", None, 10);
        assert_eq!(page_ids(&p), ["echo"]);
        let p = reg.page("zulu", None, 10);
        assert!(p.workspaces.is_empty());
        assert_eq!((p.total, p.more), (0, false));
        assert_eq!(reg.workspace_count(), 5);
    }

    #[test]
    fn a_page_can_hold_one_status_only() {
        let now = crate::quota::testutil::utc("2026-05-10T12:00:00Z");
        let (reg, _kept) = registry(&["alpha", "bravo", "charlie"], now);
        let p = reg.page_with_status("", Some(Status::Normal), None, 2);
        assert_eq!(page_ids(&p), ["alpha", "bravo"]);
        assert_eq!((p.total, p.more), (3, true));
        // bravo refused at its minute limit: no longer normal.
        let limits = Limits {
            requests_per_minute: Some(1),
            ..Limits::default()
        };
        let bravo = reg.upsert_workspace("bravo", "bravo", limits, now);
        call(&reg, &bravo, None, now);
        assert!(reg.admit(&bravo, Demand::default(), None, now).is_err());
        let status = bravo.status();
        assert_ne!(status, Status::Normal);
        let p = reg.page_with_status("", Some(status), None, 10);
        assert_eq!(page_ids(&p), ["bravo"]);
        assert_eq!((p.total, p.more), (1, false));
        let p = reg.page_with_status("", Some(Status::Normal), Some("alpha"), 10);
        assert_eq!(page_ids(&p), ["charlie"]);
        assert_eq!((p.total, p.more), (2, false));
        let p = reg.page_with_status("ALP", Some(Status::Normal), None, 10);
        assert_eq!(page_ids(&p), ["alpha"]);
        assert!(reg
            .page_with_status("", Some(Status::Degraded), None, 10)
            .workspaces
            .is_empty());
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ignore_case("Research Team", "team"));
        assert!(contains_ignore_case("ws-00042", "00042"));
        assert!(contains_ignore_case("anything", ""));
        assert!(!contains_ignore_case("abc", "abcd"));
        assert!(contains_ignore_case("ÄRGER", "ärg"));
        assert!(!contains_ignore_case("Team", "tea m"));
    }

    #[test]
    fn the_overview_sums_every_workspace_and_keeps_the_top_few() {
        let now = crate::quota::testutil::utc("2026-05-10T12:00:00Z");
        let ids: Vec<String> = (0..30).map(|i| format!("w{i:02}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (reg, _kept) = registry(&refs, now);
        // w03 spends $3, w07 $1, w20 $2, w21 $2 (equal: the first seen stays first).
        for (id, usd) in [("w03", 3), ("w07", 1), ("w20", 2), ("w21", 2)] {
            let w = ws(&reg, id);
            let r = reg
                .admit(&w, Demand::default(), None, now)
                .unwrap_or_else(|e| panic!("refused: {e:?}"));
            let actual = Actual {
                tokens: 10,
                cost_nanos: Some(usd * 1_000_000_000),
            };
            reg.settle(&w, r, actual, None, None, now);
        }
        let o = reg.overview(now, 3);
        assert_eq!(o.workspaces, 30);
        assert!((o.cost_usd_day - 8.0).abs() < 1e-9, "{}", o.cost_usd_day);
        assert!(
            (o.cost_usd_month - 8.0).abs() < 1e-9,
            "{}",
            o.cost_usd_month
        );
        let top: Vec<(&str, f64)> = o.top_spend.iter().map(|(w, c)| (&*w.id, *c)).collect();
        assert_eq!(top, [("w03", 3.0), ("w20", 2.0), ("w21", 2.0)]);
        assert!(o.burning.is_empty());
        assert!(o.account.is_none());
        // Idle meters stay unallocated: reading them for the overview allocates no window.
        assert!(!ws(&reg, "w00").lock().meter.window_allocated());
        assert!(ws(&reg, "w03").lock().meter.window_allocated());
    }

    #[test]
    fn keep_top_is_bounded_sorted_and_stable() {
        let mut list = Vec::new();
        for (i, x) in [5, 1, 9, 5, 7, 3, 9].into_iter().enumerate() {
            keep_top(&mut list, 3, (x, i), |a: &(i32, usize), b| b.0.cmp(&a.0));
        }
        let values: Vec<i32> = list.iter().map(|x| x.0).collect();
        assert_eq!(values, [9, 9, 7]);
        // The first 9 seen is first.
        assert!(list[0].1 < list[1].1);
        keep_top(&mut list, 0, (100, 0), |a, b| b.0.cmp(&a.0));
        assert_eq!(list.len(), 3);
    }

    /// What an idle workspace holds inline (heap parts are counted by `scripts/bench.sh`, which
    /// measures the process): the window's buckets are not among them until a first call.
    #[test]
    fn an_idle_workspace_is_small() {
        let sizes = [
            ("Workspace", std::mem::size_of::<Workspace>()),
            ("WsState", std::mem::size_of::<WsState>()),
            ("WorkspaceMeter", std::mem::size_of::<WorkspaceMeter>()),
            ("StatusTracker", std::mem::size_of::<StatusTracker>()),
            ("AlertRules", std::mem::size_of::<AlertRules>()),
            ("Limits", std::mem::size_of::<Limits>()),
            ("Unpriced", std::mem::size_of::<Unpriced>()),
        ];
        eprintln!("{sizes:?}");
        assert!(std::mem::size_of::<Workspace>() <= 512, "{sizes:?}");
        assert!(std::mem::size_of::<AlertRules>() <= 16, "{sizes:?}");
    }

    /// A downgrade rule takes effect once the day's budget, reservations included, reaches its
    /// share; the retries are the workspace's setting; an attempt's 429 rate-limits the account
    /// without touching the call's reservation.
    #[test]
    fn call_policies_and_an_observed_attempt() {
        let now = Utc::now();
        let (reg, _kept) = registry(&[], now);
        let limits = Limits {
            budget_usd_per_day: Some(1.0),
            downgrade: Some(vec![crate::types::DowngradeRule {
                from: "gpt-4o".into(),
                to: "gpt-4o-mini".into(),
                at: 0.5,
            }]),
            upstream_retries: Some(2),
            ..Limits::default()
        };
        reg.upsert_workspace("a", "a", limits, now);
        let a = ws(&reg, "a");
        let policy = |model| reg.call_policy(&a, model, now);
        assert_eq!(
            policy(Some("gpt-4o")),
            CallPolicy {
                downgrade_to: None,
                retries: 2
            }
        );
        let held = reg
            .admit(
                &a,
                Demand {
                    tokens: 0,
                    cost_nanos: 500_000_000,
                },
                None,
                now,
            )
            .unwrap_or_else(|e| panic!("refused: {e:?}"));
        assert_eq!(
            policy(Some("gpt-4o")).downgrade_to.as_deref(),
            Some("gpt-4o-mini")
        );
        // The exact name only.
        assert_eq!(policy(Some("gpt-4o-2024-08-06")).downgrade_to, None);
        assert_eq!(policy(Some("GPT-4o")).downgrade_to, None);
        assert_eq!(policy(None).downgrade_to, None);
        let before = a.lock().meter.usage(now);
        reg.observe_attempt(
            &a,
            UpstreamObservation::RateLimited {
                retry_after_secs: Some(30),
                headroom: None,
            },
            Some(("error-upstream-rate-limited", BTreeMap::new())),
            now,
        );
        assert_eq!(a.status(), Status::RateLimited);
        assert_eq!(
            a.lock().meter.usage(now),
            before,
            "the reservation is untouched"
        );
        assert_eq!(
            a.lock().last_error.as_ref().map(|e| e.key),
            Some("error-upstream-rate-limited")
        );
        reg.settle(&a, held, Actual::default(), None, None, now);
        assert_eq!(policy(Some("gpt-4o")).downgrade_to, None, "nothing spent");
    }

    /// The tick is made to stop in the middle of its walk (at workspace `a`, whose lock the
    /// test holds) right after it changed workspace `0`'s status. A call of workspace `b` must
    /// settle meanwhile, its upstream observation included: an account-wide lock held by the
    /// tick while it walks would keep it waiting until `a` is let go.
    #[test]
    fn a_call_settles_while_the_tick_is_held_up_in_another_workspace() {
        let t0 = Utc::now();
        let (reg, _kept) = registry(&["0", "a", "b"], t0);
        let (w0, a, b) = (ws(&reg, "0"), ws(&reg, "a"), ws(&reg, "b"));
        // The upstream rate-limits the account for a second: every workspace is rate limited.
        call(
            &reg,
            &b,
            Some(UpstreamObservation::RateLimited {
                retry_after_secs: Some(1),
                headroom: None,
            }),
            t0,
        );
        assert_eq!(w0.status(), Status::RateLimited);
        let mut events = reg.hub().subscribe("0");

        let held = a.lock();
        let later = add_secs(t0, 2);
        let ticker = {
            let reg = reg.clone();
            std::thread::spawn(move || reg.tick(later))
        };
        // The tick ends workspace `0`'s rate limit, then waits for `a`.
        loop {
            match events.blocking_recv() {
                Ok(Event::Status(v)) if v.status == Status::Normal => break,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let (done, settled) = mpsc::channel();
        let settler = {
            let (reg, b) = (reg.clone(), b.clone());
            std::thread::spawn(move || {
                call(
                    &reg,
                    &b,
                    Some(UpstreamObservation::Success { headroom: None }),
                    later,
                );
                let _ = done.send(b.status());
            })
        };
        let outcome = settled.recv_timeout(Duration::from_secs(10));
        drop(held);
        let _ = ticker.join();
        let _ = settler.join();
        assert_eq!(
            outcome,
            Ok(Status::Normal),
            "workspace b's call waited for the tick's walk"
        );
        assert_eq!(a.status(), Status::Normal, "the tick went on once let go");
    }

    /// A change of the account's status is under way, its walk held up at workspace `b`, when
    /// a call of workspace `a` changes the account's status back. The second change must wait
    /// for the first walk: `b` goes through both statuses, in order, as `0` and `a` do.
    #[test]
    fn a_change_of_the_account_waits_for_the_walk_of_the_one_before() {
        let now = Utc::now();
        let (reg, _kept) = registry(&["0", "a", "b"], now);
        let (w0, a, b) = (ws(&reg, "0"), ws(&reg, "a"), ws(&reg, "b"));
        let mut events: Vec<_> = ["0", "a", "b"]
            .iter()
            .map(|id| reg.hub().subscribe(id))
            .collect();
        let held = b.lock();
        let first = {
            let reg = reg.clone();
            std::thread::spawn(move || {
                call(&reg, &w0, Some(UpstreamObservation::QuotaExhausted), now);
            })
        };
        // The walk has reached `a`: it waits for `b` now.
        loop {
            match events[1].blocking_recv() {
                Ok(Event::Status(v)) if v.status == Status::QuotaExceeded => break,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let (done, finished) = mpsc::channel();
        let second = {
            let reg = reg.clone();
            std::thread::spawn(move || {
                let ok = UpstreamObservation::Success { headroom: None };
                call(&reg, &a, Some(ok), now);
                let _ = done.send(());
            })
        };
        // Were the second change to go ahead (it must not), give it the time to.
        let _ = finished.recv_timeout(Duration::from_millis(200));
        drop(held);
        let _ = first.join();
        let _ = second.join();
        let mut statuses = vec![vec![], vec![Status::QuotaExceeded], vec![]];
        for (rx, seen) in events.iter_mut().zip(&mut statuses) {
            while let Ok(e) = rx.try_recv() {
                if let Event::Status(v) = e {
                    seen.push(v.status);
                }
            }
        }
        for (id, seen) in ["0", "a", "b"].iter().zip(&statuses) {
            assert_eq!(
                seen,
                &[Status::QuotaExceeded, Status::Normal],
                "workspace {id}"
            );
        }
    }

    /// Two threads flip the account between an exhausted quota and health as fast as they can,
    /// each through its own workspaces' calls. Every workspace must go through the same
    /// statuses in the same order: no change of the account's status is skipped by one
    /// workspace and seen by another, none is seen twice, none out of order.
    #[test]
    fn every_workspace_sees_every_account_change_once_and_in_order() {
        let now = Utc::now();
        let ids: Vec<String> = (0..64).map(|i| format!("w{i}")).collect();
        let names: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (reg, _kept) = registry(&names, now);
        let mut subscribers: Vec<_> = names.iter().map(|id| reg.hub().subscribe(id)).collect();
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let reg = reg.clone();
                let mine: Vec<_> = names
                    .iter()
                    .skip(t)
                    .step_by(2)
                    .map(|id| ws(&reg, id))
                    .collect();
                std::thread::spawn(move || {
                    // Each flip makes at most two events per workspace: 100 flips stay within
                    // the hub's channel.
                    for round in 0..25 {
                        let w = &mine[round % mine.len()];
                        call(&reg, w, Some(UpstreamObservation::QuotaExhausted), now);
                        let ok = UpstreamObservation::Success { headroom: None };
                        call(&reg, w, Some(ok), now);
                    }
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        let statuses: Vec<Vec<Status>> = subscribers
            .iter_mut()
            .map(|rx| {
                let mut seen = vec![];
                loop {
                    match rx.try_recv() {
                        Ok(Event::Status(v)) => seen.push(v.status),
                        Ok(Event::Notification(_)) => {}
                        Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break seen,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
            .collect();
        assert!(statuses[0].len() >= 2, "{:?}", statuses[0]);
        assert_eq!(statuses[0].last(), Some(&Status::Normal));
        for (id, seen) in names.iter().zip(&statuses) {
            assert_eq!(seen, &statuses[0], "workspace {id}");
        }
    }
}
