//! Slack incoming webhook: `text` fallback plus Block Kit `blocks` (what is wrong, since when,
//! the root cause and its fix, then the other failed checks), kept within Slack's limits by
//! truncating, never by failing.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{post, SendError, Sink};
use crate::config;
use crate::model::Status;
use crate::model::{Alert, AlertReason, Severity};

/// Slack's limits: 50 blocks, 3,000 characters per section text, 150 per header.
const MAX_BLOCKS: usize = 50;
const MAX_SECTION: usize = 3000;
const MAX_HEADER: usize = 150;
const MAX_FALLBACK: usize = 3000;

pub struct SlackSink {
    cfg: config::SlackConfig,
    client: reqwest::Client,
}

impl SlackSink {
    pub fn new(cfg: config::SlackConfig, client: reqwest::Client) -> Self {
        SlackSink { cfg, client }
    }
}

/// Cut `s` to at most `max` characters, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}})
}

/// Code block whose fences survive truncation.
fn code(text: &str) -> String {
    format!("```{}```", truncate(text, MAX_SECTION - 10))
}

/// Text from AWS (summaries, log lines, error messages) escaped for Slack: `&`, `<`, `>` are
/// control characters there, so a log line could otherwise mention `<!channel>` or insert a
/// link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack message for `alert`.
pub fn message(alert: &Alert) -> Value {
    let firing = alert.is_firing();
    let test = if alert.test { "TEST " } else { "" };
    let risk = alert.risk.as_deref().unwrap_or_default();
    let title = match (firing, alert.severity, alert.reason) {
        // (The header is plain text: Slack does not interpret it.)
        _ if alert.kind == crate::model::AlertKind::Risk && firing => {
            format!("{test}⚠️ {}: risk {risk}", alert.stream)
        }
        _ if alert.kind == crate::model::AlertKind::Risk => {
            format!("{test}✅ {}: risk {risk} is gone", alert.stream)
        }
        (true, Severity::Critical, _) => {
            format!("{test}🔴 {} is {} (critical)", alert.stream, alert.health)
        }
        (true, Severity::Warning, _) => {
            format!("{test}🟠 {} is {} (warning)", alert.stream, alert.health)
        }
        (false, _, AlertReason::Idle) => {
            format!(
                "{test}⚪ {} receives nothing: incident closed",
                alert.stream
            )
        }
        (false, _, _) => format!("{test}✅ {} recovered", alert.stream),
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, MAX_HEADER), "emoji": true}}),
    ];
    let since = alert.started_at.format("%Y-%m-%d %H:%M UTC");
    let when = match alert.resolved_at {
        Some(r) => format!(
            "*Since* {since}, *resolved* {}",
            r.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("*Since* {since}"),
    };
    blocks.push(section(&format!(
        "{}\n{when} · account `{}` · region `{}`",
        escape(&alert.summary),
        escape(&alert.account),
        escape(&alert.region)
    )));
    if let Some(rc) = &alert.root_cause {
        blocks.push(section(&format!(
            "*Root cause* (`{}`): {}",
            escape(&rc.check),
            escape(&rc.summary)
        )));
        if !rc.remediation.is_empty() && firing {
            blocks.push(section(&format!(
                "*Fix*\n{}",
                code(&escape(&rc.remediation))
            )));
        }
    } else if firing {
        blocks.push(section("*Root cause*: not determined yet"));
    }
    if firing && !alert.changes.is_empty() {
        let lines: Vec<String> = alert
            .changes
            .iter()
            .map(|c| format!("• Changed {}", escape(&c.describe(alert.started_at))))
            .collect();
        blocks.push(section(&format!(
            "*What changed* (CloudTrail)\n{}",
            lines.join("\n")
        )));
    }
    if firing {
        if let Some(e) = &alert.changes_error {
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&escape(e), MAX_SECTION)}]}));
        }
    }
    if firing {
        let others: Vec<_> = alert
            .findings
            .iter()
            .filter(|f| {
                matches!(f.status, Status::Fail | Status::Warn)
                    && alert
                        .root_cause
                        .as_ref()
                        .is_none_or(|rc| rc.check != f.check)
            })
            .collect();
        // Keep room for the context block.
        let room = MAX_BLOCKS.saturating_sub(blocks.len() + 2);
        for f in others.iter().take(room) {
            blocks.push(section(&format!(
                "*{}* `{}`: {}",
                f.status.as_str().to_uppercase(),
                escape(&f.check),
                escape(&f.summary)
            )));
        }
        if others.len() > room {
            blocks.push(section(&format!(
                "…and {} more findings (see /api/v1/status)",
                others.len() - room
            )));
        }
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&format!("incident `{}` · alert {} · {}", escape(&alert.incident_id), alert.sequence, escape(&alert.arn)), MAX_SECTION)}]}));
    blocks.truncate(MAX_BLOCKS);
    let mut text = format!(
        "{test}{}: {} — {}",
        if firing {
            match alert.severity {
                Severity::Critical => "FIRING (critical)",
                Severity::Warning => "FIRING (warning)",
            }
        } else {
            "RESOLVED"
        },
        escape(&alert.stream),
        escape(&alert.summary)
    );
    if let Some(rc) = &alert.root_cause {
        text.push_str(&format!(
            " Root cause {}: {}",
            escape(&rc.check),
            escape(&rc.summary)
        ));
    }
    if let (true, Some(c)) = (firing, alert.changes.first()) {
        text.push_str(&format!(
            " Changed {}",
            escape(&c.describe(alert.started_at))
        ));
    }
    json!({"text": truncate(&text, MAX_FALLBACK), "blocks": blocks})
}

#[async_trait]
impl Sink for SlackSink {
    fn name(&self) -> &str {
        &self.cfg.name
    }
    fn kind(&self) -> &'static str {
        "slack"
    }
    fn accepts(&self, stream: &str) -> bool {
        self.cfg.streams.matches(stream)
    }
    async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let body = serde_json::to_vec(&message(alert)).map_err(|e| SendError::Permanent {
            message: format!("cannot encode message: {e}"),
        })?;
        post(
            &self.client,
            &self.cfg.webhook_url,
            body,
            &[("Idempotency-Key".into(), alert.idempotency_key())],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, RootCause};

    #[test]
    fn stays_within_limits_with_huge_findings() {
        let mut a = crate::plan::alerts::test_alert(chrono::Utc::now());
        a.test = false;
        a.root_cause = Some(RootCause {
            check: "s3.bucket".into(),
            summary: "x".repeat(10_000),
            remediation: "y".repeat(10_000),
        });
        a.findings = (0..200)
            .map(|i| Finding {
                check: format!("c.{i}"),
                status: Status::Fail,
                summary: "z".repeat(5000),
                evidence: serde_json::Value::Null,
                remediation: String::new(),
            })
            .collect();
        let m = message(&a);
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                let max = if b["type"] == "header" {
                    MAX_HEADER
                } else {
                    MAX_SECTION
                };
                assert!(t.chars().count() <= max, "{} chars", t.chars().count());
            }
        }
        assert!(m["text"].as_str().unwrap().chars().count() <= MAX_FALLBACK);
        assert!(m.to_string().contains("more findings"));
    }

    #[test]
    fn names_what_changed_before_the_incident() {
        let mut a = crate::plan::alerts::test_alert(chrono::Utc::now());
        a.test = false;
        a.changes = vec![crate::model::Change {
            time: a.started_at - chrono::Duration::minutes(4),
            event: "PutBucketPolicy".into(),
            resource: "orders-bucket".into(),
            actor: "arn:aws:iam::1:user/alice".into(),
        }];
        a.changes_error = Some("CloudTrail lookup incomplete: throttled".into());
        let m = message(&a);
        let all = m.to_string();
        assert!(
            all.contains("Changed 4 min before: PutBucketPolicy on orders-bucket by arn:aws:iam::1:user/alice"),
            "{all}"
        );
        assert!(m["text"]
            .as_str()
            .unwrap()
            .contains("Changed 4 min before: PutBucketPolicy"));
        assert!(all.contains("CloudTrail lookup incomplete"));
    }

    #[test]
    fn resolved_is_marked() {
        let mut a = crate::plan::alerts::test_alert(chrono::Utc::now());
        a.test = false;
        a.status = crate::model::AlertStatus::Resolved;
        a.resolved_at = Some(chrono::Utc::now());
        let m = message(&a);
        assert!(m["text"].as_str().unwrap().starts_with("RESOLVED"));
        assert!(m["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("recovered"));
    }

    #[test]
    fn text_from_aws_cannot_mention_the_channel_or_insert_links() {
        let mut a = crate::plan::alerts::test_alert(chrono::Utc::now());
        a.test = false;
        a.summary = "orders: <!channel> & <https://evil.example|click>".into();
        a.root_cause = Some(RootCause {
            check: "lambda.invocation".into(),
            summary: "log line: <!here> boom".into(),
            remediation: "x > y".into(),
        });
        a.findings = vec![Finding {
            check: "logging.errors".into(),
            status: Status::Fail,
            summary: "<@U123> said <!everyone>".into(),
            evidence: serde_json::Value::Null,
            remediation: String::new(),
        }];
        let m = message(&a).to_string();
        for raw in [
            "<!channel>",
            "<!here>",
            "<!everyone>",
            "<@U123>",
            "<https://evil",
        ] {
            assert!(!m.contains(raw), "{raw} survived: {m}");
        }
        assert!(m.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"));
    }
}
