//! Planning: what one cycle decides for one stream, as pure functions of what was read and of
//! the stored incident. No I/O, no clock (time is passed in), no locks.
//!
//! The daemon asks [`wants_diagnosis`], runs the diagnosis if so, then calls [`advance`] and
//! carries out the [`Plan`]: commit the incident with its alerts, queue them, publish the
//! report. [`close_gone`] does the same for incidents whose stream disappeared.

pub mod alerts;
pub mod incident;
pub mod risks;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::aws::StreamDescription;
use crate::config::DetectionSettings;
use crate::detect::Assessment;
use crate::diagnose::{checks, Diagnosis};
use crate::model::{Alert, Finding, FiringSnapshot, Status, StreamMetrics, StreamRef};
use crate::poll::inventory::Entry;
use crate::report::{IncidentSummary, ReportMetrics, StreamReport};
use alerts::{Gone, StreamFacts};
use incident::{DiagnosisOutcome, Incident};

/// A diagnosis and when it was made.
#[derive(Debug, Clone)]
pub struct Diagnosed {
    pub at: DateTime<Utc>,
    pub diagnosis: Diagnosis,
}

/// Whether the stream must be diagnosed this cycle: it is bad enough for an incident (failing,
/// stalled, or degraded long enough), and its incident is new, still waits for its first
/// alert, is due for a re-check, or this process has no diagnosis of it yet (after a restart).
pub fn wants_diagnosis(
    stored: Option<&Incident>,
    a: &Assessment,
    has_diagnosis: bool,
    now: DateTime<Utc>,
    cfg: &DetectionSettings,
) -> bool {
    match stored {
        None => incident::opening_severity(a, cfg).is_some(),
        Some(inc) => {
            incident::is_bad(inc.severity, a, cfg)
                && (inc.needs_diagnosis(now, cfg) || !has_diagnosis)
        }
    }
}

/// What one cycle knows of one stream.
pub struct StreamCycle<'a> {
    /// Where the stream is (its ARN is known even when it could not be described).
    pub stream: &'a StreamRef,
    pub description: Option<&'a StreamDescription>,
    pub assessment: &'a Assessment,
    pub metrics: Option<&'a Arc<StreamMetrics>>,
    /// The incident as stored before this cycle.
    pub stored: Option<&'a Incident>,
    /// The diagnosis made this cycle, when [`wants_diagnosis`] said so.
    pub fresh: Option<&'a Diagnosed>,
    /// The newest diagnosis of an earlier cycle.
    pub remembered: Option<&'a Diagnosed>,
    /// When an earlier incident under the id this cycle would open ([`opening_id`]) has
    /// closed (the same bad run: a flapping stall, a stream re-selected): the last sequence
    /// it used. The new incident numbers its alerts after it, so no receiver takes them for
    /// the old ones (`Idempotency-Key` = id:sequence).
    pub reopened_seq: Option<u32>,
    /// `sharding.total` (part of the incident id, see [`Incident::id_for`]).
    pub shards: u32,
}

/// The id the incident opened this cycle on this stream would have: from its ARN and the
/// period its bad run started (the window's end when unknown), never from the clock.
pub fn opening_id(stream: &StreamRef, a: &Assessment, now: DateTime<Utc>, shards: u32) -> String {
    Incident::id_for(&stream.name, &stream.arn, opening_since(a, now), shards)
}

fn opening_since(a: &Assessment, now: DateTime<Utc>) -> DateTime<Utc> {
    a.bad_since.or(a.window_end).unwrap_or(now)
}

/// What to do for one stream.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stream's incident after this cycle (`None`: there is none, or it closed).
    pub incident: Option<Incident>,
    /// An incident was opened this cycle.
    pub opened: bool,
    /// The incident closed this cycle (its resolved alert is in `alerts`).
    pub closed: bool,
    /// The incident or the alerts changed: commit them to the state together.
    pub changed: bool,
    /// Alerts to queue, in order.
    pub alerts: Vec<Alert>,
    pub report: StreamReport,
}

/// Advance one stream by one cycle: open, step and close its incident, build the alerts it
/// emits and the stream's report.
pub fn advance(s: &StreamCycle<'_>, now: DateTime<Utc>, cfg: &DetectionSettings) -> Plan {
    let a = s.assessment;
    let mut slot = s.stored.cloned();
    let opening = match slot {
        None => incident::opening_severity(a, cfg),
        Some(_) => None,
    };
    if let Some(severity) = opening {
        // The period the bad run started (from datapoints), else the window's end: the same
        // for every replica that reads the same CloudWatch.
        let id = opening_id(s.stream, a, now, s.shards);
        let mut inc = Incident::open_as(id, &s.stream.name, a.health, severity, now);
        inc.arn = s.stream.arn.clone();
        if let Some(seq) = s.reopened_seq {
            inc.seq = seq;
        }
        slot = Some(inc);
    }
    let opened = opening.is_some();
    let outcome = s.fresh.map(|d| DiagnosisOutcome {
        complete: d.diagnosis.complete(),
        settled: d.diagnosis.settled(),
        root_cause: d.diagnosis.root_cause.clone(),
    });
    let (emits, closed) = incident::step(&mut slot, a, outcome.as_ref(), now, cfg);
    let last = s.fresh.or(s.remembered);
    let none = Diagnosis::default();
    let facts = StreamFacts {
        stream: s.stream,
        description: s.description,
        assessment: a,
        metrics: s.metrics.map(|m| &**m),
        diagnosis: last.map(|l| &l.diagnosis).unwrap_or(&none),
    };
    let previous = alerts::Previous {
        root_cause: s.stored.and_then(|i| i.last_root_cause.clone()),
        firing: s.stored.and_then(|i| i.last_firing.as_ref()),
    };
    let alerts: Vec<Alert> = match slot.as_ref().or(closed.as_ref()) {
        Some(inc) => emits
            .iter()
            .map(|e| alerts::for_emit(inc, e, &facts, &previous, now))
            .collect(),
        None => Vec::new(),
    };
    if let (Some(inc), Some(firing)) = (slot.as_mut(), alerts.iter().rev().find(|a| a.is_firing()))
    {
        inc.last_firing = Some(FiringSnapshot::of(firing));
    }
    let changed = slot.as_ref() != s.stored || !alerts.is_empty();
    // The diagnosis is shown while the incident is open.
    let shown = if slot.is_some() { last } else { None };
    let report = stream_report(s.stream, a, s.metrics, shown, slot.as_ref());
    Plan {
        incident: slot,
        opened,
        closed: closed.is_some(),
        changed,
        alerts,
        report,
    }
}

/// The report of one stream. Without a diagnosis every check is listed as `skip`.
pub fn stream_report(
    stream: &StreamRef,
    a: &Assessment,
    metrics: Option<&Arc<StreamMetrics>>,
    shown: Option<&Diagnosed>,
    incident: Option<&Incident>,
) -> StreamReport {
    StreamReport {
        stream: stream.name.clone(),
        arn: stream.arn.clone(),
        account: stream.account.clone(),
        region: stream.region.clone(),
        health: a.health,
        reason: a.reason.clone(),
        metrics: ReportMetrics::new(metrics.cloned()),
        root_cause: shown.and_then(|l| l.diagnosis.root_cause.clone()),
        findings: match shown {
            Some(l) => Arc::new(l.diagnosis.findings.clone()),
            None => not_diagnosed(),
        },
        incident: incident.map(|i| IncidentSummary {
            id: i.id.clone(),
            severity: i.severity,
            started_at: i.started_at,
            alerts_sent: i.seq,
        }),
        diagnosed_at: shown.map(|l| l.at),
        changes: shown
            .map(|l| l.diagnosis.changes.events.clone())
            .unwrap_or_default(),
        changes_error: shown.and_then(|l| l.diagnosis.changes.error.clone()),
        risks: Vec::new(),
    }
}

/// Findings of a stream that was not diagnosed: every check id, `skip` (one list, shared).
fn not_diagnosed() -> Arc<Vec<Finding>> {
    static NOT_RUN: std::sync::LazyLock<Arc<Vec<Finding>>> = std::sync::LazyLock::new(|| {
        Arc::new(
            checks::ALL_IDS
                .iter()
                .map(|id| Finding {
                    check: id.to_string(),
                    status: Status::Skip,
                    summary: "not run: diagnosis runs when the stream is failing or stalled (`firehose-sentinel check` runs it now)".into(),
                    evidence: serde_json::Value::Null,
                    remediation: String::new(),
                })
                .collect(),
        )
    });
    NOT_RUN.clone()
}

/// An incident closed because its stream is gone, and its resolved alert (`None` when the
/// incident never sent its firing alert).
#[derive(Debug, Clone)]
pub struct GoneIncident {
    /// The incident's key in the state (the stream ARN).
    pub key: String,
    pub stream: String,
    pub alert: Option<Alert>,
}

/// Close the incidents of streams that were deleted, no longer deliver to S3, or are no
/// longer selected: nothing would ever close them otherwise. A stream whose description failed
/// for another reason stays; so does every unselected one while the stream listing fails
/// (`listing_ok(key)` false for the target and region it is in): a failed listing says nothing
/// of what exists. Incidents and `entry` are keyed alike (by stream ARN).
pub fn close_gone<'a>(
    incidents: &BTreeMap<String, Incident>,
    entry: &dyn Fn(&str) -> Option<&'a Entry>,
    listing_ok: &dyn Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> Vec<GoneIncident> {
    incidents
        .iter()
        .filter_map(|(key, inc)| {
            let why = match entry(key) {
                Some(Entry::Missing { .. }) => Gone::Deleted,
                Some(Entry::Described(d)) if d.s3.is_none() => Gone::NotS3,
                None if listing_ok(key) => Gone::Unwatched,
                _ => return None,
            };
            Some(GoneIncident {
                key: key.clone(),
                stream: inc.stream.clone(),
                alert: alerts::stream_gone(inc, why, now),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use chrono::TimeZone;

    use super::*;
    use crate::aws::fake::s3_stream;
    use crate::aws::AwsError;
    use crate::model::{AlertReason, AlertStatus, Health, Severity};

    fn cfg() -> DetectionSettings {
        DetectionSettings::for_tests()
    }

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn assessment(health: Health, points: &[(i64, f64)]) -> Assessment {
        Assessment {
            health,
            reason: format!("{health} for the test"),
            zero_success_periods: 0,
            success_periods: 0,
            degraded_periods: 0,
            undelivered_since: None,
            last_activity: None,
            success_points: points.iter().map(|(m, v)| (t(*m), *v)).collect(),
            newest_degraded: None,
            newest_bad: None,
            window_end: Some(t(10)),
            bad_since: None,
        }
    }

    fn diagnosed(rc: &str, at: DateTime<Utc>) -> Diagnosed {
        Diagnosed {
            at,
            diagnosis: Diagnosis {
                findings: vec![Finding {
                    check: rc.into(),
                    status: Status::Fail,
                    summary: format!("{rc} is broken"),
                    evidence: serde_json::Value::Null,
                    remediation: format!("fix {rc}"),
                }],
                root_cause: Some(rc.into()),
                ..Default::default()
            },
        }
    }

    fn cycle<'a>(
        desc: &'a StreamDescription,
        a: &'a Assessment,
        stored: Option<&'a Incident>,
        fresh: Option<&'a Diagnosed>,
        remembered: Option<&'a Diagnosed>,
    ) -> StreamCycle<'a> {
        // Leaked: a test's few streams live as long as the test.
        let stream: &'a StreamRef = Box::leak(Box::new(StreamRef::from_arn(&desc.arn).unwrap()));
        StreamCycle {
            stream,
            description: Some(desc),
            assessment: a,
            metrics: None,
            stored,
            fresh,
            remembered,
            reopened_seq: None,
            shards: 1,
        }
    }

    #[test]
    fn a_failing_stream_opens_an_incident_and_fires_with_its_root_cause() {
        let desc = s3_stream("orders");
        let a = assessment(Health::Failing, &[(7, 0.0), (8, 0.0), (9, 0.0)]);
        assert!(wants_diagnosis(None, &a, false, t(10), &cfg()));
        let d = diagnosed("s3.bucket", t(10));
        let p = advance(&cycle(&desc, &a, None, Some(&d), None), t(10), &cfg());
        assert!(p.opened && p.changed && !p.closed);
        assert_eq!(p.alerts.len(), 1);
        let al = &p.alerts[0];
        assert_eq!(
            (al.status, al.reason, al.sequence),
            (AlertStatus::Firing, AlertReason::Opened, 1)
        );
        assert_eq!(al.account, crate::aws::fake::ACCOUNT);
        assert_eq!(al.region, "us-east-1");
        assert_eq!(al.root_cause.as_ref().unwrap().remediation, "fix s3.bucket");
        let inc = p.incident.as_ref().unwrap();
        let snap = inc.last_firing.as_ref().unwrap();
        assert_eq!(snap.to_alert().idempotency_key(), al.idempotency_key());
        assert_eq!(p.report.root_cause.as_deref(), Some("s3.bucket"));
        assert_eq!(p.report.incident.as_ref().unwrap().alerts_sent, 1);
    }

    #[test]
    fn a_healthy_stream_without_incident_changes_nothing_and_lists_every_check_as_skipped() {
        let desc = s3_stream("orders");
        let a = assessment(Health::Healthy, &[(9, 1.0)]);
        assert!(!wants_diagnosis(None, &a, false, t(10), &cfg()));
        let p = advance(&cycle(&desc, &a, None, None, None), t(10), &cfg());
        assert!(!p.opened && !p.changed && p.alerts.is_empty() && p.incident.is_none());
        assert_eq!(p.report.findings.len(), checks::ALL_IDS.len());
        assert!(p.report.findings.iter().all(|f| f.status == Status::Skip));
        assert!(p.report.diagnosed_at.is_none());
    }

    #[test]
    fn a_root_cause_change_names_the_previous_one_and_recovery_resolves_with_the_last_sent() {
        let desc = s3_stream("orders");
        let failing = assessment(Health::Failing, &[(7, 0.0), (8, 0.0), (9, 0.0)]);
        let first = diagnosed("s3.bucket", t(10));
        let p = advance(
            &cycle(&desc, &failing, None, Some(&first), None),
            t(10),
            &cfg(),
        );
        let inc = p.incident.unwrap();
        // Due for a re-check after recheck_after; the new diagnosis names another cause.
        assert!(!wants_diagnosis(Some(&inc), &failing, true, t(20), &cfg()));
        assert!(
            wants_diagnosis(Some(&inc), &failing, false, t(20), &cfg()),
            "restart"
        );
        assert!(wants_diagnosis(Some(&inc), &failing, true, t(25), &cfg()));
        let second = diagnosed("kms.key", t(25));
        let p = advance(
            &cycle(&desc, &failing, Some(&inc), Some(&second), Some(&first)),
            t(25),
            &cfg(),
        );
        assert_eq!(p.alerts[0].reason, AlertReason::RootCauseChanged);
        assert_eq!(
            p.alerts[0].previous_root_cause.as_deref(),
            Some("s3.bucket")
        );
        let inc = p.incident.unwrap();
        let healthy = assessment(Health::Healthy, &[(9, 0.0), (26, 1.0), (27, 1.0)]);
        let p = advance(
            &cycle(&desc, &healthy, Some(&inc), None, Some(&second)),
            t(28),
            &cfg(),
        );
        assert!(p.closed && p.incident.is_none());
        let resolved = &p.alerts[0];
        assert_eq!(
            (resolved.status, resolved.sequence),
            (AlertStatus::Resolved, 3)
        );
        assert_eq!(resolved.root_cause.as_ref().unwrap().check, "kms.key");
        assert!(resolved.findings.is_empty());
        assert_eq!(resolved.health, Health::Healthy);
        // The report no longer shows the diagnosis once the incident closed.
        assert!(p.report.diagnosed_at.is_none());
    }

    #[test]
    fn gone_streams_close_with_a_resolved_alert_unless_never_fired() {
        let desc = s3_stream("orders");
        let failing = assessment(Health::Failing, &[(7, 0.0), (8, 0.0), (9, 0.0)]);
        let d = diagnosed("s3.bucket", t(10));
        let fired = advance(&cycle(&desc, &failing, None, Some(&d), None), t(10), &cfg())
            .incident
            .unwrap();
        let unfired = Incident::open(
            "quiet",
            "arn",
            Health::Stalled,
            Severity::Critical,
            t(10),
            t(10),
        );
        let readable_later = Incident::open(
            "flaky",
            "arn",
            Health::Failing,
            Severity::Critical,
            t(10),
            t(10),
        );
        let incidents: BTreeMap<String, Incident> = [
            ("orders".to_string(), fired.clone()),
            ("quiet".to_string(), unfired),
            ("flaky".to_string(), readable_later),
        ]
        .into();
        let entries: BTreeMap<String, Entry> = [
            (
                "orders".to_string(),
                Entry::Missing {
                    reason: "not found".into(),
                },
            ),
            (
                "flaky".to_string(),
                Entry::Unreadable {
                    error: AwsError::Timeout {
                        operation: "DescribeDeliveryStream".into(),
                    },
                    last: None,
                },
            ),
        ]
        .into();
        assert!(
            close_gone(&incidents, &|_| None, &|_| false, t(30)).is_empty(),
            "a failed listing closes nothing it does not see"
        );
        let gone = close_gone(&incidents, &|k| entries.get(k), &|_| true, t(30));
        let streams: Vec<&str> = gone.iter().map(|g| g.stream.as_str()).collect();
        assert_eq!(
            streams,
            vec!["orders", "quiet"],
            "an unreadable stream stays"
        );
        let a = gone[0].alert.as_ref().unwrap();
        assert_eq!(
            (a.status, a.reason, a.sequence),
            (
                AlertStatus::Resolved,
                AlertReason::StreamGone,
                fired.seq + 1
            )
        );
        assert!(a.summary.contains("was deleted"));
        assert!(gone[1].alert.is_none(), "never fired: nothing to resolve");
    }
}
