//! The API layer's error, [`AppError`], and its one mapping to HTTP: OpenAI's error shape
//! `{"error":{"message","type","param","code"}}` with the right status and headers.
//!
//! Owns: status codes, error `type`/`code` strings and client-facing messages of every failure
//! the gateway itself produces. Internal details (database errors, upstream connection errors)
//! never reach the client: they ride in a response extension, [`InternalDetail`], which the
//! logging middleware writes to the log. Must not: log (the middleware does) or hold business
//! rules.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::types::{ErrorBody, ErrorDetail, LimitKind, Priority};

/// Every failure the gateway answers itself.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "You didn't provide an API key. Send your workspace key as `Authorization: Bearer KEY`."
    )]
    MissingKey,
    #[error(
        "Incorrect API key provided: {masked}. Ask your Quota Sentinel admin for a workspace key."
    )]
    InvalidKey { masked: String },
    #[error("This endpoint needs the admin key (QUOTA_ADMIN_KEY) as `Authorization: Bearer KEY`.")]
    AdminKeyMissing,
    #[error("The admin key is wrong.")]
    AdminKeyWrong,
    #[error("The admin API is disabled: start the gateway with QUOTA_ADMIN_KEY set to enable it.")]
    AdminDisabled,
    #[error("A workspace key can only read its own workspace.")]
    OtherWorkspace,
    #[error("Refused: this request comes from another site ({origin}) and carries no API key. The sign-in cookie works only from the gateway's own pages; send `Authorization: Bearer KEY`, or list the origin in [server] cors_allow_origins.")]
    CrossOrigin { origin: String },
    #[error("No workspace `{0}`.")]
    WorkspaceNotFound(String),
    #[error("Workspace `{0}` already exists.")]
    WorkspaceExists(String),
    /// The request is sound but the thing it names cannot take it (the message says why).
    #[error("{0}")]
    Conflict(String),
    #[error("No alert channel `{0}`.")]
    ChannelNotFound(String),
    #[error("An alert channel `{0}` already exists.")]
    ChannelExists(String),
    #[error("Alert channel `{0}` is declared in the config file, so it cannot be deleted through the API: remove it from the file and restart.")]
    ChannelInConfigFile(String),
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("Workspace `{workspace}` reached its limit of {limit_value} {unit}: {used} used. Retry in {wait}.", unit = limit_unit(*.limit), wait = wait_text(*.retry_after_secs))]
    QuotaExceeded {
        workspace: String,
        limit: LimitKind,
        limit_value: f64,
        used: f64,
        retry_after_secs: u64,
    },
    /// A call of a lower priority class refused at its share of a limit, while calls of a
    /// higher class are still admitted (`priority_shares`).
    #[error("Workspace `{workspace}` refuses {class} calls from {pct}% of its limit of {limit_value} {unit}: {used} used. Critical calls and calls without X-Quota-Priority are admitted up to the limit. Retry in {wait}.", class = priority.as_str(), pct = (share * 100.0).round(), unit = limit_unit(*.limit), wait = wait_text(*.retry_after_secs))]
    PriorityShed {
        workspace: String,
        priority: Priority,
        share: f64,
        limit: LimitKind,
        limit_value: f64,
        used: f64,
        retry_after_secs: u64,
    },
    #[error("The upstream did not answer within {0} s.")]
    UpstreamTimeout(u64),
    #[error("The upstream could not be reached.")]
    UpstreamUnreachable(#[source] hyper_util::client::legacy::Error),
    /// A database that does not answer is a 503 `store_unavailable` (the gateway still
    /// proxies and meters meanwhile); any other store failure is an internal error.
    #[error("{}", if .0.is_unavailable() {
        "The gateway's database is unavailable; try again shortly."
    } else {
        "Internal error."
    })]
    Store(#[from] crate::store::StoreError),
    /// Shared state (Redis) does not answer and the workspace has USD budgets: admitted on
    /// this instance's counters alone, its calls could overspend (`[redis] on_failure`).
    #[error("Workspace `{0}` has USD budgets shared by every gateway instance, and the shared quota state is unavailable; try again shortly.")]
    QuotaStateUnavailable(String),
    /// Any other failure of the gateway's own: the detail is logged, never sent.
    #[error("Internal error.")]
    Internal(String),
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("The request body is larger than the gateway reads ({0} bytes for JSON).")]
    PayloadTooLarge(usize),
    #[error("The request path must not contain `.` or `..` segments (also percent-encoded), an encoded `/`, `\\` or `%`, or a `\\`.")]
    InvalidPath,
    /// A JSON body the gateway will not guess about: a top-level key given twice, or a field
    /// admission reads with the wrong type. `param` names the field.
    #[error("{message}")]
    InvalidBody {
        message: String,
        param: Option<String>,
        code: &'static str,
    },
    #[error(
        "Too many failed authentication attempts from your address. Retry in {retry_after_secs} s."
    )]
    TooManyAuthFailures { retry_after_secs: u64 },
    #[error("This workspace already has {limit} calls in flight. Retry when one has finished.")]
    TooManyConcurrentRequests { limit: u32 },
    #[error("This workspace's calls in flight already hold {limit} bytes of request bodies. Retry when one has finished.")]
    TooManyBufferedBytes { limit: u64 },
    #[error("This workspace already has {limit} WebSockets open.")]
    TooManyWebSockets { limit: u32 },
}

/// Marks the response of a wrong key (workspace or admin): the edge counts it against the
/// caller's address (`crate::guard`).
#[derive(Clone, Copy, Debug)]
pub struct AuthFailed {
    /// The key was a wrong admin key.
    pub admin: bool,
}

fn limit_unit(l: LimitKind) -> &'static str {
    match l {
        LimitKind::RequestsPerMinute => "requests per minute",
        LimitKind::RequestsPerDay => "requests per day",
        LimitKind::TokensPerMinute => "tokens per minute",
        LimitKind::TokensPerDay => "tokens per day",
        LimitKind::BudgetUsdPerDay => "USD per day",
        LimitKind::BudgetUsdPerMonth => "USD per month",
    }
}

/// A wait in the English of API error messages: "7 s" under a minute, then the shared duration
/// form ("21 h 1 min"), so a daily limit's wait is not a raw count of seconds. The exact
/// seconds stay in the `Retry-After` header.
fn wait_text(secs: u64) -> String {
    if secs < app::i18n::MINUTE_SECS {
        format!("{secs} s")
    } else {
        crate::i18n::translations().duration(crate::i18n::Locale::EN, secs)
    }
}

/// The internal cause of a 5xx, for the log only.
#[derive(Clone, Debug)]
pub struct InternalDetail(pub String);

impl AppError {
    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> AppError {
        AppError::BadRequest {
            message: message.into(),
            param,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::MissingKey | AppError::InvalidKey { .. } | AppError::AdminKeyMissing => {
                StatusCode::UNAUTHORIZED
            }
            AppError::AdminKeyWrong
            | AppError::AdminDisabled
            | AppError::OtherWorkspace
            | AppError::CrossOrigin { .. } => StatusCode::FORBIDDEN,
            AppError::WorkspaceNotFound(_)
            | AppError::NotFound(_)
            | AppError::ChannelNotFound(_) => StatusCode::NOT_FOUND,
            AppError::WorkspaceExists(_)
            | AppError::Conflict(_)
            | AppError::ChannelExists(_)
            | AppError::ChannelInConfigFile(_) => StatusCode::CONFLICT,
            AppError::BadRequest { .. } | AppError::InvalidPath | AppError::InvalidBody { .. } => {
                StatusCode::BAD_REQUEST
            }
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::QuotaExceeded { .. }
            | AppError::PriorityShed { .. }
            | AppError::TooManyAuthFailures { .. }
            | AppError::TooManyConcurrentRequests { .. }
            | AppError::TooManyBufferedBytes { .. }
            | AppError::TooManyWebSockets { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::UpstreamUnreachable(_) => StatusCode::BAD_GATEWAY,
            AppError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::QuotaStateUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::MissingKey | AppError::InvalidKey { .. } | AppError::AdminKeyMissing => {
                "invalid_request_error"
            }
            AppError::AdminKeyWrong
            | AppError::AdminDisabled
            | AppError::OtherWorkspace
            | AppError::CrossOrigin { .. } => "permission_error",
            AppError::WorkspaceNotFound(_)
            | AppError::NotFound(_)
            | AppError::WorkspaceExists(_)
            | AppError::Conflict(_)
            | AppError::ChannelNotFound(_)
            | AppError::ChannelExists(_)
            | AppError::ChannelInConfigFile(_)
            | AppError::BadRequest { .. }
            | AppError::InvalidPath
            | AppError::InvalidBody { .. }
            | AppError::PayloadTooLarge(_) => "invalid_request_error",
            AppError::QuotaExceeded { limit, .. } | AppError::PriorityShed { limit, .. } => {
                limit.error_type()
            }
            AppError::TooManyAuthFailures { .. }
            | AppError::TooManyConcurrentRequests { .. }
            | AppError::TooManyBufferedBytes { .. }
            | AppError::TooManyWebSockets { .. } => "requests",
            AppError::UpstreamTimeout(_) | AppError::UpstreamUnreachable(_) => "upstream_error",
            AppError::Store(_) | AppError::Internal(_) | AppError::QuotaStateUnavailable(_) => {
                "server_error"
            }
        }
    }

    /// OpenAI's `code` field.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            AppError::MissingKey => "missing_api_key",
            AppError::InvalidKey { .. } => "invalid_api_key",
            AppError::AdminKeyMissing => "admin_key_required",
            AppError::AdminKeyWrong => "invalid_admin_key",
            AppError::AdminDisabled => "admin_api_disabled",
            AppError::OtherWorkspace => "workspace_forbidden",
            AppError::CrossOrigin { .. } => "cross_origin_request",
            AppError::WorkspaceNotFound(_) => "workspace_not_found",
            AppError::WorkspaceExists(_) => "workspace_exists",
            AppError::Conflict(_) => "conflict",
            AppError::ChannelNotFound(_) => "channel_not_found",
            AppError::ChannelExists(_) => "channel_exists",
            AppError::ChannelInConfigFile(_) => "channel_in_config_file",
            AppError::QuotaExceeded { .. } | AppError::PriorityShed { .. } => {
                "workspace_quota_exceeded"
            }
            AppError::UpstreamTimeout(_) => "upstream_timeout",
            AppError::UpstreamUnreachable(_) => "upstream_unreachable",
            AppError::NotFound(_) => "not_found",
            AppError::PayloadTooLarge(_) => "request_too_large",
            AppError::InvalidPath => "invalid_path",
            AppError::InvalidBody { code, .. } => code,
            AppError::TooManyAuthFailures { .. } => "too_many_auth_failures",
            AppError::TooManyConcurrentRequests { .. } => "too_many_concurrent_requests",
            AppError::TooManyBufferedBytes { .. } => "too_many_buffered_bytes",
            AppError::TooManyWebSockets { .. } => "too_many_websockets",
            AppError::Store(e) if e.is_unavailable() => "store_unavailable",
            AppError::QuotaStateUnavailable(_) => "quota_state_unavailable",
            AppError::BadRequest { .. } | AppError::Store(_) | AppError::Internal(_) => {
                return None
            }
        })
    }

    fn param(&self) -> Option<&str> {
        match self {
            AppError::BadRequest { param, .. } => *param,
            AppError::InvalidBody { param, .. } => param.as_deref(),
            AppError::PriorityShed { .. } => Some("priority"),
            _ => None,
        }
    }

    /// The `Retry-After` of a 429, in seconds.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::QuotaExceeded {
                retry_after_secs, ..
            }
            | AppError::PriorityShed {
                retry_after_secs, ..
            }
            | AppError::TooManyAuthFailures { retry_after_secs } => Some(*retry_after_secs),
            AppError::TooManyConcurrentRequests { .. } | AppError::TooManyBufferedBytes { .. } => {
                Some(1)
            }
            // A socket is given back when a client closes one: not a matter of seconds.
            AppError::TooManyWebSockets { .. } => Some(5),
            AppError::Store(e) if e.is_unavailable() => Some(5),
            AppError::QuotaStateUnavailable(_) => Some(5),
            _ => None,
        }
    }

    /// The body, in OpenAI's shape.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                message: self.to_string(),
                kind: self.kind().to_string(),
                param: self.param().map(str::to_string),
                code: self.code().map(str::to_string),
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut resp = (self.status_code(), axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let AppError::InvalidKey { .. } | AppError::AdminKeyWrong = &self {
            resp.extensions_mut().insert(AuthFailed {
                admin: matches!(self, AppError::AdminKeyWrong),
            });
        }
        let detail = match &self {
            AppError::Store(e) => Some(e.to_string()),
            AppError::Internal(detail) => Some(detail.clone()),
            AppError::UpstreamUnreachable(e) => Some(format!("{e:#}")),
            _ => None,
        };
        if let Some(d) = detail {
            resp.extensions_mut().insert(InternalDetail(d));
        }
        resp
    }
}

/// Masks a secret the way OpenAI does in its messages: `sk-ab...wxyz`.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len().max(3));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_error_has_openai_shape_and_retry_after() {
        let e = AppError::QuotaExceeded {
            workspace: "acme".into(),
            limit: LimitKind::TokensPerMinute,
            limit_value: 100.0,
            used: 100.0,
            retry_after_secs: 7,
        };
        let body = serde_json::to_value(e.body()).unwrap_or_default();
        assert_eq!(body["error"]["type"], "tokens");
        assert_eq!(body["error"]["code"], "workspace_quota_exceeded");
        assert!(body["error"]["param"].is_null());
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn a_shed_priority_class_is_named_in_param_and_message() {
        let e = AppError::PriorityShed {
            workspace: "acme".into(),
            priority: Priority::Optional,
            share: 0.8,
            limit: LimitKind::RequestsPerDay,
            limit_value: 10.0,
            used: 8.0,
            retry_after_secs: 3600,
        };
        let body = serde_json::to_value(e.body()).unwrap_or_default();
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["code"], "workspace_quota_exceeded");
        assert_eq!(body["error"]["param"], "priority");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Workspace `acme` refuses optional calls from 80% of its limit of 10 requests per day: 8 used."),
            "{message}"
        );
        assert_eq!(e.into_response().headers()[header::RETRY_AFTER], "3600");
    }

    #[test]
    fn a_daily_limits_wait_reads_in_hours_and_minutes() {
        let e = |limit, retry_after_secs| AppError::QuotaExceeded {
            workspace: "acme".into(),
            limit,
            limit_value: 100.0,
            used: 100.0,
            retry_after_secs,
        };
        let day = e(LimitKind::TokensPerDay, 75_685);
        assert!(day.to_string().ends_with("Retry in 21 h 1 min."), "{day}");
        assert_eq!(day.into_response().headers()[header::RETRY_AFTER], "75685");
        let minute = e(LimitKind::TokensPerMinute, 7).to_string();
        assert!(minute.ends_with("Retry in 7 s."), "{minute}");
    }

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask_key("qs_abcdefghijklmnop"), "qs_***mnop");
        assert_eq!(mask_key("short"), "*****");
        assert!(!mask_key("qs_abcdefghijklmnop").contains("efgh"));
    }
}
