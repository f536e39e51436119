//! What polling costs. `GetMetricData` bills $0.01 per 1,000 metrics requested: the meter
//! turns the metrics a target's cycles request into dollars for 30 days at the current rate,
//! exported as `cloudwatch_cost_dollars_per_month{target}`.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// CloudWatch's price of one metric requested with `GetMetricData` (us-east-1 and most
/// regions: $0.01 per 1,000).
pub const DOLLARS_PER_METRIC: f64 = 0.01 / 1000.0;

/// Cycles the rate is averaged over: a day at the default schedule.
const CYCLES_AVERAGED: usize = 288;

/// 30 days, in seconds.
const MONTH_SECONDS: i64 = 30 * 86_400;

/// The latest tick of the 6-field cron `expr` at or before `at` (what replicas on the same
/// schedule agree on, whenever each one ran).
pub fn previous_tick(expr: &str, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .ok()?
        .find_previous_occurrence(&at, true)
        .ok()
}

/// How many ticks the 6-field cron `expr` makes in the 30 days after `from`. Counted (up to
/// 100,000 ticks, then extrapolated over the time they span), so irregular schedules
/// ("every 5 minutes during business hours") count right.
pub fn cycles_per_30_days(expr: &str, from: DateTime<Utc>) -> Option<f64> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .ok()?;
    let end = from + chrono::Duration::seconds(MONTH_SECONDS);
    let mut n = 0u64;
    let mut t = from;
    while let Ok(next) = cron.find_next_occurrence(&t, false) {
        t = next;
        if t > end {
            return Some(n as f64);
        }
        n += 1;
        if n >= 100_000 {
            let spanned = (t - from).num_seconds().max(1) as f64;
            return Some(n as f64 * MONTH_SECONDS as f64 / spanned);
        }
    }
    Some(n as f64)
}

/// Metrics requested by the last cycles of one target, and the monthly cost they make.
#[derive(Debug)]
pub struct CostMeter {
    cycles_per_month: f64,
    recent: VecDeque<u64>,
}

impl CostMeter {
    pub fn new(cycles_per_month: f64) -> Self {
        CostMeter {
            cycles_per_month,
            recent: VecDeque::with_capacity(CYCLES_AVERAGED),
        }
    }

    /// Record one cycle's metrics requested; answer dollars per 30 days at the current rate
    /// (the mean of the last 288 cycles).
    pub fn record(&mut self, metrics_requested: u64) -> f64 {
        if self.recent.len() == CYCLES_AVERAGED {
            self.recent.pop_front();
        }
        self.recent.push_back(metrics_requested);
        let mean = self.recent.iter().sum::<u64>() as f64 / self.recent.len() as f64;
        mean * self.cycles_per_month * DOLLARS_PER_METRIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_default_schedule_makes_8640_cycles_a_month() {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 30).unwrap();
        assert_eq!(cycles_per_30_days("0 */5 * * * *", from), Some(8640.0));
        // Every second: counted to 100,000 ticks, then extrapolated.
        let every_second = cycles_per_30_days("* * * * * *", from).unwrap();
        assert!((every_second - 2_592_000.0).abs() < 1.0, "{every_second}");
        // Business hours only (weekdays 8-18): far fewer than the same rate all month.
        let office = cycles_per_30_days("0 */5 8-17 * * Mon-Fri", from).unwrap();
        assert!(office > 2000.0 && office < 3000.0, "{office}");
        assert_eq!(cycles_per_30_days("not a cron", from), None);
    }

    #[test]
    fn a_healthy_direct_put_stream_costs_under_ten_cents() {
        // Success every cycle, the two other metrics on the 2-hourly full read (1 cycle in 24).
        let mut m = CostMeter::new(8640.0);
        let mut dollars = 0.0;
        for cycle in 0..288 {
            dollars = m.record(if cycle % 24 == 0 { 3 } else { 1 });
        }
        assert!((dollars - 0.0936).abs() < 1e-9, "{dollars}");
        // Before this change every cycle read 3 metrics.
        let mut full = CostMeter::new(8640.0);
        assert!((full.record(3) - 0.2592).abs() < 1e-9);
    }
}
