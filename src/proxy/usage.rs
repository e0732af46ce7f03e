//! Request inspection and usage extraction for non-streamed OpenAI responses.
//!
//! Owns: reading what admission needs from a request body ([`inspect_request`]: model, stream
//! flags, output cap, image and speech parameters; JSON and multipart), refusing a JSON body
//! it would have to guess about ([`inspect_json_request`], [`BodyError`]: not one object, a
//! top-level key twice, a field admission reads wrongly typed), the rewrite that asks a
//! chat/completions stream for its usage chunk ([`add_include_usage`]), the metered quantities of
//! one call ([`CallUsage`]) and reading them from a JSON response per family ([`extract_json`],
//! [`parse_usage`], [`run_id`]).
//! Must not: do IO, price anything (that is `crate::pricing`), decide policy, or parse more of
//! a body than it needs (large fields such as `messages`, `input`, `data[].embedding` are
//! skipped without being built into values).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::CallUsage;
use crate::proxy::family::FamilyKind;

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
    match content_type.and_then(multipart_boundary) {
        Some(boundary) => {
            let mut info = blank_info(body);
            inspect_multipart(kind, boundary, body, &mut info);
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

fn blank_info(body: &[u8]) -> RequestInfo {
    RequestInfo {
        n: 1,
        body_len: body.len() as u64,
        ..Default::default()
    }
}

fn per_kind(kind: FamilyKind, mut info: RequestInfo) -> RequestInfo {
    if kind == FamilyKind::Images {
        info.image_count = info.n;
    } else {
        info.image_size = None;
        info.image_quality = None;
    }
    info
}

fn first_non_ws(b: &[u8]) -> Option<u8> {
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
    Some(match key {
        "model" => 0,
        "stream" => 1,
        "stream_options" => 2,
        "max_tokens" => 3,
        "max_completion_tokens" => 4,
        "max_output_tokens" => 5,
        "n" => 6,
        "size" if kind == FamilyKind::Images => 7,
        "quality" if kind == FamilyKind::Images => 8,
        "input" if kind == FamilyKind::Speech => 9,
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

/// A JSON value as admission sees its type; strings are borrowed from the body unless they
/// have escapes, arrays and objects are skipped.
enum Typed<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer.
    Uint(u64),
    /// Any other number.
    Number,
    Str(Cow<'a, str>),
    /// An array or an object.
    Other,
}

impl<'de> Deserialize<'de> for Typed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TypedVisitor)
    }
}

struct TypedVisitor;

impl<'de> Visitor<'de> for TypedVisitor {
    type Value = Typed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Typed::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Typed::Number, Typed::Uint))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Typed::Uint(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Typed::Number)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Typed::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Typed::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Typed::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Typed::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Typed::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Typed::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Typed::Other)
    }
}

/// Speech `input`: its length in characters when a string (never built), else its type.
enum Chars {
    Null,
    Str(u64),
    Other,
}

impl<'de> Deserialize<'de> for Chars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(Lenient(Want::Chars))? {
            LenientValue::Null => Chars::Null,
            LenientValue::Measured(n) => Chars::Str(n),
            LenientValue::Other => Chars::Other,
        })
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
        d.deserialize_any(StreamOptionsVisitor)
    }
}

struct StreamOptionsVisitor;

impl<'de> Visitor<'de> for StreamOptionsVisitor {
    type Value = StreamOptionsValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
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
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(StreamOptionsValue::NotAnObject)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::NotAnObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::NotAnObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::NotAnObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::NotAnObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(StreamOptionsValue::NotAnObject)
    }
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
            let wrong = |field: &'static str, expected: &'static str| BodyError::WrongType {
                field,
                expected,
            };
            let problem = match bit {
                // Strings: model, and for images size and quality.
                0 | 7 | 8 => {
                    let (field, slot) = match bit {
                        0 => ("model", &mut f.model),
                        7 => ("size", &mut f.size),
                        _ => ("quality", &mut f.quality),
                    };
                    match map.next_value::<Typed<'de>>()? {
                        Typed::Str(s) => {
                            *slot = Some(s);
                            None
                        }
                        Typed::Null => None,
                        _ => Some(wrong(field, A_STRING)),
                    }
                }
                1 => match map.next_value::<Typed<'de>>()? {
                    Typed::Bool(b) => {
                        f.stream = Some(b);
                        None
                    }
                    Typed::Null => None,
                    _ => Some(wrong("stream", A_BOOLEAN)),
                },
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
                3..=6 => {
                    let (field, slot) = match bit {
                        3 => ("max_tokens", &mut f.max_tokens),
                        4 => ("max_completion_tokens", &mut f.max_completion_tokens),
                        5 => ("max_output_tokens", &mut f.max_output_tokens),
                        _ => ("n", &mut f.n),
                    };
                    match map.next_value::<Typed<'de>>()? {
                        Typed::Uint(u) => {
                            *slot = Some(u);
                            None
                        }
                        Typed::Null => None,
                        _ => Some(wrong(field, A_COUNT)),
                    }
                }
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

/// Deserializes any JSON value: an array gives its number of elements (which are skipped),
/// anything else `None`.
fn seq_len<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match d.deserialize_any(Lenient(Want::Len))? {
        LenientValue::Measured(n) => Some(n),
        LenientValue::Null | LenientValue::Other => None,
    })
}

#[derive(Clone, Copy)]
enum Want {
    /// A string's length in characters.
    Chars,
    /// An array's number of elements.
    Len,
}

/// What [`Lenient`] read.
enum LenientValue {
    Null,
    /// The value of the wanted kind, measured.
    Measured(u64),
    /// Any other value (skipped).
    Other,
}

/// A visitor that accepts every JSON value and measures only the kind it wants.
struct Lenient(Want);

impl<'de> Visitor<'de> for Lenient {
    type Value = LenientValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(LenientValue::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(LenientValue::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(LenientValue::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(LenientValue::Other)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Want::Chars => LenientValue::Measured(v.chars().count() as u64),
            Want::Len => LenientValue::Other,
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(LenientValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(LenientValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut n = 0u64;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(match self.0 {
            Want::Len => LenientValue::Measured(n),
            Want::Chars => LenientValue::Other,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(LenientValue::Other)
    }
}

/// A JSON value read for its text only: a string (borrowed from the body unless it has
/// escapes), anything else skipped as `None`. Saves allocating the response's `id`, `object`
/// and `model` on every call.
#[derive(Default)]
pub(crate) struct Text<'a>(Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

/// A JSON number read without building a `Value`: `None` for any other value (skipped).
/// Non-negative integers stay exact; floats and negative integers are kept as `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Num(Option<NumVal>);

#[derive(Clone, Copy, Debug, PartialEq)]
enum NumVal {
    Uint(u64),
    Float(f64),
}

impl Num {
    /// A token count: an integer as it is, a finite non-negative float rounded.
    fn count(self) -> Option<u64> {
        match self.0? {
            NumVal::Uint(u) => Some(u),
            NumVal::Float(f) => (f.is_finite() && f >= 0.0).then(|| f.round() as u64),
        }
    }
    /// A finite, non-negative number as `f64` (seconds).
    fn non_negative(self) -> Option<f64> {
        let f = match self.0? {
            NumVal::Uint(u) => u as f64,
            NumVal::Float(f) => f,
        };
        (f.is_finite() && f >= 0.0).then_some(f)
    }
}

/// Visits any JSON value; scalars of the wanted kind are kept, everything else is skipped.
struct ScalarVisitor<T>(std::marker::PhantomData<T>);

/// What [`ScalarVisitor`] builds from each kind of scalar.
trait Scalar: Default {
    fn from_u64(_: u64) -> Self {
        Self::default()
    }
    fn from_i64(v: i64) -> Self {
        u64::try_from(v).map_or_else(|_| Self::from_f64(v as f64), Self::from_u64)
    }
    fn from_f64(_: f64) -> Self {
        Self::default()
    }
    fn from_bool(_: bool) -> Self {
        Self::default()
    }
}

impl Scalar for Num {
    fn from_u64(v: u64) -> Self {
        Num(Some(NumVal::Uint(v)))
    }
    fn from_f64(v: f64) -> Self {
        Num(Some(NumVal::Float(v)))
    }
}

impl<'de, T: Scalar> Visitor<'de> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok(T::from_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::from_u64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Ok(T::from_f64(v))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

/// A JSON object read as `T`, or `None` for any other value (skipped).
pub(crate) struct ObjectOr<T>(pub(crate) Option<T>);

impl<T> Default for ObjectOr<T> {
    fn default() -> Self {
        ObjectOr(None)
    }
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = ObjectOr<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| ObjectOr(Some(t)))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ObjectOr(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ObjectOr(None))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// multipart/form-data

/// Finds the `model` field of a multipart body read chunk by chunk, for uploads whose `model`
/// comes after the first [`crate::proxy`] peek (the Node SDK may send the file part first).
/// Keeps at most a few bytes between chunks and a short capture once the field's header is
/// seen; never copies a chunk.
#[derive(Debug, Default)]
pub struct ModelSniffer {
    /// The end of the previous chunk (its first `carry_len` bytes, shorter than
    /// [`MODEL_HEADER`]), in which the header may have started. Fixed-size: nothing is
    /// allocated per chunk.
    carry: [u8; MODEL_HEADER.len()],
    carry_len: usize,
    /// The bytes after the field's header, once found: its blank line and value.
    capture: Option<Vec<u8>>,
    done: bool,
}

/// The header parameter that names the field (`Content-Disposition: form-data; name="model"`).
const MODEL_HEADER: &[u8] = b"; name=\"model\"";
/// How much of the end of an already inspected head to feed a new sniffer: enough for a
/// field's header and value cut by the end of the head.
pub const MODEL_SEAM: usize = 512;
/// How much of the field is read after its name before giving up.
const MODEL_CAPTURE: usize = 1024;

impl ModelSniffer {
    /// Feeds the next chunk; returns the model the first time its value is complete.
    pub fn push(&mut self, chunk: &[u8]) -> Option<String> {
        if self.done || chunk.is_empty() {
            return None;
        }
        if self.capture.is_none() {
            let after = self.find_header(chunk)?;
            self.capture = Some(Vec::with_capacity(256));
            return self.extend(&chunk[after..]);
        }
        self.extend(chunk)
    }

    /// Where the header ends in `chunk` (it may have begun in the carried bytes).
    fn find_header(&mut self, chunk: &[u8]) -> Option<usize> {
        let n = MODEL_HEADER.len();
        if self.carry_len > 0 {
            // Only the seam needs the joined bytes: the carry and the chunk's first n - 1.
            let carried = self.carry_len;
            let head = &chunk[..chunk.len().min(n - 1)];
            let mut buf = [0u8; 2 * MODEL_HEADER.len()];
            buf[..carried].copy_from_slice(&self.carry[..carried]);
            buf[carried..carried + head.len()].copy_from_slice(head);
            let seam = &buf[..carried + head.len()];
            if let Some(i) = memchr::memmem::find(seam, MODEL_HEADER) {
                return Some(i + n - carried);
            }
            if chunk.len() < n - 1 {
                // The whole chunk is in the seam: carry the seam's end instead.
                self.keep(seam);
                return None;
            }
        }
        if let Some(i) = memchr::memmem::find(chunk, MODEL_HEADER) {
            return Some(i + n);
        }
        self.keep(chunk);
        None
    }

    /// Carries the last `MODEL_HEADER.len() - 1` bytes of `bytes` (or all, if fewer).
    fn keep(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(MODEL_HEADER.len() - 1)..];
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carry_len = tail.len();
    }

    fn extend(&mut self, bytes: &[u8]) -> Option<String> {
        let buf = self.capture.as_mut()?;
        let room = MODEL_CAPTURE.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        // The rest of the header line(s), a blank line, then the value up to the next line.
        let value_start = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4);
        let found = value_start.and_then(|start| {
            let end = memchr::memmem::find(&buf[start..], b"\r\n")?;
            Some(
                String::from_utf8_lossy(&buf[start..start + end])
                    .trim()
                    .to_string(),
            )
        });
        if found.is_some() || buf.len() >= MODEL_CAPTURE {
            self.done = true;
            self.capture = None;
        }
        found.filter(|m| !m.is_empty())
    }
}

/// The `boundary` parameter of a `multipart/...` content type.
fn multipart_boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
    {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty()).then_some(v)
    })
}

/// Text fields longer than this are not looked at.
const MAX_FORM_FIELD: usize = 4096;

fn inspect_multipart(kind: FamilyKind, boundary: &str, body: &[u8], info: &mut RequestInfo) {
    let mut delim = Vec::with_capacity(boundary.len() + 4);
    delim.extend_from_slice(b"\r\n--");
    delim.extend_from_slice(boundary.as_bytes());
    let finder = memchr::memmem::Finder::new(&delim);
    // The first delimiter may start the body without the leading CRLF.
    let mut pos = if body.starts_with(&delim[2..]) {
        delim.len() - 2
    } else {
        match finder.find(body) {
            Some(i) => i + delim.len(),
            None => return,
        }
    };
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return; // closing delimiter
        }
        // Skip transport padding up to the end of the delimiter line.
        let Some(eol) = memchr::memchr(b'\n', rest) else {
            return;
        };
        let part_start = pos + eol + 1;
        let part = &body[part_start..];
        let (headers_len, sep_len) = match memchr::memmem::find(part, b"\r\n\r\n") {
            Some(i) => (i, 4),
            None => match memchr::memmem::find(part, b"\n\n") {
                Some(i) => (i, 2),
                None => return,
            },
        };
        let headers = &part[..headers_len];
        let value_start = part_start + headers_len + sep_len;
        let Some(value_len) = finder.find(&body[value_start..]) else {
            return; // cut before the end of this part
        };
        let value = &body[value_start..value_start + value_len];
        if let Some(name) = form_field_name(headers) {
            if value.len() <= MAX_FORM_FIELD {
                if let Ok(v) = std::str::from_utf8(value) {
                    apply_form_field(kind, name, v.trim(), info);
                }
            }
        }
        pos = value_start + value_len + delim.len();
    }
}

/// The `name` of a form part's `Content-Disposition`, `None` for file parts.
fn form_field_name(headers: &[u8]) -> Option<&str> {
    let headers = std::str::from_utf8(headers).ok()?;
    for line in headers.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut name = None;
        for p in v.split(';') {
            let Some((pk, pv)) = p.split_once('=') else {
                continue;
            };
            let pk = pk.trim();
            if pk.eq_ignore_ascii_case("filename") || pk.eq_ignore_ascii_case("filename*") {
                return None;
            }
            if pk.eq_ignore_ascii_case("name") {
                name = Some(pv.trim().trim_matches('"'));
            }
        }
        return name;
    }
    None
}

fn apply_form_field(kind: FamilyKind, name: &str, v: &str, info: &mut RequestInfo) {
    match name {
        "model" if !v.is_empty() => info.model = Some(v.to_string()),
        "stream" => info.stream = v.eq_ignore_ascii_case("true"),
        "n" => {
            if let Some(n) = v.parse::<u64>().ok().filter(|n| *n > 0) {
                info.n = n;
            }
        }
        "size" if kind == FamilyKind::Images => info.image_size = Some(v.to_string()),
        "quality" if kind == FamilyKind::Images => info.image_quality = Some(v.to_string()),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// stream_options.include_usage

/// Rewrites a JSON object body so that `stream_options.include_usage` is `true`, keeping every
/// other byte as it was: a missing `stream_options` is inserted as the first member; an
/// existing object gets `include_usage: true` (its other fields kept; that member is
/// re-serialized); a `null` or non-object `stream_options` is replaced. Already-`true` bodies
/// are rewritten identically (the result equals the input). `None` when the body is not a
/// valid JSON object.
pub fn add_include_usage(body: &[u8]) -> Option<Vec<u8>> {
    if first_non_ws(body) != Some(b'{') || serde_json::from_slice::<IgnoredAny>(body).is_err() {
        return None;
    }
    let (open, members) = top_level_members(body)?;
    let spans: Vec<(usize, usize)> = members
        .iter()
        .filter(|m| key_is(&body[m.key.0..m.key.1], "stream_options"))
        .map(|m| m.value)
        .collect();
    if spans.is_empty() {
        const INSERT: &[u8] = br#""stream_options":{"include_usage":true}"#;
        let mut out = Vec::with_capacity(body.len() + INSERT.len() + 1);
        out.extend_from_slice(&body[..=open]);
        out.extend_from_slice(INSERT);
        if !members.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(&body[open + 1..]);
        return Some(out);
    }
    let mut out = Vec::with_capacity(body.len() + 32);
    let mut last = 0;
    for (s, e) in spans {
        out.extend_from_slice(&body[last..s]);
        let mut obj = serde_json::from_slice::<Map<String, Value>>(&body[s..e]).unwrap_or_default();
        if obj.get("include_usage") == Some(&Value::Bool(true)) {
            out.extend_from_slice(&body[s..e]);
        } else {
            obj.insert("include_usage".to_string(), Value::Bool(true));
            serde_json::to_writer(&mut out, &obj).ok()?;
        }
        last = e;
    }
    out.extend_from_slice(&body[last..]);
    Some(out)
}

/// The byte spans of one top-level member of a JSON object.
struct Member {
    /// The key, quotes included.
    key: (usize, usize),
    /// The value.
    value: (usize, usize),
}

/// The index of the opening brace and the members of a JSON object that is known to be valid.
fn top_level_members(b: &[u8]) -> Option<(usize, Vec<Member>)> {
    let open = skip_ws(b, 0);
    if b.get(open) != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    let mut i = skip_ws(b, open + 1);
    if b.get(i) == Some(&b'}') {
        return Some((open, members));
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let colon = skip_ws(b, key_end);
        if b.get(colon) != Some(&b':') {
            return None;
        }
        let vs = skip_ws(b, colon + 1);
        let ve = value_end(b, vs)?;
        members.push(Member {
            key: (i, key_end),
            value: (vs, ve),
        });
        let next = skip_ws(b, ve);
        match b.get(next) {
            Some(b',') => i = skip_ws(b, next + 1),
            Some(b'}') => return Some((open, members)),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `b[start]` is `"`: the index just past the closing quote.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[j] == b'\\' {
            i = j + 2;
        } else {
            return Some(j + 1);
        }
    }
}

/// The index just past the JSON value starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match b.get(i)? {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = start;
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                i += 1;
            }
            Some(i)
        }
    }
}

/// Whether a quoted JSON key equals `want` (escapes decoded when there are any).
fn key_is(quoted: &[u8], want: &str) -> bool {
    if memchr::memchr(b'\\', quoted).is_some() {
        serde_json::from_slice::<String>(quoted).is_ok_and(|k| k == want)
    } else {
        quoted.len() == want.len() + 2 && &quoted[1..quoted.len() - 1] == want.as_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// usage

/// Reads an OpenAI `usage` object of any family: chat/completions/embeddings/runs
/// (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details`, `completion_tokens_details`),
/// responses and images (`input_tokens`, `output_tokens`, `input_tokens_details`,
/// `output_tokens_details`), transcriptions (`type: "tokens"` with `input_token_details`, or
/// `type: "duration"` with `seconds`). `None` when it is not an object or has none of these
/// counters. `model` is left `None`.
pub fn parse_usage(v: &Value) -> Option<CallUsage> {
    UsageWire::deserialize(v).ok()?.into_usage()
}

/// A `usage` object as it is on the wire, read straight from the body (no `Value` tree, no
/// allocation). Every counter is lenient: a value that is not a number counts as absent.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct UsageWire<'a> {
    prompt_tokens: Num,
    completion_tokens: Num,
    input_tokens: Num,
    output_tokens: Num,
    #[serde(rename = "type", borrow)]
    kind: Text<'a>,
    seconds: Num,
    prompt_tokens_details: ObjectOr<InputDetails>,
    input_tokens_details: ObjectOr<InputDetails>,
    input_token_details: ObjectOr<InputDetails>,
    prompt_token_details: ObjectOr<InputDetails>,
    completion_tokens_details: ObjectOr<OutputDetails>,
    output_tokens_details: ObjectOr<OutputDetails>,
    output_token_details: ObjectOr<OutputDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InputDetails {
    cached_tokens: Num,
    audio_tokens: Num,
    image_tokens: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OutputDetails {
    reasoning_tokens: Num,
    audio_tokens: Num,
}

impl UsageWire<'_> {
    /// The call's quantities (see [`parse_usage`]); `None` when no counter is present.
    pub(crate) fn into_usage(self) -> Option<CallUsage> {
        let input = self.prompt_tokens.count().or(self.input_tokens.count());
        let output = self
            .completion_tokens
            .count()
            .or(self.output_tokens.count());
        let seconds = (self.kind.get() == Some("duration"))
            .then(|| self.seconds.non_negative())
            .flatten();
        if input.is_none() && output.is_none() && seconds.is_none() {
            return None;
        }
        let mut u = CallUsage {
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
            audio_seconds: seconds.unwrap_or(0.0),
            ..Default::default()
        };
        // The first details object present, in the order of the names OpenAI has used.
        if let Some(d) = self
            .prompt_tokens_details
            .0
            .or(self.input_tokens_details.0)
            .or(self.input_token_details.0)
            .or(self.prompt_token_details.0)
        {
            u.cached_tokens = d.cached_tokens.count().unwrap_or(0);
            u.audio_input_tokens = d.audio_tokens.count().unwrap_or(0);
            u.image_input_tokens = d.image_tokens.count().unwrap_or(0);
        }
        if let Some(d) = self
            .completion_tokens_details
            .0
            .or(self.output_tokens_details.0)
            .or(self.output_token_details.0)
        {
            u.reasoning_tokens = d.reasoning_tokens.count().unwrap_or(0);
            u.audio_output_tokens = d.audio_tokens.count().unwrap_or(0);
        }
        Some(u)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseFields<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    object: Text<'a>,
    #[serde(borrow)]
    model: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(borrow)]
    usage: ObjectOr<UsageWire<'a>>,
    duration: Num,
    #[serde(borrow)]
    size: Text<'a>,
    #[serde(borrow)]
    quality: Text<'a>,
    #[serde(deserialize_with = "seq_len")]
    data: Option<u64>,
}

fn parse_response(body: &[u8]) -> Option<ResponseFields<'_>> {
    if first_non_ws(body) != Some(b'{') {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Run statuses after which a run's `usage` is final.
const TERMINAL_RUN_STATUSES: [&str; 5] =
    ["completed", "failed", "cancelled", "expired", "incomplete"];

/// Objects of the `Other` kind whose `usage` must not be counted: a batch reports the total of
/// its requests on every retrieve (and is billed at batch prices); run steps are parts of their
/// run's usage.
const UNCOUNTED_OBJECTS: [&str; 3] = ["batch", "thread.run.step", "thread.run"];

/// The usage of a non-streamed response, `None` when the response shows none (or is not a
/// 2xx). The model is the response's `model`, else the request's.
///
/// Per kind: token families read `usage`; images count `data` (dall-e has no `usage`: the
/// images are priced per image with size/quality from the response or request; a missing model
/// is OpenAI's default `dall-e-2`); transcriptions read `usage` (tokens or duration), else a
/// verbose_json `duration`, else the call is counted with its model only (text/srt/vtt bodies
/// carry nothing); speech (a binary body) counts the request's input characters; moderations
/// are counted with their model and no tokens; runs count only a `thread.run` in a terminal
/// status (the caller dedups by [`run_id`]); any other JSON object with a top-level `usage` is
/// counted (except batches and run steps, see [`UNCOUNTED_OBJECTS`]).
pub fn extract_json(
    kind: FamilyKind,
    req: &RequestInfo,
    status: u16,
    body: &[u8],
) -> Option<CallUsage> {
    if !(200..300).contains(&status) {
        return None;
    }
    if kind == FamilyKind::Speech {
        // The body is audio; a JSON body here would be an SSE fallback with no usage.
        return Some(CallUsage {
            model: req.model.clone(),
            characters: req.input_chars,
            ..Default::default()
        });
    }
    let Some(r) = parse_response(body) else {
        return match kind {
            FamilyKind::AudioTranscription | FamilyKind::AudioTranslation => Some(CallUsage {
                model: req.model.clone(),
                ..Default::default()
            }),
            _ => None,
        };
    };
    let model = r
        .model
        .get()
        .map(str::to_string)
        .or_else(|| req.model.clone());
    let usage = r.usage.0.and_then(UsageWire::into_usage);
    let object = r.object.get();
    match kind {
        FamilyKind::Runs => {
            if object.is_some_and(|o| o != "thread.run") {
                return None;
            }
            let terminal = r
                .status
                .get()
                .is_some_and(|s| TERMINAL_RUN_STATUSES.contains(&s));
            if !terminal {
                return None;
            }
            usage.map(|u| CallUsage { model, ..u })
        }
        FamilyKind::Images => {
            let mut u = usage.unwrap_or_default();
            u.images = r.data.unwrap_or(0);
            u.image_size = r
                .size
                .get()
                .map(str::to_string)
                .or_else(|| req.image_size.clone());
            u.image_quality = r
                .quality
                .get()
                .map(str::to_string)
                .or_else(|| req.image_quality.clone());
            u.model = model.or_else(|| Some("dall-e-2".to_string()));
            Some(u)
        }
        FamilyKind::AudioTranscription | FamilyKind::AudioTranslation => {
            let mut u = usage.unwrap_or_default();
            if u.audio_seconds == 0.0 && u.total_tokens() == 0 {
                u.audio_seconds = r.duration.non_negative().unwrap_or(0.0);
            }
            u.model = model;
            Some(u)
        }
        FamilyKind::Moderations => Some(CallUsage {
            model,
            ..usage.unwrap_or_default()
        }),
        FamilyKind::Other if object.is_some_and(|o| UNCOUNTED_OBJECTS.contains(&o)) => None,
        FamilyKind::ChatCompletions
        | FamilyKind::Completions
        | FamilyKind::Responses
        | FamilyKind::Embeddings
        | FamilyKind::Other => usage.map(|u| CallUsage { model, ..u }),
        FamilyKind::Speech => None,
    }
}

/// The id of a run object (`"object": "thread.run"`, or an `id` starting with `run_` when
/// `object` is absent), for counting a run's usage once.
pub fn run_id(body: &[u8]) -> Option<String> {
    let r = parse_response(body)?;
    let id = r.id.get()?;
    match r.object.get() {
        Some("thread.run") => Some(id.to_string()),
        None if id.starts_with("run_") => Some(id.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(model: &str) -> RequestInfo {
        RequestInfo {
            model: Some(model.to_string()),
            n: 1,
            ..Default::default()
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

    #[test]
    fn the_model_is_found_after_the_file_part_however_the_body_is_cut() {
        let mut body = Vec::new();
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"model\"\r\nContent-Type: audio/wav\r\n\r\n");
        body.extend(std::iter::repeat_n(b'\x07', 5000));
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ--\r\n");
        for size in [1, 2, 3, 7, 13, 64, 1000, body.len()] {
            let mut s = ModelSniffer::default();
            let found: Vec<String> = body.chunks(size).filter_map(|c| s.push(c)).collect();
            assert_eq!(found, vec!["whisper-1".to_string()], "chunks of {size}");
        }
        // No model field: nothing, and nothing kept beyond a few bytes.
        let mut s = ModelSniffer::default();
        for c in body[..5000].chunks(100) {
            assert_eq!(s.push(c), None);
        }
        assert!(s.carry_len < MODEL_HEADER.len());
        // A value that never ends within the capture limit is given up.
        let mut s = ModelSniffer::default();
        assert_eq!(s.push(b"; name=\"model\"\r\n\r\n"), None);
        assert_eq!(s.push(&[b'x'; 2000]), None);
        assert_eq!(s.push(b"\r\n"), None);
    }

    // ----- inspect_request -----

    #[test]
    fn chat_request_fields() {
        let body = br#"{
          "model": "gpt-4o-mini",
          "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [
              {"type": "text", "text": "What's in this image?"},
              {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk", "detail": "low"}}
            ]}
          ],
          "stream": true,
          "stream_options": {"include_usage": true},
          "max_completion_tokens": 300,
          "n": 2,
          "temperature": 0.2,
          "size": "ignored-for-chat"
        }"#;
        let i = inspect_request(FamilyKind::ChatCompletions, Some("application/json"), body);
        assert_eq!(i.model.as_deref(), Some("gpt-4o-mini"));
        assert!(i.stream);
        assert!(i.include_usage);
        assert_eq!(i.max_output_tokens, Some(300));
        assert_eq!(i.n, 2);
        assert_eq!(i.image_count, 0);
        assert_eq!(i.image_size, None);
        assert_eq!(i.input_chars, 0);
        assert_eq!(i.body_len, body.len() as u64);
    }

    #[test]
    fn max_tokens_variants_and_defaults() {
        let i = inspect_request(
            FamilyKind::ChatCompletions,
            None,
            br#"{"model":"gpt-3.5-turbo","messages":[],"max_tokens":64,"stream":false}"#,
        );
        assert_eq!(i.max_output_tokens, Some(64));
        assert!(!i.stream);
        assert!(!i.include_usage);
        assert_eq!(i.n, 1);
        let i = inspect_request(
            FamilyKind::Responses,
            Some("application/json"),
            br#"{"model":"o4-mini","input":[{"role":"user","content":"hi"}],"max_output_tokens":1024,"stream":true,"stream_options":null,"n":null}"#,
        );
        assert_eq!(i.max_output_tokens, Some(1024));
        assert!(i.stream);
        assert!(!i.include_usage);
        assert_eq!(i.n, 1);
    }

    #[test]
    fn json_bodies_that_would_need_a_guess_are_refused() {
        let ask = |kind: FamilyKind, b: &[u8]| inspect_json_request(kind, b).err();
        let chat = |b: &[u8]| ask(FamilyKind::ChatCompletions, b);
        let wrong = |field, expected| Some(BodyError::WrongType { field, expected });
        let twice = |k: &str| Some(BodyError::DuplicateKey(k.to_string()));
        for (body, want) in [
            (&br#"{"model":"a","model":"b"}"#[..], twice("model")),
            (br#"{"model":"a","mod\u0065l":"b"}"#, twice("model")),
            (br#"{"messages":[],"x":1,"messages":[]}"#, twice("messages")),
            (
                br#"{"max_tokens":5,"max_tokens":null}"#,
                twice("max_tokens"),
            ),
            (
                br#"{"stream":true,"stream_options":{"include_usage":false,"include_usage":true}}"#,
                twice("stream_options.include_usage"),
            ),
            (br#"{"model":7}"#, wrong("model", "a string")),
            (br#"{"model":["gpt-4o"]}"#, wrong("model", "a string")),
            (br#"{"stream":"yes"}"#, wrong("stream", "a boolean")),
            (br#"{"stream":1}"#, wrong("stream", "a boolean")),
            (
                br#"{"stream_options":[true]}"#,
                wrong("stream_options", "an object"),
            ),
            (
                br#"{"stream_options":{"include_usage":"true"}}"#,
                wrong("stream_options.include_usage", "a boolean"),
            ),
            (
                br#"{"max_tokens":"100000"}"#,
                wrong("max_tokens", "a non-negative integer"),
            ),
            (
                br#"{"max_tokens":-5}"#,
                wrong("max_tokens", "a non-negative integer"),
            ),
            (
                br#"{"max_tokens":16.0}"#,
                wrong("max_tokens", "a non-negative integer"),
            ),
            (
                br#"{"max_completion_tokens":1e9}"#,
                wrong("max_completion_tokens", "a non-negative integer"),
            ),
            (
                br#"{"max_output_tokens":{}}"#,
                wrong("max_output_tokens", "a non-negative integer"),
            ),
            (br#"{"n":"2"}"#, wrong("n", "a non-negative integer")),
            (b"", None),
            (b" \n ", None),
            (b"not json", Some(BodyError::NotAnObject)),
            (b"[1,2]", Some(BodyError::NotAnObject)),
            (b"{\"model\":", Some(BodyError::NotAnObject)),
            (b"{\"model\":\"a\"} {}", Some(BodyError::NotAnObject)),
            (
                b"\xef\xbb\xbf{\"model\":\"a\"}",
                Some(BodyError::NotAnObject),
            ),
        ] {
            assert_eq!(chat(body), want, "{}", String::from_utf8_lossy(body));
        }
        // Kind-specific fields are checked only where admission reads them.
        assert_eq!(
            ask(FamilyKind::Images, br#"{"prompt":"x","size":1024}"#),
            wrong("size", "a string")
        );
        assert_eq!(
            ask(FamilyKind::Images, br#"{"prompt":"x","quality":true}"#),
            wrong("quality", "a string")
        );
        assert_eq!(
            ask(FamilyKind::Speech, br#"{"model":"tts-1","input":["a"]}"#),
            wrong("input", "a string")
        );
        assert_eq!(
            ask(FamilyKind::Embeddings, br#"{"input":["a","b"],"size":3}"#),
            None
        );
        // Null is as if absent; zero is a count.
        let i = inspect_json_request(
            FamilyKind::ChatCompletions,
            br#"{"model":null,"stream":null,"stream_options":{"include_usage":null},"max_tokens":null,"n":0}"#,
        )
        .unwrap_or_default();
        assert_eq!((i.model, i.stream, i.include_usage), (None, false, false));
        assert_eq!((i.max_output_tokens, i.n), (None, 1));
        // The lenient reader (multipart heads, tests) gives the defaults instead.
        let i = inspect_request(
            FamilyKind::ChatCompletions,
            None,
            br#"{"model":"a","max_tokens":"9"}"#,
        );
        assert_eq!((i.model, i.max_output_tokens, i.n), (None, None, 1));
    }

    #[test]
    fn many_top_level_keys_are_all_checked_for_duplicates() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let body = format!("{{\"model\":\"m\",{}}}", keys.join(","));
        let i = inspect_json_request(FamilyKind::ChatCompletions, body.as_bytes());
        assert_eq!(i.map(|i| i.model), Ok(Some("m".to_string())));
        for dup in ["k0", "k31", "k32", "k39"] {
            let body = format!("{{{},\"{dup}\":null}}", keys.join(","));
            assert_eq!(
                inspect_json_request(FamilyKind::ChatCompletions, body.as_bytes()).err(),
                Some(BodyError::DuplicateKey(dup.to_string())),
                "{dup}"
            );
        }
    }

    #[test]
    fn speech_request_counts_input_characters() {
        let body = r#"{"model":"tts-1-hd","input":"Today is a wonderful day to build something people love! Ça va? 👋","voice":"alloy","response_format":"mp3","speed":1.0}"#;
        let i = inspect_request(
            FamilyKind::Speech,
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(i.model.as_deref(), Some("tts-1-hd"));
        assert_eq!(
            i.input_chars,
            "Today is a wonderful day to build something people love! Ça va? 👋"
                .chars()
                .count() as u64
        );
        // Escapes count as the characters they stand for.
        let i = inspect_request(
            FamilyKind::Speech,
            None,
            br#"{"model":"tts-1","input":"a\nb\u00e9"}"#,
        );
        assert_eq!(i.input_chars, 4);
        // Not counted for other kinds.
        let i = inspect_request(
            FamilyKind::Embeddings,
            None,
            br#"{"model":"text-embedding-3-small","input":"hello"}"#,
        );
        assert_eq!(i.input_chars, 0);
    }

    #[test]
    fn image_request_fields() {
        let body = br#"{"model":"dall-e-3","prompt":"A cute baby sea otter","n":1,"size":"1792x1024","quality":"hd","style":"vivid"}"#;
        let i = inspect_request(FamilyKind::Images, Some("application/json"), body);
        assert_eq!(i.model.as_deref(), Some("dall-e-3"));
        assert_eq!(i.image_count, 1);
        assert_eq!(i.image_size.as_deref(), Some("1792x1024"));
        assert_eq!(i.image_quality.as_deref(), Some("hd"));
        let i = inspect_request(
            FamilyKind::Images,
            None,
            br#"{"prompt":"x","n":3,"size":"256x256"}"#,
        );
        assert_eq!(i.model, None);
        assert_eq!(i.image_count, 3);
        assert_eq!(i.n, 3);
    }

    fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, value) in parts {
            b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            b.extend_from_slice(value);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        b
    }

    #[test]
    fn multipart_transcription_request() {
        let boundary = "------------------------d74496d66958873e";
        // Binary audio that contains CRLFs, dashes and a fake header.
        let audio: Vec<u8> = b"ID3\x04\x00\r\n--\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nfake\xff\xfe\x00"
            .iter()
            .copied()
            .cycle()
            .take(5000)
            .collect();
        let body = multipart(
            boundary,
            &[
                ("file", Some("speech.mp3"), &audio),
                ("model", None, b"gpt-4o-transcribe"),
                ("response_format", None, b"json"),
                ("stream", None, b"true"),
            ],
        );
        let ct = format!("multipart/form-data; boundary={boundary}");
        let i = inspect_request(FamilyKind::AudioTranscription, Some(&ct), &body);
        assert_eq!(i.model.as_deref(), Some("gpt-4o-transcribe"));
        assert!(i.stream);
        assert_eq!(i.n, 1);
        // Quoted boundary, mixed-case header names.
        let ct = format!("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"{boundary}\"");
        let i = inspect_request(FamilyKind::AudioTranscription, Some(&ct), &body);
        assert_eq!(i.model.as_deref(), Some("gpt-4o-transcribe"));
    }

    #[test]
    fn multipart_image_edit_and_cut_body() {
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
        let body = multipart(
            boundary,
            &[
                ("model", None, b"gpt-image-1"),
                ("n", None, b"2"),
                ("size", None, b"1024x1536"),
                ("quality", None, b"high"),
                ("image[]", Some("body-lotion.png"), png),
                ("prompt", None, b"Create a lovely gift basket"),
            ],
        );
        let ct = format!("multipart/form-data; boundary={boundary}");
        let i = inspect_request(FamilyKind::Images, Some(&ct), &body);
        assert_eq!(i.model.as_deref(), Some("gpt-image-1"));
        assert_eq!(i.image_count, 2);
        assert_eq!(i.image_size.as_deref(), Some("1024x1536"));
        assert_eq!(i.image_quality.as_deref(), Some("high"));
        // A peeked head cut in the middle of the file still gives the fields before it.
        let cut = &body[..body.len() / 2 + 20];
        let i = inspect_request(FamilyKind::Images, Some(&ct), cut);
        assert_eq!(i.model.as_deref(), Some("gpt-image-1"));
        assert_eq!(i.image_count, 2);
        // A cut inside the model value gives nothing rather than a truncated model.
        let at = memchr::memmem::find(&body, b"gpt-image-1").unwrap_or(0) + 5;
        let i = inspect_request(FamilyKind::Images, Some(&ct), &body[..at]);
        assert_eq!(i.model, None);
        // Wrong boundary: nothing found.
        let i = inspect_request(
            FamilyKind::Images,
            Some("multipart/form-data; boundary=zzz"),
            &body,
        );
        assert_eq!(i.model, None);
    }

    // ----- add_include_usage -----

    fn json(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap_or(Value::Null)
    }

    #[test]
    fn include_usage_is_inserted() {
        let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say \"hi\" {not a brace}"}],"stream":true}"#;
        let out = add_include_usage(body).unwrap_or_default();
        let v = json(&out);
        assert_eq!(v["stream_options"]["include_usage"], Value::Bool(true));
        assert_eq!(v["messages"][0]["content"], "Say \"hi\" {not a brace}");
        assert_eq!(v["stream"], Value::Bool(true));
        // The original bytes are kept as they were.
        assert!(out.ends_with(&body[1..]));
        let i = inspect_request(FamilyKind::ChatCompletions, None, &out);
        assert!(i.include_usage && i.stream);
        // Empty object.
        assert_eq!(
            json(&add_include_usage(b" { } ").unwrap_or_default()),
            json(br#"{"stream_options":{"include_usage":true}}"#)
        );
    }

    #[test]
    fn include_usage_is_merged_into_existing_stream_options() {
        let body = br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false},"messages":[{"role":"user","content":"stream_options"}]}"#;
        let out = add_include_usage(body).unwrap_or_default();
        let v = json(&out);
        assert_eq!(v["stream_options"]["include_usage"], Value::Bool(true));
        assert_eq!(
            v["stream_options"]["include_obfuscation"],
            Value::Bool(false)
        );
        assert_eq!(v["messages"][0]["content"], "stream_options");
        for body in [
            &br#"{"stream":true, "stream_options" : null ,"model":"gpt-4o"}"#[..],
            br#"{"stream":true,"stream_options":"bad","model":"gpt-4o"}"#,
            br#"{"stream":true,"stream\u005foptions":{},"model":"gpt-4o"}"#,
        ] {
            let v = json(&add_include_usage(body).unwrap_or_default());
            assert_eq!(
                v["stream_options"]["include_usage"],
                Value::Bool(true),
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(v["model"], "gpt-4o");
        }
        let already = br#"{"stream":true,"stream_options":{"include_usage":true}}"#;
        assert_eq!(add_include_usage(already).as_deref(), Some(&already[..]));
    }

    #[test]
    fn include_usage_refuses_non_objects() {
        for body in [&b"[]"[..], b"", b"null", b"{\"a\":", b"{} {}", b"\"x\""] {
            assert_eq!(add_include_usage(body), None, "{body:?}");
        }
    }

    // ----- extract_json -----

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
            Some(CallUsage {
                model: Some("o3-mini-2025-01-31".into()),
                input_tokens: 1117,
                cached_tokens: 1024,
                output_tokens: 846,
                reasoning_tokens: 768,
                ..Default::default()
            })
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
        assert_eq!(
            u,
            CallUsage {
                model: Some("gpt-4.1-2025-04-14".into()),
                input_tokens: 36,
                cached_tokens: 12,
                output_tokens: 87,
                reasoning_tokens: 3,
                ..Default::default()
            }
        );
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
        let u = extract_json(FamilyKind::Images, &RequestInfo::default(), 200, body)
            .unwrap_or_default();
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
        assert_eq!(
            u,
            Some(CallUsage {
                model: Some("whisper-1".into()),
                ..Default::default()
            })
        );
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
                model: Some("tts-1".into()),
                characters: 1234,
                ..Default::default()
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
        assert_eq!(
            u,
            Some(CallUsage {
                model: Some("omni-moderation-2024-09-26".into()),
                ..Default::default()
            })
        );
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
        let u =
            extract_json(FamilyKind::Other, &RequestInfo::default(), 200, body).unwrap_or_default();
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
        let u = parse_usage(&json(br#"{"prompt_tokens":3,"completion_tokens":null}"#))
            .unwrap_or_default();
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

    #[test]
    fn request_fields_read_the_first_cap_that_is_set() {
        let ask = |b: &[u8]| inspect_request(FamilyKind::ChatCompletions, None, b);
        let i = ask(br#"{"model":"m","max_tokens":null,"max_output_tokens":9,"n":0}"#);
        assert_eq!(i.model.as_deref(), Some("m"));
        assert_eq!(i.max_output_tokens, Some(9));
        assert_eq!(i.n, 1);
        let i = ask(br#"{"stream":true,"stream_options":{"include_usage":1}}"#);
        assert!(!i.stream, "a refused body reads as the defaults");
        let i =
            ask(br#"{"model":"m","stream":true,"max_completion_tokens":7,"max_tokens":5,"n":3}"#);
        assert!(i.stream && !i.include_usage);
        assert_eq!((i.max_output_tokens, i.n), (Some(7), 3));
        let i = ask(br#"{"stream":true,"stream_options":{"include_usage":true,"other":null}}"#);
        assert!(i.include_usage);
    }
}
