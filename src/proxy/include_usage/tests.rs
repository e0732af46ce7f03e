use super::*;
use crate::proxy::family::FamilyKind;
use crate::proxy::inspect::inspect_request;

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
