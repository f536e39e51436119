//! Operating the sentinel with real tools: the status page in headless Chromium, a real
//! Prometheus scraping it, `promtool check metrics`, and the Grafana dashboard's queries.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firehose_sentinel::config;
use firehose_sentinel::daemon::{self, Running};

use crate::harness::*;

/// A daemon watching one failing stream whose bucket is gone (root cause `s3.bucket`).
async fn failing_daemon(prefix: &str, dir: &std::path::Path) -> (Running, String) {
    let aws = aws().await;
    let name = unique(prefix);
    let bucket = create_stream(&aws, &name, &StreamSpec::default()).await;
    aws.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    for k in [6, 5, 4] {
        put_metric(&aws, &name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    let healthy = unique(&format!("{prefix}-ok"));
    create_stream(&aws, &healthy, &StreamSpec::default()).await;
    put_metric(&aws, &healthy, "DeliveryToS3.Success", minutes_ago(2), 1.0).await;
    let text = format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\n[streams]\nnames = [\"{name}\", \"{healthy}\"]\n[schedule]\npoll = \"*/2 * * * * *\"\naudit = \"off\"\ndelay_seconds = 0\n[server]\nlisten = \"127.0.0.1:0\"\n[state]\npath = \"{}\"\n",
        moto().endpoint,
        dir.join("state.json").display()
    );
    let s = config::load_from_str(&text, &dir.join("c.toml"), &HashMap::new()).unwrap();
    let d = daemon::start(s).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st: serde_json::Value = reqwest::get(format!("http://{}/api/v1/status", d.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if st["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["stream"] == name.as_str() && s["root_cause"] == "s3.bucket")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never diagnosed: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (d, name)
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn chromium(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    let bin = debian_tool(&["chromium", "chromium-browser"], "chromium");
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (d, name) = failing_daemon("page", dir.path()).await;
    let url = format!("http://{}/", d.addr);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&["--dump-dom", &url], profile.path());
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains(&name),
        "stream missing from the page:\n{html}"
    );
    assert!(html.contains("Open incidents (1)"), "{html}");
    assert!(
        html.contains("s3.bucket") && html.contains("does not exist"),
        "root cause missing:\n{html}"
    );
    assert!(html.contains("create-bucket"), "fix missing:\n{html}");
    assert!(!html.contains("<script"), "no JavaScript");
    // The shape of the window: a chart per stream (the table) and in the incident card, with
    // the incident's start marked and the failed delivery attempts drawn.
    assert!(html.matches("<svg").count() >= 2, "charts missing:\n{html}");
    assert!(html.contains("class=\"incident-start\""), "{html}");
    assert!(
        html.contains("fill=\"#c62828\""),
        "failed attempts not drawn:\n{html}"
    );
    let shot = target_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &[
            "--window-size=1280,900",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
        profile.path(),
    );
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("status page screenshot: {}", shot.display());
    d.stop().await;
}

struct Prometheus(Child);
impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_failing_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (d, name) = failing_daemon("prom", dir.path()).await;
    let prom_dir = tempfile::tempdir().unwrap();
    let cfg = prom_dir.path().join("prometheus.yml");
    std::fs::write(&cfg, format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: firehose-sentinel\n    static_configs:\n      - targets: ['{}']\n", d.addr)).unwrap();
    let port = free_port();
    let _p = Prometheus(
        Command::new(debian_tool(&["prometheus"], "prometheus"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Prometheus is not installed: apt-get install prometheus (.ci/run does it)"),
    );
    let query =
        format!("firehose_sentinel_stream_health{{health=\"failing\",stream=\"{name}\"}} == 1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        if let Ok(r) = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/query?query={}",
                urlencoding::encode(&query)
            ))
            .send()
            .await
        {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                if v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    break v;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw the failing stream"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let series = &result["data"]["result"][0]["metric"];
    assert_eq!(series["job"], "firehose-sentinel");
    assert_eq!(series["account"], ACCOUNT);
    // Every stream has its six health series.
    let all: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            urlencoding::encode("count(firehose_sentinel_stream_health)")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["data"]["result"][0]["value"][1], "12");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_check_metrics_reports_no_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = failing_daemon("promtool", dir.path()).await;
    let text = reqwest::get(format!("http://{}/metrics", d.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    d.stop().await;
    let mut child = Command::new(debian_tool(&["promtool"], "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "promtool check metrics: {}",
        if report.trim().is_empty() {
            "no problems"
        } else {
            report.trim()
        }
    );
    assert!(out.status.success() && report.trim().is_empty(), "{report}");
}

#[test]
fn grafana_queries_name_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/grafana/firehose-sentinel.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if (k == "expr" || k == "query") && x.is_string() {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 8, "only {} queries", exprs.len());
    let m = firehose_sentinel::telemetry::metrics::Metrics::new();
    let names = m.names();
    let mut used = 0;
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("firehose_sentinel_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let base = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| {
                n.strip_suffix(s)
                    .filter(|b| names.iter().any(|x| x == b))
                    .unwrap_or(n)
            });
            assert!(
                names.iter().any(|x| x == base),
                "{name} in `{e}` is not exported by the sentinel"
            );
            used += 1;
            rest = &tail[end..];
        }
    }
    assert!(used >= 10);
}
