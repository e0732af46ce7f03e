//! The Slack-compatible incoming webhook: `text` (title and body, for notifications and
//! clients without blocks) and `blocks` (a header with the title, a section with the body, a
//! context line with workspace, status and time). Sent and judged as webhooks are.

use serde_json::{json, Value};

use super::render::Rendered;
use super::worker::Sent;

/// Slack's limit on a header block's text.
const HEADER_MAX_CHARS: usize = 150;

/// Escapes text for Slack's `mrkdwn`: `&`, `<` and `>` (which would start a link or mention).
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn payload(r: &Rendered) -> Value {
    let header: String = r.title().chars().take(HEADER_MAX_CHARS).collect();
    json!({
        "text": format!("{}: {}", r.title(), r.body()),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(r.body())}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(&r.context_line())}]},
        ]
    })
}

pub(crate) async fn send(http: &reqwest::Client, url: &str, r: &Rendered) -> Sent {
    match serde_json::to_vec(&payload(r)) {
        Ok(body) => super::webhook::post(http, url, &[], body).await,
        Err(e) => Sent::give_up(format!("cannot encode the payload: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_escapes_what_would_start_a_link() {
        assert_eq!(mrkdwn("a <b> & c"), "a &lt;b&gt; &amp; c");
    }
}
