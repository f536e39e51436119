//! Names and ARNs the checks derive from a stream's description: role and function names,
//! the static part of S3 prefixes, where failed records go, sample object ARNs. Pure.

use chrono::{DateTime, Utc};

use crate::aws::S3Destination;

/// Name of a role from its ARN (`arn:aws:iam::ACCOUNT:role/path/NAME`).
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Lambda ARN split into (function name, qualifier).
pub fn lambda_parts(arn: &str) -> (String, Option<String>) {
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() >= 7 && parts[5] == "function" {
        (
            parts[6].to_string(),
            parts
                .get(7)
                .map(|q| q.to_string())
                .filter(|q| !q.is_empty()),
        )
    } else {
        (arn.to_string(), None)
    }
}

/// Name of a Kinesis data stream from its ARN (`arn:aws:kinesis:R:A:stream/NAME`).
pub fn kinesis_stream_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The static part of an S3 prefix: the text before its first `!{` expression.
pub fn static_prefix(prefix: &str) -> &str {
    prefix.split("!{").next().unwrap_or("")
}

/// Where Firehose writes processing-failed records.
pub fn error_output_prefix(d: &S3Destination) -> String {
    match d.error_output_prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => static_prefix(&p.replace("!{firehose:error-output-type}", "processing-failed"))
            .to_string(),
        None => "processing-failed/".to_string(),
    }
}

/// A sample object ARN under the destination prefix.
pub fn sample_object_arn(d: &S3Destination, now: DateTime<Utc>) -> String {
    let prefix = static_prefix(d.prefix.as_deref().unwrap_or(""));
    let prefix = if prefix.is_empty() {
        now.format("%Y/%m/%d/%H/").to_string()
    } else {
        prefix.to_string()
    };
    format!(
        "arn:aws:s3:::{}/{}firehose-sentinel-sample-object",
        d.bucket, prefix
    )
}

/// The object ARN pattern for remediation statements.
pub fn object_arn_pattern(d: &S3Destination) -> String {
    let prefix = static_prefix(d.prefix.as_deref().unwrap_or(""));
    format!("arn:aws:s3:::{}/{}*", d.bucket, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_arns() {
        assert_eq!(static_prefix("logs/!{timestamp:yyyy/MM/dd}/"), "logs/");
        assert_eq!(static_prefix("!{firehose:random-string}/x"), "");
        assert_eq!(role_name("arn:aws:iam::1:role/service-role/fh"), "fh");
        assert_eq!(
            lambda_parts("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            ("f".to_string(), Some("$LATEST".to_string()))
        );
        assert_eq!(
            lambda_parts("arn:aws:lambda:us-east-1:1:function:f"),
            ("f".to_string(), None)
        );
    }
}
