//! The per-stream series (`stream_health`, the newest datapoints, `zero_success_periods`,
//! `incident_open`, `check_failed`): one compact row per stream, written straight into the
//! text exposition when `/metrics` is scraped.
//!
//! Why not `GaugeVec` children: each child of the `prometheus` crate holds its own copy of its
//! family's description and label pairs, about 700 bytes; 5,000 streams have 60,000 of these
//! series, which took 40 MiB. A row takes about 300 bytes, and the text is the same: families
//! with `# HELP` and `# TYPE`, label names in alphabetical order, values as the crate prints
//! them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::model::{Health, Severity};

/// The newest-datapoint gauges of a stream, by index in [`Row::gauges`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newest {
    /// `delivery_success_ratio`
    Success = 0,
    /// `incoming_records`
    Incoming = 1,
    /// `processing_success_ratio`
    Processing = 2,
    /// `data_freshness_seconds`
    Freshness = 3,
}

impl Newest {
    pub const ALL: [Newest; 4] = [
        Newest::Success,
        Newest::Incoming,
        Newest::Processing,
        Newest::Freshness,
    ];
}

/// What one stream's series say.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub health: Health,
    /// `None`: no series (the metric has no datapoint), never a zero that would read as a
    /// failure.
    pub gauges: [Option<f64>; 4],
    pub zero_success_periods: u32,
    /// The severity of the open incident (`incident_open` has both severities, 0 or 1).
    pub incident: Option<Severity>,
    /// `check_failed` of the diagnosis shown (check id, failed); `None`: no diagnosis shown,
    /// no series.
    pub checks: Option<Vec<(String, bool)>>,
    /// The cycle that last published the row.
    seen: u64,
}

impl Default for Row {
    fn default() -> Self {
        Row {
            health: Health::Unknown,
            gauges: [None; 4],
            zero_success_periods: 0,
            incident: None,
            checks: None,
            seen: 0,
        }
    }
}

/// Rows by account, region and stream (the order the series are written in).
type Rows = BTreeMap<String, BTreeMap<String, BTreeMap<String, Row>>>;

/// The per-stream series of one daemon.
#[derive(Default)]
pub struct StreamSeries {
    rows: Mutex<Rows>,
    cycle: AtomicU64,
}

/// A family's name (without the prefix), help and the label that comes with its values.
struct Family {
    name: &'static str,
    help: &'static str,
}

const HEALTH: Family = Family {
    name: "stream_health",
    help: "1 for the stream's current health (healthy, degraded, failing, stalled, idle, unknown), 0 for the others.",
};
const NEWEST: [Family; 4] = [
    Family {
        name: "delivery_success_ratio",
        help: "Newest DeliveryToS3.Success datapoint (Average) in the window.",
    },
    Family {
        name: "incoming_records",
        help: "Newest IncomingRecords datapoint (Sum over one period).",
    },
    Family {
        name: "processing_success_ratio",
        help: "Newest ExecuteProcessing.Success datapoint (Average), streams with a Lambda processor.",
    },
    Family {
        name: "data_freshness_seconds",
        help: "Newest DeliveryToS3.DataFreshness datapoint (Maximum), the age of the oldest undelivered record.",
    },
];
const ZERO: Family = Family {
    name: "zero_success_periods",
    help: "Consecutive newest periods whose DeliveryToS3.Success datapoint is 0 (missing datapoints skipped).",
};
const INCIDENT: Family = Family {
    name: "incident_open",
    help: "1 while an incident of this severity (critical: failing or stalled; warning: sustained degraded) is open for the stream.",
};
const CHECK: Family = Family {
    name: "check_failed",
    help: "1 when the check failed in the stream's last diagnosis.",
};

/// Every family name (without the prefix), as [`super::metrics::Metrics::names`] lists them.
pub fn family_names() -> Vec<&'static str> {
    let mut v = vec![HEALTH.name, ZERO.name, INCIDENT.name, CHECK.name];
    v.extend(NEWEST.iter().map(|f| f.name));
    v
}

/// `\`, `"` and newline escaped, as in the text format's label values.
fn escaped(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The labels of one series, in alphabetical order (as the crate writes them): `account`,
/// `region`, `stream`, and the family's own label where its name sorts (`check` and `health`
/// before `region`, `severity` after it).
fn labels(
    out: &mut String,
    account: &str,
    extra: Option<(&str, &str)>,
    region: &str,
    stream: &str,
) {
    let pair = |out: &mut String, name: &str, value: &str| {
        out.push(',');
        out.push_str(name);
        out.push_str("=\"");
        escaped(out, value);
        out.push('"');
    };
    out.push_str("{account=\"");
    escaped(out, account);
    out.push('"');
    let (before, after) = match extra {
        Some((name, value)) if name < "region" => (Some((name, value)), None),
        other => (None, other),
    };
    if let Some((name, value)) = before {
        pair(out, name, value);
    }
    pair(out, "region", region);
    if let Some((name, value)) = after {
        debug_assert!(name < "stream");
        pair(out, name, value);
    }
    pair(out, "stream", stream);
    out.push_str("} ");
}

impl StreamSeries {
    /// A cycle starts: the rows it does not publish go at [`StreamSeries::retain_published`].
    pub fn begin_cycle(&self) {
        self.cycle.fetch_add(1, Ordering::Relaxed);
    }

    /// Update the row of a stream (created when new), as published by this cycle.
    pub fn publish(&self, account: &str, region: &str, stream: &str, f: impl FnOnce(&mut Row)) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up by reference: a known stream (all of them, but on the first cycle) costs
        // no allocation.
        let by_region = match rows.get_mut(account) {
            Some(m) => m,
            None => rows.entry(account.to_string()).or_default(),
        };
        let by_stream = match by_region.get_mut(region) {
            Some(m) => m,
            None => by_region.entry(region.to_string()).or_default(),
        };
        let row = match by_stream.get_mut(stream) {
            Some(r) => r,
            None => by_stream.entry(stream.to_string()).or_default(),
        };
        row.seen = self.cycle.load(Ordering::Relaxed);
        f(row);
    }

    /// Remove the rows of the streams this cycle did not publish (no longer monitored).
    pub fn retain_published(&self) {
        let cycle = self.cycle.load(Ordering::Relaxed);
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.retain(|_, by_region| {
            by_region.retain(|_, by_stream| {
                by_stream.retain(|_, row| row.seen == cycle);
                !by_stream.is_empty()
            });
            !by_region.is_empty()
        });
    }

    /// A copy of a stream's row (tests, and whoever wants one value).
    pub fn row(&self, account: &str, region: &str, stream: &str) -> Option<Row> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.get(account)?.get(region)?.get(stream).cloned()
    }

    /// Streams with a row.
    pub fn len(&self) -> usize {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.values()
            .flat_map(|r| r.values())
            .map(BTreeMap::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append every family to `out` in the text exposition format (version 0.0.4), each
    /// family's name with `prefix_`. A family without a series is left out, as the
    /// `prometheus` crate does.
    pub fn render(&self, prefix: &str, out: &mut String) {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let each = |f: &mut dyn FnMut(&str, &str, &str, &Row)| {
            for (account, by_region) in rows.iter() {
                for (region, by_stream) in by_region {
                    for (stream, row) in by_stream {
                        f(account, region, stream, row);
                    }
                }
            }
        };
        let header = |out: &mut String, fam: &Family| {
            let _ = write!(
                out,
                "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} gauge\n",
                name = fam.name,
                help = fam.help
            );
        };
        // `series` writes a stream's lines of the family (each starting with `name`), and says
        // whether it wrote any.
        type Series<'s> = dyn FnMut(&mut String, &str, &str, &str, &str, &Row) -> bool + 's;
        let family = |out: &mut String, fam: &Family, series: &mut Series<'_>| {
            let start = out.len();
            header(out, fam);
            let name = format!("{prefix}_{}", fam.name);
            let mut any = false;
            each(&mut |account, region, stream, row| {
                any |= series(out, &name, account, region, stream, row);
            });
            if !any {
                out.truncate(start);
            }
        };
        let newest = |n: Newest| {
            move |out: &mut String,
                  name: &str,
                  account: &str,
                  region: &str,
                  stream: &str,
                  row: &Row| {
                let Some(v) = row.gauges[n as usize] else {
                    return false;
                };
                out.push_str(name);
                labels(out, account, None, region, stream);
                let _ = writeln!(out, "{v}");
                true
            }
        };
        family(out, &CHECK, &mut |out,
                                  name,
                                  account,
                                  region,
                                  stream,
                                  row| {
            let checks = row.checks.as_deref().unwrap_or_default();
            for (check, failed) in checks {
                out.push_str(name);
                labels(out, account, Some(("check", check)), region, stream);
                out.push_str(if *failed { "1\n" } else { "0\n" });
            }
            !checks.is_empty()
        });
        family(
            out,
            &INCIDENT,
            &mut |out, name, account, region, stream, row| {
                for severity in [Severity::Critical, Severity::Warning] {
                    out.push_str(name);
                    labels(
                        out,
                        account,
                        Some(("severity", severity.as_str())),
                        region,
                        stream,
                    );
                    out.push_str(if row.incident == Some(severity) {
                        "1\n"
                    } else {
                        "0\n"
                    });
                }
                true
            },
        );
        family(out, &HEALTH, &mut |out,
                                   name,
                                   account,
                                   region,
                                   stream,
                                   row| {
            for h in Health::ALL {
                out.push_str(name);
                labels(out, account, Some(("health", h.as_str())), region, stream);
                out.push_str(if row.health == h { "1\n" } else { "0\n" });
            }
            true
        });
        family(out, &ZERO, &mut |out,
                                 name,
                                 account,
                                 region,
                                 stream,
                                 row| {
            out.push_str(name);
            labels(out, account, None, region, stream);
            let _ = writeln!(out, "{}", row.zero_success_periods);
            true
        });
        for n in Newest::ALL {
            family(out, &NEWEST[n as usize], &mut newest(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry, TextEncoder};

    fn sorted_lines(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// The rows written by hand give the text the `prometheus` crate gives for the same
    /// series (the lines, in any order; families and headers alike).
    #[test]
    fn renders_what_the_prometheus_crate_renders() {
        let t = StreamSeries::default();
        t.begin_cycle();
        t.publish("111122223333", "us-east-1", "orders", |r| {
            r.health = Health::Failing;
            r.gauges = [Some(0.0), Some(12.5), None, Some(900.0)];
            r.zero_success_periods = 3;
            r.incident = Some(Severity::Critical);
            r.checks = Some(vec![
                ("s3.bucket_exists".into(), true),
                ("iam.role".into(), false),
            ]);
        });
        t.publish("444455556666", "eu-west-1", "we\"ird\\name", |r| {
            r.health = Health::Healthy;
            r.gauges = [Some(1.0), None, Some(0.25), None];
        });
        let mut ours = String::new();
        t.render("p", &mut ours);

        let reg = Registry::new();
        let stream = ["stream", "region", "account"];
        let with = |extra: &str| -> Vec<&str> {
            let mut v = stream.to_vec();
            v.push(extra);
            v.into_iter()
                .map(|s| &*Box::leak(s.to_string().into_boxed_str()))
                .collect()
        };
        let igv = |f: &Family, labels: &[&str]| {
            let v = IntGaugeVec::new(Opts::new(format!("p_{}", f.name), f.help), labels).unwrap();
            reg.register(Box::new(v.clone())).unwrap();
            v
        };
        let gv = |f: &Family| {
            let v = GaugeVec::new(Opts::new(format!("p_{}", f.name), f.help), &stream).unwrap();
            reg.register(Box::new(v.clone())).unwrap();
            v
        };
        let health = igv(&HEALTH, &with("health"));
        let zero = igv(&ZERO, &stream);
        let incident = igv(&INCIDENT, &with("severity"));
        let check = igv(&CHECK, &with("check"));
        let newest: Vec<GaugeVec> = NEWEST.iter().map(gv).collect();
        for (account, region, name, h, g, z, inc) in [
            (
                "111122223333",
                "us-east-1",
                "orders",
                Health::Failing,
                [Some(0.0), Some(12.5), None, Some(900.0)],
                3,
                Some(Severity::Critical),
            ),
            (
                "444455556666",
                "eu-west-1",
                "we\"ird\\name",
                Health::Healthy,
                [Some(1.0), None, Some(0.25), None],
                0,
                None,
            ),
        ] {
            for each in Health::ALL {
                health
                    .with_label_values(&[name, region, account, each.as_str()])
                    .set(i64::from(each == h));
            }
            for (vec, v) in newest.iter().zip(g) {
                if let Some(v) = v {
                    vec.with_label_values(&[name, region, account]).set(v);
                }
            }
            zero.with_label_values(&[name, region, account]).set(z);
            for s in [Severity::Critical, Severity::Warning] {
                incident
                    .with_label_values(&[name, region, account, s.as_str()])
                    .set(i64::from(inc == Some(s)));
            }
        }
        check
            .with_label_values(&["orders", "us-east-1", "111122223333", "s3.bucket_exists"])
            .set(1);
        check
            .with_label_values(&["orders", "us-east-1", "111122223333", "iam.role"])
            .set(0);
        let theirs = TextEncoder::new().encode_to_string(&reg.gather()).unwrap();
        assert_eq!(sorted_lines(&ours), sorted_lines(&theirs));
        // Each family's lines are together, under its own header, once.
        let mut current = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for line in ours.lines() {
            if let Some(t) = line.strip_prefix("# TYPE ") {
                current = t.split(' ').next().unwrap().to_string();
                assert!(seen.insert(current.clone()), "{current} twice");
            } else if !line.starts_with('#') {
                assert_eq!(line.split('{').next().unwrap(), current, "{line}");
            }
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn a_stream_not_published_in_a_cycle_loses_its_series() {
        let t = StreamSeries::default();
        t.begin_cycle();
        t.publish("1", "r", "a", |r| r.health = Health::Healthy);
        t.publish("1", "r", "b", |r| r.health = Health::Idle);
        t.begin_cycle();
        t.publish("1", "r", "a", |_| {});
        t.retain_published();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.row("1", "r", "a").map(|r| r.health),
            Some(Health::Healthy)
        );
        assert!(t.row("1", "r", "b").is_none());
        t.begin_cycle();
        t.retain_published();
        assert!(t.is_empty());
        let mut out = String::new();
        t.render("p", &mut out);
        assert_eq!(out, "", "no family without a series");
    }
}
