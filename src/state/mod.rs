//! Shared state: the counters and reservations several gateway instances share through Redis.
//!
//! Owns: the Redis connection, the server-side scripts (`admit.lua`, `settle.lua`, `peek.lua`,
//! `reset.lua`, each after `common.lua`, and `seed.lua`), run through one helper
//! (`RedisState::run`: a workspace's four keys, one round trip), the mapping of their replies
//! to [`SharedCounters`], the pub/sub announcements between instances (status changes, upstream
//! observations, admin resets) and the claims that let one instance store a notice. One script
//! call per admission (every window checked and the call reserved, all or nothing) and one per
//! settlement (idempotent by reservation id); a reservation expires on its own, in the
//! scripts, when the instance holding it never settles it; a cold workspace (never seeded, or
//! Redis flushed) is seeded by setting its counters from the ledger, never by adding. Whether
//! Redis answers is tracked for `/healthz` and the status.
//! Must not: decide a limit (the caps come from `crate::quota`), hold a workspace's lock
//! across a call (the caller reads caps, awaits, then mirrors), or log the URL (it may hold a
//! password).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use crate::quota::{Demand, SharedCounters, UpstreamObservation};
use crate::types::LimitKind;
use crate::types::UpstreamHeadroom;

/// Why shared state could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("redis is unreachable: {0}")]
    Unavailable(#[from] redis::RedisError),
    #[error("redis answered a script with an unexpected reply: {0}")]
    Protocol(&'static str),
}

/// What a shared admission decided, with the counters just before the call.
#[derive(Debug, PartialEq)]
pub enum Admission {
    /// Reserved under `id` (the counters' version already counts the reservation).
    Reserved(SharedCounters),
    /// Refused at the limit of that index (`LimitKind as usize`).
    Refused(SharedCounters, Option<LimitKind>),
    /// The workspace has no shared counters yet: seed them from the ledger and ask again.
    Cold,
}

/// One admission's question: the call's demand against the caps, in the periods of `now`.
#[derive(Clone, Copy, Debug)]
pub struct AdmitArgs<'a> {
    pub workspace: &'a str,
    pub id: u64,
    pub now_sec: i64,
    pub day: i64,
    pub month: i64,
    pub demand: Demand,
    pub caps: [Option<u64>; LimitKind::COUNT],
}

/// One settlement: what the call used, in the periods of `now`.
#[derive(Clone, Copy, Debug)]
pub struct SettleArgs<'a> {
    pub workspace: &'a str,
    pub id: u64,
    pub admitted_sec: i64,
    pub now_sec: i64,
    pub day: i64,
    pub month: i64,
    pub tokens: u64,
    pub cost_nanos: u64,
}

const COMMON: &str = include_str!("common.lua");

/// Seconds a settled reservation's id is remembered, so that a settlement retried (its answer
/// lost) counts nothing twice: longer than the settlement's retries (`proxy::shared` retries
/// for 30 s) with room for the instances' clocks. Not the reservation's hold (the upstream
/// timeout and 10 s: 610 s by default): at 1,000 calls a second, one workspace would keep
/// 610,000 settled ids in Redis instead of 120,000.
pub const SETTLED_KEPT_SECS: i64 = 120;

/// The pub/sub channel of status announcements: `"<instance> <workspace>"`.
const STATUS_CHANNEL: &str = "qs:status";
/// The pub/sub channel of upstream observations: `"<instance> <observation>"`
/// ([`encode_observation`]).
const UPSTREAM_CHANNEL: &str = "qs:upstream";
/// The pub/sub channel of admin resets: `"<instance> <workspace>"`.
const RESET_CHANNEL: &str = "qs:reset";

/// What another instance announced.
#[derive(Debug, PartialEq)]
pub enum Heard {
    /// This workspace's status changed there: read its counters again.
    Status(String),
    /// The upstream (the OpenAI account every instance calls) answered this there.
    Upstream(UpstreamObservation),
    /// An admin reset this workspace there.
    Reset(String),
}

/// An upstream observation as announced: `q` (quota exhausted), `f` (failure),
/// `r <seconds|-> <headroom JSON|->` (rate limited), `s <headroom JSON>` (a success's headroom).
pub fn encode_observation(o: &UpstreamObservation) -> Option<String> {
    let headroom = |h: &Option<UpstreamHeadroom>| {
        h.as_ref()
            .and_then(|h| serde_json::to_string(h).ok())
            .unwrap_or_else(|| "-".into())
    };
    Some(match o {
        UpstreamObservation::QuotaExhausted => "q".into(),
        UpstreamObservation::Failure => "f".into(),
        UpstreamObservation::RateLimited {
            retry_after_secs,
            headroom: h,
        } => format!(
            "r {} {}",
            retry_after_secs.map_or_else(|| "-".into(), |s| s.to_string()),
            headroom(h)
        ),
        UpstreamObservation::Success { headroom: h } => {
            format!("s {}", headroom(&Some(h.clone()?)))
        }
    })
}

/// The inverse of [`encode_observation`]; `None` for anything else.
pub fn decode_observation(text: &str) -> Option<UpstreamObservation> {
    let headroom = |t: &str| -> Option<Option<UpstreamHeadroom>> {
        if t == "-" {
            Some(None)
        } else {
            serde_json::from_str(t).ok().map(Some)
        }
    };
    let (kind, rest) = text.split_once(' ').unwrap_or((text, ""));
    match kind {
        "q" => Some(UpstreamObservation::QuotaExhausted),
        "f" => Some(UpstreamObservation::Failure),
        "r" => {
            let (secs, h) = rest.split_once(' ')?;
            Some(UpstreamObservation::RateLimited {
                retry_after_secs: if secs == "-" {
                    None
                } else {
                    Some(secs.parse().ok()?)
                },
                headroom: headroom(h)?,
            })
        }
        "s" => Some(UpstreamObservation::Success {
            headroom: Some(headroom(rest)??),
        }),
        _ => None,
    }
}

/// The Redis side of shared state. Cheap to clone the connection out of; one per process.
pub struct RedisState {
    client: redis::Client,
    conn: ConnectionManager,
    admit: Script,
    settle: Script,
    seed: Script,
    peek: Script,
    reset: Script,
    /// This process's prefix of reservation ids (random), so ids of instances never collide.
    instance: u64,
    next: AtomicU64,
    /// Seconds a reservation lives without a settlement (the upstream timeout and 10 s).
    hold_secs: i64,
    reachable: AtomicBool,
    /// The last second a success's headroom was announced.
    headroom_told: std::sync::atomic::AtomicI64,
    /// What calls of workspaces with USD budgets get while Redis does not answer.
    fail_open: bool,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("reachable", &self.is_reachable())
            .finish_non_exhaustive()
    }
}

fn keys(workspace: &str) -> [String; 4] {
    ["c", "m", "r", "x"].map(|k| format!("qs:{{{workspace}}}:{k}"))
}

impl RedisState {
    /// Connects to `url` (waiting at most a few seconds): a Redis that does not answer at
    /// start is an error, so that a wrong URL is seen at once. Later outages are survived: the
    /// connection reconnects by itself. `hold_secs`: how long a reservation lives unsettled.
    pub async fn connect(url: &str, hold_secs: u64, fail_open: bool) -> Result<Self, StateError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.clone().get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| StateError::Protocol("no answer from redis within 5 s"))??;
        let state = RedisState {
            client,
            conn,
            admit: Script::new(&format!("{COMMON}\n{}", include_str!("admit.lua"))),
            settle: Script::new(&format!("{COMMON}\n{}", include_str!("settle.lua"))),
            seed: Script::new(include_str!("seed.lua")),
            peek: Script::new(&format!("{COMMON}\n{}", include_str!("peek.lua"))),
            reset: Script::new(&format!("{COMMON}\n{}", include_str!("reset.lua"))),
            instance: rand::random::<u64>(),
            next: AtomicU64::new(1),
            hold_secs: i64::try_from(hold_secs).unwrap_or(i64::MAX / 4),
            reachable: AtomicBool::new(true),
            headroom_told: std::sync::atomic::AtomicI64::new(0),
            fail_open,
        };
        state.ping().await?;
        Ok(state)
    }

    /// Whether the last call to Redis was answered.
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// `[redis] on_failure = "open"`.
    pub fn fails_open(&self) -> bool {
        self.fail_open
    }

    /// A new reservation number; with this process's random prefix ([`RedisState::id`]) it is
    /// unique across instances.
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The reservation id of number `n`, as the scripts see it.
    fn id(&self, n: u64) -> String {
        format!("{:x}-{n}", self.instance)
    }

    fn note<T>(&self, r: Result<T, StateError>) -> Result<T, StateError> {
        self.reachable.store(
            !matches!(r, Err(StateError::Unavailable(_))),
            Ordering::Relaxed,
        );
        r
    }

    /// Runs `script` on `workspace`'s four keys (`keys`) with the arguments `args` puts, in one
    /// round trip (EVALSHA, loading the script first where Redis lacks it), noting whether Redis
    /// answered.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        workspace: &str,
        args: impl FnOnce(&mut redis::ScriptInvocation<'_>),
    ) -> Result<T, StateError> {
        let mut conn = self.conn.clone();
        let mut inv = script.prepare_invoke();
        for k in keys(workspace) {
            inv.key(k);
        }
        args(&mut inv);
        let r = inv.invoke_async::<T>(&mut conn).await;
        self.note(r.map_err(StateError::from))
    }

    /// `PING`: whether Redis answers now (health checks; also refreshes reachability).
    pub async fn ping(&self) -> Result<(), StateError> {
        let mut conn = self.conn.clone();
        let r: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        self.note(r.map(|_| ()).map_err(StateError::from))
    }

    /// Admits one call (one script call, one round trip).
    pub async fn admit(&self, a: &AdmitArgs<'_>) -> Result<Admission, StateError> {
        let reply: Vec<i64> = self
            .run(&self.admit, a.workspace, |inv| {
                inv.arg(a.now_sec)
                    .arg(a.day)
                    .arg(a.month)
                    .arg(self.id(a.id))
                    .arg(a.now_sec.saturating_add(self.hold_secs))
                    .arg(a.demand.tokens)
                    .arg(a.demand.cost_nanos);
                for cap in a.caps {
                    inv.arg(cap.map_or(-1, |c| i64::try_from(c).unwrap_or(i64::MAX)));
                }
            })
            .await?;
        match reply.first() {
            Some(1) => Ok(Admission::Reserved(counters(&reply)?)),
            Some(2) => {
                let kind = reply
                    .get(11)
                    .and_then(|&k| usize::try_from(k).ok())
                    .and_then(|k| LimitKind::ALL.get(k).copied());
                Ok(Admission::Refused(counters(&reply)?, kind))
            }
            Some(3) => Ok(Admission::Cold),
            _ => Err(StateError::Protocol("admit")),
        }
    }

    /// Settles one call (one script call); `None` when the workspace is cold (nothing to take
    /// back: the ledger will count the call). Idempotent by id.
    pub async fn settle(&self, a: &SettleArgs<'_>) -> Result<Option<SharedCounters>, StateError> {
        let reply: Vec<i64> = self
            .run(&self.settle, a.workspace, |inv| {
                inv.arg(a.now_sec)
                    .arg(a.day)
                    .arg(a.month)
                    .arg(self.id(a.id))
                    .arg(a.tokens)
                    .arg(a.cost_nanos)
                    .arg(a.now_sec.saturating_add(SETTLED_KEPT_SECS))
                    .arg(a.admitted_sec);
            })
            .await?;
        counters_or_cold(&reply, "settle")
    }

    /// Admin reset of `workspace`'s shared counters (a cold one is seeded empty, so that the
    /// ledger does not bring the usage back); announced to the other instances.
    pub async fn reset(
        &self,
        workspace: &str,
        now_sec: i64,
        day: i64,
        month: i64,
    ) -> Result<(), StateError> {
        let reply: Vec<i64> = self
            .run(&self.reset, workspace, |inv| {
                inv.arg(now_sec).arg(day).arg(month);
            })
            .await?;
        if reply.first() == Some(&3) {
            let empty = SharedCounters {
                day,
                month,
                ..SharedCounters::default()
            };
            self.seed(workspace, &empty, now_sec).await?;
        }
        self.publish(RESET_CHANNEL, workspace).await
    }

    /// The workspace's shared counters now (releasing expired reservations); `None` when cold.
    pub async fn peek(
        &self,
        workspace: &str,
        now_sec: i64,
        day: i64,
        month: i64,
    ) -> Result<Option<SharedCounters>, StateError> {
        let reply: Vec<i64> = self
            .run(&self.peek, workspace, |inv| {
                inv.arg(now_sec).arg(day).arg(month);
            })
            .await?;
        counters_or_cold(&reply, "peek")
    }

    /// Whether this instance stores the status notice `key` (of status `status`) of
    /// `workspace`: the first instance to ask in a minute does; the others raised the same
    /// notice for the same change. Redis unreachable: true (twice rather than never).
    pub async fn claim_notice(&self, workspace: &str, status: &str, key: &str) -> bool {
        let mut conn = self.conn.clone();
        let r: Result<Option<String>, _> = redis::cmd("SET")
            .arg(format!("qs:{{{workspace}}}:told:{status}:{key}"))
            .arg(format!("{:x}", self.instance))
            .arg("NX")
            .arg("EX")
            .arg(60)
            .query_async(&mut conn)
            .await;
        self.note(r.map_err(StateError::from))
            .map_or(true, |set| set.is_some())
    }

    /// `PUBLISH` on `channel` of `"<instance> <text>"`.
    async fn publish(&self, channel: &str, text: &str) -> Result<(), StateError> {
        let mut conn = self.conn.clone();
        let r: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(format!("{:x} {text}", self.instance))
            .query_async(&mut conn)
            .await;
        self.note(r.map(|_| ()).map_err(StateError::from))
    }

    /// Tells the other instances that `workspace`'s status changed here (they read its
    /// counters again: [`RedisState::listen`]).
    pub async fn announce(&self, workspace: &str) -> Result<(), StateError> {
        self.publish(STATUS_CHANNEL, workspace).await
    }

    /// Whether `o` is worth announcing at `now_sec`: failures, rate limits and an exhausted
    /// quota always; a success only for its headroom, at most once a second (the first caller
    /// of a second gets true).
    pub fn worth_announcing(&self, o: &UpstreamObservation, now_sec: i64) -> bool {
        match o {
            UpstreamObservation::Success { headroom: None } => false,
            UpstreamObservation::Success { headroom: Some(_) } => {
                let last = self.headroom_told.load(Ordering::Relaxed);
                last < now_sec
                    && self
                        .headroom_told
                        .compare_exchange(last, now_sec, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
            }
            _ => true,
        }
    }

    /// Tells the other instances what the upstream answered here (see
    /// [`RedisState::worth_announcing`]).
    pub async fn announce_upstream(&self, o: &UpstreamObservation) {
        let Some(text) = encode_observation(o) else {
            return;
        };
        let _ = self.publish(UPSTREAM_CHANNEL, &text).await;
    }

    /// Hands `tx` what other instances announce ([`Heard`]), until `stop`; resubscribes
    /// (every second) after a lost connection.
    pub async fn listen(
        &self,
        tx: tokio::sync::mpsc::Sender<Heard>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        use futures_util::StreamExt;
        let own = format!("{:x} ", self.instance);
        loop {
            let sub = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub
                    .subscribe(&[STATUS_CHANNEL, UPSTREAM_CHANNEL, RESET_CHANNEL])
                    .await?;
                let mut messages = pubsub.on_message();
                while let Some(m) = messages.next().await {
                    let Ok(text) = m.get_payload::<String>() else {
                        continue;
                    };
                    // This instance's own announcements come back too: skipped.
                    if text.starts_with(&own) {
                        continue;
                    }
                    let Some((_, rest)) = text.split_once(' ') else {
                        continue;
                    };
                    let heard = match m.get_channel_name() {
                        STATUS_CHANNEL => Some(Heard::Status(rest.to_string())),
                        RESET_CHANNEL => Some(Heard::Reset(rest.to_string())),
                        _ => decode_observation(rest).map(Heard::Upstream),
                    };
                    if let Some(h) = heard {
                        // Full: the refresher is behind; the next announcement catches up.
                        let _ = tx.try_send(h);
                    }
                }
                Ok::<(), redis::RedisError>(())
            };
            tokio::select! {
                r = sub => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "status announcements: resubscribing");
                    }
                }
                () = stop.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Seeds a cold workspace's counters with `s` (a meter rebuilt from the ledger) at
    /// `now_sec`: sets them, unless another instance did first. True when this call seeded.
    pub async fn seed(
        &self,
        workspace: &str,
        s: &SharedCounters,
        now_sec: i64,
    ) -> Result<bool, StateError> {
        let seeded: i64 = self
            .run(&self.seed, workspace, |inv| {
                inv.arg(now_sec)
                    .arg(s.day)
                    .arg(s.day_requests)
                    .arg(s.day_tokens)
                    .arg(s.day_cost_nanos)
                    .arg(s.month)
                    .arg(s.month_cost_nanos);
                for &(sec, r, t) in &s.minute {
                    inv.arg(sec).arg(r).arg(t);
                }
            })
            .await?;
        Ok(seeded == 1)
    }
}

/// A settlement's or a peek's reply: the counters (tag 4), or `None` when the workspace is cold
/// (tag 3).
fn counters_or_cold(
    reply: &[i64],
    script: &'static str,
) -> Result<Option<SharedCounters>, StateError> {
    match reply.first() {
        Some(4) => Ok(Some(counters(reply)?)),
        Some(3) => Ok(None),
        _ => Err(StateError::Protocol(script)),
    }
}

/// The counters of a script's reply (see `common.lua`'s `reply`).
fn counters(reply: &[i64]) -> Result<SharedCounters, StateError> {
    let i = |k: usize| -> Result<i64, StateError> {
        reply
            .get(k)
            .copied()
            .ok_or(StateError::Protocol("a short reply"))
    };
    let u = |k: usize| i(k).map(|v| v.max(0) as u64);
    let rest = reply.get(12..).unwrap_or_default();
    if rest.len() % 3 != 0 {
        return Err(StateError::Protocol("a torn minute"));
    }
    Ok(SharedCounters {
        version: u(1)?,
        day: i(2)?,
        day_requests: u(3)?,
        day_tokens: u(4)?,
        day_cost_nanos: u(5)?,
        day_held_tokens: u(6)?,
        day_held_cost_nanos: u(7)?,
        month: i(8)?,
        month_cost_nanos: u(9)?,
        month_held_cost_nanos: u(10)?,
        minute: rest
            .chunks_exact(3)
            .map(|c| (c[0], c[1].max(0) as u64, c[2].max(0) as u64))
            .collect(),
    })
}

#[cfg(test)]
mod tests;
