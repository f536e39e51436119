//! Reading the metrics: [`Reader`] sends the queries of one target (account and region) in
//! calls of at most 500, in two phases ([`Reader::poll_two_phase`]), splits a call that times
//! out, and sorts the answers back per stream. [`CallSize`] remembers the call size that
//! CloudWatch answers in time.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::stream::{self, StreamExt};

use super::{
    build_queries, build_queries_of, queries_per_call, IndexedQuery, PollResult, Target,
    MAX_QUERIES_PER_CALL,
};
use crate::aws::{AwsError, MetricQuery, MetricsApi};
#[cfg(doc)]
use crate::model::Shape;
use crate::model::{Kinds, MetricKind, StreamMetrics, Window};
use crate::telemetry::metrics::Metrics;

/// Requests of one poll in flight at once.
const CALL_CONCURRENCY: usize = 4;

/// Queries per `GetMetricData` call that CloudWatch answers within the per-attempt timeout.
/// Starts at 500; a call of the full size that times out (an answer too slow, not a failed
/// connection) is split in two and retried within the cycle, and the smaller size is kept for
/// the next reads: a slow CloudWatch costs more calls, never a blind cycle. After
/// [`GROW_AFTER_CLEAN_READS`] reads without a timeout the size doubles again (up to 500), so
/// a passing slowness does not stay. (Smaller calls cost no more money: CloudWatch bills per
/// metric, not per call.)
#[derive(Debug)]
pub struct CallSize {
    limit: AtomicUsize,
    clean_reads: AtomicUsize,
}

/// Calls are never split below this: 32 queries that take longer than the timeout are not
/// too many, CloudWatch is not answering.
pub const MIN_QUERIES_PER_CALL: usize = 32;

/// Reads without a timeout before the call size doubles again.
pub const GROW_AFTER_CLEAN_READS: usize = 12;

impl Default for CallSize {
    fn default() -> Self {
        CallSize {
            limit: AtomicUsize::new(MAX_QUERIES_PER_CALL),
            clean_reads: AtomicUsize::new(0),
        }
    }
}

impl CallSize {
    pub fn get(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// A call of `size` queries timed out: the halves to retry with. Only a call of the
    /// current size lowers it (a small remainder chunk that timed out says nothing of size),
    /// and never below [`MIN_QUERIES_PER_CALL`].
    pub(crate) fn timed_out(&self, size: usize) -> usize {
        let half = size.div_ceil(2).max(MIN_QUERIES_PER_CALL);
        if size >= self.get() {
            self.limit.fetch_min(half, Ordering::Relaxed);
        }
        self.clean_reads.store(0, Ordering::Relaxed);
        half
    }

    /// A read ended without a timeout.
    fn clean_read(&self) {
        if self.get() >= MAX_QUERIES_PER_CALL {
            return;
        }
        if self.clean_reads.fetch_add(1, Ordering::Relaxed) + 1 >= GROW_AFTER_CLEAN_READS {
            self.clean_reads.store(0, Ordering::Relaxed);
            let doubled = (self.get() * 2).min(MAX_QUERIES_PER_CALL);
            self.limit.store(doubled, Ordering::Relaxed);
        }
    }
}

/// A timed-out call is split at most this many times in one cycle (500 -> 63 queries), so a
/// CloudWatch that answers nothing cannot hold a cycle for long; the next cycle starts from
/// the remembered size.
const MAX_SPLITS_PER_CYCLE: u32 = 3;

/// What reads the metrics of one target (account and region): its client, where its spend is
/// counted, and the call size that works for it.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    pub api: &'a dyn MetricsApi,
    pub metrics: &'a Metrics,
    /// The account and region the queries are billed to (the cost metrics' `target` label).
    pub target: &'a str,
    /// The region it reads (the call-size metrics' `region` label: each region has its own).
    pub region: &'a str,
    pub call_size: &'a CallSize,
}

impl Reader<'_> {
    /// Read the window's datapoints of every metric of every target, in
    /// ceil(queries / per call) requests (500 per call unless the window is so long that
    /// their datapoints would not fit, or calls that large time out).
    pub async fn poll(&self, targets: &[Target], window: Window) -> PollResult {
        let mut result = PollResult {
            streams: vec![Ok(StreamMetrics::default()); targets.len()],
            full_read: true,
            ..PollResult::default()
        };
        let queries = build_queries(targets, window.period_seconds);
        self.read(queries, window, &mut result).await;
        result
    }

    /// A poll that reads what detection needs and no more. GetMetricData bills per metric
    /// requested: the first phase reads every stream's [`Shape::every_cycle_kinds`]
    /// (`DeliveryToS3.Success`, plus a Lambda processor's and a Kinesis source's metrics); the
    /// second reads the rest for the streams the first did not settle (no recent datapoint,
    /// zeros, partial success, or forced). With `full_read`, one phase reads everything.
    pub async fn poll_two_phase(
        &self,
        targets: &[Target],
        window: Window,
        plan: &TwoPhase<'_>,
    ) -> PollResult {
        if plan.full_read {
            return self.poll(targets, window).await;
        }
        let mut result = PollResult {
            streams: vec![Ok(StreamMetrics::default()); targets.len()],
            ..PollResult::default()
        };
        let first = build_queries_of(targets, window.period_seconds, &|_, t| {
            t.shape.every_cycle_kinds()
        });
        self.read(first, window, &mut result).await;
        let rest = |t: &Target| -> Kinds {
            let every = t.shape.every_cycle_kinds();
            t.shape
                .metric_kinds()
                .into_iter()
                .filter(|m| !every.contains(m))
                .collect()
        };
        let needs: Vec<bool> = targets
            .iter()
            .zip(&result.streams)
            .map(|(t, r)| match r {
                Ok(sm) => (plan.force_full)(t) || !(plan.settles)(t, sm),
                Err(_) => false,
            })
            .collect();
        result.second_phase = needs.iter().filter(|n| **n).count();
        let second = build_queries_of(targets, window.period_seconds, &|i, t| {
            if needs[i] {
                rest(t)
            } else {
                Kinds::new()
            }
        });
        if !second.is_empty() {
            self.read(second, window, &mut result).await;
        }
        // What a settled stream did not read this cycle: its gauges keep their last value and
        // its report shows no empty series for them.
        for ((t, r), need) in targets.iter().zip(result.streams.iter_mut()).zip(&needs) {
            if let (Ok(sm), false) = (r, need) {
                sm.unread = rest(t);
            }
        }
        result
    }

    /// Send `queries` in calls of at most [`queries_per_call`] (and [`CallSize`]) and sort the
    /// answers into `result`. A call that times out is split in two and retried (up to
    /// [`MAX_SPLITS_PER_CYCLE`] times); any other failed call marks the streams whose queries
    /// it carried.
    async fn read(&self, queries: Vec<IndexedQuery>, window: Window, result: &mut PollResult) {
        // The queries, and apart what each stands for (stream index, metric): calls carry
        // ranges of the first, answers come back in the same order (no copy of a query, no
        // lookup by id).
        let (queries, meta): (Vec<MetricQuery>, Vec<(usize, MetricKind)>) =
            queries.into_iter().map(|(q, i, m)| (q, (i, m))).unzip();
        let per_call = queries_per_call(window.periods()).min(self.call_size.get());
        let ranges = |r: Range<usize>, size: usize| {
            r.clone()
                .step_by(size.max(1))
                .map(move |s| s..(s + size).min(r.end))
        };
        let mut round: Vec<Range<usize>> = ranges(0..queries.len(), per_call).collect();
        result.queries += queries.len();
        let mut splits = 0;
        // The previous round had no answer at all: if this one has none either, CloudWatch is
        // not slow but not answering, and splitting further would only multiply the calls.
        let mut previous_silent = false;
        while !round.is_empty() {
            result.calls += round.len();
            let queries = &queries;
            let answers: Vec<(Range<usize>, _)> = stream::iter(std::mem::take(&mut round))
                .map(|chunk| async move {
                    let r = self
                        .api
                        .get_metric_data(&queries[chunk.clone()], window.start, window.end)
                        .await;
                    (chunk, r)
                })
                .buffer_unordered(CALL_CONCURRENCY)
                .collect()
                .await;
            let silent = answers
                .iter()
                .all(|(_, a)| matches!(a, Err(AwsError::Timeout { .. })));
            let may_split = splits < MAX_SPLITS_PER_CYCLE && !(silent && previous_silent);
            previous_silent = silent;
            for (chunk, answer) in answers {
                match answer {
                    Err(AwsError::Timeout { .. })
                        if may_split && chunk.len() > MIN_QUERIES_PER_CALL =>
                    {
                        let half = self.call_size.timed_out(chunk.len());
                        self.metrics
                            .get_metric_data_splits_total
                            .with_label_values(&[self.target, self.region])
                            .inc();
                        tracing::warn!(
                            target_name = self.target,
                            region = self.region,
                            queries = chunk.len(),
                            retry_with = half,
                            "a GetMetricData call timed out; split and retried in this cycle, and calls carry at most {} queries from now on",
                            self.call_size.get()
                        );
                        round.extend(ranges(chunk, half));
                    }
                    Ok(series) => self.sort(
                        &queries[chunk.clone()],
                        &meta[chunk],
                        series,
                        window,
                        result,
                    ),
                    Err(e) => {
                        for (i, _) in &meta[chunk] {
                            result.streams[*i] = Err(e.clone());
                        }
                    }
                }
            }
            if !round.is_empty() {
                splits += 1;
            }
        }
        if splits == 0 {
            self.call_size.clean_read();
        }
        self.metrics
            .get_metric_data_queries_per_call
            .with_label_values(&[self.target, self.region])
            .set(self.call_size.get() as i64);
    }

    /// One answered call's datapoints (one series per query, in their order), into the
    /// streams they belong to.
    fn sort(
        &self,
        chunk: &[MetricQuery],
        meta: &[(usize, MetricKind)],
        series: Vec<crate::aws::MetricSeries>,
        window: Window,
        result: &mut PollResult,
    ) {
        // Billed per metric requested in an answered request.
        self.metrics
            .cloudwatch_metrics_requested_total
            .with_label_values(&[self.target])
            .inc_by(chunk.len() as u64);
        for (k, mut s) in series.into_iter().enumerate() {
            // In order, as `MetricsApi` answers; by id should an answer not be.
            let at = match chunk.get(k) {
                Some(q) if q.id == s.id => Some(k),
                _ => chunk.iter().position(|q| q.id == s.id),
            };
            let Some((i, m)) = at.map(|at| meta[at]) else {
                continue;
            };
            if let Ok(sm) = &mut result.streams[i] {
                // Only datapoints inside the window count; CloudWatch emulators may not
                // align StartTime the way AWS does.
                s.points
                    .retain(|(t, _)| *t >= window.start && *t < window.end);
                // Moved, not copied: (time, value) and `Point` have the same size and alignment, so
                // the collect reuses the vector.
                sm.extend(
                    m,
                    s.points
                        .into_iter()
                        .map(|(t, v)| crate::model::Point { t, v })
                        .collect(),
                );
            }
        }
    }
}

/// How a two-phase cycle reads (see [`Reader::poll_two_phase`]).
pub struct TwoPhase<'a> {
    /// Read every metric of every stream this cycle (the first cycle; then every
    /// `schedule.full_read_every`).
    pub full_read: bool,
    /// Streams read in full whatever their delivery success says (an open incident).
    pub force_full: &'a (dyn Fn(&Target) -> bool + Sync),
    /// Whether the first phase's datapoints settle a stream's health
    /// ([`crate::detect::success_settles`]).
    pub settles: &'a (dyn Fn(&Target, &StreamMetrics) -> bool + Sync),
}
