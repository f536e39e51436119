//! The JSON report (`check --format json`, `/api/v1/status`): per stream its health, the
//! window's datapoints, the root cause and every finding. Plain data, built by the daemon and
//! the `check` command, rendered as JSON or as text for people.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Finding, Health, MetricKind, Point, Severity, Status, StreamMetrics};
use crate::poll::inventory::Skipped;

pub const REPORT_SCHEMA: &str = "firehose-sentinel/report/v1";

/// The report for one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    pub stream: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    pub health: Health,
    /// Why detection chose this health.
    pub reason: String,
    pub metrics: ReportMetrics,
    pub root_cause: Option<String>,
    /// Shared: every stream not diagnosed shows the same list (every check, `skip`), and a
    /// 20,000-stream report must not hold 20,000 copies of it.
    pub findings: Arc<Vec<Finding>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub incident: Option<IncidentSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diagnosed_at: Option<DateTime<Utc>>,
    /// What changed on the stream's resources before its incident (CloudTrail), most
    /// relevant first, from the diagnosis shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::model::Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_error: Option<String>,
    /// Risks the audit found and that are still open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<ActiveRisk>,
}

/// The datapoints a report shows ([`StreamMetrics::shown`]), shared with the cycle that read
/// them rather than copied (5,000 streams a cycle). JSON: `{"DeliveryToS3.Success": [{"t":
/// RFC 3339, "v": value}, ...], ...}`.
#[derive(Debug, Clone, Default)]
pub struct ReportMetrics(Option<Arc<StreamMetrics>>);

impl ReportMetrics {
    pub fn new(m: Option<Arc<StreamMetrics>>) -> Self {
        ReportMetrics(m)
    }

    /// Every series shown, by name ([`MetricKind::report_name`]).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &[Point])> {
        self.0
            .iter()
            .flat_map(|m| m.shown())
            .map(|(k, p)| (k.report_name(), p))
    }

    /// The series of that name, when shown.
    pub fn get(&self, name: &str) -> Option<&[Point]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl PartialEq for ReportMetrics {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Serialize for ReportMetrics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ReportMetrics {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let by_name = BTreeMap::<String, Vec<Point>>::deserialize(d)?;
        let mut m = StreamMetrics::default();
        // What a report leaves out was not read.
        m.unread = MetricKind::ALL.into_iter().collect();
        for (name, points) in by_name {
            let kind = MetricKind::ALL
                .into_iter()
                .find(|k| k.report_name() == name)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown metric {name:?}")))?;
            m.unread.remove(&kind);
            m.extend(kind, points);
        }
        Ok(ReportMetrics(Some(Arc::new(m))))
    }
}

/// An open audit risk as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveRisk {
    pub risk: String,
    pub since: DateTime<Utc>,
    pub summary: String,
    pub remediation: String,
    pub evidence: serde_json::Value,
}

impl ActiveRisk {
    pub fn of(o: &crate::plan::risks::OpenRisk) -> Self {
        ActiveRisk {
            risk: o.risk.id.clone(),
            since: o.since,
            summary: o.risk.summary.clone(),
            remediation: o.risk.remediation.clone(),
            evidence: o.risk.evidence.clone(),
        }
    }
}

/// An open incident as shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: String,
    #[serde(default)]
    pub severity: Severity,
    pub started_at: DateTime<Utc>,
    pub alerts_sent: u32,
}

/// One region of one target, as `/api/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStatus {
    pub target: String,
    pub region: String,
    pub account: String,
    /// `ok`, or `error`: the target could not be read (its role cannot be assumed); its
    /// streams are `unknown`, and nothing alerts for them.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Streams watched in it.
    pub streams: usize,
}

/// The time range a report's datapoints come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub generated_at: DateTime<Utc>,
    /// The window the cycle read (start, end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<ReportWindow>,
    pub streams: Vec<StreamReport>,
    /// Discovered streams that are not watched (their destination is not S3), with why.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Each target and region: its account, and whether it could be read.
    #[serde(default)]
    pub targets: Vec<TargetStatus>,
}

impl Report {
    pub fn new(generated_at: DateTime<Utc>, streams: Vec<StreamReport>) -> Self {
        Report {
            schema: REPORT_SCHEMA.to_string(),
            generated_at,
            window: None,
            streams,
            skipped: Vec::new(),
            targets: Vec::new(),
        }
    }

    pub fn empty() -> Self {
        Report::new(Utc::now(), Vec::new())
    }

    /// Text for people: one block per stream, root cause first.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for t in self.targets.iter().filter(|t| t.status == "error") {
            out.push_str(&format!(
                "!! target {} ({} {}) cannot be read: {}\n",
                t.target,
                if t.account.is_empty() {
                    "?"
                } else {
                    &t.account
                },
                t.region,
                t.error.as_deref().unwrap_or("unknown error")
            ));
        }
        for s in &self.streams {
            out.push_str(&format!(
                "== {} [{}] {} ({} {})\n",
                s.stream,
                s.health,
                s.reason,
                if s.account.is_empty() {
                    "?"
                } else {
                    &s.account
                },
                if s.region.is_empty() { "?" } else { &s.region },
            ));
            let find = |id: &str| s.findings.iter().find(|f| f.check == id);
            if let Some(rc) = s.root_cause.as_deref().and_then(find) {
                out.push_str(&format!("ROOT CAUSE  {}: {}\n", rc.check, rc.summary));
                if !rc.remediation.is_empty() {
                    out.push_str(&indent(&format!("fix: {}", rc.remediation)));
                }
            } else {
                out.push_str("root cause: none found\n");
            }
            let before = s
                .incident
                .as_ref()
                .map(|i| i.started_at)
                .unwrap_or(self.generated_at);
            for c in &s.changes {
                out.push_str(&format!("CHANGED {}\n", c.describe(before)));
            }
            if let Some(e) = &s.changes_error {
                out.push_str(&format!("NOTE  {e}\n"));
            }
            for r in &s.risks {
                out.push_str(&format!("RISK  {}: {}\n", r.risk, r.summary));
                if !r.remediation.is_empty() {
                    out.push_str(&indent(&format!("fix: {}", r.remediation)));
                }
            }
            for f in s.findings.iter().filter(|f| {
                matches!(f.status, Status::Fail | Status::Warn | Status::Error)
                    && Some(f.check.as_str()) != s.root_cause.as_deref()
            }) {
                out.push_str(&format!(
                    "{:<5} {}: {}\n",
                    f.status.as_str().to_uppercase(),
                    f.check,
                    f.summary
                ));
                if !f.remediation.is_empty() && f.status != Status::Error {
                    out.push_str(&indent(&format!("fix: {}", f.remediation)));
                }
            }
            let passed: Vec<&str> = s
                .findings
                .iter()
                .filter(|f| f.status == Status::Pass)
                .map(|f| f.check.as_str())
                .collect();
            let skipped = s
                .findings
                .iter()
                .filter(|f| f.status == Status::Skip)
                .count();
            out.push_str(&format!(
                "passed ({}): {}; skipped: {}\n\n",
                passed.len(),
                if passed.is_empty() {
                    "-".to_string()
                } else {
                    passed.join(", ")
                },
                skipped
            ));
        }
        for k in &self.skipped {
            out.push_str(&format!("== {} [skipped] {}\n", k.stream, k.reason));
        }
        out
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}\n"))
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The JSON is what the map of names it replaced gave, and reads back the same.
    #[test]
    fn report_metrics_json_shows_what_was_read_and_reads_back() {
        let t = |m: i64| Utc.timestamp_opt(1_700_000_000 + 60 * m, 0).unwrap();
        let mut m = StreamMetrics::default();
        m.insert(MetricKind::Success, t(1), 0.5);
        m.insert(MetricKind::Success, t(0), 1.0);
        m.insert(MetricKind::Processing, t(0), 1.0);
        m.unread.insert(MetricKind::Incoming);
        let r = ReportMetrics::new(Some(Arc::new(m)));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "DeliveryToS3.Success": [
                    {"t": "2023-11-14T22:13:20Z", "v": 1.0},
                    {"t": "2023-11-14T22:14:20Z", "v": 0.5}
                ],
                "DeliveryToS3.DataFreshness": [],
                "ExecuteProcessing.Success": [{"t": "2023-11-14T22:13:20Z", "v": 1.0}]
            })
        );
        assert!(!r.contains_key("IncomingRecords"), "not read: not shown");
        assert_eq!(r.get("DeliveryToS3.DataFreshness"), Some(&[][..]));
        let back: ReportMetrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            serde_json::to_value(ReportMetrics::default()).unwrap(),
            serde_json::json!({})
        );
        assert!(serde_json::from_value::<ReportMetrics>(serde_json::json!({"Nope": []})).is_err());
    }
}
