//! `s3.dynamic_partitioning`: dynamic partitioning has the error output AWS requires for it,
//! and no partitioning failure (key extraction, too many active partitions) shows in the window:
//! neither in the Firehose error log (`DynamicPartitioning.*` codes) nor as failed-record
//! objects under the error output.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::diagnose::arn::error_output_root;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "s3.dynamic_partitioning";
pub const PERMISSIONS: &[&str] = &["logs:FilterLogEvents", "s3:ListBucket"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3().filter(|d| d.dynamic_partitioning) else {
        return skip(ID, "dynamic partitioning is not enabled");
    };
    if d.error_output_prefix.as_deref().is_none_or(str::is_empty) {
        return finding(
            ID,
            Status::Fail,
            "dynamic partitioning is enabled without an error output prefix: records whose keys cannot be extracted have nowhere to go",
            json!({"prefix": d.prefix}),
            "set ErrorOutputPrefix on the destination (AWS requires one with dynamic partitioning), e.g. errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
        );
    }
    // Partitioning codes in the error log.
    let mut codes: BTreeMap<String, (usize, String)> = BTreeMap::new();
    if let Some(Ok(events)) = cx.firehose_logs().await {
        for e in events {
            let Ok(v) = serde_json::from_str::<Value>(e.message.trim()) else {
                continue;
            };
            let code = v.get("errorCode").and_then(Value::as_str).unwrap_or("");
            if code.starts_with("DynamicPartitioning.") {
                let msg = v
                    .get("errorMessage")
                    .or_else(|| v.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect();
                let entry = codes.entry(code.to_string()).or_insert((0, String::new()));
                entry.0 += 1;
                entry.1 = msg;
            }
        }
    }
    // Failed records under the error output, written in the window.
    let root = error_output_root(d);
    let objects = match cx.list_objects(&root, None, 10_000).await {
        Some(Ok(o)) => o
            .into_iter()
            .filter(|o| o.last_modified.is_some_and(|t| t >= cx.window.start))
            .filter(|o| {
                !o.key.contains("processing-failed/")
                    && !o.key.contains("format-conversion-failed/")
            })
            .count(),
        Some(Err(e)) if e.is_not_found() => 0,
        Some(Err(e)) => return monitor_error(ID, &e, "s3:ListBucket"),
        None => 0,
    };
    let evidence = json!({"error_output": root, "log_codes": codes.iter().map(|(c, (n, m))| json!({"code": c, "count": n, "newest_message": m})).collect::<Vec<_>>(), "failed_objects_in_window": objects});
    if !codes.is_empty() || objects > 0 {
        let named: Vec<&str> = codes.keys().map(String::as_str).collect();
        return finding(
            ID,
            Status::Fail,
            format!(
                "dynamic partitioning fails{}{}",
                if named.is_empty() { String::new() } else { format!(": {}", named.join(", ")) },
                if objects > 0 { format!(" ({objects} failed-record object(s) under s3://{}/{root} in the window)", d.bucket) } else { String::new() }
            ),
            evidence,
            "make every record carry the fields the partitioning keys extract (JQ expressions or the Lambda's partitionKeys), and keep the number of active partitions under the stream's limit; the failed records are under the error output",
        );
    }
    pass(
        ID,
        format!("dynamic partitioning has an error output (s3://{}/{root}) and no failure in the window", d.bucket),
        evidence,
    )
}
