//! Configuration fixtures: every `*.ok.toml` loads; every `*.bad.toml` fails with exactly the
//! message recorded in `tests/fixtures/config/expected.txt` (`FILE` stands for the path).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use firehose_sentinel::config;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// `name.bad.toml: message` lines; a line break in a message is written `\\n`.
fn expected() -> BTreeMap<String, String> {
    std::fs::read_to_string(fixtures().join("expected.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_string(), v.replace("\\n", "\n"))
        })
        .collect()
}

#[test]
fn fixture_files_give_their_exact_messages() {
    let want = expected();
    // One variable set but empty, for `*_env` naming an empty variable.
    let env: HashMap<String, String> =
        [("SENTINEL_TEST_EMPTY_VARIABLE".to_string(), " ".to_string())].into();
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".ok.toml") {
            config::load_with_env(&path, &env).unwrap_or_else(|e| panic!("{name}: {e}"));
            seen += 1;
        } else if name.ends_with(".bad.toml") {
            let err = config::load_with_env(&path, &env)
                .err()
                .unwrap_or_else(|| panic!("{name} should be rejected"));
            let got = err.to_string().replace(&path.display().to_string(), "FILE");
            let exp = want
                .get(&name)
                .unwrap_or_else(|| panic!("no expected message for {name}; got:\n{got}"));
            assert_eq!(&got, exp, "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 15, "only {seen} fixtures");
}

#[test]
fn example_configs_are_valid() {
    let env: HashMap<String, String> = [
        (
            "SLACK_WEBHOOK_URL".to_string(),
            "https://hooks.slack.com/services/T/B/X".to_string(),
        ),
        (
            "SENTINEL_LOCAL_HOOK_URL".to_string(),
            "http://127.0.0.1:9999/hook".to_string(),
        ),
    ]
    .into();
    for f in ["config/example.toml", "config/local.toml"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        config::load_with_env(&p, &env).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn environment_overrides_keys() {
    let p = fixtures().join("minimal.ok.toml");
    let env: HashMap<String, String> = [
        (
            "FIREHOSE_SENTINEL__SCHEDULE__POLL".to_string(),
            "0 * * * * *".to_string(),
        ),
        (
            "FIREHOSE_SENTINEL__STREAMS__NAMES".to_string(),
            "a,b".to_string(),
        ),
        (
            "FIREHOSE_SENTINEL__DETECTION__FAILING_AFTER_PERIODS".to_string(),
            "5".to_string(),
        ),
        (
            "FIREHOSE_SENTINEL__STREAMS__DISCOVER".to_string(),
            "true".to_string(),
        ),
    ]
    .into();
    let s = config::load_with_env(&p, &env).unwrap();
    assert_eq!(s.schedule.poll, "0 * * * * *");
    assert_eq!(s.streams.names, vec!["a", "b"]);
    assert_eq!(s.detection.failing_after_periods, 5);
    assert!(s.streams.discover);
    let env: HashMap<String, String> = [(
        "FIREHOSE_SENTINEL__SCHEDULE__POLX".to_string(),
        "x".to_string(),
    )]
    .into();
    let e = config::load_with_env(&p, &env).unwrap_err().to_string();
    assert!(e.contains("schedule.polx: unknown key"), "{e}");
}

#[test]
fn secrets_resolve_from_env_and_file_and_never_print() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hmac");
    std::fs::write(&secret_file, "s3cr3t-hmac\n").unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[streams]\nnames = [\"x\"]\n[[alerts.webhook]]\nname = \"ops\"\nurl_env = \"HOOK\"\nsecret_file = \"{}\"\nheaders = {{ Authorization = \"Bearer tok-123\" }}\n[[alerts.slack]]\nname = \"s\"\nwebhook_url = \"https://hooks.slack.com/services/T/B/SLACKTOKEN\"\n",
            secret_file.display()
        ),
    )
    .unwrap();
    let env: HashMap<String, String> = [(
        "HOOK".to_string(),
        "https://example.com/hook?token=HOOKTOKEN".to_string(),
    )]
    .into();
    let s = config::load_with_env(&cfg, &env).unwrap();
    assert_eq!(
        s.alerts.webhook[0].url.expose(),
        "https://example.com/hook?token=HOOKTOKEN"
    );
    assert_eq!(
        s.alerts.webhook[0].secret.as_ref().unwrap().expose(),
        "s3cr3t-hmac"
    );
    let printed = format!("{}\n{:?}", s.redacted_json(), s);
    for secret in ["HOOKTOKEN", "s3cr3t-hmac", "tok-123", "SLACKTOKEN"] {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
}

#[test]
fn credentials_inside_urls_never_print() {
    let text = r#"
[aws]
endpoint_url = "http://ak:aws-s3cr3t@127.0.0.1:4566"
[streams]
names = ["s"]
[[alerts.alertmanager]]
name = "am"
urls = ["https://am-user:am-s3cr3t@alertmanager.example.com"]
[[alerts.pagerduty]]
name = "pd"
routing_key = "R0UT1NG"
url = "https://pd-user:pd-s3cr3t@events.example.com/v2/enqueue"
"#;
    let s = config::load_from_str(text, Path::new("c.toml"), &HashMap::new()).unwrap();
    let shown = s.redacted_json();
    for secret in ["aws-s3cr3t", "am-s3cr3t", "pd-s3cr3t", "R0UT1NG"] {
        assert!(!shown.contains(secret), "{secret} in:\n{shown}");
    }
    assert!(shown.contains("alertmanager.example.com"));
}

/// `sharding.index` defaults to the StatefulSet pod ordinal modulo `sharding.total`: pods
/// `sentinel-1` and `sentinel-4` of a 3-shard x 2-replica StatefulSet are both shard 1.
#[test]
fn the_shard_index_comes_from_the_pod_ordinal() {
    let text = "[streams]\nnames = [\"orders\"]\n[sharding]\ntotal = 3\n";
    for (host, index) in [("sentinel-1", 1), ("sentinel-4", 1), ("sentinel-5", 2)] {
        let env: HashMap<String, String> = [("HOSTNAME".to_string(), host.to_string())].into();
        let s = config::load_from_str(text, Path::new("c.toml"), &env).unwrap();
        assert_eq!((s.sharding.total, s.sharding.index), (3, index), "{host}");
    }
    // An explicit index wins over the hostname.
    let env: HashMap<String, String> = [("HOSTNAME".to_string(), "sentinel-4".to_string())].into();
    let s = config::load_from_str(
        "[streams]\nnames = [\"orders\"]\n[sharding]\ntotal = 3\nindex = 0\n",
        Path::new("c.toml"),
        &env,
    )
    .unwrap();
    assert_eq!(s.sharding.index, 0);
}
