//! The audit trail's edge: who an admin caller is and where from ([`Admin`]), recording an
//! action ([`Admin::record`]), and `GET /api/admin/audit` (JSON pages) and
//! `GET /api/admin/audit.csv` (the whole trail, for export).
//!
//! Owns: naming the actor (`admin-key`, `session:<8 chars of the session id>`; never a key or
//! a cookie) and the export format. Must not: decide what an action changed (its handler
//! says, secrets masked).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::quota::query;
use super::Shared;
use crate::error::AppError;
use crate::store::AuditEntry;
use crate::types::{AuditList, AuditRecord};

/// The caller's IP address (from the connection; `None` when served without connect info).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// An admin caller, checked: who and from where.
#[derive(Clone, Debug)]
pub struct Admin {
    pub actor: String,
    pub address: Option<String>,
}

impl Shared {
    /// [`Shared::require_admin`], naming the caller for the audit trail.
    pub fn admin(&self, headers: &HeaderMap, peer: Peer) -> Result<Admin, AppError> {
        self.require_admin(headers)?;
        let actor = match (super::bearer(headers), self.session(headers)) {
            (None, Some((_, claims))) => {
                let short: String = claims.sid.chars().take(8).collect();
                format!("session:{short}")
            }
            _ => "admin-key".to_string(),
        };
        Ok(Admin {
            actor,
            address: peer.0.map(|a| a.ip().to_string()),
        })
    }
}

impl Admin {
    /// Records `action` on `target` (committed before it returns, so an action is never
    /// answered unrecorded).
    pub async fn record(
        &self,
        shared: &Shared,
        action: &'static str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), AppError> {
        shared
            .store
            .audit(&AuditEntry {
                ts: Utc::now(),
                actor: self.actor.clone(),
                address: self.address.clone(),
                action,
                target: target.to_string(),
                before,
                after,
            })
            .await?;
        Ok(())
    }
}

/// `?limit=` (1–500, default 100) and `?before=` (an entry id) of `GET /api/admin/audit`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditList>, AppError> {
    shared.admin(&headers, peer)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(
            "limit: must be between 1 and 500",
            Some("limit"),
        ));
    }
    let entries = shared.store.audit_page(limit, q.before).await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditList {
        entries,
        next_before,
    }))
}

/// The CSV header of the export.
const CSV_COLUMNS: [&str; 8] = [
    "id", "at", "actor", "address", "action", "target", "before", "after",
];

/// The whole trail as CSV, newest first (`before` and `after` as JSON text).
pub async fn export(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Response, AppError> {
    shared.admin(&headers, peer)?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| AppError::Internal(format!("audit export: {e}"));
    out.write_record(CSV_COLUMNS).map_err(csv_error)?;
    let mut before = None;
    loop {
        let page = shared.store.audit_page(500, before).await?;
        for e in &page {
            out.write_record(row(e)).map_err(csv_error)?;
        }
        match page.last() {
            Some(last) if page.len() == 500 => before = Some(last.id),
            _ => break,
        }
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(format!("audit export: {e}")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"quota-sentinel-audit.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn row(e: &AuditRecord) -> [String; 8] {
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    [
        e.id.to_string(),
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        e.actor.clone(),
        e.address.clone().unwrap_or_default(),
        e.action.clone(),
        e.target.clone(),
        json(&e.before),
        json(&e.after),
    ]
}
