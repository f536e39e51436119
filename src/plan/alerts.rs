//! The one alert builder: every alert the sentinel sends is made here, from an incident and
//! what the cycle knows (the lifecycle's [`Emit`], a stream that is gone, or `test-alert`).
//!
//! Pure: time is passed in. Sinks only format what is built here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::StreamRef;

use super::incident::{Emit, Incident};
use crate::aws::StreamDescription;
use crate::detect::Assessment;
use crate::diagnose::Diagnosis;
use crate::model::{
    Alert, AlertKind, AlertReason, AlertStatus, Finding, FiringSnapshot, Health, RootCause,
    Severity, StreamMetrics, ALERT_SCHEMA,
};

/// What a cycle knows of one stream, for its alerts.
pub struct StreamFacts<'a> {
    pub stream: &'a StreamRef,
    pub description: Option<&'a StreamDescription>,
    pub assessment: &'a Assessment,
    pub metrics: Option<&'a StreamMetrics>,
    /// The newest diagnosis of the stream (empty when there is none).
    pub diagnosis: &'a Diagnosis,
}

/// What the incident was last sent with, before this cycle: its root cause (named by a
/// `root_cause_changed` alert) and its last firing alert (its severity is named by an
/// `escalated` alert).
pub struct Previous<'a> {
    pub root_cause: Option<String>,
    pub firing: Option<&'a FiringSnapshot>,
}

/// The alert for one emit of the incident lifecycle.
pub fn for_emit(
    inc: &Incident,
    e: &Emit,
    facts: &StreamFacts<'_>,
    previous: &Previous<'_>,
    now: DateTime<Utc>,
) -> Alert {
    let firing = e.status == AlertStatus::Firing;
    let label = facts.stream.label();
    let name = label.as_str();
    let d = facts.diagnosis;
    let diagnosed = d.root_finding().map(|f| RootCause {
        check: f.check.clone(),
        summary: f.summary.clone(),
        remediation: f.remediation.clone(),
    });
    // The root cause the incident has committed to (a newer diagnosis may name another one
    // that is not settled yet): what it was last sent with, unless this alert changes it.
    // A resolved alert names it too, so receivers (and Alertmanager's labels) match it to its
    // firing alert.
    let sent = inc
        .last_firing
        .as_ref()
        .and_then(|f| f.root_cause.clone())
        .filter(|rc| inc.last_root_cause.as_deref() == Some(rc.check.as_str()));
    let root = match e.reason {
        AlertReason::Opened | AlertReason::RootCauseChanged => diagnosed,
        _ if firing => sent.or(diagnosed),
        _ => inc
            .last_firing
            .as_ref()
            .and_then(|f| f.root_cause.clone())
            .or(diagnosed),
    };
    let summary = if firing {
        let mut s = format!(
            "{name}: delivery to S3 is {}: {}",
            inc.health, facts.assessment.reason
        );
        if let Some(rc) = &root {
            s.push_str(&format!(". Root cause ({}): {}", rc.check, rc.summary));
        }
        s
    } else if e.reason == AlertReason::Idle {
        let mins = (now - inc.started_at).num_minutes();
        format!(
            "{name}: the stream has received nothing for a while; closing its incident after {mins} min"
        )
    } else {
        let mins = (now - inc.started_at).num_minutes();
        format!("{name}: delivery to S3 recovered after {mins} min")
    };
    let findings: Vec<Finding> = if firing {
        d.findings.clone()
    } else {
        Vec::new()
    };
    Alert {
        schema: ALERT_SCHEMA.into(),
        status: e.status,
        incident_id: inc.id.clone(),
        sequence: e.seq,
        stream: facts.stream.name.clone(),
        arn: facts.stream.arn.clone(),
        account: facts.stream.account.clone(),
        region: facts.stream.region.clone(),
        health: if firing {
            inc.health
        } else {
            facts.assessment.health
        },
        started_at: inc.started_at,
        resolved_at: if firing { None } else { Some(now) },
        summary,
        root_cause: root,
        findings,
        metrics: facts
            .metrics
            .map(StreamMetrics::to_points)
            .unwrap_or_default(),
        test: false,
        severity: inc.severity,
        kind: AlertKind::Incident,
        reason: e.reason,
        previous_root_cause: if e.reason == AlertReason::RootCauseChanged {
            previous.root_cause.clone()
        } else {
            None
        },
        previous_severity: previous
            .firing
            .map(|f| f.severity)
            .filter(|s| firing && *s != inc.severity),
        changes: if firing {
            d.changes.events.clone()
        } else {
            Vec::new()
        },
        changes_error: if firing {
            d.changes.error.clone()
        } else {
            None
        },
        risk: None,
        created_at: now,
    }
}

/// Why a watched stream's incident is closed without recovering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// `DescribeDeliveryStream` says the stream does not exist.
    Deleted,
    /// The stream is no longer selected by the configuration.
    Unwatched,
    /// The stream no longer delivers to S3 (its destination was changed).
    NotS3,
}

/// The resolved alert of an incident whose stream is gone, with the next sequence number;
/// `None` when the incident never sent its firing alert (nothing to resolve).
pub fn stream_gone(inc: &Incident, why: Gone, now: DateTime<Utc>) -> Option<Alert> {
    let snapshot = inc.last_firing.as_ref().filter(|_| inc.firing_sent)?;
    let mut a = snapshot.to_alert();
    a.status = AlertStatus::Resolved;
    a.sequence = inc.seq + 1;
    a.resolved_at = Some(now);
    a.created_at = now;
    a.reason = AlertReason::StreamGone;
    a.findings.clear();
    a.summary = match why {
        Gone::Deleted => format!(
            "{}: the delivery stream was deleted; closing its incident",
            inc.stream
        ),
        Gone::Unwatched => format!(
            "{}: the stream is no longer watched; closing its incident",
            inc.stream
        ),
        Gone::NotS3 => format!(
            "{}: the stream no longer delivers to S3; closing its incident",
            inc.stream
        ),
    };
    Some(a)
}

/// A clearly marked test alert (`test-alert`; needs no AWS access).
pub fn test_alert(now: DateTime<Utc>) -> Alert {
    Alert {
        schema: ALERT_SCHEMA.into(),
        status: AlertStatus::Firing,
        incident_id: format!("test-{}", now.timestamp()),
        sequence: 1,
        stream: "firehose-sentinel-test".into(),
        arn: "arn:aws:firehose:us-east-1:000000000000:deliverystream/firehose-sentinel-test".into(),
        account: "000000000000".into(),
        region: "us-east-1".into(),
        health: Health::Failing,
        started_at: now,
        resolved_at: None,
        summary: "TEST alert from firehose-sentinel: no stream is failing; this checks that alerts reach you".into(),
        root_cause: None,
        findings: Vec::new(),
        metrics: BTreeMap::new(),
        test: true,
        severity: Severity::Critical,
        kind: AlertKind::Incident,
        reason: AlertReason::Test,
        previous_root_cause: None,
        previous_severity: None,
        changes: Vec::new(),
        changes_error: None,
        risk: None,
        created_at: now,
    }
}

/// The resolved follow-up of a test alert, for sinks that keep state (an open PagerDuty
/// incident, an Alertmanager alert).
pub fn test_resolved(test: &Alert, now: DateTime<Utc>) -> Alert {
    let mut resolved = test.clone();
    resolved.status = AlertStatus::Resolved;
    resolved.sequence = test.sequence + 1;
    resolved.resolved_at = Some(now);
    resolved
}
