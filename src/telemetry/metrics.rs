//! Every Prometheus metric family of the sentinel, defined and registered in one place.
//!
//! Each daemon instance owns its own [`Metrics`] (and registry), so tests can run several
//! daemons in one process. Labels come from bounded sets only: stream names come from the
//! configuration or discovery, check ids and health values from fixed lists.

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use std::sync::Arc;

use super::stream_series::{self, StreamSeries};
use crate::model::ErrorKind;

/// Every metric name starts with this.
pub const PREFIX: &str = "firehose_sentinel";

/// All metric families.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// The per-stream series, written beside the registry's families at each scrape.
    pub streams: Arc<StreamSeries>,
    pub alerts_sent_total: IntCounterVec,
    pub alert_delivery_failures_total: IntCounterVec,
    pub alerts_pending: IntGaugeVec,
    pub alert_oldest_pending_seconds: GaugeVec,
    pub alerts_dropped_total: IntCounterVec,
    pub aws_requests_total: IntCounterVec,
    pub aws_request_duration_seconds: HistogramVec,
    pub cloudwatch_metrics_requested_total: IntCounterVec,
    pub cloudwatch_cost_dollars_per_month: GaugeVec,
    pub get_metric_data_splits_total: IntCounterVec,
    pub get_metric_data_queries_per_call: IntGaugeVec,
    pub poll_duration_seconds: Histogram,
    pub polls_skipped_total: IntCounter,
    pub polls_failed_total: IntCounter,
    pub last_successful_poll_timestamp_seconds: Gauge,
    pub streams_monitored: IntGauge,
    pub target_up: IntGaugeVec,
    pub risk_active: IntGaugeVec,
    pub audit_metrics_requested_total: IntCounterVec,
    pub audits_total: IntCounter,
    pub diagnosis_duration_seconds: Histogram,
    pub errors_total: IntCounterVec,
    pub build_info: IntGaugeVec,
    /// Every family name, for tests and documentation checks.
    names: Vec<String>,
}

fn name(n: &str) -> String {
    format!("{PREFIX}_{n}")
}

impl Metrics {
    /// Every family, registered. (Long on purpose: one declaration per family, read as a
    /// list; splitting it would only scatter the names.)
    pub fn new() -> Self {
        let r = Registry::new();
        let mut names: Vec<String> = Vec::new();
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m;
                names.extend(
                    prometheus::core::Collector::desc(&m)
                        .iter()
                        .map(|d| d.fq_name.clone()),
                );
                // Names are unique constants: registration cannot collide.
                r.register(Box::new(m.clone()))
                    .expect("metric registered twice");
                m
            }};
        }
        let gv = |n: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(Opts::new(name(n), help), labels).expect("valid metric")
        };
        let igv = |n: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name(n), help), labels).expect("valid metric")
        };
        let icv = |n: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name(n), help), labels).expect("valid metric")
        };
        let m = Metrics {
            streams: Arc::new(StreamSeries::default()),
            alerts_sent_total: reg!(icv(
                "alerts_sent_total",
                "Alerts accepted by the sink.",
                &["sink", "status"]
            )),
            alert_delivery_failures_total: reg!(icv(
                "alert_delivery_failures_total",
                "Failed alert delivery attempts.",
                &["sink"]
            )),
            alerts_pending: reg!(igv(
                "alerts_pending",
                "Alerts waiting in the outbox.",
                &["sink"]
            )),
            alert_oldest_pending_seconds: reg!(gv(
                "alert_oldest_pending_seconds",
                "Age of the oldest alert waiting in the outbox.",
                &["sink"]
            )),
            alerts_dropped_total: reg!(icv(
                "alerts_dropped_total",
                "Alerts given up (reason: rejected = permanent 4xx, expired = older than delivery.give_up_after).",
                &["sink", "reason"]
            )),
            aws_requests_total: reg!(icv(
                "aws_requests_total",
                "AWS API request attempts (retries count), by outcome.",
                &["service", "operation", "outcome"]
            )),
            aws_request_duration_seconds: reg!(HistogramVec::new(
                HistogramOpts::new(
                    name("aws_request_duration_seconds"),
                    "Duration of one AWS API request attempt."
                )
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                &["service", "operation"]
            )
            .expect("valid metric")),
            cloudwatch_metrics_requested_total: reg!(icv(
                "cloudwatch_metrics_requested_total",
                "Metrics requested through GetMetricData (what CloudWatch bills, per 1,000), by target.",
                &["target"]
            )),
            get_metric_data_splits_total: reg!(icv(
                "get_metric_data_splits_total",
                "GetMetricData calls that timed out and were split in two and retried in the same cycle.",
                &["target", "region"]
            )),
            get_metric_data_queries_per_call: reg!(igv(
                "get_metric_data_queries_per_call",
                "Queries a GetMetricData call carries at most: 500, less after calls timed out (remembered until restart).",
                &["target", "region"]
            )),
            cloudwatch_cost_dollars_per_month: reg!(gv(
                "cloudwatch_cost_dollars_per_month",
                "GetMetricData spend estimated for 30 days at the current rate: metrics requested per cycle (mean of the last 288 cycles) x the schedule's cycles in 30 days x $0.01 per 1,000.",
                &["target"]
            )),
            poll_duration_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new(name("poll_duration_seconds"), "Duration of one poll cycle.")
                    .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0])
            )
            .expect("valid metric")),
            polls_skipped_total: reg!(IntCounter::new(
                name("polls_skipped_total"),
                "Scheduled polls skipped because the previous one was still running."
            )
            .expect("valid metric")),
            polls_failed_total: reg!(IntCounter::new(
                name("polls_failed_total"),
                "Poll cycles in which at least one GetMetricData call failed."
            )
            .expect("valid metric")),
            last_successful_poll_timestamp_seconds: reg!(Gauge::new(
                name("last_successful_poll_timestamp_seconds"),
                "Unix time of the end of the last poll whose every GetMetricData call succeeded."
            )
            .expect("valid metric")),
            risk_active: reg!(igv(
                "risk_active",
                "1 while the audit's risk is open on the stream, 0 once it is resolved (series exist for risks found since the start).",
                &["stream", "region", "account", "risk"]
            )),
            audit_metrics_requested_total: reg!(icv(
                "audit_metrics_requested_total",
                "CloudWatch metrics the risk audit requested with GetMetricData (also counted in cloudwatch_metrics_requested_total).",
                &["target"]
            )),
            audits_total: reg!(IntCounter::new(
                name("audits_total"),
                "Risk audits run (schedule.audit)."
            )
            .expect("valid metric")),
            target_up: reg!(igv(
                "target_up",
                "1 when the last inventory refresh of this target and region could read it (its credentials work), 0 when its streams are unknown for that reason.",
                &["target", "region", "account"]
            )),
            streams_monitored: reg!(IntGauge::new(
                name("streams_monitored"),
                "Delivery streams currently monitored."
            )
            .expect("valid metric")),
            diagnosis_duration_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    name("diagnosis_duration_seconds"),
                    "Duration of one stream's root-cause diagnosis."
                )
                .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
            )
            .expect("valid metric")),
            errors_total: reg!(icv(
                "errors_total",
                "Errors of the sentinel itself, by kind.",
                &["kind"]
            )),
            build_info: reg!(igv(
                "build_info",
                "Always 1; the version label tells which build runs.",
                &["version"]
            )),
            registry: r.clone(),
            names: Vec::new(),
        };
        let mut m = m;
        names.extend(stream_series::family_names().into_iter().map(name));
        names.sort();
        m.names = names;
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
    }

    /// Count one of the sentinel's own errors.
    pub fn error(&self, kind: ErrorKind) {
        self.errors_total.with_label_values(&[kind.as_str()]).inc();
    }

    /// Every family name (histograms without their `_bucket`/`_sum`/`_count` suffixes).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The Prometheus text exposition of every family: the registry's, then the per-stream
    /// series.
    pub fn render(&self) -> String {
        // Sized once: about 1.3 KiB of series a stream (growing by doubling would copy 6 MiB
        // at 5,000 streams and hold both copies at once).
        let mut out = String::with_capacity(32 * 1024 + self.streams.len() * 1400);
        let enc = TextEncoder::new();
        if let Err(e) = enc.encode_utf8(&self.registry.gather(), &mut out) {
            return format!("# encoding failed: {e}\n");
        }
        self.streams.render(PREFIX, &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
