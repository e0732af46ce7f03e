//! The `/v1` route table: maps (method, path) to a handler without
//! allocating for fixed paths, reads JSON bodies with OpenAI-shaped errors,
//! and answers unknown routes with OpenAI's `Invalid URL (METHOD /path)` 404.
//!
//! | method | path | handler |
//! | --- | --- | --- |
//! | POST | /v1/chat/completions, /v1/completions | [`super::chat`] |
//! | POST | /v1/responses | [`super::responses`] |
//! | POST | /v1/embeddings, /v1/images/generations, /v1/moderations | [`super::media`] |
//! | POST | /v1/audio/transcriptions, /v1/audio/translations, /v1/audio/speech | [`super::media`] |
//! | POST, GET | /v1/files; GET, DELETE /v1/files/{id}; GET /v1/files/{id}/content | [`super::files`] |
//! | POST, GET | /v1/vector_stores, /v1/vector_stores/{id}[/files[/{fid}]] (+DELETE store) | [`super::files`] |
//! | POST, GET | /v1/batches, /v1/batches/{id}, POST /v1/batches/{id}/cancel | [`super::files`] |
//! | POST, GET | /v1/assistants[/{id}], /v1/threads[/{id}], /v1/threads/{id}/messages, /v1/threads/{id}/runs[/{rid}[/cancel]], /v1/threads/runs | [`super::assistants`] |
//! | GET | /v1/models, /v1/models/{id} | [`super::models`] |

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::wire::ApiError;
use super::{assistants, chat, files, media, models, responses, Ctx};

/// Largest JSON body read.
const MAX_JSON_BYTES: usize = 128 * 1024 * 1024;

pub(crate) enum Route {
    ChatCompletions,
    Completions,
    Responses,
    Embeddings,
    ImagesGenerations,
    AudioTranscriptions,
    AudioTranslations,
    AudioSpeech,
    Moderations,
    FilesCreate,
    FilesList,
    FileGet(String),
    FileDelete(String),
    FileContent(String),
    VectorStoresCreate,
    VectorStoresList,
    VectorStoreGet(String),
    VectorStoreDelete(String),
    VsFilesCreate(String),
    VsFilesList(String),
    VsFileGet(String, String),
    BatchesCreate,
    BatchesList,
    BatchGet(String),
    BatchCancel(String),
    ModelsList,
    ModelGet(String),
    Assistants(assistants::Op),
    NotFound,
}

fn id(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Route of `method path` (`path` includes the `/v1` prefix).
pub(crate) fn route(method: &str, path: &str) -> Route {
    use assistants::Op;
    let Some(rest) = path.strip_prefix("/v1/") else {
        return Route::NotFound;
    };
    let mut segs = [""; 6];
    let mut n = 0;
    for s in rest.split('/') {
        if n == segs.len() {
            return Route::NotFound;
        }
        segs[n] = s;
        n += 1;
    }
    let r = match (method, &segs[..n]) {
        ("POST", ["chat", "completions"]) => Some(Route::ChatCompletions),
        ("POST", ["completions"]) => Some(Route::Completions),
        ("POST", ["responses"]) => Some(Route::Responses),
        ("POST", ["embeddings"]) => Some(Route::Embeddings),
        ("POST", ["images", "generations"]) => Some(Route::ImagesGenerations),
        ("POST", ["audio", "transcriptions"]) => Some(Route::AudioTranscriptions),
        ("POST", ["audio", "translations"]) => Some(Route::AudioTranslations),
        ("POST", ["audio", "speech"]) => Some(Route::AudioSpeech),
        ("POST", ["moderations"]) => Some(Route::Moderations),

        ("POST", ["files"]) => Some(Route::FilesCreate),
        ("GET", ["files"]) => Some(Route::FilesList),
        ("GET", ["files", f]) => id(f).map(Route::FileGet),
        ("DELETE", ["files", f]) => id(f).map(Route::FileDelete),
        ("GET", ["files", f, "content"]) => id(f).map(Route::FileContent),

        ("POST", ["vector_stores"]) => Some(Route::VectorStoresCreate),
        ("GET", ["vector_stores"]) => Some(Route::VectorStoresList),
        ("GET", ["vector_stores", v]) => id(v).map(Route::VectorStoreGet),
        ("DELETE", ["vector_stores", v]) => id(v).map(Route::VectorStoreDelete),
        ("POST", ["vector_stores", v, "files"]) => id(v).map(Route::VsFilesCreate),
        ("GET", ["vector_stores", v, "files"]) => id(v).map(Route::VsFilesList),
        ("GET", ["vector_stores", v, "files", f]) => {
            id(v).zip(id(f)).map(|(v, f)| Route::VsFileGet(v, f))
        }

        ("POST", ["batches"]) => Some(Route::BatchesCreate),
        ("GET", ["batches"]) => Some(Route::BatchesList),
        ("GET", ["batches", b]) => id(b).map(Route::BatchGet),
        ("POST", ["batches", b, "cancel"]) => id(b).map(Route::BatchCancel),

        ("GET", ["models"]) => Some(Route::ModelsList),
        ("GET", ["models", m]) => id(m).map(Route::ModelGet),

        ("POST", ["assistants"]) => Some(Route::Assistants(Op::AssistantCreate)),
        ("GET", ["assistants"]) => Some(Route::Assistants(Op::AssistantList)),
        ("GET", ["assistants", a]) => id(a).map(|a| Route::Assistants(Op::AssistantGet(a))),
        ("DELETE", ["assistants", a]) => id(a).map(|a| Route::Assistants(Op::AssistantDelete(a))),
        ("POST", ["threads"]) => Some(Route::Assistants(Op::ThreadCreate)),
        ("POST", ["threads", "runs"]) => Some(Route::Assistants(Op::ThreadAndRun)),
        ("GET", ["threads", t]) => id(t).map(|t| Route::Assistants(Op::ThreadGet(t))),
        ("DELETE", ["threads", t]) => id(t).map(|t| Route::Assistants(Op::ThreadDelete(t))),
        ("POST", ["threads", t, "messages"]) => {
            id(t).map(|t| Route::Assistants(Op::MessageCreate(t)))
        }
        ("GET", ["threads", t, "messages"]) => id(t).map(|t| Route::Assistants(Op::MessageList(t))),
        ("POST", ["threads", t, "runs"]) => id(t).map(|t| Route::Assistants(Op::RunCreate(t))),
        ("GET", ["threads", t, "runs"]) => id(t).map(|t| Route::Assistants(Op::RunList(t))),
        ("GET", ["threads", t, "runs", r]) => id(t)
            .zip(id(r))
            .map(|(t, r)| Route::Assistants(Op::RunGet(t, r))),
        ("POST", ["threads", t, "runs", r, "cancel"]) => id(t)
            .zip(id(r))
            .map(|(t, r)| Route::Assistants(Op::RunCancel(t, r))),
        _ => None,
    };
    r.unwrap_or(Route::NotFound)
}

/// Read the whole body (bounded).
pub(crate) async fn body_bytes(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|err| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body could not be read: {err}"),
                "invalid_request_error",
                None,
                None,
            )
        })
}

/// Parse JSON bytes; OpenAI's 400 on failure. An empty body counts as `{}`.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let trimmed = bytes.iter().all(u8::is_ascii_whitespace);
    let src: &[u8] = if trimmed { b"{}" } else { bytes };
    serde_json::from_slice(src).map_err(|e| ApiError::from_json(&e))
}

pub(crate) async fn dispatch(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let r = route(req.method().as_str(), req.uri().path());
    match r {
        Route::ChatCompletions => chat::chat_completions(ctx, &json_bytes(req).await?),
        Route::Completions => chat::completions(ctx, &json_bytes(req).await?),
        Route::Responses => responses::create(ctx, &json_bytes(req).await?),
        Route::Embeddings => media::embeddings(ctx, &json_bytes(req).await?),
        Route::ImagesGenerations => {
            let host = req
                .headers()
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned);
            media::images(ctx, &json_bytes(req).await?, host.as_deref())
        }
        Route::AudioTranscriptions => {
            media::transcribe(ctx, req, media::AudioTask::Transcribe).await
        }
        Route::AudioTranslations => media::transcribe(ctx, req, media::AudioTask::Translate).await,
        Route::AudioSpeech => media::speech(ctx, &json_bytes(req).await?),
        Route::Moderations => media::moderations(ctx, &json_bytes(req).await?),
        Route::FilesCreate => files::upload(ctx, req).await,
        Route::FilesList => files::list(ctx, req.uri().query()),
        Route::FileGet(id) => files::get(ctx, &id),
        Route::FileDelete(id) => files::delete(ctx, &id),
        Route::FileContent(id) => files::content(ctx, &id),
        Route::VectorStoresCreate => files::vs_create(ctx, &json_bytes(req).await?),
        Route::VectorStoresList => files::vs_list(ctx, req.uri().query()),
        Route::VectorStoreGet(id) => files::vs_get(ctx, &id),
        Route::VectorStoreDelete(id) => files::vs_delete(ctx, &id),
        Route::VsFilesCreate(id) => files::vs_file_create(ctx, &id, &json_bytes(req).await?),
        Route::VsFilesList(id) => files::vs_file_list(ctx, &id, req.uri().query()),
        Route::VsFileGet(vs, f) => files::vs_file_get(ctx, &vs, &f),
        Route::BatchesCreate => files::batch_create(ctx, &json_bytes(req).await?),
        Route::BatchesList => files::batch_list(ctx, req.uri().query()),
        Route::BatchGet(id) => files::batch_get(ctx, &id),
        Route::BatchCancel(id) => files::batch_cancel(ctx, &id),
        Route::ModelsList => Ok(models::list()),
        Route::ModelGet(id) => models::get(&id),
        Route::Assistants(op) => {
            assistants::require_beta(req.headers())?;
            assistants::handle(ctx, op, req).await
        }
        Route::NotFound => Err(ApiError::invalid_url(
            req.method().as_str(),
            req.uri().path(),
        )),
    }
}

async fn json_bytes(req: Request) -> Result<Bytes, ApiError> {
    body_bytes(req, MAX_JSON_BYTES).await
}
