//! The lifecycle of audit risks: a risk found opens (one `warning` alert of kind `risk`), stays
//! open while the audit finds it, and resolves (one resolved alert) when a rule that could be
//! evaluated no longer finds it. Never an incident. Pure: the audit passes what it found.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{Outcome, Risk};
use crate::model::{
    Alert, AlertKind, AlertReason, AlertStatus, Finding, Health, RootCause, Severity, Status,
    StreamRef, ALERT_SCHEMA,
};

/// A risk open on a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRisk {
    /// The alerts' incident id (`risk-…`, from the stream ARN, the rule and `since`).
    pub id: String,
    pub stream: StreamRef,
    pub risk: Risk,
    pub since: DateTime<Utc>,
    /// The last sequence number used (1: the firing alert).
    pub seq: u32,
}

/// The id of a risk first found in the audit period that began at `tick` (the latest tick of
/// `schedule.audit`): the same for every replica on that schedule, whenever each one ran,
/// never from the clock or a random source.
pub fn risk_id(arn: &str, rule: &str, tick: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(arn.as_bytes());
    h.update([0]);
    h.update(rule.as_bytes());
    h.update(tick.timestamp().to_be_bytes());
    format!("risk-{}", &hex::encode(h.finalize())[..16])
}

/// The alert of `open` with `status` at `now`.
pub fn alert(open: &OpenRisk, status: AlertStatus, health: Health, now: DateTime<Utc>) -> Alert {
    let firing = status == AlertStatus::Firing;
    let r = &open.risk;
    Alert {
        schema: ALERT_SCHEMA.into(),
        status,
        incident_id: open.id.clone(),
        sequence: if firing { 1 } else { open.seq + 1 },
        stream: open.stream.name.clone(),
        arn: open.stream.arn.clone(),
        account: open.stream.account.clone(),
        region: open.stream.region.clone(),
        health,
        started_at: open.since,
        resolved_at: if firing { None } else { Some(now) },
        summary: if firing {
            format!("{}: risk {}: {}", open.stream.label(), r.id, r.summary)
        } else {
            format!("{}: risk {} is gone", open.stream.label(), r.id)
        },
        root_cause: Some(RootCause {
            check: r.id.clone(),
            summary: r.summary.clone(),
            remediation: r.remediation.clone(),
        }),
        findings: if firing {
            vec![Finding {
                check: r.id.clone(),
                status: Status::Warn,
                summary: r.summary.clone(),
                evidence: r.evidence.clone(),
                remediation: r.remediation.clone(),
            }]
        } else {
            Vec::new()
        },
        metrics: BTreeMap::new(),
        test: false,
        severity: Severity::Warning,
        kind: AlertKind::Risk,
        reason: if firing {
            AlertReason::Opened
        } else {
            AlertReason::Resolved
        },
        previous_root_cause: None,
        previous_severity: None,
        changes: Vec::new(),
        changes_error: None,
        risk: Some(r.id.clone()),
        created_at: now,
    }
}

/// One stream's open risks after an audit (at `now`, in the audit period that began at
/// `tick`) that concluded `outcomes`, and the alerts to send.
pub fn step(
    open: &BTreeMap<String, OpenRisk>,
    stream: &StreamRef,
    outcomes: &[(&'static str, Outcome)],
    health: Health,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (BTreeMap<String, OpenRisk>, Vec<Alert>) {
    let mut next = open.clone();
    let mut alerts = Vec::new();
    for (rule, outcome) in outcomes {
        match (outcome, next.get_mut(*rule)) {
            (Outcome::Found(risk), None) => {
                let o = OpenRisk {
                    id: risk_id(&stream.arn, rule, tick),
                    stream: stream.clone(),
                    risk: risk.clone(),
                    since: now,
                    seq: 1,
                };
                alerts.push(alert(&o, AlertStatus::Firing, health, now));
                next.insert(rule.to_string(), o);
            }
            // Still there: the evidence is refreshed, nothing is sent.
            (Outcome::Found(risk), Some(o)) => o.risk = risk.clone(),
            (Outcome::Clear, Some(o)) => {
                alerts.push(alert(o, AlertStatus::Resolved, health, now));
                next.remove(*rule);
            }
            (Outcome::Clear, None) | (Outcome::Unknown(_), _) => {}
        }
    }
    (next, alerts)
}

/// The resolved alerts of every risk of a stream that is no longer watched.
pub fn gone(open: &BTreeMap<String, OpenRisk>, now: DateTime<Utc>) -> Vec<Alert> {
    open.values()
        .map(|o| alert(o, AlertStatus::Resolved, Health::Unknown, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn risk() -> Outcome {
        Outcome::Found(Risk {
            id: crate::audit::KMS_PENDING_DELETION.into(),
            summary: "key scheduled for deletion in 7 days".into(),
            evidence: serde_json::Value::Null,
            remediation: "cancel it".into(),
        })
    }

    #[test]
    fn replicas_auditing_at_different_times_of_one_period_agree_on_the_id() {
        let s = StreamRef::new("orders", "1", "us-east-1");
        let rule = crate::audit::KMS_PENDING_DELETION;
        let (_, a) = step(
            &BTreeMap::new(),
            &s,
            &[(rule, risk())],
            Health::Healthy,
            t(0),
            t(37),
        );
        let (_, b) = step(
            &BTreeMap::new(),
            &s,
            &[(rule, risk())],
            Health::Healthy,
            t(0),
            t(70),
        );
        assert_eq!(a[0].idempotency_key(), b[0].idempotency_key());
    }

    #[test]
    fn a_risk_fires_once_stays_quiet_and_resolves_once() {
        let s = StreamRef::new("orders", "1", "us-east-1");
        let rule = crate::audit::KMS_PENDING_DELETION;
        let (open, a) = step(
            &BTreeMap::new(),
            &s,
            &[(rule, risk())],
            Health::Healthy,
            t(0),
            t(0),
        );
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].kind, a[0].severity, a[0].status, a[0].sequence),
            (AlertKind::Risk, Severity::Warning, AlertStatus::Firing, 1)
        );
        assert_eq!(a[0].risk.as_deref(), Some(rule));
        let (open, a) = step(
            &open,
            &s,
            &[(rule, risk())],
            Health::Healthy,
            t(360),
            t(360),
        );
        assert!(a.is_empty(), "still there: nothing new");
        let (same, a) = step(
            &open,
            &s,
            &[(rule, Outcome::Unknown("throttled".into()))],
            Health::Healthy,
            t(720),
            t(720),
        );
        assert!(a.is_empty() && same == open, "unknown keeps it open");
        let (open2, a) = step(
            &open,
            &s,
            &[(rule, Outcome::Clear)],
            Health::Healthy,
            t(1080),
            t(1080),
        );
        assert!(open2.is_empty());
        assert_eq!(
            (a[0].status, a[0].sequence, a[0].incident_id.clone()),
            (AlertStatus::Resolved, 2, open[rule].id.clone())
        );
    }
}
