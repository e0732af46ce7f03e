//! Page data: who is signed in and what each page shows first. On the server it comes straight
//! from the gateway through the [`Backend`] the server provides as context (so the first HTML is
//! complete before the WASM loads); in the browser from the REST API with the session cookie.
//! Both sides return the same serialisable values, which Leptos hands from server to browser.
//!
//! Must not: hold UI state. Live updates are [`crate::monitor`]'s.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::i18n::Locale;
use crate::types::{
    AccountBudgetReport, AdminOverview, AuditList, ChannelList, GroupBy, Notification,
    StatusReport, UsageRow, WorkspaceList,
};

/// Who is signed in: `GET /api/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub role: Role,
    pub workspace: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Workspace,
}

impl Session {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Why a page could not load its data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum LoadError {
    /// No valid session: the page redirects to `/login`.
    #[error("not signed in")]
    Unauthorized,
    /// Signed in, but this page is not for this session.
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// The data could not be loaded. The reference is safe to show: an incident id the server
    /// logged its detail under, or an HTTP status; never an internal error's text.
    #[error("failed ({0})")]
    Failed(String),
}

/// A failure of the server's page data, as the page may show it: the id of the incident the
/// server logged (with the detail) when it happened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("incident {0}")]
pub struct Incident(pub String);

/// The workspace view's first data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceData {
    pub session: Session,
    pub status: StatusReport,
    pub notifications: Vec<Notification>,
    pub by_goal: Vec<UsageRow>,
    pub by_task: Vec<UsageRow>,
}

/// The admin overview and table's first data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminData {
    pub session: Session,
    /// The table's first page (no search).
    pub page: WorkspaceList,
    /// Sums and top lists over every workspace.
    pub overview: AdminOverview,
    /// The newest notifications of every workspace, newest first.
    pub latest: Vec<Notification>,
    /// The account-wide budget, if one is set, and its forecasts.
    pub account: AccountBudgetReport,
}

/// The audit trail page's first data: the newest entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditData {
    pub session: Session,
    pub audit: AuditList,
}

/// The channel page's first data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelsData {
    pub session: Session,
    pub channels: ChannelList,
}

/// Audit entries per page.
pub const AUDIT_PAGE: u32 = 50;

/// A workspace's detail view (admin).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetailData {
    pub session: Session,
    pub status: StatusReport,
    pub notifications: Vec<Notification>,
    pub hourly: Vec<UsageRow>,
    pub daily: Vec<UsageRow>,
    /// When the data was read: the charts' right edge.
    pub generated_at: DateTime<Utc>,
}

/// Notifications shown in panels.
pub const NOTIFICATION_LIMIT: u32 = 20;
/// The hourly chart covers this many hours, the daily one this many days.
pub const HOURS: i64 = 24;
pub const DAYS: i64 = 30;

/// The `GET /api/admin/workspaces` URL of the page after `cursor` for search `q` (and
/// `status`), in `locale`.
pub fn workspace_page_url(
    locale: Locale,
    q: &str,
    status: Option<crate::types::Status>,
    cursor: Option<&str>,
) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut url = format!(
        "/api/admin/workspaces?locale={}&q={}",
        locale.code(),
        enc(q)
    );
    if let Some(s) = status {
        url.push_str("&status=");
        url.push_str(s.as_str());
    }
    if let Some(c) = cursor {
        url.push_str("&cursor=");
        url.push_str(&enc(c));
    }
    url
}

/// The server's side of page data, implemented by the gateway (`src/ui_backend.rs`) and
/// provided as Leptos context with [`BackendHandle`].
#[cfg(feature = "ssr")]
pub trait Backend: Send + Sync + 'static {
    /// Whether this gateway runs in demo mode (simulated OpenAI, synthetic traffic).
    fn demo(&self) -> bool;
    /// The verified session of a request's cookie.
    fn session(&self, headers: &http::HeaderMap) -> Option<Session>;
    /// One workspace's status in `locale`.
    fn status(&self, workspace: &str, locale: Locale) -> Option<StatusReport>;
    /// The first page of the admin's workspace list in `locale` (sorted by id, no search).
    fn workspaces(&self, locale: Locale) -> WorkspaceList;
    /// The admin's overview of every workspace in `locale`.
    fn overview(&self, locale: Locale) -> AdminOverview;
    /// The newest notifications of every workspace, newest first.
    fn notifications_of_all(
        &self,
        locale: Locale,
        limit: u32,
    ) -> BoxFuture<Result<Vec<Notification>, Incident>>;
    /// The alert channels (secrets masked).
    fn channels(&self) -> ChannelList;
    /// The account-wide budget and its forecasts in `locale`.
    fn account(&self, locale: Locale) -> AccountBudgetReport;
    /// A page of the audit trail, newest first, before the entry `before`.
    fn audit(&self, limit: u32, before: Option<i64>) -> BoxFuture<Result<AuditList, Incident>>;
    /// The newest notifications of a workspace, newest first.
    fn notifications(
        &self,
        workspace: &str,
        locale: Locale,
        limit: u32,
    ) -> BoxFuture<Result<Vec<Notification>, Incident>>;
    /// Usage rows of a workspace between two times (None: today so far): the first
    /// `USAGE_PAGE_MAX` groups, as one page of `GET /api/quota/usage?limit=` gives.
    fn usage(
        &self,
        workspace: &str,
        group_by: GroupBy,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> BoxFuture<Result<Vec<UsageRow>, Incident>>;
}

#[cfg(feature = "ssr")]
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// The backend as context.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct BackendHandle(pub std::sync::Arc<dyn Backend>);

/// Loads page data; captures what it needs from context when created (inside a component).
#[derive(Clone)]
pub struct Loader {
    locale: Locale,
    #[cfg(feature = "ssr")]
    backend: Option<BackendHandle>,
    #[cfg(feature = "ssr")]
    headers: http::HeaderMap,
}

fn hours_ago(h: i64) -> DateTime<Utc> {
    Utc::now() - Duration::hours(h)
}

impl Loader {
    pub fn from_context(locale: Locale) -> Loader {
        Loader {
            locale,
            #[cfg(feature = "ssr")]
            backend: leptos::prelude::use_context::<BackendHandle>(),
            #[cfg(feature = "ssr")]
            headers: leptos::prelude::use_context::<http::request::Parts>()
                .map(|p| p.headers)
                .unwrap_or_default(),
        }
    }

    /// The session, checked synchronously on the server (so a redirect can still be sent).
    #[cfg(feature = "ssr")]
    pub fn session_now(&self) -> Option<Session> {
        self.backend.as_ref()?.0.session(&self.headers)
    }

    pub async fn session(&self) -> Result<Session, LoadError> {
        #[cfg(feature = "ssr")]
        {
            self.session_now().ok_or(LoadError::Unauthorized)
        }
        #[cfg(not(feature = "ssr"))]
        {
            browser::get_json::<Session>("/api/session").await
        }
    }

    /// The workspace view of the signed-in workspace.
    pub async fn workspace(self) -> Result<WorkspaceData, LoadError> {
        let session = self.session().await?;
        let Some(ws) = session.workspace.clone() else {
            return Err(LoadError::Forbidden);
        };
        let status = self.status(&ws).await?;
        let notifications = self.notifications(&ws).await?;
        let (by_goal, by_task) = self.breakdown(&ws).await?;
        Ok(WorkspaceData {
            session,
            status,
            notifications,
            by_goal,
            by_task,
        })
    }

    /// Today's usage of `ws` by goal and by task (the workspace view's tables).
    pub async fn breakdown(&self, ws: &str) -> Result<(Vec<UsageRow>, Vec<UsageRow>), LoadError> {
        let by_goal = self.usage(ws, GroupBy::Goal, None).await?;
        let by_task = self.usage(ws, GroupBy::Task, None).await?;
        Ok((by_goal, by_task))
    }

    /// The admin table.
    pub async fn admin(self) -> Result<AdminData, LoadError> {
        let session = self.session().await?;
        if !session.is_admin() {
            return Err(LoadError::Forbidden);
        }
        #[cfg(feature = "ssr")]
        let (page, overview, latest, account) = {
            let b = self.backend()?;
            let latest = b
                .notifications_of_all(self.locale, NOTIFICATION_LIMIT)
                .await
                .map_err(|Incident(id)| LoadError::Failed(id))?;
            (
                b.workspaces(self.locale),
                b.overview(self.locale),
                latest,
                b.account(self.locale),
            )
        };
        #[cfg(not(feature = "ssr"))]
        let (page, overview, latest, account) = {
            let code = self.locale.code();
            let page = self.workspace_page("", None, None).await?;
            let overview = self.overview().await?;
            let latest = browser::get_json::<crate::types::NotificationList>(&format!(
                "/api/quota/notifications?locale={code}&limit={NOTIFICATION_LIMIT}"
            ))
            .await?
            .notifications;
            let account = browser::get_json::<AccountBudgetReport>(&format!(
                "/api/admin/account?locale={code}"
            ))
            .await?;
            (page, overview, latest, account)
        };
        Ok(AdminData {
            session,
            page,
            overview,
            latest,
            account,
        })
    }

    /// A page of the workspaces whose id or name contains `q`, after the page `cursor` ends
    /// (the browser searches and pages with it; the server renders the first page only).
    #[cfg(not(feature = "ssr"))]
    pub async fn workspace_page(
        &self,
        q: &str,
        status: Option<crate::types::Status>,
        cursor: Option<&str>,
    ) -> Result<WorkspaceList, LoadError> {
        browser::get_json(&workspace_page_url(self.locale, q, status, cursor)).await
    }

    /// The admin's overview of every workspace (the browser refreshes it with this).
    #[cfg(not(feature = "ssr"))]
    pub async fn overview(&self) -> Result<AdminOverview, LoadError> {
        browser::get_json(&format!(
            "/api/admin/overview?locale={}",
            self.locale.code()
        ))
        .await
    }

    /// The alert channels (admin).
    pub async fn channels(self) -> Result<ChannelsData, LoadError> {
        let session = self.session().await?;
        if !session.is_admin() {
            return Err(LoadError::Forbidden);
        }
        #[cfg(feature = "ssr")]
        let channels = self.backend()?.channels();
        #[cfg(not(feature = "ssr"))]
        let channels = browser::get_json::<ChannelList>("/api/admin/channels").await?;
        Ok(ChannelsData { session, channels })
    }

    /// The audit trail's newest page (admin).
    pub async fn audit(self) -> Result<AuditData, LoadError> {
        let session = self.session().await?;
        if !session.is_admin() {
            return Err(LoadError::Forbidden);
        }
        let audit = self.audit_page(None).await?;
        Ok(AuditData { session, audit })
    }

    /// A page of the audit trail before the entry `before` (the browser pages on with it).
    pub async fn audit_page(&self, before: Option<i64>) -> Result<AuditList, LoadError> {
        #[cfg(feature = "ssr")]
        {
            self.backend()?
                .audit(AUDIT_PAGE, before)
                .await
                .map_err(|Incident(id)| LoadError::Failed(id))
        }
        #[cfg(not(feature = "ssr"))]
        {
            let mut url = format!("/api/admin/audit?limit={AUDIT_PAGE}");
            if let Some(b) = before {
                url.push_str(&format!("&before={b}"));
            }
            browser::get_json(&url).await
        }
    }

    /// A workspace's detail view (admin).
    pub async fn detail(self, ws: String) -> Result<DetailData, LoadError> {
        let session = self.session().await?;
        if !session.is_admin() {
            return Err(LoadError::Forbidden);
        }
        let status = self.status(&ws).await?;
        let notifications = self.notifications(&ws).await?;
        let hourly = self.usage(&ws, GroupBy::Hour, Some(HOURS)).await?;
        let daily = self.usage(&ws, GroupBy::Day, Some(DAYS * 24)).await?;
        Ok(DetailData {
            session,
            status,
            notifications,
            hourly,
            daily,
            generated_at: Utc::now(),
        })
    }

    #[cfg(feature = "ssr")]
    fn backend(&self) -> Result<&dyn Backend, LoadError> {
        self.backend
            .as_ref()
            .map(|b| b.0.as_ref())
            .ok_or_else(|| LoadError::Failed("no-backend".into()))
    }

    async fn status(&self, ws: &str) -> Result<StatusReport, LoadError> {
        #[cfg(feature = "ssr")]
        {
            self.backend()?
                .status(ws, self.locale)
                .ok_or(LoadError::NotFound)
        }
        #[cfg(not(feature = "ssr"))]
        {
            browser::get_json(&format!(
                "/api/quota/status?workspace={}&locale={}",
                browser::enc(ws),
                self.locale.code()
            ))
            .await
        }
    }

    async fn notifications(&self, ws: &str) -> Result<Vec<Notification>, LoadError> {
        #[cfg(feature = "ssr")]
        {
            self.backend()?
                .notifications(ws, self.locale, NOTIFICATION_LIMIT)
                .await
                .map_err(|Incident(id)| LoadError::Failed(id))
        }
        #[cfg(not(feature = "ssr"))]
        {
            Ok(
                browser::get_json::<crate::types::NotificationList>(&format!(
                    "/api/quota/notifications?workspace={}&locale={}&limit={NOTIFICATION_LIMIT}",
                    browser::enc(ws),
                    self.locale.code()
                ))
                .await?
                .notifications,
            )
        }
    }

    /// Usage grouped by `g`, over the last `hours` (None: today).
    async fn usage(
        &self,
        ws: &str,
        g: GroupBy,
        hours: Option<i64>,
    ) -> Result<Vec<UsageRow>, LoadError> {
        let from = hours.map(hours_ago);
        #[cfg(feature = "ssr")]
        {
            self.backend()?
                .usage(ws, g, from, None)
                .await
                .map_err(|Incident(id)| LoadError::Failed(id))
        }
        #[cfg(not(feature = "ssr"))]
        {
            // One page, the largest: the charts and tables show at most that many groups.
            let mut url = format!(
                "/api/quota/usage?workspace={}&group_by={}&limit={}",
                browser::enc(ws),
                g.as_str(),
                crate::types::USAGE_PAGE_MAX
            );
            if let Some(f) = from {
                url.push_str("&from=");
                url.push_str(&browser::enc(
                    &f.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ));
            }
            Ok(browser::get_json::<crate::types::UsageReport>(&url)
                .await?
                .rows)
        }
    }
}

/// Browser-side HTTP helpers (same-origin fetches carry the session cookie).
#[cfg(not(feature = "ssr"))]
pub mod browser {
    use super::LoadError;
    use serde::de::DeserializeOwned;

    pub fn enc(s: &str) -> String {
        String::from(js_sys::encode_uri_component(s))
    }

    fn status_error(status: u16) -> LoadError {
        match status {
            401 => LoadError::Unauthorized,
            403 => LoadError::Forbidden,
            404 => LoadError::NotFound,
            s => LoadError::Failed(format!("HTTP {s}")),
        }
    }

    pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, LoadError> {
        let resp = gloo_net::http::Request::get(url)
            .send()
            .await
            .map_err(|_| LoadError::Failed("network".into()))?;
        if !resp.ok() {
            return Err(status_error(resp.status()));
        }
        resp.json::<T>()
            .await
            .map_err(|_| LoadError::Failed("response".into()))
    }

    /// Sends a JSON body with `method`; returns the response's status and text.
    pub async fn send_json(
        method: &str,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), LoadError> {
        let builder = match method {
            "DELETE" => gloo_net::http::Request::delete(url),
            "PATCH" => gloo_net::http::Request::patch(url),
            _ => gloo_net::http::Request::post(url),
        };
        let req = builder
            .header("content-type", "application/json")
            .body(body.to_string())
            .map_err(|_| LoadError::Failed("request".into()))?;
        let resp = req
            .send()
            .await
            .map_err(|_| LoadError::Failed("network".into()))?;
        let text = resp.text().await.unwrap_or_default();
        Ok((resp.status(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_url_encodes_the_search_and_the_cursor() {
        let it = Locale::all()
            .find(|l| l.code() == "it")
            .unwrap_or(Locale::EN);
        assert_eq!(
            workspace_page_url(Locale::EN, "", None, None),
            "/api/admin/workspaces?locale=en&q="
        );
        assert_eq!(
            workspace_page_url(
                it,
                "Team 1&x=é",
                Some(crate::types::Status::RateLimited),
                Some("ws.61")
            ),
            "/api/admin/workspaces?locale=it&q=Team%201%26x%3D%C3%A9&status=rate_limited&cursor=ws.61"
        );
    }
}
