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

/// The error output type of records the Lambda processor failed.
pub const PROCESSING_FAILED: &str = "processing-failed";
/// The error output type of records format conversion failed.
pub const FORMAT_CONVERSION_FAILED: &str = "format-conversion-failed";

/// The error output types a destination writes: `processing-failed` with a Lambda processor,
/// `format-conversion-failed` with record format conversion. (Dynamic partitioning failures
/// have their own types: see [`error_output_root`].)
pub fn error_output_types(d: &S3Destination) -> Vec<&'static str> {
    let mut t = Vec::new();
    if d.lambda_arn.is_some() {
        t.push(PROCESSING_FAILED);
    }
    if d.format_conversion.is_some() {
        t.push(FORMAT_CONVERSION_FAILED);
    }
    t
}

/// A Java `DateTimeFormatter` pattern as a chrono format, for the letters Firehose prefixes
/// use; `None` when it holds another letter.
fn chrono_format(java: &str) -> Option<String> {
    let mut out = String::new();
    let chars: Vec<char> = java.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        match (c, run) {
            ('y', 4) | ('u', 4) => out.push_str("%Y"),
            ('y', 2) | ('u', 2) => out.push_str("%y"),
            ('M', 2) => out.push_str("%m"),
            ('d', 2) => out.push_str("%d"),
            ('H', 2) => out.push_str("%H"),
            ('m', 2) => out.push_str("%M"),
            (c, _) if c.is_ascii_alphabetic() => return None,
            ('%', _) => out.push_str(&"%%".repeat(run)),
            (c, _) => out.extend(std::iter::repeat_n(c, run)),
        }
        i += run;
    }
    Some(out)
}

/// `prefix` evaluated the way Firehose does at `t` with `error_type` for
/// `!{firehose:error-output-type}`, up to the first expression that cannot be known in
/// advance (`random-string`, partition keys, an unknown timestamp pattern). Returns the text
/// and whether the whole prefix could be evaluated.
pub fn render_prefix(prefix: &str, error_type: Option<&str>, t: DateTime<Utc>) -> (String, bool) {
    let mut out = String::new();
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            return (out, false);
        };
        let expr = &rest[start + 2..start + len];
        let value = match expr.split_once(':') {
            Some(("firehose", "error-output-type")) => error_type.map(str::to_string),
            Some(("timestamp", pattern)) => {
                chrono_format(pattern).map(|f| t.format(&f).to_string())
            }
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&v),
            None => return (out, false),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (out, true)
}

/// Where failed records of `error_type` go: the prefix to list, and the key to start after to
/// see only objects written from `since` on (keys carry the date). With `ErrorOutputPrefix`
/// null, AWS writes them under `<Prefix><error-output-type>/YYYY/MM/DD/HH/` ("Custom prefixes
/// for Amazon S3 objects"), the prefix reduced to its static part.
pub fn error_location(
    d: &S3Destination,
    error_type: &str,
    since: DateTime<Utc>,
) -> (String, Option<String>) {
    match d.error_output_prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            // The listing prefix: up to the first timestamp (or unknown) expression.
            let head = match p.find("!{timestamp:") {
                Some(i) => &p[..i],
                None => p,
            };
            let (list, _) = render_prefix(head, Some(error_type), since);
            let (rendered, _) = render_prefix(p, Some(error_type), since);
            let start_after = (rendered.len() > list.len()).then_some(rendered);
            (list, start_after)
        }
        None => {
            let base = format!(
                "{}{error_type}/",
                static_prefix(d.prefix.as_deref().unwrap_or(""))
            );
            let start_after = format!("{base}{}", since.format("%Y/%m/%d/%H/"));
            (base, Some(start_after))
        }
    }
}

/// The part of the error output location common to every error type (dynamic partitioning
/// writes its own types there): the static `ErrorOutputPrefix` before its first expression.
pub fn error_output_root(d: &S3Destination) -> String {
    match d.error_output_prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => static_prefix(p).to_string(),
        None => static_prefix(d.prefix.as_deref().unwrap_or("")).to_string(),
    }
}

/// One place Firehose writes objects.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteLocation {
    /// `destination prefix`, `error output (TYPE)`, `S3 backup`.
    pub what: String,
    pub bucket: String,
    pub bucket_arn: String,
    /// A sample object there, for object-level actions.
    pub object_arn: String,
    /// The objects there, for the statement to add.
    pub pattern: String,
}

fn location(what: String, bucket: &str, prefix: &str, now: DateTime<Utc>) -> WriteLocation {
    let sample = if prefix.is_empty() {
        now.format("%Y/%m/%d/%H/").to_string()
    } else {
        prefix.to_string()
    };
    WriteLocation {
        what,
        bucket: bucket.to_string(),
        bucket_arn: format!("arn:aws:s3:::{bucket}"),
        object_arn: format!("arn:aws:s3:::{bucket}/{sample}firehose-sentinel-sample-object"),
        pattern: format!("arn:aws:s3:::{bucket}/{prefix}*"),
    }
}

/// Every place Firehose writes for this destination: the destination prefix, the error output
/// location of each error type that applies, and the S3 backup when it is enabled.
pub fn write_locations(d: &S3Destination, now: DateTime<Utc>) -> Vec<WriteLocation> {
    let mut out = vec![location(
        "destination prefix".into(),
        &d.bucket,
        static_prefix(d.prefix.as_deref().unwrap_or("")),
        now,
    )];
    for t in error_output_types(d) {
        let (prefix, _) = error_location(d, t, now);
        out.push(location(
            format!("error output ({t})"),
            &d.bucket,
            &prefix,
            now,
        ));
    }
    if d.dynamic_partitioning && error_output_types(d).is_empty() {
        out.push(location(
            "error output (dynamic partitioning)".into(),
            &d.bucket,
            &error_output_root(d),
            now,
        ));
    }
    if let Some(b) = &d.backup {
        out.push(location(
            "S3 backup".into(),
            &b.bucket,
            static_prefix(b.prefix.as_deref().unwrap_or("")),
            now,
        ));
    }
    out
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
    use chrono::TimeZone;

    fn dest(prefix: Option<&str>, error: Option<&str>) -> S3Destination {
        let mut d = crate::aws::fake::s3_stream("s").s3.unwrap();
        d.prefix = prefix.map(str::to_string);
        d.error_output_prefix = error.map(str::to_string);
        d.lambda_arn = Some("arn:aws:lambda:us-east-1:1:function:f".into());
        d
    }

    #[test]
    fn failed_records_go_where_aws_puts_them() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 3, 7, 0).unwrap();
        // ErrorOutputPrefix null: under the (static) destination prefix, by type, then date.
        let d = dest(Some("data/!{timestamp:yyyy/MM/dd}/"), None);
        assert_eq!(
            error_location(&d, PROCESSING_FAILED, t),
            (
                "data/processing-failed/".to_string(),
                Some("data/processing-failed/2026/11/26/03/".to_string())
            )
        );
        let d = dest(None, None);
        assert_eq!(
            error_location(&d, PROCESSING_FAILED, t).0,
            "processing-failed/"
        );
        // With expressions: the type resolved, listed from the window's date on.
        let d = dest(
            Some("data/"),
            Some("errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"),
        );
        assert_eq!(
            error_location(&d, FORMAT_CONVERSION_FAILED, t),
            (
                "errors/format-conversion-failed/".to_string(),
                Some("errors/format-conversion-failed/2026/11/26/".to_string())
            )
        );
        // A random string cannot be known: list the part before it.
        let d = dest(None, Some("errors/!{firehose:random-string}/"));
        assert_eq!(
            error_location(&d, PROCESSING_FAILED, t),
            ("errors/".to_string(), None)
        );
    }

    #[test]
    fn every_write_location() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 3, 7, 0).unwrap();
        let mut d = dest(Some("data/"), Some("errors/!{firehose:error-output-type}/"));
        d.backup = Some(crate::aws::BackupDestination {
            bucket_arn: "arn:aws:s3:::backup".into(),
            bucket: "backup".into(),
            prefix: Some("raw/".into()),
            error_output_prefix: None,
        });
        let l = write_locations(&d, t);
        let what: Vec<&str> = l.iter().map(|l| l.what.as_str()).collect();
        assert_eq!(
            what,
            vec![
                "destination prefix",
                "error output (processing-failed)",
                "S3 backup"
            ]
        );
        assert_eq!(
            l[1].object_arn,
            "arn:aws:s3:::s-bucket/errors/processing-failed/firehose-sentinel-sample-object"
        );
        assert_eq!(l[2].pattern, "arn:aws:s3:::backup/raw/*");
    }

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
