//! `s3.processing_failed`: no records were written under the error output prefix in the window;
//! otherwise quote the newest failed record.

use std::io::Read;

use serde_json::{json, Value};

use crate::diagnose::arn::error_output_prefix;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "s3.processing_failed";
pub const PERMISSIONS: &[&str] = &["s3:ListBucket", "s3:GetObject"];

/// The newest record of a processing-failed object (gzip or plain JSON lines).
pub fn newest_record(bytes: &[u8]) -> Option<Value> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        // A truncated read still yields the complete lines before the cut.
        let _ = flate2::read::MultiGzDecoder::new(bytes).read_to_string(&mut s);
        s
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v.is_object())
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    if d.lambda_arn.is_none() {
        return skip(ID, "no Lambda processor is configured");
    }
    let prefix = error_output_prefix(d);
    // With the default layout (`processing-failed/YYYY/MM/DD/HH/`) keys sort by time: start
    // at the window's first hour rather than at the oldest object.
    let start_after = d
        .error_output_prefix
        .as_deref()
        .is_none_or(str::is_empty)
        .then(|| {
            format!(
                "{prefix}{}",
                (cx.window.start - chrono::Duration::hours(1)).format("%Y/%m/%d/%H/")
            )
        });
    let listed = cx
        .list_objects(&prefix, start_after.as_deref(), 10_000)
        .await;
    let objects = match listed.unwrap_or_else(|| Ok(Vec::new())) {
        Ok(o) => o,
        Err(e) if e.is_not_found() => {
            return skip(
                ID,
                format!("bucket {} does not exist (see s3.bucket)", d.bucket),
            )
        }
        Err(e) => return monitor_error(ID, &e, "s3:ListBucket"),
    };
    let mut recent: Vec<_> = objects
        .into_iter()
        .filter(|o| o.last_modified.is_some_and(|t| t >= cx.window.start))
        .collect();
    recent.sort_by_key(|o| o.last_modified);
    let Some(newest) = recent.last() else {
        return pass(
            ID,
            format!(
                "no processing-failed objects under s3://{}/{} in the window",
                d.bucket, prefix
            ),
            json!({"prefix": prefix}),
        );
    };
    let record = match cx.get_object(&newest.key, 1 << 20).await {
        Some(Ok(b)) => newest_record(&b),
        None => None,
        Some(Err(e)) => return monitor_error(ID, &e, "s3:GetObject"),
    };
    let r = record.unwrap_or(Value::Null);
    let quote = json!({
        "errorCode": r.get("errorCode"),
        "errorMessage": r.get("errorMessage"),
        "attemptsMade": r.get("attemptsMade"),
        "lambdaArn": r.get("lambdaArn"),
    });
    finding(
        ID,
        Status::Fail,
        format!(
            "{} processing-failed object(s) written in the window under s3://{}/{}; newest: {} {}",
            recent.len(),
            d.bucket,
            prefix,
            r.get("errorCode").and_then(Value::as_str).unwrap_or("?"),
            r.get("errorMessage").and_then(Value::as_str).unwrap_or("")
        ),
        json!({"prefix": prefix, "objects_in_window": recent.len(), "newest_object": newest.key, "newest_record": quote}),
        "fix the processor for the error quoted; the failed records are kept in the objects listed (each holds the base64 rawData): reprocess them once fixed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_plain_and_gzip_json_lines() {
        let lines = "{\"errorCode\":\"Lambda.FunctionError\",\"attemptsMade\":4}\n{\"errorCode\":\"Lambda.FunctionTimedOut\",\"attemptsMade\":1}\n";
        assert_eq!(
            newest_record(lines.as_bytes()).unwrap()["errorCode"],
            "Lambda.FunctionTimedOut"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(lines.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(newest_record(&bytes).unwrap()["attemptsMade"], 1);
        assert!(newest_record(b"not json").is_none());
    }
}
