//! `logging.errors`: delivery errors in the Firehose error log over the window, counted by
//! error code; each code points at the check it implicates. JSON is parsed here, on the client.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "logging.errors";
pub const PERMISSIONS: &[&str] = &["logs:FilterLogEvents"];

/// The checks an error code implicates (checks.md's table), with its meaning.
pub fn implicated(code: &str) -> (&'static [&'static str], &'static str) {
    match code {
        "S3.NoSuchBucket" => (&["s3.bucket"], "the bucket does not exist"),
        "S3.AccessDenied" => (
            &["iam.role", "iam.s3", "s3.bucket_policy"],
            "the trust policy, the role's policy or a bucket policy denies access",
        ),
        "S3.MethodNotAllowed" => (
            &["s3.bucket_policy"],
            "the bucket policy disallows the operation",
        ),
        "S3.KMS.NotFoundException" => (
            &["kms.key"],
            "the KMS key was not found, or its account has a problem",
        ),
        "S3.KMS.AccessDeniedException" | "S3.KMS.KeyDisabled" => (
            &["kms.key", "iam.kms"],
            "the key policy or the role does not allow the key, or the key is disabled",
        ),
        "S3.KMS.RequestLimitExceeded" => (&["kms.key"], "the KMS request rate is exceeded"),
        "S3.AccountProblem" | "S3.AllAccessDisabled" | "S3.InvalidPayer" | "S3.NotSignedUp" => {
            (&["s3.bucket"], "the bucket owner's account cannot be used")
        }
        "Lambda.AssumeRoleAccessDenied" => (
            &["iam.role"],
            "the trust policy does not let Firehose assume the role",
        ),
        "Lambda.InvokeAccessDenied" => (
            &["iam.lambda"],
            "the role is not allowed to invoke the function",
        ),
        "Lambda.ResourceNotFound" => (&["lambda.function"], "the function does not exist"),
        "Lambda.FunctionTimedOut" => (&["lambda.invocation"], "the invocation timed out"),
        "Lambda.InvokeLimitExceeded" => (
            &["lambda.invocation"],
            "the function's concurrency limit is reached",
        ),
        "Lambda.JsonProcessingException"
        | "Lambda.MissingRecordId"
        | "Lambda.DuplicatedRecordId" => (
            &["lambda.invocation"],
            "the function's response breaks the record contract",
        ),
        "Lambda.InvalidSubnetIDException"
        | "Lambda.InvalidSecurityGroupIDException"
        | "Lambda.SubnetIPAddressLimitReachedException"
        | "Lambda.ENILimitReachedException" => {
            (&["lambda.function"], "the function's VPC configuration")
        }
        "Lambda.FunctionError" => (
            &["lambda.invocation"],
            "the function returned an error for the records",
        ),
        "InternalError" => (&[], "Firehose retries by itself"),
        // Every other code of a family AWS documents ("Data delivery errors"), by family.
        c if c.starts_with("DataFormatConversion.") => (
            &["glue.format_conversion"],
            "record format conversion failed (schema, Glue table or permissions)",
        ),
        c if c.starts_with("DynamicPartitioning.") => (
            &["s3.dynamic_partitioning"],
            "dynamic partitioning failed (key extraction or partition limits)",
        ),
        c if c.starts_with("Kinesis.") => (
            &["iam.kinesis", "source.kinesis"],
            "the source stream cannot be read",
        ),
        c if c.starts_with("Firehose.KMS.") || c.starts_with("KMS.") => (
            &["kms.sse"],
            "the stream's own encryption key cannot be used",
        ),
        c if c.starts_with("S3.KMS.") => (
            &["kms.key", "iam.kms"],
            "the destination's KMS key cannot be used",
        ),
        c if c.starts_with("S3.") => (
            &["s3.bucket", "iam.s3", "s3.bucket_policy"],
            "the bucket cannot be written",
        ),
        c if c.starts_with("Lambda.") => (
            &["lambda.invocation", "lambda.function", "iam.lambda"],
            "the processor cannot be invoked or fails",
        ),
        _ => (&[], "unknown code"),
    }
}

/// (timestamp, code, message) of an error event's JSON, if it is one.
pub fn parse(message: &str) -> Option<(String, String)> {
    // CloudWatch Logs events are at most 256 KiB; anything larger is not Firehose's.
    if message.len() > 256 << 10 {
        return None;
    }
    let v: Value = serde_json::from_str(message.trim()).ok()?;
    let code = v.get("errorCode").and_then(Value::as_str)?.to_string();
    let msg = v
        .get("errorMessage")
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Some((code, msg))
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(group) = cx.log_group() else {
        return skip(ID, "error logging is disabled (see logging.enabled)");
    };
    let events = match cx.firehose_logs().await {
        Some(Ok(e)) => e,
        Some(Err(e)) if e.is_not_found() => {
            return skip(
                ID,
                format!("the log group {group} does not exist (see logging.enabled)"),
            )
        }
        Some(Err(e)) => return monitor_error(ID, &e, "logs:FilterLogEvents"),
        None => return skip(ID, "error logging is disabled"),
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut newest: Option<(chrono::DateTime<chrono::Utc>, String, String)> = None;
    for e in &events {
        if let Some((code, msg)) = parse(&e.message) {
            *counts.entry(code.clone()).or_default() += 1;
            if newest.as_ref().is_none_or(|(t, _, _)| e.timestamp >= *t) {
                newest = Some((e.timestamp, code, msg));
            }
        }
    }
    let Some((t, code, msg)) = newest else {
        return pass(
            ID,
            format!("no delivery error in {group} in the window"),
            json!({"log_group": group, "events_read": events.len()}),
        );
    };
    let (checks, meaning) = implicated(&code);
    finding(
        ID,
        Status::Fail,
        format!(
            "{} delivery error(s) in the window; newest {code}: {msg}",
            counts.values().sum::<u64>()
        ),
        json!({"log_group": group, "counts_by_code": counts, "newest": {"time": t, "errorCode": code, "message": msg}, "meaning": meaning, "implicates": checks}),
        if checks.is_empty() {
            format!("{code}: {meaning}")
        } else {
            format!(
                "{code}: {meaning}; see the finding of {}",
                checks.join(", ")
            )
        },
    )
}

/// The checks the newest error code of a `logging.errors` finding implicates.
pub fn implicated_by(f: &Finding) -> Vec<String> {
    f.evidence["implicates"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_family_points_at_a_check() {
        for code in [
            "S3.NoSuchBucket",
            "S3.SlowDown",
            "S3.KMS.KeyDisabled",
            "S3.KMS.SomethingNew",
            "Lambda.FunctionError",
            "Lambda.ResponseSizeExceeded",
            "Kinesis.AccessDenied",
            "Firehose.KMS.AccessDeniedException",
            "DataFormatConversion.EntityNotFound",
            "DynamicPartitioning.MetadataExtractionFailed",
        ] {
            let (checks, _) = implicated(code);
            assert!(!checks.is_empty(), "{code}");
            for c in checks {
                assert!(
                    crate::diagnose::checks::ALL_IDS.contains(c),
                    "{code} -> {c}"
                );
            }
        }
        assert_eq!(
            implicated("DataFormatConversion.InvalidSchema").0,
            ["glue.format_conversion"]
        );
        assert_eq!(
            implicated("DynamicPartitioning.X").0,
            ["s3.dynamic_partitioning"]
        );
        // Unknown codes implicate nothing; the finding keeps them verbatim.
        assert!(implicated("Something.Else").0.is_empty());
    }
}
