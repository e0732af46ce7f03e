//! First run. A gateway that starts with no workspace and no admin key prints, once, a setup
//! link with a one-time token (as a notebook server does). Opening it signs the browser in as
//! the setup admin, who creates the first workspace and mints its key on `/setup`.
//!
//! The token is 256 random bits. It is printed on one line of the standard output and nowhere
//! else: the gateway keeps only its SHA-256, in memory. It dies when used, after
//! [`SETUP_TOKEN_TTL`], or when the process stops. The setup admin's session is bound to the
//! token's hash, so it too ends with the process; an admin who wants to keep access sets
//! `QUOTA_ADMIN_KEY`.
//!
//! Owns: the token's life ([`SetupGate`], pure, clock passed in) and `GET /setup/begin`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::Shared;
use crate::registry::key_hash;

/// How long the printed link works.
pub const SETUP_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Why a setup token was refused; its wire name goes into `/setup?error=…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupRefused {
    #[error("this setup link was already used")]
    Used,
    #[error("this setup link has expired")]
    Expired,
    #[error("this is not the setup link of this gateway")]
    Wrong,
}

impl SetupRefused {
    pub fn as_str(self) -> &'static str {
        match self {
            SetupRefused::Used => "used",
            SetupRefused::Expired => "expired",
            SetupRefused::Wrong => "invalid",
        }
    }
}

/// The one-time setup token of this process: its hash, its deadline, whether it was used.
#[derive(Debug)]
pub struct SetupGate {
    hash: [u8; 32],
    expires: Instant,
    used: AtomicBool,
}

impl SetupGate {
    /// A new gate, open until `now` + [`SETUP_TOKEN_TTL`], and its token (64 hex characters),
    /// which the caller prints once and forgets.
    pub fn new(now: Instant) -> (SetupGate, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let gate = SetupGate {
            hash: key_hash(&token),
            expires: now + SETUP_TOKEN_TTL,
            used: AtomicBool::new(false),
        };
        (gate, token)
    }

    /// Spends the token: `Ok` once, for the right token, before the deadline.
    pub fn redeem(&self, token: &str, now: Instant) -> Result<(), SetupRefused> {
        if !bool::from(key_hash(token).ct_eq(&self.hash)) {
            return Err(SetupRefused::Wrong);
        }
        if now >= self.expires {
            return if self.is_used() {
                Err(SetupRefused::Used)
            } else {
                Err(SetupRefused::Expired)
            };
        }
        // Only one redemption wins, however many arrive at once.
        if self
            .used
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(SetupRefused::Used);
        }
        Ok(())
    }

    /// Whether the token was spent: only then can a setup session exist.
    pub fn is_used(&self) -> bool {
        self.used.load(Ordering::Acquire)
    }

    /// What the setup admin's session is bound to (the sessions module keys it).
    pub fn token_hash(&self) -> &[u8; 32] {
        &self.hash
    }
}

/// The line printed at start: the link, what it is for, and how long it works.
pub fn announcement(base: &str, token: &str) -> String {
    format!(
        "First run: no workspace and no admin key. Open {base}/setup/begin?token={token} within {} minutes to create the first workspace and its key (the link works once, and not after a restart).",
        SETUP_TOKEN_TTL.as_secs() / 60
    )
}

#[derive(Debug, Deserialize)]
pub struct Begin {
    #[serde(default)]
    token: String,
}

/// `GET /setup/begin?token=…`: spends the token, signs the browser in as the setup admin and
/// redirects to `/setup`, so the token leaves the address bar at once. A refused token goes to
/// `/setup?error=used|expired|invalid`, and a wrong one counts against the address's budget of
/// failed sign-ins.
pub async fn begin(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    q: Result<Query<Begin>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = q.map(|Query(b)| b.token).unwrap_or_default();
    let outcome = match &shared.setup {
        Some(gate) => gate.redeem(token.trim(), Instant::now()),
        None => Err(SetupRefused::Wrong),
    };
    let mut resp = match outcome {
        Ok(()) => {
            tracing::info!("setup link used: the browser is signed in as the setup admin");
            let mut resp = Redirect::to("/setup").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, shared.setup_session_cookie(&uri));
            resp
        }
        Err(e) => {
            if e == SetupRefused::Wrong {
                // Counted, and logged with a cap per second, by the failure budget: a client
                // guessing tokens cannot flood the log.
                let route = crate::guard::Route::of("/api/session", true);
                shared.auth_guard.failed(peer.ip(), route, Instant::now());
            } else {
                tracing::warn!(reason = e.as_str(), "setup link refused");
            }
            Redirect::to(&format!("/setup?error={}", e.as_str())).into_response()
        }
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once_for_fifteen_minutes() {
        let t0 = Instant::now();
        let (gate, token) = SetupGate::new(t0);
        assert_eq!(token.len(), 64);
        assert!(!gate.is_used());
        assert_eq!(
            gate.redeem("0".repeat(64).as_str(), t0),
            Err(SetupRefused::Wrong)
        );
        assert_eq!(gate.redeem("", t0), Err(SetupRefused::Wrong));
        assert!(!gate.is_used(), "a wrong token does not spend it");
        assert_eq!(
            gate.redeem(&token, t0 + Duration::from_secs(14 * 60)),
            Ok(())
        );
        assert!(gate.is_used());
        assert_eq!(gate.redeem(&token, t0), Err(SetupRefused::Used));

        let (gate, token) = SetupGate::new(t0);
        assert_eq!(
            gate.redeem(&token, t0 + SETUP_TOKEN_TTL),
            Err(SetupRefused::Expired)
        );
        assert!(!gate.is_used());
    }

    #[test]
    fn each_gate_has_its_own_token() {
        let (a, ta) = SetupGate::new(Instant::now());
        let (b, tb) = SetupGate::new(Instant::now());
        assert_ne!(ta, tb);
        assert_eq!(a.redeem(&tb, Instant::now()), Err(SetupRefused::Wrong));
        assert_eq!(b.redeem(&ta, Instant::now()), Err(SetupRefused::Wrong));
    }

    #[test]
    fn the_announcement_is_one_line_with_the_link() {
        let line = announcement("http://127.0.0.1:3000", "ab12");
        assert!(!line.contains('\n'));
        assert!(line.contains("http://127.0.0.1:3000/setup/begin?token=ab12 within 15 minutes"));
    }
}
