use super::*;

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

#[test]
fn request_fields_read_the_first_cap_that_is_set() {
    let ask = |b: &[u8]| inspect_request(FamilyKind::ChatCompletions, None, b);
    let i = ask(br#"{"model":"m","max_tokens":null,"max_output_tokens":9,"n":0}"#);
    assert_eq!(i.model.as_deref(), Some("m"));
    assert_eq!(i.max_output_tokens, Some(9));
    assert_eq!(i.n, 1);
    let i = ask(br#"{"stream":true,"stream_options":{"include_usage":1}}"#);
    assert!(!i.stream, "a refused body reads as the defaults");
    let i = ask(br#"{"model":"m","stream":true,"max_completion_tokens":7,"max_tokens":5,"n":3}"#);
    assert!(i.stream && !i.include_usage);
    assert_eq!((i.max_output_tokens, i.n), (Some(7), 3));
    let i = ask(br#"{"stream":true,"stream_options":{"include_usage":true,"other":null}}"#);
    assert!(i.include_usage);
}
