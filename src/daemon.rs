//! The daemon: the cron scheduler drives poll cycles (never overlapping), each cycle reads the
//! metrics, assesses health, advances incidents, diagnoses, queues alerts and publishes the
//! report and the per-stream metrics. One cancellation token stops every task.
//!
//! Incident changes and the alerts they emit are committed to the state in one step, so a stop
//! at any point never leaves an incident without its alert.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::alert::outbox::Outbox;
use crate::alert::{Alert, RootCause, ALERT_SCHEMA};
use crate::aws::sdk::ClientFactory;
use crate::aws::{FirehoseApi, MetricsApi, StreamDescription};
use crate::config::Settings;
use crate::detect::{self, Assessment, Health};
use crate::diagnosis::{Diagnose, Diagnosis};
use crate::incident::{self, DiagnosisOutcome, Emit, Incident};
use crate::inventory::{Entry, Inventory};
use crate::metrics::Metrics;
use crate::poller::{self, Polled, StreamMetrics, Window};
use crate::report::{metrics_json, Finding, IncidentSummary, Report, Status, StreamReport};
use crate::server::{self, AppState};
use crate::state::{OutboxEntry, StateStore};

/// How long shutdown waits for tasks before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("scheduler: {0}")]
    Scheduler(String),
}

/// The AWS reads a cycle needs, so tests can substitute them.
pub trait CycleApi: FirehoseApi + MetricsApi {}
impl<T: FirehoseApi + MetricsApi> CycleApi for T {}

/// Last diagnosis of a stream, shown until the next one.
#[derive(Clone)]
struct LastDiagnosis {
    at: DateTime<Utc>,
    diagnosis: Diagnosis,
}

/// Everything one cycle works with.
pub struct Core {
    pub settings: Settings,
    pub metrics: Metrics,
    pub store: Arc<StateStore>,
    pub outbox: Arc<Outbox>,
    alertmanagers: Vec<Arc<crate::alert::alertmanager::AlertmanagerSink>>,
    pub inventory: Inventory,
    pub status: Arc<RwLock<Report>>,
    pub ready: Arc<AtomicBool>,
    api: Arc<dyn CycleApi>,
    diagnoser: Arc<dyn Diagnose>,
    polling: AtomicBool,
    /// The last inventory refresh reached AWS (listing included).
    inventory_ok: AtomicBool,
    inventory_at: Mutex<Option<Instant>>,
    diagnoses: Mutex<HashMap<String, LastDiagnosis>>,
    published: Mutex<HashSet<String>>,
}

/// A running daemon.
pub struct Running {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    pub shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    scheduler: Option<tokio_cron_scheduler::JobScheduler>,
}

impl Core {
    pub fn new(
        settings: Settings,
        metrics: Metrics,
        api: Arc<dyn CycleApi>,
        diagnoser: Arc<dyn Diagnose>,
    ) -> Arc<Core> {
        let (store, warning) = StateStore::open(&settings.state.path);
        if let Some(w) = warning {
            tracing::error!("{w}");
            metrics
                .errors_total
                .with_label_values(&["state_corrupt"])
                .inc();
        }
        let store = Arc::new(store);
        let sinks = crate::alert::build(&settings);
        let outbox = Outbox::new(
            store.clone(),
            sinks.all,
            metrics.clone(),
            settings.delivery.clone(),
        );
        let open = store.snapshot().incidents.len();
        if open > 0 {
            tracing::info!(open, "restored open incidents from the state file");
        }
        Arc::new(Core {
            settings,
            metrics,
            store,
            outbox,
            alertmanagers: sinks.alertmanagers,
            inventory: Inventory::new(),
            status: Arc::new(RwLock::new(Report::empty())),
            ready: Arc::new(AtomicBool::new(false)),
            api,
            diagnoser,
            polling: AtomicBool::new(false),
            inventory_ok: AtomicBool::new(false),
            inventory_at: Mutex::new(None),
            diagnoses: Mutex::new(HashMap::new()),
            published: Mutex::new(HashSet::new()),
        })
    }

    /// A scheduler tick: run a cycle unless one is still running (then count a skip).
    pub async fn tick(self: &Arc<Self>, shutdown: &CancellationToken) {
        if self.polling.swap(true, Ordering::SeqCst) {
            self.metrics.polls_skipped_total.inc();
            tracing::warn!("previous poll still running; this tick is skipped");
            return;
        }
        tokio::select! {
            _ = self.cycle(Utc::now()) => {}
            _ = shutdown.cancelled() => tracing::info!("poll abandoned for shutdown"),
        }
        self.polling.store(false, Ordering::SeqCst);
    }

    async fn refresh_inventory(&self, force: bool) {
        let due = {
            let at = self.inventory_at.lock().unwrap_or_else(|p| p.into_inner());
            force || at.is_none_or(|t| t.elapsed() >= self.settings.streams.refresh)
        };
        if !due {
            return;
        }
        let listed = self
            .inventory
            .refresh(self.api.as_ref(), &self.settings.streams)
            .await;
        if let Err(e) = &listed {
            self.metrics
                .errors_total
                .with_label_values(&[e.kind()])
                .inc();
        }
        let entries = self.inventory.entries();
        let reached = crate::inventory::reached_aws(&entries);
        self.inventory_ok
            .store(listed.is_ok() && reached, Ordering::SeqCst);
        let s = &self.settings;
        for (name, e) in &entries {
            if let Some(d) = e.description() {
                let grace = d.buffering_interval()
                    + s.detection.failing_after_periods * s.schedule.period_seconds;
                if u64::from(grace) >= s.window().as_secs() {
                    tracing::warn!(stream = %name, buffering_interval = d.buffering_interval(), window_seconds = s.window().as_secs(),
                        "the window is shorter than the buffering interval plus failing_after_periods: this stream's stalls are detected through DataFreshness only");
                }
            }
        }
        *self.inventory_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// One poll cycle at `now`.
    pub async fn cycle(&self, now: DateTime<Utc>) {
        let started = Instant::now();
        self.refresh_inventory(false).await;
        let entries = self.inventory.entries();
        let s = &self.settings.schedule;
        let window = Window::aligned(now, s.period_seconds, s.delay_seconds, s.lookback_periods);

        let targets = crate::inventory::targets(&entries);
        let polled = poller::poll(self.api.as_ref(), &targets, window, &self.metrics).await;
        if !polled.complete() {
            self.metrics.polls_failed_total.inc();
        }
        let by_name = polled.by_name(&targets);

        // Streams are advanced concurrently (diagnosis is the slow part), in a bounded number,
        // and reported in inventory order.
        let reports: Vec<StreamReport> = futures::stream::iter(entries.clone())
            .map(|(name, entry)| {
                let by_name = &by_name;
                async move {
                    let (name, entry) = (&name, &entry);
                    let (assessment, sm) =
                        assess_entry(entry, by_name.get(name), &window, &self.settings.detection);
                    let report = self
                        .advance(name, entry, &assessment, sm.as_ref(), window, now)
                        .await;
                    self.publish_stream_metrics(&report, &assessment, sm.as_ref());
                    report
                }
            })
            .buffered(self.settings.diagnosis.concurrency.max(1))
            .collect()
            .await;
        self.close_gone(&entries, now).await;
        self.unpublish_gone(&reports);
        self.metrics.streams_monitored.set(reports.len() as i64);
        if let Ok(mut st) = self.status.write() {
            *st = Report::new(now, reports);
        }
        if let Err(e) = self.store.save().await {
            tracing::error!(error = %e, "cannot write state file");
            self.metrics
                .errors_total
                .with_label_values(&["state_write"])
                .inc();
        }
        self.outbox.update_gauges();
        let elapsed = started.elapsed();
        self.metrics
            .poll_duration_seconds
            .observe(elapsed.as_secs_f64());
        // Successful: every GetMetricData call succeeded and AWS was reached at all.
        let successful = polled.complete() && self.inventory_ok.load(Ordering::SeqCst);
        if successful {
            self.metrics
                .last_successful_poll_timestamp_seconds
                .set(Utc::now().timestamp_millis() as f64 / 1000.0);
            self.ready.store(true, Ordering::SeqCst);
        }
        tracing::info!(
            streams = entries.len(),
            get_metric_data_calls = polled.calls,
            queries = polled.queries,
            complete = successful,
            elapsed_ms = elapsed.as_millis() as u64,
            "poll finished"
        );
    }

    /// Incident lifecycle, diagnosis and alerts for one stream; returns its report.
    async fn advance(
        &self,
        name: &str,
        entry: &Entry,
        a: &Assessment,
        sm: Option<&StreamMetrics>,
        window: Window,
        now: DateTime<Utc>,
    ) -> StreamReport {
        let desc = entry.description();
        let arn = desc.map(|d| d.arn.clone()).unwrap_or_default();
        let stored = self.store.with(|s| s.incidents.get(name).cloned());
        let mut slot = stored.clone();
        if slot.is_none() && a.health.is_incident() {
            tracing::warn!(stream = name, health = %a.health, reason = %a.reason, "incident opened");
            slot = Some(Incident::open(name, &arn, a.health, now));
        }
        // Diagnose when an incident needs it, or when this process has no diagnosis of it yet
        // (after a restart). Without a description the diagnosis says so (incomplete), and
        // the firing alert goes out after its wait with what is known.
        let mut outcome = None;
        if let Some(inc) = &slot {
            let known = self
                .diagnoses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(name);
            if a.health.is_incident()
                && (inc.needs_diagnosis(now, &self.settings.detection) || !known)
            {
                let t0 = Instant::now();
                let diagnosis = match desc {
                    Some(d) => self.diagnoser.diagnose(d, window).await,
                    None => crate::checks::missing_stream(name, entry),
                };
                self.metrics
                    .diagnosis_duration_seconds
                    .observe(t0.elapsed().as_secs_f64());
                outcome = Some(DiagnosisOutcome {
                    complete: diagnosis.complete(),
                    settled: diagnosis.settled(),
                    root_cause: diagnosis.root_cause.clone(),
                });
                self.diagnoses
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), LastDiagnosis { at: now, diagnosis });
            }
        }
        let (emits, closed) = incident::step(
            &mut slot,
            a,
            outcome.as_ref(),
            now,
            &self.settings.detection,
        );
        let last = self
            .diagnoses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        let findings = last
            .as_ref()
            .map(|l| l.diagnosis.clone())
            .unwrap_or_default();
        let inc_for_alerts = slot.as_ref().or(closed.as_ref());
        let alerts: Vec<Alert> = match inc_for_alerts {
            Some(inc) => emits
                .iter()
                .map(|e| {
                    let previous = stored.as_ref().and_then(|i| i.last_root_cause.clone());
                    build_alert(inc, e, desc, name, a, sm, &findings, previous, now)
                })
                .collect(),
            None => Vec::new(),
        };
        if let (Some(inc), Some(last)) =
            (slot.as_mut(), alerts.iter().rev().find(|a| a.is_firing()))
        {
            let mut compact = last.clone();
            compact.findings.retain(|f| f.status == Status::Fail);
            compact.metrics.clear();
            inc.last_firing = Some(compact);
        }
        // Commit the incident and its alerts together.
        if slot != stored || !alerts.is_empty() {
            let entries: Vec<OutboxEntry> = alerts
                .iter()
                .flat_map(|al| self.outbox.entries_for(al, now))
                .collect();
            self.store.with(|s| {
                match &slot {
                    Some(inc) => {
                        s.incidents.insert(name.to_string(), inc.clone());
                    }
                    None => {
                        s.incidents.remove(name);
                    }
                }
                s.outbox.extend(entries);
            });
            if !alerts.is_empty() {
                if let Err(e) = self.store.save().await {
                    tracing::error!(error = %e, "cannot write state file");
                }
                for al in &alerts {
                    tracing::warn!(stream = name, status = %al.status, key = %al.idempotency_key(),
                        reason = %al.reason, root_cause = ?al.root_cause.as_ref().map(|r| &r.check), "alert queued");
                }
                self.outbox.wake_all();
            }
        }
        if closed.is_some() {
            tracing::info!(stream = name, "incident resolved");
            self.diagnoses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
        }
        let shown = if slot.is_some() { last } else { None };
        let findings = match &shown {
            Some(l) => l.diagnosis.findings.clone(),
            None => not_diagnosed(),
        };
        StreamReport {
            stream: name.to_string(),
            arn,
            account: desc.map(|d| d.account()).unwrap_or_default(),
            region: desc.map(|d| d.region()).unwrap_or_default(),
            health: a.health,
            reason: a.reason.clone(),
            metrics: sm.map(metrics_json).unwrap_or_default(),
            root_cause: shown.as_ref().and_then(|l| l.diagnosis.root_cause.clone()),
            findings,
            incident: slot.as_ref().map(|i| IncidentSummary {
                id: i.id.clone(),
                started_at: i.started_at,
                alerts_sent: i.seq,
            }),
            diagnosed_at: shown.map(|l| l.at),
        }
    }

    fn publish_stream_metrics(&self, r: &StreamReport, a: &Assessment, sm: Option<&StreamMetrics>) {
        let m = &self.metrics;
        let labels = [r.stream.as_str(), r.region.as_str(), r.account.as_str()];
        for h in Health::ALL {
            m.stream_health
                .with_label_values(&[labels[0], labels[1], labels[2], h.as_str()])
                .set(i64::from(h == r.health));
        }
        let gauges = [
            (&m.delivery_success_ratio, Polled::Success),
            (&m.incoming_records, Polled::Incoming),
            (&m.processing_success_ratio, Polled::Processing),
            (&m.data_freshness_seconds, Polled::Freshness),
        ];
        for (g, p) in gauges {
            // No datapoint: no series, rather than a zero that would read as a failure.
            match sm.and_then(|s| s.newest(p)) {
                Some(v) => g.with_label_values(&labels).set(v),
                None => {
                    let _ = g.remove_label_values(&labels);
                }
            }
        }
        m.zero_success_periods
            .with_label_values(&labels)
            .set(i64::from(a.zero_success_periods));
        m.incident_open
            .with_label_values(&labels)
            .set(i64::from(r.incident.is_some()));
        if r.diagnosed_at.is_some() {
            for f in &r.findings {
                m.check_failed
                    .with_label_values(&[labels[0], labels[1], labels[2], f.check.as_str()])
                    .set(i64::from(f.status == Status::Fail));
            }
        } else {
            // No diagnosis shown (no incident): no failed check.
            for id in crate::checks::ALL_IDS {
                let _ = m
                    .check_failed
                    .remove_label_values(&[labels[0], labels[1], labels[2], id]);
            }
        }
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(format!("{}\u{0}{}\u{0}{}", labels[0], labels[1], labels[2]));
    }

    /// Resolve the incidents of streams that were deleted or are no longer selected: nothing
    /// would ever close them otherwise.
    async fn close_gone(&self, entries: &BTreeMap<String, Entry>, now: DateTime<Utc>) {
        let gone: Vec<Incident> = self.store.with(|s| {
            s.incidents
                .values()
                .filter(|i| !matches!(entries.get(&i.stream), Some(e) if !matches!(e, Entry::Missing { .. })))
                .cloned()
                .collect()
        });
        if gone.is_empty() {
            return;
        }
        let mut closed = Vec::new();
        let mut alerts = Vec::new();
        for mut inc in gone {
            match inc.last_firing.clone().filter(|_| inc.firing_sent) {
                Some(mut a) => {
                    inc.seq += 1;
                    a.status = "resolved".into();
                    a.sequence = inc.seq;
                    a.resolved_at = Some(now);
                    a.created_at = now;
                    a.reason = "stream_gone".into();
                    a.findings.clear();
                    a.summary = match entries.get(&inc.stream) {
                        Some(Entry::Missing { .. }) => format!(
                            "{}: the delivery stream was deleted; closing its incident",
                            inc.stream
                        ),
                        _ => format!(
                            "{}: the stream is no longer watched; closing its incident",
                            inc.stream
                        ),
                    };
                    alerts.push(a);
                }
                None => {
                    tracing::info!(stream = %inc.stream, "incident dropped before its first alert: the stream is gone")
                }
            }
            tracing::warn!(stream = %inc.stream, "incident closed: the stream is gone");
            closed.push(inc.stream.clone());
        }
        let out: Vec<OutboxEntry> = alerts
            .iter()
            .flat_map(|a| self.outbox.entries_for(a, now))
            .collect();
        self.store.with(|s| {
            for stream in &closed {
                s.incidents.remove(stream);
            }
            s.outbox.extend(out);
        });
        if let Err(e) = self.store.save().await {
            tracing::error!(error = %e, "cannot write state file");
        }
        self.outbox.wake_all();
    }

    /// Remove the series of streams no longer monitored.
    fn unpublish_gone(&self, reports: &[StreamReport]) {
        let current: HashSet<String> = reports
            .iter()
            .map(|r| format!("{}\u{0}{}\u{0}{}", r.stream, r.region, r.account))
            .collect();
        let mut seen = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = seen
            .iter()
            .filter(|k| k.contains('\u{0}') && !current.contains(*k))
            .cloned()
            .collect();
        let m = &self.metrics;
        for k in gone {
            let l: Vec<&str> = k.split('\u{0}').collect();
            if l.len() != 3 {
                continue;
            }
            for h in Health::ALL {
                let _ = m
                    .stream_health
                    .remove_label_values(&[l[0], l[1], l[2], h.as_str()]);
            }
            for g in [
                &m.delivery_success_ratio,
                &m.incoming_records,
                &m.processing_success_ratio,
                &m.data_freshness_seconds,
            ] {
                let _ = g.remove_label_values(&[l[0], l[1], l[2]]);
            }
            let _ = m
                .zero_success_periods
                .remove_label_values(&[l[0], l[1], l[2]]);
            let _ = m.incident_open.remove_label_values(&[l[0], l[1], l[2]]);
            seen.remove(&k);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_alert(
    inc: &Incident,
    e: &Emit,
    desc: Option<&StreamDescription>,
    name: &str,
    a: &Assessment,
    sm: Option<&StreamMetrics>,
    d: &Diagnosis,
    previous_root_cause: Option<String>,
    now: DateTime<Utc>,
) -> Alert {
    let diagnosed = d.root_finding().map(|f| RootCause {
        check: f.check.clone(),
        summary: f.summary.clone(),
        remediation: f.remediation.clone(),
    });
    // A resolved alert names the root cause the incident was last sent with, so receivers
    // (and Alertmanager's labels) match it to its firing alert.
    let root = if e.firing {
        diagnosed
    } else {
        inc.last_firing
            .as_ref()
            .and_then(|f| f.root_cause.clone())
            .or(diagnosed)
    };
    let summary = if e.firing {
        let mut s = format!("{name}: delivery to S3 is {}: {}", inc.health, a.reason);
        if let Some(rc) = &root {
            s.push_str(&format!(". Root cause ({}): {}", rc.check, rc.summary));
        }
        s
    } else {
        let mins = (now - inc.started_at).num_minutes();
        format!("{name}: delivery to S3 recovered after {mins} min")
    };
    let findings: Vec<Finding> = if e.firing {
        d.findings.clone()
    } else {
        Vec::new()
    };
    Alert {
        schema: ALERT_SCHEMA.into(),
        status: if e.firing { "firing" } else { "resolved" }.into(),
        incident_id: inc.id.clone(),
        sequence: e.seq,
        stream: name.to_string(),
        arn: desc.map(|d| d.arn.clone()).unwrap_or_default(),
        account: desc.map(|d| d.account()).unwrap_or_default(),
        region: desc.map(|d| d.region()).unwrap_or_default(),
        health: if e.firing {
            inc.health.as_str().to_string()
        } else {
            a.health.as_str().to_string()
        },
        started_at: inc.started_at,
        resolved_at: if e.firing { None } else { Some(now) },
        summary,
        root_cause: root,
        findings,
        metrics: sm.map(metrics_json).unwrap_or_default(),
        test: false,
        reason: serde_json::to_value(e.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        previous_root_cause: if e.reason == incident::AlertReason::RootCauseChanged {
            previous_root_cause
        } else {
            None
        },
        created_at: now,
    }
}

/// The assessment of one inventory entry from this poll's result for it, and the datapoints
/// it was made from: `unknown` when the stream is missing or its metrics could not be read.
pub fn assess_entry(
    entry: &Entry,
    polled: Option<&Result<StreamMetrics, crate::aws::AwsError>>,
    window: &Window,
    cfg: &crate::config::DetectionSettings,
) -> (Assessment, Option<StreamMetrics>) {
    match (entry, polled) {
        (Entry::Missing { reason }, _) => (detect::unknown(reason.clone()), None),
        (_, Some(Ok(m))) => {
            let buffering = entry
                .description()
                .map(|d| d.buffering_interval())
                .unwrap_or(300);
            (detect::assess(m, window, buffering, cfg), Some(m.clone()))
        }
        (_, Some(Err(e))) => (
            detect::unknown(format!("metrics could not be read this cycle: {e}")),
            None,
        ),
        (_, None) => (detect::unknown("not polled"), None),
    }
}

/// Findings of a stream that was not diagnosed: every check id, `skip`.
fn not_diagnosed() -> Vec<Finding> {
    crate::checks::ALL_IDS
        .iter()
        .map(|id| Finding {
            check: id.to_string(),
            status: Status::Skip,
            summary: "not run: diagnosis runs when the stream is failing or stalled (`firehose-sentinel check` runs it now)".into(),
            evidence: serde_json::Value::Null,
            remediation: String::new(),
        })
        .collect()
}

/// Start everything: state, outbox workers, HTTP server, scheduler, first poll.
pub async fn start(settings: Settings) -> Result<Running, DaemonError> {
    let metrics = Metrics::new();
    let factory = ClientFactory::new(settings.aws.clone(), metrics.clone());
    let clients = factory.clients(&factory.default_key()).await;
    let diagnoser = crate::checks::Checks::new(clients.clone(), settings.diagnosis.clone());
    start_with(settings, metrics, clients, Arc::new(diagnoser)).await
}

/// [`start`] with the AWS access and diagnosis given (tests).
pub async fn start_with(
    settings: Settings,
    metrics: Metrics,
    api: Arc<dyn CycleApi>,
    diagnoser: Arc<dyn Diagnose>,
) -> Result<Running, DaemonError> {
    let shutdown = CancellationToken::new();
    let listen = settings.server.listen;
    let poll_expr = settings.schedule.poll.clone();
    let core = Core::new(settings, metrics, api, diagnoser);
    let mut tasks = core.outbox.spawn_workers(shutdown.clone());
    tasks.push(tokio::spawn(crate::alert::alertmanager::resend_loop(
        core.store.clone(),
        core.alertmanagers.clone(),
        core.metrics.clone(),
        shutdown.clone(),
    )));
    let state = AppState {
        metrics: core.metrics.clone(),
        status: core.status.clone(),
        ready: core.ready.clone(),
    };
    let (addr, server) = server::serve(listen, state, shutdown.clone())
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen,
            source,
        })?;
    tasks.push(server);
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /api/v1/status");

    let sched = tokio_cron_scheduler::JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let (c, s) = (core.clone(), shutdown.clone());
    let job = tokio_cron_scheduler::Job::new_async(poll_expr.as_str(), move |_id, _l| {
        let (c, s) = (c.clone(), s.clone());
        Box::pin(async move {
            // The cycle runs in its own task so a slow one never blocks the scheduler.
            tokio::spawn(async move { c.tick(&s).await });
        })
    })
    .map_err(|e| DaemonError::Scheduler(format!("schedule.poll: {e}")))?;
    sched
        .add(job)
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    sched
        .start()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;

    // First poll right away rather than at the first cron tick.
    let (c, s) = (core.clone(), shutdown.clone());
    tasks.push(tokio::spawn(async move {
        c.refresh_inventory(true).await;
        c.tick(&s).await;
    }));
    Ok(Running {
        addr,
        core,
        shutdown,
        tasks,
        scheduler: Some(sched),
    })
}

impl Running {
    /// Stop every task and save the state, all within [`SHUTDOWN_GRACE`] even when AWS calls
    /// or sinks hang.
    pub async fn stop(mut self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        self.shutdown.cancel();
        if let Some(mut s) = self.scheduler.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
        }
        let all = futures::future::join_all(self.tasks.drain(..));
        if tokio::time::timeout_at(deadline - Duration::from_secs(1), all)
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time; abandoning them");
        }
        match tokio::time::timeout_at(deadline, self.core.store.save()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "cannot write state file at shutdown"),
            Err(_) => tracing::error!("state file write at shutdown timed out"),
            Ok(Ok(())) => {}
        }
    }
}

/// `run`: start, wait for SIGTERM or SIGINT, stop.
pub async fn run(settings: Settings) -> Result<(), DaemonError> {
    let running = start(settings).await?;
    wait_for_signal().await;
    tracing::info!("stopping");
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
