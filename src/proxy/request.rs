//! The request body's way in: a JSON body is read whole (small, and the gateway must see it),
//! inspected and, for a stream that would not report its usage, rewritten to ask for it; a
//! multipart upload is peeked at for its fields, then streams on (its `model` watched for if it
//! comes later); anything else streams untouched.
//!
//! Owns: [`read`] and what it gives ([`ReadBody`], [`Seen`]), the size rules of a JSON body
//! ([`MAX_JSON_BODY`](crate::proxy::MAX_JSON_BODY)) and of a multipart peek, and the refusal of a
//! JSON body in OpenAI's error shape.
//! Must not: buffer a non-JSON body beyond the peek, or copy a JSON body it does not rewrite.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use futures_util::stream::StreamExt;

use crate::error::AppError;
use crate::guard::CallSlot;
use crate::proxy::family::FamilyKind;
use crate::proxy::include_usage::add_include_usage;
use crate::proxy::inspect::{self, BodyError, RequestInfo};
use crate::proxy::media::{content_length, media_kind, Media};
use crate::proxy::multipart::{ModelSniffer, MODEL_SEAM};
use crate::proxy::MAX_JSON_BODY;

/// How much of a multipart upload is inspected (model, n, size…) before streaming on; a
/// `model` field after it is caught by [`ModelSniffer`] as the rest streams through.
const MULTIPART_PEEK: usize = 64 * 1024;

/// What the settlement needs of the request.
pub(super) struct Seen {
    pub info: RequestInfo,
    /// A JSON body as sent upstream (for the token estimate of a stream that ends without its
    /// usage); empty for other bodies.
    pub json: Bytes,
    /// The multipart `model` field, when it came after the peek (set while the body streams).
    pub late_model: Option<Arc<OnceLock<String>>>,
}

/// A request body as it goes upstream, and what the gateway learned from it.
pub(super) struct ReadBody {
    pub body: Body,
    pub seen: Seen,
    /// The body is JSON (its length is set again upstream: it may have been rewritten).
    pub is_json: bool,
    /// The gateway asked the stream for its usage: the usage-only chunk is removed from the
    /// answer.
    pub strip_usage_chunk: bool,
}

/// Reads the request body by its content type (see the module's doc).
pub(super) async fn read(
    kind: FamilyKind,
    headers: &HeaderMap,
    body: Body,
    slot: &mut CallSlot,
) -> Result<ReadBody, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let length = content_length(headers);
    match content_type.map_or(Media::Other, media_kind) {
        Media::Json => read_json(kind, length, body, slot).await,
        Media::Multipart => read_multipart(kind, content_type, length, body).await,
        Media::EventStream | Media::Other => Ok(ReadBody {
            body,
            seen: Seen {
                info: RequestInfo {
                    body_len: length.unwrap_or(0),
                    n: 1,
                    ..Default::default()
                },
                json: Bytes::new(),
                late_model: None,
            },
            is_json: false,
            strip_usage_chunk: false,
        }),
    }
}

/// A JSON body, read whole: its bytes count against the workspace's budget of buffered bytes;
/// one pass reads what admission needs and refuses what it would have to guess.
async fn read_json(
    kind: FamilyKind,
    length: Option<u64>,
    body: Body,
    slot: &mut CallSlot,
) -> Result<ReadBody, AppError> {
    if length.is_some_and(|n| n > MAX_JSON_BODY as u64) {
        return Err(AppError::PayloadTooLarge(MAX_JSON_BODY));
    }
    let bytes = crate::guard::read_json_body(body, length, MAX_JSON_BODY, slot).await?;
    let info = inspect::inspect_json_request(kind, &bytes).map_err(body_error)?;
    let asks = info.stream && !info.include_usage && kind.spec().stream.asks_for_usage();
    let rewritten = if asks {
        add_include_usage(&bytes)
    } else {
        None
    };
    let strip_usage_chunk = rewritten.is_some();
    let json = rewritten.map_or(bytes, Bytes::from);
    Ok(ReadBody {
        body: Body::from(json.clone()),
        seen: Seen {
            info,
            json,
            late_model: None,
        },
        is_json: true,
        strip_usage_chunk,
    })
}

/// A multipart upload: its first [`MULTIPART_PEEK`] bytes are inspected, then the whole body
/// streams on, watched for a `model` field the peek did not show.
async fn read_multipart(
    kind: FamilyKind,
    content_type: Option<&str>,
    length: Option<u64>,
    body: Body,
) -> Result<ReadBody, AppError> {
    let mut stream = body.into_data_stream();
    let mut peek: Vec<Bytes> = Vec::new();
    let mut peeked = 0usize;
    let mut ended = false;
    while peeked < MULTIPART_PEEK {
        match stream.next().await {
            Some(Ok(b)) => {
                peeked += b.len();
                peek.push(b);
            }
            Some(Err(_)) => {
                return Err(AppError::bad_request(
                    "The upload was cut before it ended.",
                    None,
                ))
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let head: Vec<u8> = peek.iter().flat_map(|b| b.iter().copied()).collect();
    let mut info = inspect::inspect_request(kind, content_type, &head);
    info.body_len = length.unwrap_or(peeked as u64);
    let first = futures_util::stream::iter(peek.into_iter().map(Ok::<Bytes, axum::Error>));
    let mut late_model = None;
    let body = if info.model.is_none() && !ended {
        // The model field comes later (after the file part): watch for it as the rest streams
        // through; the settlement reads it.
        let mut sniffer = ModelSniffer::default();
        let found = Arc::new(OnceLock::new());
        // Its header may have started at the end of the peek (even with its value, when the
        // peek stops before the delimiter that closes the field).
        if let Some(m) = sniffer.push(&head[head.len().saturating_sub(MODEL_SEAM)..]) {
            let _ = found.set(m);
        }
        late_model = Some(found.clone());
        let rest = stream.map(move |chunk| {
            if let Ok(b) = &chunk {
                if let Some(m) = sniffer.push(b) {
                    let _ = found.set(m);
                }
            }
            chunk
        });
        Body::from_stream(first.chain(rest))
    } else {
        Body::from_stream(first.chain(stream))
    };
    Ok(ReadBody {
        body,
        seen: Seen {
            info,
            json: Bytes::new(),
            late_model,
        },
        is_json: false,
        strip_usage_chunk: false,
    })
}

/// A refused JSON body, in OpenAI's error shape with `param` naming the field.
fn body_error(e: BodyError) -> AppError {
    match e {
        BodyError::NotAnObject => AppError::InvalidBody {
            message: "We could not parse the JSON body of your request: it must be one JSON \
                      object."
                .into(),
            param: None,
            code: "invalid_json",
        },
        BodyError::DuplicateKey(key) => AppError::InvalidBody {
            message: format!("The JSON body has the key `{key}` more than once."),
            param: Some(key),
            code: "duplicate_key",
        },
        BodyError::WrongType { field, expected } => AppError::InvalidBody {
            message: format!("Invalid type for `{field}`: expected {expected}."),
            param: Some(field.to_string()),
            code: "invalid_type",
        },
    }
}
