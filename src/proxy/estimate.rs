//! Token estimates, for when the upstream reports none: a cheap byte-based bound for admission,
//! and tiktoken counts for recording a stream that was cut before its usage arrived.
//!
//! Owns: the model → encoding choice (`o200k_base` / `cl100k_base`), the encoders (built once,
//! lazily, from the BPE files that `tiktoken-rs` embeds: no download, no file read), and the
//! walk over request JSON that finds its text.
//! Must not: run the tokenizer on the admission path ([`estimate_prompt_tokens`] is a byte
//! count), or do IO. Building an encoder takes a noticeable moment the first time, so callers
//! run [`count_tokens`] / [`estimate_request_tokens`] off the async threads.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();

/// Whether a model uses `o200k_base` (gpt-4o, gpt-4.1, gpt-5, o-series, chatgpt-4o,
/// gpt-image, omni-moderation and their snapshots and fine-tunes); all others use
/// `cl100k_base`.
pub fn uses_o200k(model: &str) -> bool {
    let m = model.strip_prefix("ft:").unwrap_or(model);
    let m = m.rsplit('/').next().unwrap_or(m);
    const PREFIXES: [&str; 9] = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "chatgpt-4o",
        "gpt-image",
        "omni-",
        "codex-",
        "gpt-oss",
    ];
    if PREFIXES.iter().any(|p| m.starts_with(p)) {
        return true;
    }
    // o1, o1-mini, o3-pro, o4-mini-2025-04-16, …
    let b = m.as_bytes();
    b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit() && (b.len() == 2 || b[2] == b'-')
}

fn encoder(model: Option<&str>) -> Option<&'static CoreBPE> {
    if model.is_some_and(uses_o200k) {
        O200K
            .get_or_init(|| tiktoken_rs::o200k_base().ok())
            .as_ref()
    } else {
        CL100K
            .get_or_init(|| tiktoken_rs::cl100k_base().ok())
            .as_ref()
    }
}

/// The number of tokens of `text` in the model's encoding (special-token text counts as plain
/// text). Falls back to one token per 4 bytes if the encoder cannot be built.
pub fn count_tokens(model: Option<&str>, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match encoder(model) {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => (text.len() as u64).div_ceil(4),
    }
}

/// Tokens counted for one inline image (`data:` URL or `image_url` part) by the estimates:
/// gpt-4o's cost of a high-detail 1024×1024 image (765) rounded up, a middle ground between
/// low detail (85) and the largest tiles.
pub const IMAGE_TOKENS: u64 = 1_000;

/// A cheap, tokenizer-free, upper-bound-ish estimate of a request's prompt tokens for admission:
/// the body's bytes / 3, rounded up (English text and JSON syntax run ~4 bytes per token, so
/// this over-counts by ~30% and more for non-Latin text's multi-byte characters, which is what
/// a reservation wants). Base64 `data:` URL payloads (inline images, files) count
/// [`IMAGE_TOKENS`] each instead of their size. O(n) memchr scan, no allocation.
pub fn estimate_prompt_tokens(body: &[u8]) -> u64 {
    let mut bytes = body.len() as u64;
    let mut extra = 0u64;
    let finder = memchr::memmem::Finder::new(b";base64,");
    let mut from = 0;
    while let Some(i) = finder.find(&body[from..]) {
        let start = from + i + 8;
        let len = memchr::memchr(b'"', &body[start..]).unwrap_or(body.len() - start);
        bytes = bytes.saturating_sub(len as u64);
        extra += IMAGE_TOKENS;
        from = start + len;
    }
    bytes.div_ceil(3) + extra
}

/// Tokens OpenAI adds per chat message (role and separators), and to prime the reply.
const PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

/// Estimates a request's input tokens with the model's tokenizer, for recording a call whose
/// usage never arrived: chat `messages` (roles, string or part contents, names, tool calls, plus
/// `PER_MESSAGE` each and `REPLY_PRIMING`), completions `prompt`, Responses `input` and
/// `instructions`, embeddings `input` (strings, or token arrays counted by length), and `tools`
/// / `functions` definitions (their JSON). Image parts count [`IMAGE_TOKENS`]; other binary
/// parts (audio, files) count nothing. A body that is not JSON falls back to
/// [`estimate_prompt_tokens`]; an empty body is 0.
pub fn estimate_request_tokens(model: Option<&str>, body_json: &[u8]) -> u64 {
    if body_json.iter().all(u8::is_ascii_whitespace) {
        return 0;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body_json) else {
        return estimate_prompt_tokens(body_json);
    };
    let model = model.or_else(|| v.get("model").and_then(Value::as_str));
    let mut acc = Acc { model, tokens: 0 };
    if let Some(messages) = v.get("messages").and_then(Value::as_array) {
        for m in messages {
            acc.tokens += PER_MESSAGE;
            acc.message(m);
        }
        acc.tokens += REPLY_PRIMING;
    }
    if let Some(p) = v.get("prompt") {
        acc.content(p);
    }
    if let Some(s) = v.get("instructions").and_then(Value::as_str) {
        acc.text(s);
    }
    if let Some(input) = v.get("input") {
        match input {
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(_) => {
                            acc.tokens += PER_MESSAGE;
                            acc.message(item);
                        }
                        Value::Array(ids) => acc.tokens += ids.len() as u64,
                        Value::Number(_) => acc.tokens += 1,
                        other => acc.content(other),
                    }
                }
            }
            other => acc.content(other),
        }
    }
    for key in ["tools", "functions"] {
        if let Some(t) = v.get(key).filter(|t| !t.is_null()) {
            acc.text(&t.to_string());
        }
    }
    acc.tokens
}

/// Tokens counted so far, each piece of text with the model's tokenizer.
struct Acc<'a> {
    model: Option<&'a str>,
    tokens: u64,
}

impl Acc<'_> {
    fn text(&mut self, s: &str) {
        self.tokens += count_tokens(self.model, s);
    }

    /// A chat message or a Responses input item.
    fn message(&mut self, m: &Value) {
        if let Some(r) = m.get("role").and_then(Value::as_str) {
            self.text(r);
        }
        if let Some(c) = m.get("content") {
            self.content(c);
        }
        if let Some(n) = m.get("name").and_then(Value::as_str) {
            self.text(n);
            self.tokens += 1;
        }
        for key in ["tool_calls", "function_call"] {
            if let Some(tc) = m.get(key).filter(|t| !t.is_null()) {
                self.text(&tc.to_string());
            }
        }
        // Responses items: function_call arguments / function_call_output output.
        for key in ["arguments", "output"] {
            if let Some(s) = m.get(key).and_then(Value::as_str) {
                self.text(s);
            }
        }
    }

    /// A content value: a string, or an array of parts (or of strings).
    fn content(&mut self, c: &Value) {
        match c {
            Value::String(s) => self.text(s),
            Value::Array(parts) => {
                for p in parts {
                    match p {
                        Value::String(s) => self.text(s),
                        Value::Number(_) => self.tokens += 1,
                        Value::Object(o) => {
                            if let Some(s) = o.get("text").and_then(Value::as_str) {
                                self.text(s);
                            } else if let Some(s) = o.get("refusal").and_then(Value::as_str) {
                                self.text(s);
                            }
                            let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
                            if matches!(ty, "image_url" | "input_image") {
                                self.tokens += IMAGE_TOKENS;
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_by_model() {
        for m in [
            "gpt-4o",
            "gpt-4o-mini-2024-07-18",
            "gpt-4.1-nano",
            "gpt-5-mini",
            "o1",
            "o1-mini",
            "o3",
            "o3-mini-2025-01-31",
            "o4-mini",
            "chatgpt-4o-latest",
            "ft:gpt-4o-mini-2024-07-18:org::abc",
        ] {
            assert!(uses_o200k(m), "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-3.5-turbo-0125",
            "text-embedding-3-small",
            "text-embedding-ada-002",
            "o",
            "omega",
            "o10x",
            "davinci-002",
        ] {
            assert!(!uses_o200k(m), "{m}");
        }
    }

    #[test]
    fn counts_match_tiktoken() {
        // Reference counts from OpenAI's tiktoken.
        assert_eq!(count_tokens(Some("gpt-4o"), "hello world"), 2);
        assert_eq!(count_tokens(Some("gpt-3.5-turbo"), "hello world"), 2);
        assert_eq!(count_tokens(None, "tiktoken is great!"), 6);
        assert_eq!(count_tokens(Some("gpt-4o"), "tiktoken is great!"), 6);
        assert_eq!(count_tokens(Some("gpt-4o"), ""), 0);
        // Encodings differ on non-English text: o200k is denser.
        let text = "これは日本語のテキストです。トークン数はエンコーディングによって異なります。";
        assert!(count_tokens(Some("gpt-4o"), text) < count_tokens(Some("gpt-4"), text));
        // Special-token text is plain text, not one token.
        assert!(count_tokens(Some("gpt-4o"), "<|endoftext|>") > 1);
    }

    #[test]
    fn prompt_estimate_is_bytes_over_three() {
        assert_eq!(estimate_prompt_tokens(b""), 0);
        assert_eq!(estimate_prompt_tokens(b"abcd"), 2);
        let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a haiku about recursion in programming."}]}"#;
        let est = estimate_prompt_tokens(body);
        assert_eq!(est, (body.len() as u64).div_ceil(3));
        assert!(est >= estimate_request_tokens(Some("gpt-4o-mini"), body));
        // An inline image counts IMAGE_TOKENS, not its base64 size.
        let img = "A".repeat(300_000);
        let body = format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":[{{"type":"text","text":"What is this?"}},{{"type":"image_url","image_url":{{"url":"data:image/jpeg;base64,{img}"}}}}]}}]}}"#
        );
        let est = estimate_prompt_tokens(body.as_bytes());
        let rest = (body.len() - img.len()) as u64;
        assert_eq!(est, rest.div_ceil(3) + IMAGE_TOKENS);
        // Unterminated payload: counted to the end.
        assert_eq!(
            estimate_prompt_tokens(b"data:image/png;base64,AAAA"),
            22u64.div_ceil(3) + IMAGE_TOKENS
        );
    }

    #[test]
    fn chat_request_estimate() {
        let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"hello world"}]}"#;
        let t = |s: &str| count_tokens(Some("gpt-4o-mini"), s);
        let want = 2 * PER_MESSAGE
            + REPLY_PRIMING
            + t("system")
            + t("You are a helpful assistant.")
            + t("user")
            + t("hello world");
        assert_eq!(estimate_request_tokens(None, body), want);
        assert_eq!(want, 19);
        let parts = br#"{"model":"gpt-4o","messages":[{"role":"user","name":"bob","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}]}"#;
        let est = estimate_request_tokens(Some("gpt-4o"), parts);
        assert!(est > IMAGE_TOKENS + 2 * PER_MESSAGE + 20, "{est}");
        assert!(est < IMAGE_TOKENS + 200, "{est}");
    }

    #[test]
    fn other_request_shapes() {
        let t = |s: &str| count_tokens(Some("gpt-4.1"), s);
        let r = br#"{"model":"gpt-4.1","instructions":"Talk like a pirate.","input":"Are semicolons optional in JavaScript?"}"#;
        assert_eq!(
            estimate_request_tokens(None, r),
            t("Talk like a pirate.") + t("Are semicolons optional in JavaScript?")
        );
        let r = br#"{"model":"gpt-4.1","input":[{"role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_image","image_url":"https://example.com/a.png"}]}]}"#;
        assert_eq!(
            estimate_request_tokens(None, r),
            PER_MESSAGE + IMAGE_TOKENS + t("user") + t("hi")
        );
        let c = br#"{"model":"gpt-3.5-turbo-instruct","prompt":["Say this is a test","again"],"max_tokens":7}"#;
        assert_eq!(
            estimate_request_tokens(None, c),
            count_tokens(None, "Say this is a test") + count_tokens(None, "again")
        );
        let e = br#"{"model":"text-embedding-3-small","input":[[1820,25,374],[300]]}"#;
        assert_eq!(estimate_request_tokens(None, e), 4);
        assert_eq!(estimate_request_tokens(None, b""), 0);
        assert_eq!(estimate_request_tokens(None, b"  "), 0);
        assert_eq!(estimate_request_tokens(None, b"not json at all"), 5);
    }
}
