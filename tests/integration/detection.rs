//! The detection table (`tests/fixtures/detection/cases.json`): stream shapes people run
//! (buffers, Lambda processors, dynamic partitioning, Kinesis and MSK sources, other
//! destinations) with their datapoints and the health each must get. Pure: no emulator.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use firehose_sentinel::aws::{Logging, S3Destination, Source, StreamDescription};
use firehose_sentinel::config;
use firehose_sentinel::detect::{self, Assessment};
use firehose_sentinel::model::{Health, MetricKind, StreamMetrics, Window};
use firehose_sentinel::poll::inventory::Entry;
use serde::Deserialize;

#[derive(Deserialize)]
struct Table {
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone)]
pub struct Case {
    pub name: String,
    pub shape: ShapeSpec,
    pub series: std::collections::BTreeMap<String, Vec<(i64, f64)>>,
    pub expect: Expect,
}

#[derive(Deserialize, Clone)]
pub struct ShapeSpec {
    s3_buffer: u32,
    lambda: bool,
    lambda_buffer: Option<u32>,
    dynamic_partitioning: bool,
    source: String,
    destination: String,
}

#[derive(Deserialize, Clone)]
pub struct Expect {
    pub health: Health,
    pub reason: Option<String>,
    pub degraded_periods: Option<u32>,
}

pub fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/detection/cases.json");
    let table: Table = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    table.cases
}

/// The description of a stream of this shape.
pub fn description(name: &str, s: &ShapeSpec) -> StreamDescription {
    let source = match s.source.as_str() {
        "direct_put" => Source::DirectPut,
        "kinesis" => Source::KinesisStream {
            stream_arn: format!("arn:aws:kinesis:us-east-1:111122223333:stream/{name}-source"),
            role_arn: "arn:aws:iam::111122223333:role/fh".into(),
        },
        "msk" => Source::Msk {
            cluster_arn: "arn:aws:kafka:us-east-1:111122223333:cluster/c/1".into(),
            topic: "t".into(),
        },
        other => panic!("unknown source {other}"),
    };
    let s3 = (s.destination == "s3").then(|| S3Destination {
        role_arn: "arn:aws:iam::111122223333:role/fh".into(),
        bucket_arn: "arn:aws:s3:::b".into(),
        bucket: "b".into(),
        prefix: None,
        error_output_prefix: None,
        buffering_interval_seconds: s.s3_buffer,
        buffering_size_mb: 5,
        compression: None,
        kms_key_arn: None,
        logging: Logging {
            enabled: false,
            log_group: None,
            log_stream: None,
        },
        lambda_arn: s
            .lambda
            .then(|| "arn:aws:lambda:us-east-1:111122223333:function:f".into()),
        lambda_buffer_interval_seconds: s.lambda_buffer,
        dynamic_partitioning: s.dynamic_partitioning,
        backup: None,
        format_conversion: None,
    });
    StreamDescription {
        name: name.into(),
        arn: format!("arn:aws:firehose:us-east-1:111122223333:deliverystream/{name}"),
        status: "ACTIVE".into(),
        failure: None,
        source,
        other_destination: s.destination.ne("s3").then(|| "HTTP endpoint".into()),
        s3,
        sse: None,
    }
}

pub fn kind(name: &str) -> MetricKind {
    match name {
        "success" => MetricKind::Success,
        "incoming" => MetricKind::Incoming,
        "freshness" => MetricKind::Freshness,
        "processing" => MetricKind::Processing,
        "processed" => MetricKind::ProcessedRecords,
        "kinesis_read" => MetricKind::KinesisRead,
        "msk_read" => MetricKind::MskRead,
        "source_incoming" => MetricKind::SourceIncoming,
        other => panic!("unknown series {other}"),
    }
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap()
}

pub fn settings() -> config::Settings {
    let text = "[streams]\nnames = [\"s\"]\n[schedule]\ndelay_seconds = 0\n";
    config::load_from_str(text, Path::new("detection.toml"), &Default::default()).unwrap()
}

/// The case's datapoints as a poll over `window` would return them (those outside dropped).
pub fn metrics(case: &Case, window: &Window) -> StreamMetrics {
    let mut m = StreamMetrics::default();
    for (name, points) in &case.series {
        for (minute, v) in points {
            let t = window.end + chrono::Duration::minutes(*minute);
            if t >= window.start && t < window.end {
                m.insert(kind(name), t, *v);
            }
        }
    }
    m
}

/// The case assessed the way a cycle does: the window the daemon would read for this shape.
pub fn assess(case: &Case) -> (Assessment, Window) {
    let s = settings();
    let d = description("s", &case.shape);
    let window = detect::window_at(&s, now(), [&d.shape()]);
    let m = metrics(case, &window);
    let entry = Entry::Described(Box::new(d));
    let (a, _) = detect::assess_entry(&entry, Some(&Ok(m)), &window, &s.detection);
    (a, window)
}

#[test]
fn every_case_of_the_detection_table() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (a, window) = assess(case);
        let mut wrong = Vec::new();
        if a.health != case.expect.health {
            wrong.push(format!("health {} (want {})", a.health, case.expect.health));
        }
        if let Some(r) = &case.expect.reason {
            if !a.reason.contains(r.as_str()) {
                wrong.push(format!("reason lacks {r:?}"));
            }
        }
        if let Some(n) = case.expect.degraded_periods {
            if a.degraded_periods != n {
                wrong.push(format!(
                    "degraded_periods {} (want {n})",
                    a.degraded_periods
                ));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {} — reason: {} (window {} periods)",
                case.name,
                wrong.join(", "),
                a.reason,
                window.periods()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_window_reaches_back_for_every_shape() {
    let s = settings();
    for case in cases() {
        let d = description("s", &case.shape);
        let w = detect::window_at(&s, now(), [&d.shape()]);
        let n = i64::from(s.detection.failing_after_periods);
        let buffers = i64::from(d.shape().buffer_seconds());
        let grace = buffers + n * i64::from(w.period_seconds) + n * buffers;
        assert!(
            (w.end - w.start).num_seconds() > grace,
            "{}: window {}s, grace {grace}s",
            case.name,
            (w.end - w.start).num_seconds()
        );
        let per_attempt = d
            .shape()
            .s3_buffer_seconds
            .div_ceil(w.period_seconds)
            .max(1);
        assert!(w.periods() > s.detection.degraded_after_periods * per_attempt);
    }
}
