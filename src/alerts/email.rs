//! Email over SMTP (`lettre`): a multipart/alternative message (plain text and escaped HTML),
//! the subject the localized title with the workspace, through `[smtp]`. A 2xx reply is
//! delivered, a 4xx retried, a 5xx given up; a connection or TLS failure is retried. The
//! password is handed to `lettre` only, never logged.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::render::Rendered;
use super::worker::{truncate, Sent, Verdict, ATTEMPT_TIMEOUT};
use super::AlertsError;
use crate::config::{SmtpConfig, SmtpTls};

/// The mail server and sender of email channels.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(c: &SmtpConfig) -> Result<Mailer, AlertsError> {
        let smtp = |e: lettre::transport::smtp::Error| AlertsError::Smtp(e.to_string());
        let builder = match c.tls {
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host).map_err(smtp)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host).map_err(smtp)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host),
        };
        let mut builder = builder.port(c.port).timeout(Some(ATTEMPT_TIMEOUT));
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        let from = c
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| AlertsError::Smtp(format!("from: {e}")))?;
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    pub(crate) async fn send(&self, to: &[String], r: &Rendered) -> Sent {
        let message = match message(self.from.clone(), to, r) {
            Ok(m) => m,
            Err(e) => return Sent::give_up(format!("cannot build the message: {e}")),
        };
        match self.transport.send(message).await {
            Ok(reply) => {
                let code = u16::from(reply.code());
                Sent {
                    verdict: if (200..300).contains(&code) {
                        Verdict::Delivered
                    } else {
                        Verdict::Retry
                    },
                    http_status: None,
                    smtp_code: Some(code),
                    detail: Some(truncate(&reply.message().collect::<Vec<_>>().join(" "))),
                }
            }
            Err(e) => Sent {
                verdict: if e.is_permanent() {
                    Verdict::GiveUp
                } else {
                    Verdict::Retry
                },
                http_status: None,
                smtp_code: e.status().map(u16::from),
                detail: Some(truncate(&e.to_string())),
            },
        }
    }
}

/// The subject: the title and the workspace (the title alone for a test alert).
fn subject(r: &Rendered) -> String {
    if r.workspace().is_empty() {
        r.words("alert-email-subject-test")
    } else {
        r.words("alert-email-subject")
    }
}

/// The plain-text body: title, body, the details, the footer.
fn text(r: &Rendered) -> String {
    let mut s = format!("{}\n\n{}\n\n", r.title(), r.body());
    for line in details(r) {
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str("\n-- \n");
    s.push_str(&r.words("alert-email-footer"));
    s.push('\n');
    s
}

/// The labelled details: workspace (if any), status, time.
fn details(r: &Rendered) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    if !r.workspace().is_empty() {
        out.push(r.words("alert-label-workspace"));
        out.push(r.words("alert-label-status"));
    }
    out.push(r.words("alert-label-time"));
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML body: the same text as [`text`], every piece escaped.
fn html(r: &Rendered) -> String {
    let items: String = details(r)
        .iter()
        .map(|d| format!("<li>{}</li>", escape(d)))
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{body}</p><ul>{items}</ul><hr><p><small>{footer}</small></p></body></html>",
        lang = r.locale.code(),
        title = escape(r.title()),
        body = escape(r.body()),
        footer = escape(&r.words("alert-email-footer")),
    )
}

fn message(from: Mailbox, to: &[String], r: &Rendered) -> Result<Message, String> {
    let mut b = Message::builder().from(from).subject(subject(r));
    for t in to {
        b = b.to(t.parse().map_err(|e| format!("to `{t}`: {e}"))?);
    }
    b.multipart(MultiPart::alternative_plain_html(text(r), html(r)))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
