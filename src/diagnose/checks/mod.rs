//! Root-cause checks (`../shared/spec/checks.md`): one file per check with its stable id, the
//! permissions the monitor needs for its reads, and `run`, which reads through the shared
//! [`crate::diagnose::ctx::Ctx`] and returns one finding. [`Checks`] runs every check of a stream concurrently,
//! each with a timeout, and names the root cause.
//!
//! Invariant: checks do no I/O of their own; every AWS read goes through `Ctx` (made once per
//! diagnosis). A check that cannot read is `error`, never the stream's cause.

pub mod glue_format_conversion;
pub mod iam_kinesis;
pub mod iam_kms;
pub mod iam_lambda;
pub mod iam_logs;
pub mod iam_role;
pub mod iam_s3;
pub mod kms_key;
pub mod kms_sse;
pub mod lambda_function;
pub mod lambda_invocation;
pub mod logging_enabled;
pub mod logging_errors;
pub mod metrics_incoming;
pub mod s3_bucket;
pub mod s3_bucket_policy;
pub mod s3_dynamic_partitioning;
pub mod s3_processing_failed;
pub mod source_kinesis;
pub mod stream_status;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

use crate::aws::{DiagnosisApi, StreamDescription};
use crate::config::DiagnosisSettings;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, skip};
use crate::diagnose::{Diagnose, Diagnosis};
use crate::model::Window;
use crate::model::{Finding, Status};
use crate::poll::inventory::Entry;

/// Every check id of the spec, in priority order (the first `fail` is the root cause).
pub const ALL_IDS: [&str; 20] = [
    stream_status::ID,
    s3_bucket::ID,
    iam_role::ID,
    kms_key::ID,
    iam_s3::ID,
    iam_kms::ID,
    s3_bucket_policy::ID,
    lambda_function::ID,
    iam_lambda::ID,
    lambda_invocation::ID,
    glue_format_conversion::ID,
    s3_dynamic_partitioning::ID,
    s3_processing_failed::ID,
    source_kinesis::ID,
    iam_kinesis::ID,
    kms_sse::ID,
    logging_errors::ID,
    iam_logs::ID,
    metrics_incoming::ID,
    logging_enabled::ID,
];

/// The permissions each check declares.
pub fn declared() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        (stream_status::ID, stream_status::PERMISSIONS),
        (s3_bucket::ID, s3_bucket::PERMISSIONS),
        (iam_role::ID, iam_role::PERMISSIONS),
        (kms_key::ID, kms_key::PERMISSIONS),
        (iam_s3::ID, iam_s3::PERMISSIONS),
        (iam_kms::ID, iam_kms::PERMISSIONS),
        (s3_bucket_policy::ID, s3_bucket_policy::PERMISSIONS),
        (lambda_function::ID, lambda_function::PERMISSIONS),
        (iam_lambda::ID, iam_lambda::PERMISSIONS),
        (lambda_invocation::ID, lambda_invocation::PERMISSIONS),
        (
            glue_format_conversion::ID,
            glue_format_conversion::PERMISSIONS,
        ),
        (
            s3_dynamic_partitioning::ID,
            s3_dynamic_partitioning::PERMISSIONS,
        ),
        (s3_processing_failed::ID, s3_processing_failed::PERMISSIONS),
        (source_kinesis::ID, source_kinesis::PERMISSIONS),
        (iam_kinesis::ID, iam_kinesis::PERMISSIONS),
        (kms_sse::ID, kms_sse::PERMISSIONS),
        (logging_errors::ID, logging_errors::PERMISSIONS),
        (iam_logs::ID, iam_logs::PERMISSIONS),
        (metrics_incoming::ID, metrics_incoming::PERMISSIONS),
        (logging_enabled::ID, logging_enabled::PERMISSIONS),
    ]
}

/// Permissions of every check, plus the optional second opinion of the IAM simulator.
pub fn permissions() -> Vec<&'static str> {
    let mut p: Vec<&'static str> = declared()
        .into_iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    p.push("iam:SimulatePrincipalPolicy");
    p
}

async fn run_one(id: &str, cx: &Ctx<'_>) -> Finding {
    match id {
        stream_status::ID => stream_status::run(cx).await,
        s3_bucket::ID => s3_bucket::run(cx).await,
        iam_role::ID => iam_role::run(cx).await,
        kms_key::ID => kms_key::run(cx).await,
        iam_s3::ID => iam_s3::run(cx).await,
        iam_kms::ID => iam_kms::run(cx).await,
        s3_bucket_policy::ID => s3_bucket_policy::run(cx).await,
        lambda_function::ID => lambda_function::run(cx).await,
        iam_lambda::ID => iam_lambda::run(cx).await,
        lambda_invocation::ID => lambda_invocation::run(cx).await,
        glue_format_conversion::ID => glue_format_conversion::run(cx).await,
        s3_dynamic_partitioning::ID => s3_dynamic_partitioning::run(cx).await,
        s3_processing_failed::ID => s3_processing_failed::run(cx).await,
        source_kinesis::ID => source_kinesis::run(cx).await,
        iam_kinesis::ID => iam_kinesis::run(cx).await,
        kms_sse::ID => kms_sse::run(cx).await,
        logging_errors::ID => logging_errors::run(cx).await,
        iam_logs::ID => iam_logs::run(cx).await,
        metrics_incoming::ID => metrics_incoming::run(cx).await,
        logging_enabled::ID => logging_enabled::run(cx).await,
        other => finding(other, Status::Error, "unknown check", json!(null), ""),
    }
}

/// `root_cause`: the first `fail` in priority order, unless the newest error code of the
/// Firehose error log implicates a failing check, which then wins.
pub fn root_cause(findings: &[Finding]) -> Option<String> {
    let failed = |id: &str| {
        findings
            .iter()
            .any(|f| f.check == id && f.status == Status::Fail)
    };
    if let Some(logs) = findings
        .iter()
        .find(|f| f.check == logging_errors::ID && f.status == Status::Fail)
    {
        let implicated = logging_errors::implicated_by(logs);
        if let Some(id) = ALL_IDS
            .iter()
            .find(|id| implicated.iter().any(|i| i == *id) && failed(id))
        {
            return Some(id.to_string());
        }
    }
    ALL_IDS
        .iter()
        .find(|id| failed(id))
        .map(|id| id.to_string())
}

/// Runs the checks over any [`DiagnosisApi`].
pub struct Checks {
    api: Arc<dyn DiagnosisApi>,
    settings: DiagnosisSettings,
}

impl Checks {
    pub fn new(api: Arc<dyn DiagnosisApi>, settings: DiagnosisSettings) -> Self {
        Checks { api, settings }
    }

    /// Every check for `stream` at `now`, in priority order.
    pub async fn run(
        &self,
        stream: &StreamDescription,
        window: Window,
        now: chrono::DateTime<Utc>,
    ) -> Diagnosis {
        let cx = Ctx::new(self.api.as_ref(), stream, window, now);
        let timeout = self.settings.check_timeout;
        let findings: Vec<Finding> = futures::future::join_all(ALL_IDS.iter().map(|id| {
            let cx = &cx;
            async move {
                match tokio::time::timeout(timeout, run_one(id, cx)).await {
                    Ok(f) => f,
                    Err(_) => finding(
                        id,
                        Status::Error,
                        format!("timed out after {}", humantime::format_duration(timeout)),
                        json!({"timeout": timeout_text(timeout)}),
                        "",
                    ),
                }
            }
        }))
        .await;
        let root_cause = root_cause(&findings);
        Diagnosis {
            findings,
            root_cause,
            ..Default::default()
        }
    }
}

fn timeout_text(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[async_trait]
impl Diagnose for Checks {
    async fn diagnose(
        &self,
        stream: &StreamDescription,
        window: Window,
        now: chrono::DateTime<Utc>,
    ) -> Diagnosis {
        self.run(stream, window, now).await
    }
}

/// The diagnosis of a stream that could not be described: `stream.status` says why, every
/// other check is skipped.
pub fn missing_stream(name: &str, entry: &Entry) -> Diagnosis {
    let first = match entry {
        Entry::Missing { reason } => stream_status::missing(name, reason),
        Entry::Unreadable { error, .. } => finding(
            stream_status::ID,
            Status::Error,
            format!("could not describe the stream: {error}"),
            json!({"error": error.to_string(), "code": error.code()}),
            "",
        ),
        Entry::Described(_) => finding(
            stream_status::ID,
            Status::Error,
            "no description",
            json!(null),
            "",
        ),
    };
    let mut findings = vec![first];
    findings.extend(
        ALL_IDS
            .iter()
            .skip(1)
            .map(|id| skip(id, "the delivery stream could not be described")),
    );
    let root_cause = root_cause(&findings);
    Diagnosis {
        findings,
        root_cause,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
