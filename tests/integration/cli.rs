//! The binary's commands and exit codes.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_firehose-sentinel"))
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/config/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn validate_config_exit_codes_and_redaction() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[streams]\nnames = [\"x\"]\n[[alerts.slack]]\nname = \"s\"\nwebhook_url_env = \"SLACK_URL\"\n").unwrap();
    let out = bin()
        .args(["validate-config", "-c"])
        .arg(&cfg)
        .env(
            "SLACK_URL",
            "https://hooks.slack.com/services/T0/B0/SUPERSECRET",
        )
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("<redacted>"), "{all}");
    assert!(!all.contains("SUPERSECRET"), "{all}");

    let out = bin()
        .args(["validate-config", "-c", &fixture("unknown_key.bad.toml")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("schedule.pol: unknown key"));

    let out = bin()
        .args(["validate-config", "-c", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read config file /nonexistent/config.toml"));

    // -c defaults to $FIREHOSE_SENTINEL_CONFIG.
    let out = bin()
        .arg("validate-config")
        .env("FIREHOSE_SENTINEL_CONFIG", fixture("minimal.ok.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2_and_run_with_bad_config_exits_2() {
    assert_eq!(
        bin().arg("no-such-command").output().unwrap().status.code(),
        Some(2)
    );
    assert_eq!(
        bin()
            .args(["check", "--format", "yaml"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    let out = bin()
        .args(["run", "-c", &fixture("bad_cron.bad.toml")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn iam_policy_is_read_only_json() {
    let out = bin().arg("iam-policy").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = doc["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(actions.contains(&"cloudwatch:GetMetricData"));
    assert!(actions.contains(&"firehose:DescribeDeliveryStream"));
    for a in &actions {
        assert!(
            firehose_sentinel::permissions::is_read_only(a),
            "{a} is not read-only"
        );
    }
}

#[test]
fn deployed_iam_policy_matches_the_command() {
    let out = bin().arg("iam-policy").output().unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = std::fs::read_to_string(format!(
        "{}/deploy/iam/sentinel-policy.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let deployed: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(printed, deployed, "deploy/iam/sentinel-policy.json is stale: regenerate it with `firehose-sentinel iam-policy`");
}
