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
//! The values inside an event (model, text deltas, whether it has a `usage` object) are found by
//! the scanner of `proxy/json_bytes.rs`, hand-written because it must not copy or allocate per
//! chunk (measured there); an event with usage is parsed by `serde_json` into the lenient types
//! of `proxy/lenient.rs`.
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
use crate::proxy::json_bytes;
use crate::proxy::lenient::{ObjectOr, Text};
use crate::proxy::usage::{parse_usage, UsageWire};

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

impl StreamKind {
    /// Whether the gateway asks this stream for its usage (`stream_options.include_usage`) when
    /// the caller did not, and can then remove the usage-only chunk: chat and completions.
    pub fn asks_for_usage(self) -> bool {
        matches!(
            self,
            StreamKind::Chat { .. } | StreamKind::Completions { .. }
        )
    }

    /// This kind, removing the usage-only chunk when `strip` (chat and completions only).
    pub fn stripping(self, strip: bool) -> StreamKind {
        match self {
            StreamKind::Chat { .. } => StreamKind::Chat {
                strip_usage_chunk: strip,
            },
            StreamKind::Completions { .. } => StreamKind::Completions {
                strip_usage_chunk: strip,
            },
            other => other,
        }
    }
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
        self.note_model(data);
        for f in keys {
            json_bytes::every_string(f, data, &mut self.output_text);
        }
    }

    /// The stream's model, from the first event that names one.
    fn note_model(&mut self, data: &[u8]) {
        if self.model.is_none() {
            let mut m = String::new();
            if json_bytes::first_string(&MODEL, data, &mut m).is_some() {
                self.model = Some(m);
            }
        }
    }

    /// The text of a `*.delta` event (audio deltas excluded); returns the event's type.
    fn delta_text<'d>(&mut self, name: Option<&'d [u8]>, data: &'d [u8]) -> &'d [u8] {
        let ty = name.or_else(|| type_of(data)).unwrap_or_default();
        if ty.ends_with(b".delta") && !ty.ends_with(b"audio.delta") {
            json_bytes::first_string(&DELTA, data, &mut self.output_text);
        }
        ty
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
        let ty = self.delta_text(name, data);
        if ty.ends_with(b".delta") {
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
        self.note_model(data);
        let ty = name.or_else(|| type_of(data)).unwrap_or_default();
        if !ty.ends_with(b"audio.delta") {
            json_bytes::first_string(&DELTA, data, &mut self.output_text);
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
    json_bytes::raw_string(&TYPE, data)
}

/// Whether the payload has a `"usage"` key whose value is an object (not `null`).
fn has_usage_object(data: &[u8]) -> bool {
    json_bytes::has_object(&USAGE, data)
}

#[cfg(test)]
mod tests;
