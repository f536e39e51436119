//! `iam.kinesis`: the source role may read the source Kinesis data stream.

use super::ctx::{firehose_context, identity_finding, skip, Ctx};
use crate::aws::Source;
use crate::model::Finding;

pub const ID: &str = "iam.kinesis";
pub const PERMISSIONS: &[&str] = super::ctx::ROLE_POLICY_READS;

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
        &firehose_context(cx),
        &format!("reading {stream_arn}"),
    )
    .await
}
