//! Properties of detection and the incident lifecycle together, over random timelines and
//! stream shapes, cycle by cycle as the daemon runs them (pure: no emulator, no clock).
//!
//! - nothing fires on `unknown` or `idle` (an idle stream may only close its incident);
//! - each incident sends one `firing` first and at most one `resolved`, last;
//! - sequence numbers are 1, 2, 3, ... per incident;
//! - a stream whose deliveries succeed at any spacing up to 15 minutes always recovers.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use firehose_sentinel::aws::StreamDescription;
use firehose_sentinel::config::Settings;
use firehose_sentinel::detect;
use firehose_sentinel::diagnose::Diagnosis;
use firehose_sentinel::model::StreamMetrics;
use firehose_sentinel::model::{
    Alert, AlertReason, AlertStatus, Finding, Health, MetricKind, Status,
};
use firehose_sentinel::plan::{self, incident::Incident, Diagnosed, StreamCycle};
use firehose_sentinel::poll::inventory::Entry;
use proptest::prelude::*;

use crate::detection::{description, now, settings, ShapeSpec};

/// What one stretch of a timeline does.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Records arrive each minute; a delivery succeeds every `spacing` minutes.
    Healthy,
    /// Records arrive; every delivery attempt fails.
    Failing,
    /// Half of each delivery fails.
    Partial,
    /// Nothing arrives, nothing is attempted.
    Silent,
    /// CloudWatch cannot be read in these minutes' cycles.
    Unreadable,
}

fn phase() -> impl Strategy<Value = (Phase, u32)> {
    (
        prop_oneof![
            Just(Phase::Healthy),
            Just(Phase::Failing),
            Just(Phase::Partial),
            Just(Phase::Silent),
            Just(Phase::Unreadable),
        ],
        5u32..90,
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Minute {
    success: Option<f64>,
    incoming: f64,
    readable: bool,
}

/// Per-minute datapoints of a timeline for a stream that delivers every `spacing` minutes.
fn timeline(phases: &[(Phase, u32)], spacing: u32) -> Vec<Minute> {
    let mut out = Vec::new();
    for (p, len) in phases {
        for _ in 0..*len {
            let m = out.len() as u32;
            let attempt = m % spacing == spacing - 1;
            out.push(match p {
                Phase::Healthy => Minute {
                    success: attempt.then_some(1.0),
                    incoming: 10.0,
                    readable: true,
                },
                Phase::Failing => Minute {
                    success: attempt.then_some(0.0),
                    incoming: 10.0,
                    readable: true,
                },
                Phase::Partial => Minute {
                    success: attempt.then_some(0.5),
                    incoming: 10.0,
                    readable: true,
                },
                Phase::Silent => Minute {
                    success: None,
                    incoming: 0.0,
                    readable: true,
                },
                Phase::Unreadable => Minute {
                    success: None,
                    incoming: 10.0,
                    readable: false,
                },
            });
        }
    }
    out
}

struct Run {
    /// (health of the cycle, alerts the cycle emitted)
    cycles: Vec<(Health, Vec<Alert>)>,
    open_at_end: bool,
}

/// Run the daemon's per-stream steps every 5 minutes over the timeline.
fn run(settings: &Settings, desc: &StreamDescription, minutes: &[Minute]) -> Run {
    let start: DateTime<Utc> = now();
    let entry = Entry::Described(std::sync::Arc::new(desc.clone()));
    let mut stored: Option<Incident> = None;
    let mut remembered: Option<Diagnosed> = None;
    let mut cycles = Vec::new();
    let total = minutes.len() as i64;
    let mut at = 5;
    while at <= total {
        let now = start + Duration::minutes(at);
        let window = detect::window_at(settings, now, [&desc.shape()]);
        let readable = minutes
            .get((at - 1).clamp(0, total - 1) as usize)
            .is_none_or(|m| m.readable);
        let polled = if readable {
            let mut sm = StreamMetrics::default();
            for (i, m) in minutes.iter().enumerate() {
                let t = start + Duration::minutes(i as i64);
                if t < window.start || t >= window.end {
                    continue;
                }
                if let Some(v) = m.success {
                    sm.insert(MetricKind::Success, t, v);
                }
                if m.incoming > 0.0 {
                    sm.insert(MetricKind::Incoming, t, m.incoming);
                }
            }
            Ok(std::sync::Arc::new(sm))
        } else {
            Err(firehose_sentinel::aws::AwsError::Timeout {
                operation: "GetMetricData".into(),
            })
        };
        let (a, sm) = detect::assess_entry(&entry, Some(&polled), &window, &settings.detection);
        let fresh = plan::wants_diagnosis(
            stored.as_ref(),
            &a,
            remembered.is_some(),
            now,
            &settings.detection,
        )
        .then(|| Diagnosed {
            at: now,
            diagnosis: Diagnosis {
                findings: vec![Finding {
                    check: "s3.bucket".into(),
                    status: Status::Fail,
                    summary: "gone".into(),
                    evidence: serde_json::Value::Null,
                    remediation: "create it".into(),
                }],
                root_cause: Some("s3.bucket".into()),
                ..Default::default()
            },
        });
        let stream = firehose_sentinel::model::StreamRef::from_arn(&desc.arn).unwrap();
        let p = plan::advance(
            &StreamCycle {
                stream: &stream,
                description: Some(desc),
                assessment: &a,
                metrics: sm.as_ref(),
                stored: stored.as_ref(),
                fresh: fresh.as_ref(),
                remembered: remembered.as_ref(),
                reopened_seq: None,
                shards: 1,
            },
            now,
            &settings.detection,
        );
        if let Some(d) = fresh {
            remembered = Some(d);
        }
        if p.closed {
            remembered = None;
        }
        stored = p.incident;
        cycles.push((a.health, p.alerts));
        at += 5;
    }
    Run {
        cycles,
        open_at_end: stored.is_some(),
    }
}

fn shape_for(spacing: u32, lambda: Option<u32>) -> ShapeSpec {
    serde_json::from_value(serde_json::json!({
        "s3_buffer": spacing * 60,
        "lambda": lambda.is_some(),
        "lambda_buffer": lambda,
        "dynamic_partitioning": false,
        "source": "direct_put",
        "destination": "s3",
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn alerts_follow_the_lifecycle(
        phases in proptest::collection::vec(phase(), 1..6),
        spacing in 1u32..=15,
        lambda in proptest::option::of(prop_oneof![Just(60u32), Just(300u32)]),
    ) {
        let s = settings();
        let desc = description("s", &shape_for(spacing, lambda));
        let minutes = timeline(&phases, spacing);
        let r = run(&s, &desc, &minutes);
        let mut by_incident: BTreeMap<String, Vec<&Alert>> = BTreeMap::new();
        for (health, alerts) in &r.cycles {
            match health {
                Health::Unknown => prop_assert!(alerts.is_empty(), "alert on unknown: {alerts:?}"),
                Health::Idle => prop_assert!(
                    alerts.is_empty() || alerts.last().is_some_and(|a| a.reason == AlertReason::Idle),
                    "alert on idle that is not an idle close: {alerts:?}"
                ),
                _ => {}
            }
            for a in alerts {
                by_incident.entry(a.incident_id.clone()).or_default().push(a);
            }
        }
        for (id, alerts) in &by_incident {
            prop_assert_eq!(alerts[0].status, AlertStatus::Firing, "{} starts with a resolved", id);
            let resolved: Vec<usize> = alerts
                .iter()
                .enumerate()
                .filter(|(_, a)| a.status == AlertStatus::Resolved)
                .map(|(i, _)| i)
                .collect();
            prop_assert!(resolved.len() <= 1, "{} resolved twice", id);
            if let Some(i) = resolved.first() {
                prop_assert_eq!(*i, alerts.len() - 1, "{} alerts after its resolved", id);
            }
            let seqs: Vec<u32> = alerts.iter().map(|a| a.sequence).collect();
            let want: Vec<u32> = (1..=alerts.len() as u32).collect();
            prop_assert_eq!(seqs, want, "sequence of {}", id);
        }
    }

    #[test]
    fn deliveries_at_any_spacing_up_to_15_minutes_recover(
        spacing in 1u32..=15,
        failing in 20u32..60,
        lambda in proptest::option::of(prop_oneof![Just(60u32), Just(300u32)]),
    ) {
        let s = settings();
        let desc = description("s", &shape_for(spacing, lambda));
        // Failing long enough to open an incident, then healthy for two hours.
        let minutes = timeline(&[(Phase::Failing, failing.max(3 * spacing + 1)), (Phase::Healthy, 120)], spacing);
        let r = run(&s, &desc, &minutes);
        let fired = r.cycles.iter().flat_map(|(_, a)| a).any(|a| a.status == AlertStatus::Firing);
        prop_assert!(fired, "the failing phase never opened an incident");
        prop_assert!(!r.open_at_end, "deliveries every {spacing} min never closed the incident");
        let resolved = r.cycles.iter().flat_map(|(_, a)| a).filter(|a| a.reason == AlertReason::Resolved).count();
        prop_assert_eq!(resolved, 1);
    }
}
