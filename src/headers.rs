//! Reading credentials out of request headers: the bearer token and named cookies.
//!
//! Owns: parsing only. Must not: decide what a credential is worth (the registry and the API
//! do) or log values.

use axum::http::{header, HeaderMap};

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive), if any.
pub fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| app::tr::cookie_value(v, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_is_parsed_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn cookies_are_found_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; qs_lang=it"));
        h.append(header::COOKIE, HeaderValue::from_static("qs_session=xyz"));
        assert_eq!(cookie(&h, "qs_lang"), Some("it"));
        assert_eq!(cookie(&h, "qs_session"), Some("xyz"));
        assert_eq!(cookie(&h, "nope"), None);
    }
}
