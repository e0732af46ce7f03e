//! `POST /v1/chat/completions` (`chat.completion` objects and
//! `chat.completion.chunk` SSE streams) and the legacy `POST /v1/completions`
//! (`text_completion`). This is the benchmark's hot path: requests are
//! parsed into small typed structs (token counts computed while parsing) and
//! answers are serialised from borrowed structs, without building JSON trees.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};

use super::dispatch::parse_json;
use super::sse::{data_event, sse_response, DONE};
use super::tokens::{
    cached_tokens, plan_reply, reply_text, word_deltas, Messages, ReplyPlan, Words,
};
use super::wire::{alnum_id, json_bytes, snapshot, unix_now, ApiError, SYSTEM_FINGERPRINT};
use super::{Ctx, Gen, Metered};

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// Whether an answer is streamed, and whether its stream ends with a usage chunk.
#[derive(Clone, Copy)]
struct Streaming {
    stream: bool,
    include_usage: bool,
}

impl Streaming {
    /// From a request's `stream` and `stream_options`; `stream_options` without `stream` is a
    /// 400, as OpenAI answers it.
    fn new(stream: Option<bool>, options: Option<StreamOptions>) -> Result<Self, ApiError> {
        let stream = stream.unwrap_or(false);
        if options.is_some() && !stream {
            return Err(ApiError::invalid_param(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
                None,
            ));
        }
        Ok(Self {
            stream,
            include_usage: options.and_then(|o| o.include_usage).unwrap_or(false),
        })
    }
}

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Option<Messages>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    n: Option<u32>,
    service_tier: Option<String>,
}

/// `service_tier` as OpenAI reports it back.
pub(crate) fn tier(requested: Option<&str>) -> &'static str {
    match requested {
        Some("flex") => "flex",
        Some("priority") => "priority",
        Some("scale") => "scale",
        _ => "default",
    }
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PromptDetails {
    pub cached_tokens: u64,
    pub audio_tokens: u64,
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletionDetails {
    pub reasoning_tokens: u64,
    pub audio_tokens: u64,
    pub accepted_prediction_tokens: u64,
    pub rejected_prediction_tokens: u64,
}

/// Chat usage object.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChatUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

impl ChatUsage {
    fn new(prompt: u64, cached: u64, reply: ReplyPlan, n: u64) -> Self {
        let completion = reply.completion() * n;
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: PromptDetails {
                cached_tokens: cached,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: reply.reasoning * n,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }

    fn metered(&self) -> Metered {
        Metered::reported(
            self.prompt_tokens,
            self.completion_tokens,
            self.prompt_tokens_details.cached_tokens,
        )
    }
}

/// `"usage"` of a stream chunk: absent (no `include_usage`), `null`, or set.
enum UsageSlot<'a, U> {
    Absent,
    Null,
    Set(&'a U),
}

impl<U> UsageSlot<'_, U> {
    fn absent(&self) -> bool {
        matches!(self, UsageSlot::Absent)
    }
}

impl<U: Serialize> Serialize for UsageSlot<'_, U> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UsageSlot::Set(u) => u.serialize(s),
            UsageSlot::Absent | UsageSlot::Null => s.serialize_none(),
        }
    }
}

/// The shape of a streamed answer: how many choices, roughly how many words, and whether the
/// usage comes as a last chunk.
struct StreamShape<'u, U> {
    choices: u32,
    words: usize,
    include_usage: bool,
    usage: &'u U,
}

impl<U> StreamShape<'_, U> {
    /// The events of a streamed answer, as OpenAI sends them: an opening chunk per choice (chat
    /// only), one chunk per word per choice, a closing chunk per choice, the usage chunk when
    /// `include_usage` is set (every other chunk then carries `"usage": null`), and `[DONE]`.
    /// Returns the events and the index of the usage chunk.
    fn events<'t, C>(
        &self,
        text: &'t str,
        opening: Option<impl Fn(u32) -> C>,
        piece: impl Fn(u32, &'t str) -> C,
        closing: impl Fn(u32) -> C,
        chunk: impl Fn(&[C], UsageSlot<'_, U>) -> Result<Bytes, ApiError>,
    ) -> Result<(Vec<Bytes>, Option<usize>), ApiError> {
        let slot = || {
            if self.include_usage {
                UsageSlot::Null
            } else {
                UsageSlot::Absent
            }
        };
        let n = self.choices as usize;
        let mut events = Vec::with_capacity(n * (self.words + 2) + 2);
        if let Some(opening) = &opening {
            for index in 0..self.choices {
                events.push(chunk(std::slice::from_ref(&opening(index)), slot())?);
            }
        }
        for word in word_deltas(text) {
            for index in 0..self.choices {
                events.push(chunk(std::slice::from_ref(&piece(index, word)), slot())?);
            }
        }
        for index in 0..self.choices {
            events.push(chunk(std::slice::from_ref(&closing(index)), slot())?);
        }
        let mut usage_at = None;
        if self.include_usage {
            usage_at = Some(events.len());
            events.push(chunk(&[], UsageSlot::Set(self.usage))?);
        }
        events.push(DONE);
        Ok((events, usage_at))
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    usage: &'a ChatUsage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<()>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// A `chat.completion.chunk`, or a `text_completion` (streamed or whole): choices `C` and usage
/// `U`. Text completions carry no service tier or fingerprint.
#[derive(Serialize)]
struct Chunk<'a, C, U> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: Option<&'static str>,
    choices: &'a [C],
    #[serde(skip_serializing_if = "UsageSlot::absent")]
    usage: UsageSlot<'a, U>,
}

/// A validated chat request, ready to render.
struct ChatPlan {
    model: String,
    usage: ChatUsage,
    reply: ReplyPlan,
    n: u32,
    streaming: Streaming,
    tier: &'static str,
}

impl ChatPlan {
    fn new(req: ChatRequest, gen: Gen) -> Result<Self, ApiError> {
        let model = ApiError::require_model(req.model)?;
        let Messages(messages) = req.messages.ok_or_else(|| ApiError::missing("messages"))?;
        if messages.count == 0 {
            return Err(ApiError::invalid_param(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                "messages",
                Some("empty_array"),
            ));
        }
        let streaming = Streaming::new(req.stream, req.stream_options)?;
        let n = req.n.unwrap_or(1).clamp(1, 128);
        let reply = plan_reply(
            gen.forced_completion,
            req.max_completion_tokens.or(req.max_tokens),
            &model,
        );
        let prompt = messages.tokens;
        let usage = ChatUsage::new(
            prompt,
            cached_tokens(prompt, gen.forced_cached),
            reply,
            u64::from(n),
        );
        Ok(Self {
            model: snapshot(&model).to_owned(),
            usage,
            reply,
            n,
            streaming,
            tier: tier(req.service_tier.as_deref()),
        })
    }

    fn render(&self) -> Result<Vec<u8>, ApiError> {
        let id = alnum_id("chatcmpl-", 29);
        let text = reply_text(self.reply.visible);
        let choices = (0..self.n)
            .map(|index| Choice {
                index,
                message: Message {
                    role: "assistant",
                    content: &text,
                    refusal: None,
                    annotations: [],
                },
                logprobs: None,
                finish_reason: "stop",
            })
            .collect();
        let body = ChatCompletion {
            id: &id,
            object: "chat.completion",
            created: unix_now(),
            model: &self.model,
            choices,
            usage: &self.usage,
            service_tier: self.tier,
            system_fingerprint: SYSTEM_FINGERPRINT,
        };
        let mut out = Vec::with_capacity(640);
        serde_json::to_writer(&mut out, &body)?;
        Ok(out)
    }

    fn events(&self) -> Result<(Vec<Bytes>, Option<usize>), ApiError> {
        let id = alnum_id("chatcmpl-", 29);
        let created = unix_now();
        let text = reply_text(self.reply.visible);
        let choice = |index, role, content, refusal, finish_reason| ChunkChoice {
            index,
            delta: Delta {
                role,
                content,
                refusal,
            },
            logprobs: None,
            finish_reason,
        };
        StreamShape {
            choices: self.n,
            words: self.reply.visible as usize,
            include_usage: self.streaming.include_usage,
            usage: &self.usage,
        }
        .events(
            &text,
            Some(|index| choice(index, Some("assistant"), Some(""), Some(None), None)),
            |index, piece| choice(index, None, Some(piece), None, None),
            |index| choice(index, None, None, None, Some("stop")),
            |choices: &[ChunkChoice<'_>], usage| {
                data_event(&Chunk {
                    id: &id,
                    object: "chat.completion.chunk",
                    created,
                    model: &self.model,
                    service_tier: Some(self.tier),
                    system_fingerprint: Some(SYSTEM_FINGERPRINT),
                    choices,
                    usage,
                })
            },
        )
    }
}

/// `POST /v1/chat/completions`.
pub(crate) fn chat_completions(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let plan = ChatPlan::new(parse_json(body)?, ctx.gen)?;
    answer(
        ctx,
        plan.streaming.stream,
        plan.usage.metered(),
        || plan.events(),
        || plan.render(),
    )
}

/// A planned answer, streamed or as one JSON body, carrying what it metered.
fn answer(
    ctx: &Ctx,
    stream: bool,
    metered: Metered,
    events: impl FnOnce() -> Result<(Vec<Bytes>, Option<usize>), ApiError>,
    render: impl FnOnce() -> Result<Vec<u8>, ApiError>,
) -> Result<Response, ApiError> {
    if stream {
        let (events, usage_at) = events()?;
        return Ok(sse_response(ctx, events, usage_at, metered));
    }
    let mut resp = json_bytes(StatusCode::OK, render()?);
    resp.extensions_mut().insert(metered);
    Ok(resp)
}

/// Non-streamed chat body for batch output lines.
pub(crate) fn chat_json(body: &[u8], gen: Gen) -> Result<(Vec<u8>, Metered), ApiError> {
    let plan = ChatPlan::new(parse_json(body)?, gen)?;
    Ok((plan.render()?, plan.usage.metered()))
}

// ---------------------------------------------------------------- legacy completions

#[derive(Deserialize)]
struct CompletionRequest {
    model: Option<String>,
    prompt: Option<serde_json::Value>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    n: Option<u32>,
}

#[derive(Serialize, Clone, Copy)]
struct CompletionUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    text: &'a str,
    index: u32,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

struct CompletionPlan {
    model: String,
    usage: CompletionUsage,
    reply: ReplyPlan,
    choices: u32,
    streaming: Streaming,
}

impl CompletionPlan {
    fn new(req: CompletionRequest, gen: Gen) -> Result<Self, ApiError> {
        let model = ApiError::require_model(req.model)?;
        let prompt = req.prompt.ok_or_else(|| ApiError::missing("prompt"))?;
        let prompts = match &prompt {
            serde_json::Value::Array(items)
                if items.iter().all(|v| v.is_string() || v.is_array()) && !items.is_empty() =>
            {
                items.len() as u32
            }
            _ => 1,
        };
        let prompt_tokens = Words::deserialize_value(&prompt);
        let streaming = Streaming::new(req.stream, req.stream_options)?;
        let n = req.n.unwrap_or(1).clamp(1, 128);
        let choices = prompts.saturating_mul(n).min(2048);
        let reply = plan_reply(gen.forced_completion, req.max_tokens, &model);
        let completion = reply.completion() * u64::from(choices);
        Ok(Self {
            model: snapshot(&model).to_owned(),
            usage: CompletionUsage {
                prompt_tokens,
                completion_tokens: completion,
                total_tokens: prompt_tokens + completion,
            },
            reply,
            choices,
            streaming,
        })
    }

    fn metered(&self) -> Metered {
        Metered::reported(self.usage.prompt_tokens, self.usage.completion_tokens, 0)
    }

    fn render(&self) -> Result<Vec<u8>, ApiError> {
        let id = alnum_id("cmpl-", 29);
        let text = reply_text(self.reply.visible);
        let choices: Vec<TextChoice> = (0..self.choices)
            .map(|index| TextChoice {
                text: &text,
                index,
                logprobs: None,
                finish_reason: Some("stop"),
            })
            .collect();
        let body = Chunk {
            id: &id,
            object: "text_completion",
            created: unix_now(),
            model: &self.model,
            service_tier: None,
            system_fingerprint: None,
            choices: &choices,
            usage: UsageSlot::Set(&self.usage),
        };
        Ok(serde_json::to_vec(&body)?)
    }

    fn events(&self) -> Result<(Vec<Bytes>, Option<usize>), ApiError> {
        let id = alnum_id("cmpl-", 29);
        let created = unix_now();
        let text = reply_text(self.reply.visible);
        let choice = |index, text, finish_reason| TextChoice {
            text,
            index,
            logprobs: None,
            finish_reason,
        };
        StreamShape {
            choices: self.choices,
            words: self.reply.visible as usize,
            include_usage: self.streaming.include_usage,
            usage: &self.usage,
        }
        .events(
            &text,
            None::<fn(u32) -> TextChoice<'static>>,
            |index, piece| choice(index, piece, None),
            |index| choice(index, "", Some("stop")),
            |choices: &[TextChoice<'_>], usage| {
                data_event(&Chunk {
                    id: &id,
                    object: "text_completion",
                    created,
                    model: &self.model,
                    service_tier: None,
                    system_fingerprint: None,
                    choices,
                    usage,
                })
            },
        )
    }
}

/// `POST /v1/completions`.
pub(crate) fn completions(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let plan = CompletionPlan::new(parse_json(body)?, ctx.gen)?;
    answer(
        ctx,
        plan.streaming.stream,
        plan.metered(),
        || plan.events(),
        || plan.render(),
    )
}

/// Non-streamed completion body for batch output lines.
pub(crate) fn completions_json(body: &[u8], gen: Gen) -> Result<(Vec<u8>, Metered), ApiError> {
    let plan = CompletionPlan::new(parse_json(body)?, gen)?;
    Ok((plan.render()?, plan.metered()))
}
