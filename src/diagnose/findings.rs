//! Finding constructors the checks share, including the monitor's own read errors, which are
//! `error` and never a stream's cause.

use serde_json::{json, Value};

use crate::aws::AwsError;
use crate::model::{Finding, Status};

pub fn finding(
    check: &str,
    status: Status,
    summary: impl Into<String>,
    evidence: Value,
    remediation: impl Into<String>,
) -> Finding {
    Finding {
        check: check.to_string(),
        status,
        summary: summary.into(),
        evidence,
        remediation: remediation.into(),
    }
}

pub fn pass(check: &str, summary: impl Into<String>, evidence: Value) -> Finding {
    finding(check, Status::Pass, summary, evidence, "")
}

pub fn skip(check: &str, why: impl Into<String>) -> Finding {
    finding(check, Status::Skip, why, Value::Null, "")
}

/// The monitor itself could not read what the check needs: never the stream's cause.
pub fn monitor_error(check: &str, e: &AwsError, permission: &str) -> Finding {
    if e.is_access_denied() {
        finding(
            check,
            Status::Error,
            format!("the monitor is not allowed to read this: {e}"),
            json!({"error": e.to_string(), "code": e.code(), "monitor_permission_needed": permission}),
            format!(
                "grant the monitor's own role {permission} (see `firehose-sentinel iam-policy`)"
            ),
        )
    } else {
        finding(
            check,
            Status::Error,
            format!("could not run: {e}"),
            json!({"error": e.to_string(), "code": e.code()}),
            "",
        )
    }
}
