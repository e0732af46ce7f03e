//! The alert outbox: one row per notification and matching channel, written by the writer in
//! the transaction that stores the notification; the lease-based claim of due rows, the record
//! of each attempt (the `deliveries` log), and the channels created through the admin API
//! (module docs of [`super`]; the delivery itself is `crate::alerts`).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError};
use crate::model::{ChannelFilter, StoredNotification};
use crate::types::{ArgValue, ChannelCreate, DeliveryOutcome, DeliveryRecord, Level, Status};

/// The channel filters the writer applies: a snapshot behind a lock held only to swap or
/// clone the `Arc` (never across an await), so the writer reads it without copying the list.
#[derive(Debug, Default)]
pub(super) struct Filters(RwLock<Arc<Vec<ChannelFilter>>>);

impl Filters {
    pub(super) fn get(&self) -> Arc<Vec<ChannelFilter>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, filters: Vec<ChannelFilter>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(filters);
    }
}

/// Whether `f` takes `n`: its workspace (or every one), its level, its status (or every one).
pub(super) fn takes(f: &ChannelFilter, n: &StoredNotification) -> bool {
    (f.workspaces.is_empty() || f.workspaces.contains(&n.workspace))
        && f.levels.contains(&n.level)
        && (f.statuses.is_empty() || f.statuses.contains(&n.status))
}

/// A notification as the outbox keeps it (`payload`).
#[derive(Serialize, Deserialize)]
struct Payload {
    id: String,
    workspace: String,
    ts_ms: i64,
    level: Level,
    status: Status,
    key: String,
    args: std::collections::BTreeMap<String, ArgValue>,
    action_keys: Vec<String>,
}

impl Payload {
    fn of(n: &StoredNotification) -> Payload {
        Payload {
            id: n.id.clone(),
            workspace: n.workspace.clone(),
            ts_ms: n.ts.timestamp_millis(),
            level: n.level,
            status: n.status,
            key: n.key.clone(),
            args: n.args.clone(),
            action_keys: n.action_keys.clone(),
        }
    }

    fn into_notification(self) -> StoredNotification {
        StoredNotification {
            id: self.id,
            workspace: self.workspace,
            ts: millis(self.ts_ms),
            level: self.level,
            status: self.status,
            key: self.key,
            args: self.args,
            action_keys: self.action_keys,
        }
    }
}

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Inserts the outbox row of `n` for `channel` (none if it has one already); whether it did.
pub(super) async fn insert_row(
    tx: &mut Transaction<'_, Any>,
    n: &StoredNotification,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO outbox (notification_id, channel_id, payload, due_ms, created_ms) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
    )
    .bind(&n.id)
    .bind(channel)
    .bind(serde_json::to_string(&Payload::of(n))?)
    .bind(now.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A claimed outbox row: leased to the worker that claimed it until its lease ends.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub notification: StoredNotification,
    /// Attempts made before this one.
    pub attempts: u32,
    pub first_attempt: Option<DateTime<Utc>>,
}

/// What one attempt of an outbox row came to, for [`Store::record_attempt`].
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub outbox_id: i64,
    /// The worker that holds the row's lease.
    pub worker: String,
    /// 1 for the first attempt.
    pub number: u32,
    pub at: DateTime<Utc>,
    /// When the first attempt was made (`at` for the first).
    pub first_attempt: DateTime<Utc>,
    pub outcome: DeliveryOutcome,
    /// [`DeliveryOutcome::WillRetry`]: when the next attempt is due.
    pub next_due: Option<DateTime<Utc>>,
    pub http_status: Option<u16>,
    pub smtp_code: Option<u16>,
    /// The reply text or error, already truncated and free of secrets.
    pub detail: Option<String>,
    pub latency_ms: u64,
}

/// A channel created through the admin API, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredChannel {
    pub spec: ChannelCreate,
    /// The webhook signing secret the gateway made, if it made one.
    pub secret: Option<String>,
}

impl Store {
    /// Replaces the channel filters the writer applies to the notifications it stores from
    /// the next batch on.
    pub fn set_channel_filters(&self, filters: Vec<ChannelFilter>) {
        self.filters.set(filters);
    }

    /// Notified after the writer commits new outbox rows (and by [`Store::enqueue_alert`]):
    /// the delivery worker wakes on it.
    pub fn outbox_ready(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_ready.clone()
    }

    /// Leases up to `limit` due pending rows to `worker` until `now + lease`: one statement,
    /// so two workers (or two processes on one database) never claim the same row while its
    /// lease runs. Oldest due first.
    pub async fn claim_due(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let now_ms = now.timestamp_millis();
        // PostgreSQL: the due rows are locked once, in a CTE (a `LIMIT` subquery under `IN`
        // may be run again by the plan, and take more rows); `SKIP LOCKED` lets a concurrent
        // claim take other rows instead of waiting for these. SQLite has one writer at a time.
        let sql = self.engine.pick(
            "UPDATE outbox SET claimed_until_ms = $2, claimed_by = $3 \
              WHERE id IN (SELECT id FROM outbox \
                            WHERE state = 'pending' AND due_ms <= $1 AND claimed_until_ms <= $1 \
                            ORDER BY due_ms, id LIMIT $4) \
             RETURNING id, channel_id, payload, attempts, first_attempt_ms",
            "WITH due AS (SELECT id FROM outbox \
                           WHERE state = 'pending' AND due_ms <= $1 AND claimed_until_ms <= $1 \
                           ORDER BY due_ms, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE outbox SET claimed_until_ms = $2, claimed_by = $3 FROM due \
              WHERE outbox.id = due.id \
             RETURNING outbox.id, channel_id, payload, attempts, first_attempt_ms",
        );
        let rows = sqlx::query(sql)
            .bind(now_ms)
            .bind(now_ms + lease.num_milliseconds())
            .bind(worker)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let payload: Payload = serde_json::from_str(&r.try_get::<String, _>("payload")?)?;
            out.push(OutboxRow {
                id: r.try_get("id")?,
                channel: r.try_get("channel_id")?,
                notification: payload.into_notification(),
                attempts: r.try_get::<i64, _>("attempts")?.max(0) as u32,
                first_attempt: r.try_get::<Option<i64>, _>("first_attempt_ms")?.map(millis),
            });
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// Records an attempt: the row's new state (delivered, given up, or pending until
    /// `next_due`), its lease released, and a line in the `deliveries` log, in one
    /// transaction. Nothing is written if `worker` no longer holds the row (its lease ran out
    /// and another worker claimed it); returns whether it was written.
    pub async fn record_attempt(&self, a: &Attempt) -> Result<bool, StoreError> {
        let state = match a.outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::WillRetry => "pending",
            DeliveryOutcome::GaveUp => "gave_up",
        };
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE outbox SET state = $1, attempts = $2, \
                    first_attempt_ms = COALESCE(first_attempt_ms, $3), \
                    due_ms = COALESCE($4, due_ms), claimed_until_ms = 0, claimed_by = NULL \
              WHERE id = $5 AND claimed_by = $6 AND state = 'pending'",
        )
        .bind(state)
        .bind(i64::from(a.number))
        .bind(a.first_attempt.timestamp_millis())
        .bind(a.next_due.map(|d| d.timestamp_millis()))
        .bind(a.outbox_id)
        .bind(&a.worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO deliveries (outbox_id, channel_id, notification_id, ts_ms, attempt, outcome, \
                                     http_status, smtp_code, detail, latency_ms, worker) \
             SELECT id, channel_id, notification_id, $2, $3, $4, $5, $6, $7, $8, $9 \
               FROM outbox WHERE id = $1",
        )
        .bind(a.outbox_id)
        .bind(a.at.timestamp_millis())
        .bind(i64::from(a.number))
        .bind(outcome_name(a.outcome))
        .bind(a.http_status.map(i64::from))
        .bind(a.smtp_code.map(i64::from))
        .bind(a.detail.as_deref())
        .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
        .bind(&a.worker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Queues `n` to `channel` alone (test alerts), due at once; the outbox row's id. The
    /// notification is not stored in the workspace's list.
    pub async fn enqueue_alert(
        &self,
        n: &StoredNotification,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_row(&mut tx, n, channel, now).await?;
        let id: i64 = sqlx::query_scalar(
            "SELECT id FROM outbox WHERE notification_id = $1 AND channel_id = $2",
        )
        .bind(&n.id)
        .bind(channel)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.outbox_ready.notify_one();
        Ok(id)
    }

    /// The delivery attempts on `channel`, newest first.
    pub async fn deliveries(
        &self,
        channel: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT outbox_id, channel_id, notification_id, ts_ms, attempt, outcome, http_status, \
                    smtp_code, detail, latency_ms \
               FROM deliveries WHERE channel_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(channel)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let outcome: String = r.try_get("outcome")?;
                let small = |col: &str| -> Result<Option<u16>, StoreError> {
                    Ok(r.try_get::<Option<i64>, _>(col)?
                        .and_then(|v| u16::try_from(v).ok()))
                };
                Ok(DeliveryRecord {
                    at: millis(r.try_get("ts_ms")?),
                    channel: r.try_get("channel_id")?,
                    notification_id: r.try_get("notification_id")?,
                    outbox_id: r.try_get("outbox_id")?,
                    attempt: r
                        .try_get::<i64, _>("attempt")?
                        .clamp(0, i64::from(u32::MAX)) as u32,
                    outcome: serde_json::from_value(serde_json::Value::String(outcome))?,
                    http_status: small("http_status")?,
                    smtp_code: small("smtp_code")?,
                    detail: r.try_get("detail")?,
                    latency_ms: r.try_get::<i64, _>("latency_ms")?.max(0) as u64,
                })
            })
            .collect()
    }

    /// Every channel created through the admin API, oldest first. A row whose spec cannot be
    /// read is skipped with a warning (the others still load).
    pub async fn channels(&self) -> Result<Vec<StoredChannel>, StoreError> {
        let rows = sqlx::query("SELECT id, spec, secret FROM channels ORDER BY created_ms, id")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            match serde_json::from_str::<ChannelCreate>(&r.try_get::<String, _>("spec")?) {
                Ok(spec) => out.push(StoredChannel {
                    spec,
                    secret: r.try_get("secret")?,
                }),
                Err(e) => {
                    tracing::warn!(channel = %id, error = %e, "stored channel skipped: its spec is malformed")
                }
            }
        }
        Ok(out)
    }

    /// Stores a channel created through the admin API.
    pub async fn insert_channel(
        &self,
        spec: &ChannelCreate,
        secret: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO channels (id, spec, secret, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(&spec.id)
            .bind(serde_json::to_string(spec)?)
            .bind(secret)
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a stored channel with its outbox rows and delivery log; whether it existed.
    pub async fn delete_channel(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM outbox WHERE channel_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM deliveries WHERE channel_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}

fn outcome_name(o: DeliveryOutcome) -> &'static str {
    match o {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::WillRetry => "will_retry",
        DeliveryOutcome::GaveUp => "gave_up",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(workspace: &str, level: Level, status: Status) -> StoredNotification {
        StoredNotification {
            id: "n".into(),
            workspace: workspace.into(),
            ts: Utc::now(),
            level,
            status,
            key: "k".into(),
            args: Default::default(),
            action_keys: vec![],
        }
    }

    #[test]
    fn a_filter_takes_its_workspaces_levels_and_statuses_empty_lists_taking_all() {
        let f = ChannelFilter {
            channel: "c".into(),
            workspaces: vec![],
            levels: vec![Level::Warning, Level::Error],
            statuses: vec![],
        };
        assert!(takes(&f, &note("a", Level::Error, Status::QuotaExceeded)));
        assert!(!takes(&f, &note("a", Level::Info, Status::Normal)));
        let f = ChannelFilter {
            workspaces: vec!["a".into()],
            statuses: vec![Status::RateLimited, Status::QuotaExceeded],
            ..f
        };
        assert!(takes(&f, &note("a", Level::Warning, Status::RateLimited)));
        assert!(!takes(&f, &note("b", Level::Warning, Status::RateLimited)));
        assert!(!takes(&f, &note("a", Level::Warning, Status::Warning)));
    }
}
