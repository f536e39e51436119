//! The monitor: the I/O shell around the pure pipeline. One cycle refreshes the inventory,
//! polls CloudWatch, assesses each stream, runs the diagnoses the plan asks for, carries out
//! each stream's [`Plan`] (commit, save, queue, log) and publishes the report and the series.
//!
//! Decisions are taken in `detect` and `plan`; this file only reads, stores and sends.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::publish::StreamSeries;
use crate::alert::alertmanager::OpenIncidents;
use crate::alert::outbox::{Outbox, OutboxEntry};
use crate::alert::Sink;
use crate::aws::{FirehoseApi, MetricsApi};
use crate::config::Settings;
use crate::detect::{self, Assessment};
use crate::diagnose::{checks, Diagnose};
use crate::model::{ErrorKind, Health, MetricKind, StreamMetrics, Window};
use crate::plan::{self, Diagnosed, Plan, StreamCycle};
use crate::poll;
use crate::poll::cost::{self, CostMeter};
use crate::poll::inventory::{self, Entry, Inventory};
use crate::report::{Report, StreamReport};
use crate::state::{StateError, StateStore};
use crate::telemetry::metrics::Metrics;

/// Clears the "a cycle is running" flag when dropped.
struct PollingFlag<'a>(&'a AtomicBool);

impl Drop for PollingFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The text of a panic payload.
pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// The AWS reads a cycle needs, so tests can substitute them.
pub trait CycleApi: FirehoseApi + MetricsApi {}
impl<T: FirehoseApi + MetricsApi> CycleApi for T {}

/// What the HTTP server shows: the last report, and whether a cycle has reached AWS.
#[derive(Clone)]
pub struct Published {
    pub report: Arc<RwLock<Report>>,
    pub ready: Arc<AtomicBool>,
}

/// When the inventory was last refreshed, and whether that refresh reached AWS.
#[derive(Default)]
struct Refreshed {
    at: Option<Instant>,
    reached_aws: bool,
    /// The stream listing (discovery) succeeded, or there is none.
    listing_ok: bool,
}

/// Everything one cycle works with.
pub struct Monitor {
    pub settings: Settings,
    pub metrics: Metrics,
    pub store: Arc<StateStore>,
    pub outbox: Arc<Outbox>,
    pub published: Published,
    inventory: Inventory,
    api: Arc<dyn CycleApi>,
    diagnoser: Arc<dyn Diagnose>,
    /// A cycle is running: a tick now is skipped.
    polling: AtomicBool,
    refreshed: Mutex<Refreshed>,
    /// The newest diagnosis of each stream with an open incident.
    diagnoses: Mutex<HashMap<String, Diagnosed>>,
    series: StreamSeries,
    /// When every metric of every stream was last read (two-phase polling).
    last_full_read: Mutex<Option<DateTime<Utc>>>,
    /// Streams whose last `DataFreshness` reading was above half their grace: read in full
    /// every cycle until it falls, so a growing backlog is not left to the slow full read.
    rising_freshness: Mutex<std::collections::BTreeSet<String>>,
    cost: Mutex<CostMeter>,
    /// Queries per `GetMetricData` call that CloudWatch answers in time.
    call_size: poll::CallSize,
}

impl Monitor {
    /// Open (and lock) the state file and build the outbox over `sinks`.
    pub fn new(
        settings: Settings,
        metrics: Metrics,
        api: Arc<dyn CycleApi>,
        diagnoser: Arc<dyn Diagnose>,
        sinks: Vec<Arc<dyn Sink>>,
    ) -> Result<Arc<Monitor>, StateError> {
        let (store, warning) = StateStore::open(&settings.state.path)?;
        if let Some(w) = warning {
            tracing::error!("{w}");
            metrics.error(ErrorKind::StateCorrupt);
        }
        let store = Arc::new(store);
        let outbox = Outbox::new(
            store.clone(),
            sinks,
            metrics.clone(),
            settings.delivery.clone(),
        );
        // Validated at load: the schedule parses.
        let cycles_per_month =
            cost::cycles_per_30_days(&settings.schedule.poll, Utc::now()).unwrap_or(0.0);
        let sharding = settings.sharding;
        if sharding.total > 1 {
            tracing::info!(
                shard = sharding.index,
                of = sharding.total,
                "watching the streams of one shard"
            );
        }
        let open = store.snapshot().incidents.len();
        if open > 0 {
            tracing::info!(open, "restored open incidents from the state file");
        }
        Ok(Arc::new(Monitor {
            settings,
            metrics,
            store,
            outbox,
            published: Published {
                report: Arc::new(RwLock::new(Report::empty())),
                ready: Arc::new(AtomicBool::new(false)),
            },
            inventory: Inventory::sharded(sharding),
            api,
            diagnoser,
            polling: AtomicBool::new(false),
            refreshed: Mutex::new(Refreshed::default()),
            diagnoses: Mutex::new(HashMap::new()),
            series: StreamSeries::default(),
            last_full_read: Mutex::new(None),
            rising_freshness: Mutex::new(Default::default()),
            cost: Mutex::new(CostMeter::new(cycles_per_month)),
            call_size: poll::CallSize::default(),
        }))
    }

    /// The open incidents as the Alertmanager re-send loop reads them: from the state, when
    /// called (the loop never holds the store).
    pub fn open_incidents(&self) -> OpenIncidents {
        let store = self.store.clone();
        let firing = Arc::new(move || {
            store.with(|s| {
                s.incidents
                    .values()
                    .filter_map(|i| i.last_firing.as_ref().map(|f| f.to_alert()))
                    .collect()
            })
        });
        let store = self.store.clone();
        let is_open =
            Arc::new(move |id: &str| store.with(|s| s.incidents.values().any(|i| i.id == id)));
        OpenIncidents { firing, is_open }
    }

    /// A scheduler tick: run a cycle unless one is still running (then count a skip).
    /// A cycle that panics (a bug) is logged and counted, and the next tick runs as usual.
    pub async fn tick(self: &Arc<Self>, shutdown: &CancellationToken) {
        if self.polling.swap(true, Ordering::SeqCst) {
            self.metrics.polls_skipped_total.inc();
            tracing::warn!("previous poll still running; this tick is skipped");
            return;
        }
        // Cleared however the cycle ends: normally, abandoned, or by a panic.
        let _polling = PollingFlag(&self.polling);
        let cycle = std::panic::AssertUnwindSafe(self.cycle(Utc::now())).catch_unwind();
        tokio::select! {
            r = cycle => {
                if let Err(panic) = r {
                    tracing::error!(panic = %panic_message(&panic), "poll cycle panicked; the next tick runs as usual");
                    self.metrics.error(ErrorKind::Panic);
                }
            }
            _ = shutdown.cancelled() => tracing::info!("poll abandoned for shutdown"),
        }
    }

    /// Refresh the inventory when `streams.refresh` has passed since the last one, or now.
    pub async fn refresh_inventory(&self, force: bool) {
        let due = {
            let r = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
            force
                || r.at
                    .is_none_or(|t| t.elapsed() >= self.settings.streams.refresh)
        };
        if !due {
            return;
        }
        let open: std::collections::BTreeSet<String> =
            self.store.with(|s| s.incidents.keys().cloned().collect());
        let listed = self
            .inventory
            .refresh_keeping(self.api.as_ref(), &self.settings.streams, &open)
            .await;
        if let Err(e) = &listed {
            self.metrics.error(e.kind());
        }
        let entries = self.inventory.entries();
        let mut r = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
        r.reached_aws = listed.is_ok() && inventory::reached_aws(&entries);
        r.listing_ok = listed.is_ok();
        r.at = Some(Instant::now());
    }

    fn rising_freshness(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.rising_freshness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Remember the streams whose `DataFreshness`, where it was read, is above half their
    /// grace (see [`Monitor::rising_freshness`]).
    fn note_freshness(&self, targets: &[poll::Target], polled: &poll::PollResult, w: &Window) {
        let mut rising = self.rising_freshness();
        for (t, r) in targets.iter().zip(&polled.streams) {
            let Ok(sm) = r else { continue };
            if sm.unread.contains(&MetricKind::Freshness) {
                continue;
            }
            let grace = detect::grace_seconds(&t.shape, w.period_seconds, &self.settings.detection);
            if sm
                .newest(MetricKind::Freshness)
                .is_some_and(|f| f > grace as f64 / 2.0)
            {
                rising.insert(t.name.clone());
            } else {
                rising.remove(&t.name);
            }
        }
        rising.retain(|name| targets.iter().any(|t| &t.name == name));
    }

    /// A full read is due: never done (or never completed), or `schedule.full_read_every`
    /// has passed since the last one.
    fn full_read_due(&self, now: DateTime<Utc>) -> bool {
        let every = chrono::Duration::from_std(self.settings.schedule.full_read_every)
            .unwrap_or(chrono::Duration::MAX);
        self.last_full_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|last| now - last >= every || now < last)
    }

    /// One poll cycle at `now`.
    pub async fn cycle(&self, now: DateTime<Utc>) {
        let started = Instant::now();
        self.refresh_inventory(false).await;
        let entries = self.inventory.entries();
        let targets = inventory::targets(&entries);
        let window = detect::window_at(&self.settings, now, targets.iter().map(|t| &t.shape));

        let full_read = self.full_read_due(now);
        let mut open: std::collections::BTreeSet<String> =
            self.store.with(|s| s.incidents.keys().cloned().collect());
        open.extend(self.rising_freshness().iter().cloned());
        let detection = &self.settings.detection;
        let force_full = |t: &poll::Target| open.contains(&t.name);
        let settles = |t: &poll::Target, sm: &StreamMetrics| {
            detect::success_settles(sm, &window, &t.shape, detection)
        };
        let reader = poll::Reader {
            api: self.api.as_ref(),
            metrics: &self.metrics,
            target: poll::DEFAULT_TARGET,
            call_size: &self.call_size,
        };
        let mut polled = reader
            .poll_two_phase(
                &targets,
                window,
                &poll::TwoPhase {
                    full_read,
                    force_full: &force_full,
                    settles: &settles,
                },
            )
            .await;
        if !polled.complete() {
            self.metrics.polls_failed_total.inc();
        }
        // Done even when some call failed: a call that fails every cycle must not make every
        // cycle a full read (three times the cost, unseen).
        if full_read {
            *self
                .last_full_read
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(now);
        }
        self.note_freshness(&targets, &polled, &window);
        let dollars = self
            .cost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(polled.queries as u64);
        self.metrics
            .cloudwatch_cost_dollars_per_month
            .with_label_values(&[poll::DEFAULT_TARGET])
            .set(dollars);
        let complete = polled.complete();
        let by_name = polled.take_by_name(&targets);
        self.series.begin_cycle();

        // Streams are advanced concurrently (diagnosis is the slow part), in a bounded number,
        // and reported in inventory order.
        // (Owned names and a shared map: a borrowed iterator here makes the cycle's future not
        // `Send` for every lifetime, which `tokio::spawn` needs.)
        let names: Vec<String> = entries.keys().cloned().collect();
        let reports: Vec<StreamReport> = futures::stream::iter(names)
            .map(|name| {
                let by_name = &by_name;
                let entries = entries.clone();
                async move {
                    let name = &name;
                    // Always there: the names are the map's own keys.
                    let entry = entries.get(name)?;
                    let (assessment, sm) = detect::assess_entry(
                        entry,
                        by_name.get(name),
                        &window,
                        &self.settings.detection,
                    );
                    let report = self
                        .stream(name, entry, &assessment, sm.as_ref(), window, now)
                        .await;
                    self.series
                        .publish(&self.metrics, &report, &assessment, sm.as_ref());
                    Some(report)
                }
            })
            .buffered(self.settings.diagnosis.concurrency.max(1))
            .filter_map(futures::future::ready)
            .collect()
            .await;
        self.close_gone(&entries, now).await;
        self.series.unpublish_gone(&self.metrics);
        self.metrics.streams_monitored.set(reports.len() as i64);
        if let Ok(mut st) = self.published.report.write() {
            let mut report = Report::new(now, reports);
            report.skipped = self.inventory.skipped();
            report.window = Some(crate::report::ReportWindow {
                start: window.start,
                end: window.end,
            });
            *st = report;
        }
        self.save().await;
        self.outbox.update_gauges();
        let elapsed = started.elapsed();
        self.metrics
            .poll_duration_seconds
            .observe(elapsed.as_secs_f64());
        // Successful: every GetMetricData call succeeded and AWS was reached at all.
        let reached = self
            .refreshed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reached_aws;
        let successful = complete && reached;
        if successful {
            self.metrics
                .last_successful_poll_timestamp_seconds
                .set(Utc::now().timestamp_millis() as f64 / 1000.0);
            self.published.ready.store(true, Ordering::SeqCst);
        }
        tracing::info!(
            streams = entries.len(),
            get_metric_data_calls = polled.calls,
            queries = polled.queries,
            full_read = polled.full_read,
            read_in_full = polled.second_phase,
            complete = successful,
            elapsed_ms = elapsed.as_millis() as u64,
            "poll finished"
        );
    }

    /// One stream: diagnose when the plan wants it, plan, carry out the plan.
    async fn stream(
        &self,
        name: &str,
        entry: &Entry,
        a: &Assessment,
        sm: Option<&StreamMetrics>,
        window: Window,
        now: DateTime<Utc>,
    ) -> StreamReport {
        let desc = entry.description();
        let stored = self.store.with(|s| s.incidents.get(name).cloned());
        // An incident could open: did one under the same id (the same bad run) close lately?
        let reopened_seq = match (&stored, a.health) {
            (None, Health::Failing | Health::Stalled | Health::Degraded) => {
                let id = plan::opening_id(name, desc, a, now, self.settings.sharding.total);
                self.store.with(|s| s.closed.get(&id).map(|c| c.seq))
            }
            _ => None,
        };
        let remembered = self.diagnoses().get(name).cloned();
        let cfg = &self.settings.detection;
        let fresh = if plan::wants_diagnosis(stored.as_ref(), a, remembered.is_some(), now, cfg) {
            let t0 = Instant::now();
            // Without a description the diagnosis says so (incomplete), and the firing alert
            // goes out after its wait with what is known.
            let diagnosis = match desc {
                Some(d) => self.diagnoser.diagnose(d, window, now).await,
                None => checks::missing_stream(name, entry),
            };
            self.metrics
                .diagnosis_duration_seconds
                .observe(t0.elapsed().as_secs_f64());
            Some(Diagnosed { at: now, diagnosis })
        } else {
            None
        };
        let p = plan::advance(
            &StreamCycle {
                name,
                description: desc,
                assessment: a,
                metrics: sm,
                stored: stored.as_ref(),
                fresh: fresh.as_ref(),
                remembered: remembered.as_ref(),
                reopened_seq,
                shards: self.settings.sharding.total,
            },
            now,
            cfg,
        );
        if p.opened {
            tracing::warn!(stream = name, health = %a.health, reason = %a.reason, "incident opened");
        }
        if let Some(d) = fresh {
            self.diagnoses().insert(name.to_string(), d);
        }
        self.carry_out(name, &p, now).await;
        if p.closed {
            tracing::info!(stream = name, "incident resolved");
            self.diagnoses().remove(name);
        }
        p.report
    }

    /// Commit the plan's incident and its alerts in one step, then write the state file, then
    /// wake the sink workers.
    async fn carry_out(&self, name: &str, p: &Plan, now: DateTime<Utc>) {
        if !p.changed {
            return;
        }
        // Held until written: a worker never sends what a crash could forget.
        let entries: Vec<OutboxEntry> = p
            .alerts
            .iter()
            .flat_map(|al| self.outbox.entries_for(al, now))
            .map(|e| OutboxEntry { held: true, ..e })
            .collect();
        let max_pending = self.settings.delivery.max_pending;
        let dropped = self.store.with(|s| {
            match &p.incident {
                Some(inc) => {
                    s.incidents.insert(name.to_string(), inc.clone());
                }
                None => {
                    s.incidents.remove(name);
                }
            }
            if p.closed {
                if let Some(last) = p.alerts.iter().max_by_key(|a| a.sequence) {
                    s.remember_closed(&last.incident_id, last.sequence, now);
                }
            }
            s.outbox.extend(entries);
            crate::alert::outbox::bound(&mut s.outbox, max_pending)
        });
        self.outbox.count_overflow(&dropped);
        if p.alerts.is_empty() {
            return;
        }
        self.save().await;
        for al in &p.alerts {
            tracing::warn!(stream = name, status = %al.status, key = %al.idempotency_key(),
                reason = %al.reason, root_cause = ?al.root_cause.as_ref().map(|r| &r.check), "alert queued");
        }
        self.outbox.wake_all();
    }

    /// Resolve the incidents of streams that were deleted or are no longer selected.
    async fn close_gone(&self, entries: &BTreeMap<String, Entry>, now: DateTime<Utc>) {
        let listing_ok = self
            .refreshed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .listing_ok;
        let gone = self
            .store
            .with(|s| plan::close_gone(&s.incidents, entries, listing_ok, now));
        if gone.is_empty() {
            return;
        }
        let mut queued = Vec::new();
        for g in &gone {
            match &g.alert {
                Some(a) => queued.extend(
                    self.outbox
                        .entries_for(a, now)
                        .into_iter()
                        .map(|e| OutboxEntry { held: true, ..e }),
                ),
                None => {
                    tracing::info!(stream = %g.stream, "incident dropped before its first alert: the stream is gone")
                }
            }
            tracing::warn!(stream = %g.stream, "incident closed: the stream is gone");
        }
        let dropped = self.store.with(|s| {
            for g in &gone {
                s.incidents.remove(&g.stream);
                if let Some(a) = &g.alert {
                    s.remember_closed(&a.incident_id, a.sequence, now);
                }
            }
            s.outbox.extend(queued);
            crate::alert::outbox::bound(&mut s.outbox, self.settings.delivery.max_pending)
        });
        self.outbox.count_overflow(&dropped);
        self.save().await;
        self.outbox.wake_all();
    }

    /// Write the state; once written, the alerts held for it may be sent.
    async fn save(&self) {
        // Entries committed before this save are in what it writes; later ones wait for the
        // next save.
        let held: Vec<(String, String)> = self.store.with(|s| {
            s.outbox
                .iter()
                .filter(|e| e.held)
                .map(|e| (e.sink.clone(), e.alert.idempotency_key()))
                .collect()
        });
        match self.store.save().await {
            Ok(()) => self.store.with(|s| {
                for e in s.outbox.iter_mut().filter(|e| e.held) {
                    if held.contains(&(e.sink.clone(), e.alert.idempotency_key())) {
                        e.held = false;
                    }
                }
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot write state file; new alerts wait until it can be");
                self.metrics.error(ErrorKind::StateWrite);
            }
        }
    }

    fn diagnoses(&self) -> std::sync::MutexGuard<'_, HashMap<String, Diagnosed>> {
        self.diagnoses.lock().unwrap_or_else(|p| p.into_inner())
    }
}
