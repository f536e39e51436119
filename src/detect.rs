//! Stream health from one window of datapoints: a pure function, no I/O, no clock.
//!
//! A missing datapoint is never a zero: CloudWatch sends nothing for a period without activity,
//! so "consecutive periods" means the newest N periods that have a datapoint.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::AwsError;
use crate::config::DetectionSettings;
use crate::model::{Health, MetricKind, StreamMetrics, Window};
use crate::poll::inventory::Entry;

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
    /// First period with incoming records and no delivery datapoint since.
    pub undelivered_since: Option<DateTime<Utc>>,
    /// `DeliveryToS3.Success` datapoints of the window, oldest first.
    #[serde(skip)]
    pub success_points: Vec<(DateTime<Utc>, f64)>,
    /// End of the window assessed.
    #[serde(skip)]
    pub window_end: Option<DateTime<Utc>>,
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

    /// Successful periods (success above 0) after `t` (all of them when `t` is `None`).
    pub fn successes_after(&self, t: Option<DateTime<Utc>>) -> u32 {
        self.success_points
            .iter()
            .filter(|(pt, v)| *v > 0.0 && t.is_none_or(|t| *pt > t))
            .count() as u32
    }
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

/// Health of one stream over `window`. `buffering_interval` is the stream's S3 buffering
/// interval in seconds; `has_lambda` whether it has a Lambda processor.
pub fn assess(
    m: &StreamMetrics,
    window: &Window,
    buffering_interval: u32,
    cfg: &DetectionSettings,
) -> Assessment {
    let n = cfg.failing_after_periods;
    let success = newest_first(m, MetricKind::Success);
    let processing = newest_first(m, MetricKind::Processing);
    let zero = count_leading(&success, |v| v == 0.0);
    let positive = count_leading(&success, |v| v > 0.0);
    let partial = |v: f64| v > 0.0 && v < 1.0;

    // Records that arrived after the newest delivery datapoint and are still not reported as
    // delivered (or attempted) after buffering interval + N periods.
    let last_success_t = m.get(MetricKind::Success).next_back().map(|(t, _)| *t);
    let undelivered_since = m
        .get(MetricKind::Incoming)
        .filter(|(t, v)| **v > 0.0 && last_success_t.is_none_or(|ls| **t > ls))
        .map(|(t, _)| *t)
        .next();
    let grace = i64::from(buffering_interval) + i64::from(n) * i64::from(window.period_seconds);
    let stalled_by_gap = undelivered_since
        .map(|t| (window.end - t).num_seconds() > grace)
        .unwrap_or(false);
    let freshness = m.newest(MetricKind::Freshness);
    let stalled_by_freshness = freshness.is_some_and(|f| f > grace as f64);

    let points: Vec<(DateTime<Utc>, f64)> =
        m.get(MetricKind::Success).map(|(t, v)| (*t, *v)).collect();
    let mk = |health: Health, reason: String| Assessment {
        health,
        reason,
        zero_success_periods: zero,
        success_periods: positive,
        undelivered_since,
        success_points: points.clone(),
        window_end: Some(window.end),
    };

    if newest_n_all(&success, n, |v| v == 0.0) {
        return mk(
            Health::Failing,
            format!("DeliveryToS3.Success has been 0 for the newest {zero} periods with data"),
        );
    }
    if stalled_by_gap {
        let since = undelivered_since
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        return mk(
            Health::Stalled,
            format!(
                "records arrive but no DeliveryToS3.Success datapoint since {since}, longer than the buffering interval ({buffering_interval}s) plus {n} periods"
            ),
        );
    }
    if stalled_by_freshness {
        return mk(
            Health::Stalled,
            format!(
                "DeliveryToS3.DataFreshness is {:.0}s, above the buffering interval ({buffering_interval}s) plus {n} periods ({grace}s)",
                freshness.unwrap_or_default()
            ),
        );
    }
    if newest_n_all(&success, n, partial) {
        return mk(
            Health::Degraded,
            format!("DeliveryToS3.Success is between 0 and 1 for the newest {n} periods: part of the data is not delivered"),
        );
    }
    if newest_n_all(&processing, n, partial) {
        return mk(
            Health::Degraded,
            format!("ExecuteProcessing.Success is between 0 and 1 for the newest {n} periods: the Lambda processor fails part of the records"),
        );
    }
    if newest_n_all(&processing, n, |v| v == 0.0) && success.first().is_some_and(|v| *v > 0.0) {
        return mk(
            Health::Degraded,
            format!("ExecuteProcessing.Success is 0 for the newest {n} periods while delivery still succeeds: records go to the processing-failed output"),
        );
    }
    if success.first().is_some_and(|v| *v > 0.0) {
        return mk(Health::Healthy, "delivery to S3 succeeds".into());
    }
    let any_incoming = m.get(MetricKind::Incoming).any(|(_, v)| *v > 0.0);
    if !any_incoming && success.is_empty() {
        return mk(
            Health::Idle,
            "no incoming records and no delivery in the window".into(),
        );
    }
    mk(
        Health::Unknown,
        "not enough data yet to judge delivery".into(),
    )
}

/// The unreadable-metrics assessment.
pub fn unknown(reason: impl Into<String>) -> Assessment {
    Assessment {
        health: Health::Unknown,
        reason: reason.into(),
        zero_success_periods: 0,
        success_periods: 0,
        undelivered_since: None,
        success_points: Vec::new(),
        window_end: None,
    }
}

/// The assessment of one inventory entry from this poll's result for it, and the datapoints
/// it was made from: `unknown` when the stream is missing or its metrics could not be read.
pub fn assess_entry(
    entry: &Entry,
    polled: Option<&Result<StreamMetrics, AwsError>>,
    window: &Window,
    cfg: &DetectionSettings,
) -> (Assessment, Option<StreamMetrics>) {
    match (entry, polled) {
        (Entry::Missing { reason }, _) => (unknown(reason.clone()), None),
        (_, Some(Ok(m))) => {
            let buffering = entry
                .description()
                .map(|d| d.buffering_interval())
                .unwrap_or(300);
            (assess(m, window, buffering, cfg), Some(m.clone()))
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
        assess(&metrics(points), &window(), buffering, &cfg()).health
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
        let a = assess(&metrics(&pts), &window(), 60, &cfg());
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
        let a = assess(&metrics(&pts), &window(), 60, &cfg());
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
        let a = assess(&metrics(&pts), &window(), 60, &cfg());
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
