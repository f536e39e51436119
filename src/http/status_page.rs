//! `GET /`: a small server-rendered status page (every stream with its health, open incidents
//! with their root cause and fix, the time of the last poll). It refreshes itself every 30 s;
//! no JavaScript, no external assets. Pure rendering of a [`Report`].

use crate::model::Health;
use crate::model::Status;
use crate::report::Report;

/// HTML-escape text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(h: Health) -> &'static str {
    match h {
        Health::Failing | Health::Stalled => "bad",
        Health::Degraded => "warn",
        Health::Healthy => "ok",
        Health::Idle | Health::Unknown => "dim",
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}h3{font-size:14px;margin:16px 0 6px}.meta{color:#5b6473;margin-bottom:16px}\
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e6e8ec;vertical-align:top}\
th{background:#eef0f4;font-weight:600}.b{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}\
.ok{background:#d9f2e1;color:#17613a}.bad{background:#fbdada;color:#9b1c1c}.warn{background:#fdf0c9;color:#7a5300}.dim{background:#e6e8ec;color:#4a5261}\
.card{background:#fff;border-left:4px solid #d33;padding:12px 16px;margin:12px 0;box-shadow:0 1px 2px #0001}\
pre{background:#f1f3f6;padding:10px;overflow:auto;white-space:pre-wrap;font-size:12px}code{font-size:12px}";

/// The page for `report`.
pub fn render(report: &Report, last_successful_poll: Option<f64>) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta http-equiv=\"refresh\" content=\"30\"><meta name=\"viewport\" content=\"width=device-width\">");
    h.push_str("<title>firehose-sentinel</title><style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body>");
    let failing = report
        .streams
        .iter()
        .filter(|s| s.health.is_incident())
        .count();
    h.push_str(&format!(
        "<h1>firehose-sentinel</h1><div class=\"meta\">{} streams, {} failing or stalled · last poll {} · last successful poll {} · refreshes every 30 s · <a href=\"/api/v1/status\">JSON</a> · <a href=\"/metrics\">metrics</a></div>",
        report.streams.len(),
        failing,
        esc(&report.generated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        last_successful_poll
            .filter(|t| *t > 0.0)
            .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into())
    ));

    let open: Vec<_> = report
        .streams
        .iter()
        .filter(|s| s.incident.is_some())
        .collect();
    h.push_str(&format!("<h2>Open incidents ({})</h2>", open.len()));
    if open.is_empty() {
        h.push_str("<p>None.</p>");
    }
    let (start, end) = match report.window {
        Some(w) => (w.start, w.end),
        None => (
            report
                .streams
                .iter()
                .flat_map(|s| s.metrics.iter().flat_map(|(_, p)| p).map(|p| p.t))
                .min()
                .unwrap_or(report.generated_at),
            report.generated_at,
        ),
    };
    for s in open {
        let inc = s
            .incident
            .as_ref()
            .map(|i| (i.id.clone(), i.started_at))
            .unwrap_or_default();
        h.push_str(&format!(
            "<div class=\"card\" id=\"incident-{}\"><strong>{}</strong> <span class=\"b {}\">{}</span> since {} <code>{}</code>",
            esc(&s.arn),
            esc(&format!("{} ({}, {})", s.stream, s.account, s.region)),
            badge(s.health),
            s.health,
            esc(&inc.1.format("%Y-%m-%d %H:%M UTC").to_string()),
            esc(&inc.0)
        ));
        h.push_str(&format!(
            "<div class=\"shape\">{}</div>",
            super::chart::render(s, start, end)
        ));
        let rc = s
            .root_cause
            .as_deref()
            .and_then(|id| s.findings.iter().find(|f| f.check == id));
        match rc {
            Some(f) => h.push_str(&format!(
                "<p><b>Root cause</b> <code>{}</code>: {}</p><p><b>Fix</b></p><pre>{}</pre>",
                esc(&f.check),
                esc(&f.summary),
                esc(&f.remediation)
            )),
            None => h.push_str("<p><b>Root cause</b>: not determined yet</p>"),
        }
        if !s.changes.is_empty() || s.changes_error.is_some() {
            h.push_str("<p><b>What changed</b> (CloudTrail, before the incident started)</p><ul>");
            for c in &s.changes {
                h.push_str(&format!("<li>Changed {}</li>", esc(&c.describe(inc.1))));
            }
            if let Some(e) = &s.changes_error {
                h.push_str(&format!("<li class=\"meta\">{}</li>", esc(e)));
            }
            h.push_str("</ul>");
        }
        let others: Vec<_> = s
            .findings
            .iter()
            .filter(|f| {
                matches!(f.status, Status::Fail | Status::Warn)
                    && Some(f.check.as_str()) != s.root_cause.as_deref()
            })
            .collect();
        if !others.is_empty() {
            h.push_str("<ul>");
            for f in others {
                h.push_str(&format!(
                    "<li>{} <code>{}</code>: {}</li>",
                    f.status.as_str(),
                    esc(&f.check),
                    esc(&f.summary)
                ));
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>");
    }

    let risky: Vec<_> = report
        .streams
        .iter()
        .filter(|s| !s.risks.is_empty())
        .collect();
    let n: usize = risky.iter().map(|s| s.risks.len()).sum();
    h.push_str(&format!("<h2>Risks ({n})</h2>"));
    if risky.is_empty() {
        h.push_str("<p>None found by the last audit.</p>");
    } else {
        h.push_str("<table><thead><tr><th>Stream</th><th>Risk</th><th>Since</th><th>What</th><th>Fix</th></tr></thead><tbody>");
        for s in risky {
            for r in &s.risks {
                h.push_str(&format!(
                    "<tr><td>{} ({}, {})</td><td><span class=\"b warn\">{}</span></td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                    esc(&s.stream),
                    esc(&s.account),
                    esc(&s.region),
                    esc(&r.risk),
                    esc(&r.since.format("%Y-%m-%d %H:%M UTC").to_string()),
                    esc(&r.summary),
                    esc(&r.remediation)
                ));
            }
        }
        h.push_str("</tbody></table>");
    }
    if !report.targets.is_empty() {
        h.push_str("<h2>Targets</h2><table><thead><tr><th>Target</th><th>Account</th><th>Region</th><th>Streams</th><th>Status</th></tr></thead><tbody>");
        for t in &report.targets {
            let status = match &t.error {
                Some(e) if t.status == "error" => format!(
                    "<span class=\"b bad\">cannot read</span> {} (its streams are unknown)",
                    esc(e)
                ),
                Some(e) => format!("<span class=\"b ok\">ok</span> <span class=\"b warn\">listing failed</span> {}", esc(e)),
                None => "<span class=\"b ok\">ok</span>".to_string(),
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.target),
                esc(&t.account),
                esc(&t.region),
                t.streams,
                status
            ));
        }
        h.push_str("</tbody></table>");
    }
    // One table per account and region: the same stream name may be in several.
    let mut groups: std::collections::BTreeMap<(&str, &str), Vec<&crate::report::StreamReport>> =
        Default::default();
    for s in &report.streams {
        groups
            .entry((s.account.as_str(), s.region.as_str()))
            .or_default()
            .push(s);
    }
    h.push_str("<h2>Streams</h2>");
    if groups.is_empty() {
        h.push_str("<p>None.</p>");
    }
    for ((account, region), streams) in groups {
        let bad = streams.iter().filter(|s| s.health.is_incident()).count();
        h.push_str(&format!(
            "<h3 class=\"group\">Account {} · {} <span class=\"meta\">({} streams, {} failing or stalled)</span></h3>",
            esc(if account.is_empty() { "unknown" } else { account }),
            esc(if region.is_empty() { "unknown" } else { region }),
            streams.len(),
            bad
        ));
        h.push_str("<table><thead><tr><th>Stream</th><th>Health</th><th>Why</th><th>Window</th><th>Root cause</th></tr></thead><tbody>");
        for s in streams {
            h.push_str(&format!(
                "<tr id=\"stream-{}\"><td>{}</td><td><span class=\"b {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.arn),
                esc(&s.stream),
                badge(s.health),
                s.health,
                esc(&s.reason),
                super::chart::render(s, start, end),
                s.root_cause.as_deref().map(|r| format!("<code>{}</code>", esc(r))).unwrap_or_else(|| "–".into()),
            ));
        }
        h.push_str("</tbody></table>");
    }
    if !report.skipped.is_empty() {
        h.push_str(&format!(
            "<h2>Not watched ({})</h2><table><thead><tr><th>Stream</th><th>Why</th></tr></thead><tbody>",
            report.skipped.len()
        ));
        for k in &report.skipped {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&k.stream),
                esc(&k.reason)
            ));
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Finding;
    use crate::report::{IncidentSummary, StreamReport};

    #[test]
    fn escapes_and_shows_the_root_cause() {
        let s = StreamReport {
            stream: "orders<script>".into(),
            arn: String::new(),
            account: "1".into(),
            region: "r".into(),
            health: Health::Failing,
            reason: "x".into(),
            metrics: Default::default(),
            root_cause: Some("s3.bucket".into()),
            findings: std::sync::Arc::new(vec![Finding {
                check: "s3.bucket".into(),
                status: Status::Fail,
                summary: "bucket gone".into(),
                evidence: serde_json::Value::Null,
                remediation: "create <it>".into(),
            }]),
            incident: Some(IncidentSummary {
                severity: crate::model::Severity::Critical,
                id: "inc-1".into(),
                started_at: chrono::Utc::now(),
                alerts_sent: 1,
            }),
            diagnosed_at: None,
            changes: Vec::new(),
            changes_error: None,
            risks: Vec::new(),
        };
        let html = render(&Report::new(chrono::Utc::now(), vec![s]), None);
        assert!(html.contains("orders&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("bucket gone") && html.contains("create &lt;it&gt;"));
        assert!(html.contains("http-equiv=\"refresh\""));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }

    #[test]
    fn groups_streams_by_account_and_region_and_shows_unreadable_targets() {
        let row = |account: &str, region: &str| StreamReport {
            stream: "orders".into(),
            arn: crate::model::StreamRef::new("orders", account, region).arn,
            account: account.into(),
            region: region.into(),
            health: Health::Healthy,
            reason: "ok".into(),
            metrics: Default::default(),
            root_cause: None,
            findings: Default::default(),
            incident: None,
            diagnosed_at: None,
            changes: Vec::new(),
            changes_error: None,
            risks: Vec::new(),
        };
        let mut r = Report::new(
            chrono::Utc::now(),
            vec![
                row("222222222222", "us-east-1"),
                row("111111111111", "eu-west-1"),
                row("111111111111", "us-east-1"),
            ],
        );
        r.targets = vec![crate::report::TargetStatus {
            target: "c".into(),
            region: "us-east-1".into(),
            account: "333333333333".into(),
            status: "error".into(),
            error: Some("GetCallerIdentity: access denied".into()),
            streams: 1,
        }];
        let html = render(&r, None);
        let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("Account 111111111111 · eu-west-1") < at("Account 111111111111 · us-east-1"));
        assert!(at("Account 111111111111 · us-east-1") < at("Account 222222222222 · us-east-1"));
        assert_eq!(html.matches("<tr id=\"stream-arn:aws:firehose:").count(), 3);
        assert!(html.contains("cannot read</span> GetCallerIdentity: access denied"));
    }
}
