//! Alert delivery against local receivers: retries with a stable idempotency key, HMAC
//! signatures, 4xx, 429, `Retry-After`, redirects, order within an incident, and the
//! Alertmanager re-send. (Durability across restarts and `kill -9`: `durability.rs`.)

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use firehose_sentinel::alert::build_sinks;
use firehose_sentinel::alert::outbox::Outbox;
use firehose_sentinel::config;
use firehose_sentinel::model::{Alert, AlertStatus};
use firehose_sentinel::plan::alerts::test_alert;
use firehose_sentinel::state::StateStore;
use firehose_sentinel::telemetry::metrics::Metrics;
use hmac::Mac;
use tokio_util::sync::CancellationToken;

use crate::receiver::Receiver;

fn sink_settings(dir: &std::path::Path, sinks: &str) -> config::Settings {
    let text = format!(
        "[streams]\nnames = [\"s\"]\n[state]\npath = \"{}\"\n[delivery]\ninitial_backoff = \"100ms\"\nmax_backoff = \"300ms\"\n{sinks}",
        dir.join("state.json").display()
    );
    config::load_from_str(&text, &dir.join("c.toml"), &Default::default()).unwrap()
}

fn alert(incident: &str, seq: u32, status: AlertStatus) -> Alert {
    let mut a = test_alert(Utc::now());
    a.test = false;
    a.incident_id = incident.into();
    a.sequence = seq;
    a.status = status;
    a.stream = "s".into();
    a
}

/// An outbox with its workers, over the sinks of `s`.
struct Running {
    store: Arc<StateStore>,
    metrics: Metrics,
    outbox: Arc<Outbox>,
    stop: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

fn running(s: &config::Settings) -> Running {
    let (store, _) = StateStore::open(&s.state.path).unwrap();
    let store = Arc::new(store);
    let metrics = Metrics::new();
    let outbox = Outbox::new(
        store.clone(),
        build_sinks(s),
        metrics.clone(),
        s.delivery.clone(),
    );
    let stop = CancellationToken::new();
    let workers = outbox.spawn_workers(stop.clone());
    Running {
        store,
        metrics,
        outbox,
        stop,
        workers,
    }
}

async fn enqueue(outbox: &Outbox, store: &StateStore, a: &Alert) {
    let entries = outbox.entries_for(a, Utc::now());
    store.with(|s| s.outbox.extend(entries));
    store.save().await.unwrap();
    outbox.wake_all();
}

#[tokio::test]
async fn retries_after_500s_with_the_same_idempotency_key() {
    let rx = Receiver::start().await;
    rx.script(&[500, 500, 500]);
    let dir = tempfile::tempdir().unwrap();
    let s = sink_settings(
        dir.path(),
        &format!(
            "[[alerts.webhook]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
            rx.url
        ),
    );
    let Running {
        store,
        metrics,
        outbox,
        stop,
        workers,
    } = running(&s);
    enqueue(&outbox, &store, &alert("inc-a", 1, AlertStatus::Firing)).await;
    let got = rx.wait_for(15, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1, "delivered exactly once after recovery");
    let all = rx.all();
    assert_eq!(all.len(), 4, "three 500s then one 200");
    for r in &all {
        assert_eq!(r.headers["idempotency-key"], "inc-a:1");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.all().len(), 4, "nothing sent after the 200");
    assert_eq!(
        metrics
            .alert_delivery_failures_total
            .with_label_values(&["hook"])
            .get(),
        3
    );
    assert_eq!(
        metrics
            .alerts_sent_total
            .with_label_values(&["hook", "firing"])
            .get(),
        1
    );
    assert!(store.snapshot().outbox.is_empty());
    stop.cancel();
    futures::future::join_all(workers).await;
}

#[tokio::test]
async fn signature_is_verified_by_the_receiver_and_4xx_is_permanent() {
    let rx = Receiver::start().await;
    rx.script(&[400]);
    let dir = tempfile::tempdir().unwrap();
    let s = sink_settings(
        dir.path(),
        &format!(
            "[[alerts.webhook]]\nname = \"hook\"\nurl = \"{}/hook\"\nsecret = \"k3y\"\n",
            rx.url
        ),
    );
    let Running {
        store,
        metrics,
        outbox,
        stop,
        workers,
    } = running(&s);
    enqueue(&outbox, &store, &alert("inc-b", 1, AlertStatus::Firing)).await;
    enqueue(&outbox, &store, &alert("inc-b", 2, AlertStatus::Resolved)).await;
    let got = rx.wait_for(10, |g| !g.is_empty()).await;
    // The first was refused (400: permanent, not retried); the second went through.
    assert_eq!(got.len(), 1);
    assert_eq!(rx.all().len(), 2);
    let r = &got[0];
    assert_eq!(r.body["status"], "resolved");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k3y").unwrap();
    mac.update(&r.raw);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.headers["x-sentinel-signature"].to_str().unwrap(), want);
    assert_eq!(
        metrics
            .alerts_dropped_total
            .with_label_values(&["hook", "rejected"])
            .get(),
        1
    );
    let st = store.snapshot();
    assert_eq!(st.rejected.len(), 1, "kept for inspection");
    assert!(st.rejected[0]
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("HTTP 400"));
    stop.cancel();
    futures::future::join_all(workers).await;
}

fn hook_settings(dir: &std::path::Path, rx: &Receiver) -> config::Settings {
    sink_settings(
        dir,
        &format!(
            "[[alerts.webhook]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
            rx.url
        ),
    )
}

#[tokio::test]
async fn a_redirect_is_a_failed_delivery_never_followed() {
    let rx = Receiver::start().await;
    // A webhook behind a login: 302 to a page that answers 200.
    rx.script(&[302, 307]);
    let dir = tempfile::tempdir().unwrap();
    let Running {
        store,
        metrics,
        outbox,
        stop,
        workers,
    } = running(&hook_settings(dir.path(), &rx));
    enqueue(&outbox, &store, &alert("inc-r", 1, AlertStatus::Firing)).await;
    let got = rx.wait_for(15, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1);
    let all = rx.all();
    assert_eq!(
        all.iter().map(|r| r.answered).collect::<Vec<_>>(),
        vec![302, 307, 200],
        "both redirects were failures and the alert was sent again, to the same URL"
    );
    assert_eq!(
        metrics
            .alert_delivery_failures_total
            .with_label_values(&["hook"])
            .get(),
        2
    );
    assert!(store.snapshot().outbox.is_empty());
    stop.cancel();
    futures::future::join_all(workers).await;
}

#[tokio::test]
async fn a_long_retry_after_is_capped_at_max_backoff() {
    let rx = Receiver::start().await;
    rx.script(&[503]);
    rx.retry_after("86400");
    let dir = tempfile::tempdir().unwrap();
    let Running {
        store,
        outbox,
        stop,
        workers,
        ..
    } = running(&hook_settings(dir.path(), &rx));
    enqueue(&outbox, &store, &alert("inc-ra", 1, AlertStatus::Firing)).await;
    // max_backoff is 300 ms here: delivered within seconds, not a day.
    let got = rx.wait_for(10, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1);
    stop.cancel();
    futures::future::join_all(workers).await;
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let rx = Receiver::start().await;
    rx.script(&[429, 429]);
    let dir = tempfile::tempdir().unwrap();
    let Running {
        store,
        outbox,
        stop,
        workers,
        ..
    } = running(&hook_settings(dir.path(), &rx));
    enqueue(&outbox, &store, &alert("inc-429", 1, AlertStatus::Firing)).await;
    let got = rx.wait_for(10, |g| !g.is_empty()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(rx.all().len(), 3);
    stop.cancel();
    futures::future::join_all(workers).await;
}

#[tokio::test]
async fn the_alertmanager_re_send_skips_an_incident_resolved_meanwhile() {
    use firehose_sentinel::alert::alertmanager::{resend_once, OpenIncidents};
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = sink_settings(
        dir.path(),
        &format!(
            "[[alerts.alertmanager]]\nname = \"am\"\nurls = [\"{}\"]\n",
            rx.url
        ),
    );
    let sinks = firehose_sentinel::alert::build(&s).alertmanagers;
    let open_one = alert("inc-open", 1, AlertStatus::Firing);
    let closed = alert("inc-closed", 1, AlertStatus::Firing);
    // The snapshot was taken while both were open; inc-closed resolved before its turn.
    let snapshot = vec![open_one.clone(), closed.clone()];
    let open = OpenIncidents {
        firing: Arc::new(move || snapshot.clone()),
        is_open: Arc::new(|id: &str| id == "inc-open"),
    };
    let sent = resend_once(&open, &sinks, &Metrics::new()).await;
    assert_eq!(sent, 1);
    let got = rx.all();
    assert_eq!(got.len(), 1);
    assert!(got[0].raw.windows(8).any(|w| w == b"inc-open"));
    assert!(!got[0].raw.windows(10).any(|w| w == b"inc-closed"));
}

#[tokio::test]
async fn an_incidents_alerts_arrive_in_order_even_after_a_failure() {
    let rx = Receiver::start().await;
    // The firing alert fails once; its resolved alert, queued behind it, must not overtake it.
    rx.script(&[503]);
    let dir = tempfile::tempdir().unwrap();
    let Running {
        store,
        outbox,
        stop,
        workers,
        ..
    } = running(&hook_settings(dir.path(), &rx));
    enqueue(&outbox, &store, &alert("inc-o", 1, AlertStatus::Firing)).await;
    enqueue(&outbox, &store, &alert("inc-o", 2, AlertStatus::Resolved)).await;
    let got = rx.wait_for(10, |g| g.len() >= 2).await;
    let keys: Vec<String> = got
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, vec!["inc-o:1", "inc-o:2"]);
    let answered: Vec<u16> = rx.all().iter().map(|r| r.answered).collect();
    assert_eq!(answered, vec![503, 200, 200], "the resolved alert waited");
    stop.cancel();
    futures::future::join_all(workers).await;
}
