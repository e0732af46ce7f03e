//! The usage queries: one page of usage per group (ledger and roll-ups together), the buckets
//! the counters are rebuilt from at start, and the hourly roll-up that keeps the ledger small.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;

use super::{get_u64, Store, StoreError, KEPT_RUN_IDS};
use crate::types::{GroupBy, UsageRow};

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

impl Store {
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
            "SELECT k, CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(input) AS BIGINT) AS input, \
                    CAST(SUM(cached) AS BIGINT) AS cached, CAST(SUM(output) AS BIGINT) AS output, \
                    CAST(SUM(cost) AS BIGINT) AS cost, CAST(SUM(unpriced) AS BIGINT) AS unpriced, \
                    CAST(SUM(estimated) AS BIGINT) AS estimated FROM ( \
               SELECT {ledger_key} AS k, 1 AS requests, input_tokens AS input, cached_tokens AS cached, \
                      output_tokens AS output, COALESCE(cost_nanos, 0) AS cost, \
                      CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END AS unpriced, estimated \
                 FROM ledger WHERE workspace = $1 AND ts_ms >= $2 AND ts_ms < $3 \
               UNION ALL \
               SELECT {rollup_key} AS k, requests, input_tokens, cached_tokens, output_tokens, \
                      cost_nanos, unpriced_requests, estimated_requests \
                 FROM usage_rollup WHERE workspace = $1 AND hour_ms >= $2 AND hour_ms < $3 \
             ) AS u WHERE $4 IS NULL OR k > $4 GROUP BY k ORDER BY k LIMIT $5"
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
        self.buckets(BUCKETS_ALL, None, since, now).await
    }

    /// [`Store::usage_buckets`] of one workspace: what a cold shared copy of its counters is
    /// seeded with.
    pub async fn usage_buckets_of(
        &self,
        workspace: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        self.buckets(BUCKETS_ONE, Some(workspace), since, now).await
    }

    async fn buckets(
        &self,
        sql: &'static str,
        workspace: Option<&str>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let recent = now.timestamp_millis() - 61_000;
        let mut q = sqlx::query(sql)
            .bind(since.timestamp_millis())
            .bind(recent.max(since.timestamp_millis()))
            .bind(60_000i64)
            .bind(since.timestamp_millis() - since.timestamp_millis().rem_euclid(3_600_000));
        if let Some(w) = workspace {
            q = q.bind(w.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
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

    /// Moves ledger rows older than `cutoff` into hourly roll-ups and deletes them, along with
    /// old notifications, status changes, finished outbox rows and delivery records. Returns the number of ledger rows rolled up.
    pub async fn roll_up(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let c = cutoff.timestamp_millis();
        let c = c - c.rem_euclid(3_600_000);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO usage_rollup (hour_ms, workspace, family, model, goal, task, requests, \
                 input_tokens, cached_tokens, output_tokens, cost_nanos, unpriced_requests, estimated_requests) \
             SELECT (ts_ms / 3600000) * 3600000, workspace, family, COALESCE(model, ''), COALESCE(goal, ''), \
                    COALESCE(task, ''), COUNT(*), SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), \
                    SUM(COALESCE(cost_nanos, 0)), SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), \
                    SUM(estimated) \
               FROM ledger WHERE ts_ms < $1 \
              GROUP BY 1, 2, 3, 4, 5, 6 \
             ON CONFLICT (workspace, hour_ms, family, model, goal, task) DO UPDATE SET \
                 requests = usage_rollup.requests + excluded.requests, \
                 input_tokens = usage_rollup.input_tokens + excluded.input_tokens, \
                 cached_tokens = usage_rollup.cached_tokens + excluded.cached_tokens, \
                 output_tokens = usage_rollup.output_tokens + excluded.output_tokens, \
                 cost_nanos = usage_rollup.cost_nanos + excluded.cost_nanos, \
                 unpriced_requests = usage_rollup.unpriced_requests + excluded.unpriced_requests, \
                 estimated_requests = usage_rollup.estimated_requests + excluded.estimated_requests",
        )
        .bind(c)
        .execute(&mut *tx)
        .await?;
        // Runs counted by the rows about to go keep their ids (see migration 0004).
        sqlx::query(
            "INSERT INTO counted_runs (run_id, ts_ms) \
             SELECT run_id, MAX(ts_ms) FROM ledger WHERE ts_ms < $1 AND run_id IS NOT NULL \
              GROUP BY run_id \
             ON CONFLICT (run_id) DO UPDATE SET ts_ms = CASE \
               WHEN counted_runs.ts_ms > excluded.ts_ms THEN counted_runs.ts_ms ELSE excluded.ts_ms END",
        )
        .bind(c)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM counted_runs WHERE ts_ms < \
               (SELECT ts_ms FROM counted_runs ORDER BY ts_ms DESC LIMIT 1 OFFSET $1)",
        )
        .bind(KEPT_RUN_IDS as i64)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM ledger WHERE ts_ms < $1")
            .bind(c)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM notifications WHERE ts_ms < $1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM status_changes WHERE ts_ms < $1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        // Deliveries that are over (pending ones stay until delivered or given up).
        sqlx::query("DELETE FROM outbox WHERE state != 'pending' AND created_ms < $1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM deliveries WHERE ts_ms < $1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM written_batches WHERE ts_ms < $1")
            .bind(c)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The bucketed usage of [`Store::usage_buckets`], with `$5` naming one workspace when `$filter`
/// says so: `$1` since, `$2` the start of the last minute, `$3` a minute in ms, `$4` the hour of
/// `$1`.
macro_rules! buckets_sql {
    ($filter:literal) => {
        concat!(
            "SELECT workspace, (ts_ms / $3) * $3 AS at, COUNT(*) AS requests, \
                    CAST(SUM(input_tokens + output_tokens) AS BIGINT) AS tokens, \
                    CAST(SUM(COALESCE(cost_nanos, 0)) AS BIGINT) AS cost \
               FROM ledger WHERE ts_ms >= $1 AND ts_ms < $2",
            $filter,
            " GROUP BY workspace, at \
             UNION ALL \
             SELECT workspace, (ts_ms / 1000) * 1000 AS at, COUNT(*), \
                    CAST(SUM(input_tokens + output_tokens) AS BIGINT), \
                    CAST(SUM(COALESCE(cost_nanos, 0)) AS BIGINT) FROM ledger WHERE ts_ms >= $2",
            $filter,
            " GROUP BY workspace, at \
             UNION ALL \
             SELECT workspace, hour_ms, CAST(SUM(requests) AS BIGINT), \
                    CAST(SUM(input_tokens + output_tokens) AS BIGINT), CAST(SUM(cost_nanos) AS BIGINT) \
               FROM usage_rollup WHERE hour_ms >= $4",
            $filter,
            " GROUP BY workspace, hour_ms"
        )
    };
}
const BUCKETS_ALL: &str = buckets_sql!("");
const BUCKETS_ONE: &str = buckets_sql!(" AND workspace = $5");
