//! The risk audit end to end against the emulator: a healthy stream whose destination key is
//! scheduled for deletion gets one `warning` alert of kind `risk` with the days left, never an
//! incident; `check --audit` names the same risk and exits 1.

use firehose_sentinel::daemon;

use crate::diagnosis::{fixture, Opts};
use crate::harness::*;
use crate::receiver::Receiver;
use crate::{get, metric, settings, status, wait_polls, webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_scheduled_for_deletion_is_a_risk_on_a_healthy_stream() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "audit",
        Opts {
            kms: true,
            ..Default::default()
        },
    )
    .await;
    for k in [8, 7, 6, 5] {
        put_metric(&aws, &fx.name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &fx.name, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
    }
    // DisableKey/ScheduleKeyDeletion take the key id (moto), as AWS also accepts.
    aws.kms
        .schedule_key_deletion()
        .key_id(fx.key_id.as_deref().unwrap())
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(
        dir.path(),
        &format!("names = [\"{}\"]", fx.name),
        &webhook(&rx),
    );
    s.schedule.audit = Some("0 0 */6 * * *".into());
    let d = daemon::start(s).await.unwrap();
    let got = rx
        .wait_for(60, |g| {
            g.iter()
                .any(|r| r.body["risk"] == "risk.kms_pending_deletion")
        })
        .await;
    wait_polls(&d, 3.0, 30).await;
    let a = &got
        .iter()
        .find(|r| r.body["risk"] == "risk.kms_pending_deletion")
        .unwrap()
        .body;
    assert_eq!(a["kind"], "risk");
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["status"], "firing");
    assert!(
        a["summary"].as_str().unwrap().contains("in 7 days"),
        "{}",
        a["summary"]
    );
    assert!(a["root_cause"]["remediation"]
        .as_str()
        .unwrap()
        .contains("cancel-key-deletion"));
    assert!(
        rx.accepted().iter().all(|r| r.body["kind"] == "risk"),
        "a healthy stream: no incident alert"
    );
    let st = status(&d).await;
    let s = st["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == fx.name.as_str())
        .unwrap();
    assert_eq!(s["health"], "healthy");
    assert!(s.get("incident").is_none());
    assert!(s["risks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["risk"] == "risk.kms_pending_deletion"));
    let text = get(&d, "/metrics").await.1;
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_risk_active",
            &[
                &format!("stream=\"{}\"", fx.name),
                "risk=\"risk.kms_pending_deletion\""
            ]
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "firehose_sentinel_audit_metrics_requested_total",
            &[]
        ) > 0.0
    );
    let page = get(&d, "/").await.1;
    assert!(page.contains("risk.kms_pending_deletion"));
    d.stop().await;

    // `check --audit` names it too, and a risk is a problem (exit 1).
    let cfg = dir.path().join("check.toml");
    std::fs::write(
        &cfg,
        format!(
            "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\n[streams]\nnames = [\"{}\"]\n[schedule]\ndelay_seconds = 0\n",
            moto().endpoint,
            fx.name
        ),
    )
    .unwrap();
    let out = check_audit(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let risks = report["streams"][0]["risks"].as_array().unwrap();
    assert!(
        risks
            .iter()
            .any(|r| r["risk"] == "risk.kms_pending_deletion"),
        "{risks:?}"
    );
    delete_streams(&aws, &[&fx.name]).await;
}

/// The metric rules on the stream shapes people run, through `check --audit`: a Direct PUT
/// stream near its bytes limit, a Lambda processor near its timeout, a Kinesis source falling
/// behind, and a Direct PUT stream whose freshness grows toward the retention; a quiet stream
/// of each shape as the control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_risks_on_direct_put_lambda_and_kinesis_streams() {
    let aws = aws().await;
    let hot = fixture(&aws, "hot", Opts::default()).await;
    let slow = fixture(
        &aws,
        "slowfn",
        Opts {
            lambda: true,
            ..Default::default()
        },
    )
    .await;
    let behind = fixture(
        &aws,
        "behind",
        Opts {
            kinesis: true,
            ..Default::default()
        },
    )
    .await;
    let stale = fixture(&aws, "stale", Opts::default()).await;
    let quiet = fixture(&aws, "quiet", Opts::default()).await;
    // Every stream delivers (healthy): the risks are about what comes next.
    for fx in [&hot, &slow, &behind, &stale, &quiet] {
        for k in [14, 9, 4] {
            put_metric(&aws, &fx.name, "IncomingRecords", minutes_ago(k), 100.0).await;
            put_metric(&aws, &fx.name, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
        }
    }
    // 4.6 MB/s in one 5-minute period against a 5 MiB/s limit (88%); the control at 1%.
    for (fx, bytes) in [(&hot, 4.6e6 * 300.0), (&quiet, 5.0e4 * 300.0)] {
        put_metric(&aws, &fx.name, "IncomingBytes", minutes_ago(9), bytes).await;
        for k in [14, 9, 4] {
            put_metric(
                &aws,
                &fx.name,
                "BytesPerSecondLimit",
                minutes_ago(k),
                5_242_880.0,
            )
            .await;
        }
    }
    // The processor (timeout 30 s) ran 27 s.
    let f = slow.lambda_name.as_deref().unwrap();
    put_metric_in(
        &aws,
        "AWS/Lambda",
        ("FunctionName", f),
        "Duration",
        minutes_ago(9),
        27_000.0,
    )
    .await;
    // 25 minutes behind the source, and growing.
    for (k, ms) in [(14, 900_000.0), (9, 1_200_000.0), (4, 1_500_000.0)] {
        put_metric(
            &aws,
            &behind.name,
            "KinesisMillisBehindLatest",
            minutes_ago(k),
            ms,
        )
        .await;
    }
    // 20 h old and 1 h older every 5 minutes (periods well inside the audit's aligned hour:
    // the current, incomplete 5-minute period is not read).
    for (k, s) in [
        (24, 61_200.0),
        (19, 64_800.0),
        (14, 68_400.0),
        (9, 72_000.0),
    ] {
        put_metric(
            &aws,
            &stale.name,
            "DeliveryToS3.DataFreshness",
            minutes_ago(k),
            s,
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("check.toml");
    let names: Vec<String> = [&hot, &slow, &behind, &stale, &quiet]
        .iter()
        .map(|f| format!("\"{}\"", f.name))
        .collect();
    std::fs::write(
        &cfg,
        format!(
            "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\n[streams]\nnames = [{}]\n[schedule]\ndelay_seconds = 0\n",
            moto().endpoint,
            names.join(", ")
        ),
    )
    .unwrap();
    let out = check_audit(&cfg);
    // Deleted before any assertion: moto allows 50 streams, and the suite shares them.
    for fx in [&hot, &slow, &behind, &stale, &quiet] {
        delete_streams(&aws, &[&fx.name]).await;
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let risks = |fx: &crate::diagnosis::Fx| -> Vec<String> {
        report["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stream"] == fx.name.as_str())
            .unwrap()["risks"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| r["risk"].as_str().unwrap().to_string())
                    .filter(|r| r != "risk.latent_failure")
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(risks(&hot), vec!["risk.throughput"], "{report}");
    assert_eq!(risks(&slow), vec!["risk.lambda_duration"]);
    assert_eq!(risks(&behind), vec!["risk.source_lag"]);
    assert_eq!(risks(&stale), vec!["risk.freshness_trend"]);
    assert!(risks(&quiet).is_empty(), "the control: {:?}", risks(&quiet));
    assert_eq!(out.status.code(), Some(1));
}

/// `firehose-sentinel check --audit --format json -c CFG`.
fn check_audit(cfg: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_firehose-sentinel"))
        .args(["check", "--audit", "--format", "json", "-c"])
        .arg(cfg)
        .output()
        .unwrap()
}
