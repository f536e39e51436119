//! `kms.sse`: server-side encryption of the delivery stream with a customer managed key works
//! (status, key state, and the `KMSKey*` Firehose metrics).

use serde_json::json;

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "kms.sse";
pub const PERMISSIONS: &[&str] = &["kms:DescribeKey", "cloudwatch:GetMetricData"];

const KMS_METRICS: [&str; 4] = [
    "KMSKeyAccessDenied",
    "KMSKeyDisabled",
    "KMSKeyInvalidState",
    "KMSKeyNotFound",
];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(sse) = cx
        .desc
        .sse
        .as_ref()
        .filter(|s| s.key_type.as_deref() == Some("CUSTOMER_MANAGED_CMK"))
    else {
        return skip(
            ID,
            "the stream is not encrypted with a customer managed key",
        );
    };
    let key = sse.key_arn.clone().unwrap_or_default();
    // ENABLING_FAILED / DISABLING_FAILED: the change did not take, and the previous key (or
    // none) keeps working, so delivery is not blocked by it.
    if sse.status.ends_with("_FAILED") {
        return finding(ID, Status::Warn, format!("server-side encryption is {}{}", sse.status, sse.failure.as_deref().map(|f| format!(": {f}")).unwrap_or_default()), json!({"status": sse.status, "key": key, "failure": sse.failure}), format!("fix access to {key} (key policy must allow the Firehose service role kms:CreateGrant, kms:Decrypt, kms:GenerateDataKey), then stop and start stream encryption again"));
    }
    let info = match cx.key(&key).await {
        Ok(i) => i,
        Err(e) if e.is_not_found() => return finding(ID, Status::Fail, format!("the stream's encryption key {key} does not exist"), json!({"key": key}), "start stream encryption with an existing customer managed key, or with an AWS owned key"),
        Err(e) => return monitor_error(ID, &e, "kms:DescribeKey"),
    };
    if info.state != "Enabled" {
        return finding(
            ID,
            Status::Fail,
            format!("the stream's encryption key {} is {}", info.arn, info.state),
            json!({"key": info.arn, "key_state": info.state}),
            format!(
                "enable the key: aws kms enable-key --key-id {} (cancel a pending deletion first)",
                info.key_id
            ),
        );
    }
    let m = match cx.metrics().await {
        Ok(m) => m,
        Err(e) => return monitor_error(ID, &e, "cloudwatch:GetMetricData"),
    };
    let hits: Vec<(&str, f64)> = KMS_METRICS
        .iter()
        .map(|n| (*n, m.sum("AWS/Firehose", n, "Sum")))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let evidence = json!({"key": info.arn, "key_state": info.state, "status": sse.status, "metrics": KMS_METRICS.iter().map(|n| (n.to_string(), m.json("AWS/Firehose", n, "Sum"))).collect::<serde_json::Map<_, _>>()});
    if let Some((name, v)) = hits.first() {
        return finding(ID, Status::Fail, format!("Firehose reports {name} ({v:.0} in the window) for the stream's key {}", info.arn), evidence, "make the key usable by Firehose: enabled, in the stream's region, and its key policy allowing kms:Decrypt, kms:GenerateDataKey and kms:CreateGrant");
    }
    pass(
        ID,
        format!("stream encryption with {} works", info.arn),
        evidence,
    )
}
