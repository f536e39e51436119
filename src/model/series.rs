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

/// A metric a cycle reads for a stream. Which ones a stream needs depends on its shape (its
/// source and processor); see `poll::kinds_for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    /// `DeliveryToS3.Success` (Average).
    Success,
    /// `IncomingRecords` (Sum): records put into a Direct PUT stream.
    Incoming,
    /// `DeliveryToS3.DataFreshness` (Maximum).
    Freshness,
    /// `ExecuteProcessing.Success` (Average): Lambda invocations that succeeded.
    Processing,
    /// `SucceedProcessing.Records` (Sum): records the Lambda returned `Ok` or `Dropped`.
    ProcessedRecords,
    /// `DataReadFromKinesisStream.Records` (Sum): what Firehose read from its Kinesis source.
    KinesisRead,
    /// `DataReadFromSource.Records` (Sum): what Firehose read from its MSK source.
    MskRead,
    /// AWS/Kinesis `IncomingRecords` (Sum) of the source data stream.
    SourceIncoming,
}

impl MetricKind {
    pub const ALL: [MetricKind; 8] = [
        MetricKind::Success,
        MetricKind::Incoming,
        MetricKind::Freshness,
        MetricKind::Processing,
        MetricKind::ProcessedRecords,
        MetricKind::KinesisRead,
        MetricKind::MskRead,
        MetricKind::SourceIncoming,
    ];

    /// CloudWatch metric name.
    pub fn metric_name(self) -> &'static str {
        match self {
            MetricKind::Success => "DeliveryToS3.Success",
            MetricKind::Incoming | MetricKind::SourceIncoming => "IncomingRecords",
            MetricKind::Freshness => "DeliveryToS3.DataFreshness",
            MetricKind::Processing => "ExecuteProcessing.Success",
            MetricKind::ProcessedRecords => "SucceedProcessing.Records",
            MetricKind::KinesisRead => "DataReadFromKinesisStream.Records",
            MetricKind::MskRead => "DataReadFromSource.Records",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            MetricKind::SourceIncoming => "AWS/Kinesis",
            _ => "AWS/Firehose",
        }
    }

    /// The name in reports and alerts: the metric name, prefixed by its namespace when it is
    /// not Firehose's own.
    pub fn report_name(self) -> &'static str {
        match self {
            MetricKind::SourceIncoming => "AWS/Kinesis IncomingRecords",
            other => other.metric_name(),
        }
    }

    pub fn stat(self) -> &'static str {
        match self {
            MetricKind::Success | MetricKind::Processing => "Average",
            MetricKind::Freshness => "Maximum",
            MetricKind::Incoming
            | MetricKind::ProcessedRecords
            | MetricKind::KinesisRead
            | MetricKind::MskRead
            | MetricKind::SourceIncoming => "Sum",
        }
    }
}

/// A few metrics, in the order they were added, held inline (no allocation): what a stream
/// reads in a cycle, or did not read. A set: adding one already there does nothing.
#[derive(Debug, Clone, Copy)]
pub struct Kinds {
    list: [MetricKind; 8],
    len: u8,
}

impl Default for Kinds {
    fn default() -> Self {
        Kinds {
            list: [MetricKind::Success; 8],
            len: 0,
        }
    }
}

impl Kinds {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn as_slice(&self) -> &[MetricKind] {
        &self.list[..usize::from(self.len)]
    }

    /// Add `m` at the end (when not there yet); whether it was added.
    pub fn insert(&mut self, m: MetricKind) -> bool {
        if self.contains(&m) {
            return false;
        }
        // Never full: there are eight metrics and each is held once.
        self.list[usize::from(self.len)] = m;
        self.len += 1;
        true
    }

    pub fn remove(&mut self, m: &MetricKind) -> bool {
        match self.as_slice().iter().position(|k| k == m) {
            Some(i) => {
                self.list.copy_within(i + 1..usize::from(self.len), i);
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, m: &MetricKind) -> bool {
        self.as_slice().contains(m)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn iter(&self) -> impl Iterator<Item = MetricKind> + '_ {
        self.as_slice().iter().copied()
    }
}

/// Equal when they hold the same metrics, in whatever order.
impl PartialEq for Kinds {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|m| other.contains(&m))
    }
}

impl FromIterator<MetricKind> for Kinds {
    fn from_iter<I: IntoIterator<Item = MetricKind>>(iter: I) -> Self {
        let mut k = Kinds::new();
        for m in iter {
            k.insert(m);
        }
        k
    }
}

impl IntoIterator for Kinds {
    type Item = MetricKind;
    type IntoIter = std::iter::Take<std::array::IntoIter<MetricKind, 8>>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter().take(usize::from(self.len))
    }
}

/// One datapoint. Serialized as `{"t": RFC 3339, "v": value}` (the alert payloads); also read
/// from the state file's compact `[UNIX_SECONDS, value]` (see [`Point::compact`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PointRepr")]
pub struct Point {
    pub t: DateTime<Utc>,
    pub v: f64,
}

/// The two shapes a stored point may have.
#[derive(Deserialize)]
#[serde(untagged)]
enum PointRepr {
    Full { t: DateTime<Utc>, v: f64 },
    Compact(i64, f64),
}

impl TryFrom<PointRepr> for Point {
    type Error = String;

    fn try_from(r: PointRepr) -> Result<Self, String> {
        match r {
            PointRepr::Full { t, v } => Ok(Point { t, v }),
            PointRepr::Compact(secs, v) => Utc
                .timestamp_opt(secs, 0)
                .single()
                .map(|t| Point { t, v })
                .ok_or_else(|| format!("datapoint time {secs} is out of range")),
        }
    }
}

impl Point {
    /// `[UNIX_SECONDS, value]`, a third of the full form, when the time is a whole second (as
    /// CloudWatch's are); otherwise the full form, so that reading it back is exact.
    pub fn compact(&self) -> serde_json::Value {
        if self.t.timestamp_subsec_nanos() == 0 {
            serde_json::json!([self.t.timestamp(), self.v])
        } else {
            serde_json::json!({ "t": self.t, "v": self.v })
        }
    }
}

/// Present datapoints of one stream, by metric (a period without a datapoint is absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    /// By metric (in [`MetricKind`] order), oldest first, one datapoint per time. (Vectors,
    /// not maps: 5,000 streams x 10 datapoints a cycle are stored as CloudWatch sends them,
    /// and the report shares them.)
    series: Vec<(MetricKind, Vec<Point>)>,
    /// Metrics this cycle did not request (two-phase polling settled the stream without
    /// them): absent here says nothing about the stream.
    pub unread: Kinds,
}

/// The metrics a report or alert shows even without a datapoint (unless not read).
const ALWAYS: [MetricKind; 3] = [
    MetricKind::Success,
    MetricKind::Incoming,
    MetricKind::Freshness,
];

impl StreamMetrics {
    /// Datapoints of `m`, oldest first (empty when none).
    pub fn points(&self, m: MetricKind) -> &[Point] {
        self.series
            .iter()
            .find(|(k, _)| *k == m)
            .map_or(&[], |(_, s)| s.as_slice())
    }

    fn series_mut(&mut self, m: MetricKind) -> &mut Vec<Point> {
        let i = match self.series.binary_search_by(|(k, _)| k.cmp(&m)) {
            Ok(i) => i,
            Err(i) => {
                self.series.insert(i, (m, Vec::new()));
                i
            }
        };
        &mut self.series[i].1
    }

    /// Datapoints of `m`, oldest first.
    pub fn get(&self, m: MetricKind) -> impl DoubleEndedIterator<Item = (&DateTime<Utc>, &f64)> {
        self.points(m).iter().map(|p| (&p.t, &p.v))
    }

    pub fn newest(&self, m: MetricKind) -> Option<f64> {
        self.points(m).last().map(|p| p.v)
    }

    /// Whether some datapoint of `m` was stored.
    pub fn has(&self, m: MetricKind) -> bool {
        !self.points(m).is_empty()
    }

    /// One datapoint (replacing the one at the same time).
    pub fn insert(&mut self, m: MetricKind, t: DateTime<Utc>, v: f64) {
        let s = self.series_mut(m);
        match s.binary_search_by(|p| p.t.cmp(&t)) {
            Ok(i) => s[i].v = v,
            Err(i) => s.insert(i, Point { t, v }),
        }
    }

    /// Datapoints of `m`, oldest first and one per time (as [`crate::aws::MetricSeries`]
    /// has them), moved in when `m` has none yet.
    pub fn extend(&mut self, m: MetricKind, points: Vec<Point>) {
        if points.is_empty() {
            return;
        }
        let s = self.series_mut(m);
        if s.is_empty() {
            *s = points;
        } else {
            for p in points {
                self.insert(m, p.t, p.v);
            }
        }
    }

    /// The series reports and alerts show, in [`MetricKind`] order: `DeliveryToS3.Success`,
    /// `IncomingRecords` and `DeliveryToS3.DataFreshness` always (empty when nothing came
    /// back), the others when they have datapoints; none that was not read this cycle.
    pub fn shown(&self) -> impl Iterator<Item = (MetricKind, &[Point])> {
        MetricKind::ALL
            .into_iter()
            .filter(|p| self.has(*p) || (ALWAYS.contains(p) && !self.unread.contains(p)))
            .map(|p| (p, self.points(p)))
    }

    /// [`StreamMetrics::shown`] by name ([`MetricKind::report_name`]), as alerts carry them.
    pub fn to_points(&self) -> BTreeMap<String, Vec<Point>> {
        self.shown()
            .map(|(p, points)| (p.report_name().to_string(), points.to_vec()))
            .collect()
    }
}
