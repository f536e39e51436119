//! One poll: the aligned window, the `GetMetricData` queries of every stream, batched at most
//! 500 per request, and the datapoints sorted back per stream.
//!
//! A failed request marks only the streams whose queries it carried as unreadable; the poll
//! goes on. No detection happens here.

pub mod cost;
pub mod inventory;
mod reader;
pub mod shard;

use std::collections::HashMap;
use std::sync::Arc;

use crate::aws::{AwsError, MetricQuery};
use crate::model::{Kinds, MetricKind, Shape, StreamMetrics};

pub use reader::{CallSize, Reader, TwoPhase, GROW_AFTER_CLEAN_READS, MIN_QUERIES_PER_CALL};

/// The target (account and region) of the `[aws]` + `[streams]` configuration, as the cost
/// metrics name it.
pub const DEFAULT_TARGET: &str = "default";

/// What the poller calls.
pub const PERMISSIONS: &[&str] = &["cloudwatch:GetMetricData"];

/// `GetMetricData` accepts at most this many queries per request.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// The query id letter of a metric (ids must start with a lowercase letter).
fn code(m: MetricKind) -> char {
    match m {
        MetricKind::Success => 's',
        MetricKind::Incoming => 'i',
        MetricKind::Freshness => 'f',
        MetricKind::Processing => 'p',
        MetricKind::ProcessedRecords => 'r',
        MetricKind::KinesisRead => 'k',
        MetricKind::MskRead => 'm',
        MetricKind::SourceIncoming => 'x',
    }
}

/// A stream to poll.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub shape: Shape,
    /// The Kinesis data stream it reads, when that is its source.
    pub source_stream: Option<String>,
}

/// `GetMetricData` returns at most this many datapoints per call.
pub const MAX_DATAPOINTS_PER_CALL: usize = 100_800;

/// Queries per call for a window of `periods`: at most 500, and few enough that every query's
/// datapoints fit in one answer.
pub fn queries_per_call(periods: u32) -> usize {
    (MAX_DATAPOINTS_PER_CALL / (periods.max(1) as usize)).clamp(1, MAX_QUERIES_PER_CALL)
}

/// The outcome of one poll.
#[derive(Debug, Default)]
pub struct PollResult {
    /// One entry per target, in target order.
    pub streams: Vec<Result<StreamMetrics, AwsError>>,
    pub calls: usize,
    pub queries: usize,
    /// Every metric of every stream was read (the first cycle, and the slow full read).
    pub full_read: bool,
    /// Streams read in full in the second phase (their delivery success did not settle them).
    pub second_phase: usize,
}

impl PollResult {
    /// Nothing was asked: every one of `n` streams gets `error`.
    pub fn failed(n: usize, error: AwsError) -> Self {
        PollResult {
            streams: vec![Err(error); n],
            ..Default::default()
        }
    }

    /// Every `GetMetricData` call succeeded.
    pub fn complete(&self) -> bool {
        self.streams.iter().all(Result::is_ok)
    }

    /// Every call failed without an answer (AWS unreachable), and there was at least one.
    pub fn unreachable(&self) -> bool {
        !self.streams.is_empty()
            && self
                .streams
                .iter()
                .all(|r| r.as_ref().err().is_some_and(AwsError::is_unreachable))
    }

    /// The results keyed by stream name (`targets` as given to [`Reader::poll`], whose names
    /// the keys borrow), moved out (no copy of every datapoint) to be shared by detection and
    /// the report.
    pub fn take_by_name<'t>(
        &mut self,
        targets: &'t [Target],
    ) -> HashMap<&'t str, Result<Arc<StreamMetrics>, AwsError>> {
        targets
            .iter()
            .zip(std::mem::take(&mut self.streams))
            .map(|(t, r)| (t.name.as_str(), r.map(Arc::new)))
            .collect()
    }
}

/// One query, with the (target index, metric) its id stands for.
pub type IndexedQuery = (MetricQuery, usize, MetricKind);

/// The queries of every metric of every target (a full read).
pub fn build_queries(targets: &[Target], period: u32) -> Vec<IndexedQuery> {
    build_queries_of(targets, period, &|_, t| t.shape.metric_kinds())
}

/// The queries of the metrics `kinds` names for each target.
pub fn build_queries_of(
    targets: &[Target],
    period: u32,
    kinds: &dyn Fn(usize, &Target) -> Kinds,
) -> Vec<IndexedQuery> {
    let mut out = Vec::with_capacity(targets.len() * 4);
    for (i, t) in targets.iter().enumerate() {
        for m in kinds(i, t) {
            let dimension = match m {
                MetricKind::SourceIncoming => match &t.source_stream {
                    Some(s) => ("StreamName".into(), s.clone()),
                    None => continue,
                },
                _ => ("DeliveryStreamName".into(), t.name.clone()),
            };
            out.push((
                MetricQuery {
                    id: format!("{}{}", code(m), i),
                    namespace: m.namespace().into(),
                    metric: m.metric_name().into(),
                    dimensions: vec![dimension],
                    period_seconds: period,
                    stat: m.stat().into(),
                },
                i,
                m,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::MetricsApi;
    use crate::model::Window;
    use crate::telemetry::metrics::Metrics;
    use async_trait::async_trait;
    use chrono::{DateTime, TimeZone, Utc};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn window_is_aligned_and_ends_delay_before_now() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 3, 7, 42).unwrap();
        let w = Window::aligned(now, 60, 120, 10);
        assert_eq!(w.end, Utc.with_ymd_and_hms(2026, 11, 26, 3, 5, 0).unwrap());
        assert_eq!(
            w.start,
            Utc.with_ymd_and_hms(2026, 11, 26, 2, 55, 0).unwrap()
        );
        assert_eq!(w.periods(), 10);
        let w = Window::aligned(now, 300, 0, 2);
        assert_eq!(w.end, Utc.with_ymd_and_hms(2026, 11, 26, 3, 5, 0).unwrap());
        assert_eq!(
            w.start,
            Utc.with_ymd_and_hms(2026, 11, 26, 2, 55, 0).unwrap()
        );
    }

    #[test]
    fn processing_is_queried_only_with_a_lambda() {
        let t = vec![target("a", false), target("b", true)];
        let q = build_queries(&t, 60);
        // 3 for every stream; a Lambda processor adds its invocations and its records.
        assert_eq!(q.len(), 8);
        assert!(q
            .iter()
            .all(|(q, _, _)| q.id.chars().next().unwrap().is_ascii_lowercase()));
        assert_eq!(
            q.iter()
                .filter(|(_, _, m)| *m == MetricKind::Processing)
                .count(),
            1
        );
    }

    struct Counting {
        calls: AtomicUsize,
        fail_call: Option<usize>,
    }

    #[async_trait]
    impl MetricsApi for Counting {
        async fn get_metric_data(
            &self,
            queries: &[MetricQuery],
            start: DateTime<Utc>,
            _end: DateTime<Utc>,
        ) -> Result<Vec<crate::aws::MetricSeries>, AwsError> {
            assert!(queries.len() <= MAX_QUERIES_PER_CALL);
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if Some(n) == self.fail_call {
                return Err(AwsError::Throttled {
                    operation: "GetMetricData".into(),
                    message: "Rate exceeded".into(),
                });
            }
            Ok(queries
                .iter()
                .map(|q| crate::aws::MetricSeries {
                    id: q.id.clone(),
                    // Oldest first, as the trait answers.
                    points: vec![(start - chrono::Duration::seconds(60), 5.0), (start, 1.0)],
                })
                .collect())
        }
    }

    fn reader<'a>(api: &'a dyn MetricsApi, m: &'a Metrics, c: &'a CallSize) -> Reader<'a> {
        Reader {
            api,
            metrics: m,
            target: "default",
            region: "us-east-1",
            call_size: c,
        }
    }

    fn target(name: &str, lambda: bool) -> Target {
        let mut shape = Shape::direct_put(300);
        if lambda {
            shape.lambda_buffer_seconds = Some(60);
        }
        Target {
            name: name.into(),
            shape,
            source_stream: None,
        }
    }

    fn targets(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| target(&format!("s-{i}"), i % 2 == 0))
            .collect()
    }

    #[test]
    fn a_kinesis_source_is_read_on_both_sides() {
        let mut t = target("orders", false);
        t.shape.source = crate::model::SourceKind::Kinesis;
        t.source_stream = Some("orders-source".into());
        let q = build_queries(&[t], 60);
        let names: Vec<(String, String, String)> = q
            .iter()
            .map(|(q, _, _)| {
                (
                    q.namespace.to_string(),
                    q.metric.to_string(),
                    q.dimensions[0].1.clone(),
                )
            })
            .collect();
        assert!(names.contains(&(
            "AWS/Firehose".into(),
            "DataReadFromKinesisStream.Records".into(),
            "orders".into()
        )));
        assert!(names.contains(&(
            "AWS/Kinesis".into(),
            "IncomingRecords".into(),
            "orders-source".into()
        )));
        assert!(!names
            .iter()
            .any(|(ns, m, _)| ns == "AWS/Firehose" && m == "IncomingRecords"));
    }

    #[test]
    fn long_windows_put_fewer_queries_in_a_call() {
        assert_eq!(queries_per_call(10), 500);
        assert_eq!(queries_per_call(1440), 70);
        assert!(queries_per_call(1440) * 1440 <= MAX_DATAPOINTS_PER_CALL);
    }

    #[tokio::test]
    async fn batches_at_most_500_queries_per_call() {
        let api = Counting {
            calls: AtomicUsize::new(0),
            fail_call: None,
        };
        let t = targets(1200);
        let w = Window::aligned(Utc::now(), 60, 120, 10);
        let m = Metrics::new();
        let r = reader(&api, &m, &CallSize::default()).poll(&t, w).await;
        assert_eq!(r.queries, 1200 * 3 + 600 * 2);
        assert_eq!(r.calls, (r.queries).div_ceil(500));
        assert_eq!(api.calls.load(Ordering::SeqCst), r.calls);
        assert!(r.complete());
        // Datapoints outside the window are dropped.
        let s = r.streams[0].as_ref().unwrap();
        assert_eq!(s.get(MetricKind::Success).count(), 1);
        assert_eq!(
            m.cloudwatch_metrics_requested_total
                .with_label_values(&["default"])
                .get(),
            r.queries as u64
        );
    }

    #[tokio::test]
    async fn a_failed_call_marks_only_its_streams() {
        let api = Counting {
            calls: AtomicUsize::new(0),
            fail_call: Some(0),
        };
        let t = targets(300);
        let w = Window::aligned(Utc::now(), 60, 120, 10);
        let m = Metrics::new();
        let r = reader(&api, &m, &CallSize::default()).poll(&t, w).await;
        assert!(!r.complete());
        let failed = r.streams.iter().filter(|s| s.is_err()).count();
        assert!(failed > 0 && failed < 300, "failed {failed}");
    }

    /// A CloudWatch whose answer takes 26 ms per query: a 500-query call takes 13 s, over the
    /// 10 s per-attempt timeout (as measured against the emulator at 1,000 streams).
    struct Slow {
        calls: AtomicUsize,
        sizes: std::sync::Mutex<Vec<usize>>,
        /// Even one query times out.
        dead: bool,
    }

    #[async_trait]
    impl MetricsApi for Slow {
        async fn get_metric_data(
            &self,
            queries: &[MetricQuery],
            start: DateTime<Utc>,
            _end: DateTime<Utc>,
        ) -> Result<Vec<crate::aws::MetricSeries>, AwsError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.sizes.lock().unwrap().push(queries.len());
            let latency = std::time::Duration::from_millis(26 * queries.len() as u64);
            let timeout = std::time::Duration::from_secs(10);
            tokio::time::sleep(latency.min(timeout)).await;
            if self.dead || latency > timeout {
                return Err(AwsError::Timeout {
                    operation: "GetMetricData".into(),
                });
            }
            Ok(queries
                .iter()
                .map(|q| crate::aws::MetricSeries {
                    id: q.id.clone(),
                    points: [(start, 1.0)].into_iter().collect(),
                })
                .collect())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_times_out_is_split_and_the_size_that_works_is_remembered() {
        let api = Slow {
            calls: AtomicUsize::new(0),
            sizes: Default::default(),
            dead: false,
        };
        let t: Vec<Target> = (0..1000)
            .map(|i| target(&format!("s-{i}"), false))
            .collect();
        let w = Window::aligned(Utc::now(), 60, 120, 10);
        let m = Metrics::new();
        let size = CallSize::default();
        let r = reader(&api, &m, &size).poll(&t, w).await;
        // 3,000 queries: 6 calls of 500 time out, then 12 of 250 are answered.
        assert!(r.complete(), "every stream read in the same cycle");
        assert_eq!(r.calls, 18);
        assert_eq!(size.get(), 250);
        assert_eq!(
            m.get_metric_data_splits_total
                .with_label_values(&["default", "us-east-1"])
                .get(),
            6
        );
        assert_eq!(
            m.get_metric_data_queries_per_call
                .with_label_values(&["default", "us-east-1"])
                .get(),
            250
        );
        // Billed only for the answered calls.
        assert_eq!(
            m.cloudwatch_metrics_requested_total
                .with_label_values(&["default"])
                .get(),
            3000
        );
        // The next cycle starts at the size that works: no timeout.
        api.calls.store(0, Ordering::SeqCst);
        let r = reader(&api, &m, &size).poll(&t, w).await;
        assert!(r.complete());
        assert_eq!(api.calls.load(Ordering::SeqCst), 12);
        assert_eq!(
            m.get_metric_data_splits_total
                .with_label_values(&["default", "us-east-1"])
                .get(),
            6
        ); // After clean reads the size tries 500 again (the stand-in is still slow: it
           // times out once and comes back to 250).
        for _ in 1..GROW_AFTER_CLEAN_READS {
            reader(&api, &m, &size).poll(&t, w).await;
        }
        assert_eq!(size.get(), 500);
        let r = reader(&api, &m, &size).poll(&t, w).await;
        assert!(r.complete());
        assert_eq!(size.get(), 250);
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_remainder_that_times_out_does_not_shrink_the_call_size() {
        let size = CallSize::default();
        assert_eq!(size.timed_out(3), MIN_QUERIES_PER_CALL);
        assert_eq!(size.get(), 500, "a 3-query call says nothing of 500");
        assert_eq!(size.timed_out(500), 250);
        assert_eq!(size.get(), 250);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cloudwatch_that_answers_nothing_is_not_split_further() {
        let api = Slow {
            calls: AtomicUsize::new(0),
            sizes: Default::default(),
            dead: true,
        };
        let t: Vec<Target> = (0..500).map(|i| target(&format!("s-{i}"), false)).collect();
        let w = Window::aligned(Utc::now(), 60, 120, 10);
        let m = Metrics::new();
        let size = CallSize::default();
        let r = reader(&api, &m, &size).poll(&t, w).await;
        assert!(
            r.streams.iter().all(|s| s.is_err()),
            "unknown, never failing"
        );
        assert!(r.unreachable());
        // 1,500 queries: 3 calls of 500, then 6 of 250; two rounds without any answer: it is
        // not slowness, it stops.
        assert_eq!(api.calls.load(Ordering::SeqCst), 3 + 6);
        assert_eq!(api.sizes.lock().unwrap().iter().max(), Some(&500));
        assert_eq!(size.get(), 250);
        // Not below the floor either.
        assert_eq!(size.timed_out(40), MIN_QUERIES_PER_CALL);
    }
}
