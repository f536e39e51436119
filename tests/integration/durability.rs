//! Alerts that are never lost: outages of a receiver, `kill -9` of the daemon, a corrupt state
//! file; secrets absent from every log line; `test-alert`; a real Alertmanager.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firehose_sentinel::config;
use firehose_sentinel::daemon;

use crate::harness::*;
use crate::receiver::Receiver;

fn base_config(dir: &Path, streams: &str, port: u16, sinks: &str) -> String {
    format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\ntimeout = \"5s\"\nmax_attempts = 2\n[streams]\n{streams}\n[schedule]\npoll = \"*/2 * * * * *\"\naudit = \"off\"\ndelay_seconds = 0\n[server]\nlisten = \"127.0.0.1:{port}\"\n[state]\npath = \"{}\"\n[delivery]\ninitial_backoff = \"200ms\"\nmax_backoff = \"1s\"\n{sinks}",
        moto().endpoint,
        dir.join("state.json").display()
    )
}

async fn failing_stream(aws: &Aws, prefix: &str) -> String {
    let name = unique(prefix);
    create_stream(aws, &name, &StreamSpec::default()).await;
    for k in [8, 7, 6] {
        put_metric(aws, &name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(aws, &name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    name
}

async fn recover(aws: &Aws, name: &str) {
    for k in [3, 2] {
        put_metric(aws, name, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
    }
}

async fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_while_an_incident_opens_and_closes_gets_both_in_order() {
    let aws = aws().await;
    let name = failing_stream(&aws, "outage").await;
    let down_port = free_port();
    let pd = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "[[alerts.webhook]]\nname = \"down\"\nurl = \"http://127.0.0.1:{down_port}/hook\"\n[[alerts.pagerduty]]\nname = \"pd\"\nrouting_key = \"R0UTINGKEY\"\nurl = \"{}/v2/enqueue\"\n",
        pd.url
    );
    let text = base_config(dir.path(), &format!("names = [\"{name}\"]"), 0, &sinks)
        .replace("max_backoff = \"1s\"", "max_backoff = \"5s\"");
    let s = config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
    let t0 = Instant::now();
    let d = daemon::start(s).await.unwrap();
    // PagerDuty is up: the webhook's outage does not delay it.
    let got = pd.wait_for(30, |g| !g.is_empty()).await;
    println!(
        "incident to PagerDuty receiver: {:.2}s from daemon start",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(got[0].body["event_action"], "trigger");
    let dedup = got[0].body["dedup_key"].as_str().unwrap().to_string();
    recover(&aws, &name).await;
    let got = pd.wait_for(30, |g| g.len() >= 2).await;
    assert_eq!(got[1].body["event_action"], "resolve");
    assert_eq!(got[1].body["dedup_key"], dedup.as_str());
    // Both alerts are still pending for the webhook, retried with backoff.
    let metrics = || async {
        reqwest::get(format!("http://{}/metrics", d.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let m = metrics().await;
    assert!(
        m.contains("firehose_sentinel_alerts_pending{sink=\"down\"} 2"),
        "{m}"
    );
    // The webhook stays down for a minute in all, across the open and the close.
    let up_at = t0 + Duration::from_secs(60);
    tokio::time::sleep(up_at.saturating_duration_since(Instant::now())).await;
    let rx = Receiver::start_on(down_port).await;
    let back = Instant::now();
    let got = rx.wait_for(30, |g| g.len() >= 2).await;
    println!(
        "webhook down {:.0}s across open and close: both alerts delivered {:.2}s after it came back",
        back.duration_since(t0).as_secs_f64(),
        back.elapsed().as_secs_f64()
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body["status"], "firing");
    assert_eq!(got[1].body["status"], "resolved");
    assert_eq!(
        got[0].headers["idempotency-key"].to_str().unwrap(),
        format!("{dedup}:1")
    );
    assert_eq!(
        got[1].headers["idempotency-key"].to_str().unwrap(),
        format!("{dedup}:2")
    );
    let m = metrics().await;
    assert!(
        m.contains("firehose_sentinel_alerts_pending{sink=\"down\"} 0"),
        "{m}"
    );
    assert!(m.lines().any(|l| l
        .starts_with("firehose_sentinel_alert_delivery_failures_total{sink=\"down\"}")
        && !l.ends_with(" 0")));
    d.stop().await;
}

fn spawn_daemon(cfg: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firehose-sentinel"))
        .args(["--log-format", "json", "run", "-c"])
        .arg(cfg)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("RUST_LOG", "trace")
        .env("HOOK_HMAC", "HMACSECRET-do-not-log")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_a_pending_alert_delivers_it_after_restart_once() {
    let aws = aws().await;
    let name = failing_stream(&aws, "kill9").await;
    let dir = tempfile::tempdir().unwrap();
    let hook_port = free_port();
    // A PagerDuty sink too (unreachable: its retries log errors), so the routing key has a
    // chance to leak into the logs checked below.
    let pd_port = free_port();
    let sinks = format!("[[alerts.webhook]]\nname = \"hook\"\nurl = \"http://127.0.0.1:{hook_port}/hook?token=URLTOKEN-do-not-log\"\nsecret_env = \"HOOK_HMAC\"\nheaders = {{ Authorization = \"Bearer HEADERTOKEN-do-not-log\" }}\n[[alerts.pagerduty]]\nname = \"pd\"\nrouting_key = \"R0UTINGKEY\"\nurl = \"http://127.0.0.1:{pd_port}/v2/enqueue\"\n");
    let cfg = dir.path().join("c.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        base_config(dir.path(), &format!("names = [\"{name}\"]"), port, &sinks),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let state = dir.path().join("state.json");

    let mut first = spawn_daemon(&cfg, &log);
    let pending = wait_until(30, || {
        std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["outbox"].as_array().is_some_and(|o| !o.is_empty()))
    })
    .await;
    assert!(pending, "the alert never reached the outbox");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();

    let rx = Receiver::start_on(hook_port).await;
    let mut second = spawn_daemon(&cfg, &log);
    let got = rx.wait_for(30, |g| !g.is_empty()).await;
    assert_eq!(
        got.len(),
        1,
        "the pending alert is delivered after the restart"
    );
    let key = got[0].headers["idempotency-key"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(key.ends_with(":1"), "{key}");
    assert!(got[0].headers["x-sentinel-signature"]
        .to_str()
        .unwrap()
        .starts_with("sha256="));
    // Several more cycles: the restored incident is not fired again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(rx.accepted().len(), 1, "no re-fire after restart");

    // SIGTERM stops it cleanly and quickly.
    let t = Instant::now();
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "did not stop within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("stopped {:.2}s after SIGTERM", t.elapsed().as_secs_f64());
    assert_eq!(status.code(), Some(0));

    let mut logs = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.lines().count() > 20, "trace logs were captured");
    assert!(logs.contains("alert delivered"));
    assert!(
        logs.contains("\"sink\":\"pd\""),
        "the PagerDuty sink was exercised"
    );
    for secret in [
        "URLTOKEN-do-not-log",
        "HMACSECRET-do-not-log",
        "HEADERTOKEN-do-not-log",
        "testing\"",
        "R0UTINGKEY",
    ] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_moved_aside_and_the_daemon_runs() {
    let aws = aws().await;
    let name = unique("corrupt");
    create_stream(&aws, &name, &StreamSpec::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), b"\x00\x01 not json {{{").unwrap();
    let text = base_config(dir.path(), &format!("names = [\"{name}\"]"), 0, "");
    let s = config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
    let d = daemon::start(s).await.unwrap();
    let ready = {
        let addr = d.addr;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = reqwest::get(format!("http://{addr}/readyz"))
                .await
                .unwrap()
                .status()
                .as_u16();
            if r == 200 || Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert_eq!(ready, 200);
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    d.stop().await;
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(st["version"], firehose_sentinel::state::STATE_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_reports_each_sink() {
    let good = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let dead = free_port();
    std::fs::write(
        &cfg,
        format!("[streams]\nnames = [\"x\"]\n[delivery]\ninitial_backoff = \"100ms\"\ntimeout = \"2s\"\n[[alerts.webhook]]\nname = \"good\"\nurl = \"{}/hook\"\n[[alerts.slack]]\nname = \"chat\"\nwebhook_url = \"{}/slack\"\n[[alerts.webhook]]\nname = \"dead\"\nurl = \"http://127.0.0.1:{dead}/hook\"\n", good.url, good.url),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firehose-sentinel"));
        c.args(["test-alert", "-c"]).arg(&cfg).args(extra);
        c.output().unwrap()
    };
    let out = run(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("good (webhook): delivered"), "{text}");
    assert!(text.contains("chat (slack): delivered"), "{text}");
    assert!(text.contains("dead (webhook): FAILED"), "{text}");
    assert!(
        !text.contains(&dead.to_string()),
        "the URL is a secret: {text}"
    );
    let out = run(&["--sink", "good"]);
    assert_eq!(out.status.code(), Some(0));
    let got = good.accepted();
    let hook = got.iter().find(|r| r.body.get("schema").is_some()).unwrap();
    assert_eq!(hook.body["test"], true);
    assert!(hook.body["summary"].as_str().unwrap().starts_with("TEST"));
    let slack = got.iter().find(|r| r.body.get("blocks").is_some()).unwrap();
    assert!(slack.body["text"].as_str().unwrap().starts_with("TEST"));
    let out = run(&["--sink", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sink named \"nope\""));
}

/// A real Alertmanager (Debian's prometheus-alertmanager) on a loopback port.
struct Alertmanager {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alertmanager() -> Alertmanager {
    let bin = debian_tool(
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("am.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "Alertmanager did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Alertmanager {
        url: format!("http://127.0.0.1:{port}"),
        child,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_appears_in_a_real_alertmanager_and_resolves() {
    let am = alertmanager();
    let aws = aws().await;
    let name = failing_stream(&aws, "am").await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "[[alerts.alertmanager]]\nname = \"am\"\nurls = [\"{}\"]\nresend_every = \"2s\"\n",
        am.url
    );
    let text = base_config(dir.path(), &format!("names = [\"{name}\"]"), 0, &sinks);
    let s = config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
    let d = daemon::start(s).await.unwrap();
    let list = || async {
        let v: serde_json::Value = reqwest::get(format!("{}/api/v2/alerts", am.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["stream"] == name.as_str())
            .cloned()
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let l = list().await;
        if let Some(a) = l.first() {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "alert never reached Alertmanager"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "FirehoseDeliveryFailing");
    assert_eq!(labels["region"], REGION);
    assert_eq!(labels["account"], ACCOUNT);
    assert_eq!(labels["severity"], "critical");
    assert!(labels["root_cause"].is_string());
    assert!(alert["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains(&name));
    assert!(alert["annotations"].get("remediation").is_some());
    assert_eq!(alert["status"]["state"], "active");
    // Re-sent while firing: endsAt moves forward.
    let ends1 = alert["endsAt"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ends2 = list().await[0]["endsAt"].as_str().unwrap().to_string();
    assert!(ends2 > ends1, "{ends1} -> {ends2}");

    recover(&aws, &name).await;
    // The incident closes in the daemon...
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open = d
            .monitor
            .store
            .with(|s| s.incidents.values().any(|i| i.stream == name));
        if !open {
            break;
        }
        assert!(Instant::now() < deadline, "the incident never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and Alertmanager resolves it at once: a firing alert left to expire would stay
    // active for up to 4 x resend_every (8 s) after its last re-send.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let l = list().await;
        let resolved = l.is_empty()
            || l.iter().all(|a| {
                a["endsAt"].as_str().unwrap_or("") <= chrono::Utc::now().to_rfc3339().as_str()
            });
        if resolved {
            break;
        }
        assert!(Instant::now() < deadline, "alert never resolved: {l:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_that_closed_while_down_is_resolved_after_restart() {
    let aws = aws().await;
    let name = failing_stream(&aws, "downclose").await;
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "[[alerts.webhook]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
        rx.url
    );
    let text = base_config(dir.path(), &format!("names = [\"{name}\"]"), 0, &sinks);
    let load =
        || config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
    let first = daemon::start(load()).await.unwrap();
    let got = rx.wait_for(30, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1);
    let incident = got[0].body["incident_id"].as_str().unwrap().to_string();
    first.stop().await;
    // Delivery recovers while the sentinel is down.
    recover(&aws, &name).await;
    let second = daemon::start(load()).await.unwrap();
    let got = rx.wait_for(30, |g| g.len() >= 2).await;
    assert_eq!(got.len(), 2, "no re-fire, one resolved");
    assert_eq!(got[1].body["status"], "resolved");
    assert_eq!(got[1].body["incident_id"], incident.as_str());
    assert_eq!(
        got[1].headers["idempotency-key"].to_str().unwrap(),
        format!("{incident}:2")
    );
    second.stop().await;
}

/// Issue 11's kill campaign: `kill -9` at random moments while two incidents open, are saved,
/// sent and resolved. After every restart nothing is lost (each incident's alerts arrive with
/// sequences 1..=n, none missing, the last one resolved) and no incident is re-opened under a
/// new id. `KILL_ROUNDS` sets the number of kills (default 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_campaign_loses_nothing_and_never_reopens() {
    use rand::Rng;
    let rounds: usize = std::env::var("KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let aws = aws().await;
    let a = failing_stream(&aws, "campaign-a").await;
    let b = failing_stream(&aws, "campaign-b").await;
    let dir = tempfile::tempdir().unwrap();
    let hook_port = free_port();
    let rx = Receiver::start_on(hook_port).await;
    let sinks = format!(
        "[[alerts.webhook]]\nname = \"hook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n"
    );
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        base_config(
            dir.path(),
            &format!("names = [\"{a}\", \"{b}\"]"),
            free_port(),
            &sinks,
        )
        .replace("poll = \"*/2 * * * * *\"", "poll = \"* * * * * *\""),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let mut kills_after_a_send = 0;
    for round in 0..rounds {
        // b recovers a third of the way in, a two thirds: the resolved alerts are opened,
        // saved and sent under fire too.
        if round == rounds / 3 {
            recover(&aws, &b).await;
        }
        if round == 2 * rounds / 3 {
            recover(&aws, &a).await;
        }
        // The receiver fails now and then (503), so alerts stay pending across kills and
        // many kills land while an alert is being sent, retried or rewritten.
        if round < rounds * 9 / 10 && rand::rng().random_bool(0.5) {
            rx.script(&[503]);
        }
        let before = rx.all().len();
        let mut child = spawn_daemon(&cfg, &log);
        let wait = rand::rng().random_range(200..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if rx.all().len() > before {
            kills_after_a_send += 1;
        }
    }
    // A last run, left alone until everything is delivered.
    let mut last = spawn_daemon(&cfg, &log);
    let complete = |got: &[crate::receiver::Received]| {
        [&a, &b].iter().all(|s| {
            got.iter()
                .any(|r| r.body["stream"] == s.as_str() && r.body["status"] == "resolved")
        })
    };
    rx.wait_for(120, complete).await;
    // Anything still in flight arrives now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = rx.accepted();
    last.kill().unwrap();
    last.wait().unwrap();
    println!(
        "{rounds} kill -9; {} requests to the receiver, {} accepted; {kills_after_a_send} rounds killed after sending",
        rx.all().len(),
        got.len(),
    );
    for s in [&a, &b] {
        let mine: Vec<_> = got
            .iter()
            .filter(|r| r.body["stream"] == s.as_str())
            .collect();
        let ids: std::collections::BTreeSet<_> = mine
            .iter()
            .map(|r| r.body["incident_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 1, "{s}: re-opened under a new id: {ids:?}");
        let seqs: std::collections::BTreeSet<u64> = mine
            .iter()
            .map(|r| r.body["sequence"].as_u64().unwrap())
            .collect();
        let max = *seqs.iter().max().unwrap();
        assert_eq!(
            seqs,
            (1..=max).collect(),
            "{s}: an alert was lost (sequences received: {seqs:?})"
        );
        let last_alert = mine
            .iter()
            .find(|r| r.body["sequence"].as_u64() == Some(max))
            .unwrap();
        assert_eq!(
            last_alert.body["status"], "resolved",
            "{s}: resolved alert lost"
        );
        for r in &mine {
            let key = r.headers["idempotency-key"].to_str().unwrap();
            assert_eq!(
                key,
                format!(
                    "{}:{}",
                    r.body["incident_id"].as_str().unwrap(),
                    r.body["sequence"]
                )
            );
        }
    }
}

/// Issue 12, high availability: two daemons of one shard (each with its own state) watch the
/// same failing stream and send to one real Alertmanager and one webhook. Alertmanager shows
/// one alert; the webhook receives the same `Idempotency-Key` from both, so an idempotent
/// receiver pages once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_one_shard_page_once() {
    let am = alertmanager();
    let rx = Receiver::start().await;
    let aws = aws().await;
    let name = failing_stream(&aws, "ha").await;
    let sinks = format!(
        "[[alerts.alertmanager]]\nname = \"am\"\nurls = [\"{}\"]\nresend_every = \"2s\"\n[[alerts.webhook]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
        am.url, rx.url
    );
    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let text = base_config(dir.path(), &format!("names = [\"{name}\"]"), 0, &sinks);
        let s = config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
        replicas.push(daemon::start(s).await.unwrap());
        dirs.push(dir);
    }
    let got = rx
        .wait_for(60, |r| {
            r.iter()
                .filter(|x| x.body["stream"] == name.as_str() && x.body["status"] == "firing")
                .count()
                >= 2
        })
        .await;
    let keys: std::collections::BTreeSet<String> = got
        .iter()
        .filter(|x| x.body["stream"] == name.as_str() && x.body["status"] == "firing")
        .map(|x| x.headers["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 1, "both replicas send the same key: {keys:?}");
    let ids: std::collections::BTreeSet<String> = replicas
        .iter()
        .map(|d| {
            d.monitor.store.with(|s| {
                s.incidents
                    .values()
                    .find(|i| i.stream == name)
                    .unwrap()
                    .id
                    .clone()
            })
        })
        .collect();
    assert_eq!(ids.len(), 1, "one incident id: {ids:?}");
    // Alertmanager: one alert for the stream, however many replicas send it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: serde_json::Value = reqwest::get(format!("{}/api/v2/alerts", am.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mine: Vec<&serde_json::Value> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["stream"] == name.as_str())
            .collect();
        if !mine.is_empty() {
            // Both replicas have sent by now (the webhook saw both).
            assert_eq!(mine.len(), 1, "{mine:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alert never reached Alertmanager"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for d in replicas {
        d.stop().await;
    }
}
