//! Stream health from one window of datapoints: a pure function, no I/O, no clock.
//!
//! A missing datapoint is never a zero: CloudWatch sends nothing for a period without activity,
//! so "consecutive periods" means the newest N periods that have a datapoint. The stream's
//! [`Shape`] decides which metric means "records arrive" (Direct PUT, Kinesis or MSK source),
//! how late delivery may be (every buffer AWS documents), and the processor's rules.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::AwsError;
use crate::config::{DetectionSettings, Settings};
use crate::model::{Health, MetricKind, Shape, SourceKind, StreamMetrics, Window};
use crate::poll::inventory::Entry;

/// Records the processor returns successfully, as a share of the records entering
/// processing, below which the stream is `degraded`. Not 1: a record that arrives in the
/// minute of an invocation may be processed by the next one, which shifts a few records
/// across the period boundary.
pub const PROCESSED_SHARE_DEGRADED: f64 = 0.95;

/// What detection concluded for one stream in one cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub health: Health,
    /// One sentence: why this health.
    pub reason: String,
    /// Newest consecutive `DeliveryToS3.Success` datapoints equal to 0.
    pub zero_success_periods: u32,
    /// Newest consecutive `DeliveryToS3.Success` datapoints above 0.
    pub success_periods: u32,
    /// Newest consecutive periods with data in which the stream was degraded (partial
    /// delivery or processing).
    pub degraded_periods: u32,
    /// First period with arriving records and no delivery datapoint since.
    pub undelivered_since: Option<DateTime<Utc>>,
    /// Newest sign of activity: records arriving (at the stream or its source) or a delivery
    /// datapoint.
    #[serde(skip)]
    pub last_activity: Option<DateTime<Utc>>,
    /// `DeliveryToS3.Success` datapoints of the window, oldest first.
    #[serde(skip)]
    pub success_points: Vec<(DateTime<Utc>, f64)>,
    /// Newest time the stream was seen degraded (a partial datapoint), if it was.
    #[serde(skip)]
    pub newest_degraded: Option<DateTime<Utc>>,
    /// Newest period this assessment shows as bad, by the rule that decided its health (a
    /// zero delivery, the processor's newest failing invocation, the last period of a
    /// stall, the newest degraded datapoint); `None` when not bad.
    #[serde(skip)]
    pub newest_bad: Option<DateTime<Utc>>,
    /// End of the window assessed.
    #[serde(skip)]
    pub window_end: Option<DateTime<Utc>>,
    /// When the current bad run started, by the rule that decided the health (the oldest zero
    /// of the newest run of zeros, the first record left undelivered, the arrival of the
    /// oldest record waiting per `DataFreshness`, the first degraded datapoint of the run);
    /// `None` when not bad or not known. Read from datapoints only, so every replica reading
    /// the same CloudWatch finds the same time, whenever its cycle ran: incident ids derive
    /// from it (high availability).
    #[serde(skip)]
    pub bad_since: Option<DateTime<Utc>>,
}

impl Assessment {
    /// Time of the newest `DeliveryToS3.Success` datapoint equal to 0.
    pub fn newest_zero(&self) -> Option<DateTime<Utc>> {
        self.success_points
            .iter()
            .rev()
            .find(|(_, v)| *v == 0.0)
            .map(|(t, _)| *t)
    }

    /// Times of the successful periods (success above 0) after `t` (all when `t` is `None`).
    pub fn success_times_after(
        &self,
        t: Option<DateTime<Utc>>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.success_points
            .iter()
            .filter(move |(pt, v)| *v > 0.0 && t.is_none_or(|t| *pt > t))
            .map(|(pt, _)| *pt)
    }

    /// Successful periods (success above 0) after `t` (all of them when `t` is `None`).
    pub fn successes_after(&self, t: Option<DateTime<Utc>>) -> u32 {
        self.success_times_after(t).count() as u32
    }
}

/// The grace of a stream: how long records may wait for a delivery datapoint before the
/// stream is `stalled` (every documented buffer, plus `failing_after_periods` periods).
pub fn grace_seconds(shape: &Shape, period_seconds: u32, cfg: &DetectionSettings) -> i64 {
    i64::from(shape.buffer_seconds())
        + i64::from(cfg.failing_after_periods) * i64::from(period_seconds)
}

/// How many periods the window must hold for a stream of this shape: `failing_after_periods`
/// delivery attempts (one per buffer at the slowest) and then the grace, so both a run of
/// failed attempts and records stalled past the grace stay visible for a grace's length of
/// cycles; and `degraded_after_periods` delivery attempts, so a degraded run long enough to
/// open a warning incident fits. `GetMetricData` bills
/// per metric, not per datapoint: a longer window costs nothing.
pub fn periods_needed(shape: &Shape, period_seconds: u32, cfg: &DetectionSettings) -> u32 {
    let p = i64::from(period_seconds.max(1));
    let attempts = i64::from(cfg.failing_after_periods) * i64::from(shape.buffer_seconds());
    let span = attempts + grace_seconds(shape, period_seconds, cfg);
    let for_grace = (span + p - 1) / p + 1;
    // A degraded run is counted in datapoints; a stream delivers at most once per buffer.
    let per_attempt = (i64::from(shape.s3_buffer_seconds).max(p) + p - 1) / p;
    let for_degraded = i64::from(cfg.degraded_after_periods) * per_attempt + 1;
    for_grace.max(for_degraded).max(0) as u32
}

/// The periods the cycle's window holds: `schedule.lookback_periods` at least, and enough for
/// every polled stream's [`periods_needed`].
pub fn lookback_periods<'a>(
    shapes: impl IntoIterator<Item = &'a Shape>,
    period_seconds: u32,
    lookback_periods: u32,
    cfg: &DetectionSettings,
) -> u32 {
    shapes
        .into_iter()
        .map(|s| periods_needed(s, period_seconds, cfg))
        .fold(lookback_periods, u32::max)
}

/// The window a cycle at `now` reads for streams of these shapes: aligned to periods, ending
/// `delay_seconds` before `now`, [`lookback_periods`] long.
pub fn window_at<'a>(
    settings: &Settings,
    now: DateTime<Utc>,
    shapes: impl IntoIterator<Item = &'a Shape>,
) -> Window {
    let s = &settings.schedule;
    let periods = lookback_periods(
        shapes,
        s.period_seconds,
        s.lookback_periods,
        &settings.detection,
    );
    Window::aligned(now, s.period_seconds, s.delay_seconds, periods)
}

/// Whether a stream's `DeliveryToS3.Success` alone settles its health this cycle (two-phase
/// polling): its newest datapoint is recent (within the grace, so no record can have waited
/// past it) and its newest `failing_after_periods` datapoints are all 1 (no zero, no partial
/// success). Such a stream's other metrics (`IncomingRecords`, `DataFreshness`) cannot change
/// its health, except `DataFreshness` rising while every delivery succeeds, which the slow
/// full read catches. A Lambda processor's and a Kinesis source's metrics are read every cycle
/// ([`Shape::every_cycle_kinds`]), so their rules are unaffected.
pub fn success_settles(
    m: &StreamMetrics,
    window: &Window,
    shape: &Shape,
    cfg: &DetectionSettings,
) -> bool {
    let Some((newest, _)) = m.get(MetricKind::Success).next_back() else {
        return false;
    };
    let period = i64::from(window.period_seconds);
    let grace = grace_seconds(shape, window.period_seconds, cfg);
    let recent = (window.end - *newest).num_seconds() - period <= grace;
    recent
        && m.get(MetricKind::Success)
            .rev()
            .take(cfg.failing_after_periods.max(1) as usize)
            .all(|(_, v)| *v >= 1.0)
}

/// Time of the oldest datapoint of the newest run of `kind` datapoints that match `pred`.
fn run_start(
    m: &StreamMetrics,
    kind: MetricKind,
    pred: impl Fn(f64) -> bool,
) -> Option<DateTime<Utc>> {
    m.get(kind)
        .rev()
        .take_while(|(_, v)| pred(**v))
        .last()
        .map(|(t, _)| *t)
}

/// Newest-first values of a series.
fn newest_first(m: &StreamMetrics, p: MetricKind) -> Vec<f64> {
    m.get(p).rev().map(|(_, v)| *v).collect()
}

fn count_leading(values: &[f64], pred: impl Fn(f64) -> bool) -> u32 {
    values.iter().take_while(|v| pred(**v)).count() as u32
}

/// The newest `n` datapoints all satisfy `pred` (and there are at least `n`).
fn newest_n_all(values: &[f64], n: u32, pred: impl Fn(f64) -> bool) -> bool {
    let n = n as usize;
    values.len() >= n && n > 0 && values[..n].iter().all(|v| pred(*v))
}

/// The first time after `after` at which `kind` was above 0.
fn first_positive_after(
    m: &StreamMetrics,
    kind: MetricKind,
    after: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    m.get(kind)
        .filter(|(t, v)| **v > 0.0 && after.is_none_or(|a| **t > a))
        .map(|(t, _)| *t)
        .next()
}

fn newest_positive(m: &StreamMetrics, kind: MetricKind) -> Option<DateTime<Utc>> {
    m.get(kind).rev().find(|(_, v)| **v > 0.0).map(|(t, _)| *t)
}

/// Records returned successfully by the processor against the records that entered it, over
/// the newest `n` periods that have a `SucceedProcessing.Records` datapoint. The records that
/// entered an invocation's period are those that arrived since the previous one (the
/// processor buffers them), so buffering of any length lines up.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessedShare {
    processed: f64,
    entered: f64,
    /// Newest consecutive invocation periods whose own share was below the threshold.
    short_periods: u32,
    newest: DateTime<Utc>,
}

fn processed_share(m: &StreamMetrics, arrivals: MetricKind, n: u32) -> Option<ProcessedShare> {
    let points: Vec<(DateTime<Utc>, f64)> = m
        .get(MetricKind::ProcessedRecords)
        .map(|(t, v)| (*t, *v))
        .collect();
    let n = n as usize;
    if n == 0 || points.len() < n {
        return None;
    }
    let entered_between = |from: Option<DateTime<Utc>>, to: DateTime<Utc>| -> f64 {
        m.get(arrivals)
            .filter(|(t, _)| from.is_none_or(|f| **t > f) && **t <= to)
            .map(|(_, v)| *v)
            .sum()
    };
    let per_period: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, (t, v))| {
            let prev = i.checked_sub(1).map(|j| points[j].0);
            (*v, entered_between(prev, *t))
        })
        .collect();
    let newest = &per_period[per_period.len() - n..];
    let short_periods = per_period
        .iter()
        .rev()
        .take_while(|(p, e)| *e > 0.0 && *p < PROCESSED_SHARE_DEGRADED * *e)
        .count() as u32;
    Some(ProcessedShare {
        processed: newest.iter().map(|(p, _)| p).sum(),
        entered: newest.iter().map(|(_, e)| e).sum(),
        short_periods,
        newest: points[points.len() - 1].0,
    })
}

/// Health of one stream of shape `shape` over `window`.
pub fn assess(
    m: &StreamMetrics,
    window: &Window,
    shape: &Shape,
    cfg: &DetectionSettings,
) -> Assessment {
    let n = cfg.failing_after_periods;
    let arrivals = shape.arrivals();
    let success = newest_first(m, MetricKind::Success);
    let processing = newest_first(m, MetricKind::Processing);
    let zero = count_leading(&success, |v| v == 0.0);
    let positive = count_leading(&success, |v| v > 0.0);
    let partial = |v: f64| v > 0.0 && v < 1.0;
    let buffers = shape.buffer_seconds();
    let grace = grace_seconds(shape, window.period_seconds, cfg);

    // Records that arrived after the newest delivery datapoint and are still not reported as
    // delivered (or attempted) after the grace.
    let last_success_t = m.get(MetricKind::Success).next_back().map(|(t, _)| *t);
    let undelivered_since = first_positive_after(m, arrivals, last_success_t);
    // A processor that returns `Dropped` on purpose leaves nothing to deliver: with
    // invocations succeeding since, the gap alone is no stall (DataFreshness still is).
    // Only when the processor returned (`Ok` or `Dropped`) about every record that arrived
    // since: a working processor in front of a stuck delivery is still a stall.
    let processed_since_gap = shape.has_lambda()
        && undelivered_since.is_some_and(|u| {
            // Records processed since `u`, against those that arrived from `u` up to the
            // newest invocation period (later ones wait in the processor's buffer).
            let Some(last) = m
                .get(MetricKind::ProcessedRecords)
                .next_back()
                .map(|(t, _)| *t)
            else {
                return false;
            };
            let sum = |k: MetricKind, to: DateTime<Utc>| -> f64 {
                m.get(k)
                    .filter(|(t, _)| **t >= u && **t < to)
                    .map(|(_, v)| *v)
                    .sum()
            };
            let after_last = last + chrono::Duration::seconds(1);
            let entered = sum(arrivals, last);
            let invoked = m
                .get(MetricKind::Processing)
                .any(|(t, v)| *t >= u && *v > 0.0);
            invoked
                && entered > 0.0
                && sum(MetricKind::ProcessedRecords, after_last)
                    >= PROCESSED_SHARE_DEGRADED * entered
        });
    // Measured from the end of the period the records arrived in, so a stall is never called
    // before the grace has fully passed.
    let period = i64::from(window.period_seconds);
    let late = |t: DateTime<Utc>| (window.end - t).num_seconds() - period > grace;
    let gap_too_long = undelivered_since.is_some_and(late);
    let stalled_by_gap = gap_too_long && !processed_since_gap;
    // Records arriving at the Kinesis source that Firehose has not read since.
    let unread_since = (shape.source == SourceKind::Kinesis)
        .then(|| {
            first_positive_after(
                m,
                MetricKind::SourceIncoming,
                newest_positive(m, MetricKind::KinesisRead),
            )
        })
        .flatten();
    let stalled_by_source = unread_since.is_some_and(late);
    // A freshness reading older than the newest delivery is superseded by it.
    let freshness = m
        .get(MetricKind::Freshness)
        .next_back()
        .filter(|(t, _)| last_success_t.is_none_or(|s| **t >= s))
        .map(|(_, v)| *v);
    let stalled_by_freshness = freshness.is_some_and(|f| f > grace as f64);
    // The period the oldest waiting record arrived in: its reading's time minus its age.
    let freshness_since = m
        .get(MetricKind::Freshness)
        .next_back()
        .filter(|(_, v)| v.is_finite() && **v >= 0.0 && **v < 1e9)
        .map(|(t, v)| {
            let arrived = t.timestamp() - *v as i64;
            let p = i64::from(window.period_seconds.max(1));
            DateTime::<Utc>::from_timestamp(arrived - arrived.rem_euclid(p), 0).unwrap_or(*t)
        });
    let share = shape
        .has_lambda()
        .then(|| processed_share(m, arrivals, n))
        .flatten();

    let points: Vec<(DateTime<Utc>, f64)> =
        m.get(MetricKind::Success).map(|(t, v)| (*t, *v)).collect();
    // Processing at 0 while delivery succeeds is degraded too (records go to the error output).
    let delivering = success.first().is_some_and(|v| *v > 0.0);
    let processing_bad = |v: f64| partial(v) || (delivering && v == 0.0);
    let degraded_periods = count_leading(&success, partial)
        .max(count_leading(&processing, processing_bad))
        .max(share.map(|s| s.short_periods).unwrap_or(0));
    let newest_degraded = [
        m.get(MetricKind::Success)
            .rev()
            .find(|(_, v)| partial(**v))
            .map(|(t, _)| *t),
        m.get(MetricKind::Processing)
            .rev()
            .find(|(_, v)| processing_bad(**v))
            .map(|(t, _)| *t),
        share.filter(|s| s.short_periods > 0).map(|s| s.newest),
    ]
    .into_iter()
    .flatten()
    .max();
    // The last period of the window: what a stall is "bad" as of.
    let last_period = Some(window.end - chrono::Duration::seconds(period));
    let last_activity = [
        newest_positive(m, arrivals),
        last_success_t,
        newest_positive(m, MetricKind::SourceIncoming),
    ]
    .into_iter()
    .flatten()
    .max();
    let mk = |health: Health, reason: String, newest_bad: Option<DateTime<Utc>>| Assessment {
        health,
        reason,
        newest_bad,
        zero_success_periods: zero,
        success_periods: positive,
        degraded_periods,
        undelivered_since,
        last_activity,
        success_points: points.clone(),
        newest_degraded,
        window_end: Some(window.end),
        bad_since: None,
    };
    let bad_since = |a: Assessment, t: Option<DateTime<Utc>>| Assessment { bad_since: t, ..a };
    let arrivals_name = arrivals.metric_name();

    let newest_zero = m
        .get(MetricKind::Success)
        .rev()
        .find(|(_, v)| **v == 0.0)
        .map(|(t, _)| *t);
    if newest_n_all(&success, n, |v| v == 0.0) {
        return bad_since(
            mk(
                Health::Failing,
                format!("DeliveryToS3.Success has been 0 for the newest {zero} periods with data"),
                newest_zero,
            ),
            run_start(m, MetricKind::Success, |v| v == 0.0),
        );
    }
    if let Some(s) = share.filter(|s| s.processed == 0.0 && s.entered > 0.0) {
        return bad_since(
            mk(
            Health::Failing,
            format!(
                "the Lambda processor returned no record successfully (SucceedProcessing.Records 0) in the newest {n} invocation periods while {:.0} records entered processing",
                s.entered
            ),
            Some(s.newest),
        ),
            run_start(m, MetricKind::ProcessedRecords, |v| v == 0.0).or(Some(s.newest)),
        );
    }
    if stalled_by_gap {
        let since = undelivered_since
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        return bad_since(
            mk(
            Health::Stalled,
            format!(
                "records arrive ({arrivals_name}) but no DeliveryToS3.Success datapoint since {since}, longer than the stream's buffers ({buffers}s) plus {n} periods"
            ),
            last_period,
        ),
            undelivered_since,
        );
    }
    if stalled_by_source {
        let since = unread_since.map(|t| t.to_rfc3339()).unwrap_or_default();
        return bad_since(
            mk(
            Health::Stalled,
            format!(
                "records arrive in the source Kinesis stream since {since} but Firehose has read none (DataReadFromKinesisStream.Records), longer than the stream's buffers ({buffers}s) plus {n} periods"
            ),
            last_period,
        ),
            unread_since,
        );
    }
    if stalled_by_freshness {
        return bad_since(
            mk(
            Health::Stalled,
            format!(
                "DeliveryToS3.DataFreshness is {:.0}s, above the stream's buffers ({buffers}s) plus {n} periods ({grace}s)",
                freshness.unwrap_or_default()
            ),
            last_period,
        ),
            freshness_since,
        );
    }
    if newest_n_all(&success, n, partial) {
        return bad_since(
            mk(
            Health::Degraded,
            format!("DeliveryToS3.Success is between 0 and 1 for the newest {degraded_periods} periods: part of the data is not delivered"),
            newest_degraded,
        ),
            run_start(m, MetricKind::Success, partial),
        );
    }
    if newest_n_all(&processing, n, partial) {
        return bad_since(
            mk(
            Health::Degraded,
            format!("ExecuteProcessing.Success is between 0 and 1 for the newest {n} periods: the Lambda processor fails part of its invocations"),
            newest_degraded,
        ),
            run_start(m, MetricKind::Processing, partial),
        );
    }
    if newest_n_all(&processing, n, |v| v == 0.0) && success.first().is_some_and(|v| *v > 0.0) {
        return bad_since(
            mk(
            Health::Degraded,
            format!("ExecuteProcessing.Success is 0 for the newest {n} periods while delivery still succeeds: records go to the processing-failed output"),
            newest_degraded,
        ),
            run_start(m, MetricKind::Processing, |v| v == 0.0),
        );
    }
    if let Some(s) =
        share.filter(|s| s.entered > 0.0 && s.processed < PROCESSED_SHARE_DEGRADED * s.entered)
    {
        return mk(
            Health::Degraded,
            format!(
                "the Lambda processor returned {:.0} of {:.0} records successfully ({:.0}%) in the newest {n} invocation periods: the others go to the processing-failed output",
                s.processed,
                s.entered,
                100.0 * s.processed / s.entered
            ),
            newest_degraded,
        );
    }
    if success.first().is_some_and(|v| *v > 0.0) {
        return mk(Health::Healthy, "delivery to S3 succeeds".into(), None);
    }
    if gap_too_long && processed_since_gap {
        return mk(
            Health::Healthy,
            "records are processed and none is delivered, without a backlog: the processor drops them (result Dropped)".into(),
            None,
        );
    }
    let any_arrival = m.get(arrivals).any(|(_, v)| *v > 0.0)
        || m.get(MetricKind::SourceIncoming).any(|(_, v)| *v > 0.0);
    if !any_arrival && success.is_empty() {
        return mk(
            Health::Idle,
            format!("no records arrive ({arrivals_name}) and no delivery in the window"),
            None,
        );
    }
    mk(
        Health::Unknown,
        "not enough data yet to judge delivery".into(),
        None,
    )
}

/// The unreadable-metrics assessment.
pub fn unknown(reason: impl Into<String>) -> Assessment {
    Assessment {
        health: Health::Unknown,
        reason: reason.into(),
        zero_success_periods: 0,
        success_periods: 0,
        degraded_periods: 0,
        undelivered_since: None,
        last_activity: None,
        success_points: Vec::new(),
        newest_degraded: None,
        newest_bad: None,
        window_end: None,
        bad_since: None,
    }
}

/// The assessment of one inventory entry from this poll's result for it, and the datapoints
/// it was made from (shared): `unknown` when the stream is missing or its metrics could not be
/// read.
pub fn assess_entry(
    entry: &Entry,
    polled: Option<&Result<std::sync::Arc<StreamMetrics>, AwsError>>,
    window: &Window,
    cfg: &DetectionSettings,
) -> (Assessment, Option<std::sync::Arc<StreamMetrics>>) {
    match (entry, polled) {
        (Entry::Missing { reason }, _) => (unknown(reason.clone()), None),
        (Entry::Described(d), _) if d.s3.is_none() => (
            unknown(format!(
                "the destination is {}, not S3: firehose-sentinel does not assess it",
                d.other_destination.as_deref().unwrap_or("not S3")
            )),
            None,
        ),
        (_, Some(Ok(m))) => {
            let shape = entry
                .description()
                .map(|d| d.shape())
                .unwrap_or_else(|| Shape::direct_put(300));
            (assess(m, window, &shape, cfg), Some(m.clone()))
        }
        (_, Some(Err(e))) => (
            unknown(format!("metrics could not be read this cycle: {e}")),
            None,
        ),
        (_, None) => (unknown("not polled"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn cfg() -> DetectionSettings {
        DetectionSettings {
            failing_after_periods: 3,
            recover_after_periods: 2,
            recheck_after: Duration::from_secs(900),
            renotify_after: Duration::from_secs(14_400),
            degraded_after_periods: 15,
            idle_close_after: Duration::from_secs(3600),
        }
    }

    fn window() -> Window {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 3, 12, 0).unwrap();
        Window::aligned(now, 60, 120, 10) // 03:00 .. 03:10
    }

    /// Build metrics from (metric, minute offset from window start, value).
    fn metrics(points: &[(MetricKind, i64, f64)]) -> StreamMetrics {
        let w = window();
        let mut m = StreamMetrics::default();
        for (p, minute, v) in points {
            m.insert(*p, w.start + chrono::Duration::minutes(*minute), *v);
        }
        m
    }

    fn health(points: &[(MetricKind, i64, f64)], buffering: u32) -> Health {
        assess(
            &metrics(points),
            &window(),
            &Shape::direct_put(buffering),
            &cfg(),
        )
        .health
    }

    use MetricKind::*;

    #[test]
    fn three_zero_datapoints_are_failing() {
        let pts = [
            (Incoming, 6, 10.0),
            (Success, 7, 0.0),
            (Success, 8, 0.0),
            (Success, 9, 0.0),
        ];
        let a = assess(&metrics(&pts), &window(), &Shape::direct_put(60), &cfg());
        assert_eq!(a.health, Health::Failing);
        assert_eq!(a.zero_success_periods, 3);
    }

    #[test]
    fn two_zeros_are_not_yet_failing() {
        let pts = [(Success, 5, 1.0), (Success, 8, 0.0), (Success, 9, 0.0)];
        assert_ne!(health(&pts, 60), Health::Failing);
    }

    #[test]
    fn missing_datapoints_are_not_zeros() {
        // Zeros separated by gaps still count as consecutive datapoints: gaps are skipped.
        let pts = [(Success, 1, 0.0), (Success, 5, 0.0), (Success, 9, 0.0)];
        assert_eq!(health(&pts, 60), Health::Failing);
        // Gaps alone (no datapoint at all) never make a zero.
        let pts = [(Success, 1, 1.0)];
        assert_eq!(health(&pts, 60), Health::Healthy);
    }

    #[test]
    fn a_success_between_zeros_breaks_the_run() {
        let pts = [(Success, 7, 0.0), (Success, 8, 1.0), (Success, 9, 0.0)];
        let a = assess(&metrics(&pts), &window(), &Shape::direct_put(60), &cfg());
        assert_eq!(a.zero_success_periods, 1);
        assert_ne!(a.health, Health::Failing);
    }

    #[test]
    fn empty_window_is_idle_never_failing() {
        assert_eq!(health(&[], 60), Health::Idle);
        let pts = [(Incoming, 3, 0.0)];
        assert_eq!(health(&pts, 60), Health::Idle);
    }

    #[test]
    fn stalled_uses_the_buffering_interval() {
        // Records at minute 2 (03:02), window end 03:10: 480 s without a delivery datapoint.
        let pts = [(Incoming, 2, 100.0)];
        // 60 s buffering + 3 periods = 240 s grace: stalled.
        assert_eq!(health(&pts, 60), Health::Stalled);
        // 900 s buffering: still within the buffering interval, not enough data.
        assert_eq!(health(&pts, 900), Health::Unknown);
    }

    #[test]
    fn stalled_counts_only_records_after_the_last_delivery() {
        let pts = [(Incoming, 1, 5.0), (Success, 2, 1.0), (Incoming, 8, 5.0)];
        assert_eq!(health(&pts, 60), Health::Healthy);
    }

    #[test]
    fn freshness_above_grace_is_stalled() {
        let pts = [(Success, 9, 1.0), (Freshness, 9, 1000.0)];
        assert_eq!(health(&pts, 300), Health::Stalled);
        let pts = [(Success, 9, 1.0), (Freshness, 9, 200.0)];
        assert_eq!(health(&pts, 300), Health::Healthy);
    }

    #[test]
    fn failing_wins_over_stalled() {
        let pts = [
            (Incoming, 0, 5.0),
            (Success, 7, 0.0),
            (Success, 8, 0.0),
            (Success, 9, 0.0),
            (Freshness, 9, 5000.0),
        ];
        assert_eq!(health(&pts, 60), Health::Failing);
    }

    #[test]
    fn partial_success_is_degraded() {
        let pts = [(Success, 7, 0.5), (Success, 8, 0.4), (Success, 9, 0.9)];
        assert_eq!(health(&pts, 60), Health::Degraded);
        let pts = [(Success, 7, 0.5), (Success, 8, 1.0), (Success, 9, 0.9)];
        assert_eq!(health(&pts, 60), Health::Healthy);
    }

    #[test]
    fn processing_failures_are_degraded() {
        let pts = [
            (Success, 9, 1.0),
            (Processing, 7, 0.0),
            (Processing, 8, 0.0),
            (Processing, 9, 0.0),
        ];
        assert_eq!(health(&pts, 60), Health::Degraded);
        let pts = [
            (Success, 9, 1.0),
            (Processing, 7, 0.2),
            (Processing, 8, 0.7),
            (Processing, 9, 0.5),
        ];
        assert_eq!(health(&pts, 60), Health::Degraded);
    }

    #[test]
    fn recovery_counts_positive_periods() {
        let pts = [(Success, 6, 0.0), (Success, 8, 1.0), (Success, 9, 1.0)];
        let a = assess(&metrics(&pts), &window(), &Shape::direct_put(60), &cfg());
        assert_eq!(a.health, Health::Healthy);
        assert_eq!(a.success_periods, 2);
    }

    #[test]
    fn precedence_order() {
        let mut sorted = Health::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, Health::ALL.to_vec());
        assert!(Health::Failing.is_incident() && Health::Stalled.is_incident());
        assert!(!Health::Degraded.is_incident() && !Health::Idle.is_incident());
    }
}
