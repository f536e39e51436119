//! The risk audit as the daemon runs it (`schedule.audit`): for each scope whose credentials
//! work, the audit metrics of its streams in batched calls, then per stream the checks, its
//! keys and its processor, [`audit::assess`], and the risk lifecycle of [`risks::step`]; the
//! risk alerts are committed with the state and sent like incident alerts. Never opens an
//! incident.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::monitor::{Monitor, PollingFlag};
use crate::alert::outbox::OutboxEntry;
use crate::audit::{self, read, Outcome};
use crate::aws::StreamDescription;
use crate::detect;
use crate::model::{Alert, Health, StreamRef};
use crate::plan::risks;

/// What the audit concluded for one stream.
struct Audited {
    stream: StreamRef,
    health: Health,
    outcomes: Vec<(&'static str, Outcome)>,
}

impl Monitor {
    /// A scheduled audit: skipped (and logged) while the previous one still runs.
    pub async fn audit_tick(self: &Arc<Self>, shutdown: &CancellationToken) {
        if self.auditing.swap(true, Ordering::SeqCst) {
            tracing::warn!("previous audit still running; this one is skipped");
            return;
        }
        let _flag = PollingFlag(&self.auditing);
        tokio::select! {
            _ = self.audit(Utc::now()) => {}
            _ = shutdown.cancelled() => tracing::info!("audit abandoned for shutdown"),
        }
    }

    /// Audit every watched stream at `now`; returns the risks open after it.
    pub async fn audit(&self, now: DateTime<Utc>) -> usize {
        let watched = self.watched();
        let health: HashMap<String, Health> = self
            .published
            .report
            .read()
            .map(|r| {
                r.streams
                    .iter()
                    .map(|s| (s.arn.clone(), s.health))
                    .collect()
            })
            .unwrap_or_default();
        let mut audited: Vec<Audited> = Vec::new();
        for (si, scope) in self.scopes.iter().enumerate() {
            let Some(api) = &scope.audit else { continue };
            if scope.blind().is_some() {
                continue;
            }
            // Owned: a borrowed item in the stream below makes the audit's future not `Send`
            // for every lifetime, which `tokio::spawn` needs.
            let streams: Vec<(StreamRef, StreamDescription)> = watched
                .values()
                .filter(|w| w.scope == si)
                .filter_map(|w| w.entry.description().map(|d| (w.stream.clone(), d.clone())))
                .filter(|(_, d)| d.s3.is_some())
                .collect();
            if streams.is_empty() {
                continue;
            }
            let descs: Vec<&StreamDescription> = streams.iter().map(|s| &s.1).collect();
            let (metrics, requested) = read::metrics(api.as_ref(), &descs, now).await;
            self.metrics
                .audit_metrics_requested_total
                .with_label_values(&[&scope.target])
                .inc_by(requested as u64);
            self.metrics
                .cloudwatch_metrics_requested_total
                .with_label_values(&[&scope.target])
                .inc_by(requested as u64);
            let per_stream = futures::stream::iter(streams.into_iter().zip(metrics))
                .map(|((stream, d), metrics)| {
                    let health = health.get(&stream.arn).copied().unwrap_or(Health::Unknown);
                    async move {
                        let d = &d;
                        let window = detect::window_at(&self.settings, now, [&d.shape()]);
                        let findings = scope.diagnoser.diagnose(d, window, now).await.findings;
                        let inputs = read::inputs(
                            api.as_ref(),
                            d,
                            health,
                            Some(findings),
                            metrics,
                            &self.settings,
                            now,
                        )
                        .await;
                        Audited {
                            stream,
                            health,
                            outcomes: audit::assess(&inputs),
                        }
                    }
                })
                .buffer_unordered(self.settings.diagnosis.concurrency.max(1))
                .collect::<Vec<_>>()
                .await;
            audited.extend(per_stream);
        }
        // Risks of streams no longer watched are resolved (while every listing worked).
        let listings_ok = self.scopes.iter().all(|s| s.listing_ok())
            && self.scopes.iter().all(|s| s.knows_account());
        // The audit period this run belongs to: every replica on this schedule agrees on it.
        let tick = self
            .settings
            .schedule
            .audit
            .as_deref()
            .and_then(|e| crate::poll::cost::previous_tick(e, now))
            .unwrap_or(now);
        let mut alerts: Vec<Alert> = Vec::new();
        let open = self.store.with(|s| {
            for a in &audited {
                let before = s.risks.get(&a.stream.arn).cloned().unwrap_or_default();
                let (next, emitted) =
                    risks::step(&before, &a.stream, &a.outcomes, a.health, tick, now);
                for (rule, _) in &a.outcomes {
                    let active = next.contains_key(*rule);
                    if active || before.contains_key(*rule) {
                        self.metrics
                            .risk_active
                            .with_label_values(&[
                                &a.stream.name,
                                &a.stream.region,
                                &a.stream.account,
                                &rule.to_string(),
                            ])
                            .set(i64::from(active));
                    }
                }
                if next.is_empty() {
                    s.risks.remove(&a.stream.arn);
                } else {
                    s.risks.insert(a.stream.arn.clone(), next);
                }
                alerts.extend(emitted);
            }
            // A stream deleted, no longer delivering to S3, or (while every listing works) no
            // longer selected has its risks resolved; an unreadable one keeps them.
            let gone: Vec<String> = s
                .risks
                .keys()
                .filter(|arn| match watched.get(*arn) {
                    None => listings_ok,
                    Some(w) => match &w.entry {
                        crate::poll::inventory::Entry::Missing { .. } => true,
                        crate::poll::inventory::Entry::Described(d) => d.s3.is_none(),
                        crate::poll::inventory::Entry::Unreadable { .. } => false,
                    },
                })
                .cloned()
                .collect();
            for arn in gone {
                if let Some(r) = s.risks.remove(&arn) {
                    for (rule, o) in &r {
                        self.metrics
                            .risk_active
                            .with_label_values(&[
                                &o.stream.name,
                                &o.stream.region,
                                &o.stream.account,
                                rule,
                            ])
                            .set(0);
                    }
                    alerts.extend(risks::gone(&r, now));
                }
            }
            let entries: Vec<OutboxEntry> = alerts
                .iter()
                .flat_map(|al| self.outbox.entries_for(al, now))
                .map(|e| OutboxEntry { held: true, ..e })
                .collect();
            s.outbox.extend(entries);
            let dropped =
                crate::alert::outbox::bound(&mut s.outbox, self.settings.delivery.max_pending);
            self.outbox.count_overflow(&dropped);
            s.risks.values().map(BTreeMap::len).sum::<usize>()
        });
        self.metrics.audits_total.inc();
        for al in &alerts {
            tracing::warn!(stream = %al.stream, account = %al.account, region = %al.region,
                risk = ?al.risk, status = %al.status, summary = %al.summary, "risk alert queued");
        }
        self.publish_risks();
        self.save().await;
        if !alerts.is_empty() {
            self.outbox.wake_all();
        }
        tracing::info!(
            streams = audited.len(),
            risks_open = open,
            alerts = alerts.len(),
            "audit finished"
        );
        open
    }

    /// Put the open risks into the published report (they show on the status page and in
    /// `/api/v1/status` between cycles too).
    pub(super) fn publish_risks(&self) {
        let open = self.store.with(|s| s.risks.clone());
        if let Ok(mut r) = self.published.report.write() {
            for s in r.streams.iter_mut() {
                s.risks = open
                    .get(&s.arn)
                    .map(|m| m.values().map(crate::report::ActiveRisk::of).collect())
                    .unwrap_or_default();
            }
        }
    }
}
