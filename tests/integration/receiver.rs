//! A local HTTP receiver standing in for a webhook or Slack: records every request and answers
//! with scripted status codes (then 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub raw: Bytes,
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<u16>,
    got: Vec<Received>,
    /// `Retry-After` sent with scripted 429/503 answers.
    retry_after: Option<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    raw: Bytes,
) -> (StatusCode, HeaderMap) {
    let mut g = inner.lock().unwrap();
    let code = g.script.pop_front().unwrap_or(200);
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    g.got.push(Received {
        headers,
        body,
        raw,
        answered: code,
    });
    // A scripted 3xx sends the client elsewhere, as a webhook behind a login page would.
    let mut out = HeaderMap::new();
    if (300..400).contains(&code) {
        out.insert(axum::http::header::LOCATION, "/login".parse().unwrap());
    }
    if let (429 | 503, Some(ra)) = (code, &g.retry_after) {
        out.insert(axum::http::header::RETRY_AFTER, ra.parse().unwrap());
    }
    (StatusCode::from_u16(code).unwrap(), out)
}

/// The page a redirect leads to: answers 200 to anything, records nothing.
async fn landing() -> StatusCode {
    StatusCode::OK
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on(0).await
    }

    /// Listen on a given loopback port (0: any).
    pub async fn start_on(port: u16) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/{*path}", post(handle).get(landing))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// Send `Retry-After: value` with scripted 429 and 503 answers.
    pub fn retry_after(&self, value: &str) {
        self.inner.lock().unwrap().retry_after = Some(value.to_string());
    }

    /// Answer the next requests with these codes.
    pub fn script(&self, codes: &[u16]) {
        self.inner
            .lock()
            .unwrap()
            .script
            .extend(codes.iter().copied());
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap()
            .got
            .iter()
            .filter(|r| (200..300).contains(&r.answered))
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Received> {
        self.inner.lock().unwrap().got.clone()
    }

    /// Wait until `pred` holds over the accepted requests, up to `secs`.
    pub async fn wait_for(&self, secs: u64, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.accepted();
            if pred(&got) || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
