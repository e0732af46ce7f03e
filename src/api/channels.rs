//! Alert channel endpoints (admin only): `GET/POST /api/admin/channels`,
//! `DELETE /api/admin/channels/{id}`, `POST /api/admin/channels/{id}/test` and
//! `GET /api/admin/channels/{id}/deliveries?limit=`. A created channel is checked by the
//! config file's rules (`crate::config::channel_from`); secrets are shown once, at creation.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use super::admin::MintKey as EmptyBody;
use super::audit::Peer;
use super::Shared;
use crate::alerts::{webhook_id, AlertsError};
use crate::error::AppError;
use crate::types::{ChannelCreate, ChannelCreated, ChannelList, DeliveryList, TestAlertQueued};

/// The most delivery records one answer lists.
pub const MAX_DELIVERIES: u32 = 500;

fn app_error(e: AlertsError) -> AppError {
    match e {
        AlertsError::Invalid(f) => AppError::bad_request(f.to_string(), Some(f.field)),
        AlertsError::Exists(id) => AppError::ChannelExists(id),
        AlertsError::NotFound(id) => AppError::ChannelNotFound(id),
        AlertsError::FromFile(id) => AppError::ChannelInConfigFile(id),
        AlertsError::Store(e) => AppError::Store(e),
        // Not produced by the channel list; kept apart from client errors all the same.
        AlertsError::Client(m) | AlertsError::Smtp(m) => AppError::bad_request(m, None),
    }
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<ChannelList>, AppError> {
    shared.require_admin(&headers)?;
    Ok(Json(ChannelList {
        channels: shared.channels.list().iter().map(|c| c.info()).collect(),
    }))
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    body: Result<Json<ChannelCreate>, JsonRejection>,
) -> Result<(StatusCode, Json<ChannelCreated>), AppError> {
    let admin = shared.admin(&headers, peer)?;
    let Json(spec) = body.map_err(|e| AppError::bad_request(e.body_text(), None))?;
    let (channel, secret) = shared
        .channels
        .create(spec, Utc::now())
        .await
        .map_err(app_error)?;
    // The channel as listed: its secret is never in the trail.
    let info = channel.info();
    admin
        .record(
            &shared,
            "channel.create",
            &info.id,
            None,
            serde_json::to_value(&info).ok(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ChannelCreated {
            channel: channel.info(),
            secret,
        }),
    ))
}

pub async fn delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let admin = shared.admin(&headers, peer)?;
    let before = shared.channels.get(&id).map(|c| c.info());
    shared.channels.delete(&id).await.map_err(app_error)?;
    admin
        .record(
            &shared,
            "channel.delete",
            &id,
            before.and_then(|i| serde_json::to_value(&i).ok()),
            None,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes `{}` as its body, like minting a key: a plain HTML form cannot send it.
pub async fn test(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<EmptyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<TestAlertQueued>), AppError> {
    shared.require_admin(&headers)?;
    let Json(EmptyBody {}) = body.map_err(|e| AppError::bad_request(e.body_text(), None))?;
    let (n, outbox_id) = shared
        .channels
        .queue_test(&id, Utc::now())
        .await
        .map_err(app_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestAlertQueued {
            webhook_id: webhook_id(&n.id, &id),
            channel: id,
            notification_id: n.id,
            outbox_id,
        }),
    ))
}

/// `?limit=` of the delivery log (default 50, at most [`MAX_DELIVERIES`]).
#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesQuery {
    pub limit: Option<u32>,
}

pub async fn deliveries(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, AppError> {
    shared.require_admin(&headers)?;
    let Query(q) = q.map_err(|e| AppError::bad_request(e.body_text(), Some("limit")))?;
    if shared.channels.get(&id).is_none() {
        return Err(AppError::ChannelNotFound(id));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_DELIVERIES);
    Ok(Json(DeliveryList {
        deliveries: shared.store.deliveries(&id, limit).await?,
    }))
}
