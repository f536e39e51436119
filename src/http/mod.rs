//! The HTTP server: `/` (status page), `/metrics`, `/healthz`, `/readyz`, `/api/v1/status`.
//!
//! Read-only views of what the daemon published; it never calls AWS or changes state.

pub mod chart;
pub mod status_page;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::report::Report;
use crate::telemetry::metrics::Metrics;

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Metrics,
    pub status: Arc<RwLock<Report>>,
    pub ready: Arc<AtomicBool>,
    /// Alert delivery workers that stopped for good (they kept panicking).
    pub dead_workers: Arc<std::sync::atomic::AtomicUsize>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

/// Alive, unless an alert delivery worker is dead: then alerts would silently pile up.
async fn healthz(State(s): State<AppState>) -> Response {
    let dead = s.dead_workers.load(Ordering::SeqCst);
    if dead > 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{dead} alert delivery worker(s) stopped: alerts are not being sent\n"),
        )
            .into_response();
    }
    "ok\n".into_response()
}

/// The report of the last cycle (an empty one if the lock was poisoned).
fn last_report(s: &AppState) -> Report {
    s.status
        .read()
        .map(|r| r.clone())
        .unwrap_or_else(|_| Report::empty())
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn page(State(s): State<AppState>) -> Response {
    let report = last_report(&s);
    let last = s.metrics.last_successful_poll_timestamp_seconds.get();
    axum::response::Html(crate::http::status_page::render(&report, Some(last))).into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no successful poll yet\n",
        )
            .into_response()
    }
}

async fn status(State(s): State<AppState>) -> Response {
    let report = last_report(&s);
    axum::Json(report).into_response()
}

/// Bind `addr` and serve until `shutdown`. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = ()> + Send + 'static,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(state);
    let server = async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    };
    Ok((bound, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn healthz_fails_while_an_alert_worker_is_dead() {
        let s = AppState {
            metrics: Metrics::new(),
            status: Arc::new(RwLock::new(Report::empty())),
            ready: Arc::new(AtomicBool::new(true)),
            dead_workers: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        assert_eq!(healthz(State(s.clone())).await.status(), StatusCode::OK);
        s.dead_workers.store(1, Ordering::SeqCst);
        assert_eq!(
            healthz(State(s)).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
