//! Alertmanager: `POST /api/v2/alerts` to every configured URL. Firing alerts carry
//! `endsAt = now + 4 x resend_every` and are re-sent every `resend_every` while the incident is
//! open (see [`resend_loop`]), as Alertmanager expects; resolved alerts carry `endsAt = now`.
//! Identical labels let Alertmanager deduplicate several sentinels (high availability).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{post, SendError, Sink};
use crate::config;
use crate::model::{Alert, AlertReason, Severity, Status};
use crate::secret::Secret;
use crate::telemetry::metrics::Metrics;

pub const ALERTNAME: &str = "FirehoseDeliveryFailing";
/// The alert name of audit risks (`kind: "risk"`).
pub const RISK_ALERTNAME: &str = "FirehoseDeliveryRisk";

pub struct AlertmanagerSink {
    cfg: config::AlertmanagerConfig,
    client: reqwest::Client,
}

impl AlertmanagerSink {
    pub fn new(cfg: config::AlertmanagerConfig, client: reqwest::Client) -> Self {
        AlertmanagerSink { cfg, client }
    }

    pub fn resend_every(&self) -> Duration {
        self.cfg.resend_every
    }
}

fn labels(alert: &Alert, root_cause: &str, severity: Severity) -> Value {
    // Severity is the incident's, not the health's: a resolved alert must carry the labels of
    // its firing alert, or Alertmanager would see two different alerts.
    let mut labels = json!({
        "alertname": if alert.kind == crate::model::AlertKind::Risk { RISK_ALERTNAME } else { ALERTNAME },
        "stream": alert.stream,
        "region": alert.region,
        "account": alert.account,
        "root_cause": root_cause,
        "severity": if alert.test { "info" } else { severity.as_str() },
    });
    if alert.test {
        labels["test"] = json!("true");
    }
    labels
}

/// The `/api/v2/alerts` body for `alert` at `now`. After a root-cause change, the label set
/// of the previous root cause is resolved in the same request.
pub fn payload(alert: &Alert, resend_every: Duration, now: DateTime<Utc>) -> Value {
    let firing = alert.is_firing();
    let ends = if firing {
        now + chrono::Duration::from_std(resend_every * 4).unwrap_or_default()
    } else {
        alert.resolved_at.unwrap_or(now)
    };
    let root = alert
        .root_cause
        .as_ref()
        .map(|r| r.check.as_str())
        .unwrap_or("unknown");
    let failed: Vec<String> = alert
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| format!("{}: {}", f.check, f.summary))
        .collect();
    let annotations = json!({
        "summary": alert.summary,
        "description": if failed.is_empty() { alert.summary.clone() } else { failed.join("\n") },
        "remediation": alert.root_cause.as_ref().map(|r| r.remediation.as_str()).unwrap_or(""),
        "incident_id": alert.incident_id,
        "arn": alert.arn,
    });
    let mut out = vec![json!({
        "labels": labels(alert, root, alert.severity),
        "annotations": annotations,
        "startsAt": alert.started_at,
        "endsAt": ends,
    })];
    // The label set the incident was sent with before ends now: its previous root cause, or
    // its `warning` severity before it escalated.
    let previous_root = match alert.reason {
        AlertReason::RootCauseChanged => alert.previous_root_cause.as_deref().unwrap_or("unknown"),
        _ => root,
    };
    let previous_severity = alert.previous_severity.unwrap_or(alert.severity);
    let previous = (previous_root != root || previous_severity != alert.severity)
        .then_some((previous_root, previous_severity));
    if let Some((previous, severity)) = previous {
        out.push(json!({
            "labels": labels(alert, previous, severity),
            "annotations": annotations,
            "startsAt": alert.started_at,
            "endsAt": now,
        }));
    }
    Value::Array(out)
}

#[async_trait]
impl Sink for AlertmanagerSink {
    fn name(&self) -> &str {
        &self.cfg.name
    }
    fn kind(&self) -> &'static str {
        "alertmanager"
    }
    fn keeps_state(&self) -> bool {
        true
    }
    fn accepts(&self, stream: &str) -> bool {
        self.cfg.streams.matches(stream)
    }
    /// Accepted when at least one Alertmanager took it (a cluster gossips it to the others).
    async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let body = serde_json::to_vec(&payload(alert, self.cfg.resend_every, Utc::now())).map_err(
            |e| SendError::Permanent {
                message: format!("cannot encode alert: {e}"),
            },
        )?;
        let mut errors = Vec::new();
        let mut permanent = true;
        for url in &self.cfg.urls {
            let target = Secret::new(format!("{url}/api/v2/alerts"));
            match post(&self.client, &target, body.clone(), &[]).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    permanent &= matches!(e, SendError::Permanent { .. });
                    errors.push(format!("{}: {e}", crate::config::redact_url(url)));
                }
            }
        }
        let message = errors.join("; ");
        if permanent {
            Err(SendError::Permanent { message })
        } else {
            Err(SendError::Retryable {
                message,
                retry_after: None,
            })
        }
    }
}

/// What the re-send loop reads of the open incidents, without holding the state: their firing
/// alerts, and whether an incident is still open right before its alert is re-sent (it may
/// have been resolved while the loop was sending others).
#[derive(Clone)]
pub struct OpenIncidents {
    pub firing: Arc<dyn Fn() -> Vec<Alert> + Send + Sync>,
    pub is_open: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

/// One round of re-sends: every open incident's firing alert to every Alertmanager sink that
/// takes its stream. Returns how many were sent.
pub async fn resend_once(
    open: &OpenIncidents,
    sinks: &[Arc<AlertmanagerSink>],
    metrics: &Metrics,
) -> usize {
    let mut sent = 0;
    for alert in (open.firing)() {
        for sink in sinks.iter().filter(|s| s.accepts(&alert.stream)) {
            // A resolved incident re-sent as firing would re-open it in Alertmanager.
            if !(open.is_open)(&alert.incident_id) {
                break;
            }
            match sink.send(&alert).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    metrics
                        .alert_delivery_failures_total
                        .with_label_values(&[sink.name()])
                        .inc();
                    tracing::warn!(sink = sink.name(), stream = %alert.stream, error = %e, "alertmanager re-send failed");
                }
            }
        }
    }
    sent
}

/// Re-send the firing alert of every open incident to every Alertmanager sink, each
/// `resend_every`, until `shutdown`.
pub async fn resend_loop(
    open: OpenIncidents,
    sinks: Vec<Arc<AlertmanagerSink>>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let Some(every) = sinks.iter().map(|s| s.resend_every()).min() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        tokio::select! {
            _ = resend_once(&open, &sinks, &metrics) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertStatus, Health, RootCause};
    use crate::plan::alerts::test_alert;

    #[test]
    fn labels_and_ends_at() {
        let now = Utc::now();
        let mut a = test_alert(now);
        a.test = false;
        a.root_cause = Some(RootCause {
            check: "s3.bucket".into(),
            summary: "gone".into(),
            remediation: "create it".into(),
        });
        let p = payload(&a, Duration::from_secs(60), now);
        let l = &p[0]["labels"];
        assert_eq!(l["alertname"], ALERTNAME);
        assert_eq!(l["root_cause"], "s3.bucket");
        assert_eq!(l["severity"], "critical");
        assert!(l.get("test").is_none());
        assert_eq!(p[0]["annotations"]["remediation"], "create it");
        let ends: DateTime<Utc> = serde_json::from_value(p[0]["endsAt"].clone()).unwrap();
        assert_eq!((ends - now).num_seconds(), 240);
        let firing_labels = p[0]["labels"].clone();
        a.status = AlertStatus::Resolved;
        a.health = Health::Healthy;
        a.resolved_at = Some(now);
        let p = payload(&a, Duration::from_secs(60), now);
        let ends: DateTime<Utc> = serde_json::from_value(p[0]["endsAt"].clone()).unwrap();
        assert_eq!(ends, now);
        assert_eq!(
            p[0]["labels"], firing_labels,
            "resolved must match its firing alert"
        );
    }

    #[test]
    fn a_root_cause_change_resolves_the_old_label_set() {
        let now = Utc::now();
        let mut a = test_alert(now);
        a.test = false;
        a.reason = AlertReason::RootCauseChanged;
        a.previous_root_cause = Some("s3.bucket".into());
        a.root_cause = Some(RootCause {
            check: "kms.key".into(),
            summary: String::new(),
            remediation: String::new(),
        });
        let p = payload(&a, Duration::from_secs(60), now);
        assert_eq!(p.as_array().unwrap().len(), 2);
        assert_eq!(p[0]["labels"]["root_cause"], "kms.key");
        assert_eq!(p[1]["labels"]["root_cause"], "s3.bucket");
        assert_eq!(
            serde_json::from_value::<DateTime<Utc>>(p[1]["endsAt"].clone()).unwrap(),
            now
        );
    }

    #[test]
    fn an_escalation_ends_the_warning_label_set() {
        let now = Utc::now();
        let mut a = test_alert(now);
        a.test = false;
        a.severity = Severity::Critical;
        a.previous_severity = Some(Severity::Warning);
        a.reason = AlertReason::Escalated;
        let p = payload(&a, Duration::from_secs(60), now);
        assert_eq!(p.as_array().unwrap().len(), 2);
        assert_eq!(p[0]["labels"]["severity"], "critical");
        assert_eq!(p[1]["labels"]["severity"], "warning");
        assert_eq!(p[1]["labels"]["root_cause"], p[0]["labels"]["root_cause"]);
        assert_eq!(
            serde_json::from_value::<DateTime<Utc>>(p[1]["endsAt"].clone()).unwrap(),
            now
        );
        a.severity = Severity::Warning;
        a.previous_severity = None;
        a.reason = AlertReason::Opened;
        let p = payload(&a, Duration::from_secs(60), now);
        assert_eq!(p.as_array().unwrap().len(), 1);
        assert_eq!(p[0]["labels"]["severity"], "warning");
    }
}
