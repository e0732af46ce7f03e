//! Reading a few values out of JSON bytes without parsing them: the stream tap's scanner. An
//! event of a chat stream is looked at for its `model`, its text deltas and whether it carries a
//! `usage` object; only an event that does is parsed (by `serde_json`).
//!
//! Owns: finding a key's value ([`first_string`], [`every_string`], [`raw_string`],
//! [`has_object`]) with memchr's `memmem` finders, and decoding a JSON string's escapes into a
//! buffer the caller keeps ([`decode_json_str`]).
//! Must not: allocate on its own (text is appended to the caller's buffer; only bytes that are
//! not UTF-8 are copied, to be repaired), copy the event, or fail on what it does not understand
//! (a malformed string stops where it breaks).
//!
//! Why not `serde_json` here: it reads the same string at up to twice the cost, allocates for
//! every string with an escape (its scratch buffer, then the owned copy), and rejects a lone
//! surrogate (`\ud83d`), which this scanner decodes as U+FFFD; a typed parse of each chunk costs
//! ten times more. Measured on a 308-byte `chat.completion.chunk` (release build, 2 M rounds on
//! the project's standard machine, three runs while it was busy with other builds): finding
//! `"content":"` and decoding its value took 55–119 ns and no allocation here, 85–178 ns and none
//! with `serde_json` reading the string, 795–1,222 ns and 2 allocations with `serde_json` parsing
//! the chunk into a typed struct; with escapes in the delta (`\"`, `\n`, `\u00e9`, 317 bytes):
//! 111–289 ns and none here, 240–507 ns and 4 allocations, 634–1,721 ns and 5 allocations. The
//! stream tap runs this on every chunk of every stream.

use memchr::memmem::Finder;

/// Appends the string value that follows the first match of `key` (a finder for `"name":"`)
/// to `out`; the index past its closing quote, `None` when there is none or it is malformed.
pub(super) fn first_string(key: &Finder<'_>, data: &[u8], out: &mut String) -> Option<usize> {
    let i = key.find(data)?;
    decode_json_str(data, i + key.needle().len(), out)
}

/// Appends the string value after every match of `key` (a finder for `"name":"`) to `out`.
pub(super) fn every_string(key: &Finder<'_>, data: &[u8], out: &mut String) {
    for i in key.find_iter(data) {
        decode_json_str(data, i + key.needle().len(), out);
    }
}

/// The raw bytes of the first string value after `key` (a finder for `"name":"`), up to the
/// next quote: for values known to have no escapes (event types).
pub(super) fn raw_string<'d>(key: &Finder<'_>, data: &'d [u8]) -> Option<&'d [u8]> {
    let s = key.find(data)? + key.needle().len();
    let e = s + memchr::memchr(b'"', &data[s..])?;
    Some(&data[s..e])
}

/// Whether `key` (a finder for the quoted key, `"name"`) is followed by a colon and an object,
/// anywhere in `data` (white space allowed around the colon).
pub(super) fn has_object(key: &Finder<'_>, data: &[u8]) -> bool {
    key.find_iter(data).any(|i| {
        let j = skip_ws(data, i + key.needle().len());
        data.get(j) == Some(&b':') && data.get(skip_ws(data, j + 1)) == Some(&b'{')
    })
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Decodes the JSON string whose contents start at `start` (just past its opening quote),
/// appending it to `out`. Returns the index past the closing quote, `None` if the string is
/// malformed or unterminated (what was decoded so far stays appended).
pub(super) fn decode_json_str(data: &[u8], start: usize, out: &mut String) -> Option<usize> {
    let mut i = start;
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', data.get(i..)?)?;
        push_utf8(out, &data[i..j]);
        if data[j] == b'"' {
            return Some(j + 1);
        }
        let c = *data.get(j + 1)?;
        i = j + 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(data.get(i..i + 4)?)?;
                i += 4;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    let lo = (data.get(i..i + 2) == Some(b"\\u"))
                        .then(|| data.get(i + 2..i + 6).and_then(hex4))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            _ => return None,
        }
    }
}

fn push_utf8(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(b)),
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() != 4 {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests;
