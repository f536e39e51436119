//! What the risk rules read: the audit's CloudWatch metrics of many streams in batched
//! `GetMetricData` calls (at most 500 queries each, the last hour in 5-minute periods, as AWS
//! advises for the throughput limits), the KMS keys a stream uses, and its processor's timeout.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{KeyUse, Series};
use crate::aws::{AuditApi, MetricQuery, MetricsApi, Source, StreamDescription};

/// What the audit calls, besides the checks.
pub const PERMISSIONS: &[&str] = &[
    "cloudwatch:GetMetricData",
    "kms:DescribeKey",
    "lambda:GetFunctionConfiguration",
    "kinesis:DescribeStreamSummary",
    "s3:GetEncryptionConfiguration",
];

/// The audit window: the last hour...
pub const WINDOW_MINUTES: i64 = 60;
/// ...in periods of 5 minutes (`IncomingBytes (Sum per 5 Minutes) / 300` against
/// `BytesPerSecondLimit`, as AWS's alarm advice has it).
pub const PERIOD_SECONDS: u32 = 300;

/// The audit metrics of one stream: (name the rules use, query without its id).
pub fn queries(d: &StreamDescription) -> Vec<(String, MetricQuery)> {
    let q = |namespace: &'static str,
             metric: &'static str,
             dims: Vec<(&'static str, String)>,
             stat: &'static str| MetricQuery {
        id: String::new(),
        namespace: namespace.into(),
        metric: metric.into(),
        dimensions: dims.into_iter().map(|(n, v)| (n.into(), v)).collect(),
        period_seconds: PERIOD_SECONDS,
        stat: stat.into(),
    };
    let stream = || vec![("DeliveryStreamName", d.name.clone())];
    let mut out = vec![(
        "DeliveryToS3.DataFreshness".to_string(),
        q(
            "AWS/Firehose",
            "DeliveryToS3.DataFreshness",
            stream(),
            "Maximum",
        ),
    )];
    match &d.source {
        Source::DirectPut => {
            for (m, stat) in [
                ("IncomingBytes", "Sum"),
                ("IncomingRecords", "Sum"),
                ("IncomingPutRequests", "Sum"),
                ("BytesPerSecondLimit", "Maximum"),
                ("RecordsPerSecondLimit", "Maximum"),
                ("PutRequestsPerSecondLimit", "Maximum"),
                ("ThrottledRecords", "Sum"),
            ] {
                out.push((m.to_string(), q("AWS/Firehose", m, stream(), stat)));
            }
        }
        Source::KinesisStream { .. } => out.push((
            "KinesisMillisBehindLatest".to_string(),
            q(
                "AWS/Firehose",
                "KinesisMillisBehindLatest",
                stream(),
                "Maximum",
            ),
        )),
        _ => {}
    }
    if let Some(s3) = &d.s3 {
        if s3.backup.is_some() {
            out.push((
                "BackupToS3.Success".to_string(),
                q("AWS/Firehose", "BackupToS3.Success", stream(), "Average"),
            ));
        }
        if let Some(name) = s3.lambda_arn.as_deref().and_then(|a| a.split(':').nth(6)) {
            out.push((
                "Lambda.Duration".to_string(),
                q(
                    "AWS/Lambda",
                    "Duration",
                    vec![("FunctionName", name.to_string())],
                    "Maximum",
                ),
            ));
        }
    }
    out
}

/// The audit window ending at `now`, aligned to the period.
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let p = i64::from(PERIOD_SECONDS);
    let end = now.timestamp() - now.timestamp().rem_euclid(p);
    let end = DateTime::from_timestamp(end, 0).unwrap_or(now);
    (end - chrono::Duration::minutes(WINDOW_MINUTES), end)
}

/// Each stream's audit metrics by name (`Err`: its call failed), and the metrics requested
/// (what CloudWatch bills).
pub async fn metrics(
    api: &dyn MetricsApi,
    streams: &[&StreamDescription],
    now: DateTime<Utc>,
) -> (Vec<Result<BTreeMap<String, Series>, String>>, usize) {
    let (start, end) = window(now);
    let mut all: Vec<(usize, String, MetricQuery)> = Vec::new();
    for (i, d) in streams.iter().enumerate() {
        for (name, mut q) in queries(d) {
            q.id = format!("a{}", all.len());
            all.push((i, name, q));
        }
    }
    let mut out: Vec<Result<BTreeMap<String, Series>, String>> =
        (0..streams.len()).map(|_| Ok(BTreeMap::new())).collect();
    let mut requested = 0;
    for chunk in all.chunks(500) {
        let qs: Vec<MetricQuery> = chunk.iter().map(|c| c.2.clone()).collect();
        match api.get_metric_data(&qs, start, end).await {
            Ok(series) => {
                requested += qs.len();
                let by_id: BTreeMap<&str, &(usize, String, MetricQuery)> =
                    chunk.iter().map(|c| (c.2.id.as_str(), c)).collect();
                for s in series {
                    let Some((i, name, _)) = by_id.get(s.id.as_str()) else {
                        continue;
                    };
                    if let Ok(m) = &mut out[*i] {
                        m.insert(name.clone(), s.points.into_iter().collect());
                    }
                }
            }
            Err(e) => {
                let stream_ids: BTreeSet<usize> = chunk.iter().map(|c| c.0).collect();
                for i in stream_ids {
                    out[i] = Err(e.to_string());
                }
            }
        }
    }
    (out, requested)
}

/// The KMS keys `d` depends on (destination, bucket default, stream SSE, Kinesis source),
/// each described.
pub async fn keys(api: &dyn AuditApi, d: &StreamDescription) -> Vec<KeyUse> {
    let mut uses: Vec<(&'static str, String)> = Vec::new();
    // Where a key could not even be found (the bucket's encryption, the source unreadable):
    // unknown, not absent, so a key risk found there before stays open.
    let mut unreadable: Vec<KeyUse> = Vec::new();
    if let Some(s3) = &d.s3 {
        if let Some(k) = &s3.kms_key_arn {
            uses.push(("destination", k.clone()));
        }
        match api.audit_bucket_encryption(&s3.bucket).await {
            Ok(Some(enc)) => {
                if let Some(k) = enc
                    .kms_key_id
                    .filter(|_| enc.algorithm.starts_with("aws:kms"))
                {
                    uses.push(("bucket default", k));
                }
            }
            Ok(None) => {}
            Err(e) => unreadable.push(KeyUse {
                role: "bucket default",
                key: s3.bucket.clone(),
                info: Err(e.to_string()),
            }),
        }
    }
    if let Some(sse) = &d.sse {
        if sse.key_type.as_deref() == Some("CUSTOMER_MANAGED_CMK") {
            if let Some(k) = &sse.key_arn {
                uses.push(("stream SSE", k.clone()));
            }
        }
    }
    if let Source::KinesisStream { stream_arn, .. } = &d.source {
        let name = stream_arn.rsplit('/').next().unwrap_or_default();
        match api.audit_kinesis(name).await {
            Ok(info) => {
                if let Some(k) = info.kms_key.filter(|k| !k.starts_with("alias/aws/")) {
                    uses.push(("Kinesis source", k));
                }
            }
            Err(e) => unreadable.push(KeyUse {
                role: "Kinesis source",
                key: name.to_string(),
                info: Err(e.to_string()),
            }),
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = unreadable;
    for (role, key) in uses {
        if !seen.insert(key.clone()) {
            continue;
        }
        let info = api.audit_key(&key).await.map_err(|e| e.to_string());
        out.push(KeyUse { role, key, info });
    }
    out
}

/// Everything the rules need for `d`: its health and checks (already known), its audit
/// `metrics` (read in batch), and its keys and processor (read here).
pub async fn inputs(
    api: &dyn AuditApi,
    d: &StreamDescription,
    health: crate::model::Health,
    findings: Option<Vec<crate::model::Finding>>,
    metrics: Result<BTreeMap<String, Series>, String>,
    settings: &crate::config::Settings,
    now: DateTime<Utc>,
) -> super::Inputs {
    let grace = crate::detect::grace_seconds(
        &d.shape(),
        settings.schedule.period_seconds,
        &settings.detection,
    );
    super::Inputs {
        health,
        findings,
        keys: keys(api, d).await,
        lambda_timeout: lambda_timeout(api, d).await,
        metrics,
        direct_put: matches!(d.source, Source::DirectPut),
        backup: d.s3.as_ref().is_some_and(|s| s.backup.is_some()),
        kinesis_source: matches!(d.source, Source::KinesisStream { .. }),
        period_seconds: PERIOD_SECONDS,
        grace_seconds: grace.clamp(0, i64::from(u32::MAX)) as u32,
        now,
    }
}

/// The processor's timeout (`None`: no Lambda processor).
pub async fn lambda_timeout(
    api: &dyn AuditApi,
    d: &StreamDescription,
) -> Option<Result<i32, String>> {
    let arn = d.s3.as_ref()?.lambda_arn.as_deref()?;
    let mut parts = arn.split(':').skip(6);
    let name = parts.next()?;
    let qualifier = parts.next();
    Some(
        api.audit_function(name, qualifier)
            .await
            .map(|f| f.timeout_seconds)
            .map_err(|e| e.to_string()),
    )
}
