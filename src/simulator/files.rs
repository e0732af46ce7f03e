//! Stateful storage endpoints: files (`/v1/files…`, multipart uploads read
//! as a stream and counted), vector stores (`/v1/vector_stores…`) and
//! batches (`/v1/batches…`), plus the streaming multipart reader shared with
//! the audio endpoints.
//!
//! Batches progress on retrieval: created `validating`, first
//! `GET /v1/batches/{id}` → `in_progress`, later ones → `completed` with an
//! output file (and an error file when lines failed) built by running each
//! input line through the simulated endpoint, plus `usage` totals. Batch
//! usage is not added to `tokens_reported`.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{json, Value};

use super::dispatch::parse_json;
use super::store::{list_page, list_response, BatchRec, FileRec, Store, VsRec};
use super::wire::{
    alnum_id, deleted, first_value, hex_id, json, query_pairs, typed, unix_now, ApiError,
};
use super::{chat, lock, media, responses, Ctx, Gen, Metered};

/// Uploads up to this size are kept and served back by `/content`.
pub(crate) const KEEP_FILE_BYTES: usize = 16 * 1024 * 1024;

const PURPOSES: [&str; 7] = [
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
    "responses",
];

/// The file part of a multipart form.
pub(crate) struct UploadedFile {
    pub filename: String,
    pub bytes: u64,
    pub content: Option<Bytes>,
}

/// A multipart form: text fields plus the `file` part.
pub(crate) struct Form {
    pub fields: Vec<(String, String)>,
    pub file: Option<UploadedFile>,
}

impl Form {
    pub(super) fn field(&self, name: &str) -> Option<&str> {
        first_value(&self.fields, name)
    }
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(
        err.status(),
        err.body_text(),
        "invalid_request_error",
        None,
        None,
    )
}

/// Read a multipart form chunk by chunk; the file part is counted and kept
/// only when it fits in `keep` bytes.
pub(crate) async fn read_form(req: Request, keep: usize) -> Result<Form, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type.starts_with("multipart/form-data") {
        return Err(ApiError::invalid(format!(
            "Invalid Content-Type header ({content_type}), expected multipart/form-data. (HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')"
        )));
    }
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::invalid(e.body_text()))?;
    let mut form = Form {
        fields: Vec::new(),
        file: None,
    };
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" || field.file_name().is_some() {
            let filename = field.file_name().unwrap_or("upload").to_owned();
            let mut bytes = 0u64;
            let mut kept = (keep > 0).then(BytesMut::new);
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                bytes += chunk.len() as u64;
                if let Some(buf) = &mut kept {
                    if buf.len() + chunk.len() <= keep {
                        buf.extend_from_slice(&chunk);
                    } else {
                        kept = None;
                    }
                }
            }
            if name == "file" && form.file.is_none() {
                form.file = Some(UploadedFile {
                    filename,
                    bytes,
                    content: kept.map(BytesMut::freeze),
                });
            }
        } else {
            let text = field.text().await.map_err(multipart_error)?;
            form.fields.push((name, text));
        }
    }
    Ok(form)
}

fn no_file(id: &str) -> ApiError {
    ApiError::not_found(format!("No such File object: {id}"), Some("id"))
}

// ---------------------------------------------------------------- files

/// `POST /v1/files`.
pub(crate) async fn upload(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let form = read_form(req, KEEP_FILE_BYTES).await?;
    let purpose = form
        .field("purpose")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::missing("purpose"))?
        .to_owned();
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(ApiError::invalid_param(
            format!("'{purpose}' is not one of ['fine-tune', 'assistants', 'batch', 'user_data', 'responses', 'vision', 'evals'] - 'purpose'"),
            "purpose",
            None,
        ));
    }
    let file = form.file.ok_or_else(|| ApiError::missing("file"))?;
    let rec = FileRec {
        id: alnum_id("file-", 22),
        filename: file.filename,
        purpose,
        bytes: file.bytes,
        created_at: unix_now(),
        content: file.content,
    };
    let out = rec.to_json();
    let mut store = lock(&ctx.inner.store);
    store.files.insert(rec.id.clone(), rec);
    drop(store);
    Ok(json(StatusCode::OK, &out))
}

/// `GET /v1/files` (`purpose`, `limit`, `order`, `after`).
pub(crate) fn list(ctx: &Ctx, query: Option<&str>) -> Result<Response, ApiError> {
    let pairs = query_pairs(query);
    let purpose = first_value(&pairs, "purpose");
    let items: Vec<Value> = {
        let store = lock(&ctx.inner.store);
        store
            .files
            .values()
            .filter(|f| purpose.is_none_or(|p| f.purpose == p))
            .map(FileRec::to_json)
            .collect()
    };
    Ok(json(
        StatusCode::OK,
        &list_page(items, query, 10_000, 10_000),
    ))
}

/// `GET /v1/files/{id}`.
pub(crate) fn get(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let store = lock(&ctx.inner.store);
    let f = store.files.get(id).ok_or_else(|| no_file(id))?;
    Ok(json(StatusCode::OK, &f.to_json()))
}

/// `DELETE /v1/files/{id}`.
pub(crate) fn delete(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let mut store = lock(&ctx.inner.store);
    store.files.remove(id).ok_or_else(|| no_file(id))?;
    Ok(deleted(id, "file"))
}

/// `GET /v1/files/{id}/content`.
pub(crate) fn content(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (content, len) = {
        let store = lock(&ctx.inner.store);
        let f = store.files.get(id).ok_or_else(|| no_file(id))?;
        (f.content.clone(), f.bytes)
    };
    if let Some(bytes) = content {
        return Ok(typed(StatusCode::OK, "application/octet-stream", bytes));
    }
    // Too large to have been kept: the same number of zero bytes.
    static ZEROS: [u8; 65536] = [0; 65536];
    let chunks = len.div_ceil(ZEROS.len() as u64);
    let stream = futures_util::stream::iter((0..chunks).map(move |i| {
        let start = i * ZEROS.len() as u64;
        let n = (len - start).min(ZEROS.len() as u64) as usize;
        Ok::<Bytes, std::io::Error>(Bytes::from_static(&ZEROS[..n]))
    }));
    let mut resp = typed(
        StatusCode::OK,
        "application/octet-stream",
        Body::from_stream(stream),
    );
    if let Ok(v) = header::HeaderValue::try_from(len.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(resp)
}

// ---------------------------------------------------------------- vector stores

#[derive(Deserialize)]
struct VsCreate {
    name: Option<String>,
    file_ids: Option<Vec<String>>,
    metadata: Option<Value>,
}

fn vs_file_obj(file: &FileRec, vs_id: &str, now: u64) -> Value {
    json!({
        "id": file.id,
        "object": "vector_store.file",
        "usage_bytes": file.bytes,
        "created_at": now,
        "vector_store_id": vs_id,
        "status": "completed",
        "last_error": null,
        "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
        "attributes": {},
    })
}

fn refresh_vs(vs: &mut VsRec) {
    let total = vs.files.values().count();
    let bytes: u64 = vs
        .files
        .values()
        .filter_map(|f| f.get("usage_bytes").and_then(Value::as_u64))
        .sum();
    vs.obj["usage_bytes"] = json!(bytes);
    vs.obj["file_counts"] =
        json!({"in_progress": 0, "completed": total, "failed": 0, "cancelled": 0, "total": total});
    vs.obj["last_active_at"] = json!(unix_now());
}

/// `POST /v1/vector_stores`.
pub(crate) fn vs_create(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let req: VsCreate = parse_json(body)?;
    let now = unix_now();
    let id = alnum_id("vs_", 24);
    let mut store = lock(&ctx.inner.store);
    let mut vs = VsRec {
        obj: json!({
            "id": id,
            "object": "vector_store",
            "created_at": now,
            "name": req.name,
            "usage_bytes": 0,
            "file_counts": {},
            "status": "completed",
            "expires_after": null,
            "expires_at": null,
            "last_active_at": now,
            "metadata": req.metadata.unwrap_or_else(|| json!({})),
        }),
        files: Default::default(),
    };
    for fid in req.file_ids.unwrap_or_default() {
        let f = store.files.get(&fid).ok_or_else(|| no_file(&fid))?;
        vs.files.insert(fid.clone(), vs_file_obj(f, &id, now));
    }
    refresh_vs(&mut vs);
    let out = vs.obj.clone();
    store.vector_stores.insert(id, vs);
    Ok(json(StatusCode::OK, &out))
}

/// `GET /v1/vector_stores`.
pub(crate) fn vs_list(ctx: &Ctx, query: Option<&str>) -> Result<Response, ApiError> {
    Ok(lock(&ctx.inner.store).vector_stores.list(query))
}

/// `GET /v1/vector_stores/{id}`.
pub(crate) fn vs_get(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let store = lock(&ctx.inner.store);
    let vs = store
        .vector_stores
        .get(id)
        .ok_or_else(|| ApiError::no_object("vector store", id))?;
    Ok(json(StatusCode::OK, &vs.obj))
}

/// `DELETE /v1/vector_stores/{id}`.
pub(crate) fn vs_delete(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    lock(&ctx.inner.store)
        .vector_stores
        .delete(id, "vector store", "vector_store.deleted")
}

#[derive(Deserialize)]
struct VsFileCreate {
    file_id: Option<String>,
}

/// `POST /v1/vector_stores/{id}/files`.
pub(crate) fn vs_file_create(ctx: &Ctx, vs_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let req: VsFileCreate = parse_json(body)?;
    let fid = req.file_id.ok_or_else(|| ApiError::missing("file_id"))?;
    let mut guard = lock(&ctx.inner.store);
    let store: &mut Store = &mut guard;
    let file = store.files.get(&fid).ok_or_else(|| no_file(&fid))?;
    let vs = store
        .vector_stores
        .get_mut(vs_id)
        .ok_or_else(|| ApiError::no_object("vector store", vs_id))?;
    let obj = vs_file_obj(file, vs_id, unix_now());
    vs.files.insert(fid, obj.clone());
    refresh_vs(vs);
    Ok(json(StatusCode::OK, &obj))
}

/// `GET /v1/vector_stores/{id}/files`.
pub(crate) fn vs_file_list(
    ctx: &Ctx,
    vs_id: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let store = lock(&ctx.inner.store);
    let vs = store
        .vector_stores
        .get(vs_id)
        .ok_or_else(|| ApiError::no_object("vector store", vs_id))?;
    Ok(list_response(vs.files.values().cloned(), query))
}

/// `GET /v1/vector_stores/{id}/files/{file_id}`.
pub(crate) fn vs_file_get(ctx: &Ctx, vs_id: &str, fid: &str) -> Result<Response, ApiError> {
    let store = lock(&ctx.inner.store);
    let vs = store
        .vector_stores
        .get(vs_id)
        .ok_or_else(|| ApiError::no_object("vector store", vs_id))?;
    let f = vs.files.get(fid).ok_or_else(|| {
        ApiError::not_found(
            format!("No file found with id '{fid}' in vector store '{vs_id}'."),
            None,
        )
    })?;
    Ok(json(StatusCode::OK, f))
}

// ---------------------------------------------------------------- batches

const BATCH_ENDPOINTS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
];

#[derive(Deserialize)]
struct BatchCreate {
    input_file_id: Option<String>,
    endpoint: Option<String>,
    completion_window: Option<String>,
    metadata: Option<Value>,
}

/// `POST /v1/batches`.
pub(crate) fn batch_create(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let req: BatchCreate = parse_json(body)?;
    let input = req
        .input_file_id
        .ok_or_else(|| ApiError::missing("input_file_id"))?;
    let endpoint = req.endpoint.ok_or_else(|| ApiError::missing("endpoint"))?;
    let window = req
        .completion_window
        .ok_or_else(|| ApiError::missing("completion_window"))?;
    if !BATCH_ENDPOINTS.contains(&endpoint.as_str()) {
        return Err(ApiError::invalid_param(
            format!("Invalid value: '{endpoint}'. Supported values are: '/v1/chat/completions', '/v1/embeddings', '/v1/completions' and '/v1/responses'."),
            "endpoint",
            Some("invalid_value"),
        ));
    }
    if window != "24h" {
        return Err(ApiError::invalid_param(
            format!("Invalid value: '{window}'. Supported values are: '24h'."),
            "completion_window",
            Some("invalid_value"),
        ));
    }
    let mut store = lock(&ctx.inner.store);
    if store.files.get(&input).is_none() {
        return Err(no_file(&input));
    }
    let now = unix_now();
    let id = alnum_id("batch_", 32);
    let obj = json!({
        "id": id,
        "object": "batch",
        "endpoint": endpoint,
        "errors": null,
        "input_file_id": input,
        "completion_window": window,
        "status": "validating",
        "output_file_id": null,
        "error_file_id": null,
        "created_at": now,
        "in_progress_at": null,
        "expires_at": now + 86_400,
        "finalizing_at": null,
        "completed_at": null,
        "failed_at": null,
        "expired_at": null,
        "cancelling_at": null,
        "cancelled_at": null,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": req.metadata,
    });
    store.batches.insert(
        id,
        BatchRec {
            obj: obj.clone(),
            gets: 0,
        },
    );
    Ok(json(StatusCode::OK, &obj))
}

/// `GET /v1/batches`.
pub(crate) fn batch_list(ctx: &Ctx, query: Option<&str>) -> Result<Response, ApiError> {
    Ok(lock(&ctx.inner.store).batches.list(query))
}

fn input_lines(store: &Store, input_id: &str) -> Vec<String> {
    store
        .files
        .get(input_id)
        .and_then(|f| f.content.as_ref())
        .map(|c| {
            String::from_utf8_lossy(c)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Run one batch line; returns (output line, ok, usage).
fn run_line(line: &str, endpoint: &str) -> (String, bool, Metered) {
    let parsed: Result<Value, _> = serde_json::from_str(line);
    let custom_id = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("custom_id").cloned())
        .unwrap_or(Value::Null);
    let result = match &parsed {
        Err(e) => Err(ApiError::from_json(e)),
        Ok(v) => {
            let url = v.get("url").and_then(Value::as_str).unwrap_or("");
            let body = v.get("body").map(Value::to_string).unwrap_or_default();
            if url != endpoint {
                Err(ApiError::invalid_param(
                    format!("The URL provided for this request does not match the batch endpoint ({endpoint})."),
                    "url",
                    None,
                ))
            } else {
                let gen = Gen::default();
                match url {
                    "/v1/chat/completions" => chat::chat_json(body.as_bytes(), gen),
                    "/v1/completions" => chat::completions_json(body.as_bytes(), gen),
                    "/v1/embeddings" => media::embeddings_json(body.as_bytes(), gen),
                    _ => responses::responses_json(body.as_bytes(), gen),
                }
            }
        }
    };
    let custom = custom_id.to_string();
    let req_id = hex_id("req_", 32);
    let line_id = hex_id("batch_req_", 32);
    match result {
        Ok((body, metered)) => (
            format!(
                "{{\"id\":\"{line_id}\",\"custom_id\":{custom},\"response\":{{\"status_code\":200,\"request_id\":\"{req_id}\",\"body\":{}}},\"error\":null}}",
                String::from_utf8_lossy(&body)
            ),
            true,
            metered,
        ),
        Err(err) => (
            format!(
                "{{\"id\":\"{line_id}\",\"custom_id\":{custom},\"response\":{{\"status_code\":{},\"request_id\":\"{req_id}\",\"body\":{}}},\"error\":null}}",
                err.status.as_u16(),
                err.body
            ),
            false,
            Metered::default(),
        ),
    }
}

fn complete_batch(store: &mut Store, id: &str) {
    let Some(batch) = store.batches.get(id) else {
        return;
    };
    let input_id = batch.obj["input_file_id"].as_str().unwrap_or("").to_owned();
    let endpoint = batch.obj["endpoint"].as_str().unwrap_or("").to_owned();
    let lines = input_lines(store, &input_id);
    let (mut out, mut errs) = (String::new(), String::new());
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut usage = Metered::default();
    for line in &lines {
        let (text, success, m) = run_line(line, &endpoint);
        if success {
            ok += 1;
            out.push_str(&text);
            out.push('\n');
        } else {
            failed += 1;
            errs.push_str(&text);
            errs.push('\n');
        }
        usage.input += m.input;
        usage.output += m.output;
        usage.cached += m.cached;
    }
    let now = unix_now();
    let mut new_file = |content: String, suffix: &str| {
        let rec = FileRec {
            id: alnum_id("file-", 22),
            filename: format!("{id}_{suffix}.jsonl"),
            purpose: "batch_output".to_owned(),
            bytes: content.len() as u64,
            created_at: now,
            content: Some(Bytes::from(content)),
        };
        let fid = rec.id.clone();
        store.files.insert(fid.clone(), rec);
        fid
    };
    let output_id = new_file(out, "output");
    let error_id = (failed > 0).then(|| new_file(errs, "error"));
    if let Some(batch) = store.batches.get_mut(id) {
        let o = &mut batch.obj;
        o["status"] = json!("completed");
        o["finalizing_at"] = json!(now);
        o["completed_at"] = json!(now);
        o["output_file_id"] = json!(output_id);
        o["error_file_id"] = json!(error_id);
        o["request_counts"] = json!({"total": ok + failed, "completed": ok, "failed": failed});
        o["usage"] = json!({
            "input_tokens": usage.input,
            "input_tokens_details": {"cached_tokens": usage.cached},
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.input + usage.output,
        });
    }
}

/// `GET /v1/batches/{id}` (advances the batch, see module docs).
pub(crate) fn batch_get(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let mut guard = lock(&ctx.inner.store);
    let store: &mut Store = &mut guard;
    let (status, gets) = {
        let b = store
            .batches
            .get_mut(id)
            .ok_or_else(|| ApiError::no_object("batch", id))?;
        b.gets += 1;
        (b.obj["status"].as_str().unwrap_or("").to_owned(), b.gets)
    };
    let now = unix_now();
    match status.as_str() {
        "validating" => {
            let input_id = store
                .batches
                .get(id)
                .and_then(|b| b.obj["input_file_id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let total = input_lines(store, &input_id).len();
            if let Some(b) = store.batches.get_mut(id) {
                b.obj["status"] = json!("in_progress");
                b.obj["in_progress_at"] = json!(now);
                b.obj["request_counts"] = json!({"total": total, "completed": 0, "failed": 0});
            }
        }
        "in_progress" if gets >= 2 => complete_batch(store, id),
        "cancelling" => {
            if let Some(b) = store.batches.get_mut(id) {
                b.obj["status"] = json!("cancelled");
                b.obj["cancelled_at"] = json!(now);
            }
        }
        _ => {}
    }
    let obj = store
        .batches
        .get(id)
        .map(|b| b.obj.clone())
        .ok_or_else(|| ApiError::no_object("batch", id))?;
    Ok(json(StatusCode::OK, &obj))
}

/// `POST /v1/batches/{id}/cancel`.
pub(crate) fn batch_cancel(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let mut store = lock(&ctx.inner.store);
    let b = store
        .batches
        .get_mut(id)
        .ok_or_else(|| ApiError::no_object("batch", id))?;
    let status = b.obj["status"].as_str().unwrap_or("").to_owned();
    if !matches!(status.as_str(), "validating" | "in_progress" | "finalizing") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Cannot cancel a batch with status '{status}'."),
            "invalid_request_error",
            None,
            None,
        ));
    }
    b.obj["status"] = json!("cancelling");
    b.obj["cancelling_at"] = json!(unix_now());
    Ok(json(StatusCode::OK, &b.obj))
}
