//! What a call is called: its id (the caller's `X-Client-Request-Id`, else a fresh UUIDv7) and
//! its optional tags (`X-Quota-Goal`, `X-Quota-Task`, `X-Quota-Priority`), recorded in its ledger
//! row and never forwarded.
//!
//! Owns: [`request_id`], [`Tags`] and their rules (printable ASCII, at most 200 characters, three
//! priorities). Must not: take a lock or make a syscall for an id (see [`fresh_uuid_v7`]).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::AppError;
use crate::proxy::header_policy::{
    X_CLIENT_REQUEST_ID, X_QUOTA_GOAL, X_QUOTA_PRIORITY, X_QUOTA_TASK,
};
use crate::types::Priority;

/// The call's id: the caller's `X-Client-Request-Id` when it is printable ASCII of at most
/// 512 bytes (OpenAI's own rule), else a fresh UUIDv7 (time-ordered, like the ledger).
pub(super) fn request_id(h: &HeaderMap) -> HeaderValue {
    h.get(&X_CLIENT_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 512 && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(|| {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let id = fresh_uuid_v7().hyphenated().encode_lower(&mut buf);
            HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
        })
}

/// A UUIDv7 from the wall clock and the thread's own RNG. `Uuid::now_v7` would take uuid's
/// process-wide counter lock and make a `getrandom` syscall inside it on every call, which
/// under load made the request id the gateway's most contended lock. Ids minted in the same
/// millisecond are unique (74 random bits) but not ordered among themselves, which a request
/// id does not need.
fn fresh_uuid_v7() -> uuid::Uuid {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
}

/// The optional call tags, recorded and never forwarded.
#[derive(Clone, Debug, Default)]
pub(super) struct Tags {
    pub goal: Option<String>,
    pub task: Option<String>,
    pub priority: Option<Priority>,
}

impl Tags {
    pub(super) fn from_headers(h: &HeaderMap) -> Result<Tags, AppError> {
        let get = |n: &HeaderName| -> Result<Option<String>, AppError> {
            match h.get(n) {
                None => Ok(None),
                Some(v) => {
                    let s = v.to_str().map_err(|_| {
                        AppError::bad_request(format!("Header {n} must be visible ASCII."), None)
                    })?;
                    if s.len() > 200 {
                        return Err(AppError::bad_request(
                            format!("Header {n} is longer than 200 characters."),
                            None,
                        ));
                    }
                    Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
                }
            }
        };
        let priority = match get(&X_QUOTA_PRIORITY)? {
            None => None,
            Some(p) => Some(Priority::parse(&p).ok_or_else(|| {
                AppError::bad_request(
                    format!(
                        "Header X-Quota-Priority must be critical, normal or optional, not `{p}`."
                    ),
                    None,
                )
            })?),
        };
        Ok(Tags {
            goal: get(&X_QUOTA_GOAL)?,
            task: get(&X_QUOTA_TASK)?,
            priority,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_must_be_one_of_three() {
        let mut h = HeaderMap::new();
        h.insert(X_QUOTA_PRIORITY, HeaderValue::from_static("urgent"));
        assert!(Tags::from_headers(&h).is_err());
        h.insert(X_QUOTA_PRIORITY, HeaderValue::from_static("critical"));
        h.insert(X_QUOTA_GOAL, HeaderValue::from_static("onboarding"));
        let t = Tags::from_headers(&h).unwrap_or_default();
        assert_eq!(t.priority, Some(Priority::Critical));
        assert_eq!(t.goal.as_deref(), Some("onboarding"));
    }

    #[test]
    fn fresh_request_ids_are_unique_v7_uuids_of_now() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let ids: std::collections::HashSet<uuid::Uuid> =
            (0..10_000).map(|_| fresh_uuid_v7()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(50) {
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().map(|t| t.to_unix()).unwrap_or_default();
            let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
            assert!(ms >= before && ms < before + 60_000, "{ms} vs {before}");
        }
        let h = HeaderMap::new();
        assert_eq!(request_id(&h).len(), 36);
    }
}
