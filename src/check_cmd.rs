//! The one-shot commands: `check` (read metrics and run every check now) and `test-alert`.

use std::process::ExitCode;

use chrono::Utc;

use crate::alert::{build_sinks, SendError};
use crate::aws::sdk::ClientFactory;
use crate::config::Settings;
use crate::detect;
use crate::diagnose::checks::{self, Checks};
use crate::diagnose::Diagnose;
use crate::model::{Health, Status};
use crate::plan::{self, alerts, Diagnosed};
use crate::poll;
use crate::poll::inventory::{self, Inventory};
use crate::report::Report;
use crate::telemetry::metrics::Metrics;

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
    if !inventory::reached_aws(&entries) {
        eprintln!("error: cannot reach AWS: every DescribeDeliveryStream call failed to connect");
        return ExitCode::from(3);
    }
    let now = Utc::now();
    let targets = inventory::targets(&entries);
    let window = detect::window_at(&settings, now, targets.iter().map(|t| &t.shape));
    // One pass: every metric of every stream.
    let call_size = poll::CallSize::default();
    let mut polled = poll::Reader {
        api: clients.as_ref(),
        metrics: &metrics,
        target: poll::DEFAULT_TARGET,
        call_size: &call_size,
    }
    .poll(&targets, window)
    .await;
    if polled.unreachable() {
        eprintln!("error: cannot reach CloudWatch: every GetMetricData call failed to connect");
        return ExitCode::from(3);
    }
    let by_name = polled.take_by_name(&targets);
    let checks = Checks::new(clients.clone(), settings.diagnosis.clone());
    let mut reports = Vec::new();
    for (name, entry) in entries.iter() {
        let desc = entry.description();
        let (a, sm) = detect::assess_entry(entry, by_name.get(name), &window, &settings.detection);
        let diagnosis = match desc {
            Some(d) => checks.diagnose(d, window, now).await,
            None => checks::missing_stream(name, entry),
        };
        let shown = Diagnosed { at: now, diagnosis };
        reports.push(plan::stream_report(
            name,
            desc,
            &a,
            sm.as_ref(),
            Some(&shown),
            None,
        ));
    }
    let mut report = Report::new(now, reports);
    report.skipped = inventory.skipped();
    report.window = Some(crate::report::ReportWindow {
        start: window.start,
        end: window.end,
    });
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
    if has_problem(&report) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A stream failing, stalled, degraded or unknown, or a check that fails: `check` exits 1.
/// `unknown` (no data yet, or unreadable) is not a clean bill of health.
pub fn has_problem(report: &Report) -> bool {
    report.streams.iter().any(|s| {
        matches!(
            s.health,
            Health::Failing | Health::Stalled | Health::Degraded | Health::Unknown
        ) || s.findings.iter().any(|f| f.status == Status::Fail)
    })
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
    let alert = alerts::test_alert(Utc::now());
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
                if sink.keeps_state() {
                    let _ = sink.send(&alerts::test_resolved(&alert, Utc::now())).await;
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
