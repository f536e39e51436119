//! The per-stream Prometheus series a cycle publishes, and their removal when a stream is no
//! longer monitored (a metric without a datapoint has no series, never a zero).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::detect::Assessment;
use crate::diagnose::checks;
use crate::model::{Health, MetricKind, Severity, Status, StreamMetrics};
use crate::report::StreamReport;
use crate::telemetry::metrics::Metrics;

/// The (stream, region, account) label sets published so far.
#[derive(Default)]
pub struct StreamSeries {
    published: Mutex<HashSet<[String; 3]>>,
}

fn labels(r: &StreamReport) -> [String; 3] {
    [r.stream.clone(), r.region.clone(), r.account.clone()]
}

impl StreamSeries {
    /// Set every per-stream series of `r`.
    pub fn publish(
        &self,
        m: &Metrics,
        r: &StreamReport,
        a: &Assessment,
        sm: Option<&StreamMetrics>,
    ) {
        let key = labels(r);
        let l = [key[0].as_str(), key[1].as_str(), key[2].as_str()];
        for h in Health::ALL {
            m.stream_health
                .with_label_values(&[l[0], l[1], l[2], h.as_str()])
                .set(i64::from(h == r.health));
        }
        let gauges = [
            (&m.delivery_success_ratio, MetricKind::Success),
            (&m.incoming_records, MetricKind::Incoming),
            (&m.processing_success_ratio, MetricKind::Processing),
            (&m.data_freshness_seconds, MetricKind::Freshness),
        ];
        for (g, p) in gauges {
            // No datapoint: no series, rather than a zero that would read as a failure.
            match sm.and_then(|s| s.newest(p)) {
                Some(v) => g.with_label_values(&l).set(v),
                // Not read this cycle (two-phase polling): the last reading stands.
                None if sm.is_some_and(|s| s.unread.contains(&p)) => {}
                None => {
                    let _ = g.remove_label_values(&l);
                }
            }
        }
        m.zero_success_periods
            .with_label_values(&l)
            .set(i64::from(a.zero_success_periods));
        for severity in [Severity::Critical, Severity::Warning] {
            let open = r.incident.as_ref().is_some_and(|i| i.severity == severity);
            m.incident_open
                .with_label_values(&[l[0], l[1], l[2], severity.as_str()])
                .set(i64::from(open));
        }
        if r.diagnosed_at.is_some() {
            for f in &r.findings {
                m.check_failed
                    .with_label_values(&[l[0], l[1], l[2], f.check.as_str()])
                    .set(i64::from(f.status == Status::Fail));
            }
        } else {
            // No diagnosis shown (no incident): no failed check.
            for id in checks::ALL_IDS {
                let _ = m.check_failed.remove_label_values(&[l[0], l[1], l[2], id]);
            }
        }
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }

    /// Remove the series of streams that are not in `reports` (no longer monitored).
    pub fn unpublish_gone(&self, m: &Metrics, reports: &[StreamReport]) {
        let current: HashSet<[String; 3]> = reports.iter().map(labels).collect();
        let mut seen = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<[String; 3]> = seen.difference(&current).cloned().collect();
        for key in gone {
            let l = [key[0].as_str(), key[1].as_str(), key[2].as_str()];
            for h in Health::ALL {
                let _ = m
                    .stream_health
                    .remove_label_values(&[l[0], l[1], l[2], h.as_str()]);
            }
            for g in [
                &m.delivery_success_ratio,
                &m.incoming_records,
                &m.processing_success_ratio,
                &m.data_freshness_seconds,
            ] {
                let _ = g.remove_label_values(&l);
            }
            let _ = m.zero_success_periods.remove_label_values(&l);
            for severity in [Severity::Critical, Severity::Warning] {
                let _ = m
                    .incident_open
                    .remove_label_values(&[l[0], l[1], l[2], severity.as_str()]);
            }
            seen.remove(&key);
        }
    }
}
