//! The audit trail: one row per admin action, written before the action is answered, read
//! newest first in pages. Never pruned (the ledger's retention does not apply).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError};
use crate::types::AuditRecord;

/// An admin action to record. `before` and `after` are JSON values with secrets already
/// masked by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub ts: DateTime<Utc>,
    pub actor: String,
    pub address: Option<String>,
    pub action: &'static str,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Store {
    /// Records an admin action (committed when this returns).
    pub async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
        sqlx::query(
            "INSERT INTO audit_log (ts_ms, actor, address, action, target, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.ts.timestamp_millis())
        .bind(&e.actor)
        .bind(&e.address)
        .bind(e.action)
        .bind(&e.target)
        .bind(json(&e.before))
        .bind(json(&e.after))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` actions, newest first, older than the action `before` (an id) if given.
    pub async fn audit_page(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ts_ms, actor, address, action, target, before, after FROM audit_log \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
                    let text: Option<String> = r.try_get(col)?;
                    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
                };
                Ok(AuditRecord {
                    id: r.try_get("id")?,
                    at: DateTime::from_timestamp_millis(r.try_get("ts_ms")?).unwrap_or_default(),
                    actor: r.try_get("actor")?,
                    address: r.try_get("address")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    before: json("before")?,
                    after: json("after")?,
                })
            })
            .collect()
    }
}
