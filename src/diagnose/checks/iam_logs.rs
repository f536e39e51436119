//! `iam.logs`: the delivery role may write its error log (`logs:PutLogEvents`).

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::skip;
use crate::diagnose::identity::{firehose_context, identity_finding};
use crate::model::Finding;

pub const ID: &str = "iam.logs";
pub const PERMISSIONS: &[&str] = crate::diagnose::ctx::ROLE_POLICY_READS;

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let Some(group) = cx.log_group() else {
        return skip(ID, "error logging is disabled (see logging.enabled)");
    };
    let stream = d
        .logging
        .log_stream
        .clone()
        .unwrap_or_else(|| "DestinationDelivery".into());
    let arn = format!(
        "arn:aws:logs:{}:{}:log-group:{}:log-stream:{}",
        cx.region(),
        cx.account(),
        group,
        stream
    );
    identity_finding(
        cx,
        ID,
        &d.role_arn,
        &[("logs:PutLogEvents", arn.clone())],
        &firehose_context(cx).await,
        &format!("logs:PutLogEvents on {arn}"),
    )
    .await
}
