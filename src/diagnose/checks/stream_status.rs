//! `stream.status`: the delivery stream exists, is ACTIVE, reports no failure, and delivers to S3.

use serde_json::json;

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, pass};
use crate::model::{Finding, Status};

pub const ID: &str = "stream.status";
pub const PERMISSIONS: &[&str] = &["firehose:DescribeDeliveryStream"];

/// What to do about each `FailureDescription` type Firehose reports.
fn failure_fix(kind: &str, key: Option<&str>, role: &str) -> String {
    let key = key.unwrap_or("the stream's KMS key");
    match kind {
        "KMS_ACCESS_DENIED" => format!("allow the delivery role {role} kms:Decrypt, kms:GenerateDataKey and kms:CreateGrant on {key} in the key policy (or delegate the key to IAM and add them to the role)"),
        "DISABLED_KMS_KEY" => format!("enable the key {key} (kms:EnableKey), or switch the stream's encryption to another key"),
        "INVALID_KMS_KEY" => format!("{key} must be a symmetric encryption key in the stream's region: point the stream at a valid key"),
        "KMS_KEY_NOT_FOUND" => format!("{key} does not exist (or is pending deletion: cancel it with kms:CancelKeyDeletion); point the stream at an existing key"),
        "KMS_OPT_IN_REQUIRED" | "KMS_OPT_IN_TIMEOUT" => "the account is not subscribed to KMS in this region: opt in, then re-enable server-side encryption".into(),
        "RETIRE_KMS_GRANT_FAILED" | "CREATE_KMS_GRANT_FAILED" => format!("allow the delivery role {role} kms:CreateGrant and kms:RetireGrant on {key}"),
        "SUBNET_NOT_FOUND" | "SECURITY_GROUP_NOT_FOUND" | "ENI_ACCESS_DENIED" | "SUBNET_ACCESS_DENIED" | "SECURITY_GROUP_ACCESS_DENIED" => "fix the stream's VPC configuration (subnets, security groups, ENI permissions of the role)".into(),
        _ => "see the failure details; recreate or update the stream once the cause is fixed".into(),
    }
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let d = cx.desc;
    let role =
        d.s3.as_ref()
            .map(|s| s.role_arn.as_str())
            .unwrap_or("the delivery role");
    let key = d.sse.as_ref().and_then(|s| s.key_arn.as_deref());
    let evidence = json!({"arn": d.arn, "status": d.status, "failure": d.failure, "destination": d.s3.as_ref().map(|_| "S3").or(d.other_destination.as_deref())});
    if let Some(f) = &d.failure {
        let kind = f.split(':').next().unwrap_or(f).trim();
        return finding(
            ID,
            Status::Fail,
            format!("the delivery stream reports a failure: {f}"),
            evidence,
            failure_fix(kind, key, role),
        );
    }
    if d.status != "ACTIVE" {
        return finding(
            ID,
            Status::Fail,
            format!("the delivery stream is {} (not ACTIVE)", d.status),
            evidence,
            match d.status.as_str() {
                "CREATING" | "UPDATING" => "wait for the stream to become ACTIVE; if it stays so, check its configuration in the console".to_string(),
                "DELETING" => "the stream is being deleted: recreate it or remove it from the sentinel's configuration".to_string(),
                _ => "recreate the stream (CREATING_FAILED / DELETING_FAILED cannot recover by themselves)".to_string(),
            },
        );
    }
    // checks.md: a destination that is not S3 is not monitored (a warn), never a cause.
    if d.s3.is_none() {
        return finding(
            ID,
            Status::Warn,
            format!(
                "the destination is {}, not S3: not monitored, the S3 checks do not apply",
                d.other_destination.as_deref().unwrap_or("not S3")
            ),
            evidence,
            "remove this stream from the sentinel's configuration, or exclude it from discovery",
        );
    }
    pass(
        ID,
        "the delivery stream is ACTIVE and delivers to S3",
        evidence,
    )
}

/// The finding for a configured stream that does not exist.
pub fn missing(name: &str, reason: &str) -> Finding {
    finding(
        ID,
        Status::Fail,
        format!("delivery stream {name} does not exist"),
        json!({"stream": name, "error": reason}),
        "create the delivery stream, or remove it from streams.names",
    )
}
