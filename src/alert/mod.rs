//! Alerts: the payload every sink gets, the [`Sink`] trait, and the sinks built from config.
//!
//! A sink only formats and sends one alert; retries, ordering and persistence belong to
//! [`outbox`]. Sink errors never contain a secret (URLs are stripped from HTTP errors).

pub mod alertmanager;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::model::Alert;
use crate::secret::Secret;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SendError {
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{message}")]
    Permanent { message: String },
}

/// A destination for alerts.
#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    /// `webhook`, `slack`, ...
    fn kind(&self) -> &'static str;
    fn accepts(&self, stream: &str) -> bool;
    /// The receiver keeps alerts open until resolved (PagerDuty incidents, Alertmanager
    /// alerts): `test-alert` resolves its test at once there.
    fn keeps_state(&self) -> bool {
        false
    }
    async fn send(&self, alert: &Alert) -> Result<(), SendError>;
}

/// POST `body` to `url` and classify the answer: 2xx ok; 3xx (never followed), 408, 429 and
/// 5xx retryable (with `Retry-After`); other 4xx permanent; network errors retryable. The URL never appears in the
/// error: it is a secret.
pub async fn post(
    client: &reqwest::Client,
    url: &Secret,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> Result<(), SendError> {
    let mut req = client
        .post(url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let e = e.without_url();
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            return Err(SendError::Retryable {
                message: format!("{kind}: {}", error_chain(&e)),
                retry_after: None,
            });
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let code = status.as_u16();
    if status.is_redirection() {
        // Retried (a maintenance redirect passes), never followed; the target is not quoted.
        return Err(SendError::Retryable {
            message: format!(
                "HTTP {code} redirect: redirects are not followed (is the URL right, or behind a login?)"
            ),
            retry_after,
        });
    }
    let message = format!("HTTP {}: {}", status.as_u16(), text.trim());
    if code == 408 || code == 429 || status.is_server_error() {
        Err(SendError::Retryable {
            message,
            retry_after,
        })
    } else {
        Err(SendError::Permanent { message })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(s) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let d = when.with_timezone(&Utc) - Utc::now();
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

/// The HTTP client every sink shares.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        // A redirect is never delivery: a 302 to a login page answering 200 would count a lost
        // alert as sent, and a 307 would send its body and signature to another host.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("firehose-sentinel/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// The sinks of the configuration: all of them (for the outbox), and the Alertmanager ones
/// again (for the periodic re-send of open incidents).
pub struct Sinks {
    pub all: Vec<Arc<dyn Sink>>,
    pub alertmanagers: Vec<Arc<alertmanager::AlertmanagerSink>>,
}

/// Every sink of the configuration.
pub fn build(settings: &Settings) -> Sinks {
    let client = http_client(settings.delivery.timeout);
    let mut all: Vec<Arc<dyn Sink>> = Vec::new();
    for w in &settings.alerts.webhook {
        all.push(Arc::new(webhook::WebhookSink::new(
            w.clone(),
            client.clone(),
        )));
    }
    for s in &settings.alerts.slack {
        all.push(Arc::new(slack::SlackSink::new(s.clone(), client.clone())));
    }
    let mut alertmanagers = Vec::new();
    for a in &settings.alerts.alertmanager {
        let sink = Arc::new(alertmanager::AlertmanagerSink::new(
            a.clone(),
            client.clone(),
        ));
        alertmanagers.push(sink.clone());
        all.push(sink);
    }
    for p in &settings.alerts.pagerduty {
        all.push(Arc::new(pagerduty::PagerDutySink::new(
            p.clone(),
            client.clone(),
        )));
    }
    Sinks { all, alertmanagers }
}

/// Every sink of the configuration, as trait objects.
pub fn build_sinks(settings: &Settings) -> Vec<Arc<dyn Sink>> {
    build(settings).all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn idempotency_key_is_incident_and_sequence() {
        let mut a = crate::plan::alerts::test_alert(Utc::now());
        a.incident_id = "inc-1".into();
        a.sequence = 3;
        assert_eq!(a.idempotency_key(), "inc-1:3");
        assert!(a.test && a.summary.starts_with("TEST"));
    }
}
