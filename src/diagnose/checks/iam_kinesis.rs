//! `iam.kinesis`: the source role may read the source Kinesis data stream, and decrypt it with
//! its KMS key when the stream is encrypted with a customer managed key.

use crate::aws::Source;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::skip;
use crate::diagnose::identity::{firehose_context, identity_finding};
use crate::model::Finding;

pub const ID: &str = "iam.kinesis";
pub const PERMISSIONS: &[&str] = &[
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "kinesis:DescribeStreamSummary",
    "organizations:DescribeOrganization",
];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Source::KinesisStream {
        stream_arn,
        role_arn,
    } = &cx.desc.source
    else {
        return skip(ID, "the source is not a Kinesis data stream");
    };
    let mut pairs: Vec<(&str, String)> = [
        "kinesis:DescribeStream",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
        "kinesis:ListShards",
    ]
    .iter()
    .map(|a| (*a, stream_arn.clone()))
    .collect();
    let mut ctx = firehose_context(cx).await;
    // An encrypted source: reading it decrypts with its key, through Kinesis. The AWS managed
    // key `aws/kinesis` is usable by any principal the stream's policy lets read it.
    let key = match cx.kinesis_stream().await {
        Some(Ok(info)) => info.kms_key.filter(|k| !k.ends_with("alias/aws/kinesis")),
        _ => None,
    };
    if let Some(k) = &key {
        let key_arn = if k.starts_with("arn:") {
            k.clone()
        } else {
            format!(
                "arn:aws:kms:{}:{}:{}",
                cx.region(),
                cx.account(),
                if k.starts_with("alias/") {
                    k.clone()
                } else {
                    format!("key/{k}")
                }
            )
        };
        pairs.push(("kms:Decrypt", key_arn));
        ctx = ctx.with(
            "kms:ViaService",
            format!("kinesis.{}.amazonaws.com", cx.region()),
        );
    }
    identity_finding(
        cx,
        ID,
        role_arn,
        &pairs,
        &ctx,
        &format!(
            "reading {stream_arn}{}",
            if key.is_some() {
                " and decrypting it"
            } else {
                ""
            }
        ),
    )
    .await
}
