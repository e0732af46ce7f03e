//! The lenient readers: serde types that accept any JSON value, keep the kind they want and skip
//! every other (arrays and objects are walked, never built), for the request inspection, the
//! usage of JSON answers and the stream tap alike.
//!
//! Owns: [`Pick`] (what a reader makes of each kind of value) and the one visitor that applies
//! it, and the readers: [`Typed`] (a value's type, as admission checks it), [`Text`] (a string,
//! borrowed unless escaped), [`Num`] (a number), [`SeqLen`] (an array's length), [`Chars`] (a
//! string's length in characters), [`ObjectOr`] (an object as `T`).
//! Must not: fail on a value of another kind (that is the point), or allocate for a value it
//! skips or a string without escapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// What a lenient reader makes of each kind of JSON value: every kind it does not name is
/// [`Pick::other`], an array or object being skipped.
pub(crate) trait Pick<'de>: Sized {
    /// Any value the reader does not keep.
    fn other() -> Self;
    /// `null` (and an absent option).
    fn null() -> Self {
        Self::other()
    }
    fn bool(_: bool) -> Self {
        Self::other()
    }
    /// A non-negative integer.
    fn uint(_: u64) -> Self {
        Self::other()
    }
    /// Any other number.
    fn float(_: f64) -> Self {
        Self::other()
    }
    /// A string borrowed from the body (it had no escapes).
    fn borrowed_str(s: &'de str) -> Self {
        Self::str(s)
    }
    /// A string the parser unescaped into a buffer of its own (valid during the call only).
    fn str(_: &str) -> Self {
        Self::other()
    }
    /// A string handed over owned.
    fn string(s: String) -> Self {
        Self::str(&s)
    }
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::other())
    }
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::other())
    }
}

/// Reads any JSON value by `T`'s [`Pick`] rules.
pub(crate) fn pick<'de, T: Pick<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(PickVisitor(PhantomData))
}

struct PickVisitor<T>(PhantomData<T>);

impl<'de, T: Pick<'de>> Visitor<'de> for PickVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok(T::bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok(u64::try_from(v).map_or_else(|_| T::float(v as f64), T::uint))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::uint(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Ok(T::float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<T, E> {
        Ok(T::borrowed_str(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::str(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok(T::string(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::null())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::null())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

/// `impl Deserialize` through [`pick`] for lenient readers without a lifetime.
macro_rules! deserialize_by_pick {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                pick(d)
            }
        }
    )*};
}

deserialize_by_pick!(Num, SeqLen, Chars);

/// A JSON value as admission sees its type; strings are borrowed from the body unless they
/// have escapes, arrays and objects are skipped.
pub(crate) enum Typed<'a> {
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

impl<'a> Typed<'a> {
    pub(crate) fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Typed::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(crate) fn into_bool(self) -> Option<bool> {
        match self {
            Typed::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub(crate) fn into_uint(self) -> Option<u64> {
        match self {
            Typed::Uint(u) => Some(u),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Typed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pick(d)
    }
}

impl<'de> Pick<'de> for Typed<'de> {
    fn other() -> Self {
        Typed::Other
    }
    fn null() -> Self {
        Typed::Null
    }
    fn bool(v: bool) -> Self {
        Typed::Bool(v)
    }
    fn uint(v: u64) -> Self {
        Typed::Uint(v)
    }
    fn float(_: f64) -> Self {
        Typed::Number
    }
    fn borrowed_str(s: &'de str) -> Self {
        Typed::Str(Cow::Borrowed(s))
    }
    fn str(s: &str) -> Self {
        Typed::Str(Cow::Owned(s.to_owned()))
    }
    fn string(s: String) -> Self {
        Typed::Str(Cow::Owned(s))
    }
}

/// A JSON value read for its text only: a string (borrowed from the body unless it has
/// escapes), anything else skipped as `None`. Saves allocating the response's `id`, `object`
/// and `model` on every call.
#[derive(Default)]
pub(crate) struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de> Pick<'de> for Text<'de> {
    fn other() -> Self {
        Text(None)
    }
    fn borrowed_str(s: &'de str) -> Self {
        Text(Some(Cow::Borrowed(s)))
    }
    fn str(s: &str) -> Self {
        Text(Some(Cow::Owned(s.to_owned())))
    }
    fn string(s: String) -> Self {
        Text(Some(Cow::Owned(s)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pick::<Text<'de>, D>(d)
    }
}

/// A JSON number read without building a `Value`: `None` for any other value (skipped).
/// Non-negative integers stay exact; floats and negative integers are kept as `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Num(Option<NumVal>);

#[derive(Clone, Copy, Debug, PartialEq)]
enum NumVal {
    Uint(u64),
    Float(f64),
}

impl Num {
    /// A token count: an integer as it is, a finite non-negative float rounded.
    pub(crate) fn count(self) -> Option<u64> {
        match self.0? {
            NumVal::Uint(u) => Some(u),
            NumVal::Float(f) => (f.is_finite() && f >= 0.0).then(|| f.round() as u64),
        }
    }
    /// A finite, non-negative number as `f64` (seconds).
    pub(crate) fn non_negative(self) -> Option<f64> {
        let f = match self.0? {
            NumVal::Uint(u) => u as f64,
            NumVal::Float(f) => f,
        };
        (f.is_finite() && f >= 0.0).then_some(f)
    }
}

impl Pick<'_> for Num {
    fn other() -> Self {
        Num(None)
    }
    fn uint(v: u64) -> Self {
        Num(Some(NumVal::Uint(v)))
    }
    fn float(v: f64) -> Self {
        Num(Some(NumVal::Float(v)))
    }
}

/// An array's number of elements (which are skipped); `None` for any other value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SeqLen(pub(crate) Option<u64>);

impl<'de> Pick<'de> for SeqLen {
    fn other() -> Self {
        SeqLen(None)
    }
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut n = 0u64;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(SeqLen(Some(n)))
    }
}

/// A string's length in characters (Unicode scalar values, escapes counted as what they stand
/// for; the string is never built), else its type.
pub(crate) enum Chars {
    Null,
    Str(u64),
    Other,
}

impl Pick<'_> for Chars {
    fn other() -> Self {
        Chars::Other
    }
    fn null() -> Self {
        Chars::Null
    }
    fn str(s: &str) -> Self {
        Chars::Str(s.chars().count() as u64)
    }
}

/// A JSON object read as `T`, or `None` for any other value (skipped).
pub(crate) struct ObjectOr<T>(pub(crate) Option<T>);

impl<T> Default for ObjectOr<T> {
    fn default() -> Self {
        ObjectOr(None)
    }
}

impl<'de, T: Deserialize<'de>> Pick<'de> for ObjectOr<T> {
    fn other() -> Self {
        ObjectOr(None)
    }
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| ObjectOr(Some(t)))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pick(d)
    }
}
