//! Outbox drain benchmark (issue 11): 10,000 pending alerts x 3 sinks, as left by a long
//! receiver outage, drained by the real outbox workers over the real state file.
//!
//! Run: `cargo bench --bench outbox_drain` (release profile). Optional arguments:
//! `-- ALERTS SINKS` (default 10000 3). Prints the time to drain, peak RSS (`VmHWM`), the
//! state file size before the drain, and the bytes and writes the drain cost.
//!
//! The sinks render each alert as a webhook body (JSON) and accept it: the figure is the
//! outbox's own cost (queue handling, state writes), not a network's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DurationRound, Utc};
use firehose_sentinel::alert::outbox::{Outbox, OutboxEntry, QueueStore};
use firehose_sentinel::alert::{SendError, Sink};
use firehose_sentinel::config::DeliverySettings;
use firehose_sentinel::model::{Alert, AlertStatus, Finding, Point, Status};
use firehose_sentinel::plan::alerts::test_alert;
use firehose_sentinel::state::StateStore;
use firehose_sentinel::telemetry::metrics::Metrics;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

struct BenchSink {
    name: String,
    sent: AtomicUsize,
    body_bytes: AtomicU64,
}

#[async_trait]
impl Sink for BenchSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "webhook"
    }
    fn accepts(&self, _stream: &str) -> bool {
        true
    }
    async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let body = serde_json::to_vec(alert).map_err(|e| SendError::Permanent {
            message: e.to_string(),
        })?;
        self.body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The state store, counting the bytes and writes of the state file.
struct Counting {
    inner: Arc<StateStore>,
    path: std::path::PathBuf,
    bytes: AtomicU64,
    writes: AtomicU64,
}

impl QueueStore for Counting {
    fn update_queue(&self, f: &mut dyn FnMut(&mut Vec<OutboxEntry>, &mut Vec<OutboxEntry>)) {
        self.inner.update_queue(f)
    }
    fn persist(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.inner.save().await.map_err(|e| e.to_string())?;
            let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
            self.bytes.fetch_add(len, Ordering::Relaxed);
            self.writes.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// A realistic alert, half firing and half resolved: a firing one has the 20 findings of a
/// full diagnosis (four with a policy document as evidence); both have an hour of the four
/// metrics.
fn alert(i: usize) -> Alert {
    let now = Utc::now();
    let mut a = test_alert(now);
    a.test = false;
    a.incident_id = format!("bench-stream-{}-{}", i / 2, now.timestamp());
    a.sequence = (i % 2) as u32 + 1;
    a.status = if i.is_multiple_of(2) {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    };
    a.stream = format!("bench-stream-{}", i / 2);
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": (0..3).map(|n| serde_json::json!({
            "Sid": format!("Statement{n}"),
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"],
            "Resource": [format!("arn:aws:s3:::bucket-{i}"), format!("arn:aws:s3:::bucket-{i}/*")],
        })).collect::<Vec<_>>(),
    });
    a.findings = (0..20)
        .map(|n| Finding {
            check: format!("check.{n}"),
            status: if n == 0 { Status::Fail } else { Status::Pass },
            summary: "the role's policy allows s3:PutObject on the bucket and its prefix".into(),
            // Four checks carry a policy document (role, bucket, key policies), the others a
            // few fields.
            evidence: if n < 4 {
                serde_json::json!({ "role": "arn:aws:iam::123456789012:role/firehose", "policy": policy })
            } else {
                serde_json::json!({ "bucket": format!("bucket-{i}"), "region": "eu-west-1" })
            },
            remediation: "attach a policy that allows s3:PutObject on arn:aws:s3:::bucket/*".into(),
        })
        .collect();
    let period_start = now
        .duration_trunc(chrono::Duration::minutes(5))
        .expect("period");
    let mut metrics = BTreeMap::new();
    for m in [
        "DeliveryToS3.Success",
        "IncomingRecords",
        "ExecuteProcessing.Success",
        "DeliveryToS3.DataFreshness",
    ] {
        let points = (0..12)
            .map(|k| Point {
                // CloudWatch's datapoints fall on the period's boundaries.
                t: period_start - chrono::Duration::minutes(5 * k),
                v: k as f64,
            })
            .collect();
        metrics.insert(m.to_string(), points);
    }
    a.metrics = metrics;
    if !a.is_firing() {
        // As the daemon builds them: a resolved alert carries no findings.
        a.findings.clear();
    }
    a
}

fn vm(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_alerts = args.first().copied().unwrap_or(10_000);
    let n_sinks = args.get(1).copied().unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let (store, _) = StateStore::open(&path).expect("state file");
        let store = Arc::new(store);
        let sinks: Vec<Arc<BenchSink>> = (0..n_sinks)
            .map(|k| {
                Arc::new(BenchSink {
                    name: format!("sink-{k}"),
                    sent: AtomicUsize::new(0),
                    body_bytes: AtomicU64::new(0),
                })
            })
            .collect();
        let counting = Arc::new(Counting {
            inner: store.clone(),
            path: path.clone(),
            bytes: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        });
        let delivery = DeliverySettings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            give_up_after: Duration::from_secs(86_400),
            timeout: Duration::from_secs(10),
            max_pending: n_alerts,
        };
        let outbox = Outbox::new(
            counting.clone(),
            sinks.iter().map(|s| s.clone() as Arc<dyn Sink>).collect(),
            Metrics::new(),
            delivery,
        );
        // What an outage of the receivers leaves: every alert pending on every sink, due now.
        let started = Instant::now();
        let outage = Utc::now() - chrono::Duration::hours(2);
        for i in 0..n_alerts {
            let a = alert(i);
            let mut entries = outbox.entries_for(&a, outage);
            for e in &mut entries {
                e.attempts = 6;
                e.next_attempt_at = Utc::now();
                e.last_error = Some("HTTP 503 Service Unavailable".into());
            }
            store.with(|s| s.outbox.extend(entries));
        }
        store.save().await.expect("save");
        let file_before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let rss_filled = vm("VmRSS:") * 1024;
        let hwm_filled = vm("VmHWM:") * 1024;
        println!(
            "filled {} alerts x {} sinks in {:.2?}: state file {:.1} MiB, RSS {:.1} MiB (peak so far {:.1} MiB)",
            n_alerts,
            n_sinks,
            started.elapsed(),
            mib(file_before),
            mib(rss_filled),
            mib(hwm_filled)
        );

        let stop = CancellationToken::new();
        let t0 = Instant::now();
        let workers = outbox.spawn_workers(stop.clone());
        outbox.wake_all();
        let total = n_alerts * n_sinks;
        loop {
            let sent: usize = sinks.iter().map(|s| s.sent.load(Ordering::Relaxed)).sum();
            let left = store.with(|s| s.outbox.len());
            if sent >= total && left == 0 {
                break;
            }
            if t0.elapsed() > Duration::from_secs(1800) {
                eprintln!("not drained after 30 minutes: {sent}/{total} sent, {left} left");
                std::process::exit(1);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drained = t0.elapsed();
        stop.cancel();
        for w in workers {
            let _ = w.await;
        }
        let file_after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let body: u64 = sinks.iter().map(|s| s.body_bytes.load(Ordering::Relaxed)).sum();
        println!(
            "drained {} deliveries in {:.2?} ({:.0}/s)",
            total,
            drained,
            total as f64 / drained.as_secs_f64()
        );
        println!(
            "peak RSS (VmHWM) {:.1} MiB; state file writes during the drain: {} ({:.1} MiB written); state file after: {} bytes; alert bodies rendered: {:.1} MiB",
            mib(vm("VmHWM:") * 1024),
            counting.writes.load(Ordering::Relaxed),
            mib(counting.bytes.load(Ordering::Relaxed)),
            file_after,
            mib(body)
        );
    });
}
