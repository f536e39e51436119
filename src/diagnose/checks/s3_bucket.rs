//! `s3.bucket`: the destination bucket exists (`HeadBucket`).

use serde_json::json;

use crate::aws::AwsError;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "s3.bucket";
pub const PERMISSIONS: &[&str] = &["s3:ListBucket"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let evidence = json!({"bucket": d.bucket, "bucket_arn": d.bucket_arn});
    match cx.bucket().await {
        Ok(()) => pass(ID, format!("bucket {} exists", d.bucket), evidence),
        Err(e @ AwsError::NotFound { .. }) => finding(
            ID,
            Status::Fail,
            format!("the destination bucket {} does not exist", d.bucket),
            json!({"bucket": d.bucket, "bucket_arn": d.bucket_arn, "error": e.to_string()}),
            format!(
                "create the bucket (aws s3api create-bucket --bucket {} --region {}) or point the stream's destination at an existing bucket; Firehose retries for up to 24 hours, after which records are lost",
                d.bucket,
                cx.region()
            ),
        ),
        // HeadBucket answers a bare 403: the monitor lacks s3:ListBucket on this bucket.
        Err(e) => monitor_error(ID, &e, "s3:ListBucket"),
    }
}
