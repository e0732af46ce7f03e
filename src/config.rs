//! Configuration: the optional `quota-sentinel.toml`, environment variables and CLI flags,
//! validated once at start into a typed [`Config`].
//!
//! Owns: the raw file shape (`deny_unknown_fields`), defaults, the precedence
//! defaults → file → environment → flags, and validation with messages that name the TOML path
//! and the rule broken. Secrets (upstream key, admin key) are [`SecretString`]s that never print.
//! Must not: read files after start-up or know anything of requests.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::model::ChannelFilter;
use crate::pricing::ModelPrice;
use crate::quota::alerting::{BURN_MIN_MINUTES, BURN_WINDOW_MINUTES};
use crate::types::{ChannelCreate, Level, LimitError, LimitFields, LimitKind, Limits, Status};

/// The most runtimes that serve calls, each with its own upstream client.
pub const MAX_SERVING_RUNTIMES: usize = 64;

/// The account headers sent upstream (from `[upstream] organization` / `project` only) and
/// whether the upstream's own are passed back to callers.
#[derive(Clone, Debug, Default)]
pub struct UpstreamAccount {
    pub organization: Option<String>,
    pub project: Option<String>,
    /// Pass the upstream's `openai-organization` and `openai-project` response headers back
    /// (default: removed, they name the account behind the gateway).
    pub pass_organization_header: bool,
}

/// A configuration error: what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {rule}")]
    Invalid { path: String, rule: String },
}

/// `[redis]` with the URL of the command line or environment, if any.
fn redis_config(url: Option<String>, raw: &RawRedis) -> Result<Option<RedisConfig>, ConfigError> {
    let fail_open = match raw.on_failure.as_deref() {
        None | Some("closed") => false,
        Some("open") => true,
        Some(_) => {
            return Err(invalid(
                "redis.on_failure",
                "must be \"closed\" or \"open\"",
            ))
        }
    };
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        if raw.on_failure.is_some() {
            return Err(invalid(
                "redis.on_failure",
                "needs redis.url (or QS_REDIS_URL)",
            ));
        }
        return Ok(None);
    };
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
        || url.starts_with("unix://"))
    {
        return Err(invalid(
            "redis.url",
            "must start with redis://, rediss:// or unix://",
        ));
    }
    if redis::Client::open(url.as_str()).is_err() {
        return Err(invalid("redis.url", "is not a valid Redis URL"));
    }
    Ok(Some(RedisConfig { url, fail_open }))
}

fn invalid(path: impl Into<String>, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        rule: rule.into(),
    }
}

/// The file as written. Every table and field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub defaults: LimitFields,
    #[serde(default)]
    pub status: RawStatus,
    #[serde(default)]
    pub workspaces: Vec<RawWorkspace>,
    #[serde(default)]
    pub prices: BTreeMap<String, ModelPrice>,
    /// Retries of alert deliveries.
    #[serde(default)]
    pub alerts: RawAlerts,
    /// Alert channels: where notifications are delivered (webhook, Slack, email).
    #[serde(default)]
    pub channels: Vec<ChannelCreate>,
    /// The mail server of email channels.
    #[serde(default)]
    pub smtp: Option<RawSmtp>,
    /// The account-wide budget across every workspace.
    #[serde(default)]
    pub account: RawAccount,
    /// Shared state for several instances.
    #[serde(default)]
    pub redis: RawRedis,
}

/// `[redis]`: the counters, reservations and statuses every instance shares. Without a URL,
/// state stays in this process.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: Option<String>,
    /// What calls of workspaces with USD budgets get while Redis does not answer: `closed`
    /// (the default: 503 `quota_state_unavailable`) or `open` (admitted on this instance's own
    /// counters).
    pub on_failure: Option<String>,
}

/// `[redis]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub url: String,
    /// `on_failure = "open"`.
    pub fail_open: bool,
}

/// `[account]`: an optional budget of the whole OpenAI account, across every workspace. It
/// alerts like a workspace's budget (thresholds, burn rate, back under) and refuses nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub budget_usd_per_day: Option<f64>,
    pub budget_usd_per_month: Option<f64>,
    /// Default: `[defaults] alert_thresholds`.
    pub alert_thresholds: Option<Vec<f64>>,
}

/// `[alerts]`: how deliveries are retried, and the burn rate's warm-up.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Whole minutes of history the burn rate needs before it forecasts (1 to 15, default 5).
    pub burn_min_minutes: Option<i64>,
    /// The first retry's delay (a Go duration, default `5s`); it doubles each attempt, with
    /// full jitter, up to an hour.
    pub retry_initial: Option<String>,
    /// A delivery not through this long after its first attempt is given up (default `24h`).
    pub give_up_after: Option<String>,
}

/// `[smtp]`: the mail server email channels send through.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub port: Option<u16>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    pub username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// `starttls` (default), `tls` or `none` (loopback hosts only: test sinks).
    pub tls: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// Where ledger batches the database does not take wait (default: next to a SQLite file,
    /// `data/ledger.spool` for PostgreSQL). One per instance.
    pub spool_file: Option<String>,
    /// Origins allowed by CORS (exact `scheme://host[:port]`); empty = none.
    #[serde(default)]
    pub cors_allow_origins: Vec<String>,
    pub retention_days: Option<u32>,
    /// IANA time zone of the calendar days and months (default `UTC`).
    pub time_zone: Option<String>,
    /// Threads that serve HTTP, each with its own runtime and listener (default or 0: one per
    /// core).
    pub serving_threads: Option<usize>,
    /// Seconds a connection has to send a whole request head, counted from its opening or
    /// its previous response (so it also closes idle keep-alive connections); default 10.
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds a request body may send nothing before the request ends; default 30.
    pub body_idle_timeout_seconds: Option<u64>,
    /// Open connections in all; default 10,000, never more than the open-file limit allows.
    pub max_connections: Option<usize>,
    /// Open connections from one client address (IPv6: one /64); default 256, 0 = no cap.
    pub max_connections_per_address: Option<usize>,
    /// The environment variable that holds the bearer token Prometheus scrapes `/metrics`
    /// with (the admin key works too).
    pub metrics_token_env: Option<String>,
    /// Wrong keys one client address may send per minute before it is blocked (default 20;
    /// 0 = no budget).
    pub auth_failures_per_minute: Option<u32>,
    /// The first block's length; each block that follows another doubles, up to an hour
    /// (default 60).
    pub auth_block_seconds: Option<u64>,
    /// Calls of one workspace in flight at once (default 64; 0 = no cap).
    pub max_in_flight_per_workspace: Option<u32>,
    /// JSON request bytes one workspace's calls in flight may hold buffered (default 64 MiB;
    /// 0 = no cap).
    pub max_buffered_bytes_per_workspace: Option<u64>,
    /// WebSockets open at once per workspace (default 32; 0 = no cap).
    pub max_websockets_per_workspace: Option<u32>,
    /// The largest WebSocket message (and frame) a client may send (default 4096).
    pub websocket_max_message_bytes: Option<usize>,
    /// How long a browser session lasts without use, in hours (default 12); a session past
    /// half its life is renewed when used.
    pub session_ttl_hours: Option<u32>,
    /// Mark the session cookie `Secure` (set it when browsers reach the gateway over HTTPS,
    /// e.g. behind a TLS-terminating proxy; default false).
    pub secure_cookies: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub base_url: Option<String>,
    pub timeout_seconds: Option<u64>,
    /// Sent as `OpenAI-Organization` on every upstream call (a caller's own is never sent).
    pub organization: Option<String>,
    /// Sent as `OpenAI-Project` on every upstream call (a caller's own is never sent).
    pub project: Option<String>,
    /// Pass the upstream's `openai-organization` / `openai-project` response headers back to
    /// callers (default false: they name the account behind the gateway).
    pub pass_organization_header: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatus {
    /// Consecutive upstream failures before `degraded` (default 3).
    pub degraded_after: Option<u32>,
    /// Consecutive successes that clear `degraded` (default 2).
    pub recover_after: Option<u32>,
    /// `degraded` ends this long after the last failure (default 300).
    pub degraded_ttl_seconds: Option<u64>,
    /// The account-wide `quota_exceeded` ends this long after the last sign (default 3600).
    pub quota_exceeded_ttl_seconds: Option<u64>,
    /// Upstream `rate_limited` length when the upstream gives no reset time (default 20).
    pub default_rate_limit_seconds: Option<u64>,
}

/// A `[[workspaces]]` entry: id, name, keys and the limit fields side by side.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkspace {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub key_sha256: Vec<String>,
    #[serde(flatten)]
    pub limits: LimitFields,
}

/// Values from the CLI and the environment (clap reads both); `Some` overrides the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub spool_file: Option<String>,
    /// `--redis-url` / `QS_REDIS_URL`.
    pub redis_url: Option<String>,
    pub upstream_url: Option<String>,
    pub upstream_key: Option<SecretString>,
    pub admin_key: Option<SecretString>,
    /// `QS_SESSION_SECRET`: the secret session cookies are signed with (derived with a salt
    /// kept in the database); without it, the admin key is used.
    pub session_secret: Option<SecretString>,
    /// Default limits (the CLI and environment set `requests_per_minute`, `requests_per_day`
    /// and `tokens_per_minute`); they beat `[defaults]`.
    pub limits: LimitFields,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Demo mode (`quota-sentinel demo`): the UI says so on every page.
    pub demo: bool,
    pub listen: SocketAddr,
    pub database_url: String,
    /// The ledger spool (`store::spool`); `None` for an in-memory SQLite database.
    pub spool_file: Option<std::path::PathBuf>,
    pub cors_allow_origins: Vec<String>,
    pub retention_days: u32,
    pub time_zone: chrono_tz::Tz,
    /// Threads that serve HTTP (resolved: at least 1).
    pub serving_threads: usize,
    /// Connection caps and timeouts.
    pub connections: crate::conn::ConnLimits,
    /// The bearer token that may scrape `/metrics` (besides the admin key).
    pub metrics_token: Option<SecretString>,
    /// Abuse limits (`[server]`): auth-failure budget, per-workspace caps.
    pub abuse: crate::guard::Limits,
    pub upstream_url: String,
    pub upstream_timeout_seconds: u64,
    pub upstream_key: Option<SecretString>,
    /// `[upstream] organization`, `project`, `pass_organization_header`.
    pub upstream_account: UpstreamAccount,
    pub admin_key: Option<SecretString>,
    /// See [`Overrides::session_secret`].
    pub session_secret: Option<SecretString>,
    /// Lifetime of a browser session in seconds (from `server.session_ttl_hours`).
    pub session_ttl_secs: i64,
    /// Whether the session cookie carries `Secure` (`server.secure_cookies`).
    pub secure_cookies: bool,
    pub account: crate::quota::AccountPolicy,
    pub defaults: Limits,
    pub workspaces: Vec<WorkspaceConfig>,
    pub prices: BTreeMap<String, ModelPrice>,
    /// `[alerts]`: delivery retries.
    pub alerts: AlertSettings,
    /// `[alerts] burn_min_minutes`: whole minutes of history the burn rate needs before it
    /// forecasts (1 to [`BURN_WINDOW_MINUTES`], default [`BURN_MIN_MINUTES`]).
    pub burn_min_minutes: u32,
    /// `[[channels]]` of the file (the API adds more at run time, see `crate::alerts`).
    pub channels: Vec<ChannelConfig>,
    /// `[smtp]`, if email channels can be used.
    pub smtp: Option<SmtpConfig>,
    /// The account-wide budget (`[account]`) as warn-only limits, if one is set.
    pub account_budget: Option<Limits>,
    /// `[redis]`: shared state, if configured.
    pub redis: Option<RedisConfig>,
}

/// How deliveries are retried (`[alerts]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertSettings {
    /// The first retry's delay; each next one doubles (with full jitter), up to
    /// [`MAX_RETRY_DELAY`].
    pub retry_initial: Duration,
    /// A delivery not through this long after its first attempt is given up.
    pub give_up_after: Duration,
}

/// The longest wait between two attempts of one delivery.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            retry_initial: Duration::from_secs(5),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// How the mail server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required; never sent in clear).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: loopback hosts only (local relays, test sinks).
    None,
}

/// `[smtp]`, checked.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Checked to be a mailbox (`Name <address>` or an address).
    pub from: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub tls: SmtpTls,
}

/// An alert channel, checked: where it sends, what it takes, how it renders.
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    pub id: String,
    pub target: ChannelTarget,
    pub filter: ChannelFilter,
    pub locale: app::i18n::Locale,
    pub time_zone: chrono_tz::Tz,
}

/// Where a channel sends.
#[derive(Clone, Debug)]
pub enum ChannelTarget {
    Webhook { url: String, secret: WebhookSecret },
    Slack { url: String },
    Email { to: Vec<String> },
}

impl ChannelTarget {
    /// The kind's name as written (`webhook`, `slack`, `email`).
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelTarget::Webhook { .. } => "webhook",
            ChannelTarget::Slack { .. } => "slack",
            ChannelTarget::Email { .. } => "email",
        }
    }
}

/// A webhook's signing secret: its text (`whsec_` + base64, or bare base64), checked to
/// decode, and where it came from. Never printed (`SecretString`).
#[derive(Clone, Debug)]
pub struct WebhookSecret {
    pub text: SecretString,
    /// The environment variable it was read from; `None`: made by the gateway and stored.
    pub env: Option<String>,
}

impl WebhookSecret {
    /// The HMAC key: the base64 after an optional `whsec_`.
    pub fn key(&self) -> Option<Vec<u8>> {
        use secrecy::ExposeSecret;
        decode_webhook_secret(self.text.expose_secret())
    }
}

/// The key bytes of a Standard Webhooks secret: base64 (standard alphabet, padded or not)
/// after an optional `whsec_`; `None` if it does not decode or is empty.
pub fn decode_webhook_secret(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let b64 = text.trim();
    let b64 = b64.strip_prefix("whsec_").unwrap_or(b64);
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
        .ok()?;
    (!key.is_empty()).then_some(key)
}

/// A rule a channel's field breaks: the field as written (`url`, `levels`, …) and the rule.
/// The config file names it `channels[i].field`, the admin API `field`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ChannelFieldError {
    pub field: &'static str,
    pub rule: String,
}

fn field_error(field: &'static str, rule: impl Into<String>) -> ChannelFieldError {
    ChannelFieldError {
        field,
        rule: rule.into(),
    }
}

/// The levels a channel takes when it names none.
pub const ALL_LEVELS: [Level; 3] = [Level::Info, Level::Warning, Level::Error];

/// The longest channel id.
pub const MAX_CHANNEL_ID: usize = 64;

/// Checks a channel as written (a `[[channels]]` entry or the admin API's body) into a
/// [`ChannelConfig`]. `smtp`: whether `[smtp]` is configured; `time_zone`: the default
/// (`[server] time_zone`); `generated`: the secret the gateway made for an API webhook that
/// names no `secret_env` (`None` for the file, where `secret_env` is required). Reads the
/// environment variable of `secret_env`, never printing its value.
pub fn channel_from(
    raw: &ChannelCreate,
    smtp: bool,
    time_zone: chrono_tz::Tz,
    generated: Option<SecretString>,
) -> Result<ChannelConfig, ChannelFieldError> {
    validate_channel_id(&raw.id).map_err(|rule| field_error("id", rule))?;
    let url = |kind: &str| -> Result<String, ChannelFieldError> {
        let Some(u) = raw.url.as_deref() else {
            return Err(field_error(
                "url",
                format!("is required for a {kind} channel"),
            ));
        };
        let parsed = reqwest::Url::parse(u)
            .map_err(|e| field_error("url", format!("`{}` is not a URL ({e})", mask_url(u))))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(field_error(
                "url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        Ok(u.to_string())
    };
    let no = |field: &'static str, given: bool, kind: &str| {
        if given {
            Err(field_error(
                field,
                format!("does not apply to a {kind} channel"),
            ))
        } else {
            Ok(())
        }
    };
    let target = match raw.kind.as_str() {
        "webhook" => {
            no("to", !raw.to.is_empty(), "webhook")?;
            let url = url("webhook")?;
            let secret = match (&raw.secret_env, generated) {
                (Some(name), _) => WebhookSecret {
                    text: secret_from_env(name)?,
                    env: Some(name.clone()),
                },
                (None, Some(text)) => WebhookSecret { text, env: None },
                (None, None) => {
                    return Err(field_error(
                        "secret_env",
                        "is required for a webhook channel: the environment variable that holds its signing secret",
                    ))
                }
            };
            if secret.key().is_none() {
                return Err(field_error(
                    "secret_env",
                    "the secret must be base64 (optionally after `whsec_`)",
                ));
            }
            ChannelTarget::Webhook { url, secret }
        }
        "slack" => {
            no("to", !raw.to.is_empty(), "slack")?;
            no("secret_env", raw.secret_env.is_some(), "slack")?;
            ChannelTarget::Slack { url: url("slack")? }
        }
        "email" => {
            no("url", raw.url.is_some(), "email")?;
            no("secret_env", raw.secret_env.is_some(), "email")?;
            if !smtp {
                return Err(field_error(
                    "kind",
                    "an email channel needs the [smtp] section in the config file",
                ));
            }
            if raw.to.is_empty() {
                return Err(field_error(
                    "to",
                    "an email channel needs at least one address",
                ));
            }
            for t in &raw.to {
                t.parse::<lettre::message::Mailbox>()
                    .map_err(|_| field_error("to", format!("`{t}` is not an email address")))?;
            }
            ChannelTarget::Email { to: raw.to.clone() }
        }
        other => {
            return Err(field_error(
                "kind",
                format!("unknown kind `{other}`; use webhook, slack or email"),
            ))
        }
    };
    for w in &raw.workspaces {
        validate_workspace_id(w).map_err(|rule| field_error("workspaces", rule))?;
    }
    let levels = match &raw.levels {
        None => ALL_LEVELS.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(field_error(
                "levels",
                "must name at least one level (leave it out to take all)",
            ))
        }
        Some(names) => names
            .iter()
            .map(|n| {
                ALL_LEVELS
                    .into_iter()
                    .find(|l| l.as_str() == n)
                    .ok_or_else(|| {
                        field_error(
                            "levels",
                            format!("unknown level `{n}`; use info, warning or error"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let statuses = raw
        .statuses
        .iter()
        .map(|n| {
            Status::ALL
                .into_iter()
                .find(|s| s.as_str() == n)
                .ok_or_else(|| {
                    field_error(
                        "statuses",
                        format!(
                            "unknown status `{n}`; use normal, warning, degraded, rate_limited or quota_exceeded"
                        ),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let locale = match raw.locale.as_deref() {
        None => app::i18n::Locale::EN,
        Some(code) => app::i18n::Locale::all()
            .find(|l| l.code() == code)
            .ok_or_else(|| {
                let known: Vec<&str> = app::i18n::Locale::all().map(|l| l.code()).collect();
                field_error(
                    "locale",
                    format!("unknown locale `{code}`; use one of {}", known.join(", ")),
                )
            })?,
    };
    let time_zone = match raw.time_zone.as_deref() {
        None => time_zone,
        Some(tz) => tz.parse().map_err(|_| {
            field_error(
                "time_zone",
                format!("`{tz}` is not an IANA time zone such as Europe/Rome"),
            )
        })?,
    };
    Ok(ChannelConfig {
        id: raw.id.clone(),
        target,
        filter: ChannelFilter {
            channel: raw.id.clone(),
            workspaces: raw.workspaces.clone(),
            levels,
            statuses,
        },
        locale,
        time_zone,
    })
}

/// A channel id: 1 to [`MAX_CHANNEL_ID`] of `a-z 0-9 _ -`.
pub fn validate_channel_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CHANNEL_ID {
        return Err(format!("must be 1 to {MAX_CHANNEL_ID} characters long"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "`{id}` may only contain lower-case letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

/// A URL as it may be shown: its origin, and its path unless `path_is_secret` (a Slack
/// incoming webhook's path is its token); never the query or user info.
pub fn shown_url(url: &str, path_is_secret: bool) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let origin = u.origin().ascii_serialization();
            if path_is_secret {
                format!("{origin}/***")
            } else if u.query().is_some() {
                format!("{origin}{}?***", u.path())
            } else {
                format!("{origin}{}", u.path())
            }
        }
        Err(_) => "***".to_string(),
    }
}

/// A URL that did not parse, for an error message: its first 24 characters.
fn mask_url(u: &str) -> String {
    let head: String = u.chars().take(24).collect();
    if head.len() < u.len() {
        format!("{head}…")
    } else {
        head
    }
}

/// A webhook secret read from the environment variable `name`.
fn secret_from_env(name: &str) -> Result<SecretString, ChannelFieldError> {
    if name.is_empty() {
        return Err(field_error(
            "secret_env",
            "must name an environment variable",
        ));
    }
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
        _ => Err(field_error(
            "secret_env",
            format!("the environment variable {name} is not set"),
        )),
    }
}

/// `[alerts] burn_min_minutes`, checked.
fn burn_min_minutes(raw: &RawAlerts) -> Result<u32, ConfigError> {
    match raw.burn_min_minutes {
        None => Ok(BURN_MIN_MINUTES),
        Some(m) => u32::try_from(m)
            .ok()
            .filter(|m| (1..=BURN_WINDOW_MINUTES as u32).contains(m))
            .ok_or_else(|| {
                invalid(
                    "alerts.burn_min_minutes",
                    format!(
                        "must be a whole number of minutes from 1 to {BURN_WINDOW_MINUTES} (got {m})"
                    ),
                )
            }),
    }
}

/// `[alerts]`, checked.
fn alert_settings(raw: &RawAlerts) -> Result<AlertSettings, ConfigError> {
    let d = AlertSettings::default();
    let read = |field: &str, v: &Option<String>, d: Duration| match v {
        None => Ok(d),
        Some(text) => match parse_go_duration(text) {
            Some(x) if !x.is_zero() => Ok(x),
            _ => Err(invalid(
                format!("alerts.{field}"),
                format!("`{text}` is not a positive duration such as 5s, 10m or 24h"),
            )),
        },
    };
    let s = AlertSettings {
        retry_initial: read("retry_initial", &raw.retry_initial, d.retry_initial)?,
        give_up_after: read("give_up_after", &raw.give_up_after, d.give_up_after)?,
    };
    if s.retry_initial > MAX_RETRY_DELAY {
        return Err(invalid("alerts.retry_initial", "must be at most 1h"));
    }
    Ok(s)
}

/// `[smtp]`, checked (the password read from `password_env`).
fn smtp_config(raw: &RawSmtp) -> Result<SmtpConfig, ConfigError> {
    let tls = match raw.tls.as_deref().unwrap_or("starttls") {
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        other => {
            return Err(invalid(
                "smtp.tls",
                format!("unknown mode `{other}`; use starttls, tls or none"),
            ))
        }
    };
    let host = raw.host.trim().to_string();
    if host.is_empty() {
        return Err(invalid("smtp.host", "must name the mail server"));
    }
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls == SmtpTls::None && !loopback {
        return Err(invalid(
            "smtp.tls",
            "`none` sends mail and password in clear: it is allowed only for a loopback host (localhost, 127.0.0.1, ::1)",
        ));
    }
    raw.from.parse::<lettre::message::Mailbox>().map_err(|_| {
        invalid(
            "smtp.from",
            format!(
                "`{}` is not a sender like `Quota Sentinel <qs@example.com>`",
                raw.from
            ),
        )
    })?;
    let password = match &raw.password_env {
        None => None,
        Some(name) => match std::env::var(name) {
            Ok(v) if !v.is_empty() => Some(SecretString::from(v)),
            _ => {
                return Err(invalid(
                    "smtp.password_env",
                    format!("the environment variable {name} is not set"),
                ))
            }
        },
    };
    if raw.username.is_some() != password.is_some() {
        return Err(invalid(
            "smtp.username",
            "username and password_env go together (both or neither)",
        ));
    }
    let port = raw.port.unwrap_or(match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    });
    Ok(SmtpConfig {
        host,
        port,
        from: raw.from.clone(),
        username: raw.username.clone(),
        password,
        tls,
    })
}

/// `[[channels]]`, checked: each as [`channel_from`] checks it, ids unique.
fn file_channels(
    raw: &[ChannelCreate],
    smtp: bool,
    time_zone: chrono_tz::Tz,
) -> Result<Vec<ChannelConfig>, ConfigError> {
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let ch = channel_from(c, smtp, time_zone, None).map_err(|e| {
            // The entry by its place and, once its id is valid, by its id too.
            let rule = if e.field == "id" {
                e.rule
            } else {
                format!("{} (channel `{}`)", e.rule, c.id)
            };
            invalid(format!("channels[{i}].{}", e.field), rule)
        })?;
        if !ids.insert(ch.id.clone()) {
            return Err(invalid(
                format!("channels[{i}].id"),
                format!("`{}` is declared twice", ch.id),
            ));
        }
        out.push(ch);
    }
    Ok(out)
}

/// A workspace declared in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceConfig {
    pub id: String,
    pub name: String,
    pub key_sha256: Vec<[u8; 32]>,
    pub limits: Limits,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/quota-sentinel.db";

/// The ledger spool's default place: beside a SQLite file (`<file>.spool`), none for an
/// in-memory SQLite database, `data/ledger.spool` for PostgreSQL.
fn default_spool_file(database_url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    match crate::store::Engine::of_url(database_url) {
        Ok(crate::store::Engine::Sqlite) => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(database_url).ok()?;
            let file = opts.get_filename();
            if file.as_os_str().is_empty() || file == std::path::Path::new(":memory:") {
                return None;
            }
            let mut name = file.as_os_str().to_owned();
            name.push(".spool");
            Some(name.into())
        }
        _ => Some("data/ledger.spool".into()),
    }
}
pub const DEFAULT_UPSTREAM_URL: &str = "https://api.openai.com/v1";
/// The longest a browser session may be configured to last: 30 days.
pub const MAX_SESSION_TTL_HOURS: u32 = 30 * 24;

impl Config {
    /// Reads `path` (if given) and applies `over`.
    pub fn load(path: Option<&Path>, over: Overrides) -> Result<Config, ConfigError> {
        let raw = match path {
            None => RawConfig::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                RawConfig::parse(&text).map_err(|message| ConfigError::Parse {
                    path: p.display().to_string(),
                    message,
                })?
            }
        };
        raw.validate(over)
    }
}

impl RawConfig {
    pub fn parse(text: &str) -> Result<RawConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// Turns the file plus overrides into a [`Config`], checking every rule.
    pub fn validate(self, over: Overrides) -> Result<Config, ConfigError> {
        let connections = connection_limits(&self.server)?;
        let abuse = self.server.abuse()?;
        let listen_text = over
            .listen
            .or(self.server.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "server.listen",
                format!("`{listen_text}` is not an address like 127.0.0.1:3000"),
            )
        })?;
        let database_url = over
            .database_url
            .or(self.server.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if crate::store::Engine::of_url(&database_url).is_err() {
            return Err(invalid(
                "server.database_url",
                "must be a sqlite: URL (e.g. sqlite://data/quota-sentinel.db) or a postgres:// URL \
                 (e.g. postgres://qs@db.internal/qs)",
            ));
        }
        let redis = redis_config(
            over.redis_url.clone().or(self.redis.url.clone()),
            &self.redis,
        )?;
        let spool_file = match over.spool_file.or(self.server.spool_file) {
            Some(f) if f.trim().is_empty() => {
                return Err(invalid("server.spool_file", "must be a file path"))
            }
            Some(f) => Some(std::path::PathBuf::from(f)),
            None => default_spool_file(&database_url),
        };
        for (i, o) in self.server.cors_allow_origins.iter().enumerate() {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                return Err(invalid(
                    format!("server.cors_allow_origins[{i}]"),
                    "must be an origin like https://app.example.com (scheme, host, optional port, no path)",
                ));
            }
        }
        let serving_threads = match self.server.serving_threads.unwrap_or(0) {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_SERVING_RUNTIMES),
            n if n > MAX_SERVING_RUNTIMES => {
                return Err(invalid(
                    "server.serving_threads",
                    format!(
                        "must be at most {} (0 = one per core)",
                        MAX_SERVING_RUNTIMES
                    ),
                ))
            }
            n => n,
        };
        let metrics_token = match &self.server.metrics_token_env {
            None => None,
            Some(name) => match std::env::var(name) {
                Ok(v) if v.trim().len() >= 16 => Some(SecretString::from(v.trim().to_string())),
                Ok(_) => {
                    return Err(invalid(
                        "server.metrics_token_env",
                        format!("the token in ${name} must be at least 16 characters"),
                    ))
                }
                Err(_) => {
                    return Err(invalid(
                        "server.metrics_token_env",
                        format!("the environment variable {name} is not set"),
                    ))
                }
            },
        };
        let session_ttl_hours = self.server.session_ttl_hours.unwrap_or(12);
        if !(1..=MAX_SESSION_TTL_HOURS).contains(&session_ttl_hours) {
            return Err(invalid(
                "server.session_ttl_hours",
                format!("must be between 1 and {MAX_SESSION_TTL_HOURS} (hours)"),
            ));
        }
        let retention_days = self.server.retention_days.unwrap_or(90);
        if retention_days == 0 {
            return Err(invalid("server.retention_days", "must be at least 1"));
        }
        let time_zone = match self.server.time_zone.as_deref() {
            None => chrono_tz::UTC,
            Some(tz) => tz.parse().map_err(|_| {
                invalid(
                    "server.time_zone",
                    format!("`{tz}` is not an IANA time zone such as Europe/Rome"),
                )
            })?,
        };
        let upstream_url = over
            .upstream_url
            .or(self.upstream.base_url)
            .unwrap_or_else(|| DEFAULT_UPSTREAM_URL.to_string());
        let upstream_url = upstream_url.trim_end_matches('/').to_string();
        if !(upstream_url.starts_with("http://") || upstream_url.starts_with("https://")) {
            return Err(invalid(
                "upstream.base_url",
                "must start with http:// or https://",
            ));
        }
        let upstream_timeout_seconds = self.upstream.timeout_seconds.unwrap_or(600);
        if upstream_timeout_seconds == 0 {
            return Err(invalid("upstream.timeout_seconds", "must be at least 1"));
        }
        let upstream_account = UpstreamAccount {
            organization: header_setting("upstream.organization", self.upstream.organization)?,
            project: header_setting("upstream.project", self.upstream.project)?,
            pass_organization_header: self.upstream.pass_organization_header.unwrap_or(false),
        };
        let d = crate::quota::AccountPolicy::default();
        let account = crate::quota::AccountPolicy {
            degraded_after: self.status.degraded_after.unwrap_or(d.degraded_after),
            recover_after: self.status.recover_after.unwrap_or(d.recover_after),
            degraded_ttl_secs: self
                .status
                .degraded_ttl_seconds
                .unwrap_or(d.degraded_ttl_secs),
            quota_exceeded_ttl_secs: self
                .status
                .quota_exceeded_ttl_seconds
                .unwrap_or(d.quota_exceeded_ttl_secs),
            default_rate_limit_secs: self
                .status
                .default_rate_limit_seconds
                .unwrap_or(d.default_rate_limit_secs),
        };
        if account.degraded_after == 0 {
            return Err(invalid("status.degraded_after", "must be at least 1"));
        }
        if account.recover_after == 0 {
            return Err(invalid("status.recover_after", "must be at least 1"));
        }

        // Defaults: built-in → file → env twins (kept under their historical names).
        let defaults = limits_from(
            "defaults",
            &over.limits.or(self.defaults).or(builtin_defaults()),
            &Limits::default(),
        )?;

        let account_budget = account_budget(&self.account, &defaults)?;

        let mut workspaces = Vec::with_capacity(self.workspaces.len());
        let mut ids = HashSet::new();
        let mut hashes = HashSet::new();
        for (i, w) in self.workspaces.iter().enumerate() {
            let path = format!("workspaces[{i}]");
            validate_workspace_id(&w.id).map_err(|rule| invalid(format!("{path}.id"), rule))?;
            if !ids.insert(w.id.clone()) {
                return Err(invalid(
                    format!("{path}.id"),
                    format!("`{}` is declared twice", w.id),
                ));
            }
            if let Some(name) = &w.name {
                validate_workspace_name(name)
                    .map_err(|rule| invalid(format!("{path}.name"), rule))?;
            }
            let mut keys = Vec::with_capacity(w.key_sha256.len());
            for (j, h) in w.key_sha256.iter().enumerate() {
                let k = parse_sha256(h).ok_or_else(|| {
                    invalid(
                        format!("{path}.key_sha256[{j}]"),
                        "must be 64 hex characters (the SHA-256 of the key; `quota-sentinel keygen` prints one)",
                    )
                })?;
                if !hashes.insert(k) {
                    return Err(invalid(
                        format!("{path}.key_sha256[{j}]"),
                        "this key hash is already used by another workspace or entry",
                    ));
                }
                keys.push(k);
            }
            workspaces.push(WorkspaceConfig {
                id: w.id.clone(),
                name: w.name.clone().unwrap_or_else(|| w.id.clone()),
                key_sha256: keys,
                limits: limits_from(&path, &w.limits, &defaults)?,
            });
        }
        for (model, p) in &self.prices {
            // Every price field is a number of USD; check them all without naming each.
            if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(p) {
                for (field, v) in fields {
                    if v.as_f64().is_some_and(|v| !v.is_finite() || v < 0.0) {
                        return Err(invalid(
                            format!("prices.\"{model}\".{field}"),
                            "must be a non-negative number of USD",
                        ));
                    }
                }
            }
        }
        let alerts = alert_settings(&self.alerts)?;
        let burn_min_minutes = burn_min_minutes(&self.alerts)?;
        let smtp = self.smtp.as_ref().map(smtp_config).transpose()?;
        let channels = file_channels(&self.channels, smtp.is_some(), time_zone)?;
        Ok(Config {
            demo: false,
            listen,
            database_url,
            spool_file,
            redis,
            cors_allow_origins: self.server.cors_allow_origins,
            retention_days,
            time_zone,
            serving_threads,
            connections,
            metrics_token,
            abuse,
            upstream_url,
            upstream_timeout_seconds,
            upstream_key: over.upstream_key,
            upstream_account,
            admin_key: over.admin_key,
            session_secret: over.session_secret,
            session_ttl_secs: i64::from(session_ttl_hours) * 3600,
            secure_cookies: self.server.secure_cookies.unwrap_or(false),
            account,
            defaults,
            workspaces,
            prices: self.prices,
            alerts,
            burn_min_minutes,
            channels,
            smtp,
            account_budget,
        })
    }
}

/// `[account]` as limits in force: its budgets only, both warn-only, its thresholds (else the
/// defaults'). `None` when no budget is set. Checked by the workspaces' rules, naming
/// `account.<field>`.
fn account_budget(raw: &RawAccount, defaults: &Limits) -> Result<Option<Limits>, ConfigError> {
    if raw.budget_usd_per_day.is_none() && raw.budget_usd_per_month.is_none() {
        return Ok(None);
    }
    let written = LimitFields {
        budget_usd_per_day: raw.budget_usd_per_day,
        budget_usd_per_month: raw.budget_usd_per_month,
        alert_thresholds: raw.alert_thresholds.clone(),
        soft_limits: Some(vec![
            LimitKind::BudgetUsdPerDay,
            LimitKind::BudgetUsdPerMonth,
        ]),
        ..LimitFields::default()
    };
    // Its day and month are those of `[defaults]`' schedule: the periods the workspaces
    // without a schedule of their own count in, whose spend it sums.
    let base = Limits {
        alert_thresholds: defaults.alert_thresholds.clone(),
        warning_at: defaults.warning_at,
        reset_daily_at: defaults.reset_daily_at.clone(),
        reset_monthly_on: defaults.reset_monthly_on,
        ..Limits::default()
    };
    let limits = limits_from("account", &written, &base)?;
    Ok(
        (limits.budget_usd_per_day.is_some() || limits.budget_usd_per_month.is_some())
            .then_some(limits),
    )
}

/// The connection caps and timeouts of `[server]`.
fn connection_limits(s: &RawServer) -> Result<crate::conn::ConnLimits, ConfigError> {
    let d = crate::conn::ConnLimits::default();
    let seconds = |field: &str, v: Option<u64>, d: std::time::Duration| match v {
        None => Ok(d),
        Some(n) if (1..=3600).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        Some(_) => Err(invalid(
            format!("server.{field}"),
            "must be a number of seconds from 1 to 3600",
        )),
    };
    if s.max_connections == Some(0) {
        return Err(invalid("server.max_connections", "must be at least 1"));
    }
    Ok(crate::conn::ConnLimits {
        header_read_timeout: seconds(
            "header_read_timeout_seconds",
            s.header_read_timeout_seconds,
            d.header_read_timeout,
        )?,
        body_idle_timeout: seconds(
            "body_idle_timeout_seconds",
            s.body_idle_timeout_seconds,
            d.body_idle_timeout,
        )?,
        max_connections: s.max_connections,
        max_connections_per_address: s
            .max_connections_per_address
            .unwrap_or(d.max_connections_per_address),
    })
}

/// The longest `[upstream] organization` / `project` accepted (OpenAI's ids are ~30).
pub const MAX_ACCOUNT_ID: usize = 128;

/// A setting sent as a header value as it is: non-empty, visible ASCII, at most
/// [`MAX_ACCOUNT_ID`] bytes.
fn header_setting(path: &str, v: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(v) = v else {
        return Ok(None);
    };
    if v.is_empty() || v.len() > MAX_ACCOUNT_ID || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            path,
            format!(
                "must be 1 to {MAX_ACCOUNT_ID} visible ASCII characters (no spaces), like org-abc123"
            ),
        ));
    }
    Ok(Some(v))
}

impl RawServer {
    /// The abuse limits, with their defaults.
    fn abuse(&self) -> Result<crate::guard::Limits, ConfigError> {
        let d = crate::guard::Limits::default();
        let l = crate::guard::Limits {
            auth_failures_per_minute: self
                .auth_failures_per_minute
                .unwrap_or(d.auth_failures_per_minute),
            auth_block_seconds: self.auth_block_seconds.unwrap_or(d.auth_block_seconds),
            max_in_flight_per_workspace: self
                .max_in_flight_per_workspace
                .unwrap_or(d.max_in_flight_per_workspace),
            max_buffered_bytes_per_workspace: self
                .max_buffered_bytes_per_workspace
                .unwrap_or(d.max_buffered_bytes_per_workspace),
            max_websockets_per_workspace: self
                .max_websockets_per_workspace
                .unwrap_or(d.max_websockets_per_workspace),
            websocket_max_message_bytes: self
                .websocket_max_message_bytes
                .unwrap_or(d.websocket_max_message_bytes),
        };
        if l.auth_block_seconds == 0 {
            return Err(invalid("server.auth_block_seconds", "must be at least 1"));
        }
        if l.websocket_max_message_bytes < 64 {
            return Err(invalid(
                "server.websocket_max_message_bytes",
                "must be at least 64 (a client's `ping` must fit)",
            ));
        }
        Ok(l)
    }
}

/// The built-in default limits, below `[defaults]` and the environment.
fn builtin_defaults() -> LimitFields {
    LimitFields {
        requests_per_minute: Some(500),
        requests_per_day: Some(10_000),
        tokens_per_minute: Some(150_000),
        ..LimitFields::default()
    }
}

/// Checks written limits and makes the limits in force ([`LimitFields::resolve`]): an
/// omitted field takes `base`'s value, `0` means "no limit". The error names
/// `{path}.{field}`.
pub fn limits_from(path: &str, raw: &LimitFields, base: &Limits) -> Result<Limits, ConfigError> {
    raw.resolve(base)
        .map_err(|e: LimitError| invalid(format!("{path}.{}", e.field()), e.to_string()))
}

/// Workspace ids appear in URLs and metric labels: 1–64 of `A-Z a-z 0-9 _ -`.
pub fn validate_workspace_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 characters long".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "`{id}` may only contain letters, digits, `_` and `-`"
        ));
    }
    if id.starts_with('_') {
        // `_account` files the account-wide budget's notifications.
        return Err(format!(
            "`{id}` starts with `_`, which is kept for the gateway's own ids"
        ));
    }
    Ok(())
}

/// Longest workspace name, in characters: names are shown in every status answer and page.
pub const MAX_WORKSPACE_NAME_CHARS: usize = 128;

/// A workspace's display name: 1 to [`MAX_WORKSPACE_NAME_CHARS`] characters, no control
/// characters.
pub fn validate_workspace_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_WORKSPACE_NAME_CHARS {
        return Err(format!(
            "must be 1 to {MAX_WORKSPACE_NAME_CHARS} characters long (this one has {chars})"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks, tabs, …)".into());
    }
    Ok(())
}

/// Parses a Go `time.Duration` string (the durations of the config file, `[alerts]`, and
/// OpenAI's reset headers, read by `crate::proxy::signals`): a sequence of decimal numbers with optional fraction
/// and a unit (`ns`, `us`, `µs`/`μs`, `ms`, `s`, `m`, `h`), e.g. `6m0s`, `1h2m3.5s`, `12ms`,
/// `1.5s`, `300us`; `0` alone is zero. `None` for negative, empty or malformed input, or a
/// duration that does not fit.
///
/// Hand-written on purpose: checked against OpenAI's forms and Go's grammar, the crates fall
/// short. `go-parse-duration` 0.1.1 panics on `300µs` (it indexes characters by byte offset), and
/// `humantime` 2.4 rejects `.5s`, `1.s`, `300μs` (Greek mu) and `+5s`, which Go's
/// `time.ParseDuration` accepts, while it accepts forms Go does not (`1 day`, `2 weeks`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        const UNITS: [(&str, u128); 8] = [
            ("ns", 1),
            ("us", 1_000),
            ("µs", 1_000),
            ("μs", 1_000),
            ("ms", 1_000_000),
            ("s", 1_000_000_000),
            ("m", 60_000_000_000),
            ("h", 3_600_000_000_000),
        ];
        let (unit, nanos_per) = UNITS.iter().find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(int.checked_mul(*nanos_per)?)?;
        // Fractions beyond 18 digits are below a nanosecond of an hour's precision: dropped.
        let frac = &frac[..frac.len().min(18)];
        if !frac.is_empty() {
            let num: u128 = frac.parse().ok()?;
            let den = 10u128.pow(frac.len() as u32);
            total = total.checked_add(num * nanos_per / den)?;
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Parses 64 hex characters into a SHA-256 digest.
pub fn parse_sha256(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let raw = RawConfig::parse(text)?;
        raw.validate(Overrides::default())
            .map_err(|e| e.to_string())
    }

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn msd(n: u64) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(n))
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("6m0s"),
            Some(std::time::Duration::from_secs(360))
        );
        assert_eq!(parse_go_duration("12ms"), msd(12));
        assert_eq!(parse_go_duration("1h2m3.5s"), msd(3_723_500));
        assert_eq!(
            parse_go_duration("20s"),
            Some(std::time::Duration::from_secs(20))
        );
        assert_eq!(parse_go_duration("0s"), Some(std::time::Duration::ZERO));
        assert_eq!(parse_go_duration("0"), Some(std::time::Duration::ZERO));
        assert_eq!(parse_go_duration("1.5s"), msd(1500));
        assert_eq!(
            parse_go_duration("300us"),
            Some(std::time::Duration::from_micros(300))
        );
        assert_eq!(
            parse_go_duration("300µs"),
            Some(std::time::Duration::from_micros(300))
        );
        assert_eq!(
            parse_go_duration("300μs"),
            Some(std::time::Duration::from_micros(300))
        );
        assert_eq!(
            parse_go_duration("7ns"),
            Some(std::time::Duration::from_nanos(7))
        );
        assert_eq!(parse_go_duration(".5s"), msd(500));
        assert_eq!(parse_go_duration("1.s"), msd(1000));
        assert_eq!(
            parse_go_duration("2h45m"),
            Some(std::time::Duration::from_secs(9900))
        );
        assert_eq!(
            parse_go_duration("0.001ms"),
            Some(std::time::Duration::from_micros(1))
        );
        assert_eq!(
            parse_go_duration("1m0.123456789s"),
            Some(std::time::Duration::new(60, 123_456_789))
        );
        assert_eq!(parse_go_duration(" 17.28s "), msd(17280));
        for bad in [
            "",
            "s",
            "5",
            "-1s",
            "1x",
            "1s2",
            "1.5",
            ".s",
            "ms",
            "1h-2m",
            "99999999999999999999999999h",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn serving_threads_default_to_one_per_core_and_are_bounded() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let c = load("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.serving_threads, cores.min(64));
        let c = load("[server]\nserving_threads = 0\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.serving_threads, cores.min(64));
        let c = load("[server]\nserving_threads = 3\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.serving_threads, 3);
        let e = load("[server]\nserving_threads = 65\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("server.serving_threads:"), "{e}");
    }

    #[test]
    fn the_upstream_account_is_validated_and_off_by_default() {
        let c = load("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.upstream_account.organization, None);
        assert_eq!(c.upstream_account.project, None);
        assert!(!c.upstream_account.pass_organization_header);
        let c = load(
            "[upstream]\norganization = \"org-abc123\"\nproject = \"proj_xyz\"\n\
             pass_organization_header = true\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.upstream_account.organization.as_deref(),
            Some("org-abc123")
        );
        assert_eq!(c.upstream_account.project.as_deref(), Some("proj_xyz"));
        assert!(c.upstream_account.pass_organization_header);
        let long = "x".repeat(MAX_ACCOUNT_ID + 1);
        for (field, bad) in [
            ("organization", ""),
            ("organization", "org abc"),
            ("project", "proj\\u00e9"),
            ("project", "a\\nb"),
            ("project", long.as_str()),
        ] {
            let e = load(&format!("[upstream]\n{field} = \"{bad}\"\n"))
                .err()
                .unwrap_or_default();
            assert!(e.starts_with(&format!("upstream.{field}:")), "{bad:?}: {e}");
        }
    }

    #[test]
    fn empty_config_has_documented_defaults() {
        let c = load("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.upstream_url, DEFAULT_UPSTREAM_URL);
        assert_eq!(c.defaults.requests_per_minute, Some(500));
        assert_eq!(c.defaults.requests_per_day, Some(10_000));
        assert_eq!(c.defaults.tokens_per_minute, Some(150_000));
        assert_eq!(c.defaults.tokens_per_day, None);
        assert_eq!(c.defaults.warning_at, 0.8);
        assert_eq!(c.retention_days, 90);
        assert_eq!(c.account.degraded_after, 3);
        assert_eq!(c.abuse, crate::guard::Limits::default());
        assert_eq!(c.abuse.auth_failures_per_minute, 20);
        assert_eq!(c.abuse.auth_block_seconds, 60);
        assert_eq!(c.abuse.max_in_flight_per_workspace, 64);
        assert_eq!(c.abuse.max_buffered_bytes_per_workspace, 64 * 1024 * 1024);
        assert_eq!(c.abuse.max_websockets_per_workspace, 32);
        assert_eq!(c.abuse.websocket_max_message_bytes, 4096);
        assert_eq!(c.session_ttl_secs, 12 * 3600);
        assert!(!c.secure_cookies);
    }

    #[test]
    fn abuse_limits_are_read_from_server_and_checked() {
        let c = load(
            "[server]\nauth_failures_per_minute = 5\nauth_block_seconds = 30\n\
             max_in_flight_per_workspace = 0\nmax_buffered_bytes_per_workspace = 1024\n\
             max_websockets_per_workspace = 2\nwebsocket_max_message_bytes = 100\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.abuse,
            crate::guard::Limits {
                auth_failures_per_minute: 5,
                auth_block_seconds: 30,
                max_in_flight_per_workspace: 0,
                max_buffered_bytes_per_workspace: 1024,
                max_websockets_per_workspace: 2,
                websocket_max_message_bytes: 100,
            }
        );
        let e = load("[server]\nauth_block_seconds = 0\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("server.auth_block_seconds:"), "{e}");
        let e = load("[server]\nwebsocket_max_message_bytes = 10\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("server.websocket_max_message_bytes:"), "{e}");
    }

    #[test]
    fn session_settings_are_read_and_bounded() {
        let c = load("[server]\nsession_ttl_hours = 2\nsecure_cookies = true\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.session_ttl_secs, 7200);
        assert!(c.secure_cookies);
        for bad in ["0", "721"] {
            let e = load(&format!("[server]\nsession_ttl_hours = {bad}\n"))
                .err()
                .unwrap_or_default();
            assert!(e.starts_with("server.session_ttl_hours:"), "{e}");
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let text = format!(
            r#"
[upstream]
base_url = "https://api.openai.com/v1"
timeout_seconds = 600
[defaults]
requests_per_minute = 500
requests_per_day = 10000
tokens_per_minute = 150000
warning_at = 0.8
[[workspaces]]
id = "acme"
name = "Acme"
key_sha256 = ["{HASH}"]
requests_per_minute = 60
requests_per_day = 0
tokens_per_minute = 90000
tokens_per_day = 1000000
budget_usd_per_day = 20.0
budget_usd_per_month = 300.0
[prices]
"gpt-4o-mini" = {{ input = 0.15, cached_input = 0.075, output = 0.60 }}
"#
        );
        let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
        let w = &c.workspaces[0];
        assert_eq!(w.name, "Acme");
        assert_eq!(w.limits.requests_per_minute, Some(60));
        assert_eq!(w.limits.requests_per_day, None, "0 means no limit");
        assert_eq!(w.limits.budget_usd_per_month, Some(300.0));
        assert_eq!(c.prices["gpt-4o-mini"].output, Some(0.60));
    }

    #[test]
    fn omitted_workspace_limits_take_the_defaults() {
        let c = load("[defaults]\ntokens_per_day = 5\n[[workspaces]]\nid = \"a\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.workspaces[0].limits.tokens_per_day, Some(5));
        assert_eq!(c.workspaces[0].limits.requests_per_minute, Some(500));
    }

    #[test]
    fn errors_name_the_path_and_the_rule() {
        let e = load("[upstream]\nbase_urll = \"x\"\n")
            .err()
            .unwrap_or_default();
        assert!(e.contains("unknown field `base_urll`"), "{e}");
        let e = load("[[workspaces]]\nid = \"a\"\nkey_sha256 = [\"zz\"]\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("workspaces[0].key_sha256[0]: must be 64 hex"),
            "{e}"
        );
        let e = load("[defaults]\nwarning_at = 1.5\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("defaults.warning_at:"), "{e}");
        let e = load("[[workspaces]]\nid = \"a b\"\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("workspaces[0].id:"), "{e}");
        let e = load("[[workspaces]]\nid = \"a\"\n[[workspaces]]\nid = \"a\"\n")
            .err()
            .unwrap_or_default();
        assert!(e.contains("declared twice"), "{e}");
        let e = load("[server]\ntime_zone = \"Mars/Olympus\"\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("server.time_zone:"), "{e}");
        let e = load("[prices]\n\"m\" = { input = -1.0 }\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("prices.\"m\".input:"), "{e}");
    }

    #[test]
    fn policies_are_read_per_workspace_and_in_defaults_and_checked() {
        let c = load(
            r#"
[defaults]
upstream_retries = 1
reset_daily_at = "06:00"
[[workspaces]]
id = "acme"
budget_usd_per_day = 20.0
priority_shares = { optional = 0.7 }
downgrade = [{ from = "gpt-4o", to = "gpt-4o-mini", at = 0.9 }]
reset_monthly_on = 31
[[workspaces]]
id = "plain"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let acme = &c.workspaces[0].limits;
        assert_eq!(acme.share_of(Some(crate::types::Priority::Optional)), 0.7);
        assert_eq!(acme.downgrades()[0].to, "gpt-4o-mini");
        assert_eq!((acme.retries(), acme.month_starts_on()), (1, 31));
        assert_eq!(acme.day_starts_at_secs(), 6 * 3600, "from [defaults]");
        assert!(c.account_budget.is_none());
        let plain = &c.workspaces[1].limits;
        assert!(plain.downgrades().is_empty());
        assert_eq!(plain.month_starts_on(), 1);
        // The account budget's day and month follow `[defaults]`' schedule.
        let c = load("[defaults]\nreset_daily_at = \"06:00\"\nreset_monthly_on = 10\n[account]\nbudget_usd_per_day = 5.0\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let account = c.account_budget.unwrap_or_default();
        assert_eq!(
            (account.day_starts_at_secs(), account.month_starts_on()),
            (6 * 3600, 10)
        );
        for (text, path) in [
            ("[[workspaces]]\nid = \"a\"\nreset_daily_at = \"6am\"\n", "workspaces[0].reset_daily_at:"),
            ("[defaults]\nupstream_retries = 9\n", "defaults.upstream_retries:"),
            ("[[workspaces]]\nid = \"a\"\npriority_shares = { optional = 0.99 }\n", "workspaces[0].priority_shares:"),
            ("[[workspaces]]\nid = \"a\"\ndowngrade = [{ from = \"m\", to = \"m\", at = 0.5 }]\n", "workspaces[0].downgrade:"),
            ("[[workspaces]]\nid = \"a\"\nreset_monthly_on = 0\n", "workspaces[0].reset_monthly_on:"),
        ] {
            let e = load(text).err().unwrap_or_default();
            assert!(e.starts_with(path), "{text}: {e}");
        }
    }

    /// A webhook secret in the environment variable `name` (each test its own name).
    fn secret_in(name: &str, value: &str) {
        // Each test sets its own variable, so tests running at once never race on one.
        std::env::set_var(name, value);
    }

    const GOOD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn channels_alerts_and_smtp_are_read_and_checked() {
        secret_in("QS_TEST_CFG_OPS_SECRET", GOOD_SECRET);
        secret_in("QS_TEST_CFG_SMTP_PASSWORD", "pw-never-shown");
        let c = load(
            r#"
[server]
time_zone = "Europe/Rome"
[alerts]
retry_initial = "50ms"
give_up_after = "2h"
burn_min_minutes = 2
[[channels]]
id = "ops"
kind = "webhook"
url = "https://hooks.example.com/qs?token=abc"
secret_env = "QS_TEST_CFG_OPS_SECRET"
levels = ["warning", "error"]
statuses = ["quota_exceeded"]
workspaces = ["acme"]
locale = "de"
[[channels]]
id = "chat"
kind = "slack"
url = "https://hooks.slack.com/services/T0/B0/XYZ"
time_zone = "America/New_York"
[[channels]]
id = "mail"
kind = "email"
to = ["ops@example.com", "Ops Team <team@example.com>"]
[smtp]
host = "smtp.example.com"
from = "Quota Sentinel <qs@example.com>"
username = "qs"
password_env = "QS_TEST_CFG_SMTP_PASSWORD"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.alerts.retry_initial, Duration::from_millis(50));
        assert_eq!(c.alerts.give_up_after, Duration::from_secs(7200));
        assert_eq!(c.burn_min_minutes, 2);
        let smtp = c.smtp.as_ref().unwrap_or_else(|| panic!("smtp"));
        assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::StartTls));
        assert!(!format!("{c:?}").contains("pw-never-shown"));
        assert!(!format!("{c:?}").contains("MfKQ9r8"));
        let [ops, chat, mail] = &c.channels[..] else {
            panic!("three channels: {:?}", c.channels);
        };
        assert_eq!(ops.filter.levels, vec![Level::Warning, Level::Error]);
        assert_eq!(ops.filter.statuses, vec![Status::QuotaExceeded]);
        assert_eq!(ops.filter.workspaces, vec!["acme".to_string()]);
        assert_eq!(ops.locale.code(), "de");
        assert_eq!(ops.time_zone, chrono_tz::Europe::Rome, "the server's zone");
        match &ops.target {
            ChannelTarget::Webhook { secret, .. } => {
                assert_eq!(secret.key().map(|k| k.len()), Some(24));
                assert_eq!(secret.env.as_deref(), Some("QS_TEST_CFG_OPS_SECRET"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            chat.filter.levels,
            ALL_LEVELS.to_vec(),
            "all levels by default"
        );
        assert_eq!(chat.time_zone, chrono_tz::America::New_York);
        assert_eq!(chat.locale.code(), "en");
        assert!(matches!(&mail.target, ChannelTarget::Email { to } if to.len() == 2));
        let d = load("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.alerts, AlertSettings::default());
        assert_eq!(d.burn_min_minutes, 5);
        assert!(d.channels.is_empty() && d.smtp.is_none());
    }

    #[test]
    fn channel_errors_name_the_entry_the_field_and_the_rule() {
        secret_in("QS_TEST_CFG_GOOD", GOOD_SECRET);
        secret_in("QS_TEST_CFG_NOT_BASE64", "whsec_%%%not-base64-value%%%");
        let hook = |extra: &str| {
            format!(
                "[[channels]]\nid = \"ops\"\nkind = \"webhook\"\nurl = \"https://h.example/x\"\n{extra}\n"
            )
        };
        for (toml, starts, contains) in [
            (hook(""), "channels[0].secret_env:", "required"),
            (
                hook("secret_env = \"QS_TEST_CFG_UNSET_VARIABLE\""),
                "channels[0].secret_env:",
                "the environment variable QS_TEST_CFG_UNSET_VARIABLE is not set (channel `ops`)",
            ),
            (
                hook("secret_env = \"QS_TEST_CFG_NOT_BASE64\""),
                "channels[0].secret_env:",
                "base64",
            ),
            (
                hook("secret_env = \"QS_TEST_CFG_GOOD\"\nlevels = [\"critical\"]"),
                "channels[0].levels:",
                "unknown level `critical`",
            ),
            (
                hook("secret_env = \"QS_TEST_CFG_GOOD\"\nstatuses = [\"on_fire\"]"),
                "channels[0].statuses:",
                "unknown status `on_fire`",
            ),
            (
                hook("secret_env = \"QS_TEST_CFG_GOOD\"\nlocale = \"fr\""),
                "channels[0].locale:",
                "unknown locale `fr`",
            ),
            (
                hook("secret_env = \"QS_TEST_CFG_GOOD\"\ntime_zone = \"Mars/Base\""),
                "channels[0].time_zone:",
                "Mars/Base",
            ),
            (
                "[[channels]]\nid = \"s\"\nkind = \"slack\"\nurl = \"ftp://x.example/y\"\n".into(),
                "channels[0].url:",
                "http",
            ),
            (
                "[[channels]]\nid = \"s\"\nkind = \"slack\"\n".into(),
                "channels[0].url:",
                "required",
            ),
            (
                "[[channels]]\nid = \"Ops!\"\nkind = \"slack\"\nurl = \"https://x.example/\"\n".into(),
                "channels[0].id:",
                "lower-case",
            ),
            (
                "[[channels]]\nid = \"s\"\nkind = \"pager\"\n".into(),
                "channels[0].kind:",
                "unknown kind `pager`",
            ),
            (
                "[[channels]]\nid = \"m\"\nkind = \"email\"\nto = [\"a@example.com\"]\n".into(),
                "channels[0].kind:",
                "[smtp]",
            ),
            (
                "[smtp]\nhost = \"127.0.0.1\"\nfrom = \"qs@example.com\"\ntls = \"none\"\n\
                 [[channels]]\nid = \"m\"\nkind = \"email\"\n"
                    .into(),
                "channels[0].to:",
                "at least one",
            ),
            (
                "[smtp]\nhost = \"127.0.0.1\"\nfrom = \"qs@example.com\"\ntls = \"none\"\n\
                 [[channels]]\nid = \"m\"\nkind = \"email\"\nto = [\"not an address\"]\n"
                    .into(),
                "channels[0].to:",
                "not an address",
            ),
            (
                "[[channels]]\nid = \"s\"\nkind = \"slack\"\nurl = \"https://x.example/\"\n\
                 [[channels]]\nid = \"s\"\nkind = \"slack\"\nurl = \"https://y.example/\"\n"
                    .into(),
                "channels[1].id:",
                "declared twice",
            ),
            (
                "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"qs@example.com\"\ntls = \"none\"\n".into(),
                "smtp.tls:",
                "loopback",
            ),
            (
                "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"qs@example.com\"\npassword_env = \"QS_TEST_CFG_UNSET_PW\"\n".into(),
                "smtp.password_env:",
                "QS_TEST_CFG_UNSET_PW is not set",
            ),
            (
                "[alerts]\nretry_initial = \"soon\"\n".into(),
                "alerts.retry_initial:",
                "soon",
            ),
            (
                "[alerts]\ngive_up_after = \"0s\"\n".into(),
                "alerts.give_up_after:",
                "positive",
            ),
            (
                "[alerts]\nburn_min_minutes = 0\n".into(),
                "alerts.burn_min_minutes:",
                "from 1 to 15",
            ),
            (
                "[alerts]\nburn_min_minutes = 16\n".into(),
                "alerts.burn_min_minutes:",
                "(got 16)",
            ),
            (
                "[alerts]\nburn_min_minutes = -3\n".into(),
                "alerts.burn_min_minutes:",
                "from 1 to 15",
            ),
        ] {
            let e = load(&toml).err().unwrap_or_default();
            assert!(e.starts_with(starts) && e.contains(contains), "{toml}\n→ {e}");
        }
        // The secret's value is never in an error.
        let e = load(&hook("secret_env = \"QS_TEST_CFG_NOT_BASE64\""))
            .err()
            .unwrap_or_default();
        assert!(!e.contains("not-base64-value"), "{e}");
    }

    #[test]
    fn shown_urls_hide_slack_paths_and_queries() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T0/B0/XYZ", true),
            "https://hooks.slack.com/***"
        );
        assert_eq!(
            shown_url("https://h.example:8443/qs?token=abc", false),
            "https://h.example:8443/qs?***"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:9/hook", false),
            "http://127.0.0.1:9/hook"
        );
    }

    #[test]
    fn overrides_beat_the_file() {
        let raw = RawConfig::parse(
            "[server]\nlisten = \"127.0.0.1:1\"\n[defaults]\nrequests_per_minute = 7\n",
        )
        .unwrap_or_default();
        let c = raw
            .validate(Overrides {
                listen: Some("127.0.0.1:2".into()),
                limits: LimitFields {
                    requests_per_minute: Some(9),
                    ..LimitFields::default()
                },
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.defaults.requests_per_minute, Some(9));
    }
}
