//! Usage extraction: the metered quantities of a non-streamed answer, read per family.
//!
//! Owns: the wire shape of an OpenAI `usage` object of any family (`UsageWire`,
//! [`parse_usage`]), the fields of an answer that metering reads, and one reader per usage shape
//! ([`tokens`], [`any_usage`], [`images`], [`transcription`], [`speech`], [`moderation`],
//! [`run`]; a family names its reader in its [`FamilySpec`](crate::proxy::family::FamilySpec)),
//! [`extract_json`] that applies it, and [`run_id`].
//! Must not: do IO, price anything (that is `crate::pricing`), decide policy, or build more of a
//! body than it reads (large fields such as `data[].embedding` are skipped, strings are borrowed).

use serde::Deserialize;
use serde_json::Value;

use crate::model::CallUsage;
use crate::proxy::family::FamilyKind;
use crate::proxy::inspect::{first_non_ws, RequestInfo};
use crate::proxy::lenient::{Num, ObjectOr, SeqLen, Text};

/// Reads an OpenAI `usage` object of any family: chat/completions/embeddings/runs
/// (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details`, `completion_tokens_details`),
/// responses and images (`input_tokens`, `output_tokens`, `input_tokens_details`,
/// `output_tokens_details`), transcriptions (`type: "tokens"` with `input_token_details`, or
/// `type: "duration"` with `seconds`). `None` when it is not an object or has none of these
/// counters. `model` is left `None`.
pub fn parse_usage(v: &Value) -> Option<CallUsage> {
    UsageWire::deserialize(v).ok()?.into_usage()
}

/// A `usage` object as it is on the wire, read straight from the body (no `Value` tree, no
/// allocation). Every counter is lenient: a value that is not a number counts as absent.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct UsageWire<'a> {
    prompt_tokens: Num,
    completion_tokens: Num,
    input_tokens: Num,
    output_tokens: Num,
    #[serde(rename = "type", borrow)]
    kind: Text<'a>,
    seconds: Num,
    prompt_tokens_details: ObjectOr<InputDetails>,
    input_tokens_details: ObjectOr<InputDetails>,
    input_token_details: ObjectOr<InputDetails>,
    prompt_token_details: ObjectOr<InputDetails>,
    completion_tokens_details: ObjectOr<OutputDetails>,
    output_tokens_details: ObjectOr<OutputDetails>,
    output_token_details: ObjectOr<OutputDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InputDetails {
    cached_tokens: Num,
    audio_tokens: Num,
    image_tokens: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OutputDetails {
    reasoning_tokens: Num,
    audio_tokens: Num,
}

impl UsageWire<'_> {
    /// The call's quantities (see [`parse_usage`]); `None` when no counter is present.
    pub(crate) fn into_usage(self) -> Option<CallUsage> {
        let input = self.prompt_tokens.count().or(self.input_tokens.count());
        let output = self
            .completion_tokens
            .count()
            .or(self.output_tokens.count());
        let seconds = (self.kind.get() == Some("duration"))
            .then(|| self.seconds.non_negative())
            .flatten();
        if input.is_none() && output.is_none() && seconds.is_none() {
            return None;
        }
        let mut u = CallUsage {
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
            audio_seconds: seconds.unwrap_or(0.0),
            ..Default::default()
        };
        // The first details object present, in the order of the names OpenAI has used.
        if let Some(d) = self
            .prompt_tokens_details
            .0
            .or(self.input_tokens_details.0)
            .or(self.input_token_details.0)
            .or(self.prompt_token_details.0)
        {
            u.cached_tokens = d.cached_tokens.count().unwrap_or(0);
            u.audio_input_tokens = d.audio_tokens.count().unwrap_or(0);
            u.image_input_tokens = d.image_tokens.count().unwrap_or(0);
        }
        if let Some(d) = self
            .completion_tokens_details
            .0
            .or(self.output_tokens_details.0)
            .or(self.output_token_details.0)
        {
            u.reasoning_tokens = d.reasoning_tokens.count().unwrap_or(0);
            u.audio_output_tokens = d.audio_tokens.count().unwrap_or(0);
        }
        Some(u)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseFields<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    object: Text<'a>,
    #[serde(borrow)]
    model: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(borrow)]
    usage: ObjectOr<UsageWire<'a>>,
    duration: Num,
    #[serde(borrow)]
    size: Text<'a>,
    #[serde(borrow)]
    quality: Text<'a>,
    data: SeqLen,
}

fn parse_response(body: &[u8]) -> Option<ResponseFields<'_>> {
    if first_non_ws(body) != Some(b'{') {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Run statuses after which a run's `usage` is final.
const TERMINAL_RUN_STATUSES: [&str; 5] =
    ["completed", "failed", "cancelled", "expired", "incomplete"];

/// Objects of the `Other` kind whose `usage` must not be counted: a batch reports the total of
/// its requests on every retrieve (and is billed at batch prices); run steps are parts of their
/// run's usage.
const UNCOUNTED_OBJECTS: [&str; 3] = ["batch", "thread.run.step", "thread.run"];

/// The usage of a non-streamed response, `None` when the response shows none (or is not a
/// 2xx): the reader of the family's spec, whose model is the response's `model`, else the
/// request's.
pub fn extract_json(
    kind: FamilyKind,
    req: &RequestInfo,
    status: u16,
    body: &[u8],
) -> Option<CallUsage> {
    if !(200..300).contains(&status) {
        return None;
    }
    (kind.spec().usage)(req, body)
}

/// The response's `usage`, with the response's model, else the request's.
fn counted(r: ResponseFields<'_>, req: &RequestInfo) -> Option<CallUsage> {
    let model = model_of(&r, req);
    let usage = r.usage.0.and_then(UsageWire::into_usage);
    usage.map(|u| CallUsage { model, ..u })
}

/// The response's model, else the request's.
fn model_of(r: &ResponseFields<'_>, req: &RequestInfo) -> Option<String> {
    r.model
        .get()
        .map(str::to_string)
        .or_else(|| req.model.clone())
}

/// The response's `usage` with its model, when it has one (chat, completions, responses,
/// embeddings).
pub fn tokens(req: &RequestInfo, body: &[u8]) -> Option<CallUsage> {
    counted(parse_response(body)?, req)
}

/// Any JSON object with a top-level `usage` (a family metered as `Other`), except batches and
/// run steps (`UNCOUNTED_OBJECTS`).
pub fn any_usage(req: &RequestInfo, body: &[u8]) -> Option<CallUsage> {
    let r = parse_response(body)?;
    if r.object
        .get()
        .is_some_and(|o| UNCOUNTED_OBJECTS.contains(&o))
    {
        return None;
    }
    counted(r, req)
}

/// Images count `data` (dall-e has no `usage`: the images are priced per image with
/// size/quality from the response or request; a missing model is OpenAI's default
/// `dall-e-2`); gpt-image also reports tokens in `usage`.
pub fn images(req: &RequestInfo, body: &[u8]) -> Option<CallUsage> {
    let r = parse_response(body)?;
    let model = model_of(&r, req);
    let mut u = r
        .usage
        .0
        .and_then(UsageWire::into_usage)
        .unwrap_or_default();
    u.images = r.data.0.unwrap_or(0);
    u.image_size = r
        .size
        .get()
        .map(str::to_string)
        .or_else(|| req.image_size.clone());
    u.image_quality = r
        .quality
        .get()
        .map(str::to_string)
        .or_else(|| req.image_quality.clone());
    u.model = model.or_else(|| Some("dall-e-2".to_string()));
    Some(u)
}

/// Transcriptions and translations read `usage` (tokens or duration), else a verbose_json
/// `duration`, else the call is counted with its model only (text/srt/vtt bodies carry
/// nothing).
pub fn transcription(req: &RequestInfo, body: &[u8]) -> Option<CallUsage> {
    let Some(r) = parse_response(body) else {
        return Some(CallUsage {
            model: req.model.clone(),
            ..Default::default()
        });
    };
    let model = model_of(&r, req);
    let mut u = r
        .usage
        .0
        .and_then(UsageWire::into_usage)
        .unwrap_or_default();
    if u.audio_seconds == 0.0 && u.total_tokens() == 0 {
        u.audio_seconds = r.duration.non_negative().unwrap_or(0.0);
    }
    u.model = model;
    Some(u)
}

/// Speech counts the request's input characters: the body is audio (a JSON body here would be
/// an SSE fallback with no usage).
pub fn speech(req: &RequestInfo, _body: &[u8]) -> Option<CallUsage> {
    Some(CallUsage {
        model: req.model.clone(),
        characters: req.input_chars,
        ..Default::default()
    })
}

/// Moderations are counted with their model and no tokens (or the `usage` they may show).
pub fn moderation(req: &RequestInfo, body: &[u8]) -> Option<CallUsage> {
    let r = parse_response(body)?;
    let model = model_of(&r, req);
    let usage = r.usage.0.and_then(UsageWire::into_usage);
    Some(CallUsage {
        model,
        ..usage.unwrap_or_default()
    })
}

/// Runs count only a `thread.run` in a terminal status (the settlement counts a run once, by
/// [`run_id`]).
pub fn run(req: &RequestInfo, body: &[u8]) -> Option<CallUsage> {
    let r = parse_response(body)?;
    if r.object.get().is_some_and(|o| o != "thread.run") {
        return None;
    }
    let terminal = r
        .status
        .get()
        .is_some_and(|s| TERMINAL_RUN_STATUSES.contains(&s));
    if !terminal {
        return None;
    }
    counted(r, req)
}

/// The id of a run object (`"object": "thread.run"`, or an `id` starting with `run_` when
/// `object` is absent), for counting a run's usage once.
pub fn run_id(body: &[u8]) -> Option<String> {
    let r = parse_response(body)?;
    let id = r.id.get()?;
    match r.object.get() {
        Some("thread.run") => Some(id.to_string()),
        None if id.starts_with("run_") => Some(id.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
