//! `iam.kinesis`: the source role may read the source Kinesis data stream.

use crate::aws::Source;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::skip;
use crate::diagnose::identity::{firehose_context, identity_finding};
use crate::model::Finding;

pub const ID: &str = "iam.kinesis";
pub const PERMISSIONS: &[&str] = crate::diagnose::ctx::ROLE_POLICY_READS;

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Source::KinesisStream {
        stream_arn,
        role_arn,
    } = &cx.desc.source
    else {
        return skip(ID, "the source is not a Kinesis data stream");
    };
    let pairs: Vec<(&str, String)> = [
        "kinesis:DescribeStream",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
        "kinesis:ListShards",
    ]
    .iter()
    .map(|a| (*a, stream_arn.clone()))
    .collect();
    identity_finding(
        cx,
        ID,
        role_arn,
        &pairs,
        &firehose_context(cx).await,
        &format!("reading {stream_arn}"),
    )
    .await
}
