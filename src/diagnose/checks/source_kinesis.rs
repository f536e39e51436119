//! `source.kinesis`: the source Kinesis data stream exists, is ACTIVE, and Firehose reads
//! what arrives in it.

use serde_json::json;

use crate::aws::{AwsError, Source};
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "source.kinesis";
pub const PERMISSIONS: &[&str] = &["kinesis:DescribeStreamSummary", "cloudwatch:GetMetricData"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Source::KinesisStream { stream_arn, .. } = &cx.desc.source else {
        return skip(ID, "the source is not a Kinesis data stream");
    };
    let name = crate::diagnose::arn::kinesis_stream_name(stream_arn);
    let Some(read) = cx.kinesis_stream().await else {
        return skip(ID, "the source is not a Kinesis data stream");
    };
    let info = match read {
        Ok(i) => i,
        Err(e @ AwsError::NotFound { .. }) => {
            return finding(ID, Status::Fail, format!("the source stream {stream_arn} does not exist"), json!({"stream": stream_arn, "error": e.to_string()}), "recreate the Kinesis data stream, or recreate the delivery stream with an existing source")
        }
        Err(e) => return monitor_error(ID, &e, "kinesis:DescribeStreamSummary"),
    };
    if info.status != "ACTIVE" && info.status != "UPDATING" {
        return finding(
            ID,
            Status::Fail,
            format!("the source stream {stream_arn} is {}", info.status),
            json!({"stream": stream_arn, "status": info.status}),
            "wait for the source stream to become ACTIVE, or recreate it",
        );
    }
    let m = match cx.metrics().await {
        Ok(m) => m,
        Err(e) => return monitor_error(ID, &e, "cloudwatch:GetMetricData"),
    };
    let incoming = m.sum("AWS/Kinesis", "IncomingRecords", "Sum");
    let read = m.sum("AWS/Firehose", "DataReadFromKinesisStream.Records", "Sum");
    let evidence = json!({"stream": stream_arn, "status": info.status, "AWS/Kinesis IncomingRecords": m.json("AWS/Kinesis", "IncomingRecords", "Sum"), "DataReadFromKinesisStream.Records": m.json("AWS/Firehose", "DataReadFromKinesisStream.Records", "Sum")});
    // Records in while none is read is the symptom; the cause is what stops Firehose reading
    // (iam.kinesis, or the source's key), so this is a warning, never the root cause.
    if incoming > 0.0 && read == 0.0 {
        return finding(
            ID,
            Status::Warn,
            format!("{incoming:.0} records arrived in {name} in the window but Firehose read none"),
            evidence,
            "check the source role's Kinesis permissions (iam.kinesis) and, for an encrypted stream, kms:Decrypt on its key; Firehose resumes from where it stopped once it can read",
        );
    }
    pass(
        ID,
        format!(
            "the source stream {name} is {} and Firehose reads it",
            info.status
        ),
        evidence,
    )
}
