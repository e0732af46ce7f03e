//! Settlement: once a call's answer has ended (or the upstream failed, or the client left), its
//! usage is read, priced, settled against the reservation, fed to the status engine as an
//! upstream observation, counted in the metrics and written to the ledger.
//!
//! Owns: [`Settlement`] (what a call carries until then), the mapping of an upstream outcome to
//! an [`UpstreamObservation`] and the workspace's last error (of the answer that ends the call,
//! and of each attempt the gateway retries), the run dedup, the token estimate
//! of a stream that ended without usage (off the async threads), the deferral of a JSON body's
//! settlement until the answer is flushed ([`after_flush`]).
//! Must not: decide policy (the registry settles), block an async thread, or lose a call (every
//! path ends in `Settlement::record`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

use crate::model::CallUsage;
use crate::proxy::answer::End;
use crate::proxy::family::FamilyKind;
use crate::proxy::header_policy::X_REQUEST_ID;
use crate::proxy::request::Seen;
use crate::proxy::shared::{self, SharedCall};
use crate::proxy::signals::{self, UpstreamError};
use crate::proxy::sse::StreamOutcome;
use crate::proxy::tags::Tags;
use crate::proxy::{estimate, meters, usage, Proxy};
use crate::quota::{Actual, Reservation, UpstreamObservation};
use crate::registry::Caller;
use crate::store::{LedgerRow, Write};
use crate::types::{ArgValue, UpstreamHeadroom};

thread_local! {
    /// The settlements this thread deferred ([`after_flush`]), drained by [`drain_deferred`].
    static DEFERRED: tokio_util::task::TaskTracker = tokio_util::task::TaskTracker::new();
}

/// Runs `settle` once the answer's last bytes are written. hyper stops polling a body when its
/// `Content-Length` is reached and drops it before flushing the connection, so a settlement in
/// the body (reading the usage, pricing, the counters, metrics, the ledger row) was on every
/// answer's latency. Spawned on the serving thread's runtime, it runs as soon as the
/// connection's task has written the answer and yielded; admission stays exact meanwhile (the
/// call's reservation counts until it settles). Tracked by the proxy's `settling` (graceful
/// shutdown waits for it) and by the thread's [`DEFERRED`], which the serving thread drains
/// before its runtime ends, so no call goes unrecorded.
pub(super) fn after_flush(proxy: &Proxy, settle: impl FnOnce() + Send + 'static) {
    if tokio::runtime::Handle::try_current().is_err() {
        return settle();
    }
    let local = DEFERRED.with(|t| t.track_future(async move { settle() }));
    tokio::spawn(proxy.settling.track_future(local));
}

/// Waits until every settlement this thread deferred has run: a serving thread calls it after
/// it stops serving, while its runtime still runs tasks.
pub async fn drain_deferred() {
    let tracker = DEFERRED.with(Clone::clone);
    tracker.close();
    tracker.wait().await;
}

/// A workspace's last error: a Fluent key and its arguments.
type ErrorNote = (&'static str, BTreeMap<String, ArgValue>);

/// Who made a call and what it is, from its way in.
pub(super) struct Call {
    pub caller: Caller,
    pub reservation: Reservation,
    /// The call's reservation in shared state, if Redis admitted it.
    pub shared: Option<SharedCall>,
    pub family: &'static str,
    /// The path of an [`OTHER_FAMILY`](crate::proxy::family::OTHER_FAMILY) call (kept in its
    /// ledger row only).
    pub other_path: Option<Arc<str>>,
    pub kind: FamilyKind,
    pub tags: Tags,
    /// The caller's `X-Client-Request-Id`, else one minted here; answered as
    /// `x-quota-request-id` and kept in the ledger row.
    pub request_id: HeaderValue,
    /// A GET (of a stored chat completion or response, it returns its usage again).
    pub is_get: bool,
    /// The model the caller asked for, when a downgrade rule sent the call for another one
    /// (answered in `x-quota-model-downgraded-from`, kept in the ledger row).
    pub requested_model: Option<Arc<str>>,
    /// How many times the gateway sent the call again after an upstream
    /// `rate_limit_exceeded` (`x-quota-upstream-retries`, kept in the ledger row).
    pub upstream_retries: u32,
    pub started: Instant,
    /// The call's place in flight and its buffered bytes: given back when the call is
    /// recorded (the body ended or the client left).
    pub _slot: crate::guard::CallSlot,
}

/// What the upstream's head said.
#[derive(Default)]
struct Answer {
    status: u16,
    /// The head of an error answer (its retry headers classify it).
    error_headers: Option<HeaderMap>,
    headroom: Option<UpstreamHeadroom>,
    upstream_request_id: Option<Arc<str>>,
}

/// Everything needed to settle a call once its body ends.
pub(super) struct Settlement {
    proxy: Arc<Proxy>,
    pub call: Call,
    pub request: Seen,
    answer: Answer,
    /// The run this call counts (set when a retrieve first shows a terminal run's usage).
    run_id: Option<String>,
}

impl Settlement {
    pub(super) fn new(proxy: Arc<Proxy>, call: Call, request: Seen) -> Settlement {
        Settlement {
            proxy,
            call,
            request,
            answer: Answer::default(),
            run_id: None,
        }
    }

    /// Notes the upstream's answer head: its status, the account's headroom, the upstream's id
    /// of the call, and an error's headers.
    pub(super) fn note_answer(&mut self, status: u16, headers: &HeaderMap, now: DateTime<Utc>) {
        self.answer.status = status;
        self.answer.headroom = signals::headroom(headers, now);
        self.answer.upstream_request_id = headers
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(Arc::from);
        // A retried call notes each attempt's answer: the last one's counts.
        self.answer.error_headers = (status >= 400).then(|| headers.clone());
    }

    /// An attempt the gateway sends again: its 429 is observed now, as the call's answer would
    /// be (the account's state, the workspace's last error); the call's reservation is held and
    /// it is settled once, with its last answer.
    pub(super) fn observe_retried(&mut self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) {
        self.note_answer(429, headers, now);
        let (obs, err) = self.observation(body, &End::Complete);
        if let Some(obs) = obs {
            self.proxy
                .registry
                .observe_attempt(&self.call.caller.workspace, obs, err, now);
        }
    }

    /// The proxy the call went through.
    pub(super) fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// The model of a multipart request whose `model` field came late, once the body is sent.
    pub(super) fn take_late_model(&mut self) {
        if self.request.info.model.is_none() {
            self.request.info.model = self
                .request
                .late_model
                .take()
                .and_then(|m| m.get().cloned());
        }
    }

    /// The upstream was never reached or never answered.
    pub(super) fn fail(self, error_key: &'static str) {
        let mut s = self;
        s.take_late_model();
        s.answer.status = 0;
        s.record(
            CallUsage::default(),
            Some(UpstreamObservation::Failure),
            Some((error_key, BTreeMap::new())),
        );
    }

    fn observation(
        &self,
        body: &[u8],
        end: &End,
    ) -> (Option<UpstreamObservation>, Option<ErrorNote>) {
        if matches!(end, End::UpstreamCut) {
            return (
                Some(UpstreamObservation::Failure),
                Some(("error-upstream-cut", BTreeMap::new())),
            );
        }
        let empty = HeaderMap::new();
        let headers = self.answer.error_headers.as_ref().unwrap_or(&empty);
        match signals::classify(self.answer.status, headers, body) {
            None => (
                Some(UpstreamObservation::Success {
                    headroom: self.answer.headroom.clone(),
                }),
                None,
            ),
            Some(UpstreamError::RateLimited { retry_after_secs }) => {
                let mut args = BTreeMap::new();
                if let Some(r) = retry_after_secs {
                    args.insert("retry_after".into(), ArgValue::Number(r as f64));
                }
                (
                    Some(UpstreamObservation::RateLimited {
                        retry_after_secs,
                        headroom: self.answer.headroom.clone(),
                    }),
                    Some(("error-upstream-rate-limited", args)),
                )
            }
            Some(UpstreamError::InsufficientQuota) | Some(UpstreamError::BillingHardLimit) => (
                Some(UpstreamObservation::QuotaExhausted),
                Some(("error-upstream-quota", BTreeMap::new())),
            ),
            Some(UpstreamError::ServerError { status }) => {
                let mut args = BTreeMap::new();
                args.insert("status".into(), ArgValue::Number(status as f64));
                (
                    Some(UpstreamObservation::Failure),
                    Some(("error-upstream-server", args)),
                )
            }
            // A client error (bad request, not found…): the upstream itself is fine.
            Some(UpstreamError::Other) => (
                Some(UpstreamObservation::Success {
                    headroom: self.answer.headroom.clone(),
                }),
                None,
            ),
        }
    }

    pub(super) fn settle_body(self, body: &[u8], end: End) {
        let (obs, err) = match end {
            End::ClientGone => (None, None),
            _ => self.observation(body, &end),
        };
        // A GET of a stored chat completion or response shows its usage again: not counted.
        let refetch = self.call.is_get && self.call.kind.spec().get_repeats_usage;
        let mut usage = if self.answer.status < 400 && !refetch {
            usage::extract_json(self.call.kind, &self.request.info, self.answer.status, body)
                .unwrap_or_default()
        } else {
            CallUsage::default()
        };
        let mut s = self;
        if s.call.kind.spec().once_per_run && usage.total_tokens() > 0 {
            // A run's usage counts once, on the first retrieve that shows it terminal; the
            // ledger keeps its id, so this holds across restarts too.
            match usage::run_id(body) {
                Some(id) if s.proxy.registry.first_sight_of_run(&id) => s.run_id = Some(id),
                Some(_) => {
                    usage = CallUsage {
                        model: usage.model,
                        ..Default::default()
                    };
                }
                None => {}
            }
        }
        s.record(usage, obs, err);
    }

    pub(super) fn settle_stream(self, outcome: StreamOutcome, end: End) {
        let obs = match end {
            End::UpstreamCut => Some(UpstreamObservation::Failure),
            End::ClientGone => None,
            End::Complete => Some(UpstreamObservation::Success {
                headroom: self.answer.headroom.clone(),
            }),
        };
        let err = matches!(end, End::UpstreamCut).then(|| ("error-upstream-cut", BTreeMap::new()));
        match outcome.usage {
            Some(mut u) => {
                if u.model.is_none() {
                    u.model = outcome.model.or_else(|| self.request.info.model.clone());
                }
                self.record(u, obs, err);
            }
            None => {
                // No usage arrived: estimate with the model's tokenizer, off the async threads.
                let model = outcome.model.or_else(|| self.request.info.model.clone());
                let output_text = outcome.output_text;
                let settling = self.proxy.settling.clone();
                let work = move || {
                    let input =
                        estimate::estimate_request_tokens(model.as_deref(), &self.request.json);
                    let output = estimate::count_tokens(model.as_deref(), &output_text);
                    let u = CallUsage {
                        model,
                        input_tokens: input,
                        output_tokens: output,
                        estimated: true,
                        ..Default::default()
                    };
                    self.record(u, obs, err);
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(h) => {
                        settling.spawn_blocking_on(work, &h);
                    }
                    Err(_) => work(),
                }
            }
        }
    }

    /// Settles the reservation, records the ledger row and the metrics.
    fn record(
        self,
        mut usage: CallUsage,
        obs: Option<UpstreamObservation>,
        err: Option<ErrorNote>,
    ) {
        let now = Utc::now();
        if usage.model.is_none() {
            usage.model.clone_from(&self.request.info.model);
        }
        let billable = usage.total_tokens() > 0
            || usage.images > 0
            || usage.audio_seconds > 0.0
            || usage.characters > 0;
        let cost_nanos = if billable {
            self.proxy.prices.cost_nanos(&usage)
        } else {
            Some(0)
        };
        if cost_nanos.is_none() {
            self.proxy.registry.note_unpriced(
                &self.call.caller.workspace,
                usage.model.as_deref().unwrap_or("unknown"),
                now,
            );
        }
        let tokens = usage.total_tokens();
        if let Some(o) = &obs {
            shared::announce_upstream(&self.proxy, o, now);
        }
        if let Some(shared) = self.call.shared {
            shared::settle_shared(
                &self.proxy,
                self.call.caller.workspace.clone(),
                shared,
                Actual { tokens, cost_nanos },
                now,
            );
        }
        self.proxy.registry.settle(
            &self.call.caller.workspace,
            self.call.reservation,
            Actual { tokens, cost_nanos },
            obs,
            err,
            now,
        );
        let m = self
            .proxy
            .meters
            .family(&self.call.caller.workspace.id, self.call.family);
        m.calls[meters::status_class(self.answer.status)].increment(1);
        m.input_tokens.increment(usage.input_tokens);
        m.output_tokens.increment(usage.output_tokens);
        if let Some(c) = cost_nanos {
            m.cost_nanodollars.increment(c);
        }
        let row = LedgerRow {
            ts: now,
            workspace: self.call.caller.workspace.id.clone(),
            key_id: self.call.caller.key_id.clone(),
            family: m.family.clone(),
            path: self.call.other_path,
            model: usage.model.map(Arc::from),
            requested_model: self.call.requested_model,
            upstream_retries: self.call.upstream_retries,
            http_status: self.answer.status,
            input_tokens: usage.input_tokens,
            cached_tokens: usage.cached_tokens,
            output_tokens: usage.output_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            images: usage.images,
            audio_seconds: usage.audio_seconds,
            characters: usage.characters,
            cost_nanos,
            estimated: usage.estimated,
            latency_ms: self.call.started.elapsed().as_millis() as u64,
            goal: self.call.tags.goal.map(Arc::from),
            task: self.call.tags.task.map(Arc::from),
            priority: self.call.tags.priority.map(|p| Arc::from(p.as_str())),
            request_id: self.call.request_id.to_str().ok().map(Arc::from),
            upstream_request_id: self.answer.upstream_request_id,
            run_id: self.run_id.map(Arc::from),
        };
        if !self.proxy.store.write(Write::Call(Box::new(row))) {
            tracing::error!("ledger writer stopped; a call was not recorded");
        }
    }
}
