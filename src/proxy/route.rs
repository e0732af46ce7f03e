//! Where a call goes: the path after `/v1/`, refused when it could leave the upstream's base
//! path, and its family.
//!
//! Owns: the path check ([`is_unsafe_path`]), the family and kind of a path, the path an
//! [`OTHER_FAMILY`] call keeps in its ledger row.
//! Must not: allocate (but for the kept path of an `other` call), or look at anything but the
//! path.

use std::sync::Arc;

use crate::error::AppError;
use crate::proxy::family::{self, FamilyKind, OTHER_FAMILY};

/// A request path, checked and named.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route<'a> {
    /// The path after `/v1/` (or `/v1`), without leading slashes.
    pub rest: &'a str,
    pub family: &'static str,
    pub kind: FamilyKind,
}

impl<'a> Route<'a> {
    /// The route of a request path; an unsafe path ([`is_unsafe_path`]) is refused.
    pub(super) fn of(path: &'a str) -> Result<Route<'a>, AppError> {
        if is_unsafe_path(path) {
            return Err(AppError::InvalidPath);
        }
        let rest = path
            .strip_prefix("/v1/")
            .or_else(|| path.strip_prefix("/v1"))
            .unwrap_or(path)
            .trim_start_matches('/');
        let family = family::family(rest);
        Ok(Route {
            rest,
            family,
            kind: family::family_kind(family),
        })
    }

    /// The path of an [`OTHER_FAMILY`] call, cut to [`MAX_OTHER_PATH`] bytes (kept in its
    /// ledger row only); `None` for a known family.
    pub(super) fn other_path(&self) -> Option<Arc<str>> {
        (self.family == OTHER_FAMILY).then(|| {
            let rest = self.rest;
            let mut end = rest.len().min(MAX_OTHER_PATH);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            Arc::from(&rest[..end])
        })
    }
}

/// The most of an `other` call's path its ledger row keeps.
const MAX_OTHER_PATH: usize = 512;

/// Whether a request path could leave the upstream's base path once a server or reverse
/// proxy on the way normalises it: a segment that is `.` or `..` as written or once
/// percent-decoded (`%2e`, any case; the part before a `;` counts, as some servers drop path
/// parameters), an encoded `/`, `\` or `%` (`%2f`, `%5c`, `%25`: a second decoding could make
/// one of the above), or a raw `\`. Such a path is refused, never forwarded. Most paths hold
/// none of `.`, `%` and `\`, so one byte scan decides them; nothing is allocated.
fn is_unsafe_path(path: &str) -> bool {
    let b = path.as_bytes();
    if !b.iter().any(|c| matches!(c, b'.' | b'%' | b'\\')) {
        return false;
    }
    if b.contains(&b'\\') {
        return true;
    }
    for seg in b.split(|c| *c == b'/') {
        // The decoded segment's dots, whether anything else is in it before a `;`.
        let (mut dots, mut other, mut params) = (0usize, false, false);
        let mut i = 0;
        while i < seg.len() {
            let mut c = seg[i];
            i += 1;
            if c == b'%' {
                let hex = |k: usize| seg.get(k).and_then(|h| (*h as char).to_digit(16));
                if let (Some(hi), Some(lo)) = (hex(i), hex(i + 1)) {
                    c = (hi * 16 + lo) as u8;
                    i += 2;
                    if matches!(c, b'/' | b'\\' | b'%') {
                        return true;
                    }
                }
            }
            if params {
                continue;
            }
            match c {
                b'.' => dots += 1,
                b';' => params = true,
                _ => other = true,
            }
        }
        if !other && (dots == 1 || dots == 2) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_encoded_separators_are_unsafe() {
        for p in [
            "/v1/../../internal/secret",
            "/v1/..",
            "/v1/./models",
            "/v1/%2e%2e/x",
            "/v1/%2E%2e/x",
            "/v1/.%2E/x",
            "/v1/%2e/x",
            "/v1/..;/x",
            "/v1/.;x/y",
            "/v1/a%2fb",
            "/v1/a%2Fb",
            "/v1/a%5cb",
            "/v1/a%252e%252e",
            "/v1/a\\..\\b",
            "/v1/files\\x",
        ] {
            assert!(is_unsafe_path(p), "{p} passed");
        }
        for p in [
            "/v1/chat/completions",
            "/v1",
            "/v1/models/gpt-3.5-turbo",
            "/v1/models/ft:gpt-4o-mini:acme::abc.def",
            "/v1/files/...",
            "/v1/files/.x",
            "/v1/files/x..",
            "/v1/models/gpt-3%2E5-turbo",
            "/v1/a%2",
            "/v1/a%zz",
            "/v1/threads/thread_1/runs",
        ] {
            assert!(!is_unsafe_path(p), "{p} refused");
        }
    }
}
