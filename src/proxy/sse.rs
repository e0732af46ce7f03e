//! The streaming tap: reads usage out of an OpenAI server-sent-event stream while forwarding it.
//!
//! Owns: event framing over arbitrary chunk boundaries (`\n\n` and `\r\n\r\n`), the usage of
//! chat/completions chunks (`include_usage`), of Responses terminal events and of any other
//! event carrying a `usage` object; removal of the usage-only chunk when the gateway asked for
//! it itself; a cheap collection of the generated text for estimation when no usage arrives.
//! Must not: buffer the stream (only an incomplete trailing event is kept, and in stripping
//! mode held back), allocate per chunk in the common case, parse events that carry no usage,
//! change any forwarded byte other than removing that one usage chunk, or do IO.
//!
//! Choice: with `include_usage` OpenAI also adds `"usage":null` to every content chunk. When
//! the gateway added `include_usage` itself those fields are left in place: they are valid for
//! every client (the field is in the chunk schema), and removing them would mean rewriting
//! every chunk on the hot path.

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use memchr::memmem::Finder;
use serde::Deserialize;
use serde_json::Value;

use crate::model::CallUsage;
use crate::proxy::usage::{parse_usage, ObjectOr, Text, UsageWire};

/// Which stream is tapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// `chat.completion.chunk` events; `strip_usage_chunk` when the gateway added
    /// `stream_options.include_usage` and the client must not see the usage-only chunk.
    Chat { strip_usage_chunk: bool },
    /// Legacy `text_completion` events; same as `Chat`.
    Completions { strip_usage_chunk: bool },
    /// Responses API typed events.
    Responses,
    /// Anything else (transcription streams, speech SSE, …): any event with a `usage` object.
    Other,
}

/// What a stream showed by its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamOutcome {
    /// The usage reported in the stream, with its model filled in (the event's, else the
    /// stream's, else the request's).
    pub usage: Option<CallUsage>,
    /// The stream reached its protocol end: `data: [DONE]`, a Responses terminal event
    /// (`response.completed`, `response.incomplete`, `response.failed`), or for `Other`
    /// streams an event carrying usage.
    pub completed: bool,
    /// The model the stream named (usage event, else first chunk / `response.created`), else
    /// the request's.
    pub model: Option<String>,
    /// Concatenated generated text: chat `content`, `refusal` and tool-call `arguments`
    /// deltas; completions `text`; Responses (and `Other`) text `*.delta` events (audio deltas
    /// excluded). JSON escapes decoded.
    pub output_text: String,
}

/// An event larger than this is not kept for parsing: it is forwarded (or, when not stripping,
/// just skipped) and its usage, if any, is lost.
pub const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// The state of the current line at the end of the bytes scanned so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// Nothing since the last `\n` (or since the start).
    Empty,
    /// Only `\r` since the last `\n`.
    Cr,
    /// Something else.
    Text,
}

static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static MODEL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\":\""));
static CONTENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"content\":\""));
static REFUSAL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"refusal\":\""));
static ARGUMENTS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"arguments\":\""));
static TEXT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"text\":\""));
static DELTA: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"delta\":\""));
static TYPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"type\":\""));

/// Taps one stream. Feed every upstream chunk to [`StreamTap::push`] and forward what it
/// returns; call [`StreamTap::finish`] at the end (or when the stream is cut).
#[derive(Debug)]
pub struct StreamTap {
    kind: StreamKind,
    strip: bool,
    req_model: Option<String>,
    /// The bytes of the current incomplete event: held back when stripping, else kept only to
    /// parse the event once it is complete.
    carry: Vec<u8>,
    line: Line,
    /// The current event outgrew `max_event`: it is passed through without parsing.
    oversized: bool,
    max_event: usize,
    usage: Option<CallUsage>,
    completed: bool,
    model: Option<String>,
    output_text: String,
}

/// The output of one `push` in stripping mode: a prefix of the chunk (zero-copy) until
/// something forces a copy.
struct Out<'a> {
    chunk: &'a Bytes,
    prefix_end: usize,
    buf: Option<BytesMut>,
}

impl Out<'_> {
    fn range(&mut self, s: usize, e: usize) {
        if self.buf.is_none() && s == self.prefix_end {
            self.prefix_end = e;
        } else {
            let chunk = self.chunk;
            self.buf_mut().extend_from_slice(&chunk[s..e]);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf_mut().extend_from_slice(b);
    }
    fn buf_mut(&mut self) -> &mut BytesMut {
        let (chunk, end) = (self.chunk, self.prefix_end);
        self.buf
            .get_or_insert_with(|| BytesMut::from(&chunk[..end]))
    }
    fn finish(self) -> Bytes {
        match self.buf {
            Some(b) => b.freeze(),
            None => self.chunk.slice(..self.prefix_end),
        }
    }
}

impl StreamTap {
    pub fn new(kind: StreamKind, req_model: Option<String>) -> Self {
        let strip = matches!(
            kind,
            StreamKind::Chat {
                strip_usage_chunk: true
            } | StreamKind::Completions {
                strip_usage_chunk: true
            }
        );
        StreamTap {
            kind,
            strip,
            req_model,
            carry: Vec::new(),
            line: Line::Empty,
            oversized: false,
            max_event: MAX_EVENT_BYTES,
            usage: None,
            completed: false,
            model: None,
            output_text: String::new(),
        }
    }

    /// Scans one upstream chunk (any byte boundaries) and returns the bytes to forward now.
    /// When not stripping this is the chunk itself. When stripping it is every complete event
    /// not yet forwarded except the usage-only chunk; an incomplete trailing event is held
    /// back until it completes (or until [`StreamTap::finish`]).
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        if !self.strip {
            self.scan(&chunk, None);
            return chunk;
        }
        let mut out = Out {
            chunk: &chunk,
            prefix_end: 0,
            buf: None,
        };
        self.scan(&chunk, Some(&mut out));
        out.finish()
    }

    fn scan(&mut self, data: &Bytes, mut out: Option<&mut Out>) {
        let mut pos = 0;
        loop {
            match next_boundary(&mut self.line, data, pos) {
                Some(end) => {
                    if self.oversized {
                        self.oversized = false;
                        if let Some(o) = out.as_deref_mut() {
                            o.range(pos, end);
                        }
                    } else if !self.carry.is_empty() {
                        self.carry.extend_from_slice(&data[pos..end]);
                        let ev = std::mem::take(&mut self.carry);
                        let strip = self.handle_event(&ev);
                        if let Some(o) = out.as_deref_mut() {
                            if !strip {
                                o.bytes(&ev);
                            }
                        }
                        self.carry = ev;
                        self.carry.clear();
                    } else {
                        let strip = self.handle_event(&data[pos..end]);
                        if let Some(o) = out.as_deref_mut() {
                            if strip {
                                o.buf_mut();
                            } else {
                                o.range(pos, end);
                            }
                        }
                    }
                    pos = end;
                }
                None => {
                    if self.oversized {
                        if let Some(o) = out.as_deref_mut() {
                            o.range(pos, data.len());
                        }
                    } else {
                        self.carry.extend_from_slice(&data[pos..]);
                        if self.carry.len() > self.max_event {
                            self.oversized = true;
                            if let Some(o) = out.as_deref_mut() {
                                o.bytes(&self.carry);
                            }
                            self.carry = Vec::new();
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Ends the stream: a trailing event without its blank line is handled as an event, and
    /// (when stripping) returned unless it is the usage chunk.
    pub fn finish(mut self) -> (Bytes, StreamOutcome) {
        let mut tail = Bytes::new();
        if !self.carry.is_empty() && !self.oversized {
            let ev = std::mem::take(&mut self.carry);
            let strip = self.handle_event(&ev);
            if self.strip && !strip {
                tail = Bytes::from(ev);
            }
        }
        let model = self
            .usage
            .as_ref()
            .and_then(|u| u.model.clone())
            .or(self.model)
            .or(self.req_model);
        let usage = self.usage.map(|u| CallUsage {
            model: u.model.or_else(|| model.clone()),
            ..u
        });
        (
            tail,
            StreamOutcome {
                usage,
                completed: self.completed,
                model,
                output_text: self.output_text,
            },
        )
    }

    /// Handles one complete event (its bytes up to and including the blank line). Returns
    /// whether it is the usage chunk to remove.
    fn handle_event(&mut self, ev: &[u8]) -> bool {
        let (name, data) = event_fields(ev);
        let data: &[u8] = &data;
        if data.is_empty() {
            return false;
        }
        if data == b"[DONE]" {
            self.completed = true;
            return false;
        }
        match self.kind {
            StreamKind::Chat { .. } => {
                self.chat_text(data, &[&CONTENT, &REFUSAL, &ARGUMENTS]);
                self.chat_usage(data)
            }
            StreamKind::Completions { .. } => {
                self.chat_text(data, &[&TEXT]);
                self.chat_usage(data)
            }
            StreamKind::Responses => {
                self.responses_event(name, data);
                false
            }
            StreamKind::Other => {
                self.other_event(name, data);
                false
            }
        }
    }

    fn chat_text(&mut self, data: &[u8], keys: &[&Finder<'static>]) {
        if self.model.is_none() {
            if let Some(i) = MODEL.find(data) {
                let mut m = String::new();
                if decode_json_str(data, i + MODEL.needle().len(), &mut m).is_some() {
                    self.model = Some(m);
                }
            }
        }
        for f in keys {
            for i in f.find_iter(data) {
                decode_json_str(data, i + f.needle().len(), &mut self.output_text);
            }
        }
    }

    fn chat_usage(&mut self, data: &[u8]) -> bool {
        if !has_usage_object(data) {
            return false;
        }
        let Ok(c) = serde_json::from_slice::<ChunkFields>(data) else {
            return false;
        };
        let Some(u) = c.usage.0.and_then(UsageWire::into_usage) else {
            return false;
        };
        let model = c.model.or_else(|| self.model.clone());
        self.usage = Some(CallUsage { model, ..u });
        self.strip && c.choices.unwrap_or(0) == 0
    }

    fn responses_event(&mut self, name: Option<&[u8]>, data: &[u8]) {
        let ty = name.or_else(|| type_of(data)).unwrap_or_default();
        if ty.ends_with(b".delta") {
            if !ty.ends_with(b"audio.delta") {
                if let Some(i) = DELTA.find(data) {
                    decode_json_str(data, i + DELTA.needle().len(), &mut self.output_text);
                }
            }
            return;
        }
        let terminal = matches!(
            ty,
            b"response.completed" | b"response.incomplete" | b"response.failed"
        );
        if !(terminal || ty == b"response.created" || ty == b"response.in_progress") {
            return;
        }
        if terminal {
            self.completed = true;
        } else if self.model.is_some() {
            return;
        }
        let Ok(e) = serde_json::from_slice::<ResponsesEvent>(data) else {
            return;
        };
        let Some(r) = e.response.0 else {
            return;
        };
        let model = r.model.get().map(str::to_string);
        if model.is_some() {
            self.model.clone_from(&model);
        }
        if let Some(u) = r.usage.0.and_then(UsageWire::into_usage) {
            self.usage = Some(CallUsage {
                model: model.or_else(|| self.model.clone()),
                ..u
            });
        }
    }

    fn other_event(&mut self, name: Option<&[u8]>, data: &[u8]) {
        if self.model.is_none() {
            if let Some(i) = MODEL.find(data) {
                let mut m = String::new();
                if decode_json_str(data, i + MODEL.needle().len(), &mut m).is_some() {
                    self.model = Some(m);
                }
            }
        }
        let ty = name.or_else(|| type_of(data)).unwrap_or_default();
        if !ty.ends_with(b"audio.delta") {
            if let Some(i) = DELTA.find(data) {
                decode_json_str(data, i + DELTA.needle().len(), &mut self.output_text);
            }
        }
        if !has_usage_object(data) {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let (usage, model) = match v.get("usage").filter(|u| u.is_object()) {
            Some(u) => (u, v.get("model")),
            None => match v.get("response") {
                Some(r) => match r.get("usage") {
                    Some(u) => (u, r.get("model")),
                    None => return,
                },
                None => return,
            },
        };
        if let Some(u) = parse_usage(usage) {
            let model = model
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| self.model.clone());
            self.usage = Some(CallUsage { model, ..u });
            self.completed = true;
        }
    }

    #[cfg(test)]
    fn with_max_event(mut self, max: usize) -> Self {
        self.max_event = max;
        self
    }
}

#[derive(Deserialize)]
struct ChunkFields<'a> {
    #[serde(default)]
    model: Option<String>,
    #[serde(default, deserialize_with = "choices_len")]
    choices: Option<u64>,
    #[serde(default, borrow)]
    usage: ObjectOr<UsageWire<'a>>,
}

fn choices_len<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Vec<serde::de::IgnoredAny>>::deserialize(d)?.map(|v| v.len() as u64))
}

#[derive(Deserialize)]
struct ResponsesEvent<'a> {
    #[serde(default, borrow)]
    response: ObjectOr<ResponseObject<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseObject<'a> {
    #[serde(borrow)]
    model: Text<'a>,
    #[serde(borrow)]
    usage: ObjectOr<UsageWire<'a>>,
}

/// Finds the end of the first event that ends in `data[from..]` (the index just past its
/// blank line), given the state of the line at `from`; updates that state.
fn next_boundary(line: &mut Line, data: &[u8], from: usize) -> Option<usize> {
    // `None`: the current line began before `from`, in a state given by `line`.
    let mut line_start: Option<usize> = None;
    for i in memchr::memchr_iter(b'\n', &data[from..]) {
        let i = i + from;
        let blank = match line_start {
            Some(s) => i == s || (i == s + 1 && data[s] == b'\r'),
            None => match *line {
                Line::Empty => i == from || (i == from + 1 && data[from] == b'\r'),
                Line::Cr => i == from,
                Line::Text => false,
            },
        };
        if blank {
            *line = Line::Empty;
            return Some(i + 1);
        }
        line_start = Some(i + 1);
    }
    let (before, rest) = match line_start {
        Some(s) => (Line::Empty, &data[s..]),
        None => (*line, &data[from..]),
    };
    *line = match (before, rest) {
        (b, []) => b,
        (Line::Empty, [b'\r']) => Line::Cr,
        _ => Line::Text,
    };
    None
}

/// The `event:` name and the `data:` payload of an event (several data lines are joined with
/// `\n`, as the SSE spec says; a single one is borrowed).
fn event_fields(ev: &[u8]) -> (Option<&[u8]>, std::borrow::Cow<'_, [u8]>) {
    let mut name = None;
    let mut data: Option<std::borrow::Cow<'_, [u8]>> = None;
    for line in ev.split(|c| *c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                data = Some(match data {
                    None => std::borrow::Cow::Borrowed(value),
                    Some(prev) => {
                        let mut v = prev.into_owned();
                        v.push(b'\n');
                        v.extend_from_slice(value);
                        std::borrow::Cow::Owned(v)
                    }
                })
            }
            b"event" => name = Some(value),
            _ => {}
        }
    }
    (name, data.unwrap_or_default())
}

/// The first `"type":"…"` value (raw bytes; event types have no escapes).
fn type_of(data: &[u8]) -> Option<&[u8]> {
    let s = TYPE.find(data)? + TYPE.needle().len();
    let e = s + memchr::memchr(b'"', &data[s..])?;
    Some(&data[s..e])
}

/// Whether the payload has a `"usage"` key whose value is an object (not `null`).
fn has_usage_object(data: &[u8]) -> bool {
    USAGE.find_iter(data).any(|i| {
        let mut j = i + USAGE.needle().len();
        while data.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if data.get(j) != Some(&b':') {
            return false;
        }
        j += 1;
        while data.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        data.get(j) == Some(&b'{')
    })
}

/// Decodes the JSON string whose contents start at `start` (just past its opening quote),
/// appending it to `out`. Returns the index past the closing quote, `None` if the string is
/// malformed or unterminated (what was decoded so far stays appended).
fn decode_json_str(data: &[u8], start: usize, out: &mut String) -> Option<usize> {
    let mut i = start;
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', data.get(i..)?)?;
        push_utf8(out, &data[i..j]);
        if data[j] == b'"' {
            return Some(j + 1);
        }
        let c = *data.get(j + 1)?;
        i = j + 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(data.get(i..i + 4)?)?;
                i += 4;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    let lo = (data.get(i..i + 2) == Some(b"\\u"))
                        .then(|| data.get(i + 2..i + 6).and_then(hex4))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            _ => return None,
        }
    }
}

fn push_utf8(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(b)),
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() != 4 {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &str = include_str!("../../tests/fixtures/openai/chat_stream_include_usage.sse");
    const RESPONSES: &str = include_str!("../../tests/fixtures/openai/responses_stream.sse");
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

    fn chat_usage() -> CallUsage {
        CallUsage {
            model: Some("gpt-4o-mini-2024-07-18".into()),
            input_tokens: 19,
            output_tokens: 27,
            ..Default::default()
        }
    }

    #[test]
    fn chat_stream_whole() {
        let (out, o) = run(
            StreamKind::Chat {
                strip_usage_chunk: false,
            },
            &[CHAT.as_bytes()],
        );
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
                let (out, o) = run(
                    StreamKind::Chat {
                        strip_usage_chunk: strip,
                    },
                    &[&b[..i], &b[i..]],
                );
                assert_eq!(out, want, "strip {strip}, split at {i}");
                assert_eq!(o.usage, Some(chat_usage()), "strip {strip}, split at {i}");
                assert!(o.completed);
                assert_eq!(o.output_text, CHAT_TEXT, "split at {i}");
            }
            // Three pieces.
            for i in (0..b.len()).step_by(31) {
                for j in (i..=b.len()).step_by(37) {
                    let (out, o) = run(
                        StreamKind::Chat {
                            strip_usage_chunk: strip,
                        },
                        &[&b[..i], &b[i..j], &b[j..]],
                    );
                    assert_eq!(out, want, "strip {strip}, split at {i},{j}");
                    assert_eq!(o.usage, Some(chat_usage()));
                    assert_eq!(o.output_text, CHAT_TEXT);
                }
            }
            // Byte by byte.
            let pieces: Vec<&[u8]> = b.chunks(1).collect();
            let (out, o) = run(
                StreamKind::Chat {
                    strip_usage_chunk: strip,
                },
                &pieces,
            );
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
            let (out, o) = run(
                StreamKind::Chat {
                    strip_usage_chunk: true,
                },
                &[&b[..i], &b[i..]],
            );
            assert_eq!(out, want.as_bytes(), "split at {i}");
            assert_eq!(o.usage, Some(chat_usage()), "split at {i}");
            assert_eq!(o.output_text, CHAT_TEXT);
            assert!(o.completed);
        }
    }

    #[test]
    fn forwarding_is_zero_copy() {
        let chunk = Bytes::from(CHAT);
        let mut tap = StreamTap::new(
            StreamKind::Chat {
                strip_usage_chunk: false,
            },
            None,
        );
        let out = tap.push(chunk.clone());
        assert_eq!(out.as_ptr(), chunk.as_ptr());
        assert_eq!(out.len(), chunk.len());
        // Stripping, event-aligned chunks without usage: the chunk itself.
        let events: Vec<&str> = CHAT.split_inclusive("\n\n").collect();
        let mut tap = StreamTap::new(
            StreamKind::Chat {
                strip_usage_chunk: true,
            },
            None,
        );
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
        let mut tap = StreamTap::new(
            StreamKind::Chat {
                strip_usage_chunk: true,
            },
            None,
        );
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
        let mut tap = StreamTap::new(
            StreamKind::Chat {
                strip_usage_chunk: true,
            },
            None,
        );
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
        let (out, o) = run(
            StreamKind::Chat {
                strip_usage_chunk: true,
            },
            &[s.as_bytes()],
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            without_usage_chunk(CHAT).trim_end_matches('\n')
        );
        assert!(o.completed);
        // The usage chunk last, unterminated, is still removed.
        let cut = CHAT.strip_suffix("data: [DONE]\n\n").unwrap_or(CHAT);
        let cut = cut.strip_suffix("\n\n").unwrap_or(cut);
        let (out, o) = run(
            StreamKind::Chat {
                strip_usage_chunk: true,
            },
            &[cut.as_bytes()],
        );
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
        let (out, o) = run(
            StreamKind::Chat {
                strip_usage_chunk: false,
            },
            &[s.as_bytes()],
        );
        assert_eq!(out, s.as_bytes());
        assert_eq!(o.usage, None);
        assert!(o.completed);
        assert_eq!(o.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(o.output_text, CHAT_TEXT);
        // Nothing at all: the request's model.
        let (_, o) = run(
            StreamKind::Chat {
                strip_usage_chunk: false,
            },
            &[],
        );
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
        let (_, o) = run(
            StreamKind::Chat {
                strip_usage_chunk: false,
            },
            &[s.as_bytes()],
        );
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
        CallUsage {
            model: Some("gpt-4.1-2025-04-14".into()),
            input_tokens: 37,
            output_tokens: 11,
            ..Default::default()
        }
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
        let (_, o) = run(StreamKind::Responses, &[s.as_bytes()]);
        assert!(o.completed);
        assert_eq!(o.output_text, "abc");
        let u = o.usage.unwrap_or_default();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.reasoning_tokens),
            (10, 64, 64)
        );
        assert_eq!(u.model.as_deref(), Some("o4-mini-2025-04-16"));
    }

    #[test]
    fn other_stream_transcription() {
        let s = concat!(
            "data: {\"type\":\"transcript.text.delta\",\"delta\":\"I\",\"logprobs\":null}\n\n",
            "data: {\"type\":\"transcript.text.delta\",\"delta\":\" see skies of blue.\",\"logprobs\":null}\n\n",
            "data: {\"type\":\"transcript.text.done\",\"text\":\"I see skies of blue.\",\"logprobs\":null,\"usage\":{\"type\":\"tokens\",\"input_tokens\":14,\"input_token_details\":{\"text_tokens\":0,\"audio_tokens\":14},\"output_tokens\":6,\"total_tokens\":20}}\n\n",
        );
        let b = s.as_bytes();
        for i in 0..=b.len() {
            let (out, o) = run(StreamKind::Other, &[&b[..i], &b[i..]]);
            assert_eq!(out, b);
            assert!(o.completed);
            assert_eq!(o.output_text, "I see skies of blue.");
            let u = o.usage.unwrap_or_default();
            assert_eq!(
                (u.input_tokens, u.audio_input_tokens, u.output_tokens),
                (14, 14, 6)
            );
            assert_eq!(u.model.as_deref(), Some("req-model"));
        }
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
            let mut tap = StreamTap::new(
                StreamKind::Chat {
                    strip_usage_chunk: strip,
                },
                None,
            )
            .with_max_event(1000);
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
    fn json_string_decoding() {
        let cases: [(&[u8], &str); 6] = [
            (br#"plain""#, "plain"),
            (br#"a\"b\\c\/d\n\t\r\b\f""#, "a\"b\\c/d\n\t\r\u{8}\u{c}"),
            (br#"caf\u00e9 \u2014 \ud83d\ude00""#, "café — 😀"),
            (br#"lone \ud83d x""#, "lone \u{FFFD} x"),
            (br#"lone low \ude00""#, "lone low \u{FFFD}"),
            ("raw ünïcödé 😀\"".as_bytes(), "raw ünïcödé 😀"),
        ];
        for (input, want) in cases {
            let mut s = String::new();
            assert_eq!(
                decode_json_str(input, 0, &mut s),
                Some(input.len()),
                "{want}"
            );
            assert_eq!(s, want);
        }
        let mut s = String::new();
        assert_eq!(decode_json_str(b"unterminated", 0, &mut s), None);
        assert_eq!(decode_json_str(br#"bad \x""#, 0, &mut s), None);
        assert_eq!(decode_json_str(br#"short \u12""#, 0, &mut s), None);
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
}
