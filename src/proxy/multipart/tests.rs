use super::*;
use crate::proxy::inspect::inspect_request;

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
