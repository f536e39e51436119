//! The risk audit: what will break on a stream that still delivers. `schedule.audit` (and
//! `check --audit`) reads, for every selected stream, healthy ones included, what the risk
//! rules need ([`read`]) and [`assess`] names the risks (pure). A risk is a `warning` alert of
//! kind `risk`, resolved when it is gone; it never opens an incident.
//!
//! Rule ids are stable (`checks.md`, "Risk rules"): see [`RULES`].

pub mod read;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::KeyInfo;
use crate::model::{Finding, Health, Status};

pub const KMS_PENDING_DELETION: &str = "risk.kms_pending_deletion";
pub const LATENT_FAILURE: &str = "risk.latent_failure";
pub const LAMBDA_DURATION: &str = "risk.lambda_duration";
pub const THROUGHPUT: &str = "risk.throughput";
pub const FRESHNESS_TREND: &str = "risk.freshness_trend";
pub const BACKUP: &str = "risk.backup";
pub const SOURCE_LAG: &str = "risk.source_lag";

/// Every rule, in the order risks are reported.
pub const RULES: [&str; 7] = [
    KMS_PENDING_DELETION,
    LATENT_FAILURE,
    LAMBDA_DURATION,
    THROUGHPUT,
    FRESHNESS_TREND,
    BACKUP,
    SOURCE_LAG,
];

/// "Near a limit": at or above this share of it.
pub const NEAR: f64 = 0.8;
/// Firehose calls a Lambda processor for at most 5 minutes.
pub const FIREHOSE_LAMBDA_CAP_SECONDS: f64 = 300.0;
/// Firehose keeps undelivered data this long.
pub const RETENTION_SECONDS: f64 = 86_400.0;
/// A Kinesis source this far behind (and not catching up) is falling behind.
pub const SOURCE_LAG_MS: f64 = 600_000.0;

/// One risk found on a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub id: String,
    pub summary: String,
    pub evidence: serde_json::Value,
    pub remediation: String,
}

/// What one rule concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Found(Risk),
    /// Evaluated, nothing found (an open risk of this rule is resolved).
    Clear,
    /// Could not be evaluated (a read failed): an open risk stays open.
    Unknown(String),
}

/// A KMS key the stream depends on, and what `DescribeKey` said of it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyUse {
    /// `destination`, `bucket default`, `stream SSE`, `Kinesis source`.
    pub role: &'static str,
    pub key: String,
    pub info: Result<KeyInfo, String>,
}

/// Datapoints of one audit metric, oldest first.
pub type Series = Vec<(DateTime<Utc>, f64)>;

/// Everything the rules look at for one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub health: Health,
    /// The checks' findings (`None`: the checks could not run).
    pub findings: Option<Vec<Finding>>,
    pub keys: Vec<KeyUse>,
    /// The Lambda processor's timeout in seconds (`Some(Err)`: unreadable; `None`: no
    /// processor).
    pub lambda_timeout: Option<Result<i32, String>>,
    /// Audit metrics by name (`AWS/Firehose` names; `Lambda.Duration` for the processor's);
    /// `Err` when `GetMetricData` failed.
    pub metrics: Result<BTreeMap<String, Series>, String>,
    pub direct_put: bool,
    pub backup: bool,
    pub kinesis_source: bool,
    pub period_seconds: u32,
    /// S3 buffering interval plus the processor's buffer: freshness below twice this is the
    /// normal sawtooth of buffering.
    pub grace_seconds: u32,
    pub now: DateTime<Utc>,
}

impl Inputs {
    /// A healthy Direct PUT stream with nothing read yet (`metrics` empty).
    pub fn new(now: DateTime<Utc>) -> Self {
        Inputs {
            health: Health::Healthy,
            findings: None,
            keys: Vec::new(),
            lambda_timeout: None,
            metrics: Ok(BTreeMap::new()),
            direct_put: true,
            backup: false,
            kinesis_source: false,
            period_seconds: read::PERIOD_SECONDS,
            grace_seconds: 300,
            now,
        }
    }
}

fn found(id: &str, summary: String, evidence: serde_json::Value, fix: String) -> Outcome {
    Outcome::Found(Risk {
        id: id.into(),
        summary,
        evidence,
        remediation: fix,
    })
}

/// Every rule's outcome for one stream, in [`RULES`] order.
pub fn assess(i: &Inputs) -> Vec<(&'static str, Outcome)> {
    vec![
        (KMS_PENDING_DELETION, keys(i)),
        (LATENT_FAILURE, latent(i)),
        (LAMBDA_DURATION, lambda_duration(i)),
        (THROUGHPUT, throughput(i)),
        (FRESHNESS_TREND, freshness(i)),
        (BACKUP, backup(i)),
        (SOURCE_LAG, source_lag(i)),
    ]
}

fn keys(i: &Inputs) -> Outcome {
    let mut bad = Vec::new();
    let mut unreadable = Vec::new();
    for k in &i.keys {
        match &k.info {
            Ok(info) if info.state == "PendingDeletion" => {
                let days = info
                    .deletion_date
                    .map(|d| ((d - i.now).num_hours() as f64 / 24.0).ceil().max(0.0) as i64);
                bad.push(json!({"use": k.role, "key": info.arn, "state": info.state,
                    "deletion_date": info.deletion_date, "days_left": days}));
            }
            Ok(info) if info.state == "Disabled" => {
                bad.push(json!({"use": k.role, "key": info.arn, "state": info.state}));
            }
            Ok(_) => {}
            Err(e) => unreadable.push(format!("{} ({}): {e}", k.key, k.role)),
        }
    }
    if bad.is_empty() {
        return match unreadable.first() {
            Some(e) => Outcome::Unknown(format!("cannot describe key {e}")),
            None => Outcome::Clear,
        };
    }
    let first = &bad[0];
    let key = first["key"].as_str().unwrap_or_default().to_string();
    let summary = match first["days_left"].as_i64() {
        Some(d) => format!(
            "the {} key {key} is scheduled for deletion in {d} days: delivery stops then, and what it encrypted becomes unreadable",
            first["use"].as_str().unwrap_or_default()
        ),
        None if first["state"] == "PendingDeletion" => format!(
            "the {} key {key} is scheduled for deletion",
            first["use"].as_str().unwrap_or_default()
        ),
        None => format!(
            "the {} key {key} is disabled: every delivery that needs it fails",
            first["use"].as_str().unwrap_or_default()
        ),
    };
    let fix = bad
        .iter()
        .map(|b| {
            let k = b["key"].as_str().unwrap_or_default();
            if b["state"] == "PendingDeletion" {
                format!(
                    "aws kms cancel-key-deletion --key-id {k} && aws kms enable-key --key-id {k}"
                )
            } else {
                format!("aws kms enable-key --key-id {k}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    found(KMS_PENDING_DELETION, summary, json!({"keys": bad}), fix)
}

fn latent(i: &Inputs) -> Outcome {
    if i.health != Health::Healthy {
        // A failing stream has an incident, an idle one proves nothing either way: an open
        // latent failure stays open (its "gone" would be false) until a healthy stream's
        // checks pass.
        return Outcome::Unknown(format!("the stream is {}, not healthy", i.health));
    }
    let Some(findings) = &i.findings else {
        return Outcome::Unknown("the checks could not run".into());
    };
    let failed: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .collect();
    let Some(first) = failed.first() else {
        return Outcome::Clear;
    };
    found(
        LATENT_FAILURE,
        format!(
            "delivery succeeds, but check {} fails: {}",
            first.check, first.summary
        ),
        json!({"failed": failed.iter().map(|f| json!({"check": f.check, "summary": f.summary})).collect::<Vec<_>>()}),
        first.remediation.clone(),
    )
}

fn metric<'a>(i: &'a Inputs, name: &str) -> Result<Option<&'a Series>, String> {
    match &i.metrics {
        Ok(m) => Ok(m.get(name).filter(|s| !s.is_empty())),
        Err(e) => Err(e.clone()),
    }
}

fn lambda_duration(i: &Inputs) -> Outcome {
    let timeout = match &i.lambda_timeout {
        None => return Outcome::Clear,
        Some(Err(e)) => return Outcome::Unknown(format!("cannot read the function: {e}")),
        Some(Ok(t)) => *t as f64,
    };
    let durations = match metric(i, "Lambda.Duration") {
        Err(e) => return Outcome::Unknown(e),
        Ok(None) => return Outcome::Clear,
        Ok(Some(s)) => s,
    };
    let limit = timeout.min(FIREHOSE_LAMBDA_CAP_SECONDS);
    let max_ms = durations.iter().map(|p| p.1).fold(0.0, f64::max);
    if max_ms < NEAR * limit * 1000.0 {
        return Outcome::Clear;
    }
    found(
        LAMBDA_DURATION,
        format!(
            "the processor ran up to {:.1} s, {:.0}% of its limit of {limit:.0} s (the smaller of its timeout, {timeout:.0} s, and Firehose's 5 minutes): slower batches will time out and fail",
            max_ms / 1000.0,
            100.0 * max_ms / (limit * 1000.0)
        ),
        json!({"max_duration_ms": max_ms, "timeout_seconds": timeout, "limit_seconds": limit}),
        "make the function faster, or lower the processor's BufferSizeInMBs/BufferIntervalInSeconds so each invocation gets less; raising the timeout helps only below 5 minutes".into(),
    )
}

fn throughput(i: &Inputs) -> Outcome {
    if !i.direct_put {
        return Outcome::Clear;
    }
    let period = i.period_seconds.max(1) as f64;
    let mut near = Vec::new();
    for (used, limit) in [
        ("IncomingBytes", "BytesPerSecondLimit"),
        ("IncomingRecords", "RecordsPerSecondLimit"),
        ("IncomingPutRequests", "PutRequestsPerSecondLimit"),
    ] {
        let (u, l) = match (metric(i, used), metric(i, limit)) {
            (Err(e), _) | (_, Err(e)) => return Outcome::Unknown(e),
            (Ok(Some(u)), Ok(Some(l))) => (u, l),
            _ => continue,
        };
        let Some(lim) = l.iter().map(|p| p.1).filter(|v| *v > 0.0).reduce(f64::min) else {
            continue;
        };
        let peak = u.iter().map(|p| p.1 / period).fold(0.0, f64::max);
        if peak >= NEAR * lim {
            near.push(
                json!({"metric": used, "peak_per_second": peak, "limit_per_second": lim,
                "share": peak / lim}),
            );
        }
    }
    let throttled: f64 = match metric(i, "ThrottledRecords") {
        Err(e) => return Outcome::Unknown(e),
        Ok(s) => s.map(|s| s.iter().map(|p| p.1).sum()).unwrap_or(0.0),
    };
    if near.is_empty() && throttled <= 0.0 {
        return Outcome::Clear;
    }
    let summary = if throttled > 0.0 {
        format!("{throttled:.0} records were throttled: the stream is at its limits")
    } else {
        format!(
            "{} at {:.0}% of the stream's limit",
            near[0]["metric"].as_str().unwrap_or_default(),
            100.0 * near[0]["share"].as_f64().unwrap_or_default()
        )
    };
    found(
        THROUGHPUT,
        summary,
        json!({"near_limits": near, "throttled_records": throttled}),
        "request a higher Direct PUT quota (Service Quotas, Amazon Data Firehose) or spread producers over more streams; producers must retry throttled records".into(),
    )
}

/// Least-squares slope of `s` in value per second.
fn slope(s: &Series) -> f64 {
    let n = s.len() as f64;
    let t0 = s[0].0;
    let xs: Vec<f64> = s.iter().map(|p| (p.0 - t0).num_seconds() as f64).collect();
    let (mx, my) = (
        xs.iter().sum::<f64>() / n,
        s.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let num: f64 = xs.iter().zip(s).map(|(x, p)| (x - mx) * (p.1 - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

fn freshness(i: &Inputs) -> Outcome {
    let s = match metric(i, "DeliveryToS3.DataFreshness") {
        Err(e) => return Outcome::Unknown(e),
        Ok(None) => return Outcome::Clear,
        Ok(Some(s)) => s,
    };
    if s.len() < 3 {
        return Outcome::Clear;
    }
    let last = s[s.len() - 1].1;
    let growing = s.windows(2).all(|w| w[1].1 >= w[0].1);
    let k = slope(s);
    // Below twice the buffering delay, freshness is the sawtooth of buffering.
    let floor = (2 * i.grace_seconds).max(3600) as f64;
    let projected = last + k * RETENTION_SECONDS;
    if !(growing && k > 0.0 && last >= floor && projected >= RETENTION_SECONDS) {
        return Outcome::Clear;
    }
    let hours_left = (RETENTION_SECONDS - last) / k / 3600.0;
    found(
        FRESHNESS_TREND,
        format!(
            "the oldest undelivered record is {:.1} h old and growing {:.0} s per minute: at this rate data older than 24 h is dropped in {hours_left:.1} h",
            last / 3600.0,
            k * 60.0
        ),
        json!({"freshness_seconds": last, "growth_per_second": k, "hours_to_retention": hours_left}),
        "delivery is falling behind: look at the destination's throttling and errors (s3.*, lambda.*) and the processor's duration before records expire".into(),
    )
}

fn backup(i: &Inputs) -> Outcome {
    if !i.backup {
        return Outcome::Clear;
    }
    let s = match metric(i, "BackupToS3.Success") {
        Err(e) => return Outcome::Unknown(e),
        Ok(None) => return Outcome::Clear,
        Ok(Some(s)) => s,
    };
    let newest = s[s.len() - 1].1;
    if newest >= 1.0 {
        return Outcome::Clear;
    }
    found(
        BACKUP,
        format!(
            "S3 backup is enabled but only {:.0}% of backup deliveries succeed: the source records are not all kept",
            newest * 100.0
        ),
        json!({"newest_backup_success": newest}),
        "check the backup bucket, its policy and the role's s3:PutObject on it (the same checks as the destination)".into(),
    )
}

fn source_lag(i: &Inputs) -> Outcome {
    if !i.kinesis_source {
        return Outcome::Clear;
    }
    let s = match metric(i, "KinesisMillisBehindLatest") {
        Err(e) => return Outcome::Unknown(e),
        Ok(None) => return Outcome::Clear,
        Ok(Some(s)) => s,
    };
    let (first, newest) = (s[0].1, s[s.len() - 1].1);
    if newest < SOURCE_LAG_MS || newest < first {
        return Outcome::Clear;
    }
    found(
        SOURCE_LAG,
        format!(
            "Firehose reads the Kinesis source {:.0} min behind its newest record, and is not catching up: records expire from the source at the end of its retention",
            newest / 60_000.0
        ),
        json!({"millis_behind_latest": newest, "at_window_start": first}),
        "make delivery faster (destination, processor) or raise the source's retention period while it catches up".into(),
    )
}

#[cfg(test)]
mod tests;
