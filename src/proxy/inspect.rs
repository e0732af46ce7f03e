//! Request inspection: what admission needs from a request body, read before it is forwarded.
//!
//! Owns: [`RequestInfo`] (model, stream flags, output cap, `n`, image and speech parameters),
//! reading it from a JSON body in one pass ([`inspect_json_request`]) and refusing a JSON body it
//! would have to guess about ([`BodyError`]: not one object, a top-level key twice, a field
//! admission reads wrongly typed); [`inspect_request`] dispatches to the multipart reader
//! (`proxy/multipart.rs`) by content type. Which extra fields a family reads is its
//! [`Reads`].
//! Must not: do IO, decide policy, or build more of a body than it reads (large fields such as
//! `messages` and `input` are skipped without being built into values).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::proxy::family::{FamilyKind, Reads};
use crate::proxy::lenient::{pick, Chars, Pick, Text, Typed};
use crate::proxy::multipart;

/// What the gateway learned from a request body before forwarding it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestInfo {
    /// `model`, when present (JSON field or multipart text field).
    pub model: Option<String>,
    /// `stream: true` (JSON) or a `stream` form field equal to `true`.
    pub stream: bool,
    /// `stream_options.include_usage` is already `true`.
    pub include_usage: bool,
    /// The first of `max_completion_tokens`, `max_tokens`, `max_output_tokens` that is a
    /// non-negative integer.
    pub max_output_tokens: Option<u64>,
    /// `n` (number of choices or images); 1 when absent or not a positive integer.
    pub n: u64,
    /// Speech only: the number of characters (Unicode scalar values) of `input`.
    pub input_chars: u64,
    /// Images only: the number of images asked for (`n`, default 1).
    pub image_count: u64,
    /// Images only: `size` as sent.
    pub image_size: Option<String>,
    /// Images only: `quality` as sent.
    pub image_quality: Option<String>,
    /// The length of the body that was inspected.
    pub body_len: u64,
}

/// Why a JSON request body is refused rather than read: the gateway would have to guess how
/// the upstream reads it, and a wrong guess is a call metered for less than it costs.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyError {
    /// Not one JSON object: a syntax error, bytes after it, or another kind of value.
    NotAnObject,
    /// A top-level key given twice (parsers differ on which one counts), or `include_usage`
    /// twice in `stream_options`.
    DuplicateKey(String),
    /// A field admission reads, with another type than OpenAI's (`null` is as if absent).
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// Reads a request body. JSON bodies are read as [`inspect_json_request`] does;
/// `multipart/form-data` bodies are scanned part by part for small text fields (`model`,
/// `stream`, `n`, `size`, `quality`), file parts are skipped. A body that is neither (or is
/// cut, as a peeked multipart head may be, or is refused as JSON) gives what could be read,
/// with `n = 1`. Never fails.
pub fn inspect_request(kind: FamilyKind, content_type: Option<&str>, body: &[u8]) -> RequestInfo {
    match content_type.and_then(multipart::boundary) {
        Some(boundary) => {
            let mut info = blank_info(body);
            multipart::inspect(kind, &boundary, body, &mut info);
            per_kind(kind, info)
        }
        None => {
            inspect_json_request(kind, body).unwrap_or_else(|_| per_kind(kind, blank_info(body)))
        }
    }
}

/// Reads a JSON request body in one pass, for the few fields admission needs (other fields
/// are skipped, not built), and refuses what it would otherwise have to guess about: a body
/// that is not one JSON object, a top-level key given twice, or a wrongly typed `model`
/// (string), `stream` (boolean), `stream_options` (object, its `include_usage` a boolean),
/// `max_tokens` / `max_completion_tokens` / `max_output_tokens` / `n` (non-negative
/// integers), and for images `size` / `quality` (strings), for speech `input` (string).
/// `null` is as if absent. An empty body (a GET that announces JSON) gives the defaults.
/// Nothing is allocated for keys or values without escapes, nor for up to 32 other keys.
pub fn inspect_json_request(kind: FamilyKind, body: &[u8]) -> Result<RequestInfo, BodyError> {
    let mut info = blank_info(body);
    if first_non_ws(body).is_none() {
        return Ok(per_kind(kind, info));
    }
    let mut problem = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = de::DeserializeSeed::deserialize(
        TopLevel {
            kind,
            problem: &mut problem,
        },
        &mut de,
    )
    .and_then(|f| de.end().map(|()| f));
    let f = match (read, problem) {
        (_, Some(p)) => return Err(p),
        (Err(_), None) => return Err(BodyError::NotAnObject),
        (Ok(f), None) => f,
    };
    info.model = f.model.map(Cow::into_owned);
    info.stream = f.stream == Some(true);
    info.include_usage = f.include_usage == Some(true);
    info.max_output_tokens = f
        .max_completion_tokens
        .or(f.max_tokens)
        .or(f.max_output_tokens);
    if let Some(n) = f.n.filter(|n| *n > 0) {
        info.n = n;
    }
    info.image_size = f.size.map(Cow::into_owned);
    info.image_quality = f.quality.map(Cow::into_owned);
    info.input_chars = f.input_chars.unwrap_or(0);
    Ok(per_kind(kind, info))
}

pub(crate) fn blank_info(body: &[u8]) -> RequestInfo {
    RequestInfo {
        n: 1,
        body_len: body.len() as u64,
        ..Default::default()
    }
}

/// The family's extra fields kept (images: `n` is the image count) or dropped.
fn per_kind(kind: FamilyKind, mut info: RequestInfo) -> RequestInfo {
    if kind.spec().reads == Reads::ImageParams {
        info.image_count = info.n;
    } else {
        info.image_size = None;
        info.image_quality = None;
    }
    info
}

pub(crate) fn first_non_ws(b: &[u8]) -> Option<u8> {
    b.iter().copied().find(|c| !c.is_ascii_whitespace())
}

/// The fields of a JSON request body admission reads, as read.
#[derive(Default)]
struct RequestFields<'a> {
    model: Option<Cow<'a, str>>,
    stream: Option<bool>,
    include_usage: Option<bool>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    n: Option<u64>,
    size: Option<Cow<'a, str>>,
    quality: Option<Cow<'a, str>>,
    input_chars: Option<u64>,
}

/// The top-level keys admission reads for `kind`, each with its bit in the set of keys seen.
fn known_key(kind: FamilyKind, key: &str) -> Option<u32> {
    let reads = kind.spec().reads;
    Some(match key {
        "model" => 0,
        "stream" => 1,
        "stream_options" => 2,
        "max_tokens" => 3,
        "max_completion_tokens" => 4,
        "max_output_tokens" => 5,
        "n" => 6,
        "size" if reads == Reads::ImageParams => 7,
        "quality" if reads == Reads::ImageParams => 8,
        "input" if reads == Reads::SpeechInput => 9,
        _ => return None,
    })
}

/// Other top-level keys remembered without allocating (a request has a dozen or so); more
/// spill into a `Vec`.
const INLINE_KEYS: usize = 32;

/// Reads the top-level object; a refusal is left in `problem` (the parse then stops with an
/// error of its own, which the caller replaces by it).
struct TopLevel<'p> {
    kind: FamilyKind,
    problem: &'p mut Option<BodyError>,
}

impl<'de> de::DeserializeSeed<'de> for TopLevel<'_> {
    type Value = RequestFields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl TopLevel<'_> {
    fn refuse<T, E: de::Error>(self, p: BodyError) -> Result<T, E> {
        *self.problem = Some(p);
        Err(E::custom("refused"))
    }
}

/// `stream_options` as read: its `include_usage` when an object.
enum StreamOptionsValue {
    Null,
    Object(Option<bool>),
    NotAnObject,
    IncludeUsageNotBool,
    IncludeUsageTwice,
}

impl<'de> Deserialize<'de> for StreamOptionsValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pick(d)
    }
}

impl<'de> Pick<'de> for StreamOptionsValue {
    fn other() -> Self {
        StreamOptionsValue::NotAnObject
    }
    fn null() -> Self {
        StreamOptionsValue::Null
    }
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = StreamOptionsValue::Object(None);
        let mut seen = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.get() != Some("include_usage") {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let v = map.next_value::<Typed<'de>>()?;
            if !matches!(out, StreamOptionsValue::Object(_)) {
                continue;
            }
            out = if seen {
                StreamOptionsValue::IncludeUsageTwice
            } else {
                match v {
                    Typed::Bool(b) => StreamOptionsValue::Object(Some(b)),
                    Typed::Null => StreamOptionsValue::Object(None),
                    _ => StreamOptionsValue::IncludeUsageNotBool,
                }
            };
            seen = true;
        }
        Ok(out)
    }
}

fn wrong(field: &'static str, expected: &'static str) -> BodyError {
    BodyError::WrongType { field, expected }
}

/// Reads the value of a field admission checks the type of: kept in `slot` when `keep` takes
/// it, nothing for `null`, else the refusal naming `field` and the `expected` type.
fn typed<'de, A: MapAccess<'de>, T>(
    map: &mut A,
    slot: &mut Option<T>,
    field: &'static str,
    expected: &'static str,
    keep: fn(Typed<'de>) -> Option<T>,
) -> Result<Option<BodyError>, A::Error> {
    Ok(match map.next_value::<Typed<'de>>()? {
        Typed::Null => None,
        v => match keep(v) {
            Some(t) => {
                *slot = Some(t);
                None
            }
            None => Some(wrong(field, expected)),
        },
    })
}

const A_STRING: &str = "a string";
const A_BOOLEAN: &str = "a boolean";
const A_COUNT: &str = "a non-negative integer";

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = RequestFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut f = RequestFields::default();
        let mut known = 0u32;
        let mut others: [Text<'de>; INLINE_KEYS] = Default::default();
        let mut inline = 0usize;
        let mut spilled: Vec<Text<'de>> = Vec::new();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            // A key is always a string.
            let name = key.get().unwrap_or_default();
            let Some(bit) = known_key(self.kind, name) else {
                let twice = others[..inline]
                    .iter()
                    .chain(&spilled)
                    .any(|k| k.get() == Some(name));
                if twice {
                    let name = name.chars().take(64).collect();
                    return self.refuse(BodyError::DuplicateKey(name));
                }
                map.next_value::<IgnoredAny>()?;
                match others.get_mut(inline) {
                    Some(slot) => {
                        *slot = key;
                        inline += 1;
                    }
                    None => spilled.push(key),
                }
                continue;
            };
            if known & (1 << bit) != 0 {
                return self.refuse(BodyError::DuplicateKey(name.to_string()));
            }
            known |= 1 << bit;
            let m = &mut map;
            let problem = match bit {
                0 => typed(m, &mut f.model, "model", A_STRING, Typed::into_str)?,
                1 => typed(m, &mut f.stream, "stream", A_BOOLEAN, Typed::into_bool)?,
                2 => match map.next_value::<StreamOptionsValue>()? {
                    StreamOptionsValue::Object(u) => {
                        f.include_usage = u;
                        None
                    }
                    StreamOptionsValue::Null => None,
                    StreamOptionsValue::NotAnObject => Some(wrong("stream_options", "an object")),
                    StreamOptionsValue::IncludeUsageNotBool => {
                        Some(wrong("stream_options.include_usage", A_BOOLEAN))
                    }
                    StreamOptionsValue::IncludeUsageTwice => Some(BodyError::DuplicateKey(
                        "stream_options.include_usage".into(),
                    )),
                },
                3 => typed(
                    m,
                    &mut f.max_tokens,
                    "max_tokens",
                    A_COUNT,
                    Typed::into_uint,
                )?,
                4 => {
                    let slot = &mut f.max_completion_tokens;
                    typed(m, slot, "max_completion_tokens", A_COUNT, Typed::into_uint)?
                }
                5 => {
                    let slot = &mut f.max_output_tokens;
                    typed(m, slot, "max_output_tokens", A_COUNT, Typed::into_uint)?
                }
                6 => typed(m, &mut f.n, "n", A_COUNT, Typed::into_uint)?,
                // Images only.
                7 => typed(m, &mut f.size, "size", A_STRING, Typed::into_str)?,
                8 => typed(m, &mut f.quality, "quality", A_STRING, Typed::into_str)?,
                // Speech only.
                _ => match map.next_value::<Chars>()? {
                    Chars::Str(n) => {
                        f.input_chars = Some(n);
                        None
                    }
                    Chars::Null => None,
                    Chars::Other => Some(wrong("input", A_STRING)),
                },
            };
            if let Some(p) = problem {
                return self.refuse(p);
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests;
