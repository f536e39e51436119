//! `metrics.incoming`: records reach the stream, and none are throttled. Only warns: no
//! incoming data points upstream, not at the delivery.

use serde_json::json;

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass};
use crate::model::{Finding, Status};

pub const ID: &str = "metrics.incoming";
pub const PERMISSIONS: &[&str] = &["cloudwatch:GetMetricData"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let m = match cx.metrics().await {
        Ok(m) => m,
        Err(e) => return monitor_error(ID, &e, "cloudwatch:GetMetricData"),
    };
    let records = m.sum("AWS/Firehose", "IncomingRecords", "Sum");
    let bytes = m.sum("AWS/Firehose", "IncomingBytes", "Sum");
    let throttled = m.sum("AWS/Firehose", "ThrottledRecords", "Sum");
    let evidence = json!({
        "IncomingRecords": m.json("AWS/Firehose", "IncomingRecords", "Sum"),
        "IncomingBytes": m.json("AWS/Firehose", "IncomingBytes", "Sum"),
        "ThrottledRecords": m.json("AWS/Firehose", "ThrottledRecords", "Sum"),
    });
    if throttled > 0.0 {
        return finding(ID, Status::Warn, format!("{throttled:.0} records were throttled in the window"), evidence, "producers exceed the stream's throughput quota: request a higher quota, or batch and retry with backoff (PutRecordBatch, FailedPutCount)");
    }
    if records <= 0.0 && bytes <= 0.0 {
        let upstream = match &cx.desc.source {
            crate::aws::Source::KinesisStream { .. } => {
                "the problem is upstream: check the source Kinesis stream (source.kinesis)"
            }
            _ => "the problem is upstream: check the producers' PutRecord/PutRecordBatch calls",
        };
        return finding(
            ID,
            Status::Warn,
            format!("no records arrived in the window; {upstream}"),
            evidence,
            upstream,
        );
    }
    pass(
        ID,
        format!("{records:.0} records arrived in the window"),
        evidence,
    )
}
