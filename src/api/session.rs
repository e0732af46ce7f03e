//! Browser sessions: `POST /api/session {key}` signs in with a workspace key or the admin key
//! and sets an HttpOnly, SameSite=Strict cookie; `GET` says who is signed in; `DELETE` signs out.
//!
//! The cookie holds no key: its value is the `cookie` crate's signed form (the base64
//! HMAC-SHA256 of the claims, then the claims `v3.<sid>.<role>.<workspace>.<binding>.<expiry>`),
//! checked in constant time by the crate. A session
//! - is bound to the key it was made from: a workspace session names its key id, which must
//!   still be a key of that workspace; an admin session carries a keyed fingerprint of the
//!   admin key, so a new admin key ends every admin session;
//! - is revoked server-side by sign-out: its random id is kept in the database (and in memory)
//!   until the cookie could no longer be valid anyway;
//! - lasts `[server] session_ttl_hours` (default 12) and is renewed, with the same id, when it
//!   is used past half its life (see [`renew`]).
//!
//! The signing key is never stored: it is derived with HKDF-SHA256 from `QS_SESSION_SECRET`, or
//! else from the admin key, and a random salt kept in the database ([`signing_key`]); the
//! cookie crate's [`Key`] is derived from those 32 bytes ([`cookie_key`]). Without
//! either, it is random per process and sessions end when the gateway stops. The cookie is
//! `Secure` when `[server] secure_cookies = true` or the request's URI says `https`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use cookie::{Cookie, CookieJar, Key};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Principal, Shared};
use crate::config::Config;
use crate::error::AppError;
use crate::store::{Store, StoreError};
use app::data::{Role, Session};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "qs_session";
/// The version tag of the claims' format (`v2` was signed by hand, tag last).
const VERSION: &str = "v3";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    key: String,
}

/// What a session cookie says, once its signature holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    /// Random session id (32 hex characters): what sign-out revokes.
    pub sid: String,
    /// `None`: the admin; `Some(id)`: workspace `id`.
    pub workspace: Option<String>,
    /// The key the session was made from: a workspace key's id, or the admin key's
    /// fingerprint ([`Sessions::admin_binding`]).
    pub binding: String,
    /// Unix seconds.
    pub expires: i64,
}

/// Where the signing key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `QS_SESSION_SECRET` and the database's salt.
    SessionSecret,
    /// The admin key and the database's salt.
    AdminKey,
    /// Neither is set: random, for this process only.
    Random,
}

/// Derives the 32-byte signing key from `ikm` (a secret that is not in the database) and the
/// database's `salt` with HKDF-SHA256.
pub fn derive_key(ikm: &[u8], salt: &[u8], source: KeySource) -> [u8; 32] {
    let info: &[u8] = match source {
        KeySource::SessionSecret => b"quota-sentinel session v2: QS_SESSION_SECRET",
        KeySource::AdminKey | KeySource::Random => b"quota-sentinel session v2: admin key",
    };
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32, so this cannot fail.
    let _ = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, &mut out);
    out
}

/// The signing key for `config`: from `QS_SESSION_SECRET`, else the admin key, each with the
/// salt kept in `store`; else random for this process.
pub async fn signing_key(
    config: &Config,
    store: &Store,
) -> Result<([u8; 32], KeySource), StoreError> {
    let (ikm, source) = match (&config.session_secret, &config.admin_key) {
        (Some(s), _) => (s.expose_secret(), KeySource::SessionSecret),
        (None, Some(k)) => (k.expose_secret(), KeySource::AdminKey),
        (None, None) => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            return Ok((key, KeySource::Random));
        }
    };
    let salt = store.session_salt().await?;
    Ok((derive_key(ikm.as_bytes(), &salt, source), source))
}

/// The key that signs session cookies, derived from the 32-byte signing key.
pub fn cookie_key(secret: &[u8; 32]) -> Key {
    Key::derive_from(secret)
}

/// The keyed fingerprints of [`Sessions::admin_binding`] and the setup binding. HMAC accepts
/// keys of any length, so this is always `Some`.
fn mac(secret: &[u8; 32], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    for p in parts {
        m.update(p);
    }
    Some(m)
}

/// The cookie value of `claims`, signed with `key`.
pub fn sign(key: &Key, claims: &Claims) -> String {
    let (role, ws) = match &claims.workspace {
        None => ("admin", "-"),
        Some(w) => ("workspace", w.as_str()),
    };
    let payload = format!(
        "{VERSION}.{}.{role}.{ws}.{}.{}",
        claims.sid, claims.binding, claims.expires
    );
    let mut jar = CookieJar::new();
    jar.signed_mut(key)
        .add(Cookie::new(SESSION_COOKIE, payload));
    jar.get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

/// The claims of a cookie value, if its signature holds and it has not expired at `now`.
pub fn verify(key: &Key, value: &str, now: i64) -> Option<Claims> {
    let cookie = Cookie::new(SESSION_COOKIE, value.to_string());
    let verified = CookieJar::new().signed(key).verify(cookie)?;
    let payload = verified.value();
    let mut parts = payload.split('.');
    let mut next = || parts.next();
    let (v, sid, role, ws, binding, exp) = (next()?, next()?, next()?, next()?, next()?, next()?);
    if v != VERSION || next().is_some() {
        return None;
    }
    let expires = exp.parse::<i64>().ok()?;
    if expires < now {
        return None;
    }
    let workspace = match role {
        "admin" => None,
        "workspace" => Some(ws.to_string()),
        _ => return None,
    };
    Some(Claims {
        sid: sid.to_string(),
        workspace,
        binding: binding.to_string(),
        expires,
    })
}

/// A new session id: 128 random bits in hex.
fn new_sid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The gateway's sessions: the signing key, their lifetime and the revoked ones.
pub struct Sessions {
    /// Signs and checks the cookies.
    key: Key,
    /// Keys the bindings' fingerprints.
    secret: [u8; 32],
    /// Lifetime of a session, in seconds.
    ttl: i64,
    /// `[server] secure_cookies`.
    secure: bool,
    /// Revoked session ids → the end of their possible life (Unix seconds).
    revoked: RwLock<HashMap<String, i64>>,
}

impl Sessions {
    /// Sessions signed with `secret`, configured by `config`, with the revocations still live
    /// loaded from `store`.
    pub async fn load(
        secret: [u8; 32],
        config: &Config,
        store: &Store,
    ) -> Result<Sessions, StoreError> {
        let revoked = store.revoked_sessions(Utc::now().timestamp()).await?;
        Ok(Sessions {
            key: cookie_key(&secret),
            secret,
            ttl: config.session_ttl_secs,
            secure: config.secure_cookies,
            revoked: RwLock::new(revoked.into_iter().collect()),
        })
    }

    /// The fingerprint an admin session is bound to: a keyed hash of the admin key's hash, so
    /// the cookie reveals nothing of the key and a new admin key ends the old sessions.
    pub fn admin_binding(&self, admin_hash: &[u8; 32]) -> String {
        mac(&self.secret, &[b"admin-key:", admin_hash])
            .map(|m| hex::encode(&m.finalize().into_bytes()[..16]))
            .unwrap_or_default()
    }

    /// The fingerprint the setup admin's session is bound to: a keyed hash of the one-time
    /// token's hash, which only this process knows.
    fn setup_binding(&self, token_hash: &[u8; 32]) -> String {
        mac(&self.secret, &[b"setup-token:", token_hash])
            .map(|m| format!("setup-{}", hex::encode(&m.finalize().into_bytes()[..16])))
            .unwrap_or_default()
    }

    fn is_revoked(&self, sid: &str) -> bool {
        let r = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        r.contains_key(sid)
    }

    /// Revokes `sid` in memory, forgetting revocations that have expired by `now`.
    fn revoke(&self, sid: &str, until: i64, now: i64) {
        let mut r = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        r.retain(|_, u| *u >= now);
        let e = r.entry(sid.to_string()).or_insert(until);
        *e = (*e).max(until);
    }

    /// The `Set-Cookie` value for `value`, alive `max_age` seconds.
    fn set_cookie(&self, value: &str, max_age: i64, uri: &Uri) -> HeaderValue {
        let secure = if self.secure || uri.scheme_str() == Some("https") {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("qs_session=; Path=/; Max-Age=0"))
    }
}

impl Shared {
    /// The valid session of a request and its principal: signature, expiry, not revoked, and
    /// the key it was made from still valid.
    pub fn session(&self, headers: &HeaderMap) -> Option<(Principal, Claims)> {
        let value = cookie(headers)?;
        let s = &self.sessions;
        let claims = verify(&s.key, value, Utc::now().timestamp())?;
        if s.is_revoked(&claims.sid) {
            return None;
        }
        let p = match &claims.workspace {
            None => {
                let binding = match (&self.admin_hash, &self.setup) {
                    (Some(h), _) => s.admin_binding(h),
                    (None, Some(gate)) if gate.is_used() => s.setup_binding(gate.token_hash()),
                    (None, _) => return None,
                };
                bool::from(binding.as_bytes().ct_eq(claims.binding.as_bytes()))
                    .then_some(Principal::Admin)?
            }
            Some(ws) => {
                if !self.registry.has_key(ws, &claims.binding) {
                    return None;
                }
                Principal::Workspace(self.registry.workspace(ws)?)
            }
        };
        Some((p, claims))
    }

    /// The `Set-Cookie` of a new setup admin session (first run, after the token was spent).
    pub fn setup_session_cookie(&self, uri: &Uri) -> HeaderValue {
        let s = &self.sessions;
        let binding = self
            .setup
            .as_ref()
            .map(|g| s.setup_binding(g.token_hash()))
            .unwrap_or_default();
        let claims = Claims {
            sid: new_sid(),
            workspace: None,
            binding,
            expires: Utc::now().timestamp() + s.ttl,
        };
        s.set_cookie(&sign(&s.key, &claims), s.ttl, uri)
    }

    /// The principal of a valid session cookie.
    pub(super) fn session_principal(&self, headers: &HeaderMap) -> Option<Principal> {
        self.session(headers).map(|(p, _)| p)
    }
}

/// The session cookie of a request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    crate::headers::cookie(headers, SESSION_COOKIE)
}

/// Who is signed in, in the wire shape the UI reads (`app::data::Session`).
fn info(p: &Principal) -> Session {
    match p {
        Principal::Admin => Session {
            role: Role::Admin,
            workspace: None,
        },
        Principal::Workspace(w) => Session {
            role: Role::Workspace,
            workspace: Some(w.id.to_string()),
        },
    }
}

pub async fn sign_in(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, AppError> {
    let req = body
        .map(|Json(v)| v)
        .map_err(|e| AppError::bad_request(e.body_text(), None))?;
    let (p, cookie) = open_session(&shared, req.key.trim(), &uri)?;
    let mut resp = (StatusCode::OK, Json(info(&p))).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// Why the sign-in form came back, as `/login?error=…` (never the key).
fn form_error(e: &AppError) -> &'static str {
    match e {
        AppError::MissingKey => "empty",
        AppError::InvalidKey { .. } | AppError::AdminKeyWrong | AppError::AdminDisabled => {
            "invalid"
        }
        _ => "failed",
    }
}

/// `POST /login`: the sign-in form as a browser without JavaScript (or before the WASM has
/// loaded) sends it, `application/x-www-form-urlencoded`. Answers with a redirect: to the
/// signed-in page with the session cookie, or back to `/login?error=…`; the key never appears
/// in a URL. Wrong keys count against the address's failure budget like `/api/session`.
pub async fn sign_in_form(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    form: Result<axum::Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Response {
    let key = form.as_ref().map_or("", |f| f.key.trim());
    let outcome = if key.is_empty() {
        Err(AppError::MissingKey)
    } else {
        open_session(&shared, key, &uri)
    };
    match outcome {
        Ok((p, cookie)) => {
            let to = match p {
                Principal::Admin => "/admin",
                Principal::Workspace(_) => "/",
            };
            let mut resp = axum::response::Redirect::to(to).into_response();
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            resp
        }
        Err(e) => {
            let mut reason = form_error(&e);
            if reason == "invalid" {
                let wrong_admin = matches!(e, AppError::AdminKeyWrong);
                let route = crate::guard::Route::of("/api/session", wrong_admin);
                if shared
                    .auth_guard
                    .failed(peer.ip(), route, std::time::Instant::now())
                    .is_some()
                {
                    reason = "blocked";
                }
            }
            axum::response::Redirect::to(&format!("/login?error={reason}")).into_response()
        }
    }
}

/// Checks `key` and opens a session for it: who signed in and the cookie to set.
fn open_session(
    shared: &Shared,
    key: &str,
    uri: &Uri,
) -> Result<(Principal, HeaderValue), AppError> {
    let p = shared.principal(Some(key))?;
    let (workspace, binding) = match (&p, &shared.admin_hash) {
        (Principal::Admin, Some(h)) => (None, shared.sessions.admin_binding(h)),
        (Principal::Workspace(w), _) => {
            let caller = shared
                .registry
                .authenticate(key)
                .ok_or(AppError::InvalidKey {
                    masked: crate::error::mask_key(key),
                })?;
            (Some(w.id.to_string()), caller.key_id.to_string())
        }
        (Principal::Admin, None) => return Err(AppError::AdminDisabled),
    };
    let s = &shared.sessions;
    let claims = Claims {
        sid: new_sid(),
        workspace,
        binding,
        expires: Utc::now().timestamp() + s.ttl,
    };
    Ok((p, s.set_cookie(&sign(&s.key, &claims), s.ttl, uri)))
}

pub async fn whoami(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Session>, AppError> {
    let p = shared.caller(&headers, None)?;
    Ok(Json(info(&p)))
}

/// Ends the request's session server-side (its id is revoked until the cookie would have
/// expired anyway) and clears the cookie.
pub async fn sign_out(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let s = &shared.sessions;
    if let Some((_, claims)) = shared.session(&headers) {
        let now = Utc::now().timestamp();
        // Renewed copies of this cookie expire at most one lifetime from now.
        let until = claims.expires.max(now + s.ttl);
        s.revoke(&claims.sid, until, now);
        shared.store.revoke_session(&claims.sid, until, now).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, s.set_cookie("", 0, &uri));
    Ok(resp)
}

/// Sliding renewal: a request with a valid session past half its life gets a fresh cookie
/// (same session id, a full lifetime from now), unless its answer sets the cookie itself.
pub async fn renew(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let now = Utc::now().timestamp();
    let s = &shared.sessions;
    let fresh = match shared.session(req.headers()) {
        Some((_, claims)) if claims.expires - now < s.ttl / 2 => {
            let renewed = Claims {
                expires: now + s.ttl,
                ..claims
            };
            Some(s.set_cookie(&sign(&s.key, &renewed), s.ttl, req.uri()))
        }
        _ => None,
    };
    let mut resp = next.run(req).await;
    if let Some(v) = fresh {
        let sets_own = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.as_bytes().starts_with(SESSION_COOKIE.as_bytes()));
        if !sets_own {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: i64) -> Claims {
        Claims {
            sid: "00112233445566778899aabbccddeeff".into(),
            workspace: Some("acme".into()),
            binding: "key_0123456789ab".into(),
            expires,
        }
    }

    #[test]
    fn signed_sessions_verify_and_tampering_fails() {
        let key = cookie_key(&[7u8; 32]);
        let v = sign(&key, &claims(2_000_000_000));
        assert_eq!(verify(&key, &v, 1_000), Some(claims(2_000_000_000)));
        assert_eq!(verify(&key, &v, 2_000_000_001), None, "expired");
        assert_eq!(
            verify(&cookie_key(&[8u8; 32]), &v, 1_000),
            None,
            "other secret"
        );
        let forged = v.replacen("workspace", "admin", 1);
        assert_ne!(forged, v);
        assert_eq!(verify(&key, &forged, 1_000), None, "tampered");
        let unsigned = v
            .split_once("v3.")
            .map(|(_, claims)| format!("v3.{claims}"));
        assert_eq!(
            verify(&key, &unsigned.unwrap_or_default(), 1_000),
            None,
            "the claims alone"
        );
        let admin = sign(
            &key,
            &Claims {
                workspace: None,
                ..claims(2_000_000_000)
            },
        );
        assert_eq!(verify(&key, &admin, 1_000).map(|c| c.workspace), Some(None));
    }

    #[test]
    fn the_signing_key_depends_on_the_secret_and_the_salt() {
        let k = derive_key(b"admin", b"salt", KeySource::AdminKey);
        assert_eq!(k, derive_key(b"admin", b"salt", KeySource::AdminKey));
        assert_ne!(k, derive_key(b"admin2", b"salt", KeySource::AdminKey));
        assert_ne!(k, derive_key(b"admin", b"salt2", KeySource::AdminKey));
        assert_ne!(k, derive_key(b"admin", b"salt", KeySource::SessionSecret));
        assert_ne!(&k[..], b"salt");
    }
}
