//! The HTTP server: `/` (status page), `/metrics`, `/healthz`, `/readyz`, `/api/v1/status`.
//!
//! Read-only views of what the daemon published; it never calls AWS or changes state.

pub mod chart;
pub mod status_page;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
    /// The bearer token `/` and `/api/v1/status` need, when set.
    pub auth_token: Option<crate::secret::Secret>,
}

/// `Some(401)` unless the request carries the configured bearer token (compared in constant
/// time). No token configured: open.
fn unauthorized(s: &AppState, headers: &axum::http::HeaderMap) -> Option<Response> {
    let want = s.auth_token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), want.expose().as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if same {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is needed (server.auth_token)\n",
        )
            .into_response(),
    )
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

async fn page(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(denied) = unauthorized(&s, &headers) {
        return denied;
    }
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

async fn status(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(denied) = unauthorized(&s, &headers) {
        return denied;
    }
    let report = last_report(&s);
    axum::Json(report).into_response()
}

/// At most this many connections are served at once; more wait in the kernel's backlog, so a
/// flood of connections never takes the file descriptors that state writes, AWS calls and alert
/// sends need.
pub const MAX_CONNECTIONS: usize = 256;
/// A client that has not sent its request headers after this long is disconnected.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection (kept alive or not) is closed after this long.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

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
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let connections = tokio_util::task::TaskTracker::new();
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = shutdown.cancelled() => break,
            };
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, for one: back off rather than spin.
                        tracing::warn!(error = %e, "cannot accept an HTTP connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _permit = permit;
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
                    _ = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                    }
                }
            });
        }
        connections.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), connections.wait()).await;
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
            auth_token: None,
        };
        assert_eq!(healthz(State(s.clone())).await.status(), StatusCode::OK);
        s.dead_workers.store(1, Ordering::SeqCst);
        assert_eq!(
            healthz(State(s)).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn the_status_needs_the_token_when_one_is_set() {
        let s = AppState {
            metrics: Metrics::new(),
            status: Arc::new(RwLock::new(Report::empty())),
            ready: Arc::new(AtomicBool::new(true)),
            dead_workers: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            auth_token: Some(crate::secret::Secret::new("t0ken".to_string())),
        };
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        let none = axum::http::HeaderMap::new();
        assert_eq!(
            status(State(s.clone()), none.clone()).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            page(State(s.clone()), with("Bearer nope")).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(State(s.clone()), with("Bearer t0ken"))
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            page(State(s.clone()), with("Bearer t0ken")).await.status(),
            StatusCode::OK
        );
        // The probes and the metrics stay open.
        assert_eq!(healthz(State(s.clone())).await.status(), StatusCode::OK);
        assert_eq!(metrics(State(s)).await.status(), StatusCode::OK);
    }
}
