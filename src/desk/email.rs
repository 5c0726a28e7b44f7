//! Sending the email outbox over SMTP (lettre: tokio, rustls). An email is its
//! template rendered with the row's placeholder values (`domain::desk::render`,
//! as canned responses are), in plain text, ending with the recipient's
//! unsubscribe link, which the `List-Unsubscribe` headers carry too (RFC 2369,
//! and RFC 8058's one-click POST).
//!
//! `Message-ID` is the outbox row's, the same on every attempt: delivery is at
//! least once (a crash between the server's 250 and our commit means one more
//! attempt), and a repeat then carries the same id.
//!
//! An SMTP server's permanent refusal (5xx) or an address that does not parse
//! is a dead letter at once; anything else (unreachable, 4xx, a timeout) is
//! retried with the outbox's backoff.

use std::time::Duration;

use anyhow::Context;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use serde_json::Value;

use crate::config::EmailConfig;
use crate::domain::desk::render;
use crate::service::email::UnsubscribeKey;
use crate::service::notifications::{Attempt, Outcome};

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `<public URL>/v1/email/unsubscribe?token=`
    unsubscribe: String,
    key: UnsubscribeKey,
}

/// A due email, as `pgchat.email_json` makes it.
#[derive(Deserialize)]
struct Due {
    id: i64,
    user_id: String,
    to: Option<String>,
    to_name: Option<String>,
    subject: String,
    body: String,
    placeholders: serde_json::Map<String, Value>,
}

impl Mailer {
    /// The mailer `config` asks for: `None` when `PGCHAT_SMTP_URL` is unset;
    /// an error naming the setting when it is set but incomplete or invalid.
    pub fn from_config(config: &EmailConfig, key: UnsubscribeKey) -> anyhow::Result<Option<Self>> {
        let Some(url) = config.smtp_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let from = config
            .email_from
            .as_deref()
            .context("PGCHAT_EMAIL_FROM must be set with PGCHAT_SMTP_URL: the sender of every email")?
            .parse::<Mailbox>()
            .context("PGCHAT_EMAIL_FROM must be an address: desk@example.com or \"Support <desk@example.com>\"")?;
        let public = config
            .public_url
            .as_deref()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .context("PGCHAT_PUBLIC_URL must be set with PGCHAT_SMTP_URL: the http(s):// address recipients reach this server at, for unsubscribe links")?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("PGCHAT_SMTP_URL must be smtp://host:port or smtps://user:pass@host:port")?
            .timeout(Some(Duration::from_secs(config.email_timeout_secs.max(1))))
            .build();
        Ok(Some(Self {
            transport,
            from,
            unsubscribe: format!(
                "{}/v1/email/unsubscribe?token=",
                public.trim_end_matches('/')
            ),
            key,
        }))
    }

    /// Sends one email; an SMTP 2xx is a delivery.
    pub async fn deliver(&self, attempt: &Attempt) -> Outcome {
        let message = match self.compose(attempt) {
            Ok(message) => message,
            Err(error) => {
                return Outcome::Rejected {
                    status: None,
                    error: format!("{error:#}"),
                }
            }
        };
        match self.transport.send(message).await {
            Ok(response) => Outcome::Delivered {
                status: response.code().into(),
            },
            Err(error) => {
                let status = error.status().map(u16::from);
                let permanent = error.is_permanent();
                let error = format!("{:#}", anyhow::Error::new(error));
                if permanent {
                    Outcome::Rejected { status, error }
                } else {
                    Outcome::Failed { status, error }
                }
            }
        }
    }

    fn compose(&self, attempt: &Attempt) -> anyhow::Result<Message> {
        let due = Due::deserialize(&attempt.body).context("reading the outbox row")?;
        let address = due
            .to
            .context("the recipient has no email address")?
            .parse()
            .context("the recipient's email address is not valid")?;
        let to = Mailbox::new(due.to_name.map(|n| one_line(&n)), address);
        let values: Vec<(&str, Option<String>)> = due
            .placeholders
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (name.as_str(), text)
            })
            .collect();
        let values: Vec<(&str, Option<&str>)> =
            values.iter().map(|(n, v)| (*n, v.as_deref())).collect();
        let link = format!("{}{}", self.unsubscribe, self.key.token(&due.user_id));
        let body = format!(
            "{}\n\n-- \nYou receive this email because email notifications are on for your account.\nUnsubscribe: {link}\n",
            render(&due.body, &values).trim_end()
        );
        let domain = self.from.email.domain().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&render(&due.subject, &values)))
            .message_id(Some(format!("<pgchat-email-{}@{domain}>", due.id)))
            .header(ContentType::TEXT_PLAIN)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{link}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            .body(body)
            .context("building the email")
    }
}

/// A header's text: no line breaks or other control characters (a customer's
/// subject is their own text), at most 200 characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::{one_line, Mailer};
    use crate::config::DeskConfig;
    use crate::service::email::UnsubscribeKey;

    // A runtime: lettre's connection pool starts its task when built.
    #[tokio::test]
    async fn every_documented_url_form_makes_a_mailer_and_no_url_makes_none() {
        let key = || UnsubscribeKey::for_tests();
        let mut config = DeskConfig::default().email;
        assert!(Mailer::from_config(&config, key()).unwrap().is_none());
        config.email_from = Some("Support <desk@example.com>".into());
        config.public_url = Some("https://chat.example.com/".into());
        for url in [
            "smtp://127.0.0.1:1025",
            "smtp://mail.example.com:587?tls=required",
            "smtps://user:p%40ss@mail.example.com:465",
        ] {
            config.smtp_url = Some(url.into());
            let mailer = Mailer::from_config(&config, key()).unwrap().unwrap();
            assert_eq!(
                mailer.unsubscribe,
                "https://chat.example.com/v1/email/unsubscribe?token="
            );
        }
    }

    #[test]
    fn header_text_is_one_bounded_line() {
        assert_eq!(one_line(" Refund\r\nBcc: x@y.z\t"), "Refund  Bcc: x@y.z");
        assert_eq!(one_line(&"é".repeat(300)).chars().count(), 200);
    }
}
