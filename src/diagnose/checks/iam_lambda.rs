//! `iam.lambda`: the delivery role may invoke the processor and read its configuration.

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::skip;
use crate::diagnose::identity::{firehose_context, identity_finding};
use crate::model::Finding;

pub const ID: &str = "iam.lambda";
pub const PERMISSIONS: &[&str] = crate::diagnose::ctx::ROLE_POLICY_READS;

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let Some(arn) = d.lambda_arn.as_deref() else {
        return skip(ID, "no Lambda processor is configured");
    };
    let pairs = [
        ("lambda:InvokeFunction", arn.to_string()),
        ("lambda:GetFunctionConfiguration", arn.to_string()),
    ];
    identity_finding(
        cx,
        ID,
        &d.role_arn,
        &pairs,
        &firehose_context(cx).await,
        &format!("lambda:InvokeFunction and lambda:GetFunctionConfiguration on {arn}"),
    )
    .await
}
