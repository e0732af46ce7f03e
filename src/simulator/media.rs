//! Non-chat model endpoints: `POST /v1/embeddings`, `/v1/images/generations`,
//! `/v1/audio/transcriptions`, `/v1/audio/translations`, `/v1/audio/speech`
//! and `/v1/moderations`.
//!
//! Deterministic sizes:
//! * embeddings: `dimensions` (default [`EMBEDDING_DIMS`]) unit-length floats
//!   derived from a hash of the input; `prompt_tokens` = input tokens.
//! * gpt-image-*: `input_tokens` = words of the prompt (all text tokens);
//!   `output_tokens` per image from OpenAI's table (1024² low/medium/high =
//!   272/1056/4160, portrait or landscape 408/1584/6240; `auto` = medium).
//! * audio uploads: `seconds = max(1, ceil(bytes / 16000))` (16 kB ≈ 1 s of
//!   128 kbit/s MP3); whisper-1 reports `{"type":"duration","seconds"}`;
//!   gpt-4o(-mini)-transcribe report tokens with `audio_tokens = 10 × seconds`,
//!   `text_tokens` = words of the `prompt` field, `output_tokens` = words of
//!   the text.
//! * speech: 417 bytes (one silent 128 kbit/s MP3 frame) per input character
//!   (mp3/opus/aac/flac), or 2400 bytes of 24 kHz 16-bit PCM per character
//!   (pcm; wav adds a 44-byte header).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::dispatch::parse_json;
use super::files::read_form;
use super::sse::{data_event, sse_response};
use super::tokens::{count_words, Words};
use super::wire::{alnum_id, base64, json, json_bytes, typed, unix_now, ApiError};
use super::{Ctx, Gen, Metered};

/// Default embedding length.
pub(crate) const EMBEDDING_DIMS: usize = 8;

/// A valid 1×1 PNG, returned for every generated image.
pub(crate) const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn fnv1a(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

// ---------------------------------------------------------------- embeddings

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: Option<String>,
    input: Option<Value>,
    encoding_format: Option<String>,
    dimensions: Option<u32>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

/// Deterministic unit vector for `seed`.
fn vector(seed: u64, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims as u64)
        .map(|i| {
            let x = mix(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            (x >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

fn embeddings_body(body: &[u8]) -> Result<(Vec<u8>, Metered), ApiError> {
    let req: EmbeddingsRequest = parse_json(body)?;
    let model = ApiError::require_model(req.model)?;
    let input = req.input.ok_or_else(|| ApiError::missing("input"))?;
    let items: Vec<&Value> = match &input {
        Value::Array(a) if a.iter().all(Value::is_number) => vec![&input],
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let empty = items.is_empty()
        || items.iter().any(|v| {
            v.as_str().is_some_and(str::is_empty) || v.as_array().is_some_and(Vec::is_empty)
        });
    if empty {
        return Err(ApiError::invalid_param(
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            "input",
            None,
        ));
    }
    let dims = req
        .dimensions
        .map_or(EMBEDDING_DIMS, |d| d.clamp(1, 3072) as usize);
    let b64 = req.encoding_format.as_deref() == Some("base64");
    let mut tokens = 0u64;
    let data = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            tokens += Words::deserialize_value(item);
            let seed = match item {
                Value::String(s) => fnv1a(s.as_bytes()),
                other => fnv1a(other.to_string().as_bytes()),
            };
            let v = vector(seed, dims);
            let embedding = if b64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                Vector::Base64(base64(&bytes))
            } else {
                Vector::Floats(v)
            };
            Embedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let out = EmbeddingList {
        object: "list",
        data,
        model: &model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    Ok((serde_json::to_vec(&out)?, Metered::reported(tokens, 0, 0)))
}

/// `POST /v1/embeddings`.
pub(crate) fn embeddings(_ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let (bytes, metered) = embeddings_body(body)?;
    let mut resp = json_bytes(StatusCode::OK, bytes);
    resp.extensions_mut().insert(metered);
    Ok(resp)
}

/// Embeddings body for batch output lines.
pub(crate) fn embeddings_json(body: &[u8], _gen: Gen) -> Result<(Vec<u8>, Metered), ApiError> {
    embeddings_body(body)
}

// ---------------------------------------------------------------- images

#[derive(Deserialize)]
struct ImagesRequest {
    prompt: Option<String>,
    model: Option<String>,
    n: Option<u32>,
    size: Option<String>,
    quality: Option<String>,
    response_format: Option<String>,
    output_format: Option<String>,
    background: Option<String>,
}

/// Output tokens of one gpt-image image.
fn image_tokens(size: &str, quality: &str) -> u64 {
    let square = !matches!(size, "1024x1536" | "1536x1024");
    match (quality, square) {
        ("low", true) => 272,
        ("high", true) => 4160,
        ("low", false) => 408,
        ("high", false) => 6240,
        (_, true) => 1056,
        (_, false) => 1584,
    }
}

/// `POST /v1/images/generations`.
pub(crate) fn images(_ctx: &Ctx, body: &[u8], host: Option<&str>) -> Result<Response, ApiError> {
    let req: ImagesRequest = parse_json(body)?;
    let prompt = req
        .prompt
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::missing("prompt"))?;
    let model = req.model.unwrap_or_else(|| "dall-e-2".to_owned());
    let n = req.n.unwrap_or(1);
    let max_n = if model == "dall-e-3" { 1 } else { 10 };
    if n < 1 || n > max_n {
        let (msg, code) = if n < 1 {
            (format!("Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} instead."), "integer_below_min_value")
        } else {
            (format!("Invalid 'n': integer above maximum value. Expected a value <= {max_n}, but got {n} instead."), "integer_above_max_value")
        };
        return Err(ApiError::invalid_param(msg, "n", Some(code)));
    }
    let created = unix_now();
    let png_b64 = base64(TINY_PNG);
    if model.starts_with("gpt-image") {
        let size = req
            .size
            .filter(|s| s != "auto")
            .unwrap_or_else(|| "1024x1024".to_owned());
        let quality = req
            .quality
            .filter(|q| q != "auto")
            .unwrap_or_else(|| "medium".to_owned());
        let text_tokens = count_words(&prompt);
        let output_tokens = image_tokens(&size, &quality) * u64::from(n);
        let data: Vec<Value> = (0..n).map(|_| json!({"b64_json": png_b64})).collect();
        let out = json!({
            "created": created,
            "background": req.background.unwrap_or_else(|| "opaque".to_owned()),
            "data": data,
            "output_format": req.output_format.unwrap_or_else(|| "png".to_owned()),
            "quality": quality,
            "size": size,
            "usage": {
                "input_tokens": text_tokens,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": text_tokens},
                "output_tokens": output_tokens,
                "total_tokens": text_tokens + output_tokens,
            }
        });
        let mut resp = json(StatusCode::OK, &out);
        resp.extensions_mut()
            .insert(Metered::reported(text_tokens, output_tokens, 0));
        return Ok(resp);
    }
    let b64 = req.response_format.as_deref() == Some("b64_json");
    let base = match host {
        Some(h) => format!("http://{h}/_sim/images/"),
        None => "http://127.0.0.1/_sim/images/".to_owned(),
    };
    let data: Vec<Value> = (0..n)
        .map(|_| {
            let mut item = serde_json::Map::new();
            if model == "dall-e-3" {
                item.insert(
                    "revised_prompt".into(),
                    Value::String(format!("{prompt}, rendered as a simulated image.")),
                );
            }
            if b64 {
                item.insert("b64_json".into(), Value::String(png_b64.clone()));
            } else {
                item.insert(
                    "url".into(),
                    Value::String(format!("{base}{}.png", alnum_id("img-", 24))),
                );
            }
            Value::Object(item)
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"created": created, "data": data}),
    ))
}

// ---------------------------------------------------------------- audio

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AudioTask {
    Transcribe,
    Translate,
}

/// Simulated length of an upload of `bytes` bytes.
pub(crate) fn audio_seconds(bytes: u64) -> u64 {
    bytes.div_ceil(16_000).max(1)
}

/// `POST /v1/audio/transcriptions` and `/v1/audio/translations`.
pub(crate) async fn transcribe(
    ctx: &Ctx,
    req: Request,
    task: AudioTask,
) -> Result<Response, ApiError> {
    let form = read_form(req, 0).await?;
    let model = form
        .field("model")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::missing("model"))?;
    let file = form
        .file
        .as_ref()
        .ok_or_else(|| ApiError::missing("file"))?;
    let format = form.field("response_format").unwrap_or("json");
    let stream = form.field("stream").is_some_and(|s| s == "true");
    let token_model = model.starts_with("gpt-");
    let text = match task {
        AudioTask::Transcribe => "This is a simulated transcription.",
        AudioTask::Translate => "This is a simulated translation.",
    };
    let seconds = audio_seconds(file.bytes);
    if token_model && !matches!(format, "json" | "text") {
        return Err(ApiError::invalid_param(
            format!("response_format '{format}' is not compatible with model '{model}'. Use 'json' or 'text' instead."),
            "response_format",
            Some("unsupported_value"),
        ));
    }
    let (usage, metered) = if token_model {
        let audio = 10 * seconds;
        let text_tokens = form.field("prompt").map_or(0, count_words);
        let input = audio + text_tokens;
        let output = count_words(text);
        (
            json!({
                "type": "tokens",
                "input_tokens": input,
                "input_token_details": {"text_tokens": text_tokens, "audio_tokens": audio},
                "output_tokens": output,
                "total_tokens": input + output,
            }),
            Metered::reported(input, output, 0),
        )
    } else {
        (
            json!({"type": "duration", "seconds": seconds}),
            Metered::default(),
        )
    };
    if stream && token_model {
        let mut events = Vec::new();
        for delta in super::tokens::word_deltas(text) {
            events.push(data_event(
                &json!({"type": "transcript.text.delta", "delta": delta, "logprobs": []}),
            )?);
        }
        events.push(data_event(
            &json!({"type": "transcript.text.done", "text": text, "logprobs": [], "usage": usage}),
        )?);
        let at = events.len() - 1;
        return Ok(sse_response(ctx, events, Some(at), metered));
    }
    let end = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    );
    let mut resp = match format {
        "text" => typed(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            format!("{text}\n"),
        ),
        "srt" => typed(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            format!("1\n00:00:00,000 --> {end},000\n{text}\n\n"),
        ),
        "vtt" => typed(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            format!("WEBVTT\n\n00:00:00.000 --> {end}.000\n{text}\n\n"),
        ),
        "verbose_json" => {
            let task_name = match task {
                AudioTask::Transcribe => "transcribe",
                AudioTask::Translate => "translate",
            };
            json(
                StatusCode::OK,
                &json!({
                    "task": task_name,
                    "language": "english",
                    "duration": seconds as f64,
                    "text": text,
                    "segments": [{
                        "id": 0, "seek": 0, "start": 0.0, "end": seconds as f64,
                        "text": format!(" {text}"), "tokens": [50364, 639, 307, 257],
                        "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 0.9,
                        "no_speech_prob": 0.01
                    }],
                    "usage": usage,
                }),
            )
        }
        _ => json(StatusCode::OK, &json!({"text": text, "usage": usage})),
    };
    // Usage is only delivered by the JSON formats.
    if matches!(format, "json" | "verbose_json") {
        resp.extensions_mut().insert(metered);
    } else {
        resp.extensions_mut().insert(Metered {
            report: false,
            ..metered
        });
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct SpeechRequest {
    model: Option<String>,
    input: Option<String>,
    voice: Option<Value>,
    response_format: Option<String>,
}

/// `POST /v1/audio/speech`.
pub(crate) fn speech(_ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let req: SpeechRequest = parse_json(body)?;
    ApiError::require_model(req.model)?;
    let input = req.input.ok_or_else(|| ApiError::missing("input"))?;
    if req.voice.is_none() {
        return Err(ApiError::missing("voice"));
    }
    if input.chars().count() > 4096 {
        return Err(ApiError::invalid_param(
            "Invalid 'input': string too long. Expected a string with maximum length 4096.",
            "input",
            Some("string_above_max_length"),
        ));
    }
    let chars = input.chars().count().max(1);
    let format = req.response_format.unwrap_or_else(|| "mp3".to_owned());
    let (content_type, bytes) = match format.as_str() {
        "pcm" => ("audio/pcm", vec![0u8; 2400 * chars]),
        "wav" => ("audio/wav", wav(2400 * chars)),
        "opus" => ("audio/opus", mp3_frames(chars)),
        "aac" => ("audio/aac", mp3_frames(chars)),
        "flac" => ("audio/flac", mp3_frames(chars)),
        "mp3" => ("audio/mpeg", mp3_frames(chars)),
        other => {
            return Err(ApiError::invalid_param(
                format!("Invalid value: '{other}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'."),
                "response_format",
                Some("invalid_value"),
            ))
        }
    };
    Ok(typed(StatusCode::OK, content_type, bytes))
}

fn mp3_frames(count: usize) -> Vec<u8> {
    const FRAME: usize = 417;
    let mut out = vec![0u8; FRAME * count];
    for frame in out.chunks_mut(FRAME) {
        frame[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x64]);
    }
    out
}

fn wav(data_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + data_len);
    let rate: u32 = 24_000;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((36 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    out.resize(44 + data_len, 0);
    out
}

// ---------------------------------------------------------------- moderations

const MOD_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

#[derive(Deserialize)]
struct ModerationRequest {
    input: Option<Value>,
    model: Option<String>,
}

/// `POST /v1/moderations`. Inputs containing `sim-flag` are flagged for
/// `violence` (so tests can exercise a flagged result); nothing else is.
pub(crate) fn moderations(_ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let req: ModerationRequest = parse_json(body)?;
    let input = req.input.ok_or_else(|| ApiError::missing("input"))?;
    let model = req
        .model
        .unwrap_or_else(|| "omni-moderation-latest".to_owned());
    let omni = model.starts_with("omni");
    let texts: Vec<String> = match &input {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        other => vec![other.to_string()],
    };
    let results: Vec<Value> = texts
        .iter()
        .map(|t| {
            let flagged = t.to_ascii_lowercase().contains("sim-flag");
            let mut cats = serde_json::Map::new();
            let mut scores = serde_json::Map::new();
            let mut applied = serde_json::Map::new();
            for (i, c) in MOD_CATEGORIES.iter().enumerate() {
                let hit = flagged && *c == "violence";
                cats.insert((*c).into(), Value::Bool(hit));
                let score = if hit { 0.97 } else { 1e-6 * (i as f64 + 1.0) };
                scores.insert((*c).into(), json!(score));
                applied.insert((*c).into(), json!(["text"]));
            }
            let mut r = json!({"flagged": flagged, "categories": cats, "category_scores": scores});
            if omni {
                r["category_applied_input_types"] = Value::Object(applied);
            }
            r
        })
        .collect();
    let id = alnum_id("modr-", 29);
    Ok(json(
        StatusCode::OK,
        &json!({"id": id, "model": model, "results": results}),
    ))
}
