//! `s3.bucket_policy`: no `Deny` of the bucket policy applies to the delivery role for the
//! actions Firehose needs. Firehose's requests come from the Firehose service, not through the
//! customer's VPC endpoints or networks: `aws:SourceVpce`, `aws:SourceVpc` and `aws:SourceIp`
//! are absent from the context, as they are in AWS's evaluation of those requests.

use serde_json::{json, Value};

use super::iam_s3::{BUCKET_ACTIONS, OBJECT_ACTIONS};
use crate::diagnose::arn::{object_arn_pattern, sample_object_arn};
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::diagnose::identity::firehose_context;
use crate::diagnose::policy::{self, Decision, Policy, PolicyKind, Principal, Request};
use crate::model::{Finding, Status};

pub const ID: &str = "s3.bucket_policy";
pub const PERMISSIONS: &[&str] = &["s3:GetBucketPolicy"];

/// Condition keys worth naming in a finding.
const NOTABLE_KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:SourceVpce",
    "aws:SourceVpc",
    "aws:PrincipalArn",
    "aws:SecureTransport",
];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let doc = match cx.bucket_policy().await {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return pass(
                ID,
                format!("bucket {} has no bucket policy", d.bucket),
                json!({"bucket": d.bucket}),
            )
        }
        Err(e) if e.is_not_found() => {
            return skip(
                ID,
                format!("bucket {} does not exist (see s3.bucket)", d.bucket),
            )
        }
        Err(e) => return monitor_error(ID, &e, "s3:GetBucketPolicy"),
    };
    let p = match Policy::parse(&doc) {
        Ok(p) => p,
        Err(e) => {
            return finding(
                ID,
                Status::Warn,
                format!("the bucket policy of {} cannot be parsed: {e}", d.bucket),
                json!({"bucket_policy": doc}),
                "",
            )
        }
    };
    let principal = Principal::role(&d.role_arn);
    let ctx = firehose_context(cx).with("aws:PrincipalArn", d.role_arn.clone());
    let object = sample_object_arn(d, cx.now);
    let policies = [(&p, PolicyKind::Resource)];
    let mut denies: Vec<Value> = Vec::new();
    let mut sids: Vec<String> = Vec::new();
    let pairs = BUCKET_ACTIONS
        .iter()
        .map(|a| (*a, d.bucket_arn.clone()))
        .chain(OBJECT_ACTIONS.iter().map(|a| (*a, object.clone())));
    for (action, resource) in pairs {
        let ev = policy::evaluate(
            &policies,
            &Request::new(action, &resource, &ctx).with_principal(&principal),
        );
        if ev.decision != Decision::ExplicitDeny {
            continue;
        }
        for applied in &ev.deciding {
            let Some(stmt) = applied.statement.resolve(&policies) else {
                continue;
            };
            let label = applied.statement.label();
            if !sids.contains(&label) {
                sids.push(label.clone());
                let json = stmt.to_json();
                let keys: Vec<&str> = NOTABLE_KEYS
                    .iter()
                    .copied()
                    .filter(|k| {
                        json["Condition"]
                            .to_string()
                            .to_lowercase()
                            .contains(&k.to_lowercase())
                    })
                    .collect();
                denies.push(json!({"statement": label, "denied_action": action, "resource": resource, "conditions": json["Condition"], "notable_condition_keys": keys, "absent_from_firehose_requests": applied.satisfied_by_absence, "document": json}));
            }
        }
    }
    if denies.is_empty() {
        return pass(
            ID,
            format!(
                "no statement of the bucket policy of {} denies the delivery role",
                d.bucket
            ),
            json!({"bucket": d.bucket}),
        );
    }
    let keys: Vec<String> = denies
        .iter()
        .flat_map(|x| {
            x["notable_condition_keys"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let why = if keys
        .iter()
        .any(|k| k.contains("SourceVpc") || k == "aws:SourceIp")
    {
        " Firehose does not reach S3 through your VPC endpoint or network, so a deny conditioned on aws:SourceVpce/aws:SourceVpc/aws:SourceIp also hits it."
    } else {
        ""
    };
    finding(
        ID,
        Status::Fail,
        format!("the bucket policy of {} denies the delivery role: statement {}", d.bucket, sids.join(", ")),
        json!({"bucket": d.bucket, "role": d.role_arn, "denies": denies}),
        format!(
            "exempt the delivery role from the deny.{why} For example add to the statement's Condition:\n{}\nor restrict the deny to principals other than the role. Resources concerned: {}, {}",
            serde_json::to_string_pretty(&json!({"ArnNotEquals": {"aws:PrincipalArn": d.role_arn}})).unwrap_or_default(),
            d.bucket_arn,
            object_arn_pattern(d)
        ),
    )
}
