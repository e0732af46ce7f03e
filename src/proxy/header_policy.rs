//! Header policy: which of the caller's headers go upstream, which of the upstream's come back,
//! what the gateway adds in each direction; and every header name the proxy reads or writes.
//!
//! Owns: [`FORWARDED_REQUEST_HEADERS`], the hop-by-hop headers (RFC 9110 §7.6.1), the account
//! headers (`OpenAI-Organization`, `OpenAI-Project`: from `[upstream]` only), the `x-quota-*`
//! answer headers ([`ANSWER_HEADERS`]).
//! Must not: allocate per call (the maps are edited in place, the values the gateway adds are
//! built once; only the headers that tell what a policy did to a call, a downgrade or retries,
//! are built for the calls concerned), or log a header value.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::proxy::settle::Call;
use crate::proxy::Proxy;

// Every header name the proxy reads or writes, named once: a name parsed from a string would be
// parsed and hashed on every lookup.
/// OpenAI's headers that name the account a call is billed to.
pub(super) const OPENAI_ORGANIZATION: HeaderName = HeaderName::from_static("openai-organization");
pub(super) const OPENAI_PROJECT: HeaderName = HeaderName::from_static("openai-project");
/// The call tags, recorded and never forwarded.
pub(super) const X_QUOTA_GOAL: HeaderName = HeaderName::from_static("x-quota-goal");
pub(super) const X_QUOTA_TASK: HeaderName = HeaderName::from_static("x-quota-task");
pub(super) const X_QUOTA_PRIORITY: HeaderName = HeaderName::from_static("x-quota-priority");
/// What the gateway adds to an answer.
const X_QUOTA_STATUS: HeaderName = HeaderName::from_static("x-quota-status");
const X_QUOTA_WORKSPACE: HeaderName = HeaderName::from_static("x-quota-workspace");
const X_QUOTA_REQUEST_ID: HeaderName = HeaderName::from_static("x-quota-request-id");
/// The model the caller asked for, when a downgrade rule sent the call for another one.
const X_QUOTA_MODEL_DOWNGRADED_FROM: HeaderName =
    HeaderName::from_static("x-quota-model-downgraded-from");
/// How many times the gateway sent the call again after an upstream `rate_limit_exceeded`.
const X_QUOTA_UPSTREAM_RETRIES: HeaderName = HeaderName::from_static("x-quota-upstream-retries");
/// OpenAI's header for an id chosen by the caller (forwarded as it is).
pub(super) const X_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-client-request-id");
/// The upstream's id of the call, recorded in the ledger.
pub(super) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The account's headroom, read from every answer (`proxy/signals.rs`).
pub(super) const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
pub(super) const REMAINING_REQUESTS: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining-requests");
pub(super) const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
pub(super) const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
pub(super) const REMAINING_TOKENS: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining-tokens");
pub(super) const RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// The headers the gateway adds to an answer of the upstream, for a browser to read
/// (`Access-Control-Expose-Headers` of the `/v1` routes when cross-origin calls are allowed).
pub const ANSWER_HEADERS: [HeaderName; 5] = [
    X_QUOTA_STATUS,
    X_QUOTA_WORKSPACE,
    X_QUOTA_REQUEST_ID,
    X_QUOTA_MODEL_DOWNGRADED_FROM,
    X_QUOTA_UPSTREAM_RETRIES,
];

/// The request headers that go upstream; every other header of the caller stays here. An
/// entry ending in `*` is a prefix. Not listed, on purpose: `authorization` and `host` (the
/// gateway sets its own), `cookie` (the UI's session), `openai-organization` and
/// `openai-project` (they choose what gets billed: they come from `[upstream]` only),
/// `api-key`/`x-api-key` (other credentials), `forwarded`/`x-forwarded-*`/`x-real-ip` (the
/// caller's network), `accept-encoding` (usage is read from plain bodies),
/// `content-encoding` (the gateway reads the body as sent), the `x-quota-*` tags and every
/// hop-by-hop header. `content-length` is dropped again for JSON bodies (they may be
/// rewritten). The `x-stainless-*` headers are the OpenAI SDKs' telemetry (language, OS,
/// package version, retry count, timeout): harmless, and OpenAI reads them.
pub const FORWARDED_REQUEST_HEADERS: [&str; 8] = [
    "accept",
    "content-type",
    "content-length",
    "user-agent",
    "openai-beta",
    "idempotency-key",
    "x-client-request-id",
    "x-stainless-*",
];

/// Whether the caller's header `name` (lower case, as [`HeaderMap`] keeps it) goes upstream.
fn is_forwarded_request_header(name: &str) -> bool {
    FORWARDED_REQUEST_HEADERS
        .iter()
        .any(|e| match e.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *e,
        })
}

/// Headers that describe one hop, never passed on in either direction (RFC 9110 §7.6.1).
const HOP_HEADERS: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Removes the headers named by `Connection` (RFC 9110 §7.6.1: they describe this hop only).
/// `close` and `keep-alive` name no header worth a lookup; anything else is rare, so the
/// values are copied (reference-counted) only then.
fn strip_connection_named(h: &mut HeaderMap) {
    let named: Vec<HeaderValue> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter(|v| {
            v.as_bytes().split(|c| *c == b',').any(|t| {
                let t = t.trim_ascii();
                !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
            })
        })
        .cloned()
        .collect();
    for v in named {
        for token in v.as_bytes().split(|c| *c == b',') {
            if let Ok(name) = HeaderName::from_bytes(token.trim_ascii()) {
                h.remove(name);
            }
        }
    }
}

/// Removes the hop-by-hop headers in place: those named by `Connection`, then the fixed ones.
/// Most messages carry none besides `host`, so the names are compared first and looked up
/// (hashed) only when present.
fn strip_hop_headers(h: &mut HeaderMap) {
    if h.keys().any(|n| HOP_HEADERS.contains(&n.as_str())) {
        strip_connection_named(h);
        for name in HOP_HEADERS {
            h.remove(name);
        }
    }
}

/// Keeps only the caller's headers that may go upstream ([`FORWARDED_REQUEST_HEADERS`]), in
/// place: the map is reused, so nothing is allocated; a name to drop is looked up again after
/// each removal (a request has a dozen headers, a few of them dropped).
fn keep_forwarded_request_headers(h: &mut HeaderMap) {
    // First the headers `Connection` names, even allowed ones (`Connection: close, accept`).
    strip_connection_named(h);
    while let Some(name) = h
        .keys()
        .find(|n| !is_forwarded_request_header(n.as_str()))
        .cloned()
    {
        h.remove(name);
    }
}

impl Proxy {
    /// The caller's headers as they go upstream, edited in place: only the allowed ones
    /// ([`FORWARDED_REQUEST_HEADERS`]: not its key, cookies, account headers, addresses or
    /// hop-by-hop headers); a JSON body's length is set again by the client, as the body may
    /// have been rewritten. Then the gateway's own: the upstream key, the configured account,
    /// the upstream's host.
    pub(super) fn upstream_headers(&self, mut headers: HeaderMap, is_json: bool) -> HeaderMap {
        keep_forwarded_request_headers(&mut headers);
        if is_json {
            headers.remove(header::CONTENT_LENGTH);
        }
        if let Some(auth) = &self.upstream_auth {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(org) = &self.organization {
            headers.insert(OPENAI_ORGANIZATION, org.clone());
        }
        if let Some(project) = &self.project {
            headers.insert(OPENAI_PROJECT, project.clone());
        }
        headers.insert(header::HOST, self.host.clone());
        headers
    }

    /// The upstream's head as the client gets it, edited in place: minus its hop-by-hop headers
    /// (and those its `Connection` names), its cookies, and the account it names unless
    /// configured, and its length when the tap changes it; plus the workspace's status, its id
    /// and the call's id, and, when they happened, the model a downgrade replaced and the
    /// number of retries.
    pub(super) fn answer_headers(&self, h: &mut HeaderMap, call: &Call, changes_length: bool) {
        let caller = &call.caller;
        strip_hop_headers(h);
        h.remove(header::SET_COOKIE);
        if !self.pass_organization_header {
            h.remove(OPENAI_ORGANIZATION);
            h.remove(OPENAI_PROJECT);
        }
        if changes_length {
            h.remove(header::CONTENT_LENGTH);
        }
        h.insert(
            X_QUOTA_STATUS,
            HeaderValue::from_static(caller.workspace.status().as_str()),
        );
        if let Some(v) = &caller.workspace.id_header {
            h.insert(X_QUOTA_WORKSPACE, v.clone());
        }
        h.insert(X_QUOTA_REQUEST_ID, call.request_id.clone());
        // A rule's model name is visible ASCII (checked with the limits), a valid value.
        if let Some(v) = call
            .requested_model
            .as_deref()
            .and_then(|m| HeaderValue::from_str(m).ok())
        {
            h.insert(X_QUOTA_MODEL_DOWNGRADED_FROM, v);
        }
        if call.upstream_retries > 0 {
            h.insert(
                X_QUOTA_UPSTREAM_RETRIES,
                HeaderValue::from(call.upstream_retries),
            );
        }
    }
}
