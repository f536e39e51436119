//! The outbox: every alert is stored (state file) before any send, and each sink delivers its
//! own queue in creation order with exponential backoff and jitter, honouring `Retry-After`.
//!
//! One sink's outage never delays another (one worker per sink). Delivery is at least once;
//! receivers deduplicate with `Idempotency-Key`. Permanent refusals (4xx other than 408/429)
//! and alerts older than `delivery.give_up_after` are dropped, counted and logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use chrono::DateTime;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};

use super::{SendError, Sink};
use crate::config::DeliverySettings;
use crate::model::{Alert, AlertStatus, ErrorKind};
use crate::telemetry::metrics::Metrics;

/// Panics in a row after which a delivery worker stays down.
pub const WORKER_RESTARTS: u32 = 5;

/// Rejected alerts kept for inspection.
pub const MAX_REJECTED: usize = 100;

/// An alert waiting for one sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub sink: String,
    /// Shared by the entries of every sink (stored once in the state file too).
    pub alert: Arc<Alert>,
    pub enqueued_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// Committed in memory but not yet written to the state file: not sent until it is, so a
    /// `kill -9` can never forget an alert a receiver already has. Never persisted (an entry
    /// read from the file is written).
    #[serde(skip)]
    pub held: bool,
}

impl OutboxEntry {
    /// The same alert for the same sink.
    pub fn same(&self, other: &OutboxEntry) -> bool {
        self.sink == other.sink
            && self.alert.sequence == other.alert.sequence
            && self.alert.incident_id == other.alert.incident_id
    }
}

/// Where the queue lives (the state file, in the daemon): the pending entries in creation
/// order and the entries sinks refused, kept for inspection. The outbox never touches the
/// rest of what is stored there.
pub trait QueueStore: Send + Sync {
    /// Run `f` on the pending and the rejected entries, under the store's lock.
    fn update_queue(&self, f: &mut dyn FnMut(&mut Vec<OutboxEntry>, &mut Vec<OutboxEntry>));
    /// Write what was changed.
    fn persist(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// [`QueueStore::update_queue`] with a result.
fn with_queue<R>(
    store: &dyn QueueStore,
    f: impl FnOnce(&mut Vec<OutboxEntry>, &mut Vec<OutboxEntry>) -> R,
) -> R {
    let mut f = Some(f);
    let mut out = None;
    store.update_queue(&mut |pending, rejected| {
        if let Some(f) = f.take() {
            out = Some(f(pending, rejected));
        }
    });
    out.expect("update_queue runs its closure once")
}

pub struct Outbox {
    store: Arc<dyn QueueStore>,
    sinks: Vec<Arc<dyn Sink>>,
    wake: HashMap<String, Arc<Notify>>,
    metrics: Metrics,
    delivery: DeliverySettings,
    /// Deliveries changed the queue: the saver writes it (once per [`SAVE_COALESCE`]).
    dirty: Arc<Notify>,
}

/// Deliveries within this window share one write of the state file: draining thousands of
/// alerts after an outage must not rewrite the whole file once per alert. A crash inside the
/// window re-sends what was delivered in it (at least once, deduplicated by receivers).
pub const SAVE_COALESCE: Duration = Duration::from_millis(250);

/// Backoff before attempt `attempts + 1`: initial * 2^(attempts-1), capped, with +-20% jitter.
pub fn backoff(d: &DeliverySettings, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(20);
    let base = d
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(d.max_backoff);
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter).min(d.max_backoff)
}

/// What a worker does with the head of its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Send it now.
    Now,
    /// Its next attempt is this far off.
    In(Duration),
    /// Older than `delivery.give_up_after`: drop it.
    Expired,
}

/// [`Due`] for `entry` at `now`.
pub fn due(entry: &OutboxEntry, now: DateTime<Utc>, d: &DeliverySettings) -> Due {
    let age = (now - entry.enqueued_at).to_std().unwrap_or_default();
    if age > d.give_up_after {
        Due::Expired
    } else if entry.next_attempt_at > now {
        Due::In((entry.next_attempt_at - now).to_std().unwrap_or_default())
    } else {
        Due::Now
    }
}

/// What a sink's worker does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Send(OutboxEntry),
    Expire(OutboxEntry),
    /// Nothing is due before this long.
    Wait(Duration),
    /// The sink's queue is empty.
    Idle,
}

/// The next step of `sink`'s worker: alerts are delivered in creation order **per incident**
/// (a resolved alert never before its firing one), and an incident whose head waits for a
/// retry never holds back another incident's alerts.
pub fn next_for_sink(
    pending: &[OutboxEntry],
    sink: &str,
    now: DateTime<Utc>,
    d: &DeliverySettings,
) -> Next {
    let mut heads = std::collections::HashSet::new();
    let mut wait: Option<Duration> = None;
    for e in pending.iter().filter(|e| e.sink == sink) {
        if !heads.insert(e.alert.incident_id.as_str()) || e.held {
            // An incident whose head is held waits for it too (order per incident).
            continue;
        }
        match due(e, now, d) {
            Due::Expired => return Next::Expire(e.clone()),
            Due::Now => return Next::Send(e.clone()),
            Due::In(w) => wait = Some(wait.map_or(w, |x| x.min(w))),
        }
    }
    wait.map_or(Next::Idle, Next::Wait)
}

/// Keep at most `max` entries per sink: when a sink's queue is over, its oldest entries that
/// are not firing alerts go first (a resolved or a repeat matters less than a page), then its
/// oldest. Returns what was dropped.
pub fn bound(pending: &mut Vec<OutboxEntry>, max: usize) -> Vec<OutboxEntry> {
    let mut per_sink: HashMap<String, usize> = HashMap::new();
    for e in pending.iter() {
        *per_sink.entry(e.sink.clone()).or_default() += 1;
    }
    let mut dropped = Vec::new();
    for (sink, count) in per_sink {
        let mut extra = count.saturating_sub(max);
        for pass_firing in [false, true] {
            let mut i = 0;
            while extra > 0 && i < pending.len() {
                let e = &pending[i];
                if e.sink == sink && (pass_firing || !e.alert.is_firing()) {
                    dropped.push(pending.remove(i));
                    extra -= 1;
                } else {
                    i += 1;
                }
            }
        }
    }
    dropped
}

/// The wait after a retryable failure: the backoff, or the receiver's `Retry-After` when it
/// asks for longer, never past `delivery.max_backoff` (a receiver asking for a day must not
/// hold the alert that long).
pub fn retry_delay(
    d: &DeliverySettings,
    backoff: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    match retry_after {
        Some(ra) => backoff.max(ra.min(d.max_backoff)),
        None => backoff,
    }
}

impl Outbox {
    pub fn new(
        store: Arc<dyn QueueStore>,
        sinks: Vec<Arc<dyn Sink>>,
        metrics: Metrics,
        delivery: DeliverySettings,
    ) -> Arc<Self> {
        let wake = sinks
            .iter()
            .map(|s| (s.name().to_string(), Arc::new(Notify::new())))
            .collect();
        let o = Arc::new(Outbox {
            store,
            sinks,
            wake,
            metrics,
            delivery,
            dirty: Arc::new(Notify::new()),
        });
        // Counters start at 0 for every sink, so `increase()` sees the first failure.
        for s in &o.sinks {
            let n = s.name();
            for status in [AlertStatus::Firing, AlertStatus::Resolved] {
                o.metrics
                    .alerts_sent_total
                    .with_label_values(&[n, status.as_str()]);
            }
            o.metrics
                .alert_delivery_failures_total
                .with_label_values(&[n]);
            for reason in ["rejected", "expired", "overflow"] {
                o.metrics
                    .alerts_dropped_total
                    .with_label_values(&[n, reason]);
            }
        }
        o.update_gauges();
        o
    }

    /// The outbox entries of `alert`: one per sink that takes its stream.
    pub fn entries_for(&self, alert: &Alert, now: chrono::DateTime<Utc>) -> Vec<OutboxEntry> {
        let shared = Arc::new(alert.clone());
        let entries: Vec<OutboxEntry> = self
            .sinks
            .iter()
            .filter(|s| s.accepts(&alert.stream))
            .map(|s| OutboxEntry {
                sink: s.name().to_string(),
                alert: shared.clone(),
                enqueued_at: now,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                held: false,
            })
            .collect();
        if entries.is_empty() {
            tracing::warn!(stream = %alert.stream, "no alert sink takes this stream; alert not sent");
        }
        entries
    }

    /// Count entries [`bound`] dropped (`alerts_dropped_total{reason="overflow"}`).
    pub fn count_overflow(&self, dropped: &[OutboxEntry]) {
        for e in dropped {
            tracing::error!(sink = %e.sink, key = %e.alert.idempotency_key(), stream = %e.alert.stream,
                "alert dropped: the sink's queue is full (delivery.max_pending)");
            self.metrics
                .alerts_dropped_total
                .with_label_values(&[&e.sink, "overflow"])
                .inc();
        }
    }

    /// Wake every sink worker (new entries were committed).
    pub fn wake_all(&self) {
        for n in self.wake.values() {
            n.notify_one();
        }
        self.update_gauges();
    }

    /// Pending alerts and the oldest one's age, per sink.
    pub fn update_gauges(&self) {
        let now = Utc::now();
        // One pass over the queue for every sink: this runs after each delivery.
        let per_sink: HashMap<String, (usize, f64)> =
            with_queue(self.store.as_ref(), |pending, _| {
                let mut per_sink: HashMap<String, (usize, f64)> = HashMap::new();
                for e in pending.iter() {
                    let age = (now - e.enqueued_at).num_milliseconds().max(0) as f64 / 1000.0;
                    let slot = match per_sink.get_mut(e.sink.as_str()) {
                        Some(slot) => slot,
                        None => per_sink.entry(e.sink.clone()).or_default(),
                    };
                    slot.0 += 1;
                    slot.1 = slot.1.max(age);
                }
                per_sink
            });
        for s in &self.sinks {
            let (count, oldest) = per_sink.get(s.name()).copied().unwrap_or_default();
            self.metrics
                .alerts_pending
                .with_label_values(&[s.name()])
                .set(count as i64);
            self.metrics
                .alert_oldest_pending_seconds
                .with_label_values(&[s.name()])
                .set(oldest);
        }
    }

    /// One delivery worker per sink, and the saver that writes what they change, until
    /// `shutdown`: the futures, for the caller to spawn and join. A worker that panics (a bug) is logged, counted and started again; after
    /// [`WORKER_RESTARTS`] panics in a row it stays down and `dead` counts it (`/healthz`
    /// then fails).
    pub fn workers(self: &Arc<Self>, shutdown: CancellationToken) -> Vec<BoxFuture<'static, ()>> {
        self.supervised_workers(shutdown, Arc::new(AtomicUsize::new(0)))
    }

    /// [`Outbox::workers`], counting dead workers in `dead`.
    pub fn supervised_workers(
        self: &Arc<Self>,
        shutdown: CancellationToken,
        dead: Arc<AtomicUsize>,
    ) -> Vec<BoxFuture<'static, ()>> {
        self.sinks
            .iter()
            .map(|s| {
                let me = self.clone();
                let sink = s.clone();
                let shutdown = shutdown.clone();
                let dead = dead.clone();
                let worker: BoxFuture<'static, ()> = Box::pin(async move {
                    let mut panics = 0;
                    loop {
                        let run = AssertUnwindSafe(me.worker(sink.clone(), shutdown.clone()))
                            .catch_unwind()
                            .await;
                        let Err(p) = run else { return };
                        panics += 1;
                        me.metrics.error(ErrorKind::Panic);
                        tracing::error!(sink = sink.name(), panics, panic = ?p.downcast_ref::<&str>(),
                            "alert delivery worker panicked; restarting it");
                        if panics >= WORKER_RESTARTS {
                            tracing::error!(sink = sink.name(), "alert delivery worker keeps panicking; it stays down");
                            dead.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                });
                worker
            })
            .chain(std::iter::once({
                let me = self.clone();
                let shutdown = shutdown.clone();
                let saver: BoxFuture<'static, ()> =
                    Box::pin(async move { me.saver(shutdown).await });
                saver
            }))
            .collect()
    }

    /// [`Outbox::workers`], each spawned.
    pub fn spawn_workers(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.workers(shutdown)
            .into_iter()
            .map(tokio::spawn)
            .collect()
    }

    /// Take `entry` off the queue; `alerts_pending` follows at once (the saver recomputes
    /// every gauge after its write: a full pass per delivery would make a drain quadratic).
    fn remove(&self, entry: &OutboxEntry) {
        let removed = with_queue(self.store.as_ref(), |pending, _| {
            let before = pending.len();
            pending.retain(|e| !e.same(entry));
            before - pending.len()
        });
        self.metrics
            .alerts_pending
            .with_label_values(&[&entry.sink])
            .sub(removed as i64);
    }

    /// The queue changed: the saver writes it soon.
    async fn persist(&self) {
        self.dirty.notify_one();
    }

    /// Write the queue when it changed, at most once per [`SAVE_COALESCE`]; once more at
    /// shutdown.
    async fn saver(&self, shutdown: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = self.dirty.notified() => false,
                _ = shutdown.cancelled() => true,
            };
            if !stopping {
                tokio::select! {
                    _ = tokio::time::sleep(SAVE_COALESCE) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            if let Err(e) = self.store.persist().await {
                tracing::error!(error = %e, "cannot persist outbox");
                self.metrics.error(ErrorKind::StateWrite);
            }
            self.update_gauges();
            if stopping || shutdown.is_cancelled() {
                return;
            }
        }
    }

    async fn worker(&self, sink: Arc<dyn Sink>, shutdown: CancellationToken) {
        let name = sink.name().to_string();
        let wake = self.wake.get(&name).cloned().unwrap_or_default();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let next = with_queue(self.store.as_ref(), |pending, _| {
                next_for_sink(pending, &name, Utc::now(), &self.delivery)
            });
            let entry = match next {
                Next::Send(e) => e,
                Next::Idle => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    }
                    continue;
                }
                Next::Wait(wait) => {
                    // A new alert (another incident) may be due before: wake up for it.
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = wake.notified() => {}
                        _ = shutdown.cancelled() => return,
                    }
                    continue;
                }
                Next::Expire(entry) => {
                    tracing::error!(sink = %name, key = %entry.alert.idempotency_key(), stream = %entry.alert.stream,
                        attempts = entry.attempts, last_error = ?entry.last_error, "alert dropped: older than delivery.give_up_after");
                    self.remove(&entry);
                    self.metrics
                        .alerts_dropped_total
                        .with_label_values(&[&name, "expired"])
                        .inc();
                    self.persist().await;
                    continue;
                }
            };
            let result = tokio::select! {
                r = sink.send(&entry.alert) => r,
                _ = shutdown.cancelled() => return,
            };
            match result {
                Ok(()) => {
                    tracing::info!(sink = %name, key = %entry.alert.idempotency_key(), stream = %entry.alert.stream,
                        status = %entry.alert.status, attempts = entry.attempts + 1, "alert delivered");
                    self.remove(&entry);
                    self.metrics
                        .alerts_sent_total
                        .with_label_values(&[&name, entry.alert.status.as_str()])
                        .inc();
                }
                Err(SendError::Retryable {
                    message,
                    retry_after,
                }) => {
                    self.metrics
                        .alert_delivery_failures_total
                        .with_label_values(&[&name])
                        .inc();
                    let attempts = entry.attempts + 1;
                    let delay = retry_delay(
                        &self.delivery,
                        backoff(&self.delivery, attempts),
                        retry_after,
                    );
                    tracing::warn!(sink = %name, key = %entry.alert.idempotency_key(), attempts, error = %message,
                        retry_in = ?delay, "alert delivery failed; will retry");
                    with_queue(self.store.as_ref(), |pending, _| {
                        if let Some(e) = pending.iter_mut().find(|e| e.same(&entry)) {
                            e.attempts = attempts;
                            e.last_error = Some(message.clone());
                            e.next_attempt_at =
                                Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                        }
                    });
                }
                Err(SendError::Permanent { message }) => {
                    self.metrics
                        .alert_delivery_failures_total
                        .with_label_values(&[&name])
                        .inc();
                    self.metrics
                        .alerts_dropped_total
                        .with_label_values(&[&name, "rejected"])
                        .inc();
                    tracing::error!(sink = %name, key = %entry.alert.idempotency_key(), error = %message,
                        "alert rejected by the sink (permanent error); kept in the state file under `rejected`");
                    self.remove(&entry);
                    let mut kept = entry.clone();
                    kept.attempts += 1;
                    kept.last_error = Some(message);
                    with_queue(self.store.as_ref(), |_, rejected| {
                        rejected.push(kept);
                        let extra = rejected.len().saturating_sub(MAX_REJECTED);
                        rejected.drain(..extra);
                    });
                }
            }
            self.persist().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> DeliverySettings {
        DeliverySettings {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            max_pending: 10_000,
        }
    }

    #[test]
    fn a_full_queue_drops_its_oldest_non_firing_alerts_first() {
        let now = Utc::now();
        let resolved = |i: &str| {
            let mut e = entry(i, 2, 0, now);
            Arc::make_mut(&mut e.alert).status = crate::model::AlertStatus::Resolved;
            e
        };
        let mut q = vec![
            entry("a", 1, 0, now),
            resolved("a"),
            entry("b", 1, 0, now),
            resolved("b"),
            entry("c", 1, 0, now),
        ];
        let mut other = entry("z", 1, 0, now);
        other.sink = "slack".into();
        q.push(other);
        let dropped = bound(&mut q, 3);
        let keys: Vec<String> = dropped.iter().map(|e| e.alert.idempotency_key()).collect();
        assert_eq!(keys, vec!["a:2", "b:2"], "non-firing first, oldest first");
        assert_eq!(q.len(), 4, "three for hook, the other sink untouched");
        let dropped = bound(&mut q, 1);
        assert_eq!(dropped.len(), 2, "then the oldest firing ones");
        assert_eq!(q.iter().filter(|e| e.sink == "hook").count(), 1);
        assert_eq!(
            q.iter()
                .find(|e| e.sink == "hook")
                .unwrap()
                .alert
                .incident_id,
            "c"
        );
    }

    #[test]
    fn due_sends_waits_or_expires() {
        let now = Utc::now();
        let mut e = OutboxEntry {
            sink: "s".into(),
            alert: crate::plan::alerts::test_alert(now).into(),
            enqueued_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            held: false,
        };
        assert_eq!(due(&e, now, &delivery()), Due::Now);
        e.next_attempt_at = now + chrono::Duration::seconds(5);
        assert_eq!(due(&e, now, &delivery()), Due::In(Duration::from_secs(5)));
        e.enqueued_at = now - chrono::Duration::seconds(3601);
        assert_eq!(due(&e, now, &delivery()), Due::Expired);
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_max_backoff() {
        let d = delivery();
        let b = Duration::from_secs(4);
        assert_eq!(retry_delay(&d, b, None), b);
        assert_eq!(retry_delay(&d, b, Some(Duration::from_secs(1))), b);
        assert_eq!(
            retry_delay(&d, b, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        // `Retry-After: 86400` does not hold the alert for a day.
        assert_eq!(
            retry_delay(&d, b, Some(Duration::from_secs(86_400))),
            Duration::from_secs(60)
        );
    }

    fn entry(incident: &str, seq: u32, next_in_s: i64, now: DateTime<Utc>) -> OutboxEntry {
        let mut a = crate::plan::alerts::test_alert(now);
        a.incident_id = incident.into();
        a.sequence = seq;
        OutboxEntry {
            sink: "hook".into(),
            alert: a.into(),
            enqueued_at: now,
            attempts: 0,
            next_attempt_at: now + chrono::Duration::seconds(next_in_s),
            last_error: None,
            held: false,
        }
    }

    #[test]
    fn one_incident_waiting_for_a_retry_never_holds_back_another() {
        let now = Utc::now();
        let d = delivery();
        // inc-a's firing alert waits an hour (a receiver that keeps failing it); inc-a's
        // resolved alert must wait behind it; inc-b's alert goes now.
        let q = vec![
            entry("inc-a", 1, 3600, now),
            entry("inc-a", 2, 0, now),
            entry("inc-b", 1, 0, now),
        ];
        match next_for_sink(&q, "hook", now, &d) {
            Next::Send(e) => assert_eq!(e.alert.idempotency_key(), "inc-b:1"),
            other => panic!("{other:?}"),
        }
        // Only inc-a's head left: wait for it, never send its second alert first.
        let q = vec![entry("inc-a", 1, 3600, now), entry("inc-a", 2, 0, now)];
        assert_eq!(
            next_for_sink(&q, "hook", now, &d),
            Next::Wait(Duration::from_secs(3600))
        );
        assert_eq!(next_for_sink(&[], "hook", now, &d), Next::Idle);
        // Other sinks' entries are not this worker's.
        let mut other = entry("inc-c", 1, 0, now);
        other.sink = "slack".into();
        assert_eq!(next_for_sink(&[other], "hook", now, &d), Next::Idle);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let d = delivery();
        let b1 = backoff(&d, 1);
        assert!(b1 >= Duration::from_millis(1600) && b1 <= Duration::from_millis(2400));
        let b3 = backoff(&d, 3);
        assert!(b3 >= Duration::from_millis(6400) && b3 <= Duration::from_millis(9600));
        assert!(backoff(&d, 30) <= Duration::from_secs(60));
    }

    struct Panicking;

    #[async_trait::async_trait]
    impl Sink for Panicking {
        fn name(&self) -> &str {
            "boom"
        }
        fn kind(&self) -> &'static str {
            "webhook"
        }
        fn accepts(&self, _: &str) -> bool {
            true
        }
        async fn send(&self, _: &Alert) -> Result<(), SendError> {
            panic!("a bug in a sink");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_keeps_panicking_is_restarted_then_reported_dead() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = crate::state::StateStore::open(&dir.path().join("s.json")).unwrap();
        let store = Arc::new(store);
        let metrics = Metrics::new();
        let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Panicking)];
        let outbox = Outbox::new(store.clone(), sinks, metrics.clone(), delivery());
        let now = Utc::now();
        let entries = outbox.entries_for(&crate::plan::alerts::test_alert(now), now);
        store.with(|s| s.outbox.extend(entries));
        let dead = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let mut workers = outbox.supervised_workers(stop.clone(), dead.clone());
        // The last future is the saver: it runs until shutdown.
        let saver = workers.pop().unwrap();
        futures::future::join_all(workers).await;
        stop.cancel();
        saver.await;
        assert_eq!(dead.load(Ordering::SeqCst), 1);
        assert_eq!(
            metrics.errors_total.with_label_values(&["panic"]).get(),
            u64::from(WORKER_RESTARTS)
        );
        // The alert is still there to send once the bug is fixed.
        assert_eq!(store.snapshot().outbox.len(), 1);
    }
}
