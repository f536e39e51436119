//! The risk rules, one table case each way per rule.

use chrono::TimeZone;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn series(values: &[f64]) -> Series {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            (
                now() - chrono::Duration::minutes(5 * (values.len() - k) as i64),
                *v,
            )
        })
        .collect()
}

fn inputs(metrics: &[(&str, Vec<f64>)]) -> Inputs {
    Inputs {
        findings: Some(Vec::new()),
        metrics: Ok(metrics
            .iter()
            .map(|(n, v)| (n.to_string(), series(v)))
            .collect()),
        ..Inputs::new(now())
    }
}

fn outcome(i: &Inputs, rule: &str) -> Outcome {
    assess(i)
        .into_iter()
        .find(|(r, _)| *r == rule)
        .map(|(_, o)| o)
        .unwrap()
}

fn fires(i: &Inputs, rule: &str) -> Risk {
    match outcome(i, rule) {
        Outcome::Found(r) => r,
        o => panic!("{rule}: expected a risk, got {o:?}"),
    }
}

fn key(state: &str, days: Option<i64>) -> KeyUse {
    KeyUse {
        role: "destination",
        key: "arn:aws:kms:us-east-1:1:key/k".into(),
        info: Ok(KeyInfo {
            arn: "arn:aws:kms:us-east-1:1:key/k".into(),
            key_id: "k".into(),
            state: state.into(),
            manager: "CUSTOMER".into(),
            deletion_date: days.map(|d| now() + chrono::Duration::days(d)),
        }),
    }
}

#[test]
fn every_healthy_stream_without_signs_is_clear() {
    let i = inputs(&[
        ("IncomingBytes", vec![1000.0; 12]),
        ("BytesPerSecondLimit", vec![5_242_880.0; 12]),
        (
            "DeliveryToS3.DataFreshness",
            vec![100.0, 200.0, 50.0, 120.0],
        ),
    ]);
    for (rule, o) in assess(&i) {
        assert_eq!(o, Outcome::Clear, "{rule}");
    }
}

#[test]
fn a_key_pending_deletion_names_the_days_left_and_a_disabled_one_fires_too() {
    let mut i = inputs(&[]);
    i.keys = vec![key("PendingDeletion", Some(7))];
    let r = fires(&i, KMS_PENDING_DELETION);
    assert!(r.summary.contains("in 7 days"), "{}", r.summary);
    assert_eq!(r.evidence["keys"][0]["days_left"], 7);
    assert!(r.remediation.contains("cancel-key-deletion"));
    i.keys = vec![key("Disabled", None)];
    assert!(fires(&i, KMS_PENDING_DELETION).summary.contains("disabled"));
    i.keys = vec![key("Enabled", None)];
    assert_eq!(outcome(&i, KMS_PENDING_DELETION), Outcome::Clear);
    i.keys[0].info = Err("AccessDenied".into());
    assert!(matches!(
        outcome(&i, KMS_PENDING_DELETION),
        Outcome::Unknown(_)
    ));
}

#[test]
fn a_failing_check_on_a_healthy_stream_is_a_latent_failure() {
    let mut i = inputs(&[]);
    i.findings = Some(vec![Finding {
        check: "iam.s3".into(),
        status: Status::Fail,
        summary: "the error output prefix is denied".into(),
        evidence: serde_json::Value::Null,
        remediation: "allow s3:PutObject on errors/*".into(),
    }]);
    let r = fires(&i, LATENT_FAILURE);
    assert!(r.summary.contains("iam.s3"));
    assert_eq!(r.remediation, "allow s3:PutObject on errors/*");
    i.health = Health::Failing;
    assert!(
        matches!(outcome(&i, LATENT_FAILURE), Outcome::Unknown(_)),
        "an incident covers it, and an open latent risk is not \"gone\""
    );
    i.health = Health::Healthy;
    i.findings = None;
    assert!(matches!(outcome(&i, LATENT_FAILURE), Outcome::Unknown(_)));
}

#[test]
fn a_processor_near_the_smaller_of_its_timeout_and_five_minutes() {
    let mut i = inputs(&[("Lambda.Duration", vec![50_000.0, 250_000.0])]);
    i.lambda_timeout = Some(Ok(900));
    // 250 s of a 300 s cap (the timeout of 900 s is above Firehose's 5 minutes): 83%.
    let r = fires(&i, LAMBDA_DURATION);
    assert_eq!(r.evidence["limit_seconds"], 300.0);
    i.lambda_timeout = Some(Ok(600));
    i.metrics = Ok([("Lambda.Duration".to_string(), series(&[200_000.0]))].into());
    assert_eq!(outcome(&i, LAMBDA_DURATION), Outcome::Clear, "67%");
    i.lambda_timeout = Some(Ok(240));
    assert!(
        matches!(outcome(&i, LAMBDA_DURATION), Outcome::Found(_)),
        "200 s of 240 s"
    );
}

#[test]
fn throughput_near_a_limit_or_throttled() {
    // 4.5 MB/s of a 5 MiB/s limit in one 5-minute period.
    let i = inputs(&[
        ("IncomingBytes", vec![300.0 * 1e6, 300.0 * 4.5e6]),
        ("BytesPerSecondLimit", vec![5_242_880.0, 5_242_880.0]),
    ]);
    let r = fires(&i, THROUGHPUT);
    assert_eq!(r.evidence["near_limits"][0]["metric"], "IncomingBytes");
    let i = inputs(&[("ThrottledRecords", vec![0.0, 12.0])]);
    assert!(fires(&i, THROUGHPUT).summary.contains("12 records"));
    let mut i = inputs(&[("ThrottledRecords", vec![0.0, 12.0])]);
    i.direct_put = false;
    assert_eq!(
        outcome(&i, THROUGHPUT),
        Outcome::Clear,
        "limits are Direct PUT's"
    );
}

#[test]
fn freshness_growing_toward_the_retention_but_not_the_buffering_sawtooth() {
    // 8 h old and growing 25 minutes every 5 minutes: 24 h in about 3.2 h.
    let i = inputs(&[(
        "DeliveryToS3.DataFreshness",
        vec![27_000.0, 28_500.0, 30_000.0],
    )]);
    let r = fires(&i, FRESHNESS_TREND);
    assert!(r.evidence["hours_to_retention"].as_f64().unwrap() < 24.0);
    // The sawtooth of a 900 s buffer rises too, but stays low.
    let mut i = inputs(&[("DeliveryToS3.DataFreshness", vec![100.0, 500.0, 900.0])]);
    i.grace_seconds = 900;
    assert_eq!(outcome(&i, FRESHNESS_TREND), Outcome::Clear);
    // Old but shrinking: catching up.
    let i = inputs(&[(
        "DeliveryToS3.DataFreshness",
        vec![30_000.0, 28_000.0, 26_000.0],
    )]);
    assert_eq!(outcome(&i, FRESHNESS_TREND), Outcome::Clear);
}

#[test]
fn backup_below_one_and_a_source_falling_behind() {
    let mut i = inputs(&[("BackupToS3.Success", vec![1.0, 0.4])]);
    i.backup = true;
    assert!(fires(&i, BACKUP).summary.contains("40%"));
    i.backup = false;
    assert_eq!(outcome(&i, BACKUP), Outcome::Clear);

    let mut i = inputs(&[("KinesisMillisBehindLatest", vec![700_000.0, 1_500_000.0])]);
    i.kinesis_source = true;
    assert!(fires(&i, SOURCE_LAG).summary.contains("25 min behind"));
    let mut i = inputs(&[("KinesisMillisBehindLatest", vec![2_000_000.0, 900_000.0])]);
    i.kinesis_source = true;
    assert_eq!(outcome(&i, SOURCE_LAG), Outcome::Clear, "catching up");
}

#[test]
fn unreadable_metrics_leave_the_metric_rules_unknown() {
    let mut i = inputs(&[]);
    i.metrics = Err("GetMetricData: throttled".into());
    i.backup = true;
    i.kinesis_source = true;
    i.lambda_timeout = Some(Ok(60));
    for rule in [
        LAMBDA_DURATION,
        THROUGHPUT,
        FRESHNESS_TREND,
        BACKUP,
        SOURCE_LAG,
    ] {
        assert!(matches!(outcome(&i, rule), Outcome::Unknown(_)), "{rule}");
    }
}

/// What the audit costs a month at the default schedule (every 6 hours): its own metrics
/// plus the checks' (each audit runs them), at $0.01 per 1,000 metrics.
#[test]
fn audit_cost_per_stream_month() {
    use crate::aws::fake::s3_stream;
    let audits =
        crate::poll::cost::cycles_per_30_days(crate::config::defaults::AUDIT, now()).unwrap();
    assert_eq!(audits, 120.0);
    let direct = s3_stream("orders");
    let mut lambda = s3_stream("orders");
    lambda.s3.as_mut().unwrap().lambda_arn = Some("arn:aws:lambda:us-east-1:1:function:f".into());
    let mut kinesis = s3_stream("orders");
    kinesis.source = crate::aws::Source::KinesisStream {
        stream_arn: "arn:aws:kinesis:us-east-1:1:stream/src".into(),
        role_arn: "arn:aws:iam::1:role/r".into(),
    };
    let dollars = |d: &crate::aws::StreamDescription| {
        let n = read::queries(d).len() + crate::diagnose::diag_metrics::queries(d, 60).len();
        (n, n as f64 * audits * 0.01 / 1000.0)
    };
    for (kind, d, want) in [
        ("Direct PUT", &direct, 15),
        ("Lambda processor", &lambda, 21),
        ("Kinesis source", &kinesis, 11),
    ] {
        let (n, usd) = dollars(d);
        println!("{kind}: {n} metrics an audit, ${usd:.3} a stream-month");
        assert_eq!(n, want, "{kind}");
        assert!(usd < 0.03, "{kind}: ${usd}");
    }
}
