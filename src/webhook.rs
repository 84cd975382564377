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

/// POSTs `body` to `url`; returns the number of attempts it took.
pub fn send(
    url: &str,
    event: &str,
    body: &serde_json::Value,
    secret: Option<&[u8]>,
    delivery: &Delivery,
) -> Result<u32, WebhookError> {
    let shown = crate::store::redact_url(url);
    let bytes = serde_json::to_vec(body).expect("a webhook body serialises");
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
