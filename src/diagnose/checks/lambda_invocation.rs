//! `lambda.invocation`: the processor runs without errors, throttles or timeouts
//! (`ExecuteProcessing.*`, `AWS/Lambda` metrics, the function's timeout, its error log lines).

use serde_json::json;

use crate::diagnose::arn::lambda_parts;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "lambda.invocation";
pub const PERMISSIONS: &[&str] = &[
    "cloudwatch:GetMetricData",
    "lambda:GetFunctionConfiguration",
    "logs:FilterLogEvents",
];

/// Firehose stops a processor invocation after this long, whatever the function's timeout.
pub const FIREHOSE_INVOCATION_CAP_S: i32 = 300;

/// A log line saying the function's response was over Lambda's 6 MB limit.
fn is_oversized_response(m: &str) -> bool {
    m.contains("Response payload size exceeded")
        || m.contains("ResponseSizeTooLarge")
        || m.contains("Function.ResponseSizeTooLarge")
}

/// Lines of a Lambda log that report a failed invocation.
fn is_error_line(m: &str) -> bool {
    m.contains("Task timed out")
        || m.contains("\"errorMessage\"")
        || m.contains("\"errorType\"")
        || m.starts_with("ERROR")
        || m.contains("\tERROR\t")
        || m.contains("Runtime exited")
        || m.contains("Runtime.ExitError")
        || is_oversized_response(m)
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(arn) = cx.s3().and_then(|d| d.lambda_arn.clone()) else {
        return skip(ID, "no Lambda processor is configured");
    };
    let (name, _) = lambda_parts(&arn);
    let m = match cx.metrics().await {
        Ok(m) => m,
        Err(e) => return monitor_error(ID, &e, "cloudwatch:GetMetricData"),
    };
    let timeout_s = match cx.function().await {
        Some(Ok(f)) => Some(f.timeout_seconds),
        _ => None,
    };
    let errors = m.sum("AWS/Lambda", "Errors", "Sum");
    let throttles = m.sum("AWS/Lambda", "Throttles", "Sum");
    let max_duration_ms = m.max("AWS/Lambda", "Duration", "Maximum");
    let min_success = m.min("AWS/Firehose", "ExecuteProcessing.Success", "Average");
    let log_errors: Vec<String> = match cx.lambda_logs().await {
        Some(Ok(events)) => events
            .iter()
            .filter(|e| is_error_line(&e.message))
            .map(|e| e.message.chars().take(200).collect())
            .collect(),
        _ => Vec::new(),
    };
    let timed_out_logs = log_errors.iter().any(|l| l.contains("Task timed out"));
    // Firehose stops an invocation after 5 minutes whatever the function's own timeout.
    let limit_s = timeout_s.map_or(FIREHOSE_INVOCATION_CAP_S, |t| {
        t.min(FIREHOSE_INVOCATION_CAP_S)
    });
    let near_timeout = match max_duration_ms {
        Some(d) if limit_s > 0 => d >= 0.95 * f64::from(limit_s) * 1000.0,
        _ => false,
    };
    let oversized = log_errors.iter().any(|l| is_oversized_response(l));
    let evidence = json!({
        "function": name,
        "timeout_seconds": timeout_s,
        "Errors": m.json("AWS/Lambda", "Errors", "Sum"),
        "Throttles": m.json("AWS/Lambda", "Throttles", "Sum"),
        "Duration.Maximum_ms": m.json("AWS/Lambda", "Duration", "Maximum"),
        "ExecuteProcessing.Success": m.json("AWS/Firehose", "ExecuteProcessing.Success", "Average"),
        "ExecuteProcessing.Duration": m.json("AWS/Firehose", "ExecuteProcessing.Duration", "Maximum"),
        // Log lines may carry application data: count them, quote only the newest, short.
        "log_error_lines": log_errors.len(),
        "newest_log_error": log_errors.last().map(|l| l.chars().take(200).collect::<String>()),
    });
    if near_timeout || timed_out_logs {
        return finding(
            ID,
            Status::Fail,
            format!(
                "the invocation times out: maximum duration {:.0} ms against {} s (the smaller of the function's timeout, {}, and Firehose's 5-minute cap)",
                max_duration_ms.unwrap_or_default(),
                limit_s,
                timeout_s.map_or("unknown".to_string(), |t| format!("{t} s"))
            ),
            evidence,
            format!("raise the timeout or speed the function up: aws lambda update-function-configuration --function-name {name} --timeout {} (Firehose allows up to 5 minutes per invocation; also consider a smaller processor buffer size)", (timeout_s.unwrap_or(3) * 2).min(300)),
        );
    }
    if oversized {
        return finding(
            ID,
            Status::Fail,
            format!("responses of {name} exceed Lambda's 6 MB limit for a synchronous invocation"),
            evidence,
            format!("lower the processor's BufferSizeInMBs (Firehose sends up to that much per invocation) or make {name} return smaller records"),
        );
    }
    if throttles > 0.0 {
        return finding(ID, Status::Fail, format!("invocations of {name} are throttled ({throttles:.0} in the window)"), evidence, format!("raise the function's reserved concurrency or the account's concurrency limit for {name}"));
    }
    if errors > 0.0 || !log_errors.is_empty() {
        return finding(
            ID,
            Status::Fail,
            format!("invocations of {name} fail ({errors:.0} errors in the window{})", if log_errors.is_empty() { String::new() } else { format!("; newest log line: {}", log_errors.last().map(|s| s.as_str()).unwrap_or_default()) }),
            evidence,
            format!("fix the function's errors (see /aws/lambda/{name}); every record must be returned with its recordId and a result of Ok, Dropped or ProcessingFailed"),
        );
    }
    if let Some(s) = min_success.filter(|s| *s < 1.0) {
        return finding(ID, Status::Fail, format!("ExecuteProcessing.Success fell to {s:.2}: the processor fails records"), evidence, format!("look at the function's log /aws/lambda/{name} and the processing-failed objects (s3.processing_failed)"));
    }
    pass(
        ID,
        format!("{name} runs without errors, throttles or timeouts"),
        evidence,
    )
}
