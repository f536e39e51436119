//! `s3.bucket_policy`: no `Deny` of the bucket policy applies to the delivery role for the
//! actions Firehose needs on every place it writes in the bucket, and a bucket of another
//! account allows them. The request context is what AWS sends for the role's session (see
//! `diagnose::request`): `aws:SourceVpce`/`aws:SourceVpc` are absent (Firehose does not use
//! your VPC endpoints), the source IP is AWS-internal (unknown). A deny that depends on a
//! value the monitor cannot know is a `warn` ("cannot tell"), never the cause.

use serde_json::{json, Value};

use super::iam_s3::{foreign_bucket, pairs};
use crate::diagnose::arn::object_arn_pattern;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::diagnose::identity::{cannot_tell, firehose_context};
use crate::diagnose::policy::{self, Decision, Policy, PolicyKind, Principal, Request};
use crate::model::{Finding, Status};

pub const ID: &str = "s3.bucket_policy";
pub const PERMISSIONS: &[&str] = &[
    "s3:GetBucketPolicy",
    "s3:GetBucketOwnershipControls",
    "organizations:DescribeOrganization",
];

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
        Ok(None) if foreign_bucket(cx).await == Some(true) => {
            return finding(
                ID,
                Status::Fail,
                format!(
                    "bucket {} belongs to another account and has no bucket policy: nothing allows the delivery role to write there",
                    d.bucket
                ),
                json!({"bucket": d.bucket, "role": d.role_arn}),
                allow_statement(d),
            )
        }
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
    let ctx = firehose_context(cx).await;
    let policies = [(&p, PolicyKind::Resource)];
    let foreign = foreign_bucket(cx).await == Some(true);
    let mut denies: Vec<Value> = Vec::new();
    let mut sids: Vec<String> = Vec::new();
    let mut uncertain: Vec<Value> = Vec::new();
    let mut not_allowed: Vec<Value> = Vec::new();
    // Only what lands in this bucket is governed by its policy (a backup bucket has its own).
    let in_bucket = |r: &str| r == d.bucket_arn || r.starts_with(&format!("{}/", d.bucket_arn));
    for (action, resource) in pairs(cx, d).await.into_iter().filter(|(_, r)| in_bucket(r)) {
        let ev = policy::evaluate(
            &policies,
            &Request::new(action, &resource, ctx.for_action(action)).with_principal(&principal),
        );
        // Unknown, or allowed unless an uncertain Deny applies: cannot tell.
        if ev.decision == Decision::Unknown
            || (ev.decision == Decision::Allow && !ev.uncertain.is_empty())
        {
            let keys: Vec<&str> = ev
                .uncertain
                .iter()
                .flat_map(|u| u.unknown_keys.iter().map(String::as_str))
                .collect();
            let statements: Vec<String> =
                ev.uncertain.iter().map(|u| u.statement.label()).collect();
            uncertain.push(json!({"action": action, "resource": resource, "unknown_keys": keys, "statements": statements}));
        }
        if ev.decision == Decision::ImplicitDeny && foreign {
            not_allowed.push(json!({"action": action, "resource": resource}));
        }
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
    if denies.is_empty() && !not_allowed.is_empty() {
        let actions: Vec<String> = not_allowed
            .iter()
            .filter_map(|x| x["action"].as_str().map(str::to_string))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return finding(
            ID,
            Status::Fail,
            format!(
                "bucket {} belongs to another account and its bucket policy does not allow the delivery role {}",
                d.bucket,
                actions.join(", ")
            ),
            json!({"bucket": d.bucket, "role": d.role_arn, "not_allowed": not_allowed, "request_context": ctx.evidence()}),
            allow_statement(d),
        );
    }
    if denies.is_empty() && !uncertain.is_empty() {
        return cannot_tell(
            ID,
            &d.role_arn,
            &uncertain,
            json!({"bucket": d.bucket, "role": d.role_arn, "cannot_tell": uncertain, "request_context": ctx.evidence()}),
        );
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

/// The statement the owner of a bucket in another account adds for the delivery role.
fn allow_statement(d: &crate::aws::S3Destination) -> String {
    let mut actions: Vec<&str> = super::iam_s3::BUCKET_ACTIONS
        .iter()
        .chain(super::iam_s3::OBJECT_ACTIONS)
        .copied()
        .collect();
    actions.push("s3:PutObjectAcl");
    format!(
        "in the bucket owner's account, add to the bucket policy of {}:\n{}",
        d.bucket,
        serde_json::to_string_pretty(&json!({
            "Sid": "AllowFirehoseDeliveryRole",
            "Effect": "Allow",
            "Principal": {"AWS": d.role_arn},
            "Action": actions,
            "Resource": [d.bucket_arn.clone(), format!("{}/*", d.bucket_arn)],
        }))
        .unwrap_or_default()
    )
}
