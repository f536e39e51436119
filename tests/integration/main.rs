//! Integration tests: the real daemon and the real AWS SDK against moto (started by the
//! harness), alerts to local receivers. One binary, shared emulator, unique names per test.

mod accounts;
mod alerts;
mod audit;
mod changes;
mod cli;
mod cloudwatch_standin;
mod configs;
mod context;
mod detection;
mod diagnosis;
mod durability;
mod fuzz;
mod harness;
mod ops;
mod properties;
mod receiver;
mod shapes;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use firehose_sentinel::config;
use firehose_sentinel::daemon::{self, Running};
use harness::*;
use receiver::Receiver;

/// A config for the emulator; `extra` is appended (sinks, stream selection).
fn settings(dir: &Path, streams_toml: &str, extra: &str) -> config::Settings {
    let m = moto();
    let text = format!(
        r#"
[aws]
region = "{REGION}"
endpoint_url = "{endpoint}"
s3_force_path_style = true
timeout = "5s"
max_attempts = 2

[streams]
{streams_toml}

[schedule]
poll = "*/2 * * * * *"
# The risk audit sends alerts of its own: off where incidents are counted (audit.rs turns it on).
audit = "off"
period_seconds = 60
delay_seconds = 0
lookback_periods = 10

[detection]
failing_after_periods = 3
recover_after_periods = 2

[server]
listen = "127.0.0.1:0"

[state]
path = "{state}"

[delivery]
initial_backoff = "200ms"
max_backoff = "1s"

{extra}
"#,
        endpoint = m.endpoint,
        state = dir.join("state.json").display(),
    );
    config::load_from_str(&text, &dir.join("config.toml"), &HashMap::new())
        .unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

fn webhook(r: &Receiver) -> String {
    format!(
        "[[alerts.webhook]]\nname = \"test\"\nurl = \"{}/hook\"\n",
        r.url
    )
}

async fn get(d: &Running, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}{path}", d.addr))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn status(d: &Running) -> serde_json::Value {
    serde_json::from_str(&get(d, "/api/v1/status").await.1).unwrap()
}

/// Value of one series in the Prometheus text, summed over series whose labels contain all of
/// `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_polls(d: &Running, n: f64, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let text = get(d, "/metrics").await.1;
        if metric(&text, "firehose_sentinel_poll_duration_seconds_count", &[]) >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {n} polls in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn health_of(status: &serde_json::Value, stream: &str) -> String {
    status["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == stream)
        .map(|s| s["health"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{stream} not in status: {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_stream_fires_once_then_resolves() {
    let aws = aws().await;
    let name = unique("failing");
    create_stream(&aws, &name, &StreamSpec::default()).await;
    for k in [8, 7, 6] {
        put_metric(&aws, &name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(
        dir.path(),
        &format!("names = [\"{name}\"]"),
        &webhook(&rx),
    ))
    .await
    .unwrap();

    let got = rx.wait_for(30, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1, "one firing alert");
    let a = &got[0].body;
    assert_eq!(a["schema"], "firehose-sentinel/alert/v1");
    assert_eq!(a["status"], "firing");
    assert_eq!(a["stream"], name.as_str());
    assert_eq!(a["health"], "failing");
    assert_eq!(a["account"], ACCOUNT);
    assert_eq!(a["region"], REGION);
    assert_eq!(a["test"], false);
    assert!(a["arn"]
        .as_str()
        .unwrap()
        .ends_with(&format!("deliverystream/{name}")));
    assert_eq!(
        a["metrics"]["DeliveryToS3.Success"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let incident = a["incident_id"].as_str().unwrap().to_string();
    assert_eq!(
        got[0].headers["idempotency-key"].to_str().unwrap(),
        format!("{incident}:1")
    );

    // More cycles while still failing: no repeat.
    wait_polls(&d, 4.0, 30).await;
    assert_eq!(rx.accepted().len(), 1, "no repeated firing alert");
    let text = get(&d, "/metrics").await.1;
    let sl = format!("stream=\"{name}\"");
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &[&sl, "health=\"failing\""]
        ),
        1.0
    );
    assert_eq!(
        metric(&text, "firehose_sentinel_incident_open", &[&sl]),
        1.0
    );
    assert_eq!(
        metric(&text, "firehose_sentinel_zero_success_periods", &[&sl]),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_alerts_sent_total",
            &["sink=\"test\"", "status=\"firing\""]
        ),
        1.0
    );

    // Delivery recovers: two newer successful periods.
    for k in [3, 2] {
        put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
    }
    let got = rx.wait_for(30, |g| g.len() >= 2).await;
    assert_eq!(got.len(), 2, "a resolved alert follows");
    let r = &got[1].body;
    assert_eq!(r["status"], "resolved");
    assert_eq!(r["incident_id"], incident.as_str());
    assert!(r["resolved_at"].is_string());
    assert_eq!(
        got[1].headers["idempotency-key"].to_str().unwrap(),
        format!("{incident}:2")
    );
    wait_polls(&d, 8.0, 30).await;
    assert_eq!(rx.accepted().len(), 2, "nothing after resolved");
    assert_eq!(health_of(&status(&d).await, &name), "healthy");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_gappy_streams_never_alert() {
    let aws = aws().await;
    let idle = unique("idle");
    let gappy = unique("gappy");
    let sparse_zero = unique("sparse");
    for n in [&idle, &gappy, &sparse_zero] {
        create_stream(&aws, n, &StreamSpec::default()).await;
    }
    // Sparse traffic with long gaps: delivered whenever records arrive.
    for k in [9, 4] {
        put_metric(&aws, &gappy, "IncomingRecords", minutes_ago(k), 50.0).await;
        put_metric(&aws, &gappy, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
    }
    // Two zero datapoints are fewer than failing_after_periods, whatever the gaps between.
    put_metric(
        &aws,
        &sparse_zero,
        "DeliveryToS3.Success",
        minutes_ago(9),
        1.0,
    )
    .await;
    put_metric(
        &aws,
        &sparse_zero,
        "DeliveryToS3.Success",
        minutes_ago(5),
        0.0,
    )
    .await;
    put_metric(
        &aws,
        &sparse_zero,
        "DeliveryToS3.Success",
        minutes_ago(2),
        0.0,
    )
    .await;

    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let names = format!("names = [\"{idle}\", \"{gappy}\", \"{sparse_zero}\"]");
    let d = daemon::start(settings(dir.path(), &names, &webhook(&rx)))
        .await
        .unwrap();
    wait_polls(&d, 4.0, 30).await;
    let st = status(&d).await;
    assert_eq!(health_of(&st, &idle), "idle");
    assert_eq!(health_of(&st, &gappy), "healthy");
    assert_ne!(health_of(&st, &sparse_zero), "failing");
    assert!(
        rx.all().is_empty(),
        "no alert for idle or gappy streams: {:?}",
        rx.all()
    );
    let text = get(&d, "/metrics").await.1;
    // No datapoint, no series: an idle stream shows no delivery ratio rather than a zero.
    assert!(!text.contains(&format!("firehose_sentinel_delivery_success_ratio{{account=\"{ACCOUNT}\",region=\"{REGION}\",stream=\"{idle}\"}}")));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_applies_include_and_exclude() {
    let aws = aws().await;
    let p = unique("disc");
    for n in ["a-1", "a-2", "b-1"] {
        create_stream(&aws, &format!("{p}-{n}"), &StreamSpec::default()).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let sel = format!("discover = true\ninclude = [\"{p}-a-*\"]\nexclude = [\"*-2\"]");
    let d = daemon::start(settings(dir.path(), &sel, "")).await.unwrap();
    wait_polls(&d, 1.0, 30).await;
    let st = status(&d).await;
    let names: Vec<&str> = st["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![format!("{p}-a-1")]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoints_and_readiness() {
    let aws = aws().await;
    let name = unique("metrics");
    create_stream(&aws, &name, &StreamSpec::default()).await;
    put_metric(&aws, &name, "IncomingRecords", minutes_ago(2), 10.0).await;
    put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(2), 1.0).await;
    put_metric(
        &aws,
        &name,
        "DeliveryToS3.DataFreshness",
        minutes_ago(2),
        42.0,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(dir.path(), &format!("names = [\"{name}\"]"), ""))
        .await
        .unwrap();
    assert_eq!(get(&d, "/healthz").await.0, 200);
    wait_polls(&d, 1.0, 30).await;
    assert_eq!(get(&d, "/readyz").await.0, 200);
    let text = get(&d, "/metrics").await.1;
    let sl = format!("stream=\"{name}\"");
    for (series, labels, value) in [
        (
            "firehose_sentinel_stream_health",
            vec![sl.as_str(), "health=\"healthy\""],
            Some(1.0),
        ),
        (
            "firehose_sentinel_stream_health",
            vec![sl.as_str(), "health=\"failing\""],
            Some(0.0),
        ),
        (
            "firehose_sentinel_delivery_success_ratio",
            vec![sl.as_str()],
            Some(1.0),
        ),
        (
            "firehose_sentinel_incoming_records",
            vec![sl.as_str()],
            Some(10.0),
        ),
        (
            "firehose_sentinel_data_freshness_seconds",
            vec![sl.as_str()],
            Some(42.0),
        ),
        (
            "firehose_sentinel_incident_open",
            vec![sl.as_str()],
            Some(0.0),
        ),
        ("firehose_sentinel_streams_monitored", vec![], Some(1.0)),
        (
            "firehose_sentinel_build_info",
            vec!["version=\""],
            Some(1.0),
        ),
        (
            "firehose_sentinel_aws_requests_total",
            vec![
                "operation=\"GetMetricData\"",
                "outcome=\"success\"",
                "service=\"cloudwatch\"",
            ],
            None,
        ),
        (
            "firehose_sentinel_aws_requests_total",
            vec!["operation=\"DescribeDeliveryStream\""],
            None,
        ),
        (
            "firehose_sentinel_cloudwatch_metrics_requested_total",
            vec![],
            None,
        ),
        (
            "firehose_sentinel_poll_duration_seconds_count",
            vec![],
            None,
        ),
        (
            "firehose_sentinel_last_successful_poll_timestamp_seconds",
            vec![],
            None,
        ),
        (
            "firehose_sentinel_aws_request_duration_seconds_count",
            vec!["operation=\"GetMetricData\""],
            None,
        ),
    ] {
        let v = metric(&text, series, &labels);
        match value {
            Some(x) => assert_eq!(v, x, "{series} {labels:?}\n{text}"),
            None => assert!(v > 0.0, "{series} {labels:?} should be > 0\n{text}"),
        }
    }
    let st = status(&d).await;
    assert_eq!(st["schema"], "firehose-sentinel/report/v1");
    assert_eq!(st["streams"][0]["root_cause"], serde_json::Value::Null);
    d.stop().await;
}

/// The real CloudWatch (moto, through the SDK, counted by the daemon's interceptor) behind a
/// scripted Firehose: moto allows only 50 delivery streams per region, and cannot be made to
/// refuse `DescribeDeliveryStream`.
struct ScriptedFirehose {
    real: std::sync::Arc<firehose_sentinel::aws::sdk::AwsClients>,
    names: Vec<String>,
    describe:
        fn(
            &str,
        )
            -> Result<firehose_sentinel::aws::StreamDescription, firehose_sentinel::aws::AwsError>,
}

/// An ACTIVE direct-put stream to S3 of the test account.
fn active(
    name: &str,
) -> Result<firehose_sentinel::aws::StreamDescription, firehose_sentinel::aws::AwsError> {
    Ok(firehose_sentinel::aws::StreamDescription {
        name: name.into(),
        arn: format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}"),
        status: "ACTIVE".into(),
        failure: None,
        source: firehose_sentinel::aws::Source::DirectPut,
        s3: Some(firehose_sentinel::aws::S3Destination {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}-role"),
            bucket_arn: format!("arn:aws:s3:::{name}-bucket"),
            bucket: format!("{name}-bucket"),
            prefix: None,
            error_output_prefix: None,
            buffering_interval_seconds: 60,
            buffering_size_mb: 5,
            compression: None,
            kms_key_arn: None,
            logging: firehose_sentinel::aws::Logging {
                enabled: false,
                log_group: None,
                log_stream: None,
            },
            lambda_arn: None,
            lambda_buffer_interval_seconds: None,
            dynamic_partitioning: false,
            backup: None,
            format_conversion: None,
        }),
        other_destination: None,
        sse: None,
    })
}

/// The monitor is denied `DescribeDeliveryStream`.
fn denied(
    _name: &str,
) -> Result<firehose_sentinel::aws::StreamDescription, firehose_sentinel::aws::AwsError> {
    Err(firehose_sentinel::aws::AwsError::AccessDenied {
        operation: "DescribeDeliveryStream".into(),
        code: "AccessDeniedException".into(),
        message: "not authorized".into(),
    })
}

#[async_trait::async_trait]
impl firehose_sentinel::aws::FirehoseApi for ScriptedFirehose {
    async fn list_delivery_streams(&self) -> Result<Vec<String>, firehose_sentinel::aws::AwsError> {
        Ok(self.names.clone())
    }
    async fn describe_delivery_stream(
        &self,
        name: &str,
    ) -> Result<firehose_sentinel::aws::StreamDescription, firehose_sentinel::aws::AwsError> {
        (self.describe)(name)
    }
    async fn list_tags(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, firehose_sentinel::aws::AwsError> {
        self.real.list_tags(name).await
    }
    async fn caller_account(&self) -> Result<String, firehose_sentinel::aws::AwsError> {
        // Scripted: its endpoint may be a CloudWatch stand-in that serves no STS.
        Ok(ACCOUNT.to_string())
    }
}

#[async_trait::async_trait]
impl firehose_sentinel::aws::MetricsApi for ScriptedFirehose {
    async fn get_metric_data(
        &self,
        q: &[firehose_sentinel::aws::MetricQuery],
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<firehose_sentinel::aws::MetricSeries>, firehose_sentinel::aws::AwsError> {
        self.real.get_metric_data(q, start, end).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_1200_streams_with_ceil_queries_over_500_calls() {
    let aws = aws().await;
    let p = unique("bulk");
    let names: Vec<String> = (0..1200).map(|i| format!("{p}-{i:04}")).collect();
    // A few of them have data, so the answers are not all empty.
    for n in names.iter().step_by(100) {
        put_metric(&aws, n, "DeliveryToS3.Success", minutes_ago(2), 1.0).await;
    }
    let dir = tempfile::tempdir().unwrap();
    // One poll only: the first, at start.
    let mut s = settings(
        dir.path(),
        &format!("discover = true\ninclude = [\"{p}-*\"]"),
        "",
    );
    s.schedule.poll = "0 0 0 1 1 *".into();
    // A 500-query request to the emulator can take seconds while the rest of the suite
    // loads it; a timeout-and-retry would count as another attempt.
    s.aws.timeout = Duration::from_secs(120);
    let metrics = firehose_sentinel::telemetry::metrics::Metrics::new();
    let factory = firehose_sentinel::aws::sdk::ClientFactory::new(s.aws.clone(), metrics.clone());
    let real = factory.clients(&factory.default_key()).await;
    let api = std::sync::Arc::new(ScriptedFirehose {
        real,
        names,
        describe: active,
    });
    let t0 = std::time::Instant::now();
    let d = daemon::start_with(
        s,
        metrics,
        api,
        std::sync::Arc::new(firehose_sentinel::diagnose::NoDiagnosis),
    )
    .await
    .unwrap();
    wait_polls(&d, 1.0, 300).await;
    let wall = t0.elapsed();
    let text = get(&d, "/metrics").await.1;
    let queries = 1200 * 3;
    let expected = (queries as f64 / 500.0).ceil();
    let calls = metric(
        &text,
        "firehose_sentinel_aws_requests_total",
        &["operation=\"GetMetricData\""],
    );
    assert_eq!(calls, expected, "GetMetricData calls for 1,200 streams");
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_aws_requests_total",
            &["operation=\"GetMetricData\"", "outcome=\"success\""]
        ),
        expected
    );
    assert_eq!(
        metric(&text, "firehose_sentinel_streams_monitored", &[]),
        1200.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_cloudwatch_metrics_requested_total",
            &[]
        ),
        queries as f64
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &["health=\"healthy\""]
        ),
        12.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &["health=\"idle\""]
        ),
        1188.0
    );
    let poll = metric(&text, "firehose_sentinel_poll_duration_seconds_sum", &[]);
    println!("1200 streams: {calls} GetMetricData calls, poll cycle {poll:.2}s (start to first poll {:.2}s)", wall.as_secs_f64());
    d.stop().await;
}

/// Issue 12: a slow CloudWatch must not blind it. Against a stand-in whose latency grows with
/// the batch (8 ms a query: a 500-query call takes 4 s, over the 3 s per-attempt timeout), the
/// real SDK times out, the call is split and retried within the cycle, every stream is read
/// and the 20 failing ones are found; the next cycle starts at the size that works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_cloudwatch_is_read_in_smaller_calls_within_the_cycle() {
    let p = unique("slow");
    let names: Vec<String> = (0..1000).map(|i| format!("{p}-{i:04}")).collect();
    let failing: std::collections::HashSet<String> = names.iter().take(20).cloned().collect();
    let standin = cloudwatch_standin::start(cloudwatch_standin::Behaviour {
        base_latency: Duration::from_millis(20),
        per_query: Duration::from_millis(8),
        failing: failing.clone(),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(
        dir.path(),
        &format!("discover = true\ninclude = [\"{p}-*\"]"),
        "",
    );
    s.aws.endpoint_url = Some(standin.url.clone());
    s.aws.timeout = Duration::from_secs(3);
    s.aws.max_attempts = 1;
    s.schedule.poll = "*/20 * * * * *".into();
    let metrics = firehose_sentinel::telemetry::metrics::Metrics::new();
    let factory = firehose_sentinel::aws::sdk::ClientFactory::new(s.aws.clone(), metrics.clone());
    let real = factory.clients(&factory.default_key()).await;
    let api = std::sync::Arc::new(ScriptedFirehose {
        real,
        names,
        describe: active,
    });
    let d = daemon::start_with(
        s,
        metrics,
        api,
        std::sync::Arc::new(firehose_sentinel::diagnose::NoDiagnosis),
    )
    .await
    .unwrap();
    wait_polls(&d, 1.0, 180).await;
    let text = get(&d, "/metrics").await.1;
    // The first cycle reads everything: 3,000 queries, 6 calls of 500 time out, 12 of 250.
    assert_eq!(
        metric(&text, "firehose_sentinel_get_metric_data_splits_total", &[]),
        6.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_get_metric_data_queries_per_call",
            &[]
        ),
        250.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_aws_requests_total",
            &["operation=\"GetMetricData\"", "outcome=\"timeout\""]
        ),
        6.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &["health=\"unknown\""]
        ),
        0.0,
        "no stream left unknown"
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &["health=\"failing\""]
        ),
        20.0
    );
    let status = get(&d, "/api/v1/status").await.1;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    for f in failing.iter().take(3) {
        assert_eq!(health_of(&status, f), "failing");
    }
    // The next cycle: delivery success of 1,000 streams and the rest of the 20 failing ones
    // (1,040 queries) in calls of 250, none timing out.
    let calls_before = standin.seen.calls.load(std::sync::atomic::Ordering::SeqCst);
    wait_polls(&d, 2.0, 120).await;
    let text = get(&d, "/metrics").await.1;
    assert_eq!(
        metric(&text, "firehose_sentinel_get_metric_data_splits_total", &[]),
        6.0
    );
    let calls = standin.seen.calls.load(std::sync::atomic::Ordering::SeqCst) - calls_before;
    assert_eq!(calls, 5, "1,040 queries in calls of 250");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stream_that_cannot_be_described_still_alerts() {
    let aws = aws().await;
    let name = unique("nodesc");
    for k in [8, 7, 6] {
        put_metric(&aws, &name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &format!("names = [\"{name}\"]"), &webhook(&rx));
    let metrics = firehose_sentinel::telemetry::metrics::Metrics::new();
    let factory = firehose_sentinel::aws::sdk::ClientFactory::new(s.aws.clone(), metrics.clone());
    let real = factory.clients(&factory.default_key()).await;
    let d = daemon::start_with(
        s,
        metrics,
        std::sync::Arc::new(ScriptedFirehose {
            real,
            names: vec![],
            describe: denied,
        }),
        std::sync::Arc::new(firehose_sentinel::diagnose::NoDiagnosis),
    )
    .await
    .unwrap();
    // The diagnosis is incomplete (stream.status: error): the alert waits two cycles, then
    // goes out with what is known, once.
    let got = rx.wait_for(30, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["status"], "firing");
    assert_eq!(got[0].body["root_cause"], serde_json::Value::Null);
    assert_eq!(got[0].body["findings"][0]["check"], "stream.status");
    assert_eq!(got[0].body["findings"][0]["status"], "error");
    wait_polls(&d, 6.0, 30).await;
    assert_eq!(rx.accepted().len(), 1, "one incident, one alert");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_of_a_deleted_stream_is_resolved() {
    let aws = aws().await;
    let name = unique("deleted");
    create_stream(&aws, &name, &StreamSpec::default()).await;
    for k in [8, 7, 6] {
        put_metric(&aws, &name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), &format!("names = [\"{name}\"]"), &webhook(&rx));
    s.streams.refresh = Duration::from_secs(1);
    let d = daemon::start(s).await.unwrap();
    let got = rx.wait_for(30, |g| !g.is_empty()).await;
    assert_eq!(got[0].body["status"], "firing");
    aws.firehose
        .delete_delivery_stream()
        .delivery_stream_name(&name)
        .send()
        .await
        .unwrap();
    let got = rx.wait_for(30, |g| g.len() >= 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["status"], "resolved");
    assert_eq!(got[1].body["reason"], "stream_gone");
    assert!(got[1].body["summary"].as_str().unwrap().contains("deleted"));
    assert_eq!(got[1].body["incident_id"], got[0].body["incident_id"]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_stays_unready_while_aws_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"http://127.0.0.1:{}\"\ntimeout = \"1s\"\nmax_attempts = 1\n[streams]\ndiscover = true\n[schedule]\npoll = \"*/1 * * * * *\"\n[server]\nlisten = \"127.0.0.1:0\"\n[state]\npath = \"{}\"\n",
        free_port(),
        dir.path().join("state.json").display()
    );
    let s = config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
    let d = daemon::start(s).await.unwrap();
    wait_polls(&d, 3.0, 30).await;
    assert_eq!(get(&d, "/readyz").await.0, 503);
    assert_eq!(get(&d, "/healthz").await.0, 200);
    let text = get(&d, "/metrics").await.1;
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_last_successful_poll_timestamp_seconds",
            &[]
        ),
        0.0
    );
    d.stop().await;
}

/// Idle connections flood the port (a bounded, loopback-only load: 600 sockets for about 15
/// seconds): the daemon keeps polling, and answers /metrics once the idle ones time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_does_not_stop_the_daemon() {
    let aws = aws().await;
    let name = unique("flood");
    create_stream(&aws, &name, &StreamSpec::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(dir.path(), &format!("names = [\"{name}\"]"), ""))
        .await
        .unwrap();
    wait_polls(&d, 1.0, 30).await;
    let mut idle = Vec::new();
    for _ in 0..600 {
        if let Ok(c) = tokio::net::TcpStream::connect(d.addr).await {
            idle.push(c);
        }
    }
    assert!(idle.len() >= 500, "only {} connections", idle.len());
    let polls_before = d.monitor.metrics.poll_duration_seconds.get_sample_count();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        d.monitor.metrics.poll_duration_seconds.get_sample_count() > polls_before,
        "polling stopped while the port was flooded"
    );
    // Served once idle connections are dropped for not sending headers in time.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = client
        .get(format!("http://{}/metrics", d.addr))
        .send()
        .await
        .expect("/metrics while flooded");
    assert_eq!(r.status().as_u16(), 200);
    drop(idle);
    d.stop().await;
    delete_streams(&aws, &[&name]).await;
}
