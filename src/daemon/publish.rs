//! A stream's report as its row of per-stream series ([`crate::telemetry::stream_series`]):
//! a metric without a datapoint has no series, never a zero; one not read this cycle keeps
//! its last value.

use crate::detect::Assessment;
use crate::model::{MetricKind, Status, StreamMetrics};
use crate::report::StreamReport;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::stream_series::Newest;

/// The metric each newest-datapoint gauge shows.
fn kind(n: Newest) -> MetricKind {
    match n {
        Newest::Success => MetricKind::Success,
        Newest::Incoming => MetricKind::Incoming,
        Newest::Processing => MetricKind::Processing,
        Newest::Freshness => MetricKind::Freshness,
    }
}

/// Set every per-stream series of `r`.
pub fn publish(m: &Metrics, r: &StreamReport, a: &Assessment, sm: Option<&StreamMetrics>) {
    m.streams.publish(&r.account, &r.region, &r.stream, |row| {
        row.health = r.health;
        for n in Newest::ALL {
            let p = kind(n);
            let slot = &mut row.gauges[n as usize];
            match sm.and_then(|s| s.newest(p)) {
                Some(v) => *slot = Some(v),
                // Not read this cycle (two-phase polling): the last reading stands.
                None if sm.is_some_and(|s| s.unread.contains(&p)) => {}
                // No datapoint: no series, rather than a zero that would read as a failure.
                None => *slot = None,
            }
        }
        row.zero_success_periods = a.zero_success_periods;
        row.incident = r.incident.as_ref().map(|i| i.severity);
        // No diagnosis shown (no incident): no failed check.
        row.checks = r.diagnosed_at.map(|_| {
            r.findings
                .iter()
                .map(|f| (f.check.clone(), f.status == Status::Fail))
                .collect()
        });
    });
}
