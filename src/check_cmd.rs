//! The one-shot commands: `check` (read metrics and run every check now) and `test-alert`.

use std::process::ExitCode;

use chrono::Utc;

use crate::alert::{build_sinks, Alert, SendError};
use crate::aws::sdk::ClientFactory;
use crate::config::Settings;
use crate::detect::Health;
use crate::diagnosis::Diagnose;
use crate::inventory::Inventory;
use crate::metrics::Metrics;
use crate::poller::{self, Window};
use crate::report::{metrics_json, Report, Status, StreamReport};

/// `check`: exit 0 all healthy or idle, 1 a problem, 3 AWS unreachable at all.
pub async fn run(mut settings: Settings, streams: Vec<String>, json: bool) -> ExitCode {
    if !streams.is_empty() {
        settings.streams.names = streams;
        settings.streams.discover = false;
    }
    let metrics = Metrics::new();
    let factory = ClientFactory::new(settings.aws.clone(), metrics.clone());
    let clients = factory.clients(&factory.default_key()).await;
    let inventory = Inventory::new();
    if let Err(e) = inventory.refresh(clients.as_ref(), &settings.streams).await {
        if e.is_unreachable() {
            eprintln!("error: cannot reach AWS: {e}");
            return ExitCode::from(3);
        }
        eprintln!("warning: stream discovery failed: {e}");
    }
    let entries = inventory.entries();
    if !crate::inventory::reached_aws(&entries) {
        eprintln!("error: cannot reach AWS: every DescribeDeliveryStream call failed to connect");
        return ExitCode::from(3);
    }
    let s = &settings.schedule;
    let now = Utc::now();
    let window = Window::aligned(now, s.period_seconds, s.delay_seconds, s.lookback_periods);
    let targets = crate::inventory::targets(&entries);
    let polled = poller::poll(clients.as_ref(), &targets, window, &metrics).await;
    if polled.unreachable() {
        eprintln!("error: cannot reach CloudWatch: every GetMetricData call failed to connect");
        return ExitCode::from(3);
    }
    let by_name = polled.by_name(&targets);
    let checks = crate::checks::Checks::new(clients.clone(), settings.diagnosis.clone());
    let mut reports = Vec::new();
    for (name, entry) in &entries {
        let desc = entry.description();
        let (a, sm) =
            crate::daemon::assess_entry(entry, by_name.get(name), &window, &settings.detection);
        let diagnosis = match desc {
            Some(d) => checks.diagnose(d, window).await,
            None => crate::checks::missing_stream(name, entry),
        };
        reports.push(StreamReport {
            stream: name.clone(),
            arn: desc.map(|d| d.arn.clone()).unwrap_or_default(),
            account: desc.map(|d| d.account()).unwrap_or_default(),
            region: desc.map(|d| d.region()).unwrap_or_default(),
            health: a.health,
            reason: a.reason.clone(),
            metrics: sm.as_ref().map(metrics_json).unwrap_or_default(),
            root_cause: diagnosis.root_cause.clone(),
            findings: diagnosis.findings,
            incident: None,
            diagnosed_at: Some(now),
        });
    }
    let report = Report::new(now, reports);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode report: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    // 0 only when every stream is healthy or idle: `unknown` (no data yet, or unreadable)
    // is not a clean bill of health.
    let problem = report.streams.iter().any(|s| {
        matches!(
            s.health,
            Health::Failing | Health::Stalled | Health::Degraded | Health::Unknown
        ) || s.findings.iter().any(|f| f.status == Status::Fail)
    });
    if problem {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `test-alert`: send a marked test alert through each (or one) sink, report each outcome.
pub async fn test_alert(settings: Settings, only: Option<String>) -> ExitCode {
    let sinks = build_sinks(&settings);
    let chosen: Vec<_> = sinks
        .into_iter()
        .filter(|s| only.as_deref().is_none_or(|n| n == s.name()))
        .collect();
    if chosen.is_empty() {
        match only {
            Some(n) => eprintln!(
                "error: no sink named {n:?}; configured: {}",
                settings.alerts.sink_names().join(", ")
            ),
            None => eprintln!("error: no alert sink is configured"),
        }
        return ExitCode::from(1);
    }
    let alert = Alert::test(Utc::now());
    let mut all_ok = true;
    for sink in chosen {
        let mut outcome = Err(SendError::Retryable {
            message: "not attempted".into(),
            retry_after: None,
        });
        for attempt in 0..3 {
            outcome = sink.send(&alert).await;
            match &outcome {
                Err(SendError::Retryable { .. }) if attempt < 2 => {
                    tokio::time::sleep(settings.delivery.initial_backoff).await
                }
                _ => break,
            }
        }
        match outcome {
            Ok(()) => {
                println!("{} ({}): delivered", sink.name(), sink.kind());
                // Sinks that keep state (an open PagerDuty incident, an Alertmanager alert)
                // get the test resolved at once.
                if matches!(sink.kind(), "pagerduty" | "alertmanager") {
                    let mut resolved = alert.clone();
                    resolved.status = "resolved".into();
                    resolved.sequence = 2;
                    resolved.resolved_at = Some(Utc::now());
                    let _ = sink.send(&resolved).await;
                }
            }
            Err(e) => {
                all_ok = false;
                println!("{} ({}): FAILED: {e}", sink.name(), sink.kind());
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
