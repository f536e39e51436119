//! The CloudWatch metrics a diagnosis reads in one `GetMetricData` request: which queries a
//! stream's shape needs, and the datapoints back by `namespace/metric/stat`. Pure.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::arn::{kinesis_stream_name, lambda_parts};
use crate::aws::{MetricQuery, Source, StreamDescription};

/// Datapoints of the diagnosis metrics, by `namespace/metric/stat`.
#[derive(Debug, Clone, Default)]
pub struct DiagMetrics {
    pub series: HashMap<String, BTreeMap<DateTime<Utc>, f64>>,
}

impl DiagMetrics {
    pub fn points(
        &self,
        ns: &str,
        metric: &str,
        stat: &str,
    ) -> Option<&BTreeMap<DateTime<Utc>, f64>> {
        self.series.get(&key(ns, metric, stat))
    }
    pub fn sum(&self, ns: &str, metric: &str, stat: &str) -> f64 {
        self.points(ns, metric, stat)
            .map(|p| p.values().sum())
            .unwrap_or(0.0)
    }
    pub fn max(&self, ns: &str, metric: &str, stat: &str) -> Option<f64> {
        self.points(ns, metric, stat)
            .and_then(|p| p.values().copied().reduce(f64::max))
    }
    pub fn min(&self, ns: &str, metric: &str, stat: &str) -> Option<f64> {
        self.points(ns, metric, stat)
            .and_then(|p| p.values().copied().reduce(f64::min))
    }
    pub fn has(&self, ns: &str, metric: &str, stat: &str) -> bool {
        self.points(ns, metric, stat).is_some_and(|p| !p.is_empty())
    }
    pub fn json(&self, ns: &str, metric: &str, stat: &str) -> Value {
        match self.points(ns, metric, stat) {
            Some(p) => json!(p
                .iter()
                .map(|(t, v)| json!({"t": t, "v": v}))
                .collect::<Vec<_>>()),
            None => json!([]),
        }
    }
}

/// The key of a series: `namespace/metric/stat`.
pub fn key(ns: &str, metric: &str, stat: &str) -> String {
    format!("{ns}/{metric}/{stat}")
}

/// The queries of a diagnosis of `desc`: Firehose's own, the processor's (AWS/Lambda) and the
/// Kinesis source's, as the stream has them.
pub fn queries(desc: &StreamDescription, period: u32) -> Vec<MetricQuery> {
    let mut q = Vec::new();
    let mut add = |ns: &'static str,
                   metric: &'static str,
                   stat: &'static str,
                   dim: (&'static str, String)| {
        q.push(MetricQuery {
            id: format!("d{}", q.len()),
            namespace: ns.into(),
            metric: metric.into(),
            dimensions: vec![(dim.0.into(), dim.1)],
            period_seconds: period,
            stat: stat.into(),
        })
    };
    let fh = ("DeliveryStreamName", desc.name.clone());
    for (m, s) in [
        ("IncomingRecords", "Sum"),
        ("IncomingBytes", "Sum"),
        ("ThrottledRecords", "Sum"),
        ("KMSKeyAccessDenied", "Sum"),
        ("KMSKeyDisabled", "Sum"),
        ("KMSKeyInvalidState", "Sum"),
        ("KMSKeyNotFound", "Sum"),
    ] {
        add("AWS/Firehose", m, s, fh.clone());
    }
    if let Some(arn) = desc.s3.as_ref().and_then(|d| d.lambda_arn.as_deref()) {
        add(
            "AWS/Firehose",
            "ExecuteProcessing.Success",
            "Average",
            fh.clone(),
        );
        add(
            "AWS/Firehose",
            "ExecuteProcessing.Duration",
            "Maximum",
            fh.clone(),
        );
        let (name, _) = lambda_parts(arn);
        for (m, s) in [
            ("Errors", "Sum"),
            ("Throttles", "Sum"),
            ("Duration", "Maximum"),
        ] {
            add("AWS/Lambda", m, s, ("FunctionName", name.clone()));
        }
    }
    if let Source::KinesisStream { stream_arn, .. } = &desc.source {
        add(
            "AWS/Firehose",
            "DataReadFromKinesisStream.Records",
            "Sum",
            fh.clone(),
        );
        add(
            "AWS/Kinesis",
            "IncomingRecords",
            "Sum",
            ("StreamName", kinesis_stream_name(stream_arn).to_string()),
        );
    }
    q
}
