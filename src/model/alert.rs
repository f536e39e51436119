//! The alert payload: identical for every sink, and what the state file keeps of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Finding, Health, Point, Status};

pub const ALERT_SCHEMA: &str = "firehose-sentinel/alert/v1";

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// How urgent an incident is: `critical` when delivery fails or stalls, `warning` when it is
/// only partly failing (sustained `degraded`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    #[default]
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An incident of a stream (delivery failing, stalled or degraded).
    #[default]
    Incident,
    /// A risk the audit found on a stream that still delivers (never an incident).
    Risk,
}

/// Why an alert is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertReason {
    Opened,
    RootCauseChanged,
    Renotify,
    /// A `warning` incident turned `critical` (the stream went from degraded to failing or
    /// stalled).
    Escalated,
    Resolved,
    /// The stream received nothing for `detection.idle_close_after`: the incident is closed.
    Idle,
    /// The stream was deleted or is no longer watched: its incident is closed.
    StreamGone,
    /// `firehose-sentinel test-alert`.
    Test,
}

impl AlertReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertReason::Opened => "opened",
            AlertReason::RootCauseChanged => "root_cause_changed",
            AlertReason::Renotify => "renotify",
            AlertReason::Escalated => "escalated",
            AlertReason::Resolved => "resolved",
            AlertReason::Idle => "idle",
            AlertReason::StreamGone => "stream_gone",
            AlertReason::Test => "test",
        }
    }
}

/// Root cause as carried in an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    pub check: String,
    pub summary: String,
    pub remediation: String,
}

/// One alert, identical for every sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema: String,
    pub status: AlertStatus,
    pub incident_id: String,
    /// Counts the alerts of the incident: 1 is the first firing.
    pub sequence: u32,
    pub stream: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    pub health: Health,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub summary: String,
    pub root_cause: Option<RootCause>,
    pub findings: Vec<Finding>,
    pub metrics: BTreeMap<String, Vec<Point>>,
    pub test: bool,
    pub severity: Severity,
    pub kind: AlertKind,
    pub reason: AlertReason,
    /// With `root_cause_changed`: the root cause sent before (`None`: it was unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_root_cause: Option<String>,
    /// The severity the incident was last sent with, when this alert changes it (`escalated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
    /// CloudTrail events on the stream's resources before the incident started, most
    /// relevant first, at most five (firing alerts).
    #[serde(default)]
    pub changes: Vec<super::Change>,
    /// Why `changes` may be incomplete (the lookup was denied, throttled or cut short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_error: Option<String>,
    /// With `kind: "risk"`: the risk rule's id (`risk.kms_pending_deletion`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Alert {
    /// `INCIDENT_ID:SEQUENCE`: the same for every sink and every retry.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.incident_id, self.sequence)
    }

    pub fn is_firing(&self) -> bool {
        self.status == AlertStatus::Firing
    }
}

/// What an incident keeps of its last firing alert: the alert without its datapoints and
/// without the findings that did not fail. Alertmanager is re-sent it while the incident is
/// open, and a stream that disappears is resolved from it.
///
/// Reads the `last_firing` of older state files, which held the whole alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiringSnapshot {
    pub incident_id: String,
    pub sequence: u32,
    pub stream: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    pub health: Health,
    #[serde(default)]
    pub severity: Severity,
    pub started_at: DateTime<Utc>,
    pub summary: String,
    pub root_cause: Option<RootCause>,
    /// Only the findings that failed.
    #[serde(default)]
    pub findings: Vec<Finding>,
    pub reason: AlertReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_root_cause: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl FiringSnapshot {
    pub fn of(alert: &Alert) -> FiringSnapshot {
        FiringSnapshot {
            incident_id: alert.incident_id.clone(),
            sequence: alert.sequence,
            stream: alert.stream.clone(),
            arn: alert.arn.clone(),
            account: alert.account.clone(),
            region: alert.region.clone(),
            health: alert.health,
            severity: alert.severity,
            started_at: alert.started_at,
            summary: alert.summary.clone(),
            root_cause: alert.root_cause.clone(),
            findings: alert
                .findings
                .iter()
                .filter(|f| f.status == Status::Fail)
                .cloned()
                .collect(),
            reason: alert.reason,
            previous_root_cause: alert.previous_root_cause.clone(),
            created_at: alert.created_at,
        }
    }

    /// The firing alert again (without datapoints).
    pub fn to_alert(&self) -> Alert {
        Alert {
            schema: ALERT_SCHEMA.into(),
            status: AlertStatus::Firing,
            incident_id: self.incident_id.clone(),
            sequence: self.sequence,
            stream: self.stream.clone(),
            arn: self.arn.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            health: self.health,
            started_at: self.started_at,
            resolved_at: None,
            summary: self.summary.clone(),
            root_cause: self.root_cause.clone(),
            findings: self.findings.clone(),
            metrics: BTreeMap::new(),
            test: false,
            severity: self.severity,
            kind: AlertKind::Incident,
            reason: self.reason,
            previous_root_cause: self.previous_root_cause.clone(),
            previous_severity: None,
            changes: Vec::new(),
            changes_error: None,
            risk: None,
            created_at: self.created_at,
        }
    }
}

crate::model::display_as_str!(AlertStatus, Severity, AlertReason);
