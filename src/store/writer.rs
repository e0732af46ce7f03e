//! The writer task: commits queued writes in batches (one transaction each), and the ring of
//! queued notifications that [`Store::notifications`] merges with the table (module docs of
//! [`super`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sqlx::{AnyPool, Row};

use std::sync::Arc;

use tokio::sync::mpsc;

use super::outbox::{insert_row, takes};
use super::spool::{Spool, Spooled};
use super::{LedgerRow, Store, StoreError, Write};
use crate::model::{ChannelFilter, StoredNotification};

/// The writer task's handle: await [`Writer::run`] to drain and stop.
pub struct Writer {
    pub(super) pool: AnyPool,
    pub(super) engine: super::Engine,
    pub(super) rx: mpsc::UnboundedReceiver<Write>,
    pub(super) queued: Arc<Queued>,
    pub(super) filters: Arc<super::outbox::Filters>,
    pub(super) outbox_ready: Arc<tokio::sync::Notify>,
    pub(super) spool: Option<Spool>,
    /// Batches in the spool, shared with [`Store::spooled_batches`].
    pub(super) spooled: Arc<AtomicUsize>,
    /// Whether there is a spool, shared with [`Store::spools`].
    pub(super) has_spool: Arc<std::sync::atomic::AtomicBool>,
    /// Set when instances share state: see [`super::NoticeClaim`].
    pub(super) claim: Arc<std::sync::OnceLock<Arc<dyn super::NoticeClaim>>>,
}

/// How many queued (not yet stored) notifications a workspace's ring holds.
pub const QUEUED_NOTIFICATIONS_CAP: usize = 128;

/// Notifications queued for the writer and not yet through it, per workspace, oldest first
/// (see the module docs). A std Mutex: held for a few pushes or a copy, never across an await.
#[derive(Debug, Default)]
pub(super) struct Queued(Mutex<HashMap<String, VecDeque<StoredNotification>>>);

impl Queued {
    pub(super) fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<StoredNotification>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn push(&self, n: &StoredNotification) {
        let mut map = self.lock();
        let ring = map.entry(n.workspace.clone()).or_default();
        while ring.len() >= QUEUED_NOTIFICATIONS_CAP {
            ring.pop_front();
        }
        // As the table keeps it: to the millisecond.
        ring.push_back(StoredNotification {
            ts: chrono::SubsecRound::trunc_subsecs(n.ts, 3),
            ..n.clone()
        });
    }

    /// Takes the notifications of `ids` out of their workspaces' rings.
    pub(super) fn remove<'a>(&self, done: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut by_ws: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (ws, id) in done {
            by_ws.entry(ws).or_default().insert(id);
        }
        if by_ws.is_empty() {
            return;
        }
        let mut map = self.lock();
        for (ws, ids) in by_ws {
            if let Some(ring) = map.get_mut(ws) {
                ring.retain(|n| !ids.contains(n.id.as_str()));
                if ring.is_empty() {
                    map.remove(ws);
                }
            }
        }
    }

    /// The queued notifications of `workspace`, or of every workspace.
    pub(super) fn of(&self, workspace: Option<&str>) -> Vec<StoredNotification> {
        let map = self.lock();
        match workspace {
            Some(ws) => map
                .get(ws)
                .map(|r| r.iter().cloned().collect())
                .unwrap_or_default(),
            None => map.values().flatten().cloned().collect(),
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().values().map(VecDeque::len).sum()
    }
}

const BATCH: usize = 512;
/// How many run ids of rolled-up rows are kept: as many as the registry remembers.
pub const KEPT_RUN_IDS: usize = crate::model::SEEN_RUNS_CAP;
/// How long a batch may gather before it is committed.
const BATCH_WAIT: Duration = Duration::from_millis(20);

impl Store {
    /// The newest notifications of a workspace, newest first: the stored ones and those still
    /// queued for the writer, each once (module docs).
    pub async fn notifications(
        &self,
        workspace: &str,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        self.newest_notifications(Some(workspace), limit).await
    }

    /// The newest notifications of every workspace (the admin's overview), as
    /// [`Store::notifications`] lists one workspace's.
    pub async fn notifications_of_all(
        &self,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        self.newest_notifications(None, limit).await
    }

    async fn newest_notifications(
        &self,
        workspace: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        // Before the query: an entry leaves the ring only once its row is committed.
        let queued = self.queued.of(workspace);
        let stored = self.stored_notifications(workspace, limit).await?;
        let mut seen = HashSet::with_capacity(stored.len() + queued.len());
        let mut all: Vec<StoredNotification> = stored
            .into_iter()
            .chain(queued)
            .filter(|n| seen.insert(n.id.clone()))
            .collect();
        // The table's order: time (ms), then id.
        all.sort_by(|a, b| (b.ts.timestamp_millis(), &b.id).cmp(&(a.ts.timestamp_millis(), &a.id)));
        all.truncate(limit as usize);
        Ok(all)
    }

    async fn stored_notifications(
        &self,
        workspace: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let rows = match workspace {
            Some(ws) => {
                sqlx::query(
                    "SELECT id, workspace, ts_ms, level, status, key, args, action_keys FROM notifications \
                      WHERE workspace = $1 ORDER BY ts_ms DESC, id DESC LIMIT $2",
                )
                .bind(ws)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, workspace, ts_ms, level, status, key, args, action_keys FROM notifications \
                      ORDER BY ts_ms DESC, id DESC LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                let level: String = r.try_get("level")?;
                let status: String = r.try_get("status")?;
                let ts: i64 = r.try_get("ts_ms")?;
                Ok(StoredNotification {
                    id: r.try_get("id")?,
                    workspace: r.try_get("workspace")?,
                    ts: Utc.timestamp_millis_opt(ts).single().unwrap_or_default(),
                    level: serde_json::from_value(serde_json::Value::String(level))?,
                    status: serde_json::from_value(serde_json::Value::String(status))?,
                    key: r.try_get("key")?,
                    args: serde_json::from_str(&r.try_get::<String, _>("args")?)?,
                    action_keys: serde_json::from_str(&r.try_get::<String, _>("action_keys")?)?,
                })
            })
            .collect()
    }
}

impl Writer {
    /// Keeps the batches the database does not take in the spool file at `path`, and writes
    /// them, exactly once, when it answers again (see `spool`). Batches left there by an
    /// earlier run are written first. Without a spool, a batch that fails its retries is lost
    /// (and logged).
    pub async fn with_spool(mut self, path: std::path::PathBuf) -> Result<Writer, StoreError> {
        let spool = Spool::open(path).await?;
        self.spooled.store(spool.batches(), Ordering::Relaxed);
        if spool.batches() > 0 {
            tracing::warn!(
                batches = spool.batches(),
                "ledger spool holds batches from an earlier run; writing them first"
            );
        }
        self.spool = Some(spool);
        self.has_spool.store(true, Ordering::Relaxed);
        Ok(self)
    }

    /// Commits queued writes in batches until every [`Store`] handle is dropped, then returns
    /// after the last batch: dropping the senders is how shutdown flushes.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await
    }

    /// Like [`Writer::run`], but once `stop` completes no new write is accepted and the writer
    /// returns after committing (or spooling) everything already queued (shutdown).
    pub async fn run_until(mut self, stop: impl std::future::Future<Output = ()>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut stop = std::pin::pin!(stop);
        let mut stopping = false;
        let mut next_drain = tokio::time::Instant::now();
        self.drain(&mut next_drain).await;
        loop {
            let spooled = self.spooled.load(Ordering::Relaxed) > 0;
            let n = if stopping {
                self.rx.recv_many(&mut batch, BATCH).await
            } else {
                tokio::select! {
                    n = self.rx.recv_many(&mut batch, BATCH) => n,
                    () = &mut stop => {
                        stopping = true;
                        self.rx.close();
                        continue;
                    }
                    // Idle with a spool: try the database again now and then.
                    () = tokio::time::sleep_until(next_drain), if spooled => {
                        self.drain(&mut next_drain).await;
                        continue;
                    }
                }
            };
            if n == 0 {
                break;
            }
            // Under load, one transaction per call would cost more than the calls: let a
            // batch gather for a moment (rows become visible at most BATCH_WAIT later).
            if !stopping && batch.len() < BATCH {
                tokio::time::sleep(BATCH_WAIT).await;
                while batch.len() < BATCH {
                    match self.rx.try_recv() {
                        Ok(w) => batch.push(w),
                        Err(_) => break,
                    }
                }
            }
            let id = uuid::Uuid::now_v7().simple().to_string();
            if self.spooled.load(Ordering::Relaxed) > 0 {
                // Earlier batches wait in the spool: they go first, and while the database
                // still does not take them this one joins them without a wait.
                if tokio::time::Instant::now() >= next_drain {
                    self.drain(&mut next_drain).await;
                }
                if self.spooled.load(Ordering::Relaxed) > 0 {
                    let batch = std::mem::take(&mut batch);
                    self.keep(Spooled { id, writes: batch }).await;
                    continue;
                }
            }
            self.commit(id, &mut batch).await;
            batch.clear();
        }
    }

    /// Commits one batch, with retries; a batch the database does not take goes to the spool.
    async fn commit(&mut self, id: String, batch: &mut Vec<Write>) {
        self.drop_unclaimed(batch).await;
        let filters = self.filters.get();
        let mut attempt = 0;
        loop {
            match write_batch(&self.pool, self.engine, &id, batch, &filters).await {
                Ok(added) => {
                    self.committed(added, batch);
                    return;
                }
                Err(e) if attempt < RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e, rows = batch.len(), attempt, "ledger batch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, rows = batch.len(), "ledger batch failed after retries");
                    let writes = std::mem::take(batch);
                    self.keep(Spooled { id, writes }).await;
                    return;
                }
            }
        }
    }

    /// After a batch is through: wakes the delivery worker for new outbox rows, and takes its
    /// notifications out of the ring (the table answers for them from now on).
    /// Drops the status notices another instance stores (see [`super::NoticeClaim`]); they
    /// leave the queued ring too. Alerts (ids of their own) are kept: the database dedups them.
    async fn drop_unclaimed(&self, batch: &mut Vec<Write>) {
        let Some(claim) = self.claim.get() else {
            return;
        };
        let mut dropped = Vec::new();
        for (i, w) in batch.iter().enumerate() {
            if let Write::Notification(n) = w {
                let own_id = ["alert:", "burn:", "under:"]
                    .iter()
                    .any(|p| n.id.starts_with(p));
                if !own_id && !claim.claim(n).await {
                    dropped.push(i);
                }
            }
        }
        for i in dropped.into_iter().rev() {
            if let Write::Notification(n) = batch.remove(i) {
                self.queued.remove([(n.workspace.as_str(), n.id.as_str())]);
            }
        }
    }

    fn committed(&self, outbox_rows: Option<usize>, batch: &[Write]) {
        if outbox_rows.is_some_and(|n| n > 0) {
            self.outbox_ready.notify_one();
        }
        self.queued.remove(batch.iter().filter_map(|w| match w {
            Write::Notification(n) => Some((n.workspace.as_str(), n.id.as_str())),
            _ => None,
        }));
    }

    /// Keeps a batch the database did not take in the spool (lost, and logged, without one).
    async fn keep(&mut self, batch: Spooled) {
        let rows = batch.writes.len();
        let kept = match &mut self.spool {
            Some(spool) => match spool.append(&batch).await {
                Ok(()) => {
                    self.spooled.store(spool.batches(), Ordering::Relaxed);
                    tracing::warn!(
                        rows,
                        batches = spool.batches(),
                        "ledger batch spooled until the database answers"
                    );
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, rows, "ledger batch lost: the spool failed");
                    false
                }
            },
            None => {
                tracing::error!(rows, "ledger batch lost after retries (no spool)");
                false
            }
        };
        if !kept {
            // Given up: the ring stops listing its notifications.
            self.committed(None, &batch.writes);
        }
        // Spooled notifications stay listed from the ring until their replay commits them.
    }

    /// Writes every spooled batch, oldest first, then empties the spool; stops at the first
    /// failure (the batches already written are skipped by the next attempt) and sets when to
    /// try again.
    async fn drain(&mut self, next_drain: &mut tokio::time::Instant) {
        let Some(mut spool) = self.spool.take() else {
            return;
        };
        if spool.batches() > 0 {
            *next_drain = tokio::time::Instant::now() + DRAIN_EVERY;
            if let Some(rows) = self.replay(&spool).await {
                match spool.clear().await {
                    Ok(()) => tracing::info!(rows, "ledger spool written to the database"),
                    Err(e) => tracing::error!(error = %e, "ledger spool cannot be emptied"),
                }
                self.spooled.store(spool.batches(), Ordering::Relaxed);
            }
        }
        self.spool = Some(spool);
    }

    /// Writes the spool's batches in order; the rows written, or `None` at the first failure.
    async fn replay(&self, spool: &Spool) -> Option<usize> {
        let filters = self.filters.get();
        let (mut offset, mut rows) = (0, 0);
        loop {
            let (batches, next) = match spool.read_from(offset).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "ledger spool cannot be read");
                    return None;
                }
            };
            if batches.is_empty() {
                return Some(rows);
            }
            for b in &batches {
                match write_batch(&self.pool, self.engine, &b.id, &b.writes, &filters).await {
                    Ok(added) => {
                        self.committed(added, &b.writes);
                        rows += b.writes.len();
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "ledger spool: the database still fails");
                        return None;
                    }
                }
            }
            offset = next;
        }
    }
}

/// Retries of a batch before it is spooled.
const RETRIES: u64 = 2;
/// How often a writer with spooled batches tries the database again.
const DRAIN_EVERY: Duration = Duration::from_secs(1);

/// Row counts of one multi-row INSERT. SQLite allows 32766 bound parameters and PostgreSQL
/// 65535; 25 per row keeps 256 rows well below both. Batches are cut into these sizes only, so
/// the five statements stay in sqlx's statement cache instead of being parsed again for every
/// new batch length.
pub(super) const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// The ledger's columns, in the order [`write_batch`] binds them.
const LEDGER_COLUMNS: [&str; 25] = [
    "ts_ms",
    "workspace",
    "key_id",
    "family",
    "model",
    "http_status",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "audio_seconds",
    "characters",
    "cost_nanos",
    "estimated",
    "latency_ms",
    "goal",
    "task",
    "priority",
    "request_id",
    "upstream_request_id",
    "run_id",
    "path",
    "requested_model",
    "upstream_retries",
];

/// The multi-row INSERT of `rows` ledger rows (one of [`CHUNK_SIZES`]) for `engine`, built
/// once per size: PostgreSQL's with `$n` placeholders, SQLite's with anonymous `?` ones.
/// SQLite reads `$n` too, but as *named* parameters, and binding looks each name up by a walk
/// of the statement's list of names: 6,400 of them in the 256-row statement made binding
/// quadratic (over 90 % of the writer's CPU, 290 µs per row instead of a few).
pub(super) fn ledger_insert(engine: super::Engine, rows: usize) -> &'static str {
    fn build(mark: impl Fn(usize) -> String) -> [String; CHUNK_SIZES.len()] {
        CHUNK_SIZES.map(|n| {
            let cols = LEDGER_COLUMNS.len();
            let values: Vec<String> = (0..n)
                .map(|r| {
                    let marks: Vec<String> = (1..=cols).map(|c| mark(r * cols + c)).collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            format!(
                "INSERT INTO ledger ({}) VALUES {}",
                LEDGER_COLUMNS.join(", "),
                values.join(", ")
            )
        })
    }
    static SQLITE: std::sync::LazyLock<[String; CHUNK_SIZES.len()]> =
        std::sync::LazyLock::new(|| build(|_| "?".to_owned()));
    static POSTGRES: std::sync::LazyLock<[String; CHUNK_SIZES.len()]> =
        std::sync::LazyLock::new(|| build(|i| format!("${i}")));
    let sql = match engine {
        super::Engine::Sqlite => &*SQLITE,
        super::Engine::Postgres => &*POSTGRES,
    };
    let i = CHUNK_SIZES.iter().position(|&n| n == rows);
    // fixed_chunks only cuts CHUNK_SIZES; the 1-row statement is the safe fallback.
    sql[i.unwrap_or(CHUNK_SIZES.len() - 1)].as_str()
}

/// `rows` cut into consecutive chunks whose lengths are all in [`CHUNK_SIZES`].
pub(super) fn fixed_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Commits `batch` in one transaction, with the outbox rows of the notifications it adds
/// (those `filters` take) and its `id` in `written_batches`; how many outbox rows it added, or
/// `None` when a batch of this id was committed before (a replay from the spool), which adds
/// nothing.
pub(super) async fn write_batch(
    pool: &AnyPool,
    engine: super::Engine,
    id: &str,
    batch: &[Write],
    filters: &[ChannelFilter],
) -> Result<Option<usize>, StoreError> {
    let mut tx = pool.begin().await?;
    let first = sqlx::query(
        "INSERT INTO written_batches (id, ts_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(Utc::now().timestamp_millis())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if first == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut outbox_rows = 0;
    let calls: Vec<&LedgerRow> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Call(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    for chunk in fixed_chunks(&calls) {
        let mut q = sqlx::query(ledger_insert(engine, chunk.len()));
        for r in chunk {
            q = q
                .bind(r.ts.timestamp_millis())
                .bind(&*r.workspace)
                .bind(&*r.key_id)
                .bind(&*r.family)
                .bind(r.model.as_deref())
                .bind(i64::from(r.http_status))
                .bind(r.input_tokens as i64)
                .bind(r.cached_tokens as i64)
                .bind(r.output_tokens as i64)
                .bind(r.reasoning_tokens as i64)
                .bind(r.images as i64)
                .bind(r.audio_seconds)
                .bind(r.characters as i64)
                .bind(r.cost_nanos.map(|c| c as i64))
                .bind(i64::from(r.estimated))
                .bind(r.latency_ms as i64)
                .bind(r.goal.as_deref())
                .bind(r.task.as_deref())
                .bind(r.priority.as_deref())
                .bind(r.request_id.as_deref())
                .bind(r.upstream_request_id.as_deref())
                .bind(r.run_id.as_deref())
                .bind(r.path.as_deref())
                .bind(r.requested_model.as_deref())
                .bind(i64::from(r.upstream_retries));
        }
        q.execute(&mut *tx).await?;
    }
    for w in batch {
        match w {
            Write::Call(_) => {}
            Write::Notification(n) => {
                let added = sqlx::query(
                    "INSERT INTO notifications (id, workspace, ts_ms, level, status, key, args, action_keys) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(&n.id)
                .bind(&n.workspace)
                .bind(n.ts.timestamp_millis())
                .bind(n.level.as_str())
                .bind(n.status.as_str())
                .bind(&n.key)
                .bind(serde_json::to_string(&n.args)?)
                .bind(serde_json::to_string(&n.action_keys)?)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // Only the instance whose insert added the row queues its deliveries.
                if added == 1 {
                    let now = Utc::now();
                    for f in filters.iter().filter(|f| takes(f, n)) {
                        if insert_row(&mut tx, n, &f.channel, now).await? {
                            outbox_rows += 1;
                        }
                    }
                }
            }
            Write::StatusChange(s) => {
                sqlx::query(
                    "INSERT INTO status_changes (workspace, ts_ms, from_status, to_status, cause) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&s.workspace)
                .bind(s.ts.timestamp_millis())
                .bind(s.from.as_str())
                .bind(s.to.as_str())
                .bind(&s.cause_json)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Some(outbox_rows))
}
