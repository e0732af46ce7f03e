//! Assistants API v2: assistants, threads, messages and runs. Like OpenAI it
//! requires the `OpenAI-Beta: assistants=v2` header (400 otherwise).
//!
//! Runs progress on retrieval: created `queued` (`usage: null`), first
//! `GET …/runs/{id}` → `in_progress`, later ones → `completed` with `usage`
//! and the assistant's reply appended to the thread. A run's
//! `prompt_tokens` = (3 + words of the instructions, when any) + Σ over the
//! thread's messages at creation of (3 + words); `completion_tokens` follows
//! the reply rule of [`super::tokens`] (`max_completion_tokens` honoured).
//! Its usage is added to `tokens_reported` once, when first delivered.
//! `"stream": true` on run creation answers the whole run as an SSE stream
//! (`thread.run.created` … `thread.run.completed`, then `event: done`).

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::dispatch::{body_bytes, parse_json};
use super::sse::{named_event, sse_response};
use super::store::{list_response, RunRec, Store, ThreadRec};
use super::tokens::{count_words, plan_reply, reply_text, word_deltas, Words, PER_MESSAGE_TOKENS};
use super::wire::{alnum_id, json, unix_now, ApiError};
use super::{lock, Ctx, Metered};

/// One Assistants API operation (ids from the path).
pub(crate) enum Op {
    AssistantCreate,
    AssistantList,
    AssistantGet(String),
    AssistantDelete(String),
    ThreadCreate,
    ThreadGet(String),
    ThreadDelete(String),
    MessageCreate(String),
    MessageList(String),
    RunCreate(String),
    RunList(String),
    RunGet(String, String),
    RunCancel(String, String),
    ThreadAndRun,
}

/// 400 unless `OpenAI-Beta` opts into `assistants=v2`.
pub(crate) fn require_beta(headers: &HeaderMap) -> Result<(), ApiError> {
    let beta = headers
        .get_all("openai-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == "assistants=v2"));
    if beta {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again by setting the header 'OpenAI-Beta: assistants=v2'.",
        ))
    }
}

#[derive(Deserialize)]
struct AssistantCreate {
    model: Option<String>,
    name: Option<String>,
    description: Option<String>,
    instructions: Option<String>,
    tools: Option<Value>,
    tool_resources: Option<Value>,
    metadata: Option<Value>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    response_format: Option<Value>,
}

#[derive(Deserialize)]
struct MessageIn {
    role: Option<String>,
    content: Option<Value>,
    attachments: Option<Value>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct ThreadIn {
    messages: Option<Vec<MessageIn>>,
    metadata: Option<Value>,
    tool_resources: Option<Value>,
}

#[derive(Deserialize)]
struct RunCreate {
    assistant_id: Option<String>,
    model: Option<String>,
    instructions: Option<String>,
    additional_instructions: Option<String>,
    additional_messages: Option<Vec<MessageIn>>,
    tools: Option<Value>,
    metadata: Option<Value>,
    max_completion_tokens: Option<u64>,
    max_prompt_tokens: Option<u64>,
    stream: Option<bool>,
    thread: Option<ThreadIn>,
}

/// Message content as stored: text parts become `{"type":"text","text":{"value":…}}`.
fn content_parts(content: Value) -> Value {
    match content {
        Value::String(s) => json!([{"type": "text", "text": {"value": s, "annotations": []}}]),
        Value::Array(parts) => Value::Array(
            parts
                .into_iter()
                .map(
                    |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                        (Some("text"), Some(Value::String(t))) => {
                            json!({"type": "text", "text": {"value": t, "annotations": []}})
                        }
                        _ => p,
                    },
                )
                .collect(),
        ),
        other => other,
    }
}

fn message_obj(
    thread_id: &str,
    role: &str,
    content: Value,
    assistant_id: Option<&str>,
    run_id: Option<&str>,
    attachments: Option<Value>,
    metadata: Option<Value>,
) -> Value {
    let now = unix_now();
    json!({
        "id": alnum_id("msg_", 24),
        "object": "thread.message",
        "created_at": now,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "run_id": run_id,
        "status": "completed",
        "incomplete_details": null,
        "completed_at": now,
        "incomplete_at": null,
        "role": role,
        "content": content,
        "attachments": attachments.unwrap_or_else(|| json!([])),
        "metadata": metadata.unwrap_or_else(|| json!({})),
    })
}

fn user_message(thread_id: &str, m: MessageIn) -> Result<Value, ApiError> {
    let role = m.role.ok_or_else(|| ApiError::missing("role"))?;
    if role != "user" && role != "assistant" {
        return Err(ApiError::invalid_param(
            format!("Invalid value: '{role}'. Supported values are: 'user' and 'assistant'."),
            "role",
            Some("invalid_value"),
        ));
    }
    let content = m.content.ok_or_else(|| ApiError::missing("content"))?;
    Ok(message_obj(
        thread_id,
        &role,
        content_parts(content),
        None,
        None,
        m.attachments,
        m.metadata,
    ))
}

fn message_tokens(m: &Value) -> u64 {
    PER_MESSAGE_TOKENS + m.get("content").map_or(0, Words::deserialize_value)
}

fn new_thread(store: &mut Store, t: ThreadIn) -> Result<String, ApiError> {
    let id = alnum_id("thread_", 24);
    let messages = t
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| user_message(&id, m))
        .collect::<Result<Vec<_>, _>>()?;
    let obj = json!({
        "id": id,
        "object": "thread",
        "created_at": unix_now(),
        "metadata": t.metadata.unwrap_or_else(|| json!({})),
        "tool_resources": t.tool_resources.unwrap_or_else(|| json!({})),
    });
    store
        .threads
        .insert(id.clone(), ThreadRec { obj, messages });
    Ok(id)
}

fn run_usage(rec: &RunRec) -> (Value, Metered) {
    let completion = rec.reply.completion();
    (
        json!({
            "prompt_tokens": rec.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": rec.prompt_tokens + completion,
            "prompt_token_details": {"cached_tokens": 0},
        }),
        Metered::reported(rec.prompt_tokens, completion, 0),
    )
}

/// Finish a run: status, usage, reply message appended to its thread.
/// Returns the reply message.
fn complete_run(store: &mut Store, run_id: &str) -> Option<Value> {
    let run = store.runs.get_mut(run_id)?;
    let now = unix_now();
    let (usage, _) = run_usage(run);
    run.obj["status"] = json!("completed");
    if run.obj["started_at"].is_null() {
        run.obj["started_at"] = json!(now);
    }
    run.obj["completed_at"] = json!(now);
    run.obj["usage"] = usage;
    let thread_id = run.obj["thread_id"].as_str().unwrap_or("").to_owned();
    let assistant_id = run.obj["assistant_id"].as_str().unwrap_or("").to_owned();
    let text = reply_text(run.reply.visible);
    let msg = message_obj(
        &thread_id,
        "assistant",
        content_parts(Value::String(text)),
        Some(&assistant_id),
        Some(run_id),
        None,
        None,
    );
    if let Some(t) = store.threads.get_mut(&thread_id) {
        t.messages.push(msg.clone());
    }
    Some(msg)
}

pub(crate) async fn handle(ctx: &Ctx, op: Op, req: Request) -> Result<Response, ApiError> {
    let query = req.uri().query().map(str::to_owned);
    let body = if req.method() == Method::POST {
        body_bytes(req, 64 * 1024 * 1024).await?
    } else {
        Bytes::new()
    };
    let query = query.as_deref();
    let mut guard = lock(&ctx.inner.store);
    let store: &mut Store = &mut guard;
    match op {
        Op::AssistantCreate => {
            let a: AssistantCreate = parse_json(&body)?;
            let model = a
                .model
                .filter(|m| !m.is_empty())
                .ok_or_else(|| ApiError::missing("model"))?;
            let id = alnum_id("asst_", 24);
            let obj = json!({
                "id": id,
                "object": "assistant",
                "created_at": unix_now(),
                "name": a.name,
                "description": a.description,
                "model": model,
                "instructions": a.instructions,
                "tools": a.tools.unwrap_or_else(|| json!([])),
                "tool_resources": a.tool_resources.unwrap_or_else(|| json!({})),
                "metadata": a.metadata.unwrap_or_else(|| json!({})),
                "top_p": a.top_p.unwrap_or(1.0),
                "temperature": a.temperature.unwrap_or(1.0),
                "reasoning_effort": null,
                "response_format": a.response_format.unwrap_or_else(|| json!("auto")),
            });
            store.assistants.insert(id, obj.clone());
            Ok(json(StatusCode::OK, &obj))
        }
        Op::AssistantList => Ok(store.assistants.list(query)),
        Op::AssistantGet(id) => {
            let a = store
                .assistants
                .get(&id)
                .ok_or_else(|| ApiError::no_object("assistant", &id))?;
            Ok(json(StatusCode::OK, a))
        }
        Op::AssistantDelete(id) => store
            .assistants
            .delete(&id, "assistant", "assistant.deleted"),
        Op::ThreadCreate => {
            let t: ThreadIn = parse_json(&body)?;
            let id = new_thread(store, t)?;
            let t = store.thread(&id)?;
            Ok(json(StatusCode::OK, &t.obj))
        }
        Op::ThreadGet(id) => {
            let t = store.thread(&id)?;
            Ok(json(StatusCode::OK, &t.obj))
        }
        Op::ThreadDelete(id) => store.threads.delete(&id, "thread", "thread.deleted"),
        Op::MessageCreate(tid) => {
            let m: MessageIn = parse_json(&body)?;
            let t = store.thread_mut(&tid)?;
            let msg = user_message(&tid, m)?;
            t.messages.push(msg.clone());
            Ok(json(StatusCode::OK, &msg))
        }
        Op::MessageList(tid) => {
            let t = store.thread(&tid)?;
            Ok(list_response(t.messages.iter().cloned(), query))
        }
        Op::RunCreate(tid) => {
            let r: RunCreate = parse_json(&body)?;
            create_run(ctx, store, Some(tid), r)
        }
        Op::ThreadAndRun => {
            let r: RunCreate = parse_json(&body)?;
            create_run(ctx, store, None, r)
        }
        Op::RunList(tid) => {
            store.thread(&tid)?;
            let runs = store.runs.values().filter(|r| in_thread(r, &tid));
            Ok(list_response(runs.map(|r| r.obj.clone()), query))
        }
        Op::RunGet(tid, rid) => {
            let (run, status) = thread_run(store, &tid, &rid)?;
            run.retrieves += 1;
            match status.as_str() {
                "queued" if run.retrieves == 1 => {
                    run.obj["status"] = json!("in_progress");
                    run.obj["started_at"] = json!(unix_now());
                }
                "queued" | "in_progress" => {
                    complete_run(store, &rid);
                }
                "cancelling" => {
                    run.obj["status"] = json!("cancelled");
                    run.obj["cancelled_at"] = json!(unix_now());
                }
                _ => {}
            }
            let run = store
                .runs
                .get_mut(&rid)
                .ok_or_else(|| ApiError::no_object("run", &rid))?;
            let mut resp = json(StatusCode::OK, &run.obj);
            if run.obj["status"] == "completed" && !run.reported {
                run.reported = true;
                resp.extensions_mut().insert(run_usage(run).1);
            }
            Ok(resp)
        }
        Op::RunCancel(tid, rid) => {
            let (run, status) = thread_run(store, &tid, &rid)?;
            if !matches!(
                status.as_str(),
                "queued" | "in_progress" | "requires_action"
            ) {
                return Err(ApiError::invalid(format!(
                    "Cannot cancel run with status '{status}'."
                )));
            }
            run.obj["status"] = json!("cancelling");
            Ok(json(StatusCode::OK, &run.obj))
        }
    }
}

/// Whether `run` belongs to thread `tid`.
fn in_thread(run: &RunRec, tid: &str) -> bool {
    run.obj["thread_id"].as_str() == Some(tid)
}

/// Run `rid` of thread `tid` (404 when that thread has no such run), and its status.
fn thread_run<'s>(
    store: &'s mut Store,
    tid: &str,
    rid: &str,
) -> Result<(&'s mut RunRec, String), ApiError> {
    let run = store
        .runs
        .get_mut(rid)
        .filter(|r| in_thread(r, tid))
        .ok_or_else(|| ApiError::no_object("run", rid))?;
    let status = run.obj["status"].as_str().unwrap_or("").to_owned();
    Ok((run, status))
}

fn create_run(
    ctx: &Ctx,
    store: &mut Store,
    thread_id: Option<String>,
    r: RunCreate,
) -> Result<Response, ApiError> {
    let assistant_id = r
        .assistant_id
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::missing("assistant_id"))?;
    let assistant = store
        .assistants
        .get(&assistant_id)
        .cloned()
        .ok_or_else(|| ApiError::no_object("assistant", &assistant_id))?;
    let thread_id = match thread_id {
        Some(tid) => {
            store.thread(&tid)?;
            tid
        }
        None => new_thread(
            store,
            r.thread.unwrap_or(ThreadIn {
                messages: None,
                metadata: None,
                tool_resources: None,
            }),
        )?,
    };
    let thread = store.thread_mut(&thread_id)?;
    for m in r.additional_messages.unwrap_or_default() {
        let msg = user_message(&thread_id, m)?;
        thread.messages.push(msg);
    }
    let model = r
        .model
        .or_else(|| assistant["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "gpt-4o".to_owned());
    let instructions = r
        .instructions
        .or_else(|| assistant["instructions"].as_str().map(str::to_owned));
    let mut prompt: u64 = thread.messages.iter().map(message_tokens).sum();
    let mut all_instructions = instructions.clone().unwrap_or_default();
    if let Some(extra) = &r.additional_instructions {
        all_instructions.push(' ');
        all_instructions.push_str(extra);
    }
    if !all_instructions.trim().is_empty() {
        prompt += PER_MESSAGE_TOKENS + count_words(&all_instructions);
    }
    let reply = plan_reply(ctx.gen.forced_completion, r.max_completion_tokens, &model);
    let now = unix_now();
    let run_id = alnum_id("run_", 24);
    let obj = json!({
        "id": run_id,
        "object": "thread.run",
        "created_at": now,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "status": "queued",
        "started_at": null,
        "expires_at": now + 600,
        "cancelled_at": null,
        "failed_at": null,
        "completed_at": null,
        "required_action": null,
        "last_error": null,
        "model": model,
        "instructions": instructions.unwrap_or_default(),
        "tools": r.tools.unwrap_or_else(|| assistant["tools"].clone()),
        "tool_resources": {},
        "metadata": r.metadata.unwrap_or_else(|| json!({})),
        "incomplete_details": null,
        "usage": null,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": r.max_prompt_tokens,
        "max_completion_tokens": r.max_completion_tokens,
        "truncation_strategy": {"type": "auto", "last_messages": null},
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning_effort": null,
    });
    store.runs.insert(
        run_id.clone(),
        RunRec {
            obj: obj.clone(),
            retrieves: 0,
            prompt_tokens: prompt,
            reply,
            reported: false,
        },
    );
    if r.stream.unwrap_or(false) {
        return stream_run(ctx, store, &run_id, obj);
    }
    Ok(json(StatusCode::OK, &obj))
}

/// Play the whole run as an Assistants SSE stream.
fn stream_run(
    ctx: &Ctx,
    store: &mut Store,
    run_id: &str,
    queued: Value,
) -> Result<Response, ApiError> {
    let mut events = Vec::new();
    events.push(named_event("thread.run.created", &queued)?);
    events.push(named_event("thread.run.queued", &queued)?);
    let mut running = queued;
    running["status"] = json!("in_progress");
    running["started_at"] = json!(unix_now());
    events.push(named_event("thread.run.in_progress", &running)?);
    let msg = complete_run(store, run_id).ok_or_else(|| ApiError::no_object("run", run_id))?;
    let run = store
        .runs
        .get_mut(run_id)
        .ok_or_else(|| ApiError::no_object("run", run_id))?;
    run.reported = true;
    run.retrieves = 2;
    let (_, metered) = run_usage(run);
    let mut pending = msg.clone();
    pending["status"] = json!("in_progress");
    pending["content"] = json!([]);
    pending["completed_at"] = Value::Null;
    events.push(named_event("thread.message.created", &pending)?);
    events.push(named_event("thread.message.in_progress", &pending)?);
    let text = reply_text(run.reply.visible);
    let msg_id = msg["id"].clone();
    for delta in word_deltas(&text) {
        events.push(named_event(
            "thread.message.delta",
            &json!({
                "id": msg_id,
                "object": "thread.message.delta",
                "delta": {"content": [{"index": 0, "type": "text", "text": {"value": delta, "annotations": []}}]},
            }),
        )?);
    }
    events.push(named_event("thread.message.completed", &msg)?);
    events.push(named_event("thread.run.completed", &run.obj)?);
    let usage_at = events.len() - 1;
    events.push(Bytes::from_static(b"event: done\ndata: [DONE]\n\n"));
    Ok(sse_response(ctx, events, Some(usage_at), metered))
}
