//! The delivery worker: claims due outbox rows (a lease, so no other worker or process sends
//! them meanwhile), sends each through its channel with a per-attempt timeout and bounded
//! concurrency, and records the attempt: delivered, retried after an exponential backoff
//! with full jitter (from `[alerts] retry_initial`, capped at an hour), or given up (a
//! permanent refusal, or `give_up_after` past the first attempt).
//!
//! It wakes when the store's writer commits new outbox rows, and polls every second for
//! retries that fall due and rows other processes left. On shutdown it claims nothing more and
//! waits for the attempts in flight (each bounded by [`ATTEMPT_TIMEOUT`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::channels::{webhook_id, Channels};
use super::email::Mailer;
use super::render::Rendered;
use super::AlertsError;
use crate::config::{AlertSettings, ChannelTarget, SmtpConfig, MAX_RETRY_DELAY};
use crate::i18n::render_status;
use crate::model::StatusView;
use crate::store::{Attempt, OutboxRow, Store};
use crate::types::DeliveryOutcome;

/// The workspace status a webhook carries, by workspace id (`server` wires it to the registry;
/// `alerts` must not use the registry itself).
pub type StatusLookup = Arc<dyn Fn(&str) -> Option<StatusView> + Send + Sync>;

/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed row stays leased to its worker: well past [`ATTEMPT_TIMEOUT`], so a lease
/// ends only when its worker died.
pub const LEASE: Duration = Duration::from_secs(60);
/// Attempts in flight at once, per process.
const CONCURRENCY: usize = 8;
/// How often due rows are looked for without a wake-up.
const POLL: Duration = Duration::from_secs(1);
/// The most characters of a reply or error kept in the delivery log.
const DETAIL_MAX_CHARS: usize = 300;

/// What an attempt's answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    Retry,
    GiveUp,
}

/// One attempt's result, before the retry rules apply.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sent {
    pub verdict: Verdict,
    pub http_status: Option<u16>,
    pub smtp_code: Option<u16>,
    pub detail: Option<String>,
}

impl Sent {
    pub(crate) fn retry(detail: impl AsRef<str>) -> Sent {
        Sent {
            verdict: Verdict::Retry,
            http_status: None,
            smtp_code: None,
            detail: Some(truncate(detail.as_ref())),
        }
    }

    pub(crate) fn give_up(detail: impl AsRef<str>) -> Sent {
        Sent {
            verdict: Verdict::GiveUp,
            ..Sent::retry(detail)
        }
    }
}

/// `text` cut to [`DETAIL_MAX_CHARS`] characters.
pub(crate) fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(DETAIL_MAX_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The longest wait before attempt `next` (2 for the first retry): `initial` doubled for
/// each retry before it, capped at [`MAX_RETRY_DELAY`]. The wait itself is drawn uniformly
/// from zero to this (full jitter), so retries of many deliveries spread out.
pub(crate) fn backoff_cap(initial: Duration, next: u32) -> Duration {
    let doublings = next.saturating_sub(2).min(32);
    initial
        .checked_mul(1u32 << doublings.min(31))
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

/// What to record for attempt `number` of a row first tried at `first`: the outcome and, for a
/// retry, when it is due. `jitter` draws a wait from zero to the cap it is given.
pub(crate) fn decide(
    verdict: Verdict,
    number: u32,
    first: DateTime<Utc>,
    at: DateTime<Utc>,
    settings: &AlertSettings,
    jitter: impl FnOnce(Duration) -> Duration,
) -> (DeliveryOutcome, Option<DateTime<Utc>>) {
    match verdict {
        Verdict::Delivered => (DeliveryOutcome::Delivered, None),
        Verdict::GiveUp => (DeliveryOutcome::GaveUp, None),
        Verdict::Retry => {
            let give_up_at = first
                + chrono::Duration::from_std(settings.give_up_after)
                    .unwrap_or(chrono::TimeDelta::MAX);
            if at >= give_up_at {
                return (DeliveryOutcome::GaveUp, None);
            }
            let wait = jitter(backoff_cap(settings.retry_initial, number + 1));
            let due = at + chrono::Duration::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
            // The last attempt is made when the time is up, not after it.
            (DeliveryOutcome::WillRetry, Some(due.min(give_up_at)))
        }
    }
}

/// A uniform draw from zero to `cap`.
fn full_jitter(cap: Duration) -> Duration {
    let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

/// What every attempt needs.
struct Ctx {
    store: Store,
    channels: Arc<Channels>,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    status: StatusLookup,
    settings: AlertSettings,
    id: String,
}

/// The delivery worker of one process (see the module docs).
pub struct Worker {
    ctx: Arc<Ctx>,
}

impl Worker {
    pub fn new(
        store: Store,
        channels: Arc<Channels>,
        smtp: Option<&SmtpConfig>,
        status: StatusLookup,
        settings: AlertSettings,
    ) -> Result<Worker, AlertsError> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("quota-sentinel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlertsError::Client(e.to_string()))?;
        let mailer = smtp.map(Mailer::new).transpose()?;
        Ok(Worker {
            ctx: Arc::new(Ctx {
                store,
                channels,
                http,
                mailer,
                status,
                settings,
                id: format!("worker-{}", uuid::Uuid::now_v7()),
            }),
        })
    }

    /// The id this worker leases rows under (`deliveries.worker`).
    pub fn id(&self) -> &str {
        &self.ctx.id
    }

    /// Delivers until `stop` is cancelled, then waits for the attempts in flight.
    pub async fn run(self, stop: CancellationToken) {
        let ctx = self.ctx;
        let ready = ctx.store.outbox_ready();
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut attempts = JoinSet::new();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::TimeDelta::MAX);
        while !stop.is_cancelled() {
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                match ctx.store.claim_due(&ctx.id, Utc::now(), lease, free).await {
                    Ok(rows) => {
                        claimed = rows.len();
                        for row in rows {
                            let Ok(slot) = slots.clone().try_acquire_owned() else {
                                break;
                            };
                            let ctx = ctx.clone();
                            attempts.spawn(async move {
                                attempt(&ctx, row).await;
                                drop(slot);
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim alert deliveries; will retry")
                    }
                }
            }
            if free > 0 && claimed == free {
                // There may be more due right now.
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = ready.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
            }
        }
        while attempts.join_next().await.is_some() {}
    }
}

/// One attempt of `row`: send, decide, record.
async fn attempt(ctx: &Ctx, row: OutboxRow) {
    let started = Instant::now();
    let at = Utc::now();
    let sent = match ctx.channels.get(&row.channel) {
        None => Sent::give_up("the channel no longer exists"),
        Some(ch) => {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, send(ctx, &ch.config, &row)).await {
                Ok(s) => s,
                Err(_) => Sent::retry(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
            }
        }
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let number = row.attempts + 1;
    let first = row.first_attempt.unwrap_or(at);
    let (outcome, next_due) = decide(sent.verdict, number, first, at, &ctx.settings, full_jitter);
    let record = Attempt {
        outbox_id: row.id,
        worker: ctx.id.clone(),
        number,
        at,
        first_attempt: first,
        outcome,
        next_due,
        http_status: sent.http_status,
        smtp_code: sent.smtp_code,
        detail: sent.detail,
        latency_ms,
    };
    let outcome_name = match outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::WillRetry => "will_retry",
        DeliveryOutcome::GaveUp => "gave_up",
    };
    match outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(channel = %row.channel, notification = %row.notification.id, attempt = number, latency_ms, "alert delivered")
        }
        _ => {
            tracing::warn!(channel = %row.channel, notification = %row.notification.id, attempt = number, outcome = outcome_name, http_status = record.http_status, smtp_code = record.smtp_code, "alert not delivered")
        }
    }
    match ctx.store.record_attempt(&record).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(channel = %row.channel, notification = %row.notification.id, "alert attempt not recorded: the row is no longer leased to this worker (its channel was deleted, or the lease ran out)")
        }
        Err(e) => {
            tracing::error!(channel = %row.channel, notification = %row.notification.id, error = %e, "alert attempt not recorded; it will be retried when its lease ends")
        }
    }
}

/// Renders the row's notification for the channel and sends it.
async fn send(ctx: &Ctx, ch: &crate::config::ChannelConfig, row: &OutboxRow) -> Sent {
    let rendered = Rendered::new(&row.notification, ch);
    match &ch.target {
        ChannelTarget::Webhook { url, secret } => {
            let Some(key) = secret.key() else {
                return Sent::give_up("the signing secret does not decode");
            };
            let status = (ctx.status)(&row.notification.workspace)
                .map(|v| render_status(&v, ch.locale, ch.time_zone));
            let id = webhook_id(&row.notification.id, &ch.id);
            super::webhook::send(&ctx.http, url, &key, &id, &rendered, status.as_ref()).await
        }
        ChannelTarget::Slack { url } => super::slack::send(&ctx.http, url, &rendered).await,
        ChannelTarget::Email { to } => match &ctx.mailer {
            Some(m) => m.send(to, &rendered).await,
            None => Sent::give_up("no [smtp] is configured"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AlertSettings {
        AlertSettings {
            retry_initial: Duration::from_secs(5),
            give_up_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_backoff_doubles_from_the_initial_delay_up_to_an_hour() {
        let i = Duration::from_secs(5);
        assert_eq!(backoff_cap(i, 2), Duration::from_secs(5));
        assert_eq!(backoff_cap(i, 3), Duration::from_secs(10));
        assert_eq!(backoff_cap(i, 4), Duration::from_secs(20));
        assert_eq!(backoff_cap(i, 12), Duration::from_secs(3600));
        assert_eq!(backoff_cap(i, u32::MAX), Duration::from_secs(3600));
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_millis(50)) <= Duration::from_millis(50));
        }
    }

    #[test]
    fn retries_are_scheduled_until_the_give_up_time_then_given_up() {
        let first = Utc::now();
        let s = settings();
        // The jitter is given the cap of the next attempt; here it takes all of it.
        let (o, due) = decide(Verdict::Retry, 1, first, first, &s, |cap| cap);
        assert_eq!(o, DeliveryOutcome::WillRetry);
        assert_eq!(due, Some(first + chrono::Duration::seconds(5)));
        let at = first + chrono::Duration::seconds(60);
        let (o, due) = decide(Verdict::Retry, 3, first, at, &s, |cap| cap);
        assert_eq!(o, DeliveryOutcome::WillRetry);
        assert_eq!(due, Some(at + chrono::Duration::seconds(20)));
        // Near the end the retry is due at the give-up time, and after it nothing is.
        let late = first + chrono::Duration::seconds(3590);
        let (_, due) = decide(Verdict::Retry, 9, first, late, &s, |cap| cap);
        assert_eq!(due, Some(first + chrono::Duration::seconds(3600)));
        let over = first + chrono::Duration::seconds(3600);
        assert_eq!(
            decide(Verdict::Retry, 10, first, over, &s, |cap| cap),
            (DeliveryOutcome::GaveUp, None)
        );
        assert_eq!(
            decide(Verdict::GiveUp, 1, first, first, &s, |cap| cap),
            (DeliveryOutcome::GaveUp, None)
        );
        assert_eq!(
            decide(Verdict::Delivered, 4, first, over, &s, |cap| cap),
            (DeliveryOutcome::Delivered, None)
        );
    }

    #[test]
    fn details_are_cut() {
        let long = "é".repeat(1000);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), DETAIL_MAX_CHARS + 1);
        assert_eq!(truncate("short"), "short");
    }
}
