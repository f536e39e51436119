//! The calls of change attribution: `LookupEvents` for each resource of a stream, paced for
//! the whole process ([`Pacer`]), cut short when the checks are done ([`GRACE`]), then ranked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{rank, resources, Resource, CALL_SPACING, MAX_PAGES, WINDOW_HOURS};
use crate::aws::{AwsError, StreamDescription, TrailApi, TrailEvent};
use crate::model::Changes;

/// How much longer than the checks a lookup may take: an alert waits for the checks, and for
/// CloudTrail at most this much more (a call under way gets to answer).
pub const GRACE: Duration = Duration::from_millis(500);

/// Spaces `LookupEvents` calls: at most one every [`CALL_SPACING`] per account and region,
/// whatever the number of streams and resources looked up at once.
#[derive(Default)]
pub struct Pacer {
    next: Mutex<HashMap<(String, String), tokio::time::Instant>>,
}

impl Pacer {
    /// Wait for this call's turn in `account` and `region`. The turn is taken only when the
    /// call can be made: a lookup abandoned while it waits (its time is up) holds no turn
    /// that later lookups would wait for.
    pub async fn wait(&self, account: &str, region: &str) {
        loop {
            let until = {
                let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
                let now = tokio::time::Instant::now();
                let e = next
                    .entry((account.to_string(), region.to_string()))
                    .or_insert(now);
                if *e <= now {
                    *e = now + CALL_SPACING;
                    return;
                }
                *e
            };
            tokio::time::sleep_until(until).await;
        }
    }
}

/// What a lookup found before it was ranked (ranking needs the root cause, which the
/// checks name while the lookup runs).
pub struct Gathered {
    found: Vec<(Resource, TrailEvent)>,
    before: DateTime<Utc>,
    error: Option<String>,
}

impl Gathered {
    /// The changes to show for `root_cause`.
    pub fn rank(self, root_cause: Option<&str>) -> Changes {
        Changes {
            events: rank(self.found, root_cause, self.before),
            error: self.error,
        }
    }
}

/// Look up what changed on `d`'s resources in the [`WINDOW_HOURS`] before `before`, within
/// `budget`, stopped (with what it found) when `stop` completes: the caller's checks are done
/// and [`GRACE`] has passed. Whatever went wrong becomes the note of the ranked [`Changes`].
pub async fn gather(
    api: &dyn TrailApi,
    pacer: &Pacer,
    account: &str,
    d: &StreamDescription,
    before: DateTime<Utc>,
    budget: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Gathered {
    let start = before - chrono::Duration::hours(WINDOW_HOURS);
    let found: Arc<Mutex<Vec<(Resource, TrailEvent)>>> = Arc::default();
    let errors: Arc<Mutex<Vec<AwsError>>> = Arc::default();
    let truncated: Arc<Mutex<Vec<String>>> = Arc::default();
    let all = resources(d);
    // One region's resources in order (the pacer spaces them anyway; the first ones are the
    // likeliest causes), the regions side by side.
    let mut regions: std::collections::BTreeMap<&str, Vec<&Resource>> = Default::default();
    for r in &all {
        regions.entry(r.region.as_str()).or_default().push(r);
    }
    let work = futures::future::join_all(regions.into_values().map(|rs| {
        let (found, errors, truncated) = (found.clone(), errors.clone(), truncated.clone());
        async move {
            for r in rs {
                let mut token = None;
                for page in 0..MAX_PAGES {
                    if page > 0 && token.is_none() {
                        break;
                    }
                    pacer.wait(account, &r.region).await;
                    match api
                        .lookup_events(&r.region, &r.name, start, before, token.take())
                        .await
                    {
                        Ok((events, next)) => {
                            let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                            f.extend(events.into_iter().map(|e| (r.clone(), e)));
                            match next {
                                Some(_) if page + 1 == MAX_PAGES => truncated
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(r.name.clone()),
                                Some(t) => token = Some(t),
                                None => break,
                            }
                        }
                        Err(e) => {
                            let denied = matches!(e, AwsError::AccessDenied { .. });
                            errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                            if denied {
                                // Denied for one, denied for all: no more calls.
                                return;
                            }
                            break;
                        }
                    }
                }
            }
        }
    }));
    let timed_out = tokio::select! {
        _ = work => false,
        _ = tokio::time::sleep(budget) => true,
        _ = stop => true,
    };
    let found = std::mem::take(&mut *found.lock().unwrap_or_else(|p| p.into_inner()));
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));
    let truncated = std::mem::take(&mut *truncated.lock().unwrap_or_else(|p| p.into_inner()));
    let error = match (errors.first(), timed_out) {
        (Some(e @ AwsError::AccessDenied { .. }), _) => Some(format!(
            "cannot look up CloudTrail events (the monitor needs cloudtrail:LookupEvents): {e}"
        )),
        (Some(e), _) => Some(format!("CloudTrail lookup incomplete: {e}")),
        (None, true) => Some(format!(
            "CloudTrail lookup incomplete: {} resources not all read in time (the alert does not wait)",
            all.len()
        )),
        (None, false) if !truncated.is_empty() => Some(format!(
            "CloudTrail lookup incomplete: more than {} events on {}; older ones were not read",
            MAX_PAGES * 50,
            truncated.join(", ")
        )),
        (None, false) => None,
    };
    Gathered {
        found,
        before,
        error,
    }
}

/// Run `diagnose` (the checks) and the lookup together; the lookup gets at most [`GRACE`]
/// more than the checks (and `budget` in all), then is ranked by the root cause they named.
pub async fn diagnose_with_changes(
    diagnose: impl std::future::Future<Output = crate::diagnose::Diagnosis>,
    api: &dyn TrailApi,
    pacer: &Pacer,
    account: &str,
    d: &StreamDescription,
    before: DateTime<Utc>,
    budget: Duration,
) -> crate::diagnose::Diagnosis {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let checks = async move {
        let diagnosis = diagnose.await;
        let _ = done_tx.send(());
        diagnosis
    };
    let stop = async move {
        let _ = done_rx.await;
        tokio::time::sleep(GRACE).await;
    };
    let (mut diagnosis, gathered) =
        futures::join!(checks, gather(api, pacer, account, d, before, budget, stop));
    diagnosis.changes = gathered.rank(diagnosis.root_cause.as_deref());
    diagnosis
}
