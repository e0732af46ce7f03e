//! Integration tests of the simulator: each runs a real server on
//! 127.0.0.1:0 through [`super::serve`] and talks to it with reqwest.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{serve, Fault, SimConfig, SimStats, Simulator};

struct Server {
    base: String,
    sim: Simulator,
    http: Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(cfg: SimConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sim = Simulator::new(cfg);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, sim.clone(), async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            sim,
            http: Client::new(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn default() -> Self {
        Self::start(SimConfig::default()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("send")
    }

    async fn post_form(&self, path: &str, form: Form) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .expect("send")
    }

    /// The JSON answer of a multipart POST.
    async fn form_json(&self, path: &str, form: Form) -> Value {
        self.post_form(path, form).await.json().await.expect("json")
    }

    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self.post(path, body).await;
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("send");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    /// The JSON answer of a POST that must succeed with 200.
    async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post_json(path, body).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    /// The JSON answer of a GET that must succeed with 200.
    async fn get_ok(&self, path: &str) -> Value {
        let (status, v) = self.get_json(path).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let res = tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("server stops within 5s")
                .expect("join");
            res.expect("serve returns Ok");
        }
    }
}

/// Split an SSE body into (event name, data) pairs.
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .expect("ascii header")
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello to the world"}
        ],
        "stream": stream,
    })
}

/// (3 + 3) + (3 + 5)
const CHAT_PROMPT: u64 = 14;

#[tokio::test]
async fn chat_completion_has_openai_shape_headers_and_usage() {
    let s = Server::default().await;
    let resp = s.post("/v1/chat/completions", chat_body(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "x-request-id").starts_with("req_"));
    assert_eq!(header(&resp, "openai-version"), "2020-10-01");
    assert!(header(&resp, "openai-processing-ms").parse::<u64>().is_ok());
    assert_eq!(header(&resp, "x-ratelimit-limit-requests"), "10000");
    let first_remaining: u64 = header(&resp, "x-ratelimit-remaining-requests")
        .parse()
        .expect("num");
    assert!(header(&resp, "x-ratelimit-reset-requests").ends_with('s'));
    assert!(header(&resp, "x-ratelimit-remaining-tokens")
        .parse::<u64>()
        .is_ok());
    assert!(header(&resp, "x-ratelimit-reset-tokens").ends_with('s'));
    assert!(header(&resp, "content-type").starts_with("application/json"));
    let v: Value = resp.json().await.expect("json");
    assert!(v["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini-2024-07-18");
    assert!(v["created"].as_u64().expect("created") > 1_700_000_000);
    assert_eq!(v["service_tier"], "default");
    assert!(v["system_fingerprint"]
        .as_str()
        .expect("fp")
        .starts_with("fp_"));
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    let content = choice["message"]["content"].as_str().expect("content");
    assert_eq!(content, "This is a simulated reply from the simulator.");
    let u = &v["usage"];
    assert_eq!(u["prompt_tokens"], CHAT_PROMPT);
    assert_eq!(u["completion_tokens"], 8);
    assert_eq!(u["total_tokens"], CHAT_PROMPT + 8);
    assert_eq!(
        u["prompt_tokens_details"],
        json!({"cached_tokens": 0, "audio_tokens": 0})
    );
    assert_eq!(
        u["completion_tokens_details"],
        json!({"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0})
    );

    // The bucket refills one request every 6 ms, so two calls in a row may both see it full on
    // a busy machine; of 20 calls at once, some are charged before it refills.
    let calls = (0..20).map(|_| s.post("/v1/chat/completions", chat_body(false)));
    let second_remaining: u64 = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| {
            header(r, "x-ratelimit-remaining-requests")
                .parse::<u64>()
                .expect("num")
        })
        .min()
        .unwrap_or(u64::MAX);
    assert!(
        second_remaining < first_remaining,
        "{second_remaining} < {first_remaining}"
    );

    // 1 + 20 calls of 8 completion tokens each.
    let st = s.sim.stats();
    assert_eq!(st.requests, 21);
    assert_eq!(st.by_path.get("/v1/chat/completions"), Some(&21));
    assert_eq!(st.tokens_reported.input, 21 * CHAT_PROMPT);
    assert_eq!(st.tokens_reported.output, 21 * 8);
    assert_eq!(st.tokens_reported.cached, 0);
    s.shutdown().await;
}

#[tokio::test]
async fn chat_length_reasoning_cache_and_n_rules() {
    let s = Server::default().await;
    // max_tokens sets the length; n multiplies completion tokens.
    let v = s
        .post_ok(
            "/v1/chat/completions",
            json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 12, "n": 2}),
        )
        .await;
    assert_eq!(v["model"], "gpt-4.1-2025-04-14");
    assert_eq!(v["choices"].as_array().expect("choices").len(), 2);
    assert_eq!(v["choices"][1]["index"], 1);
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .expect("text");
    assert_eq!(text.split_whitespace().count(), 12);
    assert_eq!(v["usage"]["completion_tokens"], 24);
    assert_eq!(v["usage"]["prompt_tokens"], 4);

    // Reasoning models: a third visible, the rest reasoning.
    let (_, v) = s
        .post_json(
            "/v1/chat/completions",
            json!({"model": "o3-mini", "messages": [{"role": "user", "content": "think"}], "max_completion_tokens": 30}),
        )
        .await;
    assert_eq!(v["model"], "o3-mini-2025-01-31");
    assert_eq!(v["usage"]["completion_tokens"], 30);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        20
    );
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .expect("text");
    assert_eq!(text.split_whitespace().count(), 10);

    // Long prompts are partly cached; headers force both numbers.
    let long = vec!["word"; 1500].join(" ");
    let (_, v) = s
        .post_json(
            "/v1/chat/completions",
            json!({"model": "unknown-model", "messages": [{"role": "user", "content": long}]}),
        )
        .await;
    assert_eq!(v["model"], "unknown-model");
    assert_eq!(v["usage"]["prompt_tokens"], 1503);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 1408);
    let v: Value = s
        .http
        .post(s.url("/v1/chat/completions"))
        .header("x-sim-cached-tokens", "3")
        .header("x-sim-completion-tokens", "5")
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "a b c d"}], "max_tokens": 100, "service_tier": "flex"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["service_tier"], "flex");
    assert_eq!(s.sim.stats().tokens_reported.cached, 1411);
    s.shutdown().await;
}

#[tokio::test]
async fn chat_stream_without_usage() {
    let s = Server::default().await;
    let resp = s.post("/v1/chat/completions", chat_body(true)).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    assert!(header(&resp, "x-request-id").starts_with("req_"));
    let body = resp.text().await.expect("body");
    let events = sse_events(&body);
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("chunk json"))
        .collect();
    // role chunk + 8 words + finish chunk
    assert_eq!(chunks.len(), 10);
    let id = chunks[0]["id"].clone();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert_eq!(c["model"], "gpt-4o-mini-2024-07-18");
        assert!(
            c.get("usage").is_none(),
            "no usage key without include_usage"
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "This is a simulated reply from the simulator.");
    let last = &chunks[chunks.len() - 1];
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(s.sim.stats().tokens_reported.input, 0, "usage never sent");
    s.shutdown().await;
}

#[tokio::test]
async fn chat_stream_with_usage_and_chunk_delay() {
    let s = Server::start(SimConfig {
        stream_chunk_delay_ms: 10,
        ..SimConfig::default()
    })
    .await;
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let started = Instant::now();
    let resp = s.post("/v1/chat/completions", body).await;
    let mut stream = resp.bytes_stream();
    let mut frames = 0;
    let mut text = String::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        frames += 1;
        text.push_str(std::str::from_utf8(&chunk.expect("chunk")).expect("utf8"));
    }
    let elapsed = started.elapsed();
    // 12 events, 11 gaps of 10 ms.
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(frames >= 6, "events arrive separately, got {frames} frames");
    let events = sse_events(&text);
    assert_eq!(events.len(), 12);
    assert_eq!(events[11].1, "[DONE]");
    let chunks: Vec<Value> = events[..11]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("json"))
        .collect();
    for c in &chunks[..10] {
        assert_eq!(c["usage"], Value::Null);
        assert!(c.get("usage").is_some());
    }
    let usage_chunk = &chunks[10];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], CHAT_PROMPT);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 8);
    assert_eq!(usage_chunk["usage"]["total_tokens"], CHAT_PROMPT + 8);
    let st = s.sim.stats();
    assert_eq!(st.tokens_reported.input, CHAT_PROMPT);
    assert_eq!(st.tokens_reported.output, 8);
    s.shutdown().await;
}

#[tokio::test]
async fn legacy_completions_plain_and_streamed() {
    let s = Server::default().await;
    let v = s
        .post_ok(
            "/v1/completions",
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": ["one two", "three"], "max_tokens": 4}),
        )
        .await;
    assert!(v["id"].as_str().expect("id").starts_with("cmpl-"));
    assert_eq!(v["object"], "text_completion");
    // A text completion has no service tier and no fingerprint (the stream chunk below is
    // checked to the byte, key order included).
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["choices", "created", "id", "model", "object", "usage"],
        "{v}"
    );
    assert_eq!(v["choices"].as_array().expect("choices").len(), 2);
    assert_eq!(v["choices"][0]["text"], "This is a simulated");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11})
    );

    let body = s
        .post(
            "/v1/completions",
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": "a b c", "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await
        .text()
        .await
        .expect("body");
    let events = sse_events(&body);
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).expect("json");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 3);
    assert_eq!(usage["usage"]["completion_tokens"], 8);
    let first = &events[0].1;
    assert!(
        first.starts_with(r#"{"id":"cmpl-"#)
            && first.contains(r#","object":"text_completion","created":"#)
            && first.contains(r#","model":"gpt-3.5-turbo-instruct","choices":[{"text":"This","index":0,"logprobs":null,"finish_reason":null}],"usage":null}"#),
        "{first}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn responses_plain_and_streamed() {
    let s = Server::default().await;
    let v = s
        .post_ok(
            "/v1/responses",
            json!({"model": "gpt-4o-mini", "input": "Tell me a joke", "instructions": "Be funny"}),
        )
        .await;
    assert!(v["id"].as_str().expect("id").starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-4o-mini-2024-07-18");
    let msg = &v["output"][0];
    assert_eq!(msg["type"], "message");
    assert!(msg["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(msg["status"], "completed");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["content"][0]["type"], "output_text");
    assert_eq!(msg["content"][0]["annotations"], json!([]));
    assert_eq!(
        msg["content"][0]["text"],
        "This is a simulated reply from the simulator."
    );
    // input: 3 + 4, instructions: 3 + 2
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 8,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 20})
    );

    let resp = s
        .post(
            "/v1/responses",
            json!({"model": "o4-mini", "input": [{"role": "user", "content": [{"type": "input_text", "text": "a b"}]}], "stream": true}),
        )
        .await;
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let body = resp.text().await.expect("body");
    let events = sse_events(&body);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.0.as_deref().expect("event name"))
        .collect();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n("response.output_text.delta", 8));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);
    for (i, (name, data)) in events.iter().enumerate() {
        assert!(
            data.starts_with(&format!(
                "{{\"type\":\"{}\",\"sequence_number\":{i}",
                name.as_deref().unwrap_or("")
            )),
            "{data}"
        );
    }
    let created: Value = serde_json::from_str(&events[0].1).expect("json");
    assert_eq!(created["response"]["status"], "in_progress");
    assert_eq!(created["response"]["usage"], Value::Null);
    let reasoning: Value = serde_json::from_str(&events[2].1).expect("json");
    assert_eq!(reasoning["item"]["type"], "reasoning");
    let deltas: String = events
        .iter()
        .filter(|e| e.0.as_deref() == Some("response.output_text.delta"))
        .map(|e| {
            serde_json::from_str::<Value>(&e.1).expect("json")["delta"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(deltas, "This is a simulated reply from the simulator.");
    let done: Value = serde_json::from_str(&events[events.len() - 1].1).expect("json");
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["output"][1]["content"][0]["text"], deltas);
    assert_eq!(done["response"]["usage"]["input_tokens"], 5);
    assert_eq!(done["response"]["usage"]["output_tokens"], 24);
    assert_eq!(
        done["response"]["usage"]["output_tokens_details"]["reasoning_tokens"],
        16
    );
    let st = s.sim.stats();
    assert_eq!(st.tokens_reported.input, 12 + 5);
    assert_eq!(st.tokens_reported.output, 8 + 24);
    s.shutdown().await;
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let s = Server::default().await;
    let v = s
        .post_ok(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["hello world", "bye"]}),
        )
        .await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["object"], "embedding");
    let vec: Vec<f64> = data[0]["embedding"]
        .as_array()
        .expect("floats")
        .iter()
        .map(|x| x.as_f64().expect("f64"))
        .collect();
    assert_eq!(vec.len(), 8);
    let norm: f64 = vec.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);
    // Deterministic.
    let (_, again) = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "hello world"}),
        )
        .await;
    assert_eq!(again["data"][0]["embedding"], data[0]["embedding"]);

    let (_, v) = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-large", "input": "x", "encoding_format": "base64", "dimensions": 4}),
        )
        .await;
    let b64 = v["data"][0]["embedding"].as_str().expect("base64 string");
    assert_eq!(b64.len(), 24, "16 bytes -> 24 base64 chars");
    s.shutdown().await;
}

#[tokio::test]
async fn images_token_and_url_models() {
    let s = Server::default().await;
    let v = s
        .post_ok(
            "/v1/images/generations",
            json!({"model": "gpt-image-1", "prompt": "a red fox", "n": 2, "quality": "low"}),
        )
        .await;
    assert_eq!(v["data"].as_array().expect("data").len(), 2);
    assert!(v["data"][0]["b64_json"]
        .as_str()
        .expect("b64")
        .starts_with("iVBORw0KGgo"));
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 3, "input_tokens_details": {"text_tokens": 3, "image_tokens": 0}, "output_tokens": 544, "total_tokens": 547})
    );

    let (_, v) = s
        .post_json(
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a cat"}),
        )
        .await;
    assert!(v.get("usage").is_none());
    assert!(v["data"][0]["revised_prompt"].is_string());
    let url = v["data"][0]["url"].as_str().expect("url");
    let png = s
        .http
        .get(url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&png[..4], b"\x89PNG");

    let (_, v) = s
        .post_json(
            "/v1/images/generations",
            json!({"model": "dall-e-2", "prompt": "a dog", "n": 3, "response_format": "b64_json"}),
        )
        .await;
    assert_eq!(v["data"].as_array().expect("data").len(), 3);
    assert!(v["data"][0].get("revised_prompt").is_none());
    let (st, v) = s
        .post_json(
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "x", "n": 2}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["param"], "n");
    s.shutdown().await;
}

fn audio_form(model: &str, bytes: usize, format: Option<&str>) -> Form {
    let mut form = Form::new()
        .text("model", model.to_owned())
        .part("file", Part::bytes(vec![7u8; bytes]).file_name("clip.mp3"));
    if let Some(f) = format {
        form = form.text("response_format", f.to_owned());
    }
    form
}

#[tokio::test]
async fn audio_transcription_translation_and_speech() {
    let s = Server::default().await;
    // whisper-1: duration usage, 40 000 bytes -> 3 s.
    let v: Value = s
        .form_json(
            "/v1/audio/transcriptions",
            audio_form("whisper-1", 40_000, None),
        )
        .await;
    assert_eq!(v["text"], "This is a simulated transcription.");
    assert_eq!(v["usage"], json!({"type": "duration", "seconds": 3}));

    // gpt-4o-transcribe: token usage.
    let v: Value = s
        .form_json(
            "/v1/audio/transcriptions",
            audio_form("gpt-4o-transcribe", 16_000, None),
        )
        .await;
    assert_eq!(
        v["usage"],
        json!({"type": "tokens", "input_tokens": 10, "input_token_details": {"text_tokens": 0, "audio_tokens": 10}, "output_tokens": 5, "total_tokens": 15})
    );
    assert_eq!(s.sim.stats().tokens_reported.input, 10);

    // text format: plain text.
    let resp = s
        .post_form(
            "/v1/audio/transcriptions",
            audio_form("whisper-1", 10, Some("text")),
        )
        .await;
    assert!(header(&resp, "content-type").starts_with("text/plain"));
    assert_eq!(
        resp.text().await.expect("text"),
        "This is a simulated transcription.\n"
    );

    let v: Value = s
        .form_json(
            "/v1/audio/translations",
            audio_form("whisper-1", 100_000, None),
        )
        .await;
    assert_eq!(v["text"], "This is a simulated translation.");
    assert_eq!(v["usage"]["seconds"], 7);

    // Streamed gpt-4o-mini-transcribe: deltas then done with usage.
    let resp = s
        .post_form(
            "/v1/audio/transcriptions",
            audio_form("gpt-4o-mini-transcribe", 100, None).text("stream", "true"),
        )
        .await;
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let events = sse_events(&resp.text().await.expect("body"));
    let done: Value = serde_json::from_str(&events[events.len() - 1].1).expect("json");
    assert_eq!(done["type"], "transcript.text.done");
    assert_eq!(done["text"], "This is a simulated transcription.");
    assert_eq!(done["usage"]["input_tokens"], 10);
    let first: Value = serde_json::from_str(&events[0].1).expect("json");
    assert_eq!(first["type"], "transcript.text.delta");
    assert_eq!(s.sim.stats().tokens_reported.input, 20);

    // Missing file.
    let resp = s
        .post_form(
            "/v1/audio/transcriptions",
            Form::new().text("model", "whisper-1"),
        )
        .await;
    assert_eq!(resp.status(), 400);

    let resp = s
        .post(
            "/v1/audio/speech",
            json!({"model": "tts-1", "input": "Hello there", "voice": "alloy"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "audio/mpeg");
    let audio = resp.bytes().await.expect("bytes");
    assert_eq!(audio.len(), 417 * 11);
    assert_eq!(&audio[..2], &[0xff, 0xfb]);
    s.shutdown().await;
}

#[tokio::test]
async fn moderations_shape() {
    let s = Server::default().await;
    let v = s
        .post_ok(
            "/v1/moderations",
            json!({"input": ["hello", "sim-flag me"]}),
        )
        .await;
    assert!(v["id"].as_str().expect("id").starts_with("modr-"));
    assert_eq!(v["model"], "omni-moderation-latest");
    assert!(v.get("usage").is_none());
    let r = v["results"].as_array().expect("results");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["flagged"], false);
    assert_eq!(r[0]["categories"]["hate"], false);
    assert!(r[0]["category_scores"]["violence"].is_number());
    assert_eq!(r[1]["flagged"], true);
    assert_eq!(r[1]["categories"]["violence"], true);
    s.shutdown().await;
}

#[tokio::test]
async fn files_upload_list_get_content_delete() {
    let s = Server::default().await;
    let payload = vec![b'x'; 300_000];
    let form = Form::new()
        .text("purpose", "assistants")
        .part("file", Part::bytes(payload.clone()).file_name("notes.txt"));
    let resp = s.post_form("/v1/files", form).await;
    assert_eq!(resp.status(), 200);
    let f: Value = resp.json().await.expect("json");
    let id = f["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("file-"));
    assert_eq!(f["object"], "file");
    assert_eq!(f["bytes"], 300_000);
    assert_eq!(f["filename"], "notes.txt");
    assert_eq!(f["purpose"], "assistants");
    assert_eq!(f["status"], "processed");

    let (_, list) = s.get_json("/v1/files").await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], id.as_str());
    let (_, list) = s.get_json("/v1/files?purpose=batch").await;
    assert_eq!(list["data"], json!([]));
    let got = s.get_ok(&format!("/v1/files/{id}")).await;
    assert_eq!(got["id"], id.as_str());
    let content = s
        .http
        .get(s.url(&format!("/v1/files/{id}/content")))
        .send()
        .await
        .expect("send")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(content.as_ref(), payload.as_slice());
    let resp = s
        .http
        .delete(s.url(&format!("/v1/files/{id}")))
        .send()
        .await
        .expect("send");
    let del: Value = resp.json().await.expect("json");
    assert_eq!(del, json!({"id": id, "object": "file", "deleted": true}));
    let (st, err) = s.get_json(&format!("/v1/files/{id}")).await;
    assert_eq!(st, 404);
    assert_eq!(
        err["error"]["message"],
        format!("No such File object: {id}")
    );

    // Missing purpose.
    let form = Form::new().part("file", Part::bytes(vec![1u8; 3]).file_name("a.bin"));
    let resp = s.post_form("/v1/files", form).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["param"], "purpose");
    s.shutdown().await;
}

fn beta(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    rb.header("OpenAI-Beta", "assistants=v2")
}

async fn beta_post(s: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = beta(s.http.post(s.url(path)))
        .json(&body)
        .send()
        .await
        .expect("send");
    let st = resp.status();
    (st, resp.json().await.expect("json"))
}

async fn beta_get(s: &Server, path: &str) -> (StatusCode, Value) {
    let resp = beta(s.http.get(s.url(path))).send().await.expect("send");
    let st = resp.status();
    (st, resp.json().await.expect("json"))
}

#[tokio::test]
async fn assistants_threads_and_run_progression() {
    let s = Server::default().await;
    let (st, err) = s
        .post_json("/v1/assistants", json!({"model": "gpt-4o"}))
        .await;
    assert_eq!(st, 400);
    assert!(err["error"]["message"]
        .as_str()
        .expect("msg")
        .contains("OpenAI-Beta"));

    let (st, a) = beta_post(
        &s,
        "/v1/assistants",
        json!({"model": "gpt-4o", "name": "Helper", "instructions": "Be nice"}),
    )
    .await;
    assert_eq!(st, 200);
    let aid = a["id"].as_str().expect("id").to_owned();
    assert!(aid.starts_with("asst_"));
    assert_eq!(a["object"], "assistant");

    let (_, t) = beta_post(
        &s,
        "/v1/threads",
        json!({"messages": [{"role": "user", "content": "first message"}]}),
    )
    .await;
    let tid = t["id"].as_str().expect("id").to_owned();
    assert!(tid.starts_with("thread_"));
    assert_eq!(t["object"], "thread");
    let (st, m) = beta_post(
        &s,
        &format!("/v1/threads/{tid}/messages"),
        json!({"role": "user", "content": "second one here"}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(m["object"], "thread.message");
    assert_eq!(m["content"][0]["text"]["value"], "second one here");

    let (st, run) = beta_post(
        &s,
        &format!("/v1/threads/{tid}/runs"),
        json!({"assistant_id": aid}),
    )
    .await;
    assert_eq!(st, 200);
    let rid = run["id"].as_str().expect("id").to_owned();
    assert!(rid.starts_with("run_"));
    assert_eq!(run["object"], "thread.run");
    assert_eq!(run["status"], "queued");
    assert_eq!(run["usage"], Value::Null);
    assert_eq!(run["model"], "gpt-4o");

    let (_, r1) = beta_get(&s, &format!("/v1/threads/{tid}/runs/{rid}")).await;
    assert_eq!(r1["status"], "in_progress");
    assert_eq!(r1["usage"], Value::Null);
    let (_, r2) = beta_get(&s, &format!("/v1/threads/{tid}/runs/{rid}")).await;
    assert_eq!(r2["status"], "completed");
    // (3 + 2) + (3 + 3) + instructions (3 + 2)
    assert_eq!(r2["usage"]["prompt_tokens"], 16);
    assert_eq!(r2["usage"]["completion_tokens"], 8);
    assert_eq!(r2["usage"]["total_tokens"], 24);
    let (_, r3) = beta_get(&s, &format!("/v1/threads/{tid}/runs/{rid}")).await;
    assert_eq!(r3["status"], "completed");
    assert_eq!(
        s.sim.stats().tokens_reported.input,
        16,
        "run usage reported once"
    );

    let (_, msgs) = beta_get(&s, &format!("/v1/threads/{tid}/messages")).await;
    let data = msgs["data"].as_array().expect("data");
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["role"], "assistant");
    assert_eq!(data[0]["run_id"], rid.as_str());
    assert_eq!(msgs["first_id"], data[0]["id"]);
    assert_eq!(msgs["has_more"], false);

    // Create thread and run in one call, with a stream.
    let resp = beta(s.http.post(s.url("/v1/threads/runs")))
        .json(&json!({"assistant_id": aid, "thread": {"messages": [{"role": "user", "content": "hi"}]}, "stream": true}))
        .send()
        .await
        .expect("send");
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let events = sse_events(&resp.text().await.expect("body"));
    assert_eq!(events[0].0.as_deref(), Some("thread.run.created"));
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let completed = events
        .iter()
        .find(|e| e.0.as_deref() == Some("thread.run.completed"))
        .expect("completed event");
    let completed: Value = serde_json::from_str(&completed.1).expect("json");
    assert_eq!(completed["usage"]["prompt_tokens"], 3 + 1 + 3 + 2);

    let (_, run) = beta_post(
        &s,
        "/v1/threads/runs",
        json!({"assistant_id": aid, "thread": {"messages": [{"role": "user", "content": "x"}]}}),
    )
    .await;
    assert_eq!(run["status"], "queued");
    assert_ne!(run["thread_id"], tid.as_str());

    let (st, _) = beta_post(
        &s,
        "/v1/threads/thread_nope/runs",
        json!({"assistant_id": aid}),
    )
    .await;
    assert_eq!(st, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn vector_stores_and_batches() {
    let s = Server::default().await;
    let lines = [
        json!({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two"}]}}),
        json!({"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"}}),
    ];
    let jsonl: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let form = Form::new().text("purpose", "batch").part(
        "file",
        Part::bytes(jsonl.into_bytes()).file_name("in.jsonl"),
    );
    let f: Value = s.form_json("/v1/files", form).await;
    let fid = f["id"].as_str().expect("id").to_owned();

    // Vector store with that file.
    let vs = s
        .post_ok(
            "/v1/vector_stores",
            json!({"name": "kb", "file_ids": [fid]}),
        )
        .await;
    let vsid = vs["id"].as_str().expect("id").to_owned();
    assert!(vsid.starts_with("vs_"));
    assert_eq!(vs["object"], "vector_store");
    assert_eq!(vs["file_counts"]["total"], 1);
    let (_, files) = s.get_json(&format!("/v1/vector_stores/{vsid}/files")).await;
    assert_eq!(files["data"][0]["object"], "vector_store.file");
    assert_eq!(files["data"][0]["id"], fid.as_str());
    let (st, _) = s
        .post_json(
            &format!("/v1/vector_stores/{vsid}/files"),
            json!({"file_id": "file-missing"}),
        )
        .await;
    assert_eq!(st, 404);
    let (_, list) = s.get_json("/v1/vector_stores").await;
    assert_eq!(list["data"][0]["id"], vsid.as_str());

    // Batch lifecycle.
    let b = s.post_ok("/v1/batches", json!({"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h"})).await;
    let bid = b["id"].as_str().expect("id").to_owned();
    assert!(bid.starts_with("batch_"));
    assert_eq!(b["object"], "batch");
    assert_eq!(b["status"], "validating");
    let (_, b1) = s.get_json(&format!("/v1/batches/{bid}")).await;
    assert_eq!(b1["status"], "in_progress");
    assert_eq!(b1["request_counts"]["total"], 2);
    let (_, b2) = s.get_json(&format!("/v1/batches/{bid}")).await;
    assert_eq!(b2["status"], "completed");
    assert_eq!(
        b2["request_counts"],
        json!({"total": 2, "completed": 1, "failed": 1})
    );
    assert_eq!(b2["usage"]["input_tokens"], 5);
    let out_id = b2["output_file_id"].as_str().expect("output file");
    let out = s
        .http
        .get(s.url(&format!("/v1/files/{out_id}/content")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let line: Value = serde_json::from_str(out.lines().next().expect("line")).expect("json");
    assert_eq!(line["custom_id"], "a");
    assert_eq!(line["response"]["status_code"], 200);
    assert_eq!(line["response"]["body"]["object"], "chat.completion");
    assert_eq!(line["response"]["body"]["usage"]["prompt_tokens"], 5);
    assert!(b2["error_file_id"].is_string());

    // Cancel another one.
    let (_, b) = s
        .post_json("/v1/batches", json!({"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
        .await;
    let bid2 = b["id"].as_str().expect("id").to_owned();
    let c = s
        .post_ok(&format!("/v1/batches/{bid2}/cancel"), json!({}))
        .await;
    assert_eq!(c["status"], "cancelling");
    let (_, c) = s.get_json(&format!("/v1/batches/{bid2}")).await;
    assert_eq!(c["status"], "cancelled");
    let (st, _) = s.get_json("/v1/batches/batch_nope").await;
    assert_eq!(st, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn models_and_routing_errors() {
    let s = Server::default().await;
    let v = s.get_ok("/v1/models").await;
    assert_eq!(v["object"], "list");
    assert!(v["data"]
        .as_array()
        .expect("data")
        .iter()
        .any(|m| m["id"] == "gpt-4o-mini"));
    let v = s.get_ok("/v1/models/gpt-4o-mini").await;
    assert_eq!(
        v,
        json!({"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741u64, "owned_by": "system"})
    );
    let (st, v) = s.get_json("/v1/models/nope").await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "model_not_found");

    let (st, v) = s.post_json("/v1/xyz", json!({})).await;
    assert_eq!(st, 404);
    assert_eq!(
        v,
        json!({"error": {"message": "Invalid URL (POST /v1/xyz)", "type": "invalid_request_error", "param": null, "code": null}})
    );
    let (st, v) = s.get_json("/v1/chat/completions").await;
    assert_eq!(st, 404);
    assert_eq!(
        v["error"]["message"],
        "Invalid URL (GET /v1/chat/completions)"
    );

    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().contains_key("x-request-id"));
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .expect("msg")
        .starts_with("We could not parse the JSON body"));

    let (st, v) = s
        .post_json("/v1/chat/completions", json!({"model": "gpt-4o"}))
        .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["param"], "messages");
    assert_eq!(v["error"]["code"], "missing_required_parameter");
    let (st, v) = s
        .post_json(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["message"], "you must provide a model parameter");
    let (st, v) = s
        .post_json(
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": "oops"}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    s.shutdown().await;
}

#[tokio::test]
async fn auth_is_checked_and_key_masked() {
    let s = Server::start(SimConfig {
        api_key: Some("sk-proj-correct-key-0000".to_owned()),
        ..SimConfig::default()
    })
    .await;
    let resp = s.post("/v1/chat/completions", chat_body(false)).await;
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "x-request-id").starts_with("req_"));
    let v: Value = resp.json().await.expect("json");
    assert!(v["error"]["message"]
        .as_str()
        .expect("msg")
        .starts_with("You didn't provide an API key."));

    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("sk-proj-abcdefghijklmnopqrstuvwxyz")
        .json(&chat_body(false))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(
        v,
        json!({"error": {
            "message": "Incorrect API key provided: sk-proj-**********************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
    );

    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("sk-proj-correct-key-0000")
        .json(&chat_body(false))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let st = s.sim.stats();
    assert_eq!(st.requests, 3);
    assert!(st
        .last_headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer sk-proj-correct-key-0000"));
    s.shutdown().await;
}

async fn fault_case(s: &Server, fault: Fault) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    s.sim.inject(fault, 1);
    let resp = s.post("/v1/chat/completions", chat_body(false)).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.expect("json");
    (status, headers, body)
}

#[tokio::test]
async fn each_error_fault() {
    let s = Server::default().await;
    let (st, h, v) = fault_case(
        &s,
        Fault::RateLimited {
            retry_after_secs: 20,
        },
    )
    .await;
    assert_eq!(st, 429);
    assert_eq!(h["retry-after"], "20");
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    assert_eq!(h["x-ratelimit-reset-requests"], "20s");
    assert!(h.contains_key("x-ratelimit-limit-tokens"));
    assert_eq!(v["error"]["type"], "requests");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let msg = v["error"]["message"].as_str().expect("msg");
    assert!(msg.starts_with("Rate limit reached for gpt-4o-mini in organization org-simulated on requests per min (RPM)"), "{msg}");
    assert!(msg.contains("Please try again in 20s."));

    let (st, _, v) = fault_case(&s, Fault::InsufficientQuota).await;
    assert_eq!(st, 429);
    assert_eq!(v["error"]["type"], "insufficient_quota");
    assert_eq!(v["error"]["code"], "insufficient_quota");

    let (st, _, v) = fault_case(&s, Fault::BillingHardLimit).await;
    assert_eq!(st, 400);
    assert_eq!(
        v,
        json!({"error": {"message": "Billing hard limit has been reached", "type": "invalid_request_error", "param": null, "code": "billing_hard_limit_reached"}})
    );

    let (st, h, v) = fault_case(&s, Fault::ServerError).await;
    assert_eq!(st, 500);
    assert!(h.contains_key("x-request-id"));
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(
        v["error"]["message"],
        "The server had an error while processing your request. Sorry about that!"
    );

    let (st, _, v) = fault_case(&s, Fault::BadGateway).await;
    assert_eq!(st, 502);
    assert_eq!(v["error"]["type"], "cf_bad_gateway");
    assert_eq!(v["error"]["code"], 502);

    let (st, _, v) = fault_case(&s, Fault::Overloaded).await;
    assert_eq!(st, 503);
    assert_eq!(
        v["error"]["message"],
        "The engine is currently overloaded, please try again later"
    );

    // Faults are consumed: the next request succeeds.
    let _ = s.post_ok("/v1/chat/completions", chat_body(false)).await;
    assert_eq!(s.sim.stats().tokens_reported.input, CHAT_PROMPT);
    s.shutdown().await;
}

#[tokio::test]
async fn fault_queue_is_fifo_counted_and_clearable() {
    let s = Server::default().await;
    s.sim.inject(Fault::ServerError, 2);
    s.sim.inject(Fault::Overloaded, 1);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            s.post("/v1/models/gpt-4o", json!({}))
                .await
                .status()
                .as_u16(),
        );
    }
    // POST /v1/models/{id} is not a route, but faults apply to any /v1 request.
    assert_eq!(seen, vec![500, 500, 503, 404]);
    s.sim.inject(Fault::ServerError, 5);
    s.sim.clear_faults();
    assert_eq!(s.sim.pending_faults(), 0);
    let _ = s.get_ok("/v1/models").await;
    s.shutdown().await;
}

#[tokio::test]
async fn delay_fault_and_latency() {
    let s = Server::start(SimConfig {
        latency_ms: 30,
        ..SimConfig::default()
    })
    .await;
    s.sim.inject(Fault::Delay { ms: 120 }, 1);
    let started = Instant::now();
    let _ = s.post_ok("/v1/chat/completions", chat_body(false)).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    let started = Instant::now();
    let _ = s.post_ok("/v1/chat/completions", chat_body(false)).await;
    let e = started.elapsed();
    assert!(
        e >= Duration::from_millis(30) && e < Duration::from_millis(2000),
        "{e:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn cut_stream_fault_breaks_the_body() {
    let s = Server::default().await;
    s.sim.inject(Fault::CutStream { after_chunks: 3 }, 1);
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = s.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut failed = false;
    while let Some(item) = futures_util::StreamExt::next(&mut stream).await {
        match item {
            Ok(bytes) => text.push_str(std::str::from_utf8(&bytes).expect("utf8")),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end with an error");
    let events = sse_events(&text);
    assert_eq!(events.len(), 3);
    assert!(!text.contains("[DONE]"));
    assert!(!text.contains("\"usage\":{"));
    assert_eq!(s.sim.stats().tokens_reported.input, 0);

    // Non-streamed bodies are cut half-way.
    s.sim.inject(Fault::CutStream { after_chunks: 0 }, 1);
    let resp = s.post("/v1/chat/completions", chat_body(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err());
    assert_eq!(s.sim.stats().tokens_reported.input, 0);

    // The server is still fine afterwards.
    let _ = s.post_ok("/v1/chat/completions", chat_body(false)).await;
    s.shutdown().await;
}

#[tokio::test]
async fn control_routes() {
    let s = Server::default().await;
    let v = s
        .post_ok(
            "/_sim/faults",
            json!({"fault": "rate_limited", "retry_after_secs": 7, "count": 2}),
        )
        .await;
    assert_eq!(v["queued"], 2);
    assert_eq!(s.sim.pending_faults(), 2);
    let v = s
        .post_ok("/_sim/faults", json!({"fault": "insufficient_quota"}))
        .await;
    assert_eq!(v["queued"], 1);
    let _ = s
        .post_ok(
            "/_sim/faults",
            json!({"fault": "cut_stream", "after_chunks": 2}),
        )
        .await;
    let _ = s
        .post_ok("/_sim/faults", json!({"fault": "delay", "ms": 1}))
        .await;
    let (st, v) = s
        .post_json("/_sim/faults", json!({"fault": "explode"}))
        .await;
    assert_eq!(st, 400);
    assert!(v["error"]["message"].is_string());

    let resp = s.post("/v1/chat/completions", chat_body(false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), "7");

    let resp = s
        .http
        .delete(s.url("/_sim/faults"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["cleared"], 4);
    let _ = s.post_ok("/v1/chat/completions", chat_body(false)).await;

    let v = s.get_ok("/_sim/stats").await;
    let stats: SimStats = serde_json::from_value(v).expect("SimStats json");
    assert_eq!(stats, s.sim.stats());
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.by_path.get("/v1/chat/completions"), Some(&2));
    assert!(stats.last_headers.iter().any(|(k, _)| k == "content-type"));
    assert!(stats
        .last_headers
        .iter()
        .all(|(k, _)| *k == k.to_lowercase()));
    assert_eq!(stats.tokens_reported.input, CHAT_PROMPT);

    let resp = s
        .http
        .delete(s.url("/_sim/stats"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(s.sim.stats(), SimStats::default());
    let v = s.get_ok("/_sim/health").await;
    assert_eq!(v["status"], "ok");

    // Fault serde round trip.
    let f: Fault =
        serde_json::from_value(json!({"fault": "cut_stream", "after_chunks": 4})).expect("fault");
    assert_eq!(f, Fault::CutStream { after_chunks: 4 });
    assert_eq!(
        serde_json::to_value(Fault::RateLimited {
            retry_after_secs: 3
        })
        .expect("ser"),
        json!({"fault": "rate_limited", "retry_after_secs": 3})
    );
    s.shutdown().await;
}

#[tokio::test]
async fn router_can_be_mounted_and_handles_concurrency() {
    // router() used directly with axum::serve (no fallback clashes).
    let sim = Simulator::new(SimConfig {
        rate_limit_headers: false,
        ..SimConfig::default()
    });
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(sim.router());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    let http = Client::new();
    let url = format!("http://{addr}/v1/chat/completions");
    let mut handles = Vec::new();
    for _ in 0..200 {
        let http = http.clone();
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let resp = http
                .post(&url)
                .json(&chat_body(false))
                .send()
                .await
                .expect("send");
            assert!(!resp.headers().contains_key("x-ratelimit-limit-requests"));
            resp.status().as_u16()
        }));
    }
    for h in handles {
        assert_eq!(h.await.expect("join"), 200);
    }
    let st = sim.stats();
    assert_eq!(st.requests, 200);
    assert_eq!(st.tokens_reported.input, 200 * CHAT_PROMPT);
    let health = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200);
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("join")
        .expect("serve ok");
}

#[tokio::test]
async fn large_upload_is_counted_streaming_and_served_back_by_length() {
    let s = Server::default().await;
    // 20 MiB sent as a stream of 1 MiB chunks (above the 16 MiB keep limit).
    const CHUNK: usize = 1024 * 1024;
    const CHUNKS: usize = 20;
    let stream = futures_util::stream::iter(
        (0..CHUNKS).map(|_| Ok::<Vec<u8>, std::io::Error>(vec![1u8; CHUNK])),
    );
    let part =
        Part::stream_with_length(reqwest::Body::wrap_stream(stream), (CHUNK * CHUNKS) as u64)
            .file_name("big.bin");
    let form = Form::new().text("purpose", "user_data").part("file", part);
    let resp = s.post_form("/v1/files", form).await;
    assert_eq!(resp.status(), 200);
    let f: Value = resp.json().await.expect("json");
    assert_eq!(f["bytes"], (CHUNK * CHUNKS) as u64);
    let id = f["id"].as_str().expect("id");
    let resp = s
        .http
        .get(s.url(&format!("/v1/files/{id}/content")))
        .send()
        .await
        .expect("send");
    assert_eq!(header(&resp, "content-type"), "application/octet-stream");
    let body = resp.bytes().await.expect("bytes");
    assert_eq!(body.len(), CHUNK * CHUNKS);
    s.shutdown().await;
}

#[tokio::test]
async fn streamed_chat_with_several_choices() {
    let s = Server::default().await;
    let body = json!({"model": "gpt-4o-mini", "n": 2, "max_tokens": 3, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let text = s
        .post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .expect("body");
    let events = sse_events(&text);
    // 2 role chunks + 3 words x 2 + 2 finish chunks + [DONE]
    assert_eq!(events.len(), 11);
    for index in 0..2 {
        let content: String = events[..10]
            .iter()
            .map(|(_, d)| serde_json::from_str::<Value>(d).expect("json"))
            .filter(|c| c["choices"][0]["index"] == index)
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(content, "This is a");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn stamped_streams_say_when_each_event_left() {
    let s = Server::start(SimConfig {
        stamp_stream_events: true,
        ..SimConfig::default()
    })
    .await;
    let unix_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    };
    let before = unix_ns();
    let text = s
        .post("/v1/chat/completions", chat_body(true))
        .await
        .text()
        .await
        .expect("body");
    let after = unix_ns();
    let blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
    assert_eq!(blocks.len() % 2, 0, "{text}");
    for pair in blocks.chunks(2) {
        let ns: u128 = pair[0]
            .strip_prefix(": sent_ns=")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no stamp before {:?}", pair[1]));
        assert!((before..=after).contains(&ns));
        assert!(pair[1].starts_with("data: "), "{}", pair[1]);
    }
    // The events themselves are what an unstamped stream carries.
    assert_eq!(
        sse_events(&text).last().map(|e| e.1.as_str()),
        Some("[DONE]")
    );
}
