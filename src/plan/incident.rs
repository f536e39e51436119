//! The incident lifecycle: when an incident opens and closes, and which alerts it emits.
//!
//! Pure state machine over (previous incident, this cycle's assessment, diagnosis, now): no
//! I/O. One incident sends one `firing`, repeats only when the root cause changes, when a
//! `warning` incident escalates to `critical`, or after `renotify_after`, and ends with one
//! `resolved` (recovered, or idle for `idle_close_after`); every alert takes the next
//! sequence number. Recovery counts successful datapoints across cycles, so a stream whose
//! deliveries are minutes apart still closes its incident.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::DetectionSettings;
use crate::detect::Assessment;
use crate::model::{AlertReason, AlertStatus, FiringSnapshot, Health, Severity};

/// How many cycles a firing alert waits for a diagnosis in which every check ran.
pub const MAX_DIAGNOSIS_WAIT_CYCLES: u32 = 2;

/// An open incident, persisted in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub stream: String,
    /// The stream's ARN: the key of the incident in the state (empty in state files written
    /// before incidents were keyed by ARN, until the stream is found again).
    #[serde(default)]
    pub arn: String,
    pub started_at: DateTime<Utc>,
    pub health: Health,
    /// `critical` (failing or stalled) or `warning` (sustained degraded); only ever rises.
    #[serde(default)]
    pub severity: Severity,
    /// Alerts emitted so far (the last sequence number used).
    pub seq: u32,
    pub firing_sent: bool,
    pub last_root_cause: Option<String>,
    pub last_alert_at: Option<DateTime<Utc>>,
    /// Cycles the first firing alert has waited for a complete diagnosis.
    pub waiting_cycles: u32,
    pub last_diagnosis_at: Option<DateTime<Utc>>,
    /// The newest period known bad (a zero-success datapoint, or the end of a stalled window):
    /// recovery counts only successful periods after it.
    #[serde(default)]
    pub last_bad_at: Option<DateTime<Utc>>,
    /// Successful datapoints seen after `last_bad_at`, across cycles (newest last, at most
    /// `recover_after_periods`).
    #[serde(default)]
    pub recovered: Vec<DateTime<Utc>>,
    /// Newest sign of activity seen (records arriving, a delivery datapoint).
    #[serde(default)]
    pub last_activity_at: Option<DateTime<Utc>>,
    /// What is kept of the last firing alert: what Alertmanager is re-sent, and what a
    /// stream that disappears is resolved from.
    #[serde(default)]
    pub last_firing: Option<FiringSnapshot>,
}

impl Incident {
    /// The id of an incident on `stream` whose bad run started in the period `since`, watched
    /// by one of `shards` shards (`sharding.total`: when it changes, a stream that moves to
    /// another shard opens there under a new id, which the old shard's alerts never used).
    pub fn id_for(stream: &str, arn: &str, since: DateTime<Utc>, shards: u32) -> String {
        let mut h = Sha256::new();
        h.update(arn.as_bytes());
        h.update([0]);
        h.update(stream.as_bytes());
        h.update(since.timestamp().to_be_bytes());
        if shards > 1 {
            h.update(shards.to_be_bytes());
            // Shards are keyed by the stream ARN (they were by name): an incident that moves
            // shard on that upgrade opens under a new id, never one a receiver has seen.
            h.update(b"arn-shards");
        }
        format!("inc-{}", &hex::encode(h.finalize())[..16])
    }

    /// An incident opened at `now` on a bad run that started in the period `since`. The id
    /// derives from the stream (ARN and name) and `since` only, never from when the cycle
    /// ran: two replicas of one shard open the same incident under the same id, so they send
    /// the same `Idempotency-Key`s and PagerDuty dedup key (high availability).
    pub fn open(
        stream: &str,
        arn: &str,
        health: Health,
        severity: Severity,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Self {
        Incident::open_as(
            Incident::id_for(stream, arn, since, 1),
            stream,
            health,
            severity,
            now,
        )
    }

    /// An incident opened at `now` under `id` (see [`Incident::id_for`]).
    pub fn open_as(
        id: String,
        stream: &str,
        health: Health,
        severity: Severity,
        now: DateTime<Utc>,
    ) -> Self {
        Incident {
            id,
            stream: stream.to_string(),
            arn: String::new(),
            started_at: now,
            health,
            severity,
            seq: 0,
            firing_sent: false,
            last_root_cause: None,
            last_alert_at: None,
            waiting_cycles: 0,
            last_diagnosis_at: None,
            last_bad_at: None,
            recovered: Vec::new(),
            last_activity_at: None,
            last_firing: None,
        }
    }

    /// Whether a diagnosis should run this cycle.
    pub fn needs_diagnosis(&self, now: DateTime<Utc>, cfg: &DetectionSettings) -> bool {
        match self.last_diagnosis_at {
            None => true,
            Some(_) if !self.firing_sent => true,
            Some(t) => {
                now - t
                    >= chrono::Duration::from_std(cfg.recheck_after)
                        .unwrap_or(chrono::Duration::MAX)
            }
        }
    }
}

/// An alert the lifecycle decided to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    pub status: AlertStatus,
    pub seq: u32,
    pub reason: AlertReason,
}

/// What this cycle's diagnosis said, if one ran.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosisOutcome {
    /// Every check ran (no `error` finding).
    pub complete: bool,
    /// The root cause cannot change once the checks that errored run: complete, or the
    /// root cause ranks ahead of every check that errored.
    pub settled: bool,
    pub root_cause: Option<String>,
}

/// Advance `slot` (the stream's incident, if any) by one cycle. Returns the alerts to send and,
/// when the incident closed, the closed incident.
pub fn step(
    slot: &mut Option<Incident>,
    a: &Assessment,
    diagnosis: Option<&DiagnosisOutcome>,
    now: DateTime<Utc>,
    cfg: &DetectionSettings,
) -> (Vec<Emit>, Option<Incident>) {
    let mut out = Vec::new();
    let Some(inc) = slot.as_mut() else {
        return (out, None);
    };
    if let Some(d) = diagnosis {
        inc.last_diagnosis_at = Some(now);
        if !inc.firing_sent {
            if d.complete || inc.waiting_cycles >= MAX_DIAGNOSIS_WAIT_CYCLES {
                inc.seq += 1;
                inc.firing_sent = true;
                inc.last_root_cause = d.root_cause.clone();
                inc.last_alert_at = Some(now);
                out.push(Emit {
                    status: AlertStatus::Firing,
                    seq: inc.seq,
                    reason: AlertReason::Opened,
                });
            } else {
                inc.waiting_cycles += 1;
            }
        } else if d.root_cause != inc.last_root_cause
            && (d.settled || (inc.last_root_cause.is_none() && d.root_cause.is_some()))
        {
            inc.seq += 1;
            inc.last_root_cause = d.root_cause.clone();
            inc.last_alert_at = Some(now);
            out.push(Emit {
                status: AlertStatus::Firing,
                seq: inc.seq,
                reason: AlertReason::RootCauseChanged,
            });
        }
    }
    inc.last_activity_at = inc.last_activity_at.max(a.last_activity);
    if is_bad(inc.severity, a, cfg) {
        if a.health.is_incident() && inc.severity < Severity::Critical {
            inc.severity = Severity::Critical;
            if inc.firing_sent && out.is_empty() {
                inc.seq += 1;
                inc.last_alert_at = Some(now);
                out.push(Emit {
                    status: AlertStatus::Firing,
                    seq: inc.seq,
                    reason: AlertReason::Escalated,
                });
            }
        }
        inc.health = a.health;
        let bad = a.newest_bad.or(match a.health {
            Health::Failing => a.newest_zero(),
            Health::Degraded => a.newest_degraded,
            _ => a.window_end,
        });
        if bad > inc.last_bad_at {
            inc.last_bad_at = bad;
            inc.recovered.retain(|t| bad.is_none_or(|b| *t > b));
        }
        // (An unrepresentable duration never renotifies, rather than renotifying every cycle.)
        let renotify =
            chrono::Duration::from_std(cfg.renotify_after).unwrap_or(chrono::Duration::MAX);
        if inc.firing_sent
            && out.is_empty()
            && inc.last_alert_at.is_some_and(|t| now - t >= renotify)
        {
            inc.seq += 1;
            inc.last_alert_at = Some(now);
            out.push(Emit {
                status: AlertStatus::Firing,
                seq: inc.seq,
                reason: AlertReason::Renotify,
            });
        }
        return (out, None);
    }
    // Recovery: a healthy stream with `recover_after_periods` successful datapoints after the
    // newest period known bad, seen in this window or earlier ones (so a stall that comes
    // and goes does not flap, and deliveries far apart still count).
    // Only a healthy reading counts its successes: partial ones during a brief degraded spell
    // are not recovery.
    if a.health == Health::Healthy {
        for t in a.success_times_after(inc.last_bad_at) {
            if !inc.recovered.contains(&t) {
                inc.recovered.push(t);
            }
        }
    }
    inc.recovered.sort();
    let keep = cfg.recover_after_periods.max(1) as usize;
    let extra = inc.recovered.len().saturating_sub(keep);
    inc.recovered.drain(..extra);
    let recovered =
        a.health == Health::Healthy && inc.recovered.len() >= cfg.recover_after_periods as usize;
    // A stream that receives nothing at all for `idle_close_after` has nothing left to fail.
    let quiet_since = inc.last_activity_at.unwrap_or(inc.started_at);
    let idle = a.health == Health::Idle
        && chrono::Duration::from_std(cfg.idle_close_after).is_ok_and(|d| now - quiet_since >= d);
    if !recovered && !idle {
        return (out, None);
    }
    // A firing alert that was still waiting for its diagnosis is sent before the resolved one,
    // never merged into it.
    if !inc.firing_sent {
        inc.seq += 1;
        inc.firing_sent = true;
        out.push(Emit {
            status: AlertStatus::Firing,
            seq: inc.seq,
            reason: AlertReason::Opened,
        });
    }
    inc.seq += 1;
    inc.last_alert_at = Some(now);
    out.push(Emit {
        status: AlertStatus::Resolved,
        seq: inc.seq,
        reason: if recovered {
            AlertReason::Resolved
        } else {
            AlertReason::Idle
        },
    });
    (out, slot.take())
}

/// The severity this cycle's assessment calls for, for a stream without an incident:
/// `critical` when failing or stalled, `warning` when degraded for `degraded_after_periods`.
pub fn opening_severity(a: &Assessment, cfg: &DetectionSettings) -> Option<Severity> {
    match a.health {
        Health::Failing | Health::Stalled => Some(Severity::Critical),
        Health::Degraded if a.degraded_periods >= cfg.degraded_after_periods => {
            Some(Severity::Warning)
        }
        _ => None,
    }
}

/// Whether this cycle keeps an incident of `severity` open: failing or stalled always; a
/// `warning` incident also while the stream is degraded.
pub fn is_bad(severity: Severity, a: &Assessment, cfg: &DetectionSettings) -> bool {
    a.health.is_incident()
        || (a.health == Health::Degraded
            && (severity == Severity::Warning || opening_severity(a, cfg).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cfg() -> DetectionSettings {
        DetectionSettings::for_tests()
    }

    /// An assessment at cycle minute `m`: failing ones end with a zero datapoint at `m`,
    /// healthy ones with `success_periods` positive datapoints up to `m`.
    fn a(health: Health, success_periods: u32) -> Assessment {
        a_at(health, success_periods, 0)
    }

    fn a_at(health: Health, success_periods: u32, m: i64) -> Assessment {
        let mut points = vec![(t(m - 20), 0.0)];
        if health == Health::Failing {
            points.push((t(m), 0.0));
        }
        for i in 0..success_periods {
            points.push((t(m) + chrono::Duration::seconds(i as i64 + 1), 1.0));
        }
        Assessment {
            health,
            reason: String::new(),
            zero_success_periods: 0,
            success_periods,
            degraded_periods: 0,
            undelivered_since: None,
            last_activity: None,
            success_points: points,
            newest_degraded: None,
            newest_bad: None,
            window_end: Some(t(m)),
            bad_since: None,
        }
    }

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    /// An incident opened at t(0) whose first, complete diagnosis names `rc`: it fires once.
    fn fired(rc: Option<&str>) -> Option<Incident> {
        let mut slot = Some(Incident::open(
            "s",
            "arn",
            Health::Failing,
            Severity::Critical,
            t(0),
            t(0),
        ));
        let (e, _) = step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&done(rc)),
            t(0),
            &cfg(),
        );
        assert_eq!(
            e,
            vec![Emit {
                status: AlertStatus::Firing,
                seq: 1,
                reason: AlertReason::Opened
            }]
        );
        slot
    }

    fn done(rc: Option<&str>) -> DiagnosisOutcome {
        DiagnosisOutcome {
            complete: true,
            settled: true,
            root_cause: rc.map(str::to_string),
        }
    }

    #[test]
    fn one_firing_then_one_resolved() {
        let mut slot = fired(Some("s3.bucket"));
        for m in 1..10 {
            let (e, _) = step(&mut slot, &a(Health::Failing, 0), None, t(m * 5), &cfg());
            assert!(e.is_empty(), "cycle {m}: {e:?}");
        }
        // One healthy period is not enough.
        let (e, closed) = step(&mut slot, &a(Health::Healthy, 1), None, t(55), &cfg());
        assert!(e.is_empty() && closed.is_none());
        let (e, closed) = step(&mut slot, &a(Health::Healthy, 2), None, t(60), &cfg());
        assert_eq!(
            e,
            vec![Emit {
                status: AlertStatus::Resolved,
                seq: 2,
                reason: AlertReason::Resolved
            }]
        );
        assert!(closed.is_some() && slot.is_none());
    }

    #[test]
    fn root_cause_change_and_renotify_repeat() {
        let mut slot = fired(None);
        let (e, _) = step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&done(None)),
            t(15),
            &cfg(),
        );
        assert!(e.is_empty(), "same root cause: no repeat");
        let (e, _) = step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&done(Some("kms.key"))),
            t(30),
            &cfg(),
        );
        assert_eq!(e[0].reason, AlertReason::RootCauseChanged);
        assert_eq!(e[0].seq, 2);
        let (e, _) = step(&mut slot, &a(Health::Failing, 0), None, t(89), &cfg());
        assert!(e.is_empty());
        let (e, _) = step(&mut slot, &a(Health::Failing, 0), None, t(90), &cfg());
        assert_eq!(e[0].reason, AlertReason::Renotify);
        assert_eq!(e[0].seq, 3);
    }

    #[test]
    fn firing_waits_two_cycles_for_a_complete_diagnosis() {
        let mut slot = Some(Incident::open(
            "s",
            "arn",
            Health::Failing,
            Severity::Critical,
            t(0),
            t(0),
        ));
        let partial = DiagnosisOutcome {
            complete: false,
            settled: false,
            root_cause: None,
        };
        assert!(step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&partial),
            t(0),
            &cfg()
        )
        .0
        .is_empty());
        assert!(step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&partial),
            t(5),
            &cfg()
        )
        .0
        .is_empty());
        let (e, _) = step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&partial),
            t(10),
            &cfg(),
        );
        assert_eq!(e.len(), 1);
        assert!(e[0].status == AlertStatus::Firing);
    }

    #[test]
    fn unknown_and_idle_neither_alert_nor_close() {
        let mut slot = fired(None);
        for h in [Health::Unknown, Health::Idle] {
            let (e, closed) = step(&mut slot, &a(h, 0), None, t(5), &cfg());
            assert!(e.is_empty() && closed.is_none());
        }
        assert!(slot.is_some());
    }

    #[test]
    fn unsent_firing_goes_before_resolved() {
        let mut slot = Some(Incident::open(
            "s",
            "arn",
            Health::Failing,
            Severity::Critical,
            t(0),
            t(0),
        ));
        let partial = DiagnosisOutcome {
            complete: false,
            settled: false,
            root_cause: None,
        };
        step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&partial),
            t(0),
            &cfg(),
        );
        let (e, _) = step(&mut slot, &a(Health::Healthy, 3), None, t(5), &cfg());
        assert_eq!(e.len(), 2);
        assert!(e[0].status == AlertStatus::Firing && e[1].status == AlertStatus::Resolved);
        assert_eq!((e[0].seq, e[1].seq), (1, 2));
    }

    #[test]
    fn a_stall_that_comes_and_goes_does_not_flap() {
        let mut slot = Some(Incident::open(
            "s",
            "arn",
            Health::Stalled,
            Severity::Critical,
            t(0),
            t(0),
        ));
        step(
            &mut slot,
            &a_at(Health::Stalled, 5, 0),
            Some(&done(None)),
            t(0),
            &cfg(),
        );
        // Healthy at minute 5, but every successful period is older than the stalled window.
        let mut old = a_at(Health::Healthy, 0, 5);
        old.success_points = vec![(t(-3), 1.0), (t(-2), 1.0)];
        let (e, closed) = step(&mut slot, &old, None, t(5), &cfg());
        assert!(e.is_empty() && closed.is_none(), "{e:?}");
        // Two new successful periods after the stall: resolved.
        let (e, closed) = step(
            &mut slot,
            &a_at(Health::Healthy, 2, 10),
            None,
            t(10),
            &cfg(),
        );
        assert!(closed.is_some() && e[0].status != AlertStatus::Firing);
    }

    #[test]
    fn degraded_is_not_recovered() {
        let mut slot = fired(None);
        let (e, closed) = step(&mut slot, &a_at(Health::Degraded, 3, 5), None, t(5), &cfg());
        assert!(e.is_empty() && closed.is_none());
    }

    #[test]
    fn an_unsettled_root_cause_change_is_not_an_alert() {
        let mut slot = fired(Some("kms.key"));
        let shaky = DiagnosisOutcome {
            complete: false,
            settled: false,
            root_cause: Some("iam.logs".into()),
        };
        let (e, _) = step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&shaky),
            t(15),
            &cfg(),
        );
        assert!(e.is_empty(), "{e:?}");
        // But a root cause replacing null counts even from an incomplete diagnosis.
        let mut slot = Some(Incident::open(
            "s",
            "arn",
            Health::Failing,
            Severity::Critical,
            t(0),
            t(0),
        ));
        let partial = DiagnosisOutcome {
            complete: false,
            settled: false,
            root_cause: None,
        };
        for m in [0, 5, 10] {
            step(
                &mut slot,
                &a(Health::Failing, 0),
                Some(&partial),
                t(m),
                &cfg(),
            );
        }
        let (e, _) = step(
            &mut slot,
            &a(Health::Failing, 0),
            Some(&shaky),
            t(15),
            &cfg(),
        );
        assert_eq!(e[0].reason, AlertReason::RootCauseChanged);
    }

    #[test]
    fn ids_are_unique_per_start() {
        let a1 = Incident::open("s", "arn", Health::Failing, Severity::Critical, t(0), t(0));
        let a2 = Incident::open("s", "arn", Health::Failing, Severity::Critical, t(1), t(1));
        assert_ne!(a1.id, a2.id);
        assert!(a1.id.starts_with("inc-") && a1.id.len() == 20);
    }

    #[test]
    fn recovery_counts_successes_across_cycles_whatever_their_spacing() {
        // A 900 s buffer: one delivery every 15 minutes, one per window at most.
        let mut slot = fired(None);
        let mut one = a_at(Health::Healthy, 0, 15);
        one.success_points = vec![(t(15), 1.0)];
        let (e, closed) = step(&mut slot, &one, None, t(16), &cfg());
        assert!(
            e.is_empty() && closed.is_none(),
            "one success is not enough"
        );
        assert_eq!(slot.as_ref().unwrap().recovered, vec![t(15)]);
        let mut next = a_at(Health::Healthy, 0, 30);
        next.success_points = vec![(t(30), 1.0)];
        let (e, closed) = step(&mut slot, &next, None, t(31), &cfg());
        assert!(
            closed.is_some(),
            "two successes 15 min apart recover: {e:?}"
        );
        assert_eq!(e[0].reason, AlertReason::Resolved);
    }

    #[test]
    fn a_new_bad_period_forgets_earlier_successes() {
        let mut slot = fired(None);
        let mut one = a_at(Health::Healthy, 0, 15);
        one.success_points = vec![(t(15), 1.0)];
        step(&mut slot, &one, None, t(16), &cfg());
        let mut bad = a_at(Health::Failing, 0, 20);
        bad.success_points = vec![(t(15), 1.0), (t(18), 0.0), (t(19), 0.0), (t(20), 0.0)];
        step(&mut slot, &bad, None, t(21), &cfg());
        assert!(slot.as_ref().unwrap().recovered.is_empty());
    }

    #[test]
    fn an_idle_stream_closes_after_idle_close_after() {
        let mut slot = fired(None);
        let mut idle = a(Health::Idle, 0);
        idle.success_points.clear();
        let (e, closed) = step(&mut slot, &idle, None, t(59), &cfg());
        assert!(e.is_empty() && closed.is_none(), "an hour has not passed");
        let (e, closed) = step(&mut slot, &idle, None, t(60), &cfg());
        assert!(closed.is_some());
        assert_eq!(
            e,
            vec![Emit {
                status: AlertStatus::Resolved,
                seq: 2,
                reason: AlertReason::Idle
            }]
        );
    }

    #[test]
    fn activity_postpones_the_idle_close() {
        let mut slot = fired(None);
        let mut busy = a(Health::Unknown, 0);
        busy.last_activity = Some(t(40));
        step(&mut slot, &busy, None, t(41), &cfg());
        let idle = a(Health::Idle, 0);
        let (_, closed) = step(&mut slot, &idle, None, t(60), &cfg());
        assert!(closed.is_none(), "quiet only since minute 40");
        let (_, closed) = step(&mut slot, &idle, None, t(100), &cfg());
        assert!(closed.is_some());
    }

    #[test]
    fn a_warning_incident_escalates_once_and_stays_critical() {
        let mut slot = Some(Incident::open(
            "s",
            "arn",
            Health::Degraded,
            Severity::Warning,
            t(0),
            t(0),
        ));
        let mut degraded = a(Health::Degraded, 0);
        degraded.degraded_periods = 20;
        let (e, _) = step(&mut slot, &degraded, Some(&done(None)), t(0), &cfg());
        assert_eq!(e[0].reason, AlertReason::Opened);
        // Still degraded (even a short run): stays open, silent.
        degraded.degraded_periods = 1;
        let (e, closed) = step(&mut slot, &degraded, None, t(5), &cfg());
        assert!(e.is_empty() && closed.is_none());
        let (e, _) = step(&mut slot, &a(Health::Failing, 0), None, t(10), &cfg());
        assert_eq!(
            e,
            vec![Emit {
                status: AlertStatus::Firing,
                seq: 2,
                reason: AlertReason::Escalated
            }]
        );
        assert_eq!(slot.as_ref().unwrap().severity, Severity::Critical);
        let (e, _) = step(&mut slot, &a(Health::Failing, 0), None, t(15), &cfg());
        assert!(e.is_empty(), "escalates once");
        // A critical incident is not kept open by a degraded reading, nor closed by it.
        let (e, closed) = step(&mut slot, &degraded, None, t(20), &cfg());
        assert!(e.is_empty() && closed.is_none());
    }

    #[test]
    fn opening_severity_follows_health_and_the_degraded_run() {
        let c = cfg();
        assert_eq!(
            opening_severity(&a(Health::Failing, 0), &c),
            Some(Severity::Critical)
        );
        assert_eq!(
            opening_severity(&a(Health::Stalled, 0), &c),
            Some(Severity::Critical)
        );
        let mut d = a(Health::Degraded, 0);
        d.degraded_periods = 14;
        assert_eq!(opening_severity(&d, &c), None);
        d.degraded_periods = 15;
        assert_eq!(opening_severity(&d, &c), Some(Severity::Warning));
        assert_eq!(opening_severity(&a(Health::Unknown, 0), &c), None);
        assert_eq!(opening_severity(&a(Health::Idle, 0), &c), None);
    }
}
