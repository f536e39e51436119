//! Poll scale benchmark (issue 12): whole monitor cycles over 1,000, 5,000 and 20,000 streams,
//! through the real AWS SDK, against a local CloudWatch stand-in (another process, speaking
//! Smithy RPCv2 CBOR `GetMetricData`, 50 ms + 0.1 ms a query of latency: a 500-query call answers in
//! 100 ms, about what CloudWatch takes). One stream in 250 fails.
//!
//! Run: `cargo bench --bench poll_scale` (release profile); `-- 5000` runs one size. Each size
//! runs in a process of its own, so its peak RSS is its own. Reported per cycle: the first
//! cycle (a full read of every metric) and the next eleven (two-phase polling; calls: the mean,
//! CPU and wall time: the median cycle): `GetMetricData` calls, CPU seconds of the daemon
//! process (user + system, `getrusage`), wall time, and the state file's size; peak RSS
//! (`VmHWM`) over the whole run. `BENCH_CYCLES=N` runs N cycles (2 to 24: within the 2-hour
//! full-read rhythm), `BENCH_HEAP=1` also counts the heap, live and peak, after each cycle.

#[path = "../tests/integration/cloudwatch_standin.rs"]
mod cloudwatch_standin;

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firehose_sentinel::aws::fake::s3_stream;
use firehose_sentinel::aws::sdk::{AwsClients, ClientFactory};
use firehose_sentinel::aws::{
    AwsError, FirehoseApi, MetricQuery, MetricSeries, MetricsApi, StreamDescription,
};
use firehose_sentinel::daemon::monitor::Monitor;
use firehose_sentinel::telemetry::metrics::Metrics;

/// Firehose answered from nothing (N Direct PUT streams to S3, each description made when it
/// is asked for, as a real Firehose would send it: the stand-in holds no copy that would count
/// in the daemon's memory), CloudWatch through the real SDK.
struct BenchApi {
    streams: usize,
    cloudwatch: Arc<AwsClients>,
}

#[async_trait]
impl FirehoseApi for BenchApi {
    async fn list_delivery_streams(&self) -> Result<Vec<String>, AwsError> {
        Ok((0..self.streams).map(name).collect())
    }
    async fn describe_delivery_stream(&self, name: &str) -> Result<StreamDescription, AwsError> {
        Ok(s3_stream(name))
    }
    async fn list_tags(
        &self,
        _name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
        Ok(Default::default())
    }
    async fn caller_account(&self) -> Result<String, AwsError> {
        Ok(firehose_sentinel::aws::fake::ACCOUNT.to_string())
    }
}

#[async_trait]
impl MetricsApi for BenchApi {
    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, AwsError> {
        self.cloudwatch.get_metric_data(queries, start, end).await
    }
}

/// Live and peak heap bytes, to tell the heap from the rest of the RSS; counted only with
/// `BENCH_HEAP` set (the counters are shared atomics: they would add to the CPU measured).
struct Counting;
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if !COUNTING.load(Relaxed) {
            return std::alloc::System.alloc(l);
        }
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        std::alloc::System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        if !COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
            return std::alloc::System.dealloc(p, l);
        }
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if !COUNTING.load(Relaxed) {
            return std::alloc::System.realloc(p, l, n);
        }
        if n > l.size() {
            let now = LIVE.fetch_add(n - l.size(), Relaxed) + n - l.size();
            PEAK.fetch_max(now, Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - n, Relaxed);
        }
        std::alloc::System.realloc(p, l, n)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn heap_mib() -> (f64, f64) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = |b: usize| b as f64 / (1024.0 * 1024.0);
    (m(LIVE.load(Relaxed)), m(PEAK.load(Relaxed)))
}

fn name(i: usize) -> String {
    format!("stream-{i:05}")
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn vm_hwm_mib() -> f64 {
    status_mib("VmHWM")
}

/// A `/proc/self/status` figure (kB) in MiB.
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `--serve-cloudwatch N`: the stand-in, printing its URL on the first line.
fn serve(n: usize) {
    runtime().block_on(async move {
        let s = cloudwatch_standin::start(cloudwatch_standin::Behaviour {
            base_latency: Duration::from_millis(50),
            per_query: Duration::from_micros(100),
            failing: (0..n).step_by(250).map(name).collect(),
        })
        .await;
        println!("{}", s.url);
        std::future::pending::<()>().await;
    });
}

/// `--run N URL`: the cycles, one line of figures.
fn run(n: usize, url: &str) {
    std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
    runtime().block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n[streams]\ndiscover = true\n[state]\npath = {:?}\n",
            dir.path().join("state.json").display().to_string()
        );
        let settings = firehose_sentinel::config::load_from_str(
            &text,
            &dir.path().join("bench.toml"),
            &Default::default(),
        )
        .expect("config");
        let metrics = Metrics::new();
        let factory = ClientFactory::new(settings.aws.clone(), metrics.clone());
        let api = Arc::new(BenchApi {
            streams: n,
            cloudwatch: factory.clients(&factory.default_key()).await,
        });
        let state_path = settings.state.path.clone();
        let scopes = vec![firehose_sentinel::daemon::ScopeParts {
            target: settings.targets[0].clone(),
            region: "us-east-1".into(),
            api,
            diagnoser: Arc::new(firehose_sentinel::diagnose::NoDiagnosis),
            trail: None,
            audit: None,
        }];
        let monitor = Monitor::new(settings, metrics.clone(), scopes, Vec::new())
        .expect("monitor");
        monitor.refresh_inventory(true).await;
        let after_refresh = heap_mib().0;
        let calls = || {
            metrics
                .aws_requests_total
                .with_label_values(&["cloudwatch", "GetMetricData", "success"])
                .get()
        };
        let mut rows = Vec::new();
        let start = Utc::now();
        // Cycles 5 minutes apart, all within the full-read rhythm (2 h).
        let cycles = std::env::var("BENCH_CYCLES")
            .ok()
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or(12)
            .clamp(2, 24);
        for k in 0..cycles {
            let (c0, cpu0, t0) = (calls(), cpu_seconds(), Instant::now());
            monitor.cycle(start + chrono::Duration::minutes(5 * k)).await;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            let state = std::fs::metadata(&state_path).map(|m| m.len()).unwrap_or(0);
            rows.push((calls() - c0, cpu, wall, state));
            if std::env::var_os("BENCH_HEAP").is_some() {
                let (live, peak) = heap_mib();
                eprintln!(
                    "cycle {k}: live heap {live:.1} MiB, peak {peak:.1} MiB (after the inventory: {after_refresh:.1} MiB), RSS {:.1} MiB",
                    status_mib("VmRSS")
                );
            }
        }
        // A scrape of `/metrics` after the last cycle: its text, and the CPU it took.
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let scrape = metrics.render().len();
        let (scrape_cpu, scrape_wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        let report = monitor.published.report.read().expect("report").clone();
        let failing = report
            .streams
            .iter()
            .filter(|s| s.health == firehose_sentinel::model::Health::Failing)
            .count();
        let unknown = report
            .streams
            .iter()
            .filter(|s| s.health == firehose_sentinel::model::Health::Unknown)
            .count();
        let steady = &rows[1..];
        let mean = |f: fn(&(u64, f64, f64, u64)) -> f64| {
            steady.iter().map(f).sum::<f64>() / steady.len() as f64
        };
        // CPU and wall time: the median cycle (this machine's other load shows as a few slow
        // cycles, not as a slower daemon).
        let median = |f: fn(&(u64, f64, f64, u64)) -> f64| {
            let mut v: Vec<f64> = steady.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{n:>6} streams | full read: {} calls, {:.1} ms CPU, {:.0} ms wall | two-phase (median of {} cycles): {:.1} calls, {:.1} ms CPU, {:.0} ms wall | state {:.1} KiB | /metrics {:.1} MiB in {:.0} ms CPU, {:.0} ms wall | peak RSS {:.1} MiB | {failing} failing, {unknown} unknown",
            rows[0].0,
            rows[0].1 * 1000.0,
            rows[0].2 * 1000.0,
            steady.len(),
            mean(|r| r.0 as f64),
            median(|r| r.1) * 1000.0,
            median(|r| r.2) * 1000.0,
            rows[rows.len() - 1].3 as f64 / 1024.0,
            scrape as f64 / (1024.0 * 1024.0),
            scrape_cpu * 1000.0,
            scrape_wall * 1000.0,
            vm_hwm_mib(),
        );
    });
}

fn main() {
    if std::env::var_os("BENCH_HEAP").is_some() {
        COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok());
    match args.first().map(String::as_str) {
        Some("--serve-cloudwatch") => return serve(num(1).unwrap_or(0)),
        Some("--run") => return run(num(1).expect("N"), &args[2]),
        _ => {}
    }
    let sizes: Vec<usize> = match args
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>()
    {
        v if !v.is_empty() => v,
        _ => vec![1_000, 5_000, 20_000],
    };
    let exe = std::env::current_exe().expect("exe");
    for n in sizes {
        let mut server = std::process::Command::new(&exe)
            .args(["--serve-cloudwatch", &n.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("stand-in");
        let mut url = String::new();
        std::io::BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut url)
            .expect("stand-in URL");
        let status = std::process::Command::new(&exe)
            .args(["--run", &n.to_string(), url.trim()])
            .status()
            .expect("run");
        let _ = server.kill();
        let _ = server.wait();
        assert!(status.success(), "{n} streams: {status}");
    }
}
