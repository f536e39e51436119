//! `s3.processing_failed`: no failed records were written in the window where Firehose puts
//! them (each error output type that applies, listed by time from the window's start);
//! otherwise quote the newest failed record.

use std::io::Read;

use serde_json::{json, Value};

use crate::diagnose::arn::{
    error_location, error_output_root, error_output_types, FORMAT_CONVERSION_FAILED,
};
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "s3.processing_failed";
pub const PERMISSIONS: &[&str] = &["s3:ListBucket", "s3:GetObject"];

/// The newest record of a processing-failed object (gzip or plain JSON lines).
pub fn newest_record(bytes: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(&decompressed(bytes, MAX_DECOMPRESSED)).into_owned();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v.is_object())
}

/// At most this much of an object is decompressed: a small gzip can expand a thousandfold.
pub const MAX_DECOMPRESSED: usize = 8 << 20;

/// `bytes`, gunzipped when they are gzip, at most `cap` bytes of output. A truncated or
/// corrupt stream yields what came before the fault (the complete lines before the cut).
pub fn decompressed(bytes: &[u8], cap: usize) -> Vec<u8> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes[..bytes.len().min(cap)].to_vec();
    }
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(bytes)
        .take(cap as u64)
        .read_to_end(&mut out);
    out
}

/// The error code and message of a failed record: Lambda's records spell them `errorCode` and
/// `errorMessage`, format conversion's `ErrorCode` and `ErrorMessage`.
pub fn code_and_message(r: &Value) -> (String, String) {
    let get = |a: &str, b: &str| {
        r.get(a)
            .or_else(|| r.get(b))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        get("errorCode", "ErrorCode"),
        get("errorMessage", "ErrorMessage"),
    )
}

/// Where to look: each error output type that applies, or the error output root for dynamic
/// partitioning (its failure types live there too).
fn locations(
    d: &crate::aws::S3Destination,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<(String, String, Option<String>)> = error_output_types(d)
        .into_iter()
        .map(|t| {
            let (prefix, start_after) = error_location(d, t, since);
            (t.to_string(), prefix, start_after)
        })
        .collect();
    if d.dynamic_partitioning {
        out.push(("dynamic partitioning".into(), error_output_root(d), None));
    }
    out
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    // Keys carry the date: start at the window's first hour rather than at the oldest object.
    let since = cx.window.start - chrono::Duration::hours(1);
    let places = locations(d, since);
    if places.is_empty() {
        return skip(
            ID,
            "no Lambda processor, format conversion or dynamic partitioning: nothing is written to an error output",
        );
    }
    let mut recent = Vec::new();
    for (kind, prefix, start_after) in &places {
        let listed = cx
            .list_objects(prefix, start_after.as_deref(), 10_000)
            .await;
        match listed.unwrap_or_else(|| Ok(Vec::new())) {
            Ok(objects) => recent.extend(
                objects
                    .into_iter()
                    .filter(|o| o.last_modified.is_some_and(|t| t >= cx.window.start))
                    .map(|o| (kind.clone(), prefix.clone(), o)),
            ),
            Err(e) if e.is_not_found() => {
                return skip(
                    ID,
                    format!("bucket {} does not exist (see s3.bucket)", d.bucket),
                )
            }
            Err(e) => return monitor_error(ID, &e, "s3:ListBucket"),
        }
    }
    let listed: Vec<Value> = places
        .iter()
        .map(|(k, p, a)| json!({"type": k, "prefix": p, "start_after": a}))
        .collect();
    recent.sort_by_key(|(_, _, o)| o.last_modified);
    let Some((kind, prefix, newest)) = recent.last() else {
        return pass(
            ID,
            format!(
                "no failed records written in the window under s3://{}/ ({})",
                d.bucket,
                places
                    .iter()
                    .map(|(_, p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({"locations": listed}),
        );
    };
    let record = match cx.get_object(&newest.key, 1 << 20).await {
        Some(Ok(b)) => newest_record(&b),
        None => None,
        Some(Err(e)) => return monitor_error(ID, &e, "s3:GetObject"),
    };
    let r = record.unwrap_or(Value::Null);
    let (code, message) = code_and_message(&r);
    let quote = json!({
        "errorCode": code,
        "errorMessage": message,
        "attemptsMade": r.get("attemptsMade"),
        "lambdaArn": r.get("lambdaArn"),
        "dataCatalogTable": r.get("dataCatalogTable"),
    });
    let fix = match kind.as_str() {
        FORMAT_CONVERSION_FAILED => "fix the records or the Glue table schema for the error quoted (see glue.format_conversion); the failed records are kept in the objects listed: reprocess them once fixed",
        "dynamic partitioning" => "fix the partitioning keys (the records must hold the fields the keys extract) for the error quoted (see s3.dynamic_partitioning); the failed records are kept in the objects listed",
        _ => "fix the processor for the error quoted; the failed records are kept in the objects listed (each holds the base64 rawData): reprocess them once fixed",
    };
    finding(
        ID,
        Status::Fail,
        format!(
            "{} failed-record object(s) written in the window ({kind}) under s3://{}/{}; newest: {} {}",
            recent.len(),
            d.bucket,
            prefix,
            if code.is_empty() { "?" } else { code.as_str() },
            message
        ),
        json!({"prefix": prefix, "type": kind, "locations": listed, "objects_in_window": recent.len(), "newest_object": newest.key, "newest_record": quote}),
        fix,
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
        // Bad UTF-8 and a truncated stream still yield the complete lines.
        let mut bad = b"{\"errorCode\":\"A\"}\n".to_vec();
        bad.extend([0xff, 0xfe, b'\n']);
        assert_eq!(newest_record(&bad).unwrap()["errorCode"], "A");
        assert_eq!(
            newest_record(&bytes[..bytes.len() - 8]).unwrap()["attemptsMade"],
            1
        );
    }

    #[test]
    fn a_gzip_bomb_is_cut_at_the_cap() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert_eq!(
            decompressed(&bomb, MAX_DECOMPRESSED).len(),
            MAX_DECOMPRESSED
        );
        assert!(newest_record(&bomb).is_none());
    }
}
