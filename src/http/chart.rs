//! A small inline SVG per stream: delivery success, incoming records and data freshness over
//! the window, with the open incident's start marked, so the person on call sees whether
//! delivery stopped at once, decayed, or never started. Pure rendering; no JavaScript.

use chrono::{DateTime, Utc};

use crate::model::Point;
use crate::report::StreamReport;

const WIDTH: f64 = 320.0;
const LABEL: f64 = 62.0;
const ROW: f64 = 24.0;
const GAP: f64 = 12.0;

/// One row of the chart: a series, its scale and how its points are drawn.
struct Row<'a> {
    label: &'a str,
    points: &'a [Point],
    /// Fixed top of the scale (delivery success is a ratio), else the series' maximum.
    max: Option<f64>,
    color: &'a str,
    unit: &'a str,
}

fn series<'a>(s: &'a StreamReport, names: &[&'a str]) -> (&'a str, &'a [Point]) {
    for n in names {
        if let Some((k, p)) = s.metrics.iter().find(|(k, _)| k == n) {
            if !p.is_empty() {
                return (k, p);
            }
        }
    }
    (names[0], &[])
}

fn fmt(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The chart of `s` over `[start, end]`.
pub fn render(s: &StreamReport, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let (_, success) = series(s, &["DeliveryToS3.Success"]);
    let (incoming_name, incoming) = series(
        s,
        &[
            "IncomingRecords",
            "DataReadFromKinesisStream.Records",
            "DataReadFromSource.Records",
        ],
    );
    let (_, freshness) = series(s, &["DeliveryToS3.DataFreshness"]);
    let rows = [
        Row {
            label: "delivery",
            points: success,
            max: Some(1.0),
            color: "#17613a",
            unit: "",
        },
        Row {
            label: if incoming_name == "IncomingRecords" {
                "incoming"
            } else {
                "read"
            },
            points: incoming,
            max: None,
            color: "#2457a6",
            unit: " rec",
        },
        Row {
            label: "freshness",
            points: freshness,
            max: None,
            color: "#7a5300",
            unit: " s",
        },
    ];
    let height = rows.len() as f64 * (ROW + GAP) + 12.0;
    let span = (end - start).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| {
        let f = ((t - start).num_seconds() as f64 / span).clamp(0.0, 1.0);
        LABEL + f * (WIDTH - LABEL - 4.0)
    };
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\"><title>{} over the window</title>",
        super::status_page::esc(&s.stream)
    );
    for (i, r) in rows.iter().enumerate() {
        let top = i as f64 * (ROW + GAP) + 2.0;
        let bottom = top + ROW;
        let max = r
            .max
            .unwrap_or_else(|| r.points.iter().map(|p| p.v).fold(0.0, f64::max))
            .max(f64::MIN_POSITIVE);
        let y = |v: f64| bottom - (v / max).clamp(0.0, 1.0) * ROW;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{:.1}\" font-size=\"10\" fill=\"#5b6473\">{}</text><text x=\"0\" y=\"{:.1}\" font-size=\"9\" fill=\"#8a93a3\">max {}{}</text>",
            top + 10.0,
            r.label,
            top + 21.0,
            fmt(if r.points.is_empty() { 0.0 } else { max }),
            r.unit
        ));
        svg.push_str(&format!(
            "<line x1=\"{LABEL}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#d5d9e0\"/>",
            WIDTH - 4.0
        ));
        if r.points.is_empty() {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#8a93a3\">no datapoint</text>",
                LABEL + 4.0,
                top + 15.0
            ));
            continue;
        }
        let path: Vec<String> = r
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.t), y(p.v)))
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            r.color,
            path.join(" ")
        ));
        for p in r.points {
            // A delivery datapoint of 0 is a failed attempt: red, so failures stand out.
            let fill = if r.max == Some(1.0) && p.v == 0.0 {
                "#c62828"
            } else {
                r.color
            };
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.8\" fill=\"{fill}\"><title>{} {}{}</title></circle>",
                x(p.t),
                y(p.v),
                p.t.format("%H:%M"),
                fmt(p.v),
                r.unit
            ));
        }
    }
    if let Some(inc) = &s.incident {
        let ix = x(inc.started_at);
        svg.push_str(&format!(
            "<line class=\"incident-start\" x1=\"{ix:.1}\" y1=\"0\" x2=\"{ix:.1}\" y2=\"{:.1}\" stroke=\"#c62828\" stroke-dasharray=\"3,2\"><title>incident started {}</title></line>",
            height - 10.0,
            inc.started_at.format("%H:%M UTC")
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{LABEL}\" y=\"{:.1}\" font-size=\"9\" fill=\"#8a93a3\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#8a93a3\" text-anchor=\"end\">{}</text></svg>",
        height - 1.0,
        start.format("%H:%M"),
        WIDTH - 4.0,
        height - 1.0,
        end.format("%H:%M")
    ));
    svg
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::model::{Health, Severity};
    use crate::report::IncidentSummary;

    fn t(m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap() + chrono::Duration::minutes(m)
    }

    #[test]
    fn plots_the_window_with_failures_red_and_the_incident_start() {
        let pts = |v: &[(i64, f64)]| -> Vec<Point> {
            v.iter().map(|(m, v)| Point { t: t(*m), v: *v }).collect()
        };
        let s = StreamReport {
            stream: "orders".into(),
            arn: String::new(),
            account: "1".into(),
            region: "r".into(),
            health: Health::Failing,
            reason: String::new(),
            metrics: {
                use crate::model::{MetricKind, StreamMetrics};
                let mut m = StreamMetrics::default();
                m.extend(
                    MetricKind::Success,
                    pts(&[(1, 1.0), (2, 1.0), (7, 0.0), (8, 0.0), (9, 0.0)]),
                );
                m.extend(MetricKind::Incoming, pts(&[(1, 10.0), (9, 40.0)]));
                crate::report::ReportMetrics::new(Some(std::sync::Arc::new(m)))
            },
            root_cause: None,
            findings: Default::default(),
            incident: Some(IncidentSummary {
                id: "inc".into(),
                severity: Severity::Critical,
                started_at: t(8),
                alerts_sent: 1,
            }),
            diagnosed_at: None,
            changes: Vec::new(),
            changes_error: None,
            risks: Vec::new(),
        };
        let svg = render(&s, t(0), t(10));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            svg.matches("fill=\"#c62828\"").count(),
            3,
            "three failed attempts"
        );
        assert!(svg.contains("class=\"incident-start\""));
        // The incident started at minute 8 of 10: 80 % along the plot.
        let x = LABEL + 0.8 * (WIDTH - LABEL - 4.0);
        assert!(svg.contains(&format!("x1=\"{x:.1}\"")), "{svg}");
        assert!(svg.contains("max 40 rec"));
        assert!(svg.contains("no datapoint"), "freshness has none");
        assert!(!svg.contains("<script"));
    }
}
