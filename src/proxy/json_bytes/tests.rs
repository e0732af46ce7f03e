use super::*;

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
