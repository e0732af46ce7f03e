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
//! | file | owns |
//! |---|---|
//! | `mod.rs` | opening (engine, pragmas, migrations, file modes), workspaces, keys, sessions, run ids |
//! | `usage.rs` | the usage queries (pages, buckets for the counter rebuild) and the hourly roll-up |
//! | `writer.rs` | the batched writer task and the queued-notification ring that makes notifications read-your-writes |
//! | `marks.rs` | the alerts raised so far, read back at start |
//! | `audit.rs` | the audit trail of admin actions (never pruned) |
//! | `edits.rs` | the admin's edits of workspace limits and alert rules |
//! | `outbox.rs` | the alert outbox (rows written with their notification), leases, the delivery log, stored channels |
//!
//! # The alert outbox
//! When the writer inserts a notification and the insert adds a row (a second gateway
//! instance storing the same notification id adds none), it inserts in the same transaction
//! one `outbox` row per channel whose filter takes it ([`Store::set_channel_filters`];
//! `UNIQUE (notification_id, channel_id)`), then wakes the delivery worker
//! ([`Store::outbox_ready`]). Workers lease due rows with one `UPDATE … RETURNING`
//! ([`Store::claim_due`]) and record each attempt ([`Store::record_attempt`]).
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

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::mpsc;

use crate::model::{StatusChange, StoredNotification};
use crate::types::{CreateWorkspace, LimitFields};

mod audit;
mod edits;
mod marks;
mod outbox;
mod spool;
mod usage;
mod writer;

pub use audit::AuditEntry;
pub use edits::WorkspaceEdit;
pub use outbox::{Attempt, OutboxRow, StoredChannel};
pub use usage::{Page, UsageBucket, UsageCursor, UsagePage};
use writer::Queued;
pub use writer::{Writer, KEPT_RUN_IDS, QUEUED_NOTIFICATIONS_CAP};

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
    #[error("ledger spool {path}: {source}")]
    Spool {
        path: String,
        source: std::io::Error,
    },
    #[error("unsupported database URL (expected sqlite:… or postgres://…): {0}")]
    Url(String),
}

impl StoreError {
    /// The database does not answer (connection refused or lost, no connection in time):
    /// worth trying again later, unlike a failed statement.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
            )
        )
    }
}

/// The database engine a [`Store`] runs on, from its URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine of `url`: `sqlite:…`, or `postgres://…` / `postgresql://…`.
    pub fn of_url(url: &str) -> Result<Engine, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Engine::Sqlite),
            Some("postgres" | "postgresql") => Ok(Engine::Postgres),
            // Never echo the URL: it may hold a password.
            _ => Err(StoreError::Url(scheme.map_or_else(
                || "no scheme".to_owned(),
                |s| format!("scheme {s:?}"),
            ))),
        }
    }

    /// The statement for this engine, where SQLite's and PostgreSQL's differ.
    pub(crate) fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// One call, as the ledger records it (and the spool keeps it, as JSON).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LedgerRow {
    pub ts: DateTime<Utc>,
    pub workspace: Arc<str>,
    pub key_id: Arc<str>,
    pub family: Arc<str>,
    /// The request path of a call counted as `other` (see `crate::proxy::family`); `None` for
    /// every known family.
    pub path: Option<Arc<str>>,
    /// The model actually used.
    pub model: Option<Arc<str>>,
    /// The model the caller asked for, when a downgrade rule sent the call for `model`;
    /// `None` otherwise.
    pub requested_model: Option<Arc<str>>,
    /// How many times the gateway sent the call again after an upstream `rate_limit_exceeded`.
    pub upstream_retries: u32,
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
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Write {
    Call(Box<LedgerRow>),
    Notification(Box<StoredNotification>),
    StatusChange(Box<StatusChange>),
}

/// A workspace created through the admin API. Its limits are kept as written (checked when
/// loaded), in the `limits` column as the JSON of the create body.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredWorkspace {
    pub id: String,
    pub name: String,
    pub limits: LimitFields,
}

/// A workspace as read back from the database: its limits as written, or why the stored JSON
/// could not be read (the registry reports either problem and applies the defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedWorkspace {
    pub id: String,
    pub name: String,
    pub limits: Result<LimitFields, String>,
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
    pool: AnyPool,
    engine: Engine,
    tx: mpsc::UnboundedSender<Write>,
    queued: Arc<Queued>,
    filters: Arc<outbox::Filters>,
    outbox_ready: Arc<tokio::sync::Notify>,
    spooled: Arc<std::sync::atomic::AtomicUsize>,
    has_spool: Arc<std::sync::atomic::AtomicBool>,
    claim: Arc<std::sync::OnceLock<Arc<dyn NoticeClaim>>>,
}

/// Decides, between instances that share the database, which one stores (and delivers) a
/// status notice several of them raise for the same change: set once by the server when state
/// is shared (`crate::state`). A notice refused was stored by another instance. Alerts need
/// none: their ids are the same whichever instance raises them.
pub trait NoticeClaim: std::fmt::Debug + Send + Sync + 'static {
    fn claim<'a>(
        &'a self,
        n: &'a StoredNotification,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
}

impl Store {
    /// Opens (creating if needed) the database of `url` on its [`Engine`] and runs the
    /// migrations.
    pub async fn open(url: &str) -> Result<(Store, Writer), StoreError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of_url(url)?;
        let pool = match engine {
            Engine::Sqlite => open_sqlite(url).await?,
            Engine::Postgres => open_postgres(url).await?,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        let filters = Arc::new(outbox::Filters::default());
        let outbox_ready = Arc::new(tokio::sync::Notify::new());
        let spooled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let has_spool = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let claim = Arc::new(std::sync::OnceLock::new());
        Ok((
            Store {
                pool: pool.clone(),
                engine,
                tx,
                queued: queued.clone(),
                filters: filters.clone(),
                outbox_ready: outbox_ready.clone(),
                spooled: spooled.clone(),
                has_spool: has_spool.clone(),
                claim: claim.clone(),
            },
            Writer {
                pool,
                engine,
                rx,
                queued,
                filters,
                outbox_ready,
                spool: None,
                spooled,
                has_spool,
                claim,
            },
        ))
    }

    /// Sets how instances decide which one stores a status notice ([`NoticeClaim`]); once.
    pub fn set_notice_claim(&self, claim: Arc<dyn NoticeClaim>) {
        let _ = self.claim.set(claim);
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

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether the writer keeps the batches the database does not take in a spool.
    pub fn spools(&self) -> bool {
        self.has_spool.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many batches wait in the ledger spool for the database (see `spool`).
    pub fn spooled_batches(&self) -> usize {
        self.spooled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many ledger rows a workspace has (roll-ups not included).
    #[cfg(test)]
    pub async fn ledger_count(&self, workspace: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE workspace = $1")
            .bind(workspace)
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Every stored workspace. A row whose limits cannot be read does not stop the others.
    pub async fn workspaces(&self) -> Result<Vec<LoadedWorkspace>, StoreError> {
        let rows = sqlx::query("SELECT id, name, limits FROM workspaces ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let json: &str = r.try_get(2)?;
                Ok(LoadedWorkspace {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    limits: serde_json::from_str::<CreateWorkspace>(json)
                        .map(|body| body.limits)
                        .map_err(|e| e.to_string()),
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
            "INSERT INTO workspaces (id, name, limits, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&w.id)
        .bind(&w.name)
        .bind(serde_json::to_string(&body)?)
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a key minted through the API.
    pub async fn delete_key(&self, key_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM api_keys WHERE key_id = $1")
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn insert_key(&self, k: &StoredKey, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, workspace, sha256, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&k.key_id)
        .bind(&k.workspace)
        .bind(k.sha256.as_slice())
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The random salt the session signing key is derived with (`api::session`), created on
    /// first use. Not a secret on its own: the key also needs the admin key or
    /// `QS_SESSION_SECRET`, which never reach the database.
    pub async fn session_salt(&self) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('session_salt', $1) ON CONFLICT DO NOTHING",
        )
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
            sqlx::query_as("SELECT sid, until_s FROM revoked_sessions WHERE until_s >= $1")
                .bind(now)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Records a signed-out session (kept until `until`, Unix seconds) and forgets those that
    /// have expired by `now`.
    pub async fn revoke_session(&self, sid: &str, until: i64, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM revoked_sessions WHERE until_s < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO revoked_sessions (sid, until_s) VALUES ($1, $2) \
             ON CONFLICT (sid) DO UPDATE SET until_s = CASE \
               WHEN revoked_sessions.until_s > excluded.until_s THEN revoked_sessions.until_s \
               ELSE excluded.until_s END",
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
             ) AS runs GROUP BY run_id ORDER BY MAX(ts_ms) DESC LIMIT $1",
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

/// Opens a SQLite pool: the file made private before SQLite creates its companions, WAL,
/// `synchronous = NORMAL`, a 10 s busy timeout.
async fn open_sqlite(url: &str) -> Result<AnyPool, StoreError> {
    let opts = SqliteConnectOptions::from_str(url)?;
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
        // file's mode. This also creates the file, so the URL needs no `mode=rwc`.
        private_files(&file)?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    if on_disk {
        private_files(&file)?;
    }
    Ok(pool)
}

/// Opens a PostgreSQL pool. Connections are awaited for 3 s at most, so that a database that
/// went away fails a batch quickly (the writer then spools it) instead of holding it.
async fn open_postgres(url: &str) -> Result<AnyPool, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
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

fn get_u64(r: &AnyRow, col: &str) -> Result<u64, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(col)?.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests;
