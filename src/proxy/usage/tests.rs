use super::*;
use crate::proxy::family::FamilyKind;

fn req(model: &str) -> RequestInfo {
    RequestInfo {
        model: Some(model.to_string()),
        n: 1,
        ..Default::default()
    }
}

/// A usage of `model` with no counts.
fn model_only(model: &str) -> CallUsage {
    CallUsage {
        model: Some(model.into()),
        ..Default::default()
    }
}

/// A text-token usage of `model`: `(input, cached)` tokens in, `(output, reasoning)` out.
fn text_tokens(model: &str, input: (u64, u64), output: (u64, u64)) -> CallUsage {
    CallUsage {
        input_tokens: input.0,
        cached_tokens: input.1,
        output_tokens: output.0,
        reasoning_tokens: output.1,
        ..model_only(model)
    }
}

#[test]
fn response_strings_are_read_escaped_or_not_and_other_types_ignored() {
    let usage = r#""usage":{"prompt_tokens":3,"completion_tokens":2}"#;
    let escaped = format!(r#"{{"model":"gpt-4o-mini\u002d2024-07-18",{usage}}}"#);
    let u = extract_json(
        FamilyKind::ChatCompletions,
        &req("x"),
        200,
        escaped.as_bytes(),
    )
    .unwrap_or_default();
    assert_eq!(u.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!((u.input_tokens, u.output_tokens), (3, 2));
    for odd in ["5", "null", "[\"a\"]", "{\"a\":1}", "true"] {
        let body = format!(r#"{{"model":{odd},"id":[1,2],{usage}}}"#);
        let u = extract_json(
            FamilyKind::ChatCompletions,
            &req("gpt-4o"),
            200,
            body.as_bytes(),
        )
        .unwrap_or_default();
        assert_eq!(u.model.as_deref(), Some("gpt-4o"), "{body}");
        assert_eq!(u.input_tokens, 3, "{body}");
    }
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

#[test]
fn chat_completion_usage() {
    let body = br#"{
          "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
          "object": "chat.completion",
          "created": 1741570283,
          "model": "o3-mini-2025-01-31",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "The answer is 42.", "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
          "usage": {
            "prompt_tokens": 1117, "completion_tokens": 846, "total_tokens": 1963,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 768, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
          },
          "service_tier": "default",
          "system_fingerprint": "fp_42bfad963b"
        }"#;
    let u = extract_json(FamilyKind::ChatCompletions, &req("o3-mini"), 200, body);
    assert_eq!(
        u,
        Some(text_tokens("o3-mini-2025-01-31", (1117, 1024), (846, 768)))
    );
    assert_eq!(u.map(|u| u.total_tokens()), Some(1963));
    // Errors and non-2xx carry no usage.
    assert_eq!(
        extract_json(FamilyKind::ChatCompletions, &req("o3-mini"), 400, body),
        None
    );
    assert_eq!(
        extract_json(
            FamilyKind::ChatCompletions,
            &req("o3-mini"),
            200,
            b"{\"object\":\"chat.completion\"}"
        ),
        None
    );
}

#[test]
fn chat_completion_audio_usage() {
    let body = br#"{"id":"chatcmpl-AaTxKYvy0dVw9m4x2Wd1sCE4a5c3x","object":"chat.completion","created":1733162000,"model":"gpt-4o-audio-preview-2024-12-17","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"audio":{"id":"audio_674e2b8b6ac48190a2b0b4a4ba7f6c11","data":"UklGRg==","expires_at":1733165600,"transcript":"Hello there!"}},"finish_reason":"stop"}],"usage":{"prompt_tokens":68,"completion_tokens":150,"total_tokens":218,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":50,"text_tokens":18,"image_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":132,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0,"text_tokens":18}},"service_tier":"default","system_fingerprint":"fp_4e2b2da518"}"#;
    let u = extract_json(
        FamilyKind::ChatCompletions,
        &req("gpt-4o-audio-preview"),
        200,
        body,
    )
    .unwrap_or_default();
    assert_eq!(u.audio_input_tokens, 50);
    assert_eq!(u.audio_output_tokens, 132);
    assert_eq!(u.input_tokens, 68);
    assert_eq!(u.output_tokens, 150);
    assert_eq!(u.model.as_deref(), Some("gpt-4o-audio-preview-2024-12-17"));
}

#[test]
fn legacy_completion_usage() {
    let body = br#"{"id":"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7","object":"text_completion","created":1589478378,"model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_44709d6fcb","choices":[{"text":"\n\nThis is indeed a test","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#;
    let u = extract_json(FamilyKind::Completions, &RequestInfo::default(), 200, body)
        .unwrap_or_default();
    assert_eq!((u.input_tokens, u.output_tokens), (5, 7));
    assert_eq!(u.model.as_deref(), Some("gpt-3.5-turbo-instruct"));
}

#[test]
fn responses_usage() {
    let body = br#"{"id":"resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b","object":"response","created_at":1741476542,"status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[{"type":"message","id":"msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b","status":"completed","role":"assistant","content":[{"type":"output_text","text":"In a peaceful grove beneath a silver moon...","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":12},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":123},"user":null,"metadata":{}}"#;
    let u = extract_json(FamilyKind::Responses, &req("gpt-4.1"), 200, body).unwrap_or_default();
    assert_eq!(u, text_tokens("gpt-4.1-2025-04-14", (36, 12), (87, 3)));
    // A background response that is still queued has no usage yet.
    let queued = br#"{"id":"resp_1","object":"response","status":"queued","model":"o3","usage":null,"output":[]}"#;
    assert_eq!(
        extract_json(FamilyKind::Responses, &req("o3"), 200, queued),
        None
    );
}

#[test]
fn embeddings_usage() {
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.006929283495992422,-0.005336422007530928,0.00047350498,-0.024047505110502243]},{"object":"embedding","index":1,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let u = extract_json(
        FamilyKind::Embeddings,
        &req("text-embedding-3-small"),
        200,
        body,
    )
    .unwrap_or_default();
    assert_eq!((u.input_tokens, u.output_tokens, u.images), (8, 0, 0));
    assert_eq!(u.model.as_deref(), Some("text-embedding-3-small"));
}

#[test]
fn gpt_image_usage() {
    let body = br#"{"created":1713833628,"background":"opaque","data":[{"b64_json":"iVBORw0KGgo="},{"b64_json":"iVBORw0KGgo="}],"output_format":"png","quality":"high","size":"1024x1024","usage":{"total_tokens":8330,"input_tokens":50,"output_tokens":8280,"input_tokens_details":{"text_tokens":10,"image_tokens":40}}}"#;
    let mut r = req("gpt-image-1");
    r.image_count = 2;
    let u = extract_json(FamilyKind::Images, &r, 200, body).unwrap_or_default();
    assert_eq!(u.model.as_deref(), Some("gpt-image-1"));
    assert_eq!(u.images, 2);
    assert_eq!(
        (u.input_tokens, u.image_input_tokens, u.output_tokens),
        (50, 40, 8280)
    );
    assert_eq!(u.image_size.as_deref(), Some("1024x1024"));
    assert_eq!(u.image_quality.as_deref(), Some("high"));
}

#[test]
fn dalle_images_are_counted() {
    let body = br#"{"created":1713833628,"data":[{"revised_prompt":"A cute baby sea otter floating on its back","url":"https://oaidalleapiprodscus.blob.core.windows.net/private/org-abc/user-def/img-ghi.png?st=2024"}]}"#;
    let mut r = req("dall-e-3");
    r.image_size = Some("1024x1792".into());
    r.image_quality = Some("hd".into());
    let u = extract_json(FamilyKind::Images, &r, 200, body).unwrap_or_default();
    assert_eq!(u.images, 1);
    assert_eq!(u.total_tokens(), 0);
    assert_eq!(u.model.as_deref(), Some("dall-e-3"));
    assert_eq!(u.image_size.as_deref(), Some("1024x1792"));
    assert_eq!(u.image_quality.as_deref(), Some("hd"));
    // No model in the request: OpenAI's default.
    let body = br#"{"created":1713833628,"data":[{"url":"https://a"},{"url":"https://b"},{"url":"https://c"}]}"#;
    let u =
        extract_json(FamilyKind::Images, &RequestInfo::default(), 200, body).unwrap_or_default();
    assert_eq!(u.images, 3);
    assert_eq!(u.model.as_deref(), Some("dall-e-2"));
}

#[test]
fn transcription_usage_kinds() {
    let tokens = br#"{"text":"Imagine the wildest idea that you've ever had, and you're curious about how it might scale to something that's a 100, a 1,000 times bigger.","logprobs":null,"usage":{"type":"tokens","input_tokens":14,"input_token_details":{"text_tokens":0,"audio_tokens":14},"output_tokens":45,"total_tokens":59}}"#;
    let u = extract_json(
        FamilyKind::AudioTranscription,
        &req("gpt-4o-transcribe"),
        200,
        tokens,
    )
    .unwrap_or_default();
    assert_eq!(
        (u.input_tokens, u.audio_input_tokens, u.output_tokens),
        (14, 14, 45)
    );
    assert_eq!(u.model.as_deref(), Some("gpt-4o-transcribe"));
    let duration = br#"{"text":"Hello world.","usage":{"type":"duration","seconds":9}}"#;
    let u = extract_json(
        FamilyKind::AudioTranscription,
        &req("whisper-1"),
        200,
        duration,
    )
    .unwrap_or_default();
    assert_eq!(u.audio_seconds, 9.0);
    assert_eq!(u.total_tokens(), 0);
    let verbose = br#"{"task":"transcribe","language":"english","duration":8.470000267028809,"text":"The beach was a popular spot on a hot summer day.","segments":[{"id":0,"seek":0,"start":0.0,"end":3.319999933242798,"text":" The beach was a popular spot on a hot summer day.","tokens":[50364,440,7534],"temperature":0.0,"avg_logprob":-0.2860786020755768,"compression_ratio":1.2363636493682861,"no_speech_prob":0.00985979475080967}]}"#;
    let u = extract_json(
        FamilyKind::AudioTranslation,
        &req("whisper-1"),
        200,
        verbose,
    )
    .unwrap_or_default();
    assert!((u.audio_seconds - 8.470000267028809).abs() < 1e-9);
    assert_eq!(u.model.as_deref(), Some("whisper-1"));
    // Plain text / srt bodies: counted with the model only.
    let u = extract_json(
        FamilyKind::AudioTranscription,
        &req("whisper-1"),
        200,
        b"1\n00:00:00,000 --> 00:00:03,320\nHello\n",
    );
    assert_eq!(u, Some(model_only("whisper-1")));
}

#[test]
fn speech_counts_characters() {
    let mut r = req("tts-1");
    r.input_chars = 1234;
    let u = extract_json(
        FamilyKind::Speech,
        &r,
        200,
        b"\xff\xfb\x90\x64\x00binary mp3",
    );
    assert_eq!(
        u,
        Some(CallUsage {
            characters: 1234,
            ..model_only("tts-1")
        })
    );
    assert_eq!(extract_json(FamilyKind::Speech, &r, 500, b""), None);
}

#[test]
fn moderations_are_counted_without_tokens() {
    let body = br#"{"id":"modr-0d9740456c391e43c445bf0f010940c7","model":"omni-moderation-2024-09-26","results":[{"flagged":false,"categories":{"harassment":false,"violence":false},"category_scores":{"harassment":0.000006,"violence":0.0000009},"category_applied_input_types":{"harassment":["text"],"violence":["text","image"]}}]}"#;
    let u = extract_json(
        FamilyKind::Moderations,
        &req("omni-moderation-latest"),
        200,
        body,
    );
    assert_eq!(u, Some(model_only("omni-moderation-2024-09-26")));
}

const RUN: &str = r#"{"id":"run_abc123","object":"thread.run","created_at":1699075072,"assistant_id":"asst_abc123","thread_id":"thread_abc123","status":"STATUS","started_at":1699075072,"expires_at":null,"cancelled_at":null,"failed_at":null,"completed_at":1699075073,"last_error":null,"model":"gpt-4o","instructions":null,"incomplete_details":null,"tools":[{"type":"code_interpreter"}],"metadata":{},"usage":USAGE,"temperature":1.0,"top_p":1.0,"max_prompt_tokens":1000,"max_completion_tokens":1000,"truncation_strategy":{"type":"auto","last_messages":null},"response_format":"auto","tool_choice":"auto","parallel_tool_calls":true}"#;

fn run(status: &str, usage: &str) -> Vec<u8> {
    RUN.replace("STATUS", status)
        .replace("USAGE", usage)
        .into_bytes()
}

#[test]
fn runs_count_only_when_terminal() {
    let usage = r#"{"prompt_tokens":123,"completion_tokens":456,"total_tokens":579,"prompt_token_details":{"cached_tokens":100}}"#;
    for status in ["completed", "failed", "cancelled", "expired", "incomplete"] {
        let u = extract_json(
            FamilyKind::Runs,
            &RequestInfo::default(),
            200,
            &run(status, usage),
        )
        .unwrap_or_default();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cached_tokens),
            (123, 456, 100),
            "{status}"
        );
        assert_eq!(u.model.as_deref(), Some("gpt-4o"));
    }
    for status in ["queued", "in_progress", "requires_action", "cancelling"] {
        assert_eq!(
            extract_json(
                FamilyKind::Runs,
                &RequestInfo::default(),
                200,
                &run(status, usage)
            ),
            None,
            "{status}"
        );
    }
    assert_eq!(
        extract_json(
            FamilyKind::Runs,
            &RequestInfo::default(),
            200,
            &run("completed", "null")
        ),
        None
    );
    assert_eq!(
        run_id(&run("completed", usage)).as_deref(),
        Some("run_abc123")
    );
    assert_eq!(
        run_id(br#"{"id":"run_x","status":"completed"}"#).as_deref(),
        Some("run_x")
    );
    assert_eq!(
        run_id(br#"{"id":"step_x","object":"thread.run.step"}"#),
        None
    );
    assert_eq!(run_id(br#"{"object":"list","data":[]}"#), None);
    assert_eq!(run_id(b"garbage"), None);
    // A list of runs is not counted.
    let list = format!(
        r#"{{"object":"list","data":[{}],"first_id":"run_abc123","last_id":"run_abc123","has_more":false}}"#,
        String::from_utf8_lossy(&run("completed", usage))
    );
    assert_eq!(
        extract_json(
            FamilyKind::Runs,
            &RequestInfo::default(),
            200,
            list.as_bytes()
        ),
        None
    );
}

#[test]
fn any_other_json_with_usage() {
    let body = br#"{"id":"sess_1","object":"realtime.session","model":"gpt-4o-realtime-preview","usage":{"input_tokens":10,"output_tokens":20}}"#;
    let u = extract_json(FamilyKind::Other, &RequestInfo::default(), 200, body).unwrap_or_default();
    assert_eq!((u.input_tokens, u.output_tokens), (10, 20));
    assert_eq!(u.model.as_deref(), Some("gpt-4o-realtime-preview"));
    let files = br#"{"object":"list","data":[{"id":"file-abc123","object":"file","bytes":120000,"created_at":1677610602,"filename":"salesOverview.pdf","purpose":"assistants"}],"has_more":false}"#;
    assert_eq!(
        extract_json(FamilyKind::Other, &RequestInfo::default(), 200, files),
        None
    );
    let batch = br#"{"id":"batch_abc123","object":"batch","endpoint":"/v1/chat/completions","status":"completed","request_counts":{"total":100,"completed":95,"failed":5},"usage":{"input_tokens":1500,"input_tokens_details":{"cached_tokens":1024},"output_tokens":500,"output_tokens_details":{"reasoning_tokens":300},"total_tokens":2000}}"#;
    assert_eq!(
        extract_json(FamilyKind::Other, &RequestInfo::default(), 200, batch),
        None
    );
    let step = br#"{"id":"step_abc123","object":"thread.run.step","run_id":"run_abc123","status":"completed","usage":{"prompt_tokens":123,"completion_tokens":456,"total_tokens":579}}"#;
    assert_eq!(
        extract_json(FamilyKind::Other, &RequestInfo::default(), 200, step),
        None
    );
    // usage without any known counter
    assert_eq!(
        extract_json(
            FamilyKind::Other,
            &RequestInfo::default(),
            200,
            br#"{"usage":{"bytes":5}}"#
        ),
        None
    );
}

#[test]
fn parse_usage_edge_cases() {
    assert_eq!(parse_usage(&Value::Null), None);
    assert_eq!(parse_usage(&json(b"{}")), None);
    assert_eq!(
        parse_usage(&json(br#"{"type":"duration","seconds":-1}"#)),
        None
    );
    let u =
        parse_usage(&json(br#"{"prompt_tokens":3,"completion_tokens":null}"#)).unwrap_or_default();
    assert_eq!((u.input_tokens, u.output_tokens), (3, 0));
    let u = parse_usage(&json(br#"{"type":"duration","seconds":2.5}"#)).unwrap_or_default();
    assert_eq!(u.audio_seconds, 2.5);
}

/// The typed wire reader keeps `Value`'s lenient rules: counts may be floats (rounded),
/// anything that is not a number is absent rather than an error, and the first details
/// member that is an object wins.
#[test]
fn wire_usage_is_lenient_like_a_value() {
    let body = br#"{"object":"chat.completion","model":"gpt-4o-mini","usage":{
            "prompt_tokens":10.6,"completion_tokens":"7","input_tokens":-3,"output_tokens":4,
            "prompt_tokens_details":5,"input_tokens_details":{"cached_tokens":2,"audio_tokens":null,"image_tokens":[1]},
            "completion_tokens_details":null,"output_tokens_details":{"reasoning_tokens":1e0,"extra":{"a":[1,2]}},
            "seconds":3,"type":"tokens","unknown":{"deep":[{"x":1}]}}}"#;
    let req = RequestInfo::default();
    let u = extract_json(FamilyKind::ChatCompletions, &req, 200, body).unwrap_or_default();
    assert_eq!(u.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!((u.input_tokens, u.output_tokens), (11, 4));
    assert_eq!(
        (u.cached_tokens, u.audio_input_tokens, u.image_input_tokens),
        (2, 0, 0)
    );
    assert_eq!(u.reasoning_tokens, 1);
    assert_eq!(u.audio_seconds, 0.0, "seconds count only for type duration");
    // A `usage` that is not an object is no usage; the body still parses.
    for odd in [
        &br#"{"usage":7}"#[..],
        br#"{"usage":[1]}"#,
        br#"{"usage":"x"}"#,
    ] {
        assert_eq!(
            extract_json(FamilyKind::ChatCompletions, &req, 200, odd),
            None
        );
    }
    // A verbose_json duration that is an integer, a negative or a string.
    let t = |b: &[u8]| {
        extract_json(FamilyKind::AudioTranscription, &req, 200, b)
            .map(|u| u.audio_seconds)
            .unwrap_or(-1.0)
    };
    assert_eq!(t(br#"{"text":"hi","duration":4}"#), 4.0);
    assert_eq!(t(br#"{"text":"hi","duration":-4}"#), 0.0);
    assert_eq!(t(br#"{"text":"hi","duration":"4"}"#), 0.0);
}
