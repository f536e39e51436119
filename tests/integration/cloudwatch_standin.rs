//! A CloudWatch stand-in that answers `GetMetricData` in the awsQuery protocol the pinned
//! `aws-sdk-cloudwatch` speaks, with a latency that grows with the batch, so the real SDK can
//! be driven at fleet sizes moto cannot serve (moto slows quadratically with the batch and
//! cannot answer 5,000 streams). Used by the slow-CloudWatch test and by
//! `cargo bench --bench poll_scale`.
//!
//! Every period of the asked window has a datapoint: `DeliveryToS3.Success` 1 (0 for the
//! streams named failing), `IncomingRecords` 10, `DeliveryToS3.DataFreshness` 30, anything
//! else 1. Timestamps are newest first, as with `ScanBy=TimestampDescending`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
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
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if form.get("Action").map(String::as_str) != Some("GetMetricData") {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "text/xml")],
            error("InvalidAction", "only GetMetricData is served here"),
        )
            .into_response();
    }
    let queries = parse_queries(&form);
    seen.calls.fetch_add(1, Ordering::SeqCst);
    seen.queries.fetch_add(queries.len(), Ordering::SeqCst);
    seen.largest_call.fetch_max(queries.len(), Ordering::SeqCst);
    let latency = behaviour.base_latency + behaviour.per_query * queries.len() as u32;
    tokio::time::sleep(latency).await;
    let (Some(start), Some(end)) = (time(&form, "StartTime"), time(&form, "EndTime")) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "text/xml")],
            error(
                "InvalidParameterValue",
                "StartTime and EndTime are required",
            ),
        )
            .into_response();
    };
    let mut xml = String::with_capacity(queries.len() * 1200);
    xml.push_str(
        r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricDataResult><MetricDataResults>"#,
    );
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
            times.push(t);
            t -= period;
        }
        let _ = write!(
            xml,
            "<member><Id>{}</Id><Label>{}</Label><StatusCode>Complete</StatusCode><Timestamps>",
            q.id, q.metric
        );
        for t in &times {
            let _ = write!(
                xml,
                "<member>{}</member>",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        xml.push_str("</Timestamps><Values>");
        for _ in &times {
            let _ = write!(xml, "<member>{v:?}</member>");
        }
        xml.push_str("</Values></member>");
    }
    xml.push_str(
        "</MetricDataResults><Messages/></GetMetricDataResult><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></GetMetricDataResponse>",
    );
    ([("content-type", "text/xml")], xml).into_response()
}

struct Query {
    id: String,
    metric: String,
    stream: String,
    period: i64,
}

fn parse_queries(form: &BTreeMap<String, String>) -> Vec<Query> {
    let mut out = Vec::new();
    for n in 1.. {
        let p = format!("MetricDataQueries.member.{n}.");
        let Some(id) = form.get(&format!("{p}Id")) else {
            break;
        };
        let stat = format!("{p}MetricStat.");
        out.push(Query {
            id: id.clone(),
            metric: form
                .get(&format!("{stat}Metric.MetricName"))
                .cloned()
                .unwrap_or_default(),
            stream: form
                .get(&format!("{stat}Metric.Dimensions.member.1.Value"))
                .cloned()
                .unwrap_or_default(),
            period: form
                .get(&format!("{stat}Period"))
                .and_then(|p| p.parse().ok())
                .unwrap_or(60),
        });
    }
    out
}

fn time(form: &BTreeMap<String, String>, key: &str) -> Option<DateTime<Utc>> {
    form.get(key)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>standin</RequestId></ErrorResponse>"#
    )
}
