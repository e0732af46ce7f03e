use super::*;

const CHAT: &str = include_str!("../../../tests/fixtures/openai/chat_stream_include_usage.sse");
const RESPONSES: &str = include_str!("../../../tests/fixtures/openai/responses_stream.sse");
const CHAT_TEXT: &str =
    "Hello! Here is a \"quote\", a tab\tand\nnewline, café — 😀 and a backslash \\ done.";

fn run(kind: StreamKind, pieces: &[&[u8]]) -> (Vec<u8>, StreamOutcome) {
    let mut tap = StreamTap::new(kind, Some("req-model".into()));
    let mut out = Vec::new();
    for p in pieces {
        out.extend_from_slice(&tap.push(Bytes::copy_from_slice(p)));
    }
    let (tail, outcome) = tap.finish();
    out.extend_from_slice(&tail);
    (out, outcome)
}

/// The stream without its usage-only chunk.
fn without_usage_chunk(s: &str) -> String {
    s.split_inclusive("\n\n")
        .filter(|e| !(e.contains("\"choices\":[]") && e.contains("\"usage\":{")))
        .collect()
}

/// A chat stream's kind, with or without removing the usage chunk.
fn chat(strip_usage_chunk: bool) -> StreamKind {
    StreamKind::Chat { strip_usage_chunk }
}

/// Token usage of `model`.
fn usage_of(model: &str, input_tokens: u64, output_tokens: u64) -> CallUsage {
    CallUsage {
        model: Some(model.into()),
        input_tokens,
        output_tokens,
        ..Default::default()
    }
}

fn chat_usage() -> CallUsage {
    usage_of("gpt-4o-mini-2024-07-18", 19, 27)
}

/// Asserts that the stream completed with `text` and usage of `model`; its usage.
fn ended_with(o: &StreamOutcome, text: &str, model: &str) -> CallUsage {
    assert!(o.completed);
    assert_eq!(o.output_text, text);
    let u = o.usage.clone().unwrap_or_default();
    assert_eq!(u.model.as_deref(), Some(model));
    u
}

/// Runs `s` split in two at every offset: each time forwarded as it came and [`ended_with`]
/// `text` and usage of `model`, the same usage. That usage.
fn ended_at_every_split(kind: StreamKind, s: &str, text: &str, model: &str) -> CallUsage {
    let b = s.as_bytes();
    let (_, whole) = run(kind, &[b]);
    let want = ended_with(&whole, text, model);
    for i in 0..=b.len() {
        let (out, o) = run(kind, &[&b[..i], &b[i..]]);
        assert_eq!(out, b, "split at {i}");
        assert_eq!(ended_with(&o, text, model), want, "split at {i}");
    }
    want
}

#[test]
fn chat_stream_whole() {
    let (out, o) = run(chat(false), &[CHAT.as_bytes()]);
    assert_eq!(out, CHAT.as_bytes());
    assert_eq!(o.usage, Some(chat_usage()));
    assert!(o.completed);
    assert_eq!(o.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(o.output_text, CHAT_TEXT);
}

#[test]
fn chat_stream_split_at_every_offset() {
    let b = CHAT.as_bytes();
    let stripped = without_usage_chunk(CHAT);
    assert!(stripped.len() < CHAT.len());
    for strip in [false, true] {
        let want: &[u8] = if strip { stripped.as_bytes() } else { b };
        for i in 0..=b.len() {
            let (out, o) = run(chat(strip), &[&b[..i], &b[i..]]);
            assert_eq!(out, want, "strip {strip}, split at {i}");
            assert_eq!(o.usage, Some(chat_usage()), "strip {strip}, split at {i}");
            assert!(o.completed);
            assert_eq!(o.output_text, CHAT_TEXT, "split at {i}");
        }
        // Three pieces.
        for i in (0..b.len()).step_by(31) {
            for j in (i..=b.len()).step_by(37) {
                let (out, o) = run(chat(strip), &[&b[..i], &b[i..j], &b[j..]]);
                assert_eq!(out, want, "strip {strip}, split at {i},{j}");
                assert_eq!(o.usage, Some(chat_usage()));
                assert_eq!(o.output_text, CHAT_TEXT);
            }
        }
        // Byte by byte.
        let pieces: Vec<&[u8]> = b.chunks(1).collect();
        let (out, o) = run(chat(strip), &pieces);
        assert_eq!(out, want);
        assert_eq!(o.usage, Some(chat_usage()));
        assert_eq!(o.output_text, CHAT_TEXT);
    }
}

#[test]
fn crlf_separators() {
    let crlf = CHAT.replace('\n', "\r\n");
    let b = crlf.as_bytes();
    let want = without_usage_chunk(CHAT).replace('\n', "\r\n");
    for i in 0..=b.len() {
        let (out, o) = run(chat(true), &[&b[..i], &b[i..]]);
        assert_eq!(out, want.as_bytes(), "split at {i}");
        assert_eq!(o.usage, Some(chat_usage()), "split at {i}");
        assert_eq!(o.output_text, CHAT_TEXT);
        assert!(o.completed);
    }
}

#[test]
fn forwarding_is_zero_copy() {
    let chunk = Bytes::from(CHAT);
    let mut tap = StreamTap::new(chat(false), None);
    let out = tap.push(chunk.clone());
    assert_eq!(out.as_ptr(), chunk.as_ptr());
    assert_eq!(out.len(), chunk.len());
    // Stripping, event-aligned chunks without usage: the chunk itself.
    let events: Vec<&str> = CHAT.split_inclusive("\n\n").collect();
    let mut tap = StreamTap::new(chat(true), None);
    for e in &events {
        let chunk = Bytes::copy_from_slice(e.as_bytes());
        let out = tap.push(chunk.clone());
        if e.contains("\"choices\":[]") {
            assert!(out.is_empty());
        } else {
            assert_eq!(out.as_ptr(), chunk.as_ptr(), "{e}");
            assert_eq!(out.len(), chunk.len());
        }
    }
    let (tail, o) = tap.finish();
    assert!(tail.is_empty());
    assert_eq!(o.usage, Some(chat_usage()));
}

#[test]
fn strip_holds_back_only_incomplete_events() {
    let events: Vec<&str> = CHAT.split_inclusive("\n\n").collect();
    let mut tap = StreamTap::new(chat(true), None);
    let first = events[0].as_bytes();
    let out = tap.push(Bytes::copy_from_slice(&first[..50]));
    assert!(out.is_empty());
    let mut two = first[50..].to_vec();
    two.extend_from_slice(&events[1].as_bytes()[..10]);
    let out = tap.push(Bytes::from(two));
    assert_eq!(&out[..], first);
    // A stream cut in the middle of an event: the partial event is given back by finish.
    let (tail, o) = tap.finish();
    assert_eq!(&tail[..], &events[1].as_bytes()[..10]);
    assert!(!o.completed);
    assert_eq!(o.usage, None);
    assert_eq!(o.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
}

#[test]
fn usage_chunk_in_the_middle_of_a_chunk_is_removed() {
    let events: Vec<&str> = CHAT.split_inclusive("\n\n").collect();
    let n = events.len();
    // The last content chunk, the usage chunk and [DONE] in one upstream chunk.
    let mut tap = StreamTap::new(chat(true), None);
    let mut out = Vec::new();
    let head: String = events[..n - 3].concat();
    out.extend_from_slice(&tap.push(Bytes::from(head)));
    let rest: String = events[n - 3..].concat();
    out.extend_from_slice(&tap.push(Bytes::from(rest)));
    let (tail, o) = tap.finish();
    assert!(tail.is_empty());
    assert_eq!(String::from_utf8_lossy(&out), without_usage_chunk(CHAT));
    assert_eq!(o.usage, Some(chat_usage()));
}

#[test]
fn trailing_event_without_blank_line() {
    let s = CHAT.strip_suffix("\n\n").unwrap_or(CHAT);
    let (out, o) = run(chat(true), &[s.as_bytes()]);
    assert_eq!(
        String::from_utf8_lossy(&out),
        without_usage_chunk(CHAT).trim_end_matches('\n')
    );
    assert!(o.completed);
    // The usage chunk last, unterminated, is still removed.
    let cut = CHAT.strip_suffix("data: [DONE]\n\n").unwrap_or(CHAT);
    let cut = cut.strip_suffix("\n\n").unwrap_or(cut);
    let (out, o) = run(chat(true), &[cut.as_bytes()]);
    assert!(!String::from_utf8_lossy(&out).contains("\"choices\":[]"));
    assert_eq!(o.usage, Some(chat_usage()));
    assert!(!o.completed);
}

#[test]
fn chat_stream_without_usage() {
    // The client did not ask for usage and the gateway did not add it: estimate material.
    let s: String = CHAT
        .split_inclusive("\n\n")
        .filter(|e| !e.contains("\"choices\":[]"))
        .map(|e| e.replace(",\"usage\":null", ""))
        .collect();
    let (out, o) = run(chat(false), &[s.as_bytes()]);
    assert_eq!(out, s.as_bytes());
    assert_eq!(o.usage, None);
    assert!(o.completed);
    assert_eq!(o.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(o.output_text, CHAT_TEXT);
    // Nothing at all: the request's model.
    let (_, o) = run(chat(false), &[]);
    assert_eq!(o.model.as_deref(), Some("req-model"));
    assert!(!o.completed);
}

#[test]
fn chat_tool_call_arguments_and_refusals_are_collected() {
    let s = concat!(
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-mini-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-mini-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-mini-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't.\"},\"logprobs\":{\"content\":[{\"token\":\"I\",\"logprob\":-0.1,\"bytes\":[73],\"top_logprobs\":[]}],\"refusal\":null},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-mini-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let (_, o) = run(chat(false), &[s.as_bytes()]);
    assert_eq!(o.output_text, "{\"location\":\"Paris\"}I can't.");
    assert_eq!(o.model.as_deref(), Some("gpt-4.1-mini-2025-04-14"));
}

#[test]
fn completions_stream() {
    let s = concat!(
        "data: {\"id\":\"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe\",\"object\":\"text_completion\",\"created\":1690759702,\"choices\":[{\"text\":\"This\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"model\":\"gpt-3.5-turbo-instruct\",\"usage\":null}\n\n",
        "data: {\"id\":\"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe\",\"object\":\"text_completion\",\"created\":1690759702,\"choices\":[{\"text\":\" is a\\ntest\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}],\"model\":\"gpt-3.5-turbo-instruct\",\"usage\":null}\n\n",
        "data: {\"id\":\"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe\",\"object\":\"text_completion\",\"created\":1690759702,\"choices\":[],\"model\":\"gpt-3.5-turbo-instruct\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,\"total_tokens\":9}}\n\n",
        "data: [DONE]\n\n",
    );
    let b = s.as_bytes();
    for i in 0..=b.len() {
        let (out, o) = run(
            StreamKind::Completions {
                strip_usage_chunk: true,
            },
            &[&b[..i], &b[i..]],
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            without_usage_chunk(s),
            "split at {i}"
        );
        let u = o.usage.unwrap_or_default();
        assert_eq!((u.input_tokens, u.output_tokens), (5, 4));
        assert_eq!(u.model.as_deref(), Some("gpt-3.5-turbo-instruct"));
        assert_eq!(o.output_text, "This is a\ntest");
        assert!(o.completed);
    }
}

fn responses_usage() -> CallUsage {
    usage_of("gpt-4.1-2025-04-14", 37, 11)
}

#[test]
fn responses_stream_split_at_every_offset() {
    let b = RESPONSES.as_bytes();
    for i in 0..=b.len() {
        let (out, o) = run(StreamKind::Responses, &[&b[..i], &b[i..]]);
        assert_eq!(out, b, "split at {i}");
        assert_eq!(o.usage, Some(responses_usage()), "split at {i}");
        assert!(o.completed);
        assert_eq!(o.output_text, "Hi there — \"friend\"!\n");
        assert_eq!(o.model.as_deref(), Some("gpt-4.1-2025-04-14"));
    }
    let crlf = RESPONSES.replace('\n', "\r\n");
    let pieces: Vec<&[u8]> = crlf.as_bytes().chunks(3).collect();
    let (out, o) = run(StreamKind::Responses, &pieces);
    assert_eq!(out, crlf.as_bytes());
    assert_eq!(o.usage, Some(responses_usage()));
}

#[test]
fn responses_stream_cut_and_incomplete() {
    let cut = RESPONSES
        .split("event: response.output_text.done")
        .next()
        .unwrap_or("");
    let (_, o) = run(StreamKind::Responses, &[cut.as_bytes()]);
    assert!(!o.completed);
    assert_eq!(o.usage, None);
    assert_eq!(o.model.as_deref(), Some("gpt-4.1-2025-04-14"));
    assert_eq!(o.output_text, "Hi there — \"friend\"!\n");
    // Without `event:` lines the type is read from the payload; incomplete counts as ended.
    let s = concat!(
        "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"abc\"}\n\n",
        "data: {\"type\":\"response.audio.delta\",\"sequence_number\":5,\"response_id\":\"resp_1\",\"delta\":\"UklGRiQAAABXQVZF\"}\n\n",
        "data: {\"type\":\"response.incomplete\",\"sequence_number\":6,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\"o4-mini-2025-04-16\",\"usage\":{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":64,\"output_tokens_details\":{\"reasoning_tokens\":64},\"total_tokens\":74}}}\n\n",
    );
    let u = ended_at_every_split(StreamKind::Responses, s, "abc", "o4-mini-2025-04-16");
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.reasoning_tokens),
        (10, 64, 64)
    );
}

#[test]
fn other_stream_transcription() {
    let s = concat!(
        "data: {\"type\":\"transcript.text.delta\",\"delta\":\"I\",\"logprobs\":null}\n\n",
        "data: {\"type\":\"transcript.text.delta\",\"delta\":\" see skies of blue.\",\"logprobs\":null}\n\n",
        "data: {\"type\":\"transcript.text.done\",\"text\":\"I see skies of blue.\",\"logprobs\":null,\"usage\":{\"type\":\"tokens\",\"input_tokens\":14,\"input_token_details\":{\"text_tokens\":0,\"audio_tokens\":14},\"output_tokens\":6,\"total_tokens\":20}}\n\n",
    );
    let u = ended_at_every_split(StreamKind::Other, s, "I see skies of blue.", "req-model");
    assert_eq!(
        (u.input_tokens, u.audio_input_tokens, u.output_tokens),
        (14, 14, 6)
    );
}

#[test]
fn oversized_events_are_passed_through() {
    let big = format!(
        "data: {{\"type\":\"response.image_generation_call.partial_image\",\"partial_image_b64\":\"{}\"}}\n\n",
        "A".repeat(5000)
    );
    let s = format!("{big}{}", CHAT);
    let b = s.as_bytes();
    for strip in [false, true] {
        let mut tap = StreamTap::new(chat(strip), None).with_max_event(1000);
        let mut out = Vec::new();
        for p in b.chunks(300) {
            out.extend_from_slice(&tap.push(Bytes::copy_from_slice(p)));
            assert!(tap.carry.len() <= 1300);
        }
        let (tail, o) = tap.finish();
        out.extend_from_slice(&tail);
        let want = if strip {
            format!("{big}{}", without_usage_chunk(CHAT))
        } else {
            s.clone()
        };
        assert_eq!(String::from_utf8_lossy(&out), want);
        assert_eq!(o.usage, Some(chat_usage()));
        assert_eq!(o.output_text, CHAT_TEXT);
    }
}

#[test]
fn usage_object_detection() {
    assert!(has_usage_object(br#"{"usage":{"prompt_tokens":1}}"#));
    assert!(has_usage_object(br#"{"usage" : {"prompt_tokens":1}}"#));
    assert!(!has_usage_object(br#"{"usage":null}"#));
    assert!(!has_usage_object(br#"{"content":"the \"usage\":{ here"}"#));
    assert!(has_usage_object(
        br#"{"usage":null,"response":{"usage":{"input_tokens":1}}}"#
    ));
}

#[test]
fn boundaries() {
    let mut line = Line::Empty;
    assert_eq!(next_boundary(&mut line, b"data: x\n\ndata: y", 0), Some(9));
    assert_eq!(next_boundary(&mut line, b"data: x\n\ndata: y", 9), None);
    assert_eq!(line, Line::Text);
    let mut line = Line::Empty;
    assert_eq!(next_boundary(&mut line, b"data: x\r\n\r", 0), None);
    assert_eq!(line, Line::Cr);
    assert_eq!(next_boundary(&mut line, b"\n", 0), Some(1));
    let mut line = Line::Text;
    assert_eq!(next_boundary(&mut line, b"\n", 0), None);
    assert_eq!(line, Line::Empty);
    assert_eq!(next_boundary(&mut line, b"\n", 0), Some(1));
    let (name, data) = event_fields(b"event: response.completed\r\ndata: {\"a\":1}\r\n\r\n");
    assert_eq!(name, Some(&b"response.completed"[..]));
    assert_eq!(&data[..], b"{\"a\":1}");
    let (_, data) = event_fields(b": keep-alive\ndata: line1\ndata:line2\n\n");
    assert_eq!(&data[..], b"line1\nline2");
}
