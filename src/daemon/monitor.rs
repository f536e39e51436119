//! The monitor: the I/O shell around the pure pipeline. One cycle refreshes the inventory,
//! polls CloudWatch, assesses each stream, runs the diagnoses the plan asks for, carries out
//! each stream's [`Plan`] (commit, save, queue, log) and publishes the report and the series.
//!
//! Decisions are taken in `detect` and `plan`; this file only reads, stores and sends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::publish;
use super::scope::{Scope, ScopeParts};
use crate::alert::alertmanager::OpenIncidents;
use crate::alert::outbox::{Outbox, OutboxEntry};
use crate::alert::Sink;
use crate::aws::{FirehoseApi, MetricsApi};
use crate::config::Settings;
use crate::detect::{self, Assessment};
use crate::diagnose::{changes, checks};
use crate::model::{ErrorKind, Health, MetricKind, StreamMetrics, StreamRef, Window};
use crate::plan::{self, Diagnosed, Plan, StreamCycle};
use crate::poll;
use crate::poll::cost::{self, CostMeter};
use crate::poll::inventory::{self, Entry};
use crate::report::{Report, StreamReport};
use crate::state::{self, StateError, StateStore};
use crate::telemetry::metrics::Metrics;

/// Clears the "a cycle (or an audit) is running" flag when dropped.
pub(super) struct PollingFlag<'a>(pub(super) &'a AtomicBool);

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

/// One watched stream: where it is, which scope reads it, what is known of it.
pub struct Watched {
    pub stream: StreamRef,
    /// Index into [`Monitor::scopes`].
    pub scope: usize,
    pub entry: Entry,
}

/// Every scope's streams, keyed by stream ARN; rebuilt when an inventory is refreshed.
type WatchedMap = BTreeMap<String, Watched>;

/// Everything one cycle works with.
pub struct Monitor {
    pub settings: Settings,
    pub metrics: Metrics,
    pub store: Arc<StateStore>,
    pub outbox: Arc<Outbox>,
    pub published: Published,
    /// One per (target, region).
    pub(super) scopes: Vec<Scope>,
    watched: RwLock<Arc<WatchedMap>>,
    /// A cycle is running: a tick now is skipped.
    polling: AtomicBool,
    /// An audit is running: a scheduled one now is skipped.
    pub(super) auditing: AtomicBool,
    /// The newest diagnosis of each stream (by ARN) with an open incident.
    diagnoses: Mutex<HashMap<String, Diagnosed>>,
    /// When every metric of every stream was last read (two-phase polling).
    last_full_read: Mutex<Option<DateTime<Utc>>>,
    /// Streams (by ARN) whose last `DataFreshness` reading was above half their grace: read
    /// in full every cycle until it falls, so a growing backlog is not left to the slow full
    /// read.
    rising_freshness: Mutex<BTreeSet<String>>,
    /// The CloudWatch spend of each target.
    cost: Mutex<BTreeMap<String, CostMeter>>,
    cycles_per_month: f64,
    /// Paces CloudTrail lookups: two calls a second per account and region, for the process.
    pacer: changes::Pacer,
}

/// What one scope's poll returned.
struct ScopePoll {
    targets: Vec<poll::Target>,
    polled: poll::PollResult,
}

impl Monitor {
    /// Open (and lock) the state file and build the outbox over `sinks`.
    pub fn new(
        settings: Settings,
        metrics: Metrics,
        scopes: Vec<ScopeParts>,
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
        let refresh = settings.streams.refresh;
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
            scopes: scopes
                .into_iter()
                .map(|mut p| {
                    // `streams.refresh` applies to every target.
                    p.target.streams.refresh = refresh;
                    Scope::new(p, sharding)
                })
                .collect(),
            watched: RwLock::new(Arc::new(BTreeMap::new())),
            polling: AtomicBool::new(false),
            auditing: AtomicBool::new(false),
            diagnoses: Mutex::new(HashMap::new()),
            last_full_read: Mutex::new(None),
            rising_freshness: Mutex::new(Default::default()),
            cost: Mutex::new(BTreeMap::new()),
            cycles_per_month,
            pacer: changes::Pacer::default(),
        }))
    }

    /// The open incidents as the Alertmanager re-send loop reads them: from the state, when
    /// called (the loop never holds the store).
    pub fn open_incidents(&self) -> OpenIncidents {
        let store = self.store.clone();
        let firing = Arc::new(move || {
            store.with(|s| {
                let risks = s.risks.values().flat_map(|m| m.values()).map(|o| {
                    plan::risks::alert(
                        o,
                        crate::model::AlertStatus::Firing,
                        Health::Healthy,
                        o.since,
                    )
                });
                s.incidents
                    .values()
                    .filter_map(|i| i.last_firing.as_ref().map(|f| f.to_alert()))
                    .chain(risks)
                    .collect()
            })
        });
        let store = self.store.clone();
        let is_open = Arc::new(move |id: &str| {
            store.with(|s| {
                s.incidents.values().any(|i| i.id == id)
                    || s.risks
                        .values()
                        .flat_map(|m| m.values())
                        .any(|o| o.id == id)
            })
        });
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

    /// Refresh each scope's inventory when `streams.refresh` has passed since its last one
    /// (or its credentials failed last time), or every one now; then rebuild the watched map.
    pub async fn refresh_inventory(&self, force: bool) {
        let due: Vec<&Scope> = self
            .scopes
            .iter()
            .filter(|s| force || s.refresh_due())
            .collect();
        if due.is_empty() {
            return;
        }
        let open: BTreeSet<String> = self.store.with(|s| s.incidents.keys().cloned().collect());
        let open = &open;
        let results = futures::future::join_all(
            due.iter()
                .map(|scope| async move { scope.refresh(open).await }),
        )
        .await;
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            self.metrics.error(e.kind());
        }
        self.rebuild_watched();
    }

    /// The watched map from every scope's inventory; incidents of older state files, keyed by
    /// name, move to their stream's ARN.
    fn rebuild_watched(&self) {
        let mut map = WatchedMap::new();
        for (i, scope) in self.scopes.iter().enumerate() {
            for (name, entry) in scope.inventory.entries().iter() {
                if !scope.knows_account() && entry.description().is_none() {
                    // No ARN can be built without the account: shown once it is known.
                    continue;
                }
                let stream = scope.locate(name, entry);
                map.insert(
                    stream.arn.clone(),
                    Watched {
                        stream,
                        scope: i,
                        entry: entry.clone(),
                    },
                );
            }
        }
        self.store.with(|s| {
            s.rekey_by_name(&|name| {
                let mut found = map.values().filter(|w| w.stream.name == name);
                match (found.next(), found.next()) {
                    (Some(w), None) => Some(w.stream.arn.clone()),
                    _ => None,
                }
            })
        });
        if let Ok(mut w) = self.watched.write() {
            *w = Arc::new(map);
        }
    }

    /// The streams watched now, by ARN.
    pub fn watched(&self) -> Arc<WatchedMap> {
        self.watched.read().map(|w| w.clone()).unwrap_or_default()
    }

    /// Every scope as the status shows it.
    pub fn scope_statuses(&self) -> Vec<crate::report::TargetStatus> {
        self.scopes.iter().map(Scope::status).collect()
    }

    fn rising_freshness(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.rising_freshness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Remember the streams whose `DataFreshness`, where it was read, is above half their
    /// grace (see [`Monitor::rising_freshness`]).
    fn note_freshness(&self, scope: &Scope, p: &ScopePoll, w: &Window) {
        let mut rising = self.rising_freshness();
        for (t, r) in p.targets.iter().zip(&p.polled.streams) {
            let Ok(sm) = r else { continue };
            if sm.unread.contains(&MetricKind::Freshness) {
                continue;
            }
            let grace = detect::grace_seconds(&t.shape, w.period_seconds, &self.settings.detection);
            let above = sm
                .newest(MetricKind::Freshness)
                .is_some_and(|f| f > grace as f64 / 2.0);
            // The ARN is built only when the set changes (it is empty most of the time).
            if above {
                rising.insert(scope.stream_ref(&t.name).arn);
            } else if !rising.is_empty() {
                rising.remove(&scope.stream_ref(&t.name).arn);
            }
        }
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

    /// Poll one scope: two phases of `GetMetricData` over its streams. A scope whose
    /// credentials failed is not called: its streams get that error (they are `unknown`).
    async fn poll_scope(
        &self,
        scope: &Scope,
        window: Window,
        full_read: bool,
        open: &BTreeSet<String>,
    ) -> ScopePoll {
        let entries = scope.inventory.entries();
        let targets = inventory::targets(&entries);
        if let Some(e) = scope.blind() {
            let polled = poll::PollResult::failed(targets.len(), e);
            return ScopePoll { targets, polled };
        }
        let detection = &self.settings.detection;
        // The names of this scope's streams to read in full (few: open incidents, rising
        // freshness), so no ARN is built per stream.
        let open: BTreeSet<&str> = open
            .iter()
            .filter(|k| scope.holds(k))
            .filter_map(|k| k.rsplit_once("deliverystream/").map(|(_, n)| n))
            .collect();
        let force_full = |t: &poll::Target| open.contains(t.name.as_str());
        let settles = |t: &poll::Target, sm: &StreamMetrics| {
            detect::success_settles(sm, &window, &t.shape, detection)
        };
        let reader = poll::Reader {
            api: scope.api.as_ref(),
            metrics: &self.metrics,
            target: &scope.target,
            region: &scope.region,
            call_size: &scope.call_size,
        };
        let polled = reader
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
        ScopePoll { targets, polled }
    }

    /// One poll cycle at `now`.
    pub async fn cycle(&self, now: DateTime<Utc>) {
        let started = Instant::now();
        self.refresh_inventory(false).await;
        let watched = self.watched();
        let shapes: Vec<crate::model::Shape> = watched
            .values()
            .filter_map(|w| w.entry.description().map(|d| d.shape()))
            .collect();
        let window = detect::window_at(&self.settings, now, shapes.iter());

        let full_read = self.full_read_due(now);
        let mut open: BTreeSet<String> = self.store.with(|s| s.incidents.keys().cloned().collect());
        open.extend(self.rising_freshness().iter().cloned());
        let mut polls = futures::future::join_all(
            self.scopes
                .iter()
                .map(|scope| self.poll_scope(scope, window, full_read, &open)),
        )
        .await;
        // Done even when some call failed: a call that fails every cycle must not make every
        // cycle a full read (three times the cost, unseen).
        if full_read {
            *self
                .last_full_read
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(now);
        }
        let mut complete = true;
        let (mut calls, mut queries, mut second_phase) = (0, 0, 0);
        let mut per_target: BTreeMap<&str, u64> = BTreeMap::new();
        for (scope, p) in self.scopes.iter().zip(polls.iter_mut()) {
            self.note_freshness(scope, p, &window);
            // A blind scope was not polled: its streams are unknown, but no call failed.
            complete &= scope.blind().is_some() || p.polled.complete();
            calls += p.polled.calls;
            queries += p.polled.queries;
            second_phase += p.polled.second_phase;
            *per_target.entry(scope.target.as_str()).or_default() += p.polled.queries as u64;
        }
        // Each scope's results by stream name (index: the scope's; the names are its targets').
        let by_name: Vec<HashMap<&str, Result<Arc<StreamMetrics>, crate::aws::AwsError>>> = polls
            .iter_mut()
            .map(|p| p.polled.take_by_name(&p.targets))
            .collect();
        self.rising_freshness()
            .retain(|arn| watched.contains_key(arn));
        if !complete {
            self.metrics.polls_failed_total.inc();
        }
        {
            let mut meters = self.cost.lock().unwrap_or_else(|p| p.into_inner());
            for (target, q) in per_target {
                let dollars = meters
                    .entry(target.to_string())
                    .or_insert_with(|| CostMeter::new(self.cycles_per_month))
                    .record(q);
                self.metrics
                    .cloudwatch_cost_dollars_per_month
                    .with_label_values(&[target])
                    .set(dollars);
            }
        }
        // The streams this cycle does not publish lose their series at its end.
        self.metrics.streams.begin_cycle();

        // Streams are advanced concurrently (diagnosis is the slow part), in a bounded number,
        // and reported in inventory order.
        // (Owned keys and a shared map: a borrowed iterator here makes the cycle's future not
        // `Send` for every lifetime, which `tokio::spawn` needs.)
        let arns: Vec<String> = watched.keys().cloned().collect();
        let reports: Vec<StreamReport> = futures::stream::iter(arns)
            .map(|arn| {
                let by_name = &by_name;
                let watched = watched.clone();
                async move {
                    // Always there: the keys are the map's own.
                    let w = watched.get(&arn)?;
                    let (assessment, sm) = detect::assess_entry(
                        &w.entry,
                        by_name[w.scope].get(w.stream.name.as_str()),
                        &window,
                        &self.settings.detection,
                    );
                    let report = self.stream(w, &assessment, sm.as_ref(), window, now).await;
                    publish::publish(&self.metrics, &report, &assessment, sm.as_deref());
                    Some(report)
                }
            })
            .buffered(self.settings.diagnosis.concurrency.max(1))
            .filter_map(futures::future::ready)
            .collect()
            .await;
        self.close_gone(&watched, now).await;
        self.metrics.streams.retain_published();
        self.metrics.streams_monitored.set(reports.len() as i64);
        let statuses = self.scope_statuses();
        // Rebuilt each cycle: a scope's account label changes once it is learnt.
        self.metrics.target_up.reset();
        for st in &statuses {
            self.metrics
                .target_up
                .with_label_values(&[&st.target, &st.region, &st.account])
                .set(i64::from(st.status == "ok"));
        }
        if let Ok(mut st) = self.published.report.write() {
            let mut report = Report::new(now, reports);
            report.skipped = self
                .scopes
                .iter()
                .flat_map(|s| s.inventory.skipped())
                .collect();
            report.targets = statuses;
            report.window = Some(crate::report::ReportWindow {
                start: window.start,
                end: window.end,
            });
            *st = report;
        }
        self.publish_risks();
        self.save().await;
        self.outbox.update_gauges();
        let elapsed = started.elapsed();
        self.metrics
            .poll_duration_seconds
            .observe(elapsed.as_secs_f64());
        // Successful: every GetMetricData call succeeded and AWS was reached at all.
        let reached = self.scopes.iter().any(Scope::reached_aws);
        let successful = complete && reached;
        if successful {
            self.metrics
                .last_successful_poll_timestamp_seconds
                .set(Utc::now().timestamp_millis() as f64 / 1000.0);
        }
        // Ready once some scope was read: one target's broken role must not take the whole
        // monitor out of a load balancer.
        if reached && self.scopes.iter().any(|s| s.blind().is_none()) {
            self.published.ready.store(true, Ordering::SeqCst);
        }
        tracing::info!(
            streams = watched.len(),
            get_metric_data_calls = calls,
            queries,
            full_read,
            read_in_full = second_phase,
            complete = successful,
            elapsed_ms = elapsed.as_millis() as u64,
            "poll finished"
        );
    }

    /// One stream: diagnose when the plan wants it, plan, carry out the plan.
    async fn stream(
        &self,
        w: &Watched,
        a: &Assessment,
        sm: Option<&Arc<StreamMetrics>>,
        window: Window,
        now: DateTime<Utc>,
    ) -> StreamReport {
        let key = w.stream.arn.as_str();
        let name = w.stream.name.as_str();
        let desc = w.entry.description();
        let stored = self.store.with(|s| s.incidents.get(key).cloned());
        // An incident could open: did one under the same id (the same bad run) close lately?
        let reopened_seq = match (&stored, a.health) {
            (None, Health::Failing | Health::Stalled | Health::Degraded) => {
                let id = plan::opening_id(&w.stream, a, now, self.settings.sharding.total);
                self.store.with(|s| s.closed.get(&id).map(|c| c.seq))
            }
            _ => None,
        };
        let remembered = self.diagnoses().get(key).cloned();
        let cfg = &self.settings.detection;
        let fresh = if plan::wants_diagnosis(stored.as_ref(), a, remembered.is_some(), now, cfg) {
            let t0 = Instant::now();
            // Without a description the diagnosis says so (incomplete), and the firing alert
            // goes out after its wait with what is known.
            let diagnosis = match desc {
                Some(d) => {
                    let scope = &self.scopes[w.scope];
                    let diagnose = scope.diagnoser.diagnose(d, window, now);
                    match &scope.trail {
                        // What changed before the incident started, looked up while the
                        // checks run, ranked by the root cause they name.
                        Some(trail) => {
                            // Before the bad run began (a change after it cannot be its cause).
                            let before = a
                                .bad_since
                                .or(stored.as_ref().map(|i| i.started_at))
                                .unwrap_or(now);
                            changes::diagnose_with_changes(
                                diagnose,
                                trail.as_ref(),
                                &self.pacer,
                                &w.stream.account,
                                d,
                                before,
                                self.settings.diagnosis.check_timeout,
                            )
                            .await
                        }
                        None => diagnose.await,
                    }
                }
                None => checks::missing_stream(name, &w.entry),
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
                stream: &w.stream,
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
            tracing::warn!(stream = name, account = %w.stream.account, region = %w.stream.region,
                health = %a.health, reason = %a.reason, "incident opened");
        }
        if let Some(d) = fresh {
            self.diagnoses().insert(key.to_string(), d);
        }
        self.carry_out(&w.stream, &p, now).await;
        if p.closed {
            tracing::info!(stream = name, account = %w.stream.account, region = %w.stream.region, "incident resolved");
            self.diagnoses().remove(key);
        }
        p.report
    }

    /// Commit the plan's incident and its alerts in one step, then write the state file, then
    /// wake the sink workers.
    async fn carry_out(&self, stream: &StreamRef, p: &Plan, now: DateTime<Utc>) {
        let key = &stream.arn;
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
                    s.incidents.insert(key.clone(), inc.clone());
                }
                None => {
                    s.incidents.remove(key);
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
            tracing::warn!(stream = %stream.name, account = %stream.account, region = %stream.region, status = %al.status, key = %al.idempotency_key(),
                reason = %al.reason, root_cause = ?al.root_cause.as_ref().map(|r| &r.check), "alert queued");
        }
        self.outbox.wake_all();
    }

    /// Resolve the incidents of streams that were deleted or are no longer selected.
    async fn close_gone(&self, watched: &WatchedMap, now: DateTime<Utc>) {
        // An incident is in the scope of its account and region; one no scope holds (its
        // target was removed from the configuration) is no longer selected.
        let listing_ok = |key: &str| {
            // A scope that does not know its account yet (its credentials never worked since
            // the start) may hold any key: nothing closes until it does.
            if self.scopes.iter().any(|s| !s.knows_account()) {
                return false;
            }
            let holders: Vec<&Scope> = self.scopes.iter().filter(|s| s.holds(key)).collect();
            if !state::is_arn_key(key) {
                // Keyed by name (an older state file) and not found again.
                return self.scopes.iter().all(Scope::listing_ok);
            }
            holders.iter().all(|s| s.listing_ok())
        };
        let entry = |key: &str| watched.get(key).map(|w| &w.entry);
        let gone = self
            .store
            .with(|s| plan::close_gone(&s.incidents, &entry, &listing_ok, now));
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
                s.incidents.remove(&g.key);
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
    pub(super) async fn save(&self) {
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
