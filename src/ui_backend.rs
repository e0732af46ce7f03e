//! The gateway's side of the web UI's server rendering: implements [`app::data::Backend`] over
//! the live registry and the store, so pages render their first data on the server (in the
//! reader's language) and the browser hydrates them without a round trip.
//!
//! Owns: mapping sessions, status views and stored rows to the UI's shapes. Must not: decide
//! who may see what beyond what the API already decides (it uses the same session check), or
//! render text other than through [`crate::i18n`].

use std::sync::Arc;

use app::data::{Backend, BoxFuture, Incident, Role, Session};
use chrono::{DateTime, Utc};

use crate::api::{Principal, Shared};
use crate::i18n::{render_notification, render_status, Locale};
use crate::store::Page;
use crate::types::{
    AccountBudgetReport, AdminOverview, AuditList, ChannelList, GroupBy, Notification,
    StatusReport, UsageRow, WorkspaceList, USAGE_PAGE_MAX,
};

/// The UI's backend: a handle on the gateway's shared state.
pub struct UiBackend {
    pub shared: Arc<Shared>,
}

impl UiBackend {
    /// The backend as the trait object the pages take from context.
    pub fn shared_backend(shared: Arc<Shared>) -> Arc<dyn Backend> {
        Arc::new(UiBackend { shared })
    }
}

impl UiBackend {
    /// The newest notifications of `workspace` (of every workspace: `None`), rendered.
    fn newest_notifications(
        &self,
        workspace: Option<String>,
        locale: Locale,
        limit: u32,
    ) -> BoxFuture<Result<Vec<Notification>, Incident>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let stored = match &workspace {
                Some(ws) => shared.store.notifications(ws, limit).await,
                None => shared.store.notifications_of_all(limit).await,
            }
            .map_err(incident)?;
            Ok(stored
                .iter()
                .map(|n| render_notification(n, locale, shared.config.time_zone))
                .collect())
        })
    }
}

/// Logs a store failure of the page data under a new incident id and returns only the id: the
/// page shows it beside a localized message, and the detail stays in the log.
fn incident(e: crate::store::StoreError) -> Incident {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let id = format!("inc_{}", hex::encode(bytes));
    tracing::error!(incident = %id, error = %e, "page data failed");
    Incident(id)
}

impl Backend for UiBackend {
    fn demo(&self) -> bool {
        self.shared.config.demo
    }

    fn session(&self, headers: &http::HeaderMap) -> Option<Session> {
        match self.shared.caller(headers, None).ok()? {
            Principal::Admin => Some(Session {
                role: Role::Admin,
                workspace: None,
            }),
            Principal::Workspace(w) => Some(Session {
                role: Role::Workspace,
                workspace: Some(w.id.to_string()),
            }),
        }
    }

    fn status(&self, workspace: &str, locale: Locale) -> Option<StatusReport> {
        let w = self.shared.registry.workspace(workspace)?;
        Some(render_status(
            &self.shared.registry.view(&w, Utc::now()),
            locale,
            self.shared.config.time_zone,
        ))
    }

    fn workspaces(&self, locale: Locale) -> WorkspaceList {
        let first = crate::api::admin::ListParams {
            q: String::new(),
            status: None,
            after: None,
            limit: crate::types::WORKSPACE_PAGE_DEFAULT,
        };
        crate::api::admin::list_page(&self.shared, &first, locale)
    }

    fn overview(&self, locale: Locale) -> AdminOverview {
        crate::api::admin::overview_report(&self.shared, locale)
    }

    fn notifications_of_all(
        &self,
        locale: Locale,
        limit: u32,
    ) -> BoxFuture<Result<Vec<Notification>, Incident>> {
        self.newest_notifications(None, locale, limit)
    }

    fn account(&self, locale: Locale) -> AccountBudgetReport {
        crate::api::admin::account_report(&self.shared, locale)
    }

    fn channels(&self) -> ChannelList {
        ChannelList {
            channels: self
                .shared
                .channels
                .list()
                .iter()
                .map(|c| c.info())
                .collect(),
        }
    }

    fn audit(&self, limit: u32, before: Option<i64>) -> BoxFuture<Result<AuditList, Incident>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let entries = shared
                .store
                .audit_page(limit, before)
                .await
                .map_err(incident)?;
            let next_before = (entries.len() == limit as usize)
                .then(|| entries.last().map(|e| e.id))
                .flatten();
            Ok(AuditList {
                entries,
                next_before,
            })
        })
    }

    fn notifications(
        &self,
        workspace: &str,
        locale: Locale,
        limit: u32,
    ) -> BoxFuture<Result<Vec<Notification>, Incident>> {
        self.newest_notifications(Some(workspace.to_string()), locale, limit)
    }

    fn usage(
        &self,
        workspace: &str,
        group_by: GroupBy,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> BoxFuture<Result<Vec<UsageRow>, Incident>> {
        let shared = self.shared.clone();
        let workspace = workspace.to_string();
        Box::pin(async move {
            let tz = shared.config.time_zone;
            let now = Utc::now();
            let from = from.unwrap_or_else(|| crate::quota::window::day_start(now, tz));
            let to = to.unwrap_or(now);
            let first_page = Page {
                limit: USAGE_PAGE_MAX,
                after: None,
            };
            shared
                .store
                .usage(&workspace, from, to, group_by, tz, first_page)
                .await
                .map(|page| page.rows)
                .map_err(incident)
        })
    }
}
