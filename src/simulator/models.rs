//! `GET /v1/models` and `GET /v1/models/{id}`: a fixed catalogue of the
//! models the simulator knows (aliases and their dated snapshots).

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::wire::{json, ApiError};

/// (id, created, owned_by)
const MODELS: &[(&str, u64, &str)] = &[
    ("gpt-4o-mini", 1_721_172_741, "system"),
    ("gpt-4o-mini-2024-07-18", 1_721_172_717, "system"),
    ("gpt-4o", 1_715_367_049, "system"),
    ("gpt-4o-2024-08-06", 1_722_814_719, "system"),
    ("gpt-4.1", 1_744_316_542, "system"),
    ("gpt-4.1-2025-04-14", 1_744_315_746, "system"),
    ("gpt-4.1-mini", 1_744_318_173, "system"),
    ("gpt-4.1-mini-2025-04-14", 1_744_317_547, "system"),
    ("gpt-4.1-nano", 1_744_321_707, "system"),
    ("gpt-4.1-nano-2025-04-14", 1_744_321_025, "system"),
    ("gpt-4-turbo", 1_712_361_441, "system"),
    ("gpt-4", 1_687_882_411, "openai"),
    ("gpt-3.5-turbo", 1_677_610_602, "openai"),
    ("gpt-3.5-turbo-0125", 1_706_048_358, "system"),
    ("gpt-3.5-turbo-instruct", 1_692_901_427, "system"),
    ("gpt-5", 1_754_425_777, "system"),
    ("gpt-5-2025-08-07", 1_754_425_867, "system"),
    ("gpt-5-mini", 1_754_425_928, "system"),
    ("gpt-5-nano", 1_754_426_384, "system"),
    ("o1", 1_734_375_816, "system"),
    ("o1-2024-12-17", 1_734_326_976, "system"),
    ("o3", 1_744_225_308, "system"),
    ("o3-mini", 1_737_146_383, "system"),
    ("o4-mini", 1_744_225_351, "system"),
    ("text-embedding-3-small", 1_705_948_997, "system"),
    ("text-embedding-3-large", 1_705_953_180, "system"),
    ("text-embedding-ada-002", 1_671_217_299, "openai-internal"),
    ("gpt-image-1", 1_745_517_030, "system"),
    ("dall-e-2", 1_698_798_177, "system"),
    ("dall-e-3", 1_698_785_189, "system"),
    ("whisper-1", 1_677_532_384, "openai-internal"),
    ("gpt-4o-transcribe", 1_742_068_463, "system"),
    ("gpt-4o-mini-transcribe", 1_742_068_596, "system"),
    ("tts-1", 1_681_940_951, "openai-internal"),
    ("tts-1-hd", 1_699_046_015, "system"),
    ("gpt-4o-mini-tts", 1_742_403_959, "system"),
    ("omni-moderation-latest", 1_731_689_265, "system"),
    ("text-moderation-latest", 1_698_785_189, "system"),
];

#[derive(Serialize)]
struct Model {
    id: &'static str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<Model>,
}

fn model(entry: &(&'static str, u64, &'static str)) -> Model {
    Model {
        id: entry.0,
        object: "model",
        created: entry.1,
        owned_by: entry.2,
    }
}

/// `GET /v1/models`.
pub(crate) fn list() -> Response {
    json(
        StatusCode::OK,
        &ModelList {
            object: "list",
            data: MODELS.iter().map(model).collect(),
        },
    )
}

/// `GET /v1/models/{id}`.
pub(crate) fn get(id: &str) -> Result<Response, ApiError> {
    let entry = MODELS.iter().find(|m| m.0 == id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("The model `{id}` does not exist or you do not have access to it."),
            "invalid_request_error",
            None,
            Some("model_not_found"),
        )
    })?;
    Ok(json(StatusCode::OK, &model(entry)))
}
