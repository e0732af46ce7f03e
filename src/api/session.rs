//! Browser sessions: `POST /api/session {key}` signs in with a workspace key or the admin key
//! and sets an HttpOnly, SameSite=Strict cookie; `GET` says who is signed in; `DELETE` signs out.
//!
//! The cookie holds no key: it is `v1.<role>.<workspace>.<expiry>.<hmac>`, signed with a secret
//! kept in the database (so sessions survive restarts) and checked in constant time.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Principal, Shared};
use crate::error::AppError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "qs_session";
/// How long a session lasts.
const SESSION_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    key: String,
}

/// Who is signed in.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    pub role: String,
    pub workspace: Option<String>,
}

/// HMAC accepts keys of any length, so this is always `Some`.
fn mac(secret: &[u8; 32], payload: &str) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    m.update(payload.as_bytes());
    Some(m)
}

/// Signs a session for `principal`, valid until `expires` (Unix seconds).
pub fn sign(secret: &[u8; 32], principal: &Principal, expires: i64) -> String {
    let (role, ws) = match principal {
        Principal::Admin => ("admin", "-".to_string()),
        Principal::Workspace(w) => ("workspace", w.id.to_string()),
    };
    let payload = format!("v1.{role}.{ws}.{expires}");
    let tag = mac(secret, &payload)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{payload}.{tag}")
}

/// The verified `(role, workspace)` of a cookie value, if its signature and expiry hold.
pub fn verify(secret: &[u8; 32], value: &str, now: i64) -> Option<(String, String)> {
    let (payload, tag) = value.rsplit_once('.')?;
    let tag = hex::decode(tag).ok()?;
    mac(secret, payload)?.verify_slice(&tag).ok()?;
    let mut parts = payload.split('.');
    let (v, role, ws, exp) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if v != "v1" || parts.next().is_some() || exp.parse::<i64>().ok()? < now {
        return None;
    }
    Some((role.to_string(), ws.to_string()))
}

/// The session cookie of a request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    crate::headers::cookie(headers, SESSION_COOKIE)
}

fn info(p: &Principal) -> SessionInfo {
    match p {
        Principal::Admin => SessionInfo {
            role: "admin".into(),
            workspace: None,
        },
        Principal::Workspace(w) => SessionInfo {
            role: "workspace".into(),
            workspace: Some(w.id.to_string()),
        },
    }
}

fn set_cookie(value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("qs_session=; Path=/; Max-Age=0"))
}

pub async fn sign_in(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, AppError> {
    let req = body
        .map(|Json(v)| v)
        .map_err(|e| AppError::bad_request(e.body_text(), None))?;
    let p = shared.principal(Some(req.key.trim()))?;
    let expires = Utc::now().timestamp() + SESSION_SECS;
    let value = sign(&shared.session_secret, &p, expires);
    let mut resp = (StatusCode::OK, Json(info(&p))).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&value, SESSION_SECS));
    Ok(resp)
}

pub async fn whoami(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<SessionInfo>, AppError> {
    let p = shared.caller(&headers, None)?;
    Ok(Json(info(&p)))
}

pub async fn sign_out() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", 0));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_sessions_verify_and_tampering_fails() {
        let secret = [7u8; 32];
        let v = sign(&secret, &Principal::Admin, 2_000_000_000);
        assert_eq!(
            verify(&secret, &v, 1_000),
            Some(("admin".into(), "-".into()))
        );
        assert_eq!(verify(&secret, &v, 2_000_000_001), None, "expired");
        assert_eq!(verify(&[8u8; 32], &v, 1_000), None, "other secret");
        let forged = v.replacen("admin", "workspace", 1);
        assert_eq!(verify(&secret, &forged, 1_000), None, "tampered");
    }
}
