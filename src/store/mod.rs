//! Durable storage: the SQLite pool (WAL, migrations), the batched ledger writer, the counter
//! rebuild at start, the usage queries and the hourly roll-up and pruning.
//!
//! The database file and its `-wal`/`-shm` companions are readable by their owner only
//! (0600, see [`private_files`]): they hold key hashes, usage and the session salt.
//!
//! Owns: every SQL statement of the project. Writes arrive on an unbounded channel and are
//! committed in batches by one background task, so the proxy never waits on the disk; on
//! shutdown the writer drains the channel before it returns. Must not: block the hot path,
//! decide policy, or let a database error text reach a client (callers map [`StoreError`]).
//!
//! # Notifications are read-your-writes
//! A notification is published to WebSockets the moment it is queued, but reaches the table
//! only with the writer's next batch (up to `BATCH_WAIT`, 20 ms, plus a commit later). So that a
//! client told about one can list it at once, [`Store::write`] also keeps every queued
//! notification in a small per-workspace ring in memory, and [`Store::notifications`] merges
//! that ring with the table: deduplicated by id, newest first, cut to `limit`. The writer takes
//! a batch's notifications out of the ring once the batch is through (committed, or given up
//! after its retries); a ring holds at most [`QUEUED_NOTIFICATIONS_CAP`] entries (the oldest
//! leaves first), so it stays bounded even if the database stalls. No race loses one: a reader
//! copies the ring *before* it queries the table, and an entry leaves the ring only after its
//! row is committed. The in-memory and stored forms are the same value (same id; times are
//! kept to the millisecond, as stored), so clients that deduplicate by id see one
//! notification. (Writing notifications ahead of the ledger instead would still leave a gap
//! between the WebSocket event and the insert, unless the registry waited on the disk.)

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};
use tokio::sync::mpsc;

use crate::model::{StatusChange, StoredNotification};
use crate::types::{CreateWorkspace, GroupBy, LimitFields, UsageRow};

/// The storage layer's error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot make the database file {path} private (0600): {source}")]
    Permissions {
        path: String,
        source: std::io::Error,
    },
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
}

/// One call, as the ledger records it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LedgerRow {
    pub ts: DateTime<Utc>,
    pub workspace: Arc<str>,
    pub key_id: Arc<str>,
    pub family: Arc<str>,
    /// The request path of a call counted as `other` (see `crate::proxy::family`); `None` for
    /// every known family.
    pub path: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    pub http_status: u16,
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub images: u64,
    pub audio_seconds: f64,
    pub characters: u64,
    pub cost_nanos: Option<u64>,
    pub estimated: bool,
    pub latency_ms: u64,
    pub goal: Option<Arc<str>>,
    pub task: Option<Arc<str>>,
    pub priority: Option<Arc<str>>,
    pub request_id: Option<Arc<str>>,
    pub upstream_request_id: Option<Arc<str>>,
    /// The run whose usage this row counts (`threads.runs` only), so it counts once.
    pub run_id: Option<Arc<str>>,
}

/// What the writer task commits.
#[derive(Debug)]
pub enum Write {
    Call(Box<LedgerRow>),
    Notification(Box<StoredNotification>),
    StatusChange(Box<StatusChange>),
}

/// Which page of [`Store::usage`] to read: at most `limit` groups, after `after`.
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    pub limit: usize,
    pub after: Option<&'a UsageCursor>,
}

/// One page of [`Store::usage`].
#[derive(Clone, Debug, PartialEq)]
pub struct UsagePage {
    pub rows: Vec<UsageRow>,
    /// Where the next page starts, if there is one.
    pub next: Option<UsageCursor>,
}

/// The last group key of a page of usage, as SQL orders it: the key itself, or the start of
/// an hour in ms for hours and days.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageCursor {
    Text(String),
    Hour(i64),
}

impl UsageCursor {
    /// The opaque form clients get as `next_cursor`: the grouping, a dot, the key in hex.
    pub fn encode(&self, group_by: GroupBy) -> String {
        match self {
            UsageCursor::Text(k) => format!("{}.{}", group_by.as_str(), hex::encode(k)),
            UsageCursor::Hour(ms) => {
                format!("{}.{}", group_by.as_str(), hex::encode(ms.to_string()))
            }
        }
    }

    /// A cursor given by [`UsageCursor::encode`] for the same grouping; `None` otherwise.
    pub fn decode(s: &str, group_by: GroupBy) -> Option<UsageCursor> {
        let (g, k) = s.split_once('.')?;
        if g != group_by.as_str() {
            return None;
        }
        let k = String::from_utf8(hex::decode(k).ok()?).ok()?;
        match group_by {
            GroupBy::Hour | GroupBy::Day => k.parse().ok().map(UsageCursor::Hour),
            _ => Some(UsageCursor::Text(k)),
        }
    }
}

/// Usage aggregated for the counter rebuild: `at` is the start of the bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageBucket {
    pub workspace: String,
    pub at: DateTime<Utc>,
    pub requests: u64,
    pub tokens: u64,
    pub cost_nanos: u64,
}

/// A workspace created through the admin API. Its limits are kept as written (checked when
/// loaded), in the `limits` column as the JSON of the create body.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredWorkspace {
    pub id: String,
    pub name: String,
    pub limits: LimitFields,
}

/// A minted key (hash only).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredKey {
    pub key_id: String,
    pub workspace: String,
    pub sha256: [u8; 32],
}

/// The pool plus the sending side of the writer.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    tx: mpsc::UnboundedSender<Write>,
    queued: Arc<Queued>,
}

/// The writer task's handle: await [`Writer::run`] to drain and stop.
pub struct Writer {
    pool: SqlitePool,
    rx: mpsc::UnboundedReceiver<Write>,
    queued: Arc<Queued>,
}

/// How many queued (not yet stored) notifications a workspace's ring holds.
pub const QUEUED_NOTIFICATIONS_CAP: usize = 128;

/// Notifications queued for the writer and not yet through it, per workspace, oldest first
/// (see the module docs). A std Mutex: held for a few pushes or a copy, never across an await.
#[derive(Debug, Default)]
struct Queued(Mutex<HashMap<String, VecDeque<StoredNotification>>>);

impl Queued {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<StoredNotification>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, n: &StoredNotification) {
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
    fn remove<'a>(&self, done: impl IntoIterator<Item = (&'a str, &'a str)>) {
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

    fn of(&self, workspace: &str) -> Vec<StoredNotification> {
        self.lock()
            .get(workspace)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().values().map(VecDeque::len).sum()
    }
}

const BATCH: usize = 512;
/// How many run ids of rolled-up rows are kept: as many as the registry remembers.
pub const KEPT_RUN_IDS: usize = crate::model::SEEN_RUNS_CAP;
/// How long a batch may gather before it is committed.
const BATCH_WAIT: Duration = Duration::from_millis(20);

impl Store {
    /// Opens (creating if needed) the database and runs the migrations.
    pub async fn open(url: &str) -> Result<(Store, Writer), StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let file = opts.get_filename().to_path_buf();
        let on_disk = file != Path::new(":memory:") && !file.as_os_str().is_empty();
        if let Some(dir) = file.parent() {
            if !dir.as_os_str().is_empty() && on_disk {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
        }
        if on_disk {
            // Before SQLite opens it: SQLite creates the WAL and SHM files with the database
            // file's mode.
            private_files(&file)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        if on_disk {
            private_files(&file)?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        Ok((
            Store {
                pool: pool.clone(),
                tx,
                queued: queued.clone(),
            },
            Writer { pool, rx, queued },
        ))
    }

    /// Queues a write; never waits. Returns false only if the writer has stopped. A
    /// notification is listed by [`Store::notifications`] from now on (module docs).
    pub fn write(&self, w: Write) -> bool {
        // Into the ring before the writer can see it, so that the writer's removal follows.
        let note = match &w {
            Write::Notification(n) => {
                self.queued.push(n);
                Some((n.workspace.clone(), n.id.clone()))
            }
            _ => None,
        };
        let sent = self.tx.send(w).is_ok();
        if !sent {
            if let Some((ws, id)) = &note {
                self.queued.remove([(ws.as_str(), id.as_str())]);
            }
        }
        sent
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// One page of usage per group between `from` and `to`, ledger and roll-ups together:
    /// at most `page.limit` groups, in key order (time order for hours and days), starting
    /// after `page.after` (the [`UsagePage::next`] of the previous page).
    pub async fn usage(
        &self,
        workspace: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group_by: GroupBy,
        tz: chrono_tz::Tz,
        page: Page<'_>,
    ) -> Result<UsagePage, StoreError> {
        let (ledger_key, rollup_key) = match group_by {
            GroupBy::Family => ("family", "family"),
            GroupBy::Model => ("COALESCE(model, '')", "model"),
            GroupBy::Goal => ("COALESCE(goal, '')", "goal"),
            GroupBy::Task => ("COALESCE(task, '')", "task"),
            // Hours in SQL (the hour's start in ms); local hours and days in Rust.
            GroupBy::Hour | GroupBy::Day => ("(ts_ms / 3600000) * 3600000", "hour_ms"),
        };
        let timed = matches!(group_by, GroupBy::Hour | GroupBy::Day);
        let limit = page.limit.max(1);
        // One more group than asked tells whether there is a next page; a local day has at
        // most 25 hours.
        let sql_limit = if group_by == GroupBy::Day {
            (limit + 1) * 25
        } else {
            limit + 1
        };
        let sql = format!(
            "SELECT k, SUM(requests) AS requests, SUM(input) AS input, SUM(cached) AS cached, \
                    SUM(output) AS output, SUM(cost) AS cost, SUM(unpriced) AS unpriced, \
                    SUM(estimated) AS estimated FROM ( \
               SELECT {ledger_key} AS k, 1 AS requests, input_tokens AS input, cached_tokens AS cached, \
                      output_tokens AS output, COALESCE(cost_nanos, 0) AS cost, \
                      (cost_nanos IS NULL) AS unpriced, estimated \
                 FROM ledger WHERE workspace = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 \
               UNION ALL \
               SELECT {rollup_key} AS k, requests, input_tokens, cached_tokens, output_tokens, \
                      cost_nanos, unpriced_requests, estimated_requests \
                 FROM usage_rollup WHERE workspace = ?1 AND hour_ms >= ?2 AND hour_ms < ?3 \
             ) WHERE ?4 IS NULL OR k > ?4 GROUP BY k ORDER BY k LIMIT ?5"
        );
        // Safe: the only dynamic parts are the fixed column expressions above.
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis());
        let q = match (timed, page.after) {
            (true, Some(UsageCursor::Hour(ms))) => q.bind(Some(*ms)),
            (false, Some(UsageCursor::Text(k))) => q.bind(Some(k.clone())),
            (true, _) => q.bind(None::<i64>),
            (false, _) => q.bind(None::<String>),
        };
        let rows = q.bind(sql_limit as i64).fetch_all(&self.pool).await?;
        let mut out: Vec<UsageRow> = Vec::with_capacity(rows.len().min(limit));
        let mut last: Option<UsageCursor> = None;
        let mut more = false;
        for r in rows {
            let (raw, key) = if timed {
                let ms: i64 = r.try_get("k")?;
                let key = match tz.timestamp_millis_opt(ms).single() {
                    Some(t) if group_by == GroupBy::Hour => {
                        t.format("%Y-%m-%dT%H:00:00%:z").to_string()
                    }
                    Some(t) => t.format("%Y-%m-%d").to_string(),
                    None => ms.to_string(),
                };
                (UsageCursor::Hour(ms), key)
            } else {
                let k: String = r.try_get("k")?;
                (UsageCursor::Text(k.clone()), k)
            };
            // Rows come in key order, so the hours of one day are consecutive.
            if out.last().is_none_or(|e| e.key != key) {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(UsageRow::empty(key));
            }
            if let Some(e) = out.last_mut() {
                e.requests += get_u64(&r, "requests")?;
                e.input_tokens += get_u64(&r, "input")?;
                e.cached_tokens += get_u64(&r, "cached")?;
                e.output_tokens += get_u64(&r, "output")?;
                e.cost_usd += get_u64(&r, "cost")? as f64 / 1e9;
                e.unpriced_requests += get_u64(&r, "unpriced")?;
                e.estimated_requests += get_u64(&r, "estimated")?;
            }
            last = Some(raw);
        }
        Ok(UsagePage {
            rows: out,
            next: if more { last } else { None },
        })
    }

    /// Usage since `since`, bucketed (per second for the last minute, per minute before, per
    /// hour from the roll-ups), to rebuild the in-memory counters at start.
    pub async fn usage_buckets(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let recent = now.timestamp_millis() - 61_000;
        let rows = sqlx::query(
            "SELECT workspace, (ts_ms / ?3) * ?3 AS at, COUNT(*) AS requests, \
                    SUM(input_tokens + output_tokens) AS tokens, SUM(COALESCE(cost_nanos, 0)) AS cost \
               FROM ledger WHERE ts_ms >= ?1 AND ts_ms < ?2 GROUP BY workspace, at \
             UNION ALL \
             SELECT workspace, (ts_ms / 1000) * 1000 AS at, COUNT(*), SUM(input_tokens + output_tokens), \
                    SUM(COALESCE(cost_nanos, 0)) FROM ledger WHERE ts_ms >= ?2 GROUP BY workspace, at \
             UNION ALL \
             SELECT workspace, hour_ms, SUM(requests), SUM(input_tokens + output_tokens), SUM(cost_nanos) \
               FROM usage_rollup WHERE hour_ms >= ?4 GROUP BY workspace, hour_ms",
        )
        .bind(since.timestamp_millis())
        .bind(recent.max(since.timestamp_millis()))
        .bind(60_000i64)
        .bind(since.timestamp_millis() - since.timestamp_millis().rem_euclid(3_600_000))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let at: i64 = r.try_get(1)?;
            out.push(UsageBucket {
                workspace: r.try_get(0)?,
                at: Utc.timestamp_millis_opt(at).single().unwrap_or(since),
                requests: r.try_get::<i64, _>(2)?.max(0) as u64,
                tokens: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0).max(0) as u64,
                cost_nanos: r.try_get::<Option<i64>, _>(4)?.unwrap_or(0).max(0) as u64,
            });
        }
        Ok(out)
    }

    /// The newest notifications of a workspace, newest first: the stored ones and those still
    /// queued for the writer, each once (module docs).
    pub async fn notifications(
        &self,
        workspace: &str,
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
        workspace: &str,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, workspace, ts_ms, level, status, key, args, action_keys FROM notifications \
              WHERE workspace = ?1 ORDER BY ts_ms DESC, id DESC LIMIT ?2",
        )
        .bind(workspace)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
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

    /// How many ledger rows a workspace has (roll-ups not included).
    #[cfg(test)]
    pub async fn ledger_count(&self, workspace: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE workspace = ?1")
            .bind(workspace)
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    pub async fn workspaces(&self) -> Result<Vec<StoredWorkspace>, StoreError> {
        let rows = sqlx::query("SELECT id, name, limits FROM workspaces ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let body: CreateWorkspace = serde_json::from_str(r.try_get(2)?)?;
                Ok(StoredWorkspace {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    limits: body.limits,
                })
            })
            .collect()
    }

    pub async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query("SELECT key_id, workspace, sha256 FROM api_keys")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let blob: Vec<u8> = r.try_get(2)?;
            let Ok(sha256) = <[u8; 32]>::try_from(blob.as_slice()) else {
                continue;
            };
            out.push(StoredKey {
                key_id: r.try_get(0)?,
                workspace: r.try_get(1)?,
                sha256,
            });
        }
        Ok(out)
    }

    pub async fn insert_workspace(
        &self,
        w: &StoredWorkspace,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let body = CreateWorkspace {
            id: w.id.clone(),
            name: Some(w.name.clone()),
            limits: w.limits.clone(),
        };
        sqlx::query(
            "INSERT INTO workspaces (id, name, limits, created_ms) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&w.id)
        .bind(&w.name)
        .bind(serde_json::to_string(&body)?)
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn insert_key(&self, k: &StoredKey, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, workspace, sha256, created_ms) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&k.key_id)
        .bind(&k.workspace)
        .bind(k.sha256.as_slice())
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves ledger rows older than `cutoff` into hourly roll-ups and deletes them, along with
    /// old notifications and status changes. Returns the number of ledger rows rolled up.
    pub async fn roll_up(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let c = cutoff.timestamp_millis();
        let c = c - c.rem_euclid(3_600_000);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO usage_rollup (hour_ms, workspace, family, model, goal, task, requests, \
                 input_tokens, cached_tokens, output_tokens, cost_nanos, unpriced_requests, estimated_requests) \
             SELECT (ts_ms / 3600000) * 3600000, workspace, family, COALESCE(model, ''), COALESCE(goal, ''), \
                    COALESCE(task, ''), COUNT(*), SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), \
                    SUM(COALESCE(cost_nanos, 0)), SUM(cost_nanos IS NULL), SUM(estimated) \
               FROM ledger WHERE ts_ms < ?1 \
              GROUP BY 1, 2, 3, 4, 5, 6 \
             ON CONFLICT (workspace, hour_ms, family, model, goal, task) DO UPDATE SET \
                 requests = requests + excluded.requests, \
                 input_tokens = input_tokens + excluded.input_tokens, \
                 cached_tokens = cached_tokens + excluded.cached_tokens, \
                 output_tokens = output_tokens + excluded.output_tokens, \
                 cost_nanos = cost_nanos + excluded.cost_nanos, \
                 unpriced_requests = unpriced_requests + excluded.unpriced_requests, \
                 estimated_requests = estimated_requests + excluded.estimated_requests",
        )
        .bind(c)
        .execute(&mut *tx)
        .await?;
        // Runs counted by the rows about to go keep their ids (see migration 0004).
        sqlx::query(
            "INSERT INTO counted_runs (run_id, ts_ms) \
             SELECT run_id, MAX(ts_ms) FROM ledger WHERE ts_ms < ?1 AND run_id IS NOT NULL \
              GROUP BY run_id \
             ON CONFLICT (run_id) DO UPDATE SET ts_ms = MAX(ts_ms, excluded.ts_ms)",
        )
        .bind(c)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM counted_runs WHERE ts_ms < \
               (SELECT ts_ms FROM counted_runs ORDER BY ts_ms DESC LIMIT 1 OFFSET ?1)",
        )
        .bind(KEPT_RUN_IDS as i64)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM ledger WHERE ts_ms < ?1")
            .bind(c)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM notifications WHERE ts_ms < ?1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM status_changes WHERE ts_ms < ?1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The random salt the session signing key is derived with (`api::session`), created on
    /// first use. Not a secret on its own: the key also needs the admin key or
    /// `QS_SESSION_SECRET`, which never reach the database.
    pub async fn session_salt(&self) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
        sqlx::query("INSERT OR IGNORE INTO settings (key, value) VALUES ('session_salt', ?1)")
            .bind(fresh.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'session_salt'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Sessions signed out before they expire: `(session id, end of its possible life in Unix
    /// seconds)`, still live at `now`.
    pub async fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT sid, until_s FROM revoked_sessions WHERE until_s >= ?1")
                .bind(now)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Records a signed-out session (kept until `until`, Unix seconds) and forgets those that
    /// have expired by `now`.
    pub async fn revoke_session(&self, sid: &str, until: i64, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM revoked_sessions WHERE until_s < ?1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO revoked_sessions (sid, until_s) VALUES (?1, ?2) \
             ON CONFLICT (sid) DO UPDATE SET until_s = MAX(until_s, excluded.until_s)",
        )
        .bind(sid)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ids of the most recent runs whose usage was counted, newest first: from the
    /// ledger and from the runs of rolled-up rows.
    pub async fn recent_run_ids(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT run_id FROM ( \
               SELECT run_id, ts_ms FROM ledger WHERE run_id IS NOT NULL \
               UNION ALL SELECT run_id, ts_ms FROM counted_runs \
             ) GROUP BY run_id ORDER BY MAX(ts_ms) DESC LIMIT ?1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Closes the pool (after the writer has drained).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes the database file and its `-wal`, `-shm` and `-journal` companions readable and
/// writable by their owner only (0600); creates the database file empty if it does not exist,
/// so that SQLite, which gives its companions the database file's mode, never makes a
/// world-readable one.
#[cfg(unix)]
pub fn private_files(db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |path: &Path, source: std::io::Error| StoreError::Permissions {
        path: path.display().to_string(),
        source,
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(db)
        .map_err(|e| io(db, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o777 != 0o600 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io(path, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(path, e)),
        }
    }
    Ok(())
}

/// File modes are a Unix matter; elsewhere the folder's access rules apply.
#[cfg(not(unix))]
pub fn private_files(_db: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn get_u64(r: &sqlx::sqlite::SqliteRow, col: &str) -> Result<u64, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(col)?.unwrap_or(0).max(0) as u64)
}

impl Writer {
    /// Commits queued writes in batches until every [`Store`] handle is dropped, then returns
    /// after the last batch: dropping the senders is how shutdown flushes.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await
    }

    /// Like [`Writer::run`], but once `stop` completes no new write is accepted and the writer
    /// returns after committing everything already queued (shutdown).
    pub async fn run_until(mut self, stop: impl std::future::Future<Output = ()>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut stop = std::pin::pin!(stop);
        let mut stopping = false;
        loop {
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
            let mut attempt = 0;
            loop {
                match write_batch(&self.pool, &batch).await {
                    Ok(()) => break,
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        tracing::warn!(error = %e, rows = batch.len(), attempt, "ledger batch failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, rows = batch.len(), "ledger batch lost after retries");
                        break;
                    }
                }
            }
            // Stored (or given up): the table answers for these notifications from now on.
            self.queued.remove(batch.iter().filter_map(|w| match w {
                Write::Notification(n) => Some((n.workspace.as_str(), n.id.as_str())),
                _ => None,
            }));
            batch.clear();
        }
    }
}

/// Row counts of one multi-row INSERT. SQLite allows 32766 bound parameters; 23 per row keeps
/// 256 rows well below it. Batches are cut into these sizes only, so the five statements stay
/// in sqlx's statement cache instead of being parsed again for every new batch length.
const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// `rows` cut into consecutive chunks whose lengths are all in [`CHUNK_SIZES`].
fn fixed_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

async fn write_batch(pool: &SqlitePool, batch: &[Write]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let calls: Vec<&LedgerRow> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Call(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    for chunk in fixed_chunks(&calls) {
        let mut qb = QueryBuilder::new(
            "INSERT INTO ledger (ts_ms, workspace, key_id, family, model, http_status, input_tokens, \
             cached_tokens, output_tokens, reasoning_tokens, images, audio_seconds, characters, cost_nanos, \
             estimated, latency_ms, goal, task, priority, request_id, upstream_request_id, run_id, path) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.ts.timestamp_millis())
                .push_bind(r.workspace.clone())
                .push_bind(r.key_id.clone())
                .push_bind(r.family.clone())
                .push_bind(r.model.clone())
                .push_bind(r.http_status as i64)
                .push_bind(r.input_tokens as i64)
                .push_bind(r.cached_tokens as i64)
                .push_bind(r.output_tokens as i64)
                .push_bind(r.reasoning_tokens as i64)
                .push_bind(r.images as i64)
                .push_bind(r.audio_seconds)
                .push_bind(r.characters as i64)
                .push_bind(r.cost_nanos.map(|c| c as i64))
                .push_bind(r.estimated)
                .push_bind(r.latency_ms as i64)
                .push_bind(r.goal.clone())
                .push_bind(r.task.clone())
                .push_bind(r.priority.clone())
                .push_bind(r.request_id.clone())
                .push_bind(r.upstream_request_id.clone())
                .push_bind(r.run_id.clone())
                .push_bind(r.path.clone());
        });
        qb.build().execute(&mut *tx).await?;
    }
    for w in batch {
        match w {
            Write::Call(_) => {}
            Write::Notification(n) => {
                sqlx::query(
                    "INSERT OR IGNORE INTO notifications (id, workspace, ts_ms, level, status, key, args, action_keys) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                .await?;
            }
            Write::StatusChange(s) => {
                sqlx::query(
                    "INSERT INTO status_changes (workspace, ts_ms, from_status, to_status, cause) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Status;
    use std::collections::BTreeMap;

    async fn temp_store() -> (Store, tokio::task::JoinHandle<()>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}/sub/t.db", dir.path().display());
        let (store, writer) = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
        (store, tokio::spawn(writer.run()), dir)
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

    async fn flushed(
        store: Store,
        writer: tokio::task::JoinHandle<()>,
        url_holder: &tempfile::TempDir,
    ) -> Store {
        // Dropping the only sender lets the writer drain and stop; reopen to read.
        let pool = store.pool.clone();
        drop(store);
        writer.await.unwrap_or_else(|e| panic!("{e}"));
        pool.close().await;
        let url = format!("sqlite://{}/sub/t.db", url_holder.path().display());
        let (s, _w) = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
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

    #[tokio::test]
    async fn queued_notifications_are_listed_before_they_are_stored_and_once_after() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let (store, writer) = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
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
        let ring = q.of("a");
        assert_eq!(ring.len(), QUEUED_NOTIFICATIONS_CAP);
        assert_eq!(ring.first().map(|n| n.id.as_str()), Some("a-0010"));
        q.remove(ring.iter().map(|n| (n.workspace.as_str(), n.id.as_str())));
        assert_eq!(q.len(), 0);
        assert!(q.lock().is_empty(), "empty rings are dropped");
    }

    #[tokio::test]
    async fn writes_are_flushed_when_the_senders_drop_and_survive_reopen() {
        let (store, writer, dir) = temp_store().await;
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
        let store = flushed(store, writer, &dir).await;
        assert_eq!(store.ledger_count("a").await.unwrap_or(0), 1000);
        let rows = store
            .usage(
                "a",
                now - chrono::Duration::hours(1),
                now + chrono::Duration::hours(1),
                GroupBy::Family,
                chrono_tz::UTC,
                Page {
                    limit: 100,
                    after: None,
                },
            )
            .await
            .map(|p| p.rows)
            .unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].requests, 1000);
        assert_eq!(rows[0].input_tokens, (0..1000).sum::<u64>());
        assert!((rows[0].cost_usd - 1000.0 * 1000.0 / 1e9).abs() < 1e-12);
    }

    #[tokio::test]
    async fn roll_up_keeps_totals_and_prunes_rows() {
        let (store, writer, dir) = temp_store().await;
        let now = Utc::now();
        let old = now - chrono::Duration::days(100);
        store.write(Write::Call(Box::new(row(
            "a",
            old,
            "embeddings",
            10,
            0,
            None,
        ))));
        store.write(Write::Call(Box::new(row(
            "a",
            old,
            "embeddings",
            5,
            0,
            Some(7),
        ))));
        store.write(Write::Call(Box::new(row(
            "a",
            now,
            "embeddings",
            1,
            0,
            Some(1),
        ))));
        let store = flushed(store, writer, &dir).await;
        let n = store
            .roll_up(now - chrono::Duration::days(90))
            .await
            .unwrap_or(0);
        assert_eq!(n, 2);
        assert_eq!(store.ledger_count("a").await.unwrap_or(0), 1);
        let rows = store
            .usage(
                "a",
                old - chrono::Duration::days(1),
                now + chrono::Duration::hours(1),
                GroupBy::Day,
                chrono_tz::UTC,
                Page {
                    limit: 100,
                    after: None,
                },
            )
            .await
            .map(|p| p.rows)
            .unwrap_or_default();
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

    #[tokio::test]
    async fn runs_of_rolled_up_rows_are_still_known() {
        let (store, writer, dir) = temp_store().await;
        let now = Utc::now();
        let old = now - chrono::Duration::days(100);
        for (ts, run) in [(old, "run_old"), (old, "run_old"), (now, "run_new")] {
            store.write(Write::Call(Box::new(LedgerRow {
                run_id: Some(run.into()),
                ..row("a", ts, "threads.runs", 1, 1, Some(1))
            })));
        }
        let store = flushed(store, writer, &dir).await;
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
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Vec<UsageRow> {
        let mut out = Vec::new();
        let mut after: Option<UsageCursor> = None;
        loop {
            let page = store
                .usage(
                    "a",
                    from,
                    to,
                    group_by,
                    tz,
                    Page {
                        limit,
                        after: after.as_ref(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
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

    #[tokio::test]
    async fn usage_pages_hold_every_group_once_ledger_and_roll_ups_together() {
        let (store, writer, dir) = temp_store().await;
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
        let store = flushed(store, writer, &dir).await;
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
            let (from, to) = range;
            let all = store
                .usage(
                    "a",
                    from,
                    to,
                    g,
                    rome,
                    Page {
                        limit: 10_000,
                        after: None,
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
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
}
