//! Admin endpoints: `POST /api/quota/reset`, `GET/POST /api/admin/workspaces` (the list is
//! paged and searched: see [`list`]), `GET /api/admin/overview`,
//! `PATCH /api/admin/workspaces/{id}` (limits and alert rules, live),
//! `POST /api/admin/workspaces/{id}/keys`, `DELETE /api/admin/workspaces/{id}/keys/{key_id}`.
//! All need the admin key; the POSTs take a JSON body (`{}` to mint a key), so a plain HTML
//! form from another page cannot call them. Every change is recorded in the audit trail
//! (see [`super::audit`]) before it is answered.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use rand::RngCore;

use super::audit::Peer;
use super::quota::query;
use super::{Scope, Shared};
use crate::config::{limits_from, validate_workspace_id, validate_workspace_name};
use crate::error::AppError;
use crate::i18n::{render_status, request_locale};
use crate::registry::key_hash;
use crate::store::{StoredKey, StoredWorkspace};
use crate::types::{
    AdminOverview, CreateWorkspace, LimitFields, MintedKey, ResetRequest, Status, StatusReport,
    WorkspaceForecast, WorkspaceList, WorkspaceSpend, WORKSPACE_PAGE_DEFAULT, WORKSPACE_PAGE_MAX,
};

fn json<T>(j: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    j.map(|Json(v)| v)
        .map_err(|e| AppError::bad_request(e.body_text(), None))
}

pub async fn reset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    body: Result<Json<ResetRequest>, JsonRejection>,
) -> Result<Json<StatusReport>, AppError> {
    let admin = shared.admin(&headers, peer)?;
    let req = json(body)?;
    let w = shared
        .registry
        .workspace(&req.workspace)
        .ok_or_else(|| AppError::WorkspaceNotFound(req.workspace.clone()))?;
    let before = serde_json::to_value(shared.registry.view(&w, Utc::now()).usage).ok();
    admin
        .record(&shared, "quota.reset", &w.id, before, None)
        .await?;
    let now = Utc::now();
    if let Some(state) = shared.proxy.shared_state() {
        // Every instance's counters: unreachable, nothing is reset anywhere.
        let (day, month) = shared.registry.periods_of(&w, now);
        state
            .reset(&w.id, now.timestamp(), day, month)
            .await
            .map_err(|_| AppError::QuotaStateUnavailable(w.id.to_string()))?;
    }
    shared.registry.reset(&w, now);
    tracing::info!(workspace = %w.id, "admin reset");
    let view = shared.registry.view(&w, now);
    Ok(Json(render_status(
        &view,
        request_locale(None, &headers),
        shared.config.time_zone,
    )))
}

/// The query of `GET /api/admin/workspaces`. Numbers are read here, so that a wrong one is a
/// 400 naming its parameter.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    /// Part of the id or name, any case; empty or absent: every workspace.
    pub q: Option<String>,
    /// 1 to [`WORKSPACE_PAGE_MAX`]; [`WORKSPACE_PAGE_DEFAULT`] when absent.
    pub limit: Option<String>,
    /// A `next_cursor` of an earlier page.
    pub cursor: Option<String>,
    /// Only the workspaces with this status now (`normal`, `warning`, `degraded`,
    /// `rate_limited`, `quota_exceeded`); absent or empty: any.
    pub status: Option<String>,
    pub locale: Option<String>,
}

/// The longest search text: more than any id or name can match.
const SEARCH_MAX: usize = 200;

/// A checked [`ListQuery`]: the search, the id the page starts after, the page size.
#[derive(Debug, PartialEq, Eq)]
pub struct ListParams {
    pub q: String,
    pub status: Option<Status>,
    pub after: Option<String>,
    pub limit: usize,
}

/// The cursor of a page that ends with workspace `last`: opaque to callers (keyset paging by
/// id, so a workspace created meanwhile moves no other one to another page).
pub fn encode_cursor(last: &str) -> String {
    format!("ws.{}", hex::encode(last))
}

fn decode_cursor(c: &str) -> Option<String> {
    let bytes = hex::decode(c.strip_prefix("ws.")?).ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

impl ListQuery {
    pub fn check(&self) -> Result<ListParams, AppError> {
        let limit = match self.limit.as_deref() {
            None | Some("") => WORKSPACE_PAGE_DEFAULT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=WORKSPACE_PAGE_MAX).contains(n))
                .ok_or_else(|| {
                    AppError::bad_request(
                        format!("`limit` must be a whole number from 1 to {WORKSPACE_PAGE_MAX}, not `{}`.", s.chars().take(40).collect::<String>()),
                        Some("limit"),
                    )
                })?,
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                AppError::bad_request(
                    "`cursor` must be a `next_cursor` of this endpoint.",
                    Some("cursor"),
                )
            })?),
        };
        let q = self.q.as_deref().unwrap_or("").trim();
        if q.chars().count() > SEARCH_MAX {
            return Err(AppError::bad_request(
                format!("`q` must be at most {SEARCH_MAX} characters."),
                Some("q"),
            ));
        }
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some(v) => Some(
                Status::ALL
                    .into_iter()
                    .find(|s| s.as_str() == v)
                    .ok_or_else(|| {
                        AppError::bad_request(
                            "`status` must be one of normal, warning, degraded, rate_limited, quota_exceeded.",
                            Some("status"),
                        )
                    })?,
            ),
        };
        Ok(ListParams {
            q: q.to_string(),
            status,
            after,
            limit,
        })
    }
}

/// A page of the workspaces in `locale`: those whose id or name contains `p.q`, sorted by id.
pub fn list_page(shared: &Shared, p: &ListParams, locale: crate::i18n::Locale) -> WorkspaceList {
    let now = Utc::now();
    let page = shared
        .registry
        .page_with_status(&p.q, p.status, p.after.as_deref(), p.limit);
    let next_cursor = if page.more {
        page.workspaces.last().map(|w| encode_cursor(&w.id))
    } else {
        None
    };
    WorkspaceList {
        workspaces: page
            .workspaces
            .iter()
            .map(|w| {
                render_status(
                    &shared.registry.view(w, now),
                    locale,
                    shared.config.time_zone,
                )
            })
            .collect(),
        next_cursor,
        total: page.total,
    }
}

/// `GET /api/admin/workspaces?q=&status=&limit=&cursor=&locale=`: a page of the workspaces,
/// sorted by id, with the cursor of the next page (`null` on the last) and how many match in all.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<WorkspaceList>, AppError> {
    shared.require_admin(&headers)?;
    let q = query(q)?;
    let params = q.check()?;
    let locale = request_locale(q.locale.as_deref(), &headers);
    Ok(Json(list_page(&shared, &params, locale)))
}

/// How many workspaces each of the overview's top lists names.
pub const OVERVIEW_TOP: usize = 5;

/// `GET /api/admin/overview?locale=`: the overview of every workspace (sums, top lists, the
/// account's status).
pub async fn overview(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<Scope>, QueryRejection>,
) -> Result<Json<AdminOverview>, AppError> {
    shared.require_admin(&headers)?;
    let q = query(q)?;
    let locale = request_locale(q.locale.as_deref(), &headers);
    Ok(Json(overview_report(&shared, locale)))
}

/// The overview as the API and the admin page show it.
pub fn overview_report(shared: &Shared, locale: crate::i18n::Locale) -> AdminOverview {
    let now = Utc::now();
    let tz = shared.config.time_zone;
    let o = shared.registry.overview(now, OVERVIEW_TOP);
    let account = o.account.as_ref().map(|v| render_status(v, locale, tz));
    AdminOverview {
        workspaces: o.workspaces,
        cost_usd_day: o.cost_usd_day,
        cost_usd_month: o.cost_usd_month,
        top_spend: o
            .top_spend
            .iter()
            .map(|(w, usd)| WorkspaceSpend {
                workspace: w.id.to_string(),
                name: w.name.clone(),
                cost_usd_day: *usd,
            })
            .collect(),
        burning: o
            .burning
            .iter()
            .map(|(w, f)| WorkspaceForecast {
                workspace: w.id.to_string(),
                name: w.name.clone(),
                forecast: crate::i18n::render_forecast(
                    &crate::types::LimitForecast {
                        limit: f.limit,
                        runs_out_at: f.runs_out_at,
                        resets_at: f.resets_at,
                        before_reset: f.before_reset(),
                        text: String::new(),
                    },
                    locale,
                    tz,
                    now,
                ),
            })
            .collect(),
        account_status: account.as_ref().map_or(Status::Normal, |r| r.status),
        account_message: account.as_ref().map(|r| r.message.clone()),
        upstream: o.upstream,
    }
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    body: Result<Json<CreateWorkspace>, JsonRejection>,
) -> Result<(StatusCode, Json<StatusReport>), AppError> {
    let admin = shared.admin(&headers, peer)?;
    let req = json(body)?;
    validate_workspace_id(&req.id)
        .map_err(|rule| AppError::bad_request(format!("id: {rule}"), Some("id")))?;
    if let Some(name) = &req.name {
        validate_workspace_name(name)
            .map_err(|rule| AppError::bad_request(format!("name: {rule}"), Some("name")))?;
    }
    if shared.registry.workspace(&req.id).is_some() {
        return Err(AppError::WorkspaceExists(req.id));
    }
    let limits = limits_from("body", &req.limits, &shared.config.defaults)
        .map_err(|e| AppError::bad_request(e.to_string(), None))?;
    let name = req.name.clone().unwrap_or_else(|| req.id.clone());
    let now = Utc::now();
    admin
        .record(
            &shared,
            "workspace.create",
            &req.id,
            None,
            Some(serde_json::json!({ "name": name, "limits": req.limits })),
        )
        .await?;
    shared
        .store
        .insert_workspace(
            &StoredWorkspace {
                id: req.id.clone(),
                name: name.clone(),
                limits: req.limits,
            },
            now,
        )
        .await?;
    let w = shared
        .registry
        .upsert_workspace(&req.id, &name, limits, now);
    let view = shared.registry.view(&w, now);
    Ok((
        StatusCode::CREATED,
        Json(render_status(
            &view,
            request_locale(None, &headers),
            shared.config.time_zone,
        )),
    ))
}

/// A new workspace key: `qs_` and 64 hex characters (256 random bits).
pub fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = String::with_capacity(3 + 64);
    s.push_str("qs_");
    s.push_str(&hex::encode(bytes));
    s
}

/// The body of `POST /api/admin/workspaces/{id}/keys`: `{}`. Required, with
/// `Content-Type: application/json`, so that a plain form cannot mint a key.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintKey {}

pub async fn mint_key(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
    body: Result<Json<MintKey>, JsonRejection>,
) -> Result<(StatusCode, Json<MintedKey>), AppError> {
    let admin = shared.admin(&headers, peer)?;
    json(body)?;
    if shared.registry.workspace(&id).is_none() {
        return Err(AppError::WorkspaceNotFound(id));
    }
    let key = new_key();
    let hash = key_hash(&key);
    let key_id = format!("key_{}", &hex::encode(hash)[..12]);
    // The key itself is shown once, to the caller; the trail names it by id only.
    admin
        .record(
            &shared,
            "key.mint",
            &key_id,
            None,
            Some(serde_json::json!({ "workspace": id, "key_id": key_id })),
        )
        .await?;
    shared
        .store
        .insert_key(
            &StoredKey {
                key_id: key_id.clone(),
                workspace: id.clone(),
                sha256: hash,
            },
            Utc::now(),
        )
        .await?;
    shared.registry.add_key(&id, &key_id, hash);
    tracing::info!(workspace = %id, %key_id, "key minted");
    Ok((
        StatusCode::CREATED,
        Json(MintedKey {
            workspace: id,
            key_id,
            key,
            key_sha256: hex::encode(hash),
        }),
    ))
}

/// Revokes a key minted through the API: it stops authenticating at once, and browser
/// sessions made from it end. Keys of the config file are revoked by editing the file (409).
pub async fn revoke_key(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let admin = shared.admin(&headers, peer)?;
    if shared.registry.workspace(&id).is_none() {
        return Err(AppError::WorkspaceNotFound(id));
    }
    let stored = shared
        .store
        .keys()
        .await?
        .into_iter()
        .any(|k| k.workspace == id && k.key_id == key_id);
    if !stored {
        return Err(if shared.registry.has_key(&id, &key_id) {
            AppError::Conflict(format!(
                "Key `{key_id}` is set in the configuration file: remove it there and restart."
            ))
        } else {
            AppError::NotFound(format!("key `{key_id}` of workspace `{id}`"))
        });
    }
    admin
        .record(
            &shared,
            "key.revoke",
            &key_id,
            Some(serde_json::json!({ "workspace": id, "key_id": key_id })),
            None,
        )
        .await?;
    shared.store.delete_key(&key_id).await?;
    shared.registry.remove_key(&id, &key_id);
    tracing::info!(workspace = %id, %key_id, "key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Edits a workspace's limits and alert rules, live: the fields given replace the ones in
/// force (`0` removes a limit), are checked by the same rules as the config file, apply at
/// once, and are stored so that they survive a restart. An admin's edit wins over the config
/// file and over the limits a workspace was created with.
pub async fn edit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
    body: Result<Json<LimitFields>, JsonRejection>,
) -> Result<Json<StatusReport>, AppError> {
    let admin = shared.admin(&headers, peer)?;
    let edit = json(body)?;
    let w = shared
        .registry
        .workspace(&id)
        .ok_or_else(|| AppError::WorkspaceNotFound(id.clone()))?;
    let before = w.limits();
    let (fields, limits) =
        shared
            .registry
            .preview_edit(&w, &edit)
            .map_err(|e| AppError::BadRequest {
                message: format!("{}: {e}", e.field()),
                param: Some(e.field()),
            })?;
    admin
        .record(
            &shared,
            "workspace.limits",
            &id,
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&limits).ok(),
        )
        .await?;
    let now = Utc::now();
    shared.store.put_workspace_edit(&id, &fields, now).await?;
    shared.registry.apply_edit(&w, fields, limits, now);
    tracing::info!(workspace = %id, "limits edited");
    let view = shared.registry.view(&w, now);
    Ok(Json(render_status(
        &view,
        request_locale(None, &headers),
        shared.config.time_zone,
    )))
}

/// The account-wide budget and its forecasts (the admin's overview).
pub async fn account(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<Scope>, QueryRejection>,
) -> Result<Json<crate::types::AccountBudgetReport>, AppError> {
    shared.require_admin(&headers)?;
    let q = query(q)?;
    let locale = request_locale(q.locale.as_deref(), &headers);
    Ok(Json(account_report(&shared, locale)))
}

/// The account-wide budget as the API and the overview show it.
pub fn account_report(
    shared: &Shared,
    locale: crate::i18n::Locale,
) -> crate::types::AccountBudgetReport {
    let now = Utc::now();
    let Some(limits) = shared.registry.account_budget() else {
        return crate::types::AccountBudgetReport::default();
    };
    crate::types::AccountBudgetReport {
        budget_usd_per_day: limits.budget_usd_per_day,
        budget_usd_per_month: limits.budget_usd_per_month,
        forecasts: shared
            .registry
            .account_forecasts(now)
            .into_iter()
            .map(|f| {
                let f = crate::types::LimitForecast {
                    limit: f.limit,
                    runs_out_at: f.runs_out_at,
                    resets_at: f.resets_at,
                    before_reset: f.before_reset(),
                    text: String::new(),
                };
                crate::i18n::render_forecast(&f, locale, shared.config.time_zone, now)
            })
            .collect(),
    }
}
