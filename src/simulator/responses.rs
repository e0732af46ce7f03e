//! `POST /v1/responses`: the `response` object and its typed SSE stream
//! (`response.created` … `response.completed`, each `event: X` +
//! `data: {"type":"X","sequence_number":n,...}`). Reasoning models get a
//! `reasoning` output item before the message, as OpenAI sends.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chat::tier;
use super::dispatch::parse_json;
use super::sse::{named_event, sse_response};
use super::tokens::{
    cached_tokens, count_words, plan_reply, reply_text, word_deltas, Items, ReplyPlan,
    PER_MESSAGE_TOKENS,
};
use super::wire::{hex_id, is_reasoning_model, json_bytes, snapshot, unix_now, ApiError};
use super::{Ctx, Gen, Metered};

#[derive(Deserialize)]
struct ReasoningReq {
    effort: Option<String>,
    summary: Option<String>,
}

#[derive(Deserialize)]
struct ResponsesRequest {
    model: Option<String>,
    input: Option<Items>,
    instructions: Option<String>,
    stream: Option<bool>,
    max_output_tokens: Option<u64>,
    service_tier: Option<String>,
    store: Option<bool>,
    previous_response_id: Option<String>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    metadata: Option<Value>,
    reasoning: Option<ReasoningReq>,
    user: Option<String>,
}

#[derive(Serialize, Clone, Copy)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct OutputDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct ResponsesUsage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Serialize)]
struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    annotations: [(); 0],
    logprobs: [(); 0],
    text: &'a str,
}

#[derive(Serialize)]
struct ReasoningItem<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    summary: [(); 0],
}

#[derive(Serialize)]
struct MessageItem<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    content: &'a [OutputText<'a>],
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputItem<'a> {
    Reasoning(ReasoningItem<'a>),
    Message(MessageItem<'a>),
}

#[derive(Serialize)]
struct ReasoningCfg<'a> {
    effort: Option<&'a str>,
    summary: Option<&'a str>,
}

#[derive(Serialize)]
struct TextFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct TextCfg {
    format: TextFormat,
    verbosity: &'static str,
}

#[derive(Serialize)]
struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    background: bool,
    error: Option<()>,
    incomplete_details: Option<()>,
    instructions: Option<&'a str>,
    max_output_tokens: Option<u64>,
    max_tool_calls: Option<()>,
    model: &'a str,
    output: &'a [OutputItem<'a>],
    parallel_tool_calls: bool,
    previous_response_id: Option<&'a str>,
    reasoning: ReasoningCfg<'a>,
    service_tier: &'static str,
    store: bool,
    temperature: f64,
    text: TextCfg,
    tool_choice: &'static str,
    tools: [(); 0],
    top_logprobs: u32,
    top_p: f64,
    truncation: &'static str,
    usage: Option<&'a ResponsesUsage>,
    user: Option<&'a str>,
    metadata: &'a Value,
}

#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct ResponseBody<'a> {
    response: &'a ResponseObject<'a>,
}

#[derive(Serialize)]
struct ItemBody<'a> {
    output_index: u32,
    item: &'a OutputItem<'a>,
}

#[derive(Serialize)]
struct PartBody<'a> {
    item_id: &'a str,
    output_index: u32,
    content_index: u32,
    part: &'a OutputText<'a>,
}

#[derive(Serialize)]
struct DeltaBody<'a> {
    item_id: &'a str,
    output_index: u32,
    content_index: u32,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct TextDoneBody<'a> {
    item_id: &'a str,
    output_index: u32,
    content_index: u32,
    text: &'a str,
    logprobs: [(); 0],
}

struct Plan {
    model: String,
    reasoning_model: bool,
    effort: Option<String>,
    summary: Option<String>,
    reply: ReplyPlan,
    usage: ResponsesUsage,
    stream: bool,
    instructions: Option<String>,
    max_output_tokens: Option<u64>,
    previous_response_id: Option<String>,
    tier: &'static str,
    store: bool,
    temperature: f64,
    top_p: f64,
    user: Option<String>,
    metadata: Value,
}

/// Ids and text shared by the non-streamed object and the stream.
struct Rendered {
    id: String,
    msg_id: String,
    rs_id: String,
    created_at: u64,
    text: String,
}

impl Plan {
    fn new(req: ResponsesRequest, gen: Gen) -> Result<Self, ApiError> {
        let model = ApiError::require_model(req.model)?;
        let mut prompt = req.input.map_or(0, |i| i.tokens);
        if let Some(ins) = &req.instructions {
            prompt += PER_MESSAGE_TOKENS + count_words(ins);
        }
        let reply = plan_reply(gen.forced_completion, req.max_output_tokens, &model);
        let cached = cached_tokens(prompt, gen.forced_cached);
        let output = reply.completion();
        let reasoning_model = is_reasoning_model(&model);
        let (effort, summary) = match req.reasoning {
            Some(r) => (r.effort, r.summary),
            None => (None, None),
        };
        Ok(Self {
            model: snapshot(&model).to_owned(),
            effort: if reasoning_model {
                Some(effort.unwrap_or_else(|| "medium".to_owned()))
            } else {
                effort
            },
            summary,
            reasoning_model,
            reply,
            usage: ResponsesUsage {
                input_tokens: prompt,
                input_tokens_details: InputDetails {
                    cached_tokens: cached,
                },
                output_tokens: output,
                output_tokens_details: OutputDetails {
                    reasoning_tokens: reply.reasoning,
                },
                total_tokens: prompt + output,
            },
            stream: req.stream.unwrap_or(false),
            instructions: req.instructions,
            max_output_tokens: req.max_output_tokens,
            previous_response_id: req.previous_response_id,
            tier: tier(req.service_tier.as_deref()),
            store: req.store.unwrap_or(true),
            temperature: req.temperature.unwrap_or(1.0),
            top_p: req.top_p.unwrap_or(1.0),
            user: req.user,
            metadata: req
                .metadata
                .unwrap_or_else(|| Value::Object(Default::default())),
        })
    }

    fn metered(&self) -> Metered {
        Metered::reported(
            self.usage.input_tokens,
            self.usage.output_tokens,
            self.usage.input_tokens_details.cached_tokens,
        )
    }

    fn rendered(&self) -> Rendered {
        Rendered {
            id: hex_id("resp_", 48),
            msg_id: hex_id("msg_", 48),
            rs_id: hex_id("rs_", 48),
            created_at: unix_now(),
            text: reply_text(self.reply.visible),
        }
    }

    fn object<'a>(
        &'a self,
        r: &'a Rendered,
        status: &'static str,
        output: &'a [OutputItem<'a>],
        usage: Option<&'a ResponsesUsage>,
    ) -> ResponseObject<'a> {
        ResponseObject {
            id: &r.id,
            object: "response",
            created_at: r.created_at,
            status,
            background: false,
            error: None,
            incomplete_details: None,
            instructions: self.instructions.as_deref(),
            max_output_tokens: self.max_output_tokens,
            max_tool_calls: None,
            model: &self.model,
            output,
            parallel_tool_calls: true,
            previous_response_id: self.previous_response_id.as_deref(),
            reasoning: ReasoningCfg {
                effort: self.effort.as_deref(),
                summary: self.summary.as_deref(),
            },
            service_tier: self.tier,
            store: self.store,
            temperature: self.temperature,
            text: TextCfg {
                format: TextFormat { kind: "text" },
                verbosity: "medium",
            },
            tool_choice: "auto",
            tools: [],
            top_logprobs: 0,
            top_p: self.top_p,
            truncation: "disabled",
            usage,
            user: self.user.as_deref(),
            metadata: &self.metadata,
        }
    }

    /// The finished response's `output`: the reasoning item (reasoning models) and the message.
    fn completed_output<'a>(
        &self,
        r: &'a Rendered,
        parts: &'a [OutputText<'a>],
    ) -> Vec<OutputItem<'a>> {
        let mut output = Vec::with_capacity(2);
        if self.reasoning_model {
            output.push(OutputItem::Reasoning(ReasoningItem {
                id: &r.rs_id,
                kind: "reasoning",
                summary: [],
            }));
        }
        output.push(OutputItem::Message(MessageItem {
            id: &r.msg_id,
            kind: "message",
            status: "completed",
            content: parts,
            role: "assistant",
        }));
        output
    }

    fn render(&self) -> Result<Vec<u8>, ApiError> {
        let r = self.rendered();
        let parts = [OutputText {
            kind: "output_text",
            annotations: [],
            logprobs: [],
            text: &r.text,
        }];
        let output = self.completed_output(&r, &parts);
        let obj = self.object(&r, "completed", &output, Some(&self.usage));
        Ok(serde_json::to_vec(&obj)?)
    }

    fn events(&self) -> Result<(Vec<Bytes>, usize), ApiError> {
        let r = self.rendered();
        let mut events = Vec::with_capacity(self.reply.visible as usize + 12);
        let mut seq = 0u64;
        let mut push = |kind: &str, body: &dyn erased::Body| -> Result<(), ApiError> {
            let ev = body.event(kind, seq)?;
            seq += 1;
            events.push(ev);
            Ok(())
        };

        let empty: [OutputItem; 0] = [];
        let start = self.object(&r, "in_progress", &empty, None);
        push("response.created", &ResponseBody { response: &start })?;
        push("response.in_progress", &ResponseBody { response: &start })?;

        let mut msg_index = 0u32;
        let reasoning_item = OutputItem::Reasoning(ReasoningItem {
            id: &r.rs_id,
            kind: "reasoning",
            summary: [],
        });
        if self.reasoning_model {
            push(
                "response.output_item.added",
                &ItemBody {
                    output_index: 0,
                    item: &reasoning_item,
                },
            )?;
            push(
                "response.output_item.done",
                &ItemBody {
                    output_index: 0,
                    item: &reasoning_item,
                },
            )?;
            msg_index = 1;
        }
        let pending = MessageItem {
            id: &r.msg_id,
            kind: "message",
            status: "in_progress",
            content: &[],
            role: "assistant",
        };
        push(
            "response.output_item.added",
            &ItemBody {
                output_index: msg_index,
                item: &OutputItem::Message(pending),
            },
        )?;
        let empty_part = OutputText {
            kind: "output_text",
            annotations: [],
            logprobs: [],
            text: "",
        };
        push(
            "response.content_part.added",
            &PartBody {
                item_id: &r.msg_id,
                output_index: msg_index,
                content_index: 0,
                part: &empty_part,
            },
        )?;
        for delta in word_deltas(&r.text) {
            push(
                "response.output_text.delta",
                &DeltaBody {
                    item_id: &r.msg_id,
                    output_index: msg_index,
                    content_index: 0,
                    delta,
                    logprobs: [],
                },
            )?;
        }
        push(
            "response.output_text.done",
            &TextDoneBody {
                item_id: &r.msg_id,
                output_index: msg_index,
                content_index: 0,
                text: &r.text,
                logprobs: [],
            },
        )?;
        let parts = [OutputText {
            kind: "output_text",
            annotations: [],
            logprobs: [],
            text: &r.text,
        }];
        push(
            "response.content_part.done",
            &PartBody {
                item_id: &r.msg_id,
                output_index: msg_index,
                content_index: 0,
                part: &parts[0],
            },
        )?;
        let done_msg = OutputItem::Message(MessageItem {
            id: &r.msg_id,
            kind: "message",
            status: "completed",
            content: &parts,
            role: "assistant",
        });
        push(
            "response.output_item.done",
            &ItemBody {
                output_index: msg_index,
                item: &done_msg,
            },
        )?;
        let output = self.completed_output(&r, &parts);
        let fin = self.object(&r, "completed", &output, Some(&self.usage));
        push("response.completed", &ResponseBody { response: &fin })?;
        let usage_at = events.len() - 1;
        Ok((events, usage_at))
    }
}

/// Object-safe "serialise me as event `kind` number `seq`".
mod erased {
    use super::{named_event, ApiError, Event};
    use bytes::Bytes;
    use serde::Serialize;

    pub(super) trait Body {
        fn event(&self, kind: &str, seq: u64) -> Result<Bytes, ApiError>;
    }

    impl<T: Serialize> Body for T {
        fn event(&self, kind: &str, seq: u64) -> Result<Bytes, ApiError> {
            named_event(
                kind,
                &Event {
                    kind,
                    sequence_number: seq,
                    body: self,
                },
            )
        }
    }
}

/// `POST /v1/responses`.
pub(crate) fn create(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let plan = Plan::new(parse_json(body)?, ctx.gen)?;
    let metered = plan.metered();
    if plan.stream {
        let (events, usage_at) = plan.events()?;
        return Ok(sse_response(ctx, events, Some(usage_at), metered));
    }
    let mut resp = json_bytes(StatusCode::OK, plan.render()?);
    resp.extensions_mut().insert(metered);
    Ok(resp)
}

/// Non-streamed response body for batch output lines.
pub(crate) fn responses_json(body: &[u8], gen: Gen) -> Result<(Vec<u8>, Metered), ApiError> {
    let plan = Plan::new(parse_json(body)?, gen)?;
    Ok((plan.render()?, plan.metered()))
}
