//! The alerts raised so far: read back at start so that an alert raised before a restart, or
//! by another process sharing the database, is not raised again in its period.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

impl Store {
    /// The ids of alert notifications (`alert:…`, `burn:…`, `under:…`, see
    /// `quota::alerting`) stored since `since`, oldest first.
    pub async fn alert_ids_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM notifications \
             WHERE ts_ms >= $1 AND (id LIKE 'alert:%' OR id LIKE 'burn:%' OR id LIKE 'under:%') \
             ORDER BY ts_ms, id",
        )
        .bind(since.timestamp_millis())
        .fetch_all(&self.pool)
        .await?)
    }
}
