//! Many accounts and regions in one daemon, end to end against the emulator: two accounts x
//! two regions through assumed roles (one with an external id), the same stream name in all
//! four, one of them failing, and a third target whose role cannot be assumed.
//!
//! moto maps an assumed role to the account in its ARN, so each account's streams, buckets and
//! metrics are created through that account's role. moto checks no trust policy: the harness's
//! `moto_cbor.py` refuses `AssumeRole` as AWS would for roles named `untrusted-*` and for
//! `*-xid-VALUE` without `ExternalId` = VALUE (see that file).

use std::collections::HashMap;
use std::path::Path;

use firehose_sentinel::config;
use firehose_sentinel::daemon;

use crate::harness::*;
use crate::receiver::Receiver;
use crate::{get, metric, status, wait_polls, webhook};

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";
const ACCOUNT_C: &str = "333333333333";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// A daemon config with `[[targets]]` (no `[streams]`), also written to `dir/config.toml`.
fn targets_settings(dir: &Path, targets: &str, extra: &str) -> config::Settings {
    let text = format!(
        r#"
[aws]
region = "{REGION}"
endpoint_url = "{endpoint}"
s3_force_path_style = true
timeout = "5s"
max_attempts = 2

[schedule]
poll = "*/2 * * * * *"
audit = "off"
delay_seconds = 0

[server]
listen = "127.0.0.1:0"

[state]
path = "{state}"

[delivery]
initial_backoff = "200ms"
max_backoff = "1s"

{targets}
{extra}
"#,
        endpoint = moto().endpoint,
        state = dir.join("state.json").display(),
    );
    let env: HashMap<String, String> = [("TEST_XID".to_string(), "s3cr3t-xid".to_string())].into();
    std::fs::write(dir.join("config.toml"), &text).unwrap();
    config::load_from_str(&text, &dir.join("config.toml"), &env)
        .unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

/// A Direct PUT stream `name` in the account and region of `aws`, to its own bucket.
async fn stream_in(aws: &Aws, name: &str, account: &str, region: &str) {
    let bucket = format!("{name}-{account}-{region}");
    let mut create = aws.s3.create_bucket().bucket(&bucket);
    if region != "us-east-1" {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create.send().await.unwrap();
    let role = format!("arn:aws:iam::{account}:role/{name}-role");
    aws.firehose
        .create_delivery_stream()
        .delivery_stream_name(name)
        .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination(
            name,
            &bucket,
            &role,
            &StreamSpec::default(),
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name} in {account}/{region}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_in_two_regions_alert_for_the_one_failing_stream_by_account_and_region() {
    let p = unique("acct");
    let name = format!("{p}-orders");
    let role_a = format!("arn:aws:iam::{ACCOUNT_A}:role/sentinel-xid-s3cr3t-xid");
    let role_b = format!("arn:aws:iam::{ACCOUNT_B}:role/sentinel-read");
    let role_c = format!("arn:aws:iam::{ACCOUNT_C}:role/untrusted-sentinel");
    // The same stream name in both accounts and both regions; only B's eu-west-1 one fails.
    for (account, role) in [(ACCOUNT_A, &role_a), (ACCOUNT_B, &role_b)] {
        for region in REGIONS {
            // The fixture assumes A's role with its external id, as the daemon must.
            let xid = (account == ACCOUNT_A).then_some("s3cr3t-xid");
            let aws = aws_as(role, region, xid).await;
            stream_in(&aws, &name, account, region).await;
            let failing = account == ACCOUNT_B && region == "eu-west-1";
            for k in [9, 8, 7, 6, 5] {
                let v = if failing && k <= 8 { 0.0 } else { 1.0 };
                put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), v).await;
                put_metric(&aws, &name, "IncomingRecords", minutes_ago(k), 50.0).await;
            }
        }
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let targets = format!(
        r#"
[[targets]]
name = "a"
role_arn = "{role_a}"
external_id_env = "TEST_XID"
regions = ["us-east-1", "eu-west-1"]
discover = true
include = ["{p}-*"]

[[targets]]
name = "b"
role_arn = "{role_b}"
regions = ["us-east-1", "eu-west-1"]
names = ["{name}"]

[[targets]]
name = "c"
role_arn = "{role_c}"
regions = ["us-east-1"]
names = ["{name}"]
"#
    );
    let d = daemon::start(targets_settings(dir.path(), &targets, &webhook(&rx)))
        .await
        .unwrap();
    let got = rx.wait_for(40, |g| !g.is_empty()).await;
    wait_polls(&d, 4.0, 40).await;
    let all = rx.accepted();
    assert_eq!(
        all.len(),
        1,
        "one alert, for the one failing stream: {all:?}"
    );
    let a = &got[0].body;
    assert_eq!(
        (
            a["stream"].as_str(),
            a["account"].as_str(),
            a["region"].as_str(),
            a["status"].as_str()
        ),
        (
            Some(name.as_str()),
            Some(ACCOUNT_B),
            Some("eu-west-1"),
            Some("firing")
        )
    );
    assert_eq!(
        a["arn"],
        format!("arn:aws:firehose:eu-west-1:{ACCOUNT_B}:deliverystream/{name}")
    );
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("({ACCOUNT_B}, eu-west-1)")),
        "the summary names the account and region: {}",
        a["summary"]
    );

    let st = status(&d).await;
    let streams = st["streams"].as_array().unwrap();
    let health: HashMap<(String, String), String> = streams
        .iter()
        .filter(|s| s["stream"] == name.as_str())
        .map(|s| {
            (
                (
                    s["account"].as_str().unwrap().to_string(),
                    s["region"].as_str().unwrap().to_string(),
                ),
                s["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let h = |acct: &str, region: &str| health.get(&(acct.into(), region.into())).cloned();
    assert_eq!(
        h(ACCOUNT_A, "us-east-1").as_deref(),
        Some("healthy"),
        "{st}"
    );
    assert_eq!(h(ACCOUNT_A, "eu-west-1").as_deref(), Some("healthy"));
    assert_eq!(h(ACCOUNT_B, "us-east-1").as_deref(), Some("healthy"));
    assert_eq!(h(ACCOUNT_B, "eu-west-1").as_deref(), Some("failing"));
    assert_eq!(
        h(ACCOUNT_C, "us-east-1").as_deref(),
        Some("unknown"),
        "the unassumable target's stream is unknown, never alerted"
    );
    let targets = st["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "3 targets, 5 regions in all: {targets:?}");
    let c = targets.iter().find(|t| t["target"] == "c").unwrap();
    assert_eq!(c["status"], "error");
    assert!(
        c["error"].as_str().unwrap().contains("AssumeRole"),
        "the status says why: {c}"
    );
    for t in targets.iter().filter(|t| t["target"] != "c") {
        assert_eq!(t["status"], "ok", "{t}");
    }

    let text = get(&d, "/metrics").await.1;
    let stream_label = format!("stream=\"{name}\"");
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &[
                &stream_label,
                &format!("account=\"{ACCOUNT_B}\""),
                "region=\"eu-west-1\"",
                "health=\"failing\""
            ]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &[&stream_label, "health=\"healthy\""]
        ),
        3.0,
        "three of the four same-name streams are healthy, each its own series"
    );
    assert_eq!(
        metric(&text, "firehose_sentinel_target_up", &["target=\"c\""]),
        0.0
    );
    assert_eq!(
        metric(&text, "firehose_sentinel_target_up", &[]),
        4.0,
        "a and b in both regions"
    );
    assert!(
        metric(
            &text,
            "firehose_sentinel_errors_total",
            &["kind=\"aws_access_denied\""]
        ) >= 1.0,
        "the refused role counts in errors_total"
    );
    for t in ["a", "b"] {
        assert!(
            metric(
                &text,
                "firehose_sentinel_cloudwatch_metrics_requested_total",
                &[&format!("target=\"{t}\"")]
            ) > 0.0
        );
    }
    d.stop().await;

    // `check` reads every target and region once, the same way.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firehose-sentinel"))
        .args(["check", "--format", "json", "-c"])
        .arg(dir.path().join("config.toml"))
        .env("TEST_XID", "s3cr3t-xid")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing stream: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<(String, String, String)> = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["account"].as_str().unwrap().to_string(),
                s["region"].as_str().unwrap().to_string(),
                s["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.contains(&(ACCOUNT_B.into(), "eu-west-1".into(), "failing".into())));
    assert!(rows.contains(&(ACCOUNT_C.into(), "us-east-1".into(), "unknown".into())));
    assert_eq!(
        rows.iter().filter(|r| r.2 == "healthy").count(),
        3,
        "{rows:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("target c (us-east-1): cannot read this target"),
        "{stderr}"
    );
}
