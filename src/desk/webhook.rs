//! Delivery of offline notifications to the configured webhook: one POST per
//! notification, signed with HMAC-SHA256 when a secret is set.
//!
//! Headers of every delivery:
//! - `X-Pgchat-Delivery`: the notification's id — the same on every retry, so
//!   a receiver can drop a repeat (delivery is at least once: a crash between
//!   the receiver's 2xx and our commit means one more attempt);
//! - `X-Pgchat-Event`: `message`;
//! - `X-Pgchat-Timestamp`: seconds since the epoch when this attempt was signed;
//! - `X-Pgchat-Signature`: `v1=<hex>`, the HMAC-SHA256 with the secret of
//!   `"<timestamp>.<body>"` (a receiver recomputes it and rejects old timestamps).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::service::notifications::{Attempt, Outcome};

pub struct Webhook {
    url: String,
    secret: Option<String>,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(url: String, secret: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("pgchat/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            url,
            secret,
            client,
        })
    }

    /// POSTs one notification; any 2xx is a delivery.
    pub async fn deliver(&self, attempt: &Attempt) -> Outcome {
        let body = attempt.body.to_string();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Pgchat-Delivery", attempt.id.to_string())
            .header("X-Pgchat-Event", "message")
            .header("X-Pgchat-Timestamp", &timestamp);
        if let Some(secret) = &self.secret {
            request = request.header(
                "X-Pgchat-Signature",
                format!("v1={}", sign(secret, &timestamp, &body)),
            );
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => Outcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => Outcome::Failed {
                status: Some(response.status().as_u16()),
                error: format!("webhook answered {}", response.status()),
            },
            Err(error) => Outcome::Failed {
                status: None,
                error: format!("{error:#}"),
            },
        }
    }
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` with `secret`.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Checked against Python: hmac.new(b"whsec", b'1700000000.{"a":1}', sha256).hexdigest()
        assert_eq!(
            sign("whsec", "1700000000", r#"{"a":1}"#),
            "8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
    }
}
