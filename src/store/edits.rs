//! The admin's edits of workspace limits and alert rules (`PATCH /api/admin/workspaces/{id}`),
//! kept as written so that they apply over the file's (or the stored workspace's) limits again
//! at every start.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError};
use crate::types::LimitFields;

/// One workspace's edits, as read back: `Err` says why the stored JSON could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceEdit {
    pub id: String,
    pub limits: Result<LimitFields, String>,
}

impl Store {
    /// Every workspace's edits.
    pub async fn workspace_edits(&self) -> Result<Vec<WorkspaceEdit>, StoreError> {
        let rows = sqlx::query("SELECT id, limits FROM workspace_edits ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let json: &str = r.try_get(1)?;
                Ok(WorkspaceEdit {
                    id: r.try_get(0)?,
                    limits: serde_json::from_str(json).map_err(|e| e.to_string()),
                })
            })
            .collect()
    }

    /// Replaces a workspace's edits (all its edited fields, merged by the caller).
    pub async fn put_workspace_edit(
        &self,
        id: &str,
        limits: &LimitFields,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workspace_edits (id, limits, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET limits = excluded.limits, updated_ms = excluded.updated_ms",
        )
        .bind(id)
        .bind(serde_json::to_string(limits)?)
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
