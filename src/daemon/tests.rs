//! Whole cycles of the monitor against the in-memory AWS, with time passed in: no emulator,
//! no sleeps, no sink workers (queued alerts stay in the state for inspection).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use super::Monitor;
use crate::aws::fake::{s3_stream, FakeAws};
use crate::aws::StreamDescription;
use crate::config::{self, Settings};
use crate::diagnose::{Diagnose, Diagnosis};
use crate::model::{AlertReason, AlertStatus, Finding, Health, Status, Window};

/// A diagnosis that always names `s3.bucket`, every check having run.
struct BucketGone;

#[async_trait]
impl Diagnose for BucketGone {
    async fn diagnose(&self, _: &StreamDescription, _: Window, _: DateTime<Utc>) -> Diagnosis {
        Diagnosis {
            findings: vec![Finding {
                check: "s3.bucket".into(),
                status: Status::Fail,
                summary: "the bucket does not exist".into(),
                evidence: serde_json::Value::Null,
                remediation: "create it".into(),
            }],
            root_cause: Some("s3.bucket".into()),
            ..Default::default()
        }
    }
}

fn settings(dir: &std::path::Path, names: &[&str]) -> Settings {
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    settings_with(dir, &format!("names = [{}]", names.join(", ")))
}

fn settings_with(dir: &std::path::Path, streams: &str) -> Settings {
    let text = format!(
        "[streams]\n{streams}\n[schedule]\ndelay_seconds = 0\n[state]\npath = {:?}\n[[alerts.webhook]]\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"\n",
        dir.join("state.json").display().to_string()
    );
    config::load_from_str(&text, &dir.join("c.toml"), &Default::default()).unwrap()
}

fn at(min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap() + chrono::Duration::minutes(min.into())
}

struct World {
    aws: Arc<FakeAws>,
    monitor: Arc<Monitor>,
    _dir: tempfile::TempDir,
}

fn world(streams: &[&str]) -> World {
    world_of(streams.iter().map(|s| s3_stream(s)).collect())
}

fn world_of(streams: Vec<StreamDescription>) -> World {
    world_in_shard(streams, config::ShardingSettings::default())
}

fn world_in_shard(streams: Vec<StreamDescription>, sharding: config::ShardingSettings) -> World {
    let dir = tempfile::tempdir().unwrap();
    let aws = Arc::new(FakeAws::default());
    let names: Vec<String> = streams.iter().map(|d| d.name.clone()).collect();
    for d in streams {
        aws.add(d);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut s = settings(dir.path(), &names);
    s.sharding = sharding;
    let sinks = crate::alert::build(&s).all;
    let scopes = one_scope(&s, aws.clone(), Arc::new(BucketGone));
    let monitor =
        Monitor::new(s, crate::telemetry::metrics::Metrics::new(), scopes, sinks).unwrap();
    World {
        aws,
        monitor,
        _dir: dir,
    }
}

impl World {
    fn success(&self, stream: &str, minutes: &[u32], v: f64) {
        for m in minutes {
            self.aws.put(stream, "DeliveryToS3.Success", at(*m), v);
            self.aws.put(stream, "IncomingRecords", at(*m), 10.0);
        }
    }

    fn queued(&self) -> Vec<(AlertStatus, AlertReason, u32)> {
        self.monitor.store.with(|s| {
            s.outbox
                .iter()
                .map(|e| (e.alert.status, e.alert.reason, e.alert.sequence))
                .collect()
        })
    }

    fn health(&self, stream: &str) -> Health {
        let r = self.monitor.published.report.read().unwrap();
        r.streams
            .iter()
            .find(|s| s.stream == stream)
            .unwrap()
            .health
    }

    fn open_incidents(&self) -> usize {
        self.monitor.store.with(|s| s.incidents.len())
    }
}

#[tokio::test]
async fn a_failing_stream_fires_once_then_resolves_once() {
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    w.monitor.cycle(at(8)).await;
    assert_eq!(w.health("orders"), Health::Failing);
    assert_eq!(
        w.queued(),
        vec![(AlertStatus::Firing, AlertReason::Opened, 1)]
    );
    let firing = w.monitor.store.with(|s| s.outbox[0].alert.clone());
    assert_eq!(firing.root_cause.as_ref().unwrap().check, "s3.bucket");
    assert!(firing.summary.contains("Root cause (s3.bucket)"));

    // Still failing: nothing new.
    w.monitor.cycle(at(9)).await;
    assert_eq!(w.queued().len(), 1);

    // Two successful periods after the last zero: resolved, incident closed.
    w.success("orders", &[8, 9], 1.0);
    w.monitor.cycle(at(10)).await;
    assert_eq!(w.health("orders"), Health::Healthy);
    assert_eq!(
        w.queued(),
        vec![
            (AlertStatus::Firing, AlertReason::Opened, 1),
            (AlertStatus::Resolved, AlertReason::Resolved, 2)
        ]
    );
    assert_eq!(w.open_incidents(), 0);
    // Every alert was written to the state file before the cycle ended.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.monitor.settings.state.path).unwrap()).unwrap();
    assert_eq!(saved["outbox"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_idle_stream_never_opens_an_incident() {
    let w = world(&["quiet"]);
    for m in 1..30 {
        w.monitor.cycle(at(m)).await;
    }
    assert_eq!(w.health("quiet"), Health::Idle);
    assert!(w.queued().is_empty());
    assert_eq!(w.open_incidents(), 0);
}

#[tokio::test]
async fn unreadable_metrics_keep_the_incident_open_and_silent() {
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    w.monitor.cycle(at(8)).await;
    assert_eq!(w.open_incidents(), 1);
    w.aws.fail_metrics.store(true, Ordering::SeqCst);
    w.success("orders", &[8, 9], 1.0);
    w.monitor.cycle(at(10)).await;
    assert_eq!(w.health("orders"), Health::Unknown);
    assert_eq!(w.open_incidents(), 1, "unknown neither opens nor closes");
    assert_eq!(w.queued().len(), 1);
    assert_eq!(w.monitor.metrics.polls_failed_total.get(), 1);
}

#[tokio::test]
async fn a_deleted_stream_resolves_its_incident_as_gone() {
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    w.monitor.cycle(at(8)).await;
    w.aws.remove("orders");
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(9)).await;
    let q = w.queued();
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q[1], (AlertStatus::Resolved, AlertReason::StreamGone, 2));
    assert_eq!(w.open_incidents(), 0);
}

#[tokio::test]
async fn one_get_metric_data_call_per_cycle_for_a_few_streams() {
    let w = world(&["a", "b", "c"]);
    w.monitor.cycle(at(8)).await;
    assert_eq!(w.aws.get_metric_data_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_restart_while_discovery_fails_keeps_open_incidents_open() {
    let dir = tempfile::tempdir().unwrap();
    let aws = stopped_with_an_open_incident(dir.path()).await;
    let start = |aws: Arc<FakeAws>| monitor_over(dir.path(), "discover = true", aws);
    // The process restarts while ListDeliveryStreams is throttled (credentials not ready,
    // rate exceeded): the new inventory starts empty.
    aws.fail_list.store(true, Ordering::SeqCst);
    let second = start(aws.clone());
    second.cycle(at(9)).await;
    second.cycle(at(10)).await;
    let queued: Vec<AlertReason> = second
        .store
        .with(|s| s.outbox.iter().map(|e| e.alert.reason).collect());
    assert_eq!(queued, vec![AlertReason::Opened], "no stream_gone alert");
    assert_eq!(second.store.with(|s| s.incidents.len()), 1);
    let r = second.published.report.read().unwrap().clone();
    assert_eq!(r.streams.len(), 1, "the incident's stream is still watched");
    assert_eq!(r.streams[0].health, Health::Failing);
}

#[tokio::test]
async fn a_named_stream_that_no_longer_delivers_to_s3_closes_its_incident() {
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    w.monitor.cycle(at(8)).await;
    let mut d = s3_stream("orders");
    d.s3 = None;
    d.other_destination = Some("HTTP endpoint".into());
    w.aws.add(d);
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(9)).await;
    let q = w.queued();
    assert_eq!(
        q.last(),
        Some(&(AlertStatus::Resolved, AlertReason::StreamGone, 2))
    );
    assert_eq!(w.health("orders"), Health::Unknown);
}

/// Panics in its first diagnosis (a bug), then names `s3.bucket`.
struct PanicsOnce(std::sync::atomic::AtomicBool);

#[async_trait]
impl Diagnose for PanicsOnce {
    async fn diagnose(&self, d: &StreamDescription, w: Window, now: DateTime<Utc>) -> Diagnosis {
        if !self.0.swap(true, Ordering::SeqCst) {
            panic!("a bug in a check");
        }
        BucketGone.diagnose(d, w, now).await
    }
}

#[tokio::test]
async fn a_panicking_cycle_is_counted_and_the_next_tick_runs() {
    let dir = tempfile::tempdir().unwrap();
    let aws = Arc::new(FakeAws::default());
    aws.add(s3_stream("orders"));
    for m in [5, 6, 7] {
        aws.put("orders", "DeliveryToS3.Success", at(m), 0.0);
    }
    // Datapoints close to now: tick() reads the real clock.
    let now = Utc::now();
    for k in 1..=3 {
        aws.put(
            "orders",
            "DeliveryToS3.Success",
            now - chrono::Duration::minutes(k),
            0.0,
        );
    }
    let s = settings(dir.path(), &["orders"]);
    let sinks = crate::alert::build(&s).all;
    let scopes = one_scope(&s, aws, Arc::new(PanicsOnce(Default::default())));
    let m = Monitor::new(s, crate::telemetry::metrics::Metrics::new(), scopes, sinks).unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    m.tick(&token).await;
    assert_eq!(
        m.metrics.errors_total.with_label_values(&["panic"]).get(),
        1
    );
    // Not stuck "still polling": the next tick runs, and finishes the incident's alert.
    m.tick(&token).await;
    assert_eq!(m.metrics.polls_skipped_total.get(), 0);
    assert_eq!(
        m.store.with(|s| s.outbox.len()),
        1,
        "the firing alert is queued"
    );
}

#[tokio::test]
async fn an_alert_is_not_sendable_before_it_is_written() {
    use crate::alert::outbox::{next_for_sink, Next};
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    // The state file cannot be written (a directory now stands at its path).
    let path = w.monitor.settings.state.path.clone();
    std::fs::create_dir(&path).unwrap();
    w.monitor.cycle(at(8)).await;
    let next = |m: &Monitor| {
        m.store
            .with(|s| next_for_sink(&s.outbox, "hook", at(8), &m.settings.delivery))
    };
    assert_eq!(w.queued().len(), 1, "committed");
    assert_eq!(
        next(&w.monitor),
        Next::Idle,
        "but not sendable: a crash would forget it"
    );
    // Once the state is written, it goes.
    std::fs::remove_dir(&path).unwrap();
    w.monitor.cycle(at(9)).await;
    assert!(matches!(next(&w.monitor), Next::Send(_)));
}

/// Metrics requested by the cycle at `now` (what CloudWatch bills).
async fn requested_by(w: &World, now: DateTime<Utc>) -> u64 {
    let c = w
        .monitor
        .metrics
        .cloudwatch_metrics_requested_total
        .with_label_values(&[crate::poll::DEFAULT_TARGET]);
    let before = c.get();
    w.monitor.cycle(now).await;
    c.get() - before
}

#[tokio::test]
async fn two_phase_polling_reads_only_delivery_success_of_a_settled_stream() {
    let w = world(&["ok", "quiet", "backlog"]);
    let minutes: Vec<u32> = (0..200).collect();
    w.success("ok", &minutes, 1.0);
    w.success("backlog", &minutes, 1.0);
    // Deliveries succeed, but the oldest record waits 150 s: above half the grace
    // (60 s buffer + 3 periods = 240 s), not yet stalled.
    for m in &minutes {
        w.aws
            .put("backlog", "DeliveryToS3.DataFreshness", at(*m), 150.0);
    }
    // The first cycle reads everything: 3 metrics x 3 streams.
    assert_eq!(requested_by(&w, at(8)).await, 9);
    assert_eq!(w.health("ok"), Health::Healthy);
    let incoming = || {
        w.monitor
            .metrics
            .streams
            .row(crate::aws::fake::ACCOUNT, "us-east-1", "ok")
            .and_then(|r| r.gauges[crate::telemetry::stream_series::Newest::Incoming as usize])
    };
    assert_eq!(incoming(), Some(10.0));
    // Then: `ok` is settled by its success alone (1); `quiet` has no delivery datapoint (3);
    // `backlog`'s freshness is watched every cycle (3).
    assert_eq!(requested_by(&w, at(9)).await, 7);
    assert_eq!(w.health("ok"), Health::Healthy);
    assert_eq!(w.health("quiet"), Health::Idle);
    // What was not read keeps its last reading rather than vanishing.
    assert_eq!(incoming(), Some(10.0));
    let report = w.monitor.published.report.read().unwrap().clone();
    let ok = report.streams.iter().find(|s| s.stream == "ok").unwrap();
    assert!(
        !ok.metrics.contains_key("IncomingRecords"),
        "no empty series for what was not read"
    );
    drop(report);
    // The backlog clears: its freshness drops, and it is settled again from the next cycle.
    for m in 9..200 {
        w.aws
            .put("backlog", "DeliveryToS3.DataFreshness", at(m), 60.0);
    }
    assert_eq!(requested_by(&w, at(10)).await, 7);
    assert_eq!(requested_by(&w, at(11)).await, 5);
    // A zero: `ok` is read in full at once, and fails on its own datapoints.
    w.success("ok", &[9, 10, 11], 0.0);
    assert_eq!(requested_by(&w, at(12)).await, 7);
    assert_eq!(w.health("ok"), Health::Failing);
    // An open incident keeps its stream read in full.
    w.success("ok", &[12], 0.0);
    assert_eq!(requested_by(&w, at(13)).await, 7);
    // `schedule.full_read_every` (2 h) after the first: everything again.
    assert_eq!(requested_by(&w, at(8 + 120)).await, 9);
    // Spend: the gauge turns the metrics per cycle into dollars for 30 days.
    let dollars = w
        .monitor
        .metrics
        .cloudwatch_cost_dollars_per_month
        .with_label_values(&[crate::poll::DEFAULT_TARGET])
        .get();
    let mean = (9 + 7 + 7 + 5 + 7 + 7 + 9) as f64 / 7.0;
    assert!(
        (dollars - mean * 8640.0 * 0.00001).abs() < 1e-9,
        "{dollars}"
    );
}

/// The README's cost table, measured: a day of 5-minute cycles (288) over streams of each
/// kind, healthy, idle and failing, and the monthly dollars the cost gauge reports.
#[tokio::test]
async fn cost_per_stream_month_by_kind_of_stream() {
    use crate::aws::Source;
    let lambda = |mut d: StreamDescription| {
        let s3 = d.s3.as_mut().unwrap();
        s3.lambda_arn = Some(format!(
            "arn:aws:lambda:us-east-1:{}:function:f",
            crate::aws::fake::ACCOUNT
        ));
        s3.lambda_buffer_interval_seconds = Some(60);
        d
    };
    let kinesis = |mut d: StreamDescription| {
        d.source = Source::KinesisStream {
            stream_arn: format!(
                "arn:aws:kinesis:us-east-1:{}:stream/{}-src",
                crate::aws::fake::ACCOUNT,
                d.name
            ),
            role_arn: format!("arn:aws:iam::{}:role/r", crate::aws::fake::ACCOUNT),
        };
        d
    };
    let msk = |mut d: StreamDescription| {
        d.source = Source::Msk {
            cluster_arn: format!(
                "arn:aws:kafka:us-east-1:{}:cluster/c/1",
                crate::aws::fake::ACCOUNT
            ),
            topic: "t".into(),
        };
        d
    };
    struct Kind {
        name: &'static str,
        desc: StreamDescription,
        success: Option<f64>,
        max_dollars: f64,
    }
    let kinds = [
        Kind {
            name: "Direct PUT, healthy",
            desc: s3_stream("dp"),
            success: Some(1.0),
            max_dollars: 0.10,
        },
        Kind {
            name: "Direct PUT, idle",
            desc: s3_stream("idle"),
            success: None,
            max_dollars: 0.27,
        },
        Kind {
            name: "Direct PUT, failing",
            desc: s3_stream("bad"),
            success: Some(0.0),
            max_dollars: 0.27,
        },
        Kind {
            name: "Lambda processor, healthy",
            desc: lambda(s3_stream("lam")),
            success: Some(1.0),
            max_dollars: 0.36,
        },
        Kind {
            name: "Kinesis source, healthy",
            desc: kinesis(s3_stream("kin")),
            success: Some(1.0),
            max_dollars: 0.27,
        },
        Kind {
            name: "MSK source, healthy",
            desc: msk(s3_stream("msk")),
            success: Some(1.0),
            max_dollars: 0.10,
        },
    ];
    let mut table = Vec::new();
    for k in kinds {
        let name = k.desc.name.clone();
        let w = world_of(vec![k.desc]);
        for m in 0..1500u32 {
            let t = at(m);
            if let Some(v) = k.success {
                for (metric, value) in [
                    ("DeliveryToS3.Success", v),
                    ("IncomingRecords", 10.0),
                    ("DeliveryToS3.DataFreshness", 30.0),
                    ("ExecuteProcessing.Success", 1.0),
                    ("SucceedProcessing.Records", 10.0),
                    ("DataReadFromKinesisStream.Records", 10.0),
                    ("DataReadFromSource.Records", 10.0),
                ] {
                    w.aws.put(&name, metric, t, value);
                }
                w.aws
                    .put(&format!("{name}-src"), "IncomingRecords", t, 10.0);
            }
        }
        for cycle in 0..288u32 {
            w.monitor.cycle(at(8 + 5 * cycle)).await;
        }
        let dollars = w
            .monitor
            .metrics
            .cloudwatch_cost_dollars_per_month
            .with_label_values(&[crate::poll::DEFAULT_TARGET])
            .get();
        table.push(format!("{:<28} ${dollars:.4}", k.name));
        assert!(
            dollars <= k.max_dollars,
            "{}: ${dollars:.4} a month",
            k.name
        );
    }
    eprintln!("{}", table.join("\n"));
}

/// High availability: two replicas of one shard read the same CloudWatch at slightly different
/// moments (even a tick apart) and open the same incident under the same id, so receivers
/// see the same `Idempotency-Key` and PagerDuty the same dedup key.
#[tokio::test]
async fn two_replicas_open_the_same_incident_under_the_same_id() {
    let a = world(&["orders"]);
    let b = world(&["orders"]);
    for w in [&a, &b] {
        w.success("orders", &[1, 2], 1.0);
        w.success("orders", &[3, 4, 5], 0.0);
    }
    a.monitor.cycle(at(7)).await;
    // B's cycle runs 1.5 s later, then a tick later with one more zero datapoint.
    b.monitor
        .cycle(at(7) + chrono::Duration::milliseconds(1500))
        .await;
    let id = |w: &World| {
        w.monitor
            .store
            .with(|s| s.incidents.get(&arn("orders")).map(|i| i.id.clone()))
    };
    assert!(id(&a).is_some());
    assert_eq!(id(&a), id(&b));
    let c = world(&["orders"]);
    c.success("orders", &[1, 2], 1.0);
    c.success("orders", &[3, 4, 5, 6], 0.0);
    c.monitor.cycle(at(8)).await;
    assert_eq!(id(&c), id(&a), "a replica that sees the run a tick later");
    let key = |w: &World| {
        w.monitor
            .store
            .with(|s| s.outbox[0].alert.idempotency_key())
    };
    assert_eq!(key(&a), key(&b));
    // A later, separate failure is another incident.
    let d = world(&["orders"]);
    d.success("orders", &[1, 2, 3, 4], 1.0);
    d.success("orders", &[5, 6, 7], 0.0);
    d.monitor.cycle(at(9)).await;
    assert_ne!(id(&d), id(&a));
}

/// Sharding: two replicas with `sharding.total = 2` split 100 streams into disjoint sets that
/// cover all of them, each polling only its own.
#[tokio::test]
async fn two_shards_split_the_streams_and_cover_them_all() {
    let names: Vec<String> = (0..100).map(|i| format!("s-{i:03}")).collect();
    let mut seen = Vec::new();
    for index in 0..2 {
        let w = world_in_shard(
            names.iter().map(|n| s3_stream(n)).collect(),
            config::ShardingSettings { total: 2, index },
        );
        for n in &names {
            w.success(n, &[5, 6, 7], 1.0);
        }
        w.monitor.cycle(at(8)).await;
        let report = w.monitor.published.report.read().unwrap().clone();
        let mine: std::collections::BTreeSet<String> =
            report.streams.iter().map(|s| s.stream.clone()).collect();
        assert_eq!(
            w.monitor.metrics.streams_monitored.get() as usize,
            mine.len()
        );
        seen.push(mine);
    }
    assert!(seen[0].is_disjoint(&seen[1]));
    assert_eq!(seen[0].len() + seen[1].len(), 100);
    assert!(seen[0].len() > 30 && seen[1].len() > 30);
}

/// An incident that reopens under the same id (the same bad run: here the stream left the
/// selection and came back) numbers its alerts after the closed one's, so a receiver that
/// deduplicates by `Idempotency-Key` never drops the new firing alert.
#[tokio::test]
async fn an_incident_reopened_on_the_same_run_continues_the_sequence() {
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    w.monitor.cycle(at(8)).await;
    let first = w
        .monitor
        .store
        .with(|s| s.incidents[&arn("orders")].id.clone());
    w.aws.remove("orders");
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(9)).await;
    assert_eq!(w.open_incidents(), 0);
    w.aws.add(s3_stream("orders"));
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(10)).await;
    let again = w
        .monitor
        .store
        .with(|s| s.incidents[&arn("orders")].id.clone());
    assert_eq!(again, first, "the same run, the same id (replicas agree)");
    let keys: Vec<String> = w
        .monitor
        .store
        .with(|s| s.outbox.iter().map(|e| e.alert.idempotency_key()).collect());
    assert_eq!(
        keys,
        vec![
            format!("{first}:1"),
            format!("{first}:2"),
            format!("{first}:3")
        ],
        "firing, resolved (gone), firing again under a new key"
    );
    // Kept across a restart: the state file holds the closed incidents.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.monitor.settings.state.path).unwrap()).unwrap();
    assert_eq!(saved["version"], crate::state::STATE_VERSION);
}

/// The one scope of a test: the first target in us-east-1, read through `aws`.
fn one_scope(
    s: &config::Settings,
    aws: Arc<FakeAws>,
    diagnoser: Arc<dyn crate::diagnose::Diagnose>,
) -> Vec<super::ScopeParts> {
    let aws2 = aws.clone();
    vec![super::ScopeParts {
        target: s.targets[0].clone(),
        region: "us-east-1".into(),
        api: aws,
        diagnoser,
        trail: None,
        audit: Some(aws2),
    }]
}

/// The incident key of a fake stream: its ARN.
fn arn(name: &str) -> String {
    crate::model::StreamRef::new(name, crate::aws::fake::ACCOUNT, "us-east-1").arn
}

/// Two targets: `a` (account 111111111111, two regions) and `b` (222222222222, one region),
/// each region its own fake AWS, every one with a stream named `orders`.
struct Accounts {
    fakes: Vec<(String, String, Arc<FakeAws>)>,
    monitor: Arc<Monitor>,
    _dir: tempfile::TempDir,
}

fn accounts() -> Accounts {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[schedule]
delay_seconds = 0
[state]
path = {:?}
[[alerts.webhook]]
name = "hook"
url = "http://127.0.0.1:9/"
[[targets]]
name = "a"
role_arn = "arn:aws:iam::111111111111:role/read"
regions = ["us-east-1", "eu-west-1"]
names = ["orders"]
[[targets]]
name = "b"
role_arn = "arn:aws:iam::222222222222:role/read"
regions = ["us-east-1"]
discover = true
"#,
        dir.path().join("state.json").display().to_string()
    );
    let s = config::load_from_str(&text, &dir.path().join("c.toml"), &Default::default()).unwrap();
    let mut fakes = Vec::new();
    let mut scopes = Vec::new();
    for t in &s.targets {
        for region in &t.regions {
            let account = t.role_account().unwrap();
            let aws = Arc::new(FakeAws::in_place(account, region));
            aws.add(s3_stream("orders"));
            fakes.push((account.to_string(), region.clone(), aws.clone()));
            scopes.push(super::ScopeParts {
                target: t.clone(),
                region: region.clone(),
                api: aws,
                diagnoser: Arc::new(BucketGone),
                trail: None,
                audit: None,
            });
        }
    }
    let sinks = crate::alert::build(&s).all;
    let monitor =
        Monitor::new(s, crate::telemetry::metrics::Metrics::new(), scopes, sinks).unwrap();
    Accounts {
        fakes,
        monitor,
        _dir: dir,
    }
}

impl Accounts {
    fn fake(&self, account: &str, region: &str) -> &Arc<FakeAws> {
        &self
            .fakes
            .iter()
            .find(|(a, r, _)| a == account && r == region)
            .unwrap()
            .2
    }

    /// Every stream healthy, except `failing` (account, region) with three zero periods.
    fn datapoints(&self, failing: Option<(&str, &str)>) {
        for (a, r, aws) in &self.fakes {
            let bad = failing == Some((a.as_str(), r.as_str()));
            for m in [5, 6, 7] {
                aws.put(
                    "orders",
                    "DeliveryToS3.Success",
                    at(m),
                    if bad { 0.0 } else { 1.0 },
                );
            }
        }
    }

    fn health(&self) -> Vec<(String, String, Health)> {
        let r = self.monitor.published.report.read().unwrap();
        let mut v: Vec<_> = r
            .streams
            .iter()
            .map(|s| (s.account.clone(), s.region.clone(), s.health))
            .collect();
        v.sort();
        v
    }
}

#[tokio::test]
async fn the_same_name_in_two_accounts_and_regions_is_three_streams_and_one_incident() {
    let w = accounts();
    w.datapoints(Some(("222222222222", "us-east-1")));
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(8)).await;
    assert_eq!(
        w.health(),
        vec![
            ("111111111111".into(), "eu-west-1".into(), Health::Healthy),
            ("111111111111".into(), "us-east-1".into(), Health::Healthy),
            ("222222222222".into(), "us-east-1".into(), Health::Failing),
        ]
    );
    let keys: Vec<String> = w
        .monitor
        .store
        .with(|s| s.incidents.keys().cloned().collect());
    assert_eq!(
        keys,
        vec!["arn:aws:firehose:us-east-1:222222222222:deliverystream/orders".to_string()]
    );
    let alert = w.monitor.store.with(|s| s.outbox[0].alert.clone());
    assert_eq!(
        (
            alert.account.as_str(),
            alert.region.as_str(),
            alert.stream.as_str()
        ),
        ("222222222222", "us-east-1", "orders")
    );
    assert!(
        alert
            .summary
            .starts_with("orders (222222222222, us-east-1):"),
        "{}",
        alert.summary
    );
    // The other account's stream of the same name failing too is another incident.
    w.fake("111111111111", "eu-west-1")
        .put("orders", "DeliveryToS3.Success", at(8), 0.0);
    for m in [6, 7] {
        w.fake("111111111111", "eu-west-1")
            .put("orders", "DeliveryToS3.Success", at(m), 0.0);
    }
    w.monitor.cycle(at(9)).await;
    let ids: std::collections::BTreeSet<String> = w
        .monitor
        .store
        .with(|s| s.incidents.values().map(|i| i.id.clone()).collect());
    assert_eq!(ids.len(), 2, "two incidents with two ids");
}

#[tokio::test]
async fn a_target_whose_role_cannot_be_assumed_leaves_the_others_alone() {
    let w = accounts();
    w.datapoints(Some(("111111111111", "eu-west-1")));
    // b's role cannot be assumed from the start; a's eu-west-1 stream fails.
    w.fake("222222222222", "us-east-1")
        .fail_credentials
        .store(true, Ordering::SeqCst);
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(8)).await;
    // b discovers: nothing listed, nothing watched; a goes on and alerts.
    assert_eq!(
        w.health(),
        vec![
            ("111111111111".into(), "eu-west-1".into(), Health::Failing),
            ("111111111111".into(), "us-east-1".into(), Health::Healthy),
        ]
    );
    let report = w.monitor.published.report.read().unwrap().clone();
    let b = report.targets.iter().find(|t| t.target == "b").unwrap();
    assert_eq!(
        (b.status.as_str(), b.account.as_str()),
        ("error", "222222222222")
    );
    assert!(b.error.as_deref().unwrap().contains("AssumeRole"), "{b:?}");
    assert_eq!(
        w.monitor
            .metrics
            .target_up
            .with_label_values(&["b", "us-east-1", "222222222222"])
            .get(),
        0
    );
    assert!(
        w.monitor
            .metrics
            .errors_total
            .with_label_values(&["aws_access_denied"])
            .get()
            >= 1
    );
    let calls = w
        .fake("222222222222", "us-east-1")
        .get_metric_data_calls
        .load(Ordering::SeqCst);
    assert_eq!(calls, 0, "a blind target is not polled");
    // The role is repaired: seen at the next cycle (a blind target is refreshed each cycle).
    w.fake("222222222222", "us-east-1")
        .fail_credentials
        .store(false, Ordering::SeqCst);
    w.monitor.cycle(at(9)).await;
    assert_eq!(w.health().len(), 3);
    assert_eq!(w.monitor.store.with(|s| s.incidents.len()), 1);
}

#[tokio::test]
async fn a_named_stream_of_a_blind_target_is_unknown_and_its_incident_stays_open() {
    let w = accounts();
    w.datapoints(Some(("111111111111", "us-east-1")));
    w.monitor.refresh_inventory(true).await;
    w.monitor.cycle(at(8)).await;
    assert_eq!(w.monitor.store.with(|s| s.incidents.len()), 1);
    for (a, _, aws) in &w.fakes {
        if a == "111111111111" {
            aws.fail_credentials.store(true, Ordering::SeqCst);
        }
    }
    w.monitor.cycle(at(9)).await;
    let h = w.health();
    assert!(
        h.contains(&("111111111111".into(), "us-east-1".into(), Health::Unknown)),
        "{h:?}"
    );
    assert_eq!(
        w.monitor.store.with(|s| s.incidents.len()),
        1,
        "an unreadable target neither closes nor opens incidents"
    );
    assert_eq!(
        w.monitor.store.with(|s| s.outbox.len()),
        1,
        "nothing more is sent"
    );
}

#[tokio::test]
async fn an_incident_keyed_by_name_in_an_older_state_file_moves_to_the_stream_arn() {
    let w = world(&["orders"]);
    w.success("orders", &[5, 6, 7], 0.0);
    w.monitor.cycle(at(8)).await;
    // As a version 3 file held it before the first alert: keyed by name, no ARN.
    w.monitor.store.with(|s| {
        let mut inc = s.incidents.remove(&arn("orders")).unwrap();
        inc.arn.clear();
        inc.last_firing = None;
        s.incidents.insert("orders".into(), inc);
    });
    w.monitor.refresh_inventory(true).await;
    let keys: Vec<String> = w
        .monitor
        .store
        .with(|s| s.incidents.keys().cloned().collect());
    assert_eq!(keys, vec![arn("orders")]);
    assert_eq!(
        w.monitor
            .store
            .with(|s| s.incidents[&arn("orders")].arn.clone()),
        arn("orders")
    );
}

#[tokio::test]
async fn discovery_selects_by_tags() {
    let dir = tempfile::tempdir().unwrap();
    let aws = Arc::new(FakeAws::default());
    for n in ["a", "b", "c"] {
        aws.add(s3_stream(n));
    }
    aws.tag("a", "team", "data");
    aws.tag("b", "team", "web");
    aws.tag("c", "team", "data");
    aws.tag("c", "monitoring", "off");
    let m = monitor_over(
        dir.path(),
        "discover = true\ninclude_tags = { team = \"data\" }\nexclude_tags = { monitoring = \"*\" }",
        aws,
    );
    m.refresh_inventory(true).await;
    let names: Vec<String> = m
        .watched()
        .values()
        .map(|w| w.stream.name.clone())
        .collect();
    assert_eq!(names, vec!["a".to_string()]);
}

#[tokio::test]
async fn an_audit_names_a_key_pending_deletion_on_a_healthy_stream_without_an_incident() {
    let mut d = s3_stream("orders");
    let key = format!("arn:aws:kms:us-east-1:{}:key/k1", crate::aws::fake::ACCOUNT);
    d.s3.as_mut().unwrap().kms_key_arn = Some(key.clone());
    let w = world_of(vec![d]);
    let info = |state: &str| crate::aws::KeyInfo {
        arn: key.clone(),
        key_id: "k1".into(),
        state: state.into(),
        manager: "CUSTOMER".into(),
        deletion_date: (state == "PendingDeletion").then(|| at(0) + chrono::Duration::days(7)),
    };
    w.aws
        .keys
        .lock()
        .unwrap()
        .insert(key.clone(), info("PendingDeletion"));
    w.success("orders", &[5, 6, 7], 1.0);
    w.monitor.cycle(at(8)).await;
    assert_eq!(w.health("orders"), Health::Healthy);
    assert_eq!(
        w.monitor.audit(at(8)).await,
        2,
        "the key, and the check BucketGone fails"
    );
    let sent: Vec<crate::model::Alert> = w
        .monitor
        .store
        .with(|s| s.outbox.iter().map(|e| (*e.alert).clone()).collect());
    // BucketGone names s3.bucket as failing too: a latent failure besides the key.
    let risks: Vec<(&str, crate::model::AlertKind, crate::model::Severity)> = sent
        .iter()
        .map(|a| (a.risk.as_deref().unwrap_or(""), a.kind, a.severity))
        .collect();
    assert!(risks.contains(&(
        "risk.kms_pending_deletion",
        crate::model::AlertKind::Risk,
        crate::model::Severity::Warning
    )));
    assert!(risks.contains(&(
        "risk.latent_failure",
        crate::model::AlertKind::Risk,
        crate::model::Severity::Warning
    )));
    let kms = sent
        .iter()
        .find(|a| a.risk.as_deref() == Some("risk.kms_pending_deletion"))
        .unwrap();
    assert!(kms.summary.contains("in 7 days"), "{}", kms.summary);
    assert_eq!(w.open_incidents(), 0, "a risk never opens an incident");
    let gauge = |risk: &str| {
        w.monitor
            .metrics
            .risk_active
            .with_label_values(&["orders", "us-east-1", crate::aws::fake::ACCOUNT, risk])
            .get()
    };
    assert_eq!(gauge("risk.kms_pending_deletion"), 1);
    let report = w.monitor.published.report.read().unwrap().clone();
    assert_eq!(report.streams[0].risks.len(), 2);

    // The next audit finds the same: nothing new. The key is re-enabled: resolved once.
    let before = w.queued().len();
    w.monitor.audit(at(9)).await;
    assert_eq!(w.queued().len(), before);
    w.aws
        .keys
        .lock()
        .unwrap()
        .insert(key.clone(), info("Enabled"));
    w.monitor.audit(at(10)).await;
    let resolved: Vec<crate::model::Alert> = w.monitor.store.with(|s| {
        s.outbox
            .iter()
            .filter(|e| e.alert.status == AlertStatus::Resolved)
            .map(|e| (*e.alert).clone())
            .collect()
    });
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].incident_id, kms.incident_id);
    assert_eq!(resolved[0].sequence, 2);
    assert_eq!(gauge("risk.kms_pending_deletion"), 0);
}

/// The implicit target learns its account from `GetCallerIdentity`: a restart while its own
/// credentials fail must close nothing (no stream can be placed yet).
#[tokio::test]
async fn a_restart_while_the_monitors_own_credentials_fail_closes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let aws = stopped_with_an_open_incident(dir.path()).await;
    let start = |aws: Arc<FakeAws>| monitor_over(dir.path(), "discover = true", aws);
    aws.fail_credentials.store(true, Ordering::SeqCst);
    let second = start(aws.clone());
    second.refresh_inventory(true).await;
    second.cycle(at(9)).await;
    second.cycle(at(10)).await;
    let queued: Vec<AlertReason> = second
        .store
        .with(|s| s.outbox.iter().map(|e| e.alert.reason).collect());
    assert_eq!(queued, vec![AlertReason::Opened], "no stream_gone alert");
    assert_eq!(second.store.with(|s| s.incidents.len()), 1);
    assert_eq!(
        second.metrics.polls_failed_total.get(),
        0,
        "a blind target is not a failed poll"
    );
    // The credentials work again: the same incident goes on.
    aws.fail_credentials.store(false, Ordering::SeqCst);
    second.cycle(at(11)).await;
    assert_eq!(second.store.with(|s| s.incidents.len()), 1);
    assert_eq!(second.store.with(|s| s.outbox.len()), 1);
}

/// A discovering monitor over `dir` that opened an incident on `orders` and stopped: the
/// Firehose it read, for the restart.
async fn stopped_with_an_open_incident(dir: &std::path::Path) -> Arc<FakeAws> {
    let aws = Arc::new(FakeAws::default());
    aws.add(s3_stream("orders"));
    let first = monitor_over(dir, "discover = true", aws.clone());
    for m in [5, 6, 7] {
        aws.put("orders", "DeliveryToS3.Success", at(m), 0.0);
    }
    first.cycle(at(8)).await;
    assert_eq!(first.store.with(|s| s.incidents.len()), 1);
    first.store.release();
    aws
}

/// A monitor of the `[streams]` selection `streams` over `aws`, its state in `dir` (a second
/// one over the same `dir` is a restart).
fn monitor_over(dir: &std::path::Path, streams: &str, aws: Arc<FakeAws>) -> Arc<Monitor> {
    let s = settings_with(dir, streams);
    let sinks = crate::alert::build(&s).all;
    let scopes = one_scope(&s, aws, Arc::new(BucketGone));
    Monitor::new(s, crate::telemetry::metrics::Metrics::new(), scopes, sinks).unwrap()
}
