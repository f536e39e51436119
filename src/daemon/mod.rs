//! The daemon's lifecycle: start the state, the outbox workers, the Alertmanager re-send loop,
//! the HTTP server and the cron scheduler that drives [`Monitor`] cycles; stop them all on
//! SIGTERM or SIGINT, joining every task it spawned within [`SHUTDOWN_GRACE`].
//!
//! Wiring only: what a cycle does is in [`monitor`], what it decides in `plan`.

mod audit;
pub mod monitor;
pub mod publish;
pub mod scope;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::diagnose::Diagnose;
use crate::http::{self, AppState};
use crate::telemetry::metrics::Metrics;
pub use monitor::{CycleApi, Monitor};
pub use scope::ScopeParts;

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
    #[error("{0}")]
    State(#[from] crate::state::StateError),
}

/// A running daemon.
pub struct Running {
    pub addr: SocketAddr,
    pub monitor: Arc<Monitor>,
    pub shutdown: CancellationToken,
    /// Every task the daemon spawned: workers, loops, the server and each cycle.
    tasks: TaskTracker,
    scheduler: Option<tokio_cron_scheduler::JobScheduler>,
}

/// Start everything: state, outbox workers, HTTP server, scheduler, first poll.
pub async fn start(settings: Settings) -> Result<Running, DaemonError> {
    let metrics = Metrics::new();
    let scopes = scope::build(&settings, &metrics).await;
    start_with_scopes(settings, metrics, scopes).await
}

/// [`start`] with the AWS access and diagnosis of the first target's first region given
/// (tests; us-east-1 when the target names no region).
pub async fn start_with(
    settings: Settings,
    metrics: Metrics,
    api: Arc<dyn CycleApi>,
    diagnoser: Arc<dyn Diagnose>,
) -> Result<Running, DaemonError> {
    let target = settings.targets[0].clone();
    let region = target
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| "us-east-1".into());
    let parts = ScopeParts {
        target,
        region,
        api,
        diagnoser,
        trail: None,
        audit: None,
    };
    start_with_scopes(settings, metrics, vec![parts]).await
}

/// [`start`] with every scope's AWS access and diagnosis given (tests).
pub async fn start_with_scopes(
    settings: Settings,
    metrics: Metrics,
    scopes: Vec<ScopeParts>,
) -> Result<Running, DaemonError> {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let listen = settings.server.listen;
    let poll_expr = settings.schedule.poll.clone();
    let audit_expr = settings.schedule.audit.clone();
    let sinks = crate::alert::build(&settings);
    let monitor = Monitor::new(settings, metrics, scopes, sinks.all)?;
    let dead_workers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for worker in monitor
        .outbox
        .supervised_workers(shutdown.clone(), dead_workers.clone())
    {
        tasks.spawn(worker);
    }
    tasks.spawn(crate::alert::alertmanager::resend_loop(
        monitor.open_incidents(),
        sinks.alertmanagers,
        monitor.metrics.clone(),
        shutdown.clone(),
    ));
    let state = AppState {
        metrics: monitor.metrics.clone(),
        status: monitor.published.report.clone(),
        ready: monitor.published.ready.clone(),
        dead_workers,
        auth_token: monitor.settings.server.auth_token.clone(),
    };
    let (addr, server) = http::serve(listen, state, shutdown.clone())
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen,
            source,
        })?;
    tasks.spawn(server);
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /api/v1/status");

    let sched = tokio_cron_scheduler::JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let (m, s, t) = (monitor.clone(), shutdown.clone(), tasks.clone());
    let job = tokio_cron_scheduler::Job::new_async(poll_expr.as_str(), move |_id, _l| {
        let (m, s, t) = (m.clone(), s.clone(), t.clone());
        Box::pin(async move {
            // The cycle runs in its own task so a slow one never blocks the scheduler; the
            // tracker lets shutdown join it.
            t.spawn(async move { m.tick(&s).await });
        })
    })
    .map_err(|e| DaemonError::Scheduler(format!("schedule.poll: {e}")))?;
    sched
        .add(job)
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    if let Some(expr) = &audit_expr {
        let (m, s, t) = (monitor.clone(), shutdown.clone(), tasks.clone());
        let audit = tokio_cron_scheduler::Job::new_async(expr.as_str(), move |_id, _l| {
            let (m, s, t) = (m.clone(), s.clone(), t.clone());
            Box::pin(async move {
                t.spawn(async move { m.audit_tick(&s).await });
            })
        })
        .map_err(|e| DaemonError::Scheduler(format!("schedule.audit: {e}")))?;
        sched
            .add(audit)
            .await
            .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    }
    sched
        .start()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;

    // First poll right away rather than at the first cron tick.
    let (m, s) = (monitor.clone(), shutdown.clone());
    tasks.spawn(async move {
        m.refresh_inventory(true).await;
        m.tick(&s).await;
        // The first audit right after the first cycle (it knows each stream's health).
        if m.settings.schedule.audit.is_some() {
            m.audit_tick(&s).await;
        }
    });
    Ok(Running {
        addr,
        monitor,
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
        self.tasks.close();
        if tokio::time::timeout_at(deadline - Duration::from_secs(1), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time; abandoning them");
        }
        match tokio::time::timeout_at(deadline, self.monitor.store.save()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "cannot write state file at shutdown"),
            Err(_) => tracing::error!("state file write at shutdown timed out"),
            Ok(Ok(())) => {}
        }
        // Free the state file for a restart in this process (abandoned tasks may still hold
        // the monitor).
        self.monitor.store.release();
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
