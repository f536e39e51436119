//! `iam.role`: the delivery role exists and its trust policy lets `firehose.amazonaws.com`
//! assume it (with the conditions Firehose sets: `sts:ExternalId` = the account id).

use serde_json::json;

use crate::aws::AwsError;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::diagnose::policy::{self, Context, Decision, Policy, PolicyKind, Principal, Request};
use crate::model::{Finding, Status};

pub const ID: &str = "iam.role";
pub const PERMISSIONS: &[&str] = &["iam:GetRole"];

fn trust_fix(account: &str) -> String {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": account}}
        }]
    });
    format!(
        "set the role's trust policy to let Firehose assume it:\n{}",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let account = cx.account();
    let role = match cx.role(&d.role_arn).await {
        Ok(r) => r,
        Err(e @ AwsError::NotFound { .. }) => {
            return finding(
                ID,
                Status::Fail,
                format!("the delivery role {} does not exist", d.role_arn),
                json!({"role": d.role_arn, "error": e.to_string()}),
                format!("create the role {} with this trust policy and the permissions of the iam.* checks, or point the stream at an existing role; {}", d.role_arn, trust_fix(&account)),
            )
        }
        Err(e) => return monitor_error(ID, &e, "iam:GetRole"),
    };
    let trust = match Policy::parse(&role.trust_policy) {
        Ok(p) => p,
        Err(e) => {
            return finding(
                ID,
                Status::Fail,
                format!("the trust policy of {} cannot be read: {e}", role.arn),
                json!({"trust_policy": role.trust_policy}),
                trust_fix(&account),
            )
        }
    };
    let ctx = Context::new()
        .with("sts:ExternalId", account.clone())
        .with("aws:SourceAccount", account.clone())
        .with("aws:SourceArn", cx.desc.arn.clone());
    let firehose = Principal::service("firehose.amazonaws.com");
    let policies = [(&trust, PolicyKind::Resource)];
    let ev = policy::evaluate(
        &policies,
        &Request::new("sts:AssumeRole", &role.arn, &ctx).with_principal(&firehose),
    );
    let trust_json: serde_json::Value =
        serde_json::from_str(&role.trust_policy).unwrap_or_default();
    match ev.decision {
        Decision::Allow => pass(
            ID,
            format!("firehose.amazonaws.com may assume {}", role.arn),
            json!({"role": role.arn, "trust_policy": trust_json}),
        ),
        decision => finding(
            ID,
            Status::Fail,
            format!(
                "the trust policy of {} does not let firehose.amazonaws.com assume the role ({})",
                role.arn,
                if decision == Decision::ExplicitDeny {
                    "explicitly denied"
                } else {
                    "no statement allows it"
                }
            ),
            json!({"role": role.arn, "trust_policy": trust_json, "context": {"sts:ExternalId": account, "aws:SourceArn": cx.desc.arn}, "unknown_condition_keys": ev.missing_keys()}),
            trust_fix(&account),
        ),
    }
}
