//! PagerDuty Events API v2: `trigger` for firing alerts and `resolve` for resolved ones, with
//! `dedup_key` = incident id and the findings in `custom_details`.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{post, SendError, Sink};
use crate::config;
use crate::model::Alert;
use crate::model::Status;
use crate::secret::Secret;

pub struct PagerDutySink {
    cfg: config::PagerDutyConfig,
    client: reqwest::Client,
}

impl PagerDutySink {
    pub fn new(cfg: config::PagerDutyConfig, client: reqwest::Client) -> Self {
        PagerDutySink { cfg, client }
    }
}

/// The event for `alert`. The routing key is a secret: it is put in by `send` only.
pub fn event(alert: &Alert, routing_key: &str) -> Value {
    if !alert.is_firing() {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.incident_id});
    }
    let findings: Vec<Value> = alert
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Warn | Status::Error))
        .map(|f| json!({"check": f.check, "status": f.status, "summary": f.summary, "remediation": f.remediation}))
        .collect();
    let summary: String = alert.summary.chars().take(1024).collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.incident_id,
        "client": "firehose-sentinel",
        "payload": {
            "summary": summary,
            "source": if alert.arn.is_empty() { &alert.stream } else { &alert.arn },
            "severity": if alert.test { "info" } else { alert.severity.as_str() },
            "timestamp": alert.created_at,
            "component": alert.stream,
            "group": format!("{}/{}", alert.account, alert.region),
            "class": alert.root_cause.as_ref().map(|r| r.check.as_str()).unwrap_or("unknown"),
            "custom_details": {
                "root_cause": alert.root_cause,
                "health": alert.health,
                "started_at": alert.started_at,
                "findings": findings,
                "test": alert.test,
            }
        }
    })
}

#[async_trait]
impl Sink for PagerDutySink {
    fn name(&self) -> &str {
        &self.cfg.name
    }
    fn kind(&self) -> &'static str {
        "pagerduty"
    }
    fn keeps_state(&self) -> bool {
        true
    }
    fn accepts(&self, stream: &str) -> bool {
        self.cfg.streams.matches(stream)
    }
    async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let body =
            serde_json::to_vec(&event(alert, self.cfg.routing_key.expose())).map_err(|e| {
                SendError::Permanent {
                    message: format!("cannot encode event: {e}"),
                }
            })?;
        post(&self.client, &Secret::new(self.cfg.url.clone()), body, &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_and_resolve() {
        let mut a = crate::plan::alerts::test_alert(chrono::Utc::now());
        a.incident_id = "inc-9".into();
        let e = event(&a, "KEY");
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], "inc-9");
        assert_eq!(e["payload"]["severity"], "info");
        a.status = crate::model::AlertStatus::Resolved;
        let e = event(&a, "KEY");
        assert_eq!(
            e,
            json!({"routing_key": "KEY", "event_action": "resolve", "dedup_key": "inc-9"})
        );
    }
}
