//! Deterministic token accounting of the simulator: how many tokens a request
//! "costs" and what the simulated model answers. Tests compare the gateway's
//! ledger against these numbers, so every rule here is documented and pure.
//!
//! * A *word* is a whitespace-separated run of characters (`str::split_whitespace`).
//! * Text tokens of a string = its word count. A number inside a prompt/input
//!   array (a token id) counts 1. An `image_url`/`input_image` content part
//!   counts 85; other non-text parts count 0.
//! * Inside objects only the values of the keys `text`, `content`, `value`,
//!   `output` and `arguments` are counted (recursively).
//! * Chat: `prompt_tokens` = Σ over messages of (3 + tokens of the message).
//!   Responses: the same over input items (a plain string input is one
//!   message), plus 3 + words of `instructions` when present.
//!   Legacy completions and embeddings: tokens of `prompt`/`input`, no overhead.
//! * Completion: the reply is the 8 words `This is a simulated reply from
//!   the simulator.` cycled. Its length in tokens is the
//!   `x-sim-completion-tokens` request header if present, else
//!   `max_completion_tokens`/`max_tokens`/`max_output_tokens` if present,
//!   else 8 (24 for reasoning models); capped at 4096.
//!   For reasoning models (o1/o3/o4/gpt-5) a third of it (rounded up) is
//!   visible text and the rest is `reasoning_tokens`; otherwise all of it is
//!   visible text. `completion_tokens` per choice = that length, and
//!   `finish_reason` is always `stop` (the simulated model ends exactly there).
//! * Cached prompt tokens: the `x-sim-cached-tokens` header (capped at the
//!   prompt size) if present, else `floor(prompt/128)*128` when the prompt
//!   has at least 1024 tokens, else 0.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The words the simulated model says, cycled to the wanted length.
pub(crate) const REPLY_WORDS: [&str; 8] = [
    "This",
    "is",
    "a",
    "simulated",
    "reply",
    "from",
    "the",
    "simulator.",
];
/// Completion tokens when the request sets no limit (non-reasoning models).
pub(crate) const DEFAULT_COMPLETION_TOKENS: u64 = 8;
/// Upper bound of one choice's completion tokens.
pub(crate) const MAX_COMPLETION_TOKENS: u64 = 4096;
/// Tokens an image content part counts.
pub(crate) const IMAGE_PART_TOKENS: u64 = 85;
/// Per-message overhead in chat/responses prompts.
pub(crate) const PER_MESSAGE_TOKENS: u64 = 3;

/// Words in `s`.
pub(crate) fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// How long the answer is and how it splits into visible/reasoning tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplyPlan {
    /// Words of visible text per choice.
    pub visible: u64,
    /// Reasoning tokens per choice.
    pub reasoning: u64,
}

impl ReplyPlan {
    /// Completion tokens per choice (visible + reasoning).
    pub(crate) fn completion(&self) -> u64 {
        self.visible + self.reasoning
    }
}

/// Apply the completion rule (see module docs).
pub(crate) fn plan_reply(forced: Option<u64>, limit: Option<u64>, model: &str) -> ReplyPlan {
    let reasoning_model = super::wire::is_reasoning_model(model);
    let total = forced.or(limit).unwrap_or(if reasoning_model {
        3 * DEFAULT_COMPLETION_TOKENS
    } else {
        DEFAULT_COMPLETION_TOKENS
    });
    let total = total.clamp(1, MAX_COMPLETION_TOKENS);
    if reasoning_model {
        let visible = total.div_ceil(3);
        ReplyPlan {
            visible,
            reasoning: total - visible,
        }
    } else {
        ReplyPlan {
            visible: total,
            reasoning: 0,
        }
    }
}

/// The reply text of `words` words.
pub(crate) fn reply_text(words: u64) -> String {
    let mut s = String::with_capacity(words as usize * 6);
    for i in 0..words as usize {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(REPLY_WORDS[i % REPLY_WORDS.len()]);
    }
    s
}

/// Stream deltas of a reply: the first word, then each further word with its
/// leading space, so that concatenating them gives back the text.
pub(crate) fn word_deltas(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0usize;
    let mut done = text.is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let from = if start == 0 { 0 } else { start + 1 };
        match text[from..].find(' ') {
            Some(off) => {
                let end = from + off;
                let piece = &text[start..end];
                start = end;
                Some(piece)
            }
            None => {
                done = true;
                Some(&text[start..])
            }
        }
    })
}

/// Cached prompt tokens (see module docs).
pub(crate) fn cached_tokens(prompt: u64, forced: Option<u64>) -> u64 {
    match forced {
        Some(n) => n.min(prompt),
        None if prompt >= 1024 => prompt / 128 * 128,
        None => 0,
    }
}

// ---------------------------------------------------------------- counting deserializers

/// Token count of any JSON value (see module docs), computed while
/// deserialising, without building the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Words(pub u64);

impl Words {
    /// Token count of an already-parsed JSON value.
    pub(crate) fn deserialize_value(v: &serde_json::Value) -> u64 {
        Words::deserialize(v).map_or(0, |w| w.0)
    }
}

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordsVisitor)
    }
}

struct WordsVisitor;

impl<'de> Visitor<'de> for WordsVisitor {
    type Value = Words;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text, an array or an object")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Words, E> {
        Ok(Words(count_words(v)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Words, E> {
        Ok(Words(0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Words, E> {
        Ok(Words(1))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Words, E> {
        Ok(Words(1))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Words, E> {
        Ok(Words(1))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Words, E> {
        Ok(Words(0))
    }
    fn visit_none<E: de::Error>(self) -> Result<Words, E> {
        Ok(Words(0))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Words, D::Error> {
        Words::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Words, A::Error> {
        let mut n = 0u64;
        while let Some(Words(w)) = seq.next_element()? {
            n = n.saturating_add(w);
        }
        Ok(Words(n))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Words, A::Error> {
        let mut n = 0u64;
        let mut image = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Counted => n = n.saturating_add(map.next_value::<Words>()?.0),
                Key::Type => image |= is_image_tag(&map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if image {
            n = n.saturating_add(IMAGE_PART_TOKENS);
        }
        Ok(Words(n))
    }
}

enum Key {
    Counted,
    Type,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "text" | "content" | "value" | "output" | "arguments" => Key::Counted,
                    "type" => Key::Type,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Whether a part's `type` value (any JSON) names an image content part.
fn is_image_tag(tag: &serde_json::Value) -> bool {
    matches!(tag.as_str(), Some("image_url" | "input_image"))
}

/// Token count of a list of messages/input items: Σ (3 + tokens of item).
/// A plain string counts as one message. `count` is the number of items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Items {
    pub tokens: u64,
    pub count: u64,
}

struct ItemsVisitor {
    allow_str: bool,
}

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Items;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.allow_str {
            f.write_str("a string or an array of input items")
        } else {
            f.write_str("an array of messages")
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Items, E> {
        if !self.allow_str {
            return Err(E::invalid_type(de::Unexpected::Str(v), &self));
        }
        Ok(Items {
            tokens: PER_MESSAGE_TOKENS + count_words(v),
            count: 1,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
        let mut out = Items::default();
        while let Some(Words(w)) = seq.next_element()? {
            out.tokens = out.tokens.saturating_add(PER_MESSAGE_TOKENS + w);
            out.count += 1;
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor { allow_str: true })
    }
}

/// [`Items`] that must be an array (chat `messages`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Messages(pub Items);

impl<'de> Deserialize<'de> for Messages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor { allow_str: false })
            .map(Messages)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn counts_chat_messages() {
        let items: Items = serde_json::from_str(
            r#"[{"role":"system","content":"Be brief."},
                {"role":"user","name":"bob","content":[{"type":"text","text":"hello  there world"},
                 {"type":"image_url","image_url":{"url":"data:x"}}]}]"#,
        )
        .unwrap_or_default();
        assert_eq!(items.count, 2);
        assert_eq!(items.tokens, (3 + 2) + (3 + 3 + IMAGE_PART_TOKENS));
    }

    #[test]
    fn counts_token_arrays_and_strings() {
        let w: Words = serde_json::from_str(r#"[[1,2,3],"a b"]"#).unwrap_or_default();
        assert_eq!(w.0, 5);
        let i: Items = serde_json::from_str(r#""one two three""#).unwrap_or_default();
        assert_eq!(
            i,
            Items {
                tokens: 6,
                count: 1
            }
        );
    }

    #[test]
    fn reply_rules() {
        assert_eq!(
            plan_reply(None, None, "gpt-4o-mini"),
            ReplyPlan {
                visible: 8,
                reasoning: 0
            }
        );
        assert_eq!(plan_reply(None, Some(20), "gpt-4o-mini").visible, 20);
        assert_eq!(plan_reply(Some(5), Some(20), "gpt-4o-mini").visible, 5);
        assert_eq!(
            plan_reply(None, None, "o3-mini"),
            ReplyPlan {
                visible: 8,
                reasoning: 16
            }
        );
        assert_eq!(plan_reply(None, Some(10), "o1").completion(), 10);
        assert_eq!(
            plan_reply(None, Some(1_000_000), "gpt-4o").visible,
            MAX_COMPLETION_TOKENS
        );
        let text = reply_text(10);
        assert_eq!(count_words(&text), 10);
        assert_eq!(word_deltas(&text).collect::<String>(), text);
        assert_eq!(word_deltas(&text).count(), 10);
        assert_eq!(word_deltas("one").collect::<Vec<_>>(), vec!["one"]);
    }

    #[test]
    fn cache_rule() {
        assert_eq!(cached_tokens(1023, None), 0);
        assert_eq!(cached_tokens(1500, None), 1408);
        assert_eq!(cached_tokens(100, Some(500)), 100);
    }
}
