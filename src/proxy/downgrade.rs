//! The model downgrade: once a workspace's USD budgets reach a rule's share (`downgrade =
//! [{ from, to, at }]`, decided by [`crate::registry::Registry::call_policy`]), a call for `from`
//! is sent for `to`. The second rewrite of a request body, after [`super::include_usage`], done
//! the same way.
//!
//! Owns: [`replace_model`] (the rewrite of the body's top-level `model`), the application of a
//! downgrade to a call read by `request.rs` (its body, the model admission prices and the stream
//! tap expects), the `qs_downgraded_total` counter.
//! Rules match the request's `model` exactly (`gpt-4o` is not `gpt-4o-2024-08-06` nor
//! `GPT-4o`). Only JSON bodies, held whole by the gateway, are rewritten: a multipart upload or
//! a streamed body goes upstream as sent, its model unchanged.
//! Must not: change any byte outside the value of the top-level `model`, rewrite a body that is
//! not one valid JSON object, or decide whether a rule is in effect.

use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::proxy::inspect::first_non_ws;
use crate::proxy::lenient::Text;
use crate::proxy::request::ReadBody;

/// Rewrites the top-level `model` of a JSON object body to `to`, keeping every other byte as
/// it was (the new name is written as a JSON string, escaped where needed). `None` when there
/// is nothing to rewrite: the body is not one valid JSON object, or it has no top-level
/// `model` whose value is a string. A nested `model` (in `messages`, `tools`…) is never
/// touched.
pub(super) fn replace_model(body: &[u8], to: &str) -> Option<Vec<u8>> {
    if first_non_ws(body) != Some(b'{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let spans = de.deserialize_map(ModelVisitor { body }).ok()?;
    de.end().ok()?;
    if spans.is_empty() {
        return None;
    }
    let name = serde_json::to_string(to).ok()?;
    let mut out = Vec::with_capacity(body.len() + name.len());
    let mut last = 0;
    for (s, e) in spans {
        out.extend_from_slice(&body[last..s]);
        out.extend_from_slice(name.as_bytes());
        last = e;
    }
    out.extend_from_slice(&body[last..]);
    Some(out)
}

/// The byte spans of the string values of the top-level `model` members (one, unless
/// repeated: admission refuses such a body before anyway).
struct ModelVisitor<'b> {
    body: &'b [u8],
}

impl<'de> Visitor<'de> for ModelVisitor<'_> {
    type Value = Vec<(usize, usize)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut spans = Vec::new();
        // A key is always a string; escapes are decoded (`mod\u0065l` counts).
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.get() != Some("model") {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // Borrowed from the body: its place is where its bytes are.
            let raw = map.next_value::<&'de RawValue>()?.get().as_bytes();
            if raw.first() != Some(&b'"') {
                continue;
            }
            let start = (raw.as_ptr() as usize).wrapping_sub(self.body.as_ptr() as usize);
            let end = start.wrapping_add(raw.len());
            if self.body.get(start..end) != Some(raw) {
                return Err(serde::de::Error::custom("a value outside the body"));
            }
            spans.push((start, end));
        }
        Ok(spans)
    }
}

/// Sends a JSON call for `to` instead of its model: its body is rewritten, admission prices
/// `to` and the answer is read as `to`'s. Returns the model the caller asked for (answered in
/// `x-quota-model-downgraded-from`, kept in the ledger row), counted in
/// `qs_downgraded_total{workspace, from, to}`; `None`, and the call untouched, when the body
/// is not JSON or has no top-level string `model`.
pub(super) fn apply(request: &mut ReadBody, to: String, workspace: &str) -> Option<Arc<str>> {
    if !request.is_json {
        return None;
    }
    let from = request.seen.info.model.as_deref()?;
    let rewritten = Bytes::from(replace_model(&request.seen.json, &to)?);
    metrics::counter!(
        "qs_downgraded_total",
        "workspace" => workspace.to_string(),
        "from" => from.to_string(),
        "to" => to.clone()
    )
    .increment(1);
    request.body = Body::from(rewritten.clone());
    request.seen.json = rewritten;
    request.seen.info.model.replace(to).map(Arc::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap_or(Value::Null)
    }

    #[test]
    fn the_model_is_replaced_and_every_other_byte_kept() {
        let body = br#"{ "messages":[{"role":"user","content":"use \"model\": \"gpt-4o\""}],
  "model" :  "gpt-4o" ,"tools":[{"model":"gpt-4o"}],"stream":true}"#;
        let out = replace_model(body, "gpt-4o-mini").unwrap_or_default();
        let want: &[u8] = br#"{ "messages":[{"role":"user","content":"use \"model\": \"gpt-4o\""}],
  "model" :  "gpt-4o-mini" ,"tools":[{"model":"gpt-4o"}],"stream":true}"#;
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(want));
        // First and last member, no spaces; an escaped key; a name that needs escaping.
        assert_eq!(
            replace_model(br#"{"model":"a","n":1}"#, "b").unwrap_or_default(),
            br#"{"model":"b","n":1}"#
        );
        assert_eq!(
            replace_model(br#"{"n":1,"model":"a"}"#, "b").unwrap_or_default(),
            br#"{"n":1,"model":"b"}"#
        );
        assert_eq!(
            replace_model(br#"{"mod\u0065l":"a"}"#, "b").unwrap_or_default(),
            br#"{"mod\u0065l":"b"}"#
        );
        let odd = replace_model(br#"{"model":"a"}"#, "x\"y\\z").unwrap_or_default();
        assert_eq!(json(&odd)["model"], "x\"y\\z");
        // A model name with escapes of its own is replaced whole.
        assert_eq!(
            replace_model(br#"{"model":"gpt-\u0034o"}"#, "b").unwrap_or_default(),
            br#"{"model":"b"}"#
        );
    }

    #[test]
    fn bodies_without_a_string_model_are_untouched() {
        for body in [
            &br#"{"messages":[{"model":"gpt-4o"}]}"#[..],
            br#"{}"#,
            br#"{"model":null}"#,
            br#"{"model":4}"#,
            br#"{"model":["gpt-4o"]}"#,
            br#"{"model":{"name":"gpt-4o"}}"#,
            br#"{"model":"gpt-4o""#,
            br#"{"model":"gpt-4o"} trailing"#,
            br#"["model","gpt-4o"]"#,
            br#""model""#,
            b"",
            b"not json",
        ] {
            assert_eq!(
                replace_model(body, "b"),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_call_is_sent_for_the_new_model() {
        use crate::proxy::family::FamilyKind;
        use crate::proxy::inspect::inspect_json_request;
        use crate::proxy::request::Seen;

        let read = |body: &'static [u8], is_json: bool| ReadBody {
            body: Body::from(body),
            seen: Seen {
                info: inspect_json_request(FamilyKind::ChatCompletions, body).unwrap_or_default(),
                json: Bytes::from_static(body),
                late_model: None,
            },
            is_json,
            strip_usage_chunk: false,
        };
        let mut r = read(br#"{"model":"gpt-4o","messages":[]}"#, true);
        let from = apply(&mut r, "gpt-4o-mini".into(), "acme");
        assert_eq!(from.as_deref(), Some("gpt-4o"));
        assert_eq!(r.seen.info.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            &r.seen.json[..],
            br#"{"model":"gpt-4o-mini","messages":[]}"#
        );
        // Not JSON, or no model: untouched.
        let mut r = read(br#"{"model":"gpt-4o"}"#, false);
        assert_eq!(apply(&mut r, "b".into(), "acme"), None);
        assert_eq!(&r.seen.json[..], br#"{"model":"gpt-4o"}"#);
        let mut r = read(br#"{"input":"x"}"#, true);
        assert_eq!(apply(&mut r, "b".into(), "acme"), None);
        assert_eq!(r.seen.info.model, None);
    }
}
