//! The per-stream Prometheus series a cycle publishes, and their removal when a stream is no
//! longer monitored (a metric without a datapoint has no series, never a zero).

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{Gauge, GaugeVec, IntGauge};

use crate::detect::Assessment;
use crate::diagnose::checks;
use crate::model::{Health, MetricKind, Severity, Status, StreamMetrics};
use crate::report::StreamReport;
use crate::telemetry::metrics::Metrics;

/// The series of one stream, kept between cycles: a cycle sets values through these handles
/// instead of looking every label set up again (20,000 streams x 13 series a cycle).
struct Handles {
    health: Vec<IntGauge>,
    /// Present while the metric's series exists (it has a datapoint).
    gauges: [Option<Gauge>; 4],
    zero: IntGauge,
    incident: [IntGauge; 2],
    /// `check_failed` series exist for this stream (it was shown diagnosed).
    checks: bool,
    /// The cycle that last published it.
    cycle: u64,
}

/// The (stream, region, account) label sets published so far, with their series.
#[derive(Default)]
pub struct StreamSeries {
    published: Mutex<HashMap<[String; 3], Handles>>,
    /// The current cycle (see [`StreamSeries::begin_cycle`]).
    cycle: std::sync::atomic::AtomicU64,
}

fn labels(r: &StreamReport) -> [String; 3] {
    [r.stream.clone(), r.region.clone(), r.account.clone()]
}

const SEVERITIES: [Severity; 2] = [Severity::Critical, Severity::Warning];

fn gauge_vecs(m: &Metrics) -> [(&GaugeVec, MetricKind); 4] {
    [
        (&m.delivery_success_ratio, MetricKind::Success),
        (&m.incoming_records, MetricKind::Incoming),
        (&m.processing_success_ratio, MetricKind::Processing),
        (&m.data_freshness_seconds, MetricKind::Freshness),
    ]
}

impl StreamSeries {
    /// A cycle starts: the streams it does not publish are removed by
    /// [`StreamSeries::unpublish_gone`].
    pub fn begin_cycle(&self) {
        self.cycle
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Set every per-stream series of `r`.
    pub fn publish(
        &self,
        m: &Metrics,
        r: &StreamReport,
        a: &Assessment,
        sm: Option<&StreamMetrics>,
    ) {
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let key = labels(r);
        let l = [key[0].as_str(), key[1].as_str(), key[2].as_str()];
        let h = published.entry(key.clone()).or_insert_with(|| Handles {
            health: Health::ALL
                .iter()
                .map(|h| {
                    m.stream_health
                        .with_label_values(&[l[0], l[1], l[2], h.as_str()])
                })
                .collect(),
            gauges: [None, None, None, None],
            zero: m.zero_success_periods.with_label_values(&l),
            incident: SEVERITIES.map(|s| {
                m.incident_open
                    .with_label_values(&[l[0], l[1], l[2], s.as_str()])
            }),
            checks: false,
            cycle: 0,
        });
        h.cycle = self.cycle.load(std::sync::atomic::Ordering::Relaxed);
        for (g, health) in h.health.iter().zip(Health::ALL) {
            g.set(i64::from(health == r.health));
        }
        for ((vec, p), slot) in gauge_vecs(m).into_iter().zip(h.gauges.iter_mut()) {
            // No datapoint: no series, rather than a zero that would read as a failure.
            match sm.and_then(|s| s.newest(p)) {
                Some(v) => slot.get_or_insert_with(|| vec.with_label_values(&l)).set(v),
                // Not read this cycle (two-phase polling): the last reading stands.
                None if sm.is_some_and(|s| s.unread.contains(&p)) => {}
                None => {
                    if slot.take().is_some() {
                        let _ = vec.remove_label_values(&l);
                    }
                }
            }
        }
        h.zero.set(i64::from(a.zero_success_periods));
        for (g, severity) in h.incident.iter().zip(SEVERITIES) {
            let open = r.incident.as_ref().is_some_and(|i| i.severity == severity);
            g.set(i64::from(open));
        }
        if r.diagnosed_at.is_some() {
            for f in r.findings.iter() {
                m.check_failed
                    .with_label_values(&[l[0], l[1], l[2], f.check.as_str()])
                    .set(i64::from(f.status == Status::Fail));
            }
            h.checks = true;
        } else if std::mem::take(&mut h.checks) {
            // No diagnosis shown any more (no incident): no failed check.
            for id in checks::ALL_IDS {
                let _ = m.check_failed.remove_label_values(&[l[0], l[1], l[2], id]);
            }
        }
    }

    /// Remove the series of the streams this cycle did not publish (no longer monitored).
    pub fn unpublish_gone(&self, m: &Metrics) {
        let cycle = self.cycle.load(std::sync::atomic::Ordering::Relaxed);
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<[String; 3]> = published
            .iter()
            .filter(|(_, h)| h.cycle != cycle)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            let l = [key[0].as_str(), key[1].as_str(), key[2].as_str()];
            for h in Health::ALL {
                let _ = m
                    .stream_health
                    .remove_label_values(&[l[0], l[1], l[2], h.as_str()]);
            }
            for (g, _) in gauge_vecs(m) {
                let _ = g.remove_label_values(&l);
            }
            let _ = m.zero_success_periods.remove_label_values(&l);
            for severity in SEVERITIES {
                let _ = m
                    .incident_open
                    .remove_label_values(&[l[0], l[1], l[2], severity.as_str()]);
            }
            if published.remove(&key).is_some_and(|h| h.checks) {
                for id in checks::ALL_IDS {
                    let _ = m.check_failed.remove_label_values(&[l[0], l[1], l[2], id]);
                }
            }
        }
    }
}
