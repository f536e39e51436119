//! A CloudWatch stand-in that answers `GetMetricData` in the Smithy RPCv2 CBOR protocol that
//! `aws-sdk-cloudwatch` speaks, with a latency that grows with the batch, so the real SDK can
//! be driven at fleet sizes moto cannot serve (moto slows quadratically with the batch and
//! cannot answer 5,000 streams). Used by the slow-CloudWatch test and by
//! `cargo bench --bench poll_scale`.
//!
//! Every period of the asked window has a datapoint: `DeliveryToS3.Success` 1 (0 for the
//! streams named failing), `IncomingRecords` 10, `DeliveryToS3.DataFreshness` 30, anything
//! else 1. Timestamps are newest first, as with `ScanBy=TimestampDescending`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How the stand-in behaves.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Latency of every answer.
    pub base_latency: Duration,
    /// Added latency per query in the request.
    pub per_query: Duration,
    /// Streams (`DeliveryStreamName`) whose delivery fails: `DeliveryToS3.Success` 0.
    pub failing: HashSet<String>,
}

/// What the stand-in saw.
#[derive(Default)]
pub struct Seen {
    pub calls: AtomicUsize,
    pub queries: AtomicUsize,
    pub largest_call: AtomicUsize,
}

pub struct StandIn {
    pub url: String,
    pub seen: Arc<Seen>,
}

/// Serve on 127.0.0.1 (a free port) on the current runtime.
pub async fn start(behaviour: Behaviour) -> StandIn {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let state = (Arc::new(behaviour), seen.clone());
    let app = axum::Router::new()
        .fallback(axum::routing::post(answer))
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    StandIn { url, seen }
}

type State = (Arc<Behaviour>, Arc<Seen>);

async fn answer(
    axum::extract::State((behaviour, seen)): axum::extract::State<State>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use ciborium::Value;
    let reply = |status: axum::http::StatusCode, v: Value| {
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).expect("CBOR");
        (
            status,
            [
                ("content-type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
            ],
            out,
        )
            .into_response()
    };
    if uri.path() != "/service/GraniteServiceVersion20100801/operation/GetMetricData" {
        return reply(
            axum::http::StatusCode::BAD_REQUEST,
            error("UnknownOperation", "only GetMetricData is served here"),
        );
    }
    let Ok(input) = ciborium::from_reader::<Value, _>(&body[..]) else {
        return reply(
            axum::http::StatusCode::BAD_REQUEST,
            error("SerializationException", "the body is not CBOR"),
        );
    };
    let queries = parse_queries(&input);
    seen.calls.fetch_add(1, Ordering::SeqCst);
    seen.queries.fetch_add(queries.len(), Ordering::SeqCst);
    seen.largest_call.fetch_max(queries.len(), Ordering::SeqCst);
    let latency = behaviour.base_latency + behaviour.per_query * queries.len() as u32;
    tokio::time::sleep(latency).await;
    let (Some(start), Some(end)) = (time(&input, "StartTime"), time(&input, "EndTime")) else {
        return reply(
            axum::http::StatusCode::BAD_REQUEST,
            error(
                "InvalidParameterValue",
                "StartTime and EndTime are required",
            ),
        );
    };
    let mut results = Vec::with_capacity(queries.len());
    for q in &queries {
        let v = match q.metric.as_str() {
            "DeliveryToS3.Success" if behaviour.failing.contains(&q.stream) => 0.0,
            "IncomingRecords" => 10.0,
            "DeliveryToS3.DataFreshness" => 30.0,
            _ => 1.0,
        };
        let period = chrono::Duration::seconds(q.period.max(60));
        let mut times = Vec::new();
        let mut t = end - period;
        while t >= start {
            times.push(Value::Tag(
                1,
                Box::new(Value::Integer(t.timestamp().into())),
            ));
            t -= period;
        }
        let values = vec![Value::Float(v); times.len()];
        results.push(Value::Map(vec![
            (text("Id"), text(&q.id)),
            (text("Label"), text(&q.metric)),
            (text("StatusCode"), text("Complete")),
            (text("Timestamps"), Value::Array(times)),
            (text("Values"), Value::Array(values)),
        ]));
    }
    reply(
        axum::http::StatusCode::OK,
        Value::Map(vec![
            (text("MetricDataResults"), Value::Array(results)),
            (text("Messages"), Value::Array(Vec::new())),
        ]),
    )
}

fn text(s: &str) -> ciborium::Value {
    ciborium::Value::Text(s.to_string())
}

/// The member `key` of a CBOR map.
fn get<'a>(v: &'a ciborium::Value, key: &str) -> Option<&'a ciborium::Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

struct Query {
    id: String,
    metric: String,
    stream: String,
    period: i64,
}

fn parse_queries(input: &ciborium::Value) -> Vec<Query> {
    let s = |v: Option<&ciborium::Value>| v.and_then(|v| v.as_text()).unwrap_or("").to_string();
    get(input, "MetricDataQueries")
        .and_then(|q| q.as_array())
        .map(|qs| {
            qs.iter()
                .map(|q| {
                    let stat = get(q, "MetricStat");
                    let metric = stat.and_then(|m| get(m, "Metric"));
                    Query {
                        id: s(get(q, "Id")),
                        metric: s(metric.and_then(|m| get(m, "MetricName"))),
                        stream: s(metric
                            .and_then(|m| get(m, "Dimensions"))
                            .and_then(|d| d.as_array())
                            .and_then(|d| d.first())
                            .and_then(|d| get(d, "Value"))),
                        period: stat
                            .and_then(|m| get(m, "Period"))
                            .and_then(|p| p.as_integer())
                            .and_then(|p| i64::try_from(p).ok())
                            .unwrap_or(60),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A timestamp member: CBOR tag 1 (epoch seconds, integer or float).
fn time(input: &ciborium::Value, key: &str) -> Option<DateTime<Utc>> {
    let secs = match get(input, key)? {
        ciborium::Value::Tag(1, v) => match &**v {
            ciborium::Value::Integer(i) => i64::try_from(*i).ok()? as f64,
            ciborium::Value::Float(f) => *f,
            _ => return None,
        },
        _ => return None,
    };
    DateTime::from_timestamp(secs.floor() as i64, ((secs.fract()) * 1e9) as u32)
}

fn error(code: &str, message: &str) -> ciborium::Value {
    ciborium::Value::Map(vec![
        (
            text("__type"),
            text(&format!("com.amazonaws.cloudwatch#{code}")),
        ),
        (text("message"), text(message)),
    ])
}
