//! Multipart uploads (`multipart/form-data`: transcriptions, translations, image edits and
//! variations): their small text fields, read from the head the proxy peeks at, and a `model`
//! field that comes after the peek, caught while the rest streams through.
//!
//! Owns: the boundary of a multipart content type (read with the `mime` crate), the part-by-part
//! scan of a head for its text fields ([`inspect`]), the streaming [`ModelSniffer`].
//! Must not: copy a chunk, keep more than a few bytes between chunks, read file parts, or do IO.

use crate::proxy::family::{FamilyKind, Reads};
use crate::proxy::inspect::RequestInfo;

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

/// The `boundary` parameter of a `multipart/...` content type (quoted or not; names and the
/// type are case-insensitive), read by `mime`.
pub fn boundary(content_type: &str) -> Option<String> {
    let mime: mime::Mime = content_type.trim().parse().ok()?;
    if mime.type_() != mime::MULTIPART {
        return None;
    }
    let boundary = mime.get_param(mime::BOUNDARY)?.as_str();
    (!boundary.is_empty()).then(|| boundary.to_string())
}

/// Text fields longer than this are not looked at.
const MAX_FORM_FIELD: usize = 4096;

/// Reads the text fields of a multipart body (or of its head) into `info`.
pub fn inspect(kind: FamilyKind, boundary: &str, body: &[u8], info: &mut RequestInfo) {
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
    let images = kind.spec().reads == Reads::ImageParams;
    match name {
        "model" if !v.is_empty() => info.model = Some(v.to_string()),
        "stream" => info.stream = v.eq_ignore_ascii_case("true"),
        "n" => {
            if let Some(n) = v.parse::<u64>().ok().filter(|n| *n > 0) {
                info.n = n;
            }
        }
        "size" if images => info.image_size = Some(v.to_string()),
        "quality" if images => info.image_quality = Some(v.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
