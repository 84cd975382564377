//! The deploy notification: after a publish or rollback commits, a JSON POST to the environment's
//! webhook, signed with HMAC-SHA256 over the exact body (`X-Promptctl-Signature: sha256=<hex>`, the
//! scheme GitHub's webhooks use), retried on connection errors and 5xx with backoff.

use hmac::{KeyInit, Mac};
use std::time::Duration;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Promptctl-Signature";
/// The header that names the event (`publish` or `rollback`).
pub const EVENT_HEADER: &str = "X-Promptctl-Event";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook `{url}` failed after {attempts} attempts: {message}")]
    Failed { url: String, attempts: u32, message: String },
    #[error("webhook `{url}` refused the notification: HTTP {status}")]
    Refused { url: String, status: u16 },
    #[error("the webhook secret variable `{variable}` is not set; set it, or remove `secret_env`")]
    MissingSecret { variable: String },
}

/// `sha256=<hex>` of the body under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How many times and how patiently to deliver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Delivery {
        Delivery {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A webhook URL as it may be printed: scheme, user (without password), host and port; the path
/// and the query are replaced by `***` (a Slack or Teams hook carries its secret in its path, many
/// others in `?token=`).
pub fn redact_url(url: &str) -> String {
    let redacted = crate::store::redact_url(url);
    let Some(scheme_end) = redacted.find("://") else { return "***".to_string() };
    let rest = scheme_end + 3;
    match redacted[rest..].find(['/', '?', '#']) {
        Some(index) => format!("{}/***", &redacted[..rest + index]),
        None => redacted,
    }
}

/// POSTs `body` to `url`; returns the number of attempts it took.
pub fn send(
    url: &str,
    event: &str,
    body: &serde_json::Value,
    secret: Option<&[u8]>,
    delivery: &Delivery,
) -> Result<u32, WebhookError> {
    let shown = redact_url(url);
    let bytes = serde_json::to_vec(body).expect("a webhook body serialises");
    crate::tls::install_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(delivery.timeout)
        .user_agent(concat!("promptctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| WebhookError::Failed {
            url: shown.clone(),
            attempts: 0,
            message: error.to_string(),
        })?;
    let mut backoff = delivery.first_backoff;
    let mut last = String::new();
    for attempt in 1..=delivery.attempts.max(1) {
        let mut request = client
            .post(url)
            .header("Content-Type", "application/json")
            .header(EVENT_HEADER, event)
            .body(bytes.clone());
        if let Some(secret) = secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &bytes));
        }
        match request.send() {
            Ok(response) if response.status().is_success() => return Ok(attempt),
            Ok(response)
                if response.status().is_server_error() || response.status().as_u16() == 429 =>
            {
                last = format!("HTTP {}", response.status().as_u16());
            }
            Ok(response) => {
                return Err(WebhookError::Refused {
                    url: shown,
                    status: response.status().as_u16(),
                })
            }
            Err(error) => last = error.without_url().to_string(),
        }
        if attempt < delivery.attempts {
            std::thread::sleep(backoff);
            backoff *= 2;
        }
    }
    Err(WebhookError::Failed { url: shown, attempts: delivery.attempts.max(1), message: last })
}

#[cfg(test)]
mod redaction {
    use super::redact_url;

    #[test]
    fn paths_queries_and_passwords_are_hidden() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/***"
        );
        assert_eq!(redact_url("https://example.com/hook?token=SECRET"), "https://example.com/***");
        assert_eq!(redact_url("https://example.com?token=SECRET"), "https://example.com/***");
        assert_eq!(
            redact_url("http://user:pw@127.0.0.1:8080/x"),
            "http://user:***@127.0.0.1:8080/***"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(redact_url("not a url with SECRET"), "***");
    }
}
