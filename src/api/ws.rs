//! `GET /api/quota/ws`: live status and notifications over a WebSocket.
//!
//! On connect the client gets a `status` snapshot (every workspace's, for an admin without
//! `?workspace=`, unless `?snapshot=none`: a page of many workspaces reads its own by REST);
//! then `status` and `notification` messages on every change; `ping` is answered with `pong`.
//! A lagging client is not dropped: it gets a fresh snapshot instead of the events it missed
//! (without snapshots, the socket ends and the client reconnects and reads again). The socket
//! is split into a sending and a receiving half driven by one `select!` loop. Sockets per workspace and the size of a client's messages are capped
//! (`crate::guard`): a message past `websocket_max_message_bytes` ends the socket.
//! A socket opened with the session cookie (no `token`, no bearer) must come from the
//! gateway's own origin or an allowed one (`security::check_origin`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::quota::query;
use super::{Principal, Shared};
use crate::alerts::Event;
use crate::error::AppError;
use crate::guard::SocketSlot;
use crate::i18n::{render_notification, render_status, request_locale, Locale};
use crate::registry::Workspace;
use crate::types::{ClientMessage, ServerMessage};

#[derive(Debug, Deserialize)]
pub(super) struct WsQuery {
    token: Option<String>,
    workspace: Option<String>,
    locale: Option<String>,
    /// `all` (the default) or `none`: an admin's every-workspace socket then sends no snapshot
    /// of every workspace on connect or after a lag (a client showing a page of workspaces
    /// reads that page by REST instead).
    snapshot: Option<String>,
}

pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<WsQuery>, QueryRejection>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let q = query(q)?;
    // A socket authenticated by the session cookie must be opened by the gateway's own pages.
    if q.token.is_none() && super::bearer(&headers).is_none() {
        super::security::check_origin(&headers, &uri, &shared.config.cors_allow_origins)?;
    }
    let p = shared.caller(&headers, q.token.as_deref())?;
    let target = match (&p, q.workspace.as_deref()) {
        (Principal::Admin, None) => None,
        _ => Some(shared.target(&p, q.workspace.as_deref())?),
    };
    let locale = request_locale(q.locale.as_deref(), &headers);
    let wanted = match q.snapshot.as_deref() {
        None | Some("all") => true,
        Some("none") => false,
        Some(_) => {
            return Err(AppError::bad_request(
                "`snapshot` must be `all` or `none`.",
                Some("snapshot"),
            ))
        }
    };
    // With `snapshot=none` only the every-workspace socket goes without: one workspace's
    // snapshot is one message.
    let wanted = wanted || target.is_some();
    // A workspace's sockets are capped (refused before the upgrade); the place is held as long
    // as the socket lives. An admin's all-workspaces socket is not counted.
    let limits = shared.config.abuse;
    let slot = match &target {
        Some(w) => Some(SocketSlot::admit(&w.load, &limits)?),
        None => None,
    };
    Ok(ws
        .max_message_size(limits.websocket_max_message_bytes)
        .max_frame_size(limits.websocket_max_message_bytes)
        .on_upgrade(move |socket| async move {
            serve(socket, shared, target, locale, wanted).await;
            drop(slot);
        }))
}

fn encode(m: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(m).unwrap_or_default().into())
}

fn snapshot(
    shared: &Shared,
    target: &Option<Arc<Workspace>>,
    locale: Locale,
    wanted: bool,
) -> Vec<Message> {
    if !wanted {
        return Vec::new();
    }
    let now = Utc::now();
    let list = match target {
        Some(w) => vec![w.clone()],
        None => shared.registry.workspaces(),
    };
    list.iter()
        .map(|w| {
            let v = shared.registry.view(w, now);
            encode(&ServerMessage::Status(Box::new(render_status(
                &v,
                locale,
                shared.config.time_zone,
            ))))
        })
        .collect()
}

async fn serve(
    socket: WebSocket,
    shared: Arc<Shared>,
    target: Option<Arc<Workspace>>,
    locale: Locale,
    wanted: bool,
) {
    let mut events = match &target {
        Some(w) => shared.registry.hub().subscribe(&w.id),
        None => shared.registry.hub().subscribe_all(),
    };
    let (mut tx, mut rx) = socket.split();
    for m in snapshot(&shared, &target, locale, wanted) {
        if tx.send(m).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            ev = events.recv() => {
                let out = match ev {
                    Ok(Event::Status(v)) => vec![encode(&ServerMessage::Status(Box::new(render_status(&v, locale, shared.config.time_zone))))],
                    Ok(Event::Notification(n)) => vec![encode(&ServerMessage::Notification(Box::new(render_notification(&n, locale, shared.config.time_zone))))],
                    Err(RecvError::Lagged(missed)) if !wanted => {
                        // No snapshot to resend: end the socket, the client reconnects and
                        // reads what it shows again.
                        tracing::debug!(missed, "websocket subscriber lagged; closing it (no snapshot)");
                        return;
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "websocket subscriber lagged; resending a snapshot");
                        snapshot(&shared, &target, locale, wanted)
                    }
                    Err(RecvError::Closed) => return,
                };
                for m in out {
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
            }
            msg = rx.next() => {
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Ok(ClientMessage::Ping) = serde_json::from_str::<ClientMessage>(&t) {
                            if tx.send(encode(&ServerMessage::Pong)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}
