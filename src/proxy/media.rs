//! What a `Content-Type` announces, as far as metering cares, for the caller's request and the
//! upstream's answer alike; and a body's announced length.
//!
//! Owns: [`Media`], [`media_kind`], [`content_length`].
//! Must not: allocate: this runs on every request and every answer. (`mime::Mime` would read
//! the same, but parsing one keeps a lower-cased copy of the string: an allocation per call.)

use axum::http::{header, HeaderMap};

/// What a `Content-Type` announces, as far as metering cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    /// `application/json`, or any `application/*+json` a server may read as JSON.
    Json,
    /// `multipart/*` (uploads).
    Multipart,
    /// `text/event-stream` (a stream of usage-bearing events).
    EventStream,
    Other,
}

/// The [`Media`] of a `Content-Type`, for the caller's request and the upstream's answer
/// alike. Media types are case-insensitive and may carry parameters: `APPLICATION/JSON;
/// charset=utf-8` is JSON, `Text/Event-Stream` a stream. No allocation.
pub(super) fn media_kind(content_type: &str) -> Media {
    let essence = content_type
        .split_once(';')
        .map_or(content_type, |(e, _)| e)
        .trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return Media::Other;
    };
    if kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .len()
                .checked_sub(5)
                .and_then(|i| subtype.get(i..))
                .is_some_and(|t| t.eq_ignore_ascii_case("+json")))
    {
        Media::Json
    } else if kind.eq_ignore_ascii_case("multipart") {
        Media::Multipart
    } else if kind.eq_ignore_ascii_case("text") && subtype.eq_ignore_ascii_case("event-stream") {
        Media::EventStream
    } else {
        Media::Other
    }
}

pub(super) fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_read_case_insensitively() {
        for json in [
            "application/json",
            "APPLICATION/JSON",
            "Application/Json; charset=utf-8",
            " application/json ;charset=UTF-8",
            "application/merge-patch+json",
        ] {
            assert_eq!(media_kind(json), Media::Json, "{json}");
        }
        for multipart in [
            "multipart/form-data; boundary=x",
            "MULTIPART/Form-Data;boundary=x",
        ] {
            assert_eq!(media_kind(multipart), Media::Multipart, "{multipart}");
        }
        for stream in ["text/event-stream", "Text/Event-Stream; charset=utf-8"] {
            assert_eq!(media_kind(stream), Media::EventStream, "{stream}");
        }
        for other in [
            "application/jsonl",
            "text/plain",
            "application/json-seq",
            "json",
            "",
        ] {
            assert_eq!(media_kind(other), Media::Other, "{other}");
        }
    }
}
