//! The one-shot commands: `check` (read metrics and run every check now) and `test-alert`.

use std::process::ExitCode;

use chrono::Utc;

use crate::alert::{build_sinks, SendError};
use crate::config::{Settings, ShardingSettings};
use crate::daemon::scope::{self, Scope};
use crate::detect;
use crate::diagnose::{changes, checks};
use crate::model::{Health, Status};
use crate::plan::{self, alerts, Diagnosed};
use crate::poll;
use crate::poll::inventory::{self, Entry};
use crate::report::Report;
use crate::telemetry::metrics::Metrics;

/// `check`: exit 0 all healthy or idle, 1 a problem, 3 AWS unreachable at all. Every target
/// and region is read; `--stream NAME` restricts each of them to those names.
pub async fn run(
    mut settings: Settings,
    streams: Vec<String>,
    json: bool,
    audit: bool,
) -> ExitCode {
    if !streams.is_empty() {
        for t in &mut settings.targets {
            t.streams.names = streams.clone();
            t.streams.discover = false;
        }
    }
    let metrics = Metrics::new();
    let parts = scope::build(&settings, &metrics).await;
    let scopes: Vec<Scope> = parts
        .into_iter()
        .map(|p| Scope::new(p, ShardingSettings::default()))
        .collect();
    let none = std::collections::BTreeSet::new();
    let refreshed = futures::future::join_all(scopes.iter().map(|s| s.refresh(&none))).await;
    for (s, r) in scopes.iter().zip(&refreshed) {
        if let Err(e) = r {
            let what = if s.blind().is_some() {
                "cannot read this target"
            } else {
                "stream discovery failed"
            };
            eprintln!("warning: target {} ({}): {what}: {e}", s.target, s.region);
        }
    }
    if !scopes.iter().any(Scope::answered) {
        eprintln!("error: cannot reach AWS: every call failed to connect");
        return ExitCode::from(3);
    }
    // With several targets, a name given with --stream that one of them does not have is
    // not reported missing there when another has it.
    let found: std::collections::BTreeSet<String> = scopes
        .iter()
        .flat_map(|s| {
            s.inventory
                .entries()
                .iter()
                .filter(|(_, e)| !matches!(e, Entry::Missing { .. }))
                .map(|(n, _)| n.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    let restricted = !streams.is_empty() && scopes.len() > 1;
    let now = Utc::now();
    let shapes: Vec<crate::model::Shape> = scopes
        .iter()
        .flat_map(|s| inventory::targets(&s.inventory.entries()))
        .map(|t| t.shape)
        .collect();
    let window = detect::window_at(&settings, now, shapes.iter());
    let mut reports = Vec::new();
    let pacer = changes::Pacer::default();
    let mut any_answer = false;
    let mut any_poll = false;
    for (i, scope) in scopes.iter().enumerate() {
        let entries = scope.inventory.entries();
        let targets = inventory::targets(&entries);
        // One pass: every metric of every stream.
        let mut polled = match scope.blind() {
            Some(e) => poll::PollResult::failed(targets.len(), e),
            None => {
                poll::Reader {
                    api: scope.api.as_ref(),
                    metrics: &metrics,
                    target: &scope.target,
                    region: &scope.region,
                    call_size: &scope.call_size,
                }
                .poll(&targets, window)
                .await
            }
        };
        if !targets.is_empty() && scope.blind().is_none() {
            any_poll = true;
            any_answer |= !polled.unreachable();
        }
        let by_name = polled.take_by_name(&targets);
        // `--audit`: the audit metrics of this scope's streams, in batched calls.
        let audit_api = scope
            .audit
            .as_ref()
            .filter(|_| audit && scope.blind().is_none());
        let mut audit_metrics = std::collections::HashMap::new();
        if let Some(api) = audit_api {
            let descs: Vec<&crate::aws::StreamDescription> = entries
                .values()
                .filter_map(|e| e.description())
                .filter(|d| d.s3.is_some())
                .collect();
            let (m, _) = crate::audit::read::metrics(api.as_ref(), &descs, now).await;
            audit_metrics = descs.iter().map(|d| d.name.clone()).zip(m).collect();
        }
        for (name, entry) in entries.iter() {
            let missing = matches!(entry, Entry::Missing { .. });
            let first_scope_of_missing = !found.contains(name) && i == 0;
            if restricted && missing && !first_scope_of_missing {
                continue;
            }
            let desc = entry.description();
            let stream = scope.locate(name, entry);
            let (a, sm) = detect::assess_entry(
                entry,
                by_name.get(name.as_str()),
                &window,
                &settings.detection,
            );
            let diagnosis = match desc {
                Some(d) => {
                    let diagnose = scope.diagnoser.diagnose(d, window, now);
                    match &scope.trail {
                        Some(trail) => {
                            changes::diagnose_with_changes(
                                diagnose,
                                trail.as_ref(),
                                &pacer,
                                &stream.account,
                                d,
                                now,
                                settings.diagnosis.check_timeout,
                            )
                            .await
                        }
                        None => diagnose.await,
                    }
                }
                None => checks::missing_stream(name, entry),
            };
            let shown = Diagnosed { at: now, diagnosis };
            let mut report = plan::stream_report(&stream, &a, sm.as_ref(), Some(&shown), None);
            if let (Some(api), Some(d), Some(metrics)) =
                (audit_api, desc, audit_metrics.remove(name))
            {
                let inputs = crate::audit::read::inputs(
                    api.as_ref(),
                    d,
                    a.health,
                    Some(shown.diagnosis.findings.clone()),
                    metrics,
                    &settings,
                    now,
                )
                .await;
                for (_, outcome) in crate::audit::assess(&inputs) {
                    match outcome {
                        crate::audit::Outcome::Found(r) => {
                            report.risks.push(crate::report::ActiveRisk {
                                risk: r.id,
                                since: now,
                                summary: r.summary,
                                remediation: r.remediation,
                                evidence: r.evidence,
                            })
                        }
                        crate::audit::Outcome::Unknown(why) => {
                            eprintln!("warning: {name}: a risk rule could not be evaluated: {why}")
                        }
                        crate::audit::Outcome::Clear => {}
                    }
                }
            }
            reports.push(report);
        }
    }
    if any_poll && !any_answer {
        eprintln!("error: cannot reach CloudWatch: every GetMetricData call failed to connect");
        return ExitCode::from(3);
    }
    let mut report = Report::new(now, reports);
    report.skipped = scopes.iter().flat_map(|s| s.inventory.skipped()).collect();
    report.targets = scopes.iter().map(Scope::status).collect();
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

/// A stream failing, stalled, degraded or unknown, a check that fails, or (with `--audit`) a
/// risk: `check` exits 1.
/// `unknown` (no data yet, or unreadable) is not a clean bill of health.
pub fn has_problem(report: &Report) -> bool {
    report.streams.iter().any(|s| {
        matches!(
            s.health,
            Health::Failing | Health::Stalled | Health::Degraded | Health::Unknown
        ) || s.findings.iter().any(|f| f.status == Status::Fail)
            || !s.risks.is_empty()
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
