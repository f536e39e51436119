//! The generic JSON webhook: the alert payload as JSON, `Idempotency-Key`, optional
//! `X-Sentinel-Signature: sha256=HEX` (HMAC-SHA256 of the raw body) and extra headers.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{post, SendError, Sink};
use crate::config;
use crate::model::Alert;

pub struct WebhookSink {
    cfg: config::WebhookConfig,
    client: reqwest::Client,
}

impl WebhookSink {
    pub fn new(cfg: config::WebhookConfig, client: reqwest::Client) -> Self {
        WebhookSink { cfg, client }
    }
}

/// `sha256=HEX` of HMAC-SHA256(secret, body).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.cfg.name
    }
    fn kind(&self) -> &'static str {
        "webhook"
    }
    fn accepts(&self, stream: &str) -> bool {
        self.cfg.streams.matches(stream)
    }
    async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let body = serde_json::to_vec(alert).map_err(|e| SendError::Permanent {
            message: format!("cannot encode alert: {e}"),
        })?;
        let mut headers: Vec<(String, String)> =
            vec![("Idempotency-Key".into(), alert.idempotency_key())];
        if let Some(secret) = &self.cfg.secret {
            headers.push((
                "X-Sentinel-Signature".into(),
                signature(secret.expose().as_bytes(), &body),
            ));
        }
        for (k, v) in &self.cfg.headers {
            headers.push((k.clone(), v.expose().to_string()));
        }
        post(&self.client, &self.cfg.url, body, &headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
