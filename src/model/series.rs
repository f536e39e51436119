//! The polled window and the datapoints read in it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The queried time range: whole periods, ending `delay` before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub period_seconds: u32,
}

impl Window {
    /// `end` = (now - delay) rounded down to a period boundary; `start` = `end` - lookback periods.
    pub fn aligned(now: DateTime<Utc>, period: u32, delay: u32, lookback: u32) -> Window {
        let p = i64::from(period.max(1));
        let end_s = (now.timestamp() - i64::from(delay)).div_euclid(p) * p;
        let start_s = end_s - p * i64::from(lookback);
        Window {
            start: Utc.timestamp_opt(start_s, 0).single().unwrap_or(now),
            end: Utc.timestamp_opt(end_s, 0).single().unwrap_or(now),
            period_seconds: period,
        }
    }

    pub fn periods(&self) -> u32 {
        ((self.end - self.start).num_seconds() / i64::from(self.period_seconds.max(1))) as u32
    }
}

/// A Firehose metric read every cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    Success,
    Incoming,
    Freshness,
    Processing,
}

impl MetricKind {
    pub const ALL: [MetricKind; 4] = [
        MetricKind::Success,
        MetricKind::Incoming,
        MetricKind::Freshness,
        MetricKind::Processing,
    ];

    /// CloudWatch metric name (namespace `AWS/Firehose`).
    pub fn metric_name(self) -> &'static str {
        match self {
            MetricKind::Success => "DeliveryToS3.Success",
            MetricKind::Incoming => "IncomingRecords",
            MetricKind::Freshness => "DeliveryToS3.DataFreshness",
            MetricKind::Processing => "ExecuteProcessing.Success",
        }
    }

    pub fn stat(self) -> &'static str {
        match self {
            MetricKind::Success | MetricKind::Processing => "Average",
            MetricKind::Incoming => "Sum",
            MetricKind::Freshness => "Maximum",
        }
    }
}

/// One datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: DateTime<Utc>,
    pub v: f64,
}

/// Present datapoints of one stream, by metric (a period without a datapoint is absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    pub series: BTreeMap<MetricKind, BTreeMap<DateTime<Utc>, f64>>,
}

impl StreamMetrics {
    pub fn get(&self, m: MetricKind) -> impl DoubleEndedIterator<Item = (&DateTime<Utc>, &f64)> {
        self.series.get(&m).into_iter().flat_map(|s| s.iter())
    }

    pub fn newest(&self, m: MetricKind) -> Option<f64> {
        self.get(m).next_back().map(|(_, v)| *v)
    }

    pub fn insert(&mut self, m: MetricKind, t: DateTime<Utc>, v: f64) {
        self.series.entry(m).or_default().insert(t, v);
    }

    /// Datapoints by CloudWatch metric name, oldest first (as in reports and alerts).
    /// `ExecuteProcessing.Success` appears only for streams that were polled for it.
    pub fn to_points(&self) -> BTreeMap<String, Vec<Point>> {
        MetricKind::ALL
            .iter()
            .filter(|p| self.series.contains_key(p) || **p != MetricKind::Processing)
            .map(|p| {
                (
                    p.metric_name().to_string(),
                    self.get(*p).map(|(t, v)| Point { t: *t, v: *v }).collect(),
                )
            })
            .collect()
    }
}
