//! A scope: one region of one target (`[[targets]]`, or the implicit `default` of `[aws]` +
//! `[streams]`). Each has its own AWS clients (its role, its region), its own inventory and its
//! own `GetMetricData` call size, so a target whose role cannot be assumed makes only its own
//! streams `unknown` while the others go on.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::monitor::CycleApi;
use crate::aws::sdk::{ClientFactory, ClientKey};
use crate::aws::{AuditApi, AwsError, TrailApi};
use crate::config::{Settings, ShardingSettings, StreamSettings, TargetSettings, DEFAULT_TARGET};
use crate::diagnose::checks::Checks;
use crate::diagnose::Diagnose;
use crate::model::StreamRef;
use crate::poll;
use crate::poll::inventory::{self, Inventory};
use crate::report::TargetStatus;
use crate::telemetry::metrics::Metrics;

/// What a scope is built from.
pub struct ScopeParts {
    pub target: TargetSettings,
    pub region: String,
    pub api: Arc<dyn CycleApi>,
    pub diagnoser: Arc<dyn Diagnose>,
    /// CloudTrail, for what changed before an incident (none: not looked up).
    pub trail: Option<Arc<dyn TrailApi>>,
    /// What the risk audit reads (none: no audit of this scope).
    pub audit: Option<Arc<dyn AuditApi>>,
}

/// What is known of a scope's last inventory refresh.
#[derive(Default)]
struct Refreshed {
    at: Option<Instant>,
    /// The account the credentials act in (`GetCallerIdentity`).
    account: Option<String>,
    /// Why the last refresh could not read the scope at all (its credentials), or why the
    /// listing failed.
    error: Option<AwsError>,
    /// Nothing could be read: the credentials failed (the role cannot be assumed).
    blind: bool,
    reached_aws: bool,
    listing_ok: bool,
    /// Something answered (even an error): AWS is reachable.
    answered: bool,
}

/// One region of one target.
pub struct Scope {
    pub target: String,
    pub region: String,
    pub selection: StreamSettings,
    /// The account of the target's role, known before any call.
    role_account: Option<String>,
    pub api: Arc<dyn CycleApi>,
    pub diagnoser: Arc<dyn Diagnose>,
    pub trail: Option<Arc<dyn TrailApi>>,
    pub audit: Option<Arc<dyn AuditApi>>,
    pub inventory: Inventory,
    refreshed: Mutex<Refreshed>,
    pub call_size: poll::CallSize,
}

impl Scope {
    pub fn new(parts: ScopeParts, sharding: ShardingSettings) -> Scope {
        let ScopeParts {
            target,
            region,
            api,
            diagnoser,
            trail,
            audit,
        } = parts;
        Scope {
            role_account: target.role_account().map(str::to_string),
            target: target.name,
            region,
            selection: target.streams,
            api,
            diagnoser,
            trail,
            audit,
            inventory: Inventory::sharded(sharding),
            refreshed: Mutex::new(Refreshed::default()),
            call_size: poll::CallSize::default(),
        }
    }

    fn refreshed(&self) -> std::sync::MutexGuard<'_, Refreshed> {
        self.refreshed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The account: learnt from `GetCallerIdentity`, else the role's.
    pub fn account(&self) -> String {
        self.refreshed()
            .account
            .clone()
            .or_else(|| self.role_account.clone())
            .unwrap_or_default()
    }

    /// Whether the account is known (learnt, or the role's): ARNs can be built.
    pub fn knows_account(&self) -> bool {
        !self.account().is_empty()
    }

    /// AWS answered this scope's last refresh (an error answer counts; no answer does not).
    pub fn answered(&self) -> bool {
        self.refreshed().answered
    }

    /// Where the stream `name` of this scope is.
    pub fn stream_ref(&self, name: &str) -> StreamRef {
        StreamRef::new(name, &self.account(), &self.region)
    }

    /// Where the stream `name` with inventory `entry` is: its described ARN, else the one
    /// built from this scope's account and region.
    pub fn locate(&self, name: &str, entry: &inventory::Entry) -> StreamRef {
        entry
            .description()
            .and_then(|d| StreamRef::from_arn(&d.arn))
            .unwrap_or_else(|| self.stream_ref(name))
    }

    /// Whether this scope holds the stream of `arn` (its account and region).
    pub fn holds(&self, arn: &str) -> bool {
        StreamRef::from_arn(arn)
            .is_some_and(|s| s.region == self.region && s.account == self.account())
    }

    /// A refresh is due: `streams.refresh` has passed, or the last one could not read the
    /// scope at all (retried every cycle, so a repaired role is seen at once).
    pub fn refresh_due(&self) -> bool {
        let r = self.refreshed();
        r.blind || r.at.is_none_or(|t| t.elapsed() >= self.selection.refresh)
    }

    /// The names of this scope's streams among `open` incident keys (stream ARNs; names in
    /// state files from before ARN keys, which belong to the implicit target).
    fn names_in(&self, open: &BTreeSet<String>) -> BTreeSet<String> {
        open.iter()
            .filter_map(|k| match StreamRef::from_arn(k) {
                Some(r) if self.holds(k) => Some(r.name),
                None if !crate::state::is_arn_key(k) && self.target == DEFAULT_TARGET => {
                    Some(k.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Learn the account, then re-select and re-describe. The streams of `open` incidents
    /// (their keys) are kept while the listing fails. Errors are returned to be counted; the
    /// scope's status keeps the last one.
    pub async fn refresh(&self, open: &BTreeSet<String>) -> Result<(), AwsError> {
        let account = match self.api.caller_account().await {
            Ok(a) => a,
            Err(e) => {
                let keep = self.names_in(open);
                let keep = &keep;
                tracing::warn!(target = %self.target, region = %self.region, error = %e,
                    "cannot read this target: its streams are unknown until it can be");
                let (account, region) = (self.account(), self.region.clone());
                let key = move |n: &str| StreamRef::new(n, &account, &region).arn;
                self.inventory
                    .mark_unreadable(&self.selection, keep, &e, &key);
                let mut r = self.refreshed();
                r.at = Some(Instant::now());
                r.reached_aws = !e.is_unreachable();
                r.answered = !e.is_unreachable();
                r.listing_ok = false;
                r.blind = true;
                r.error = Some(e.clone());
                return Err(e);
            }
        };
        if let Some(role) = &self.role_account {
            if role != &account {
                tracing::warn!(target = %self.target, role_account = %role, %account,
                    "the assumed role acts in another account than its ARN names");
            }
        }
        self.refreshed().account = Some(account.clone());
        let keep = &self.names_in(open);
        let region = self.region.clone();
        let key = move |n: &str| StreamRef::new(n, &account, &region).arn;
        let listed = self
            .inventory
            .refresh_keeping(self.api.as_ref(), &self.selection, keep, &key)
            .await;
        let entries = self.inventory.entries();
        let mut r = self.refreshed();
        r.at = Some(Instant::now());
        r.blind = false;
        r.reached_aws = listed.is_ok() && inventory::reached_aws(&entries);
        r.answered = !listed.as_ref().err().is_some_and(AwsError::is_unreachable)
            && inventory::reached_aws(&entries);
        r.listing_ok = listed.is_ok();
        r.error = listed.as_ref().err().cloned();
        listed
    }

    /// The credentials failed at the last refresh: nothing of this scope can be read.
    pub fn blind(&self) -> Option<AwsError> {
        let r = self.refreshed();
        if r.blind {
            r.error.clone()
        } else {
            None
        }
    }

    pub fn reached_aws(&self) -> bool {
        self.refreshed().reached_aws
    }

    pub fn listing_ok(&self) -> bool {
        self.refreshed().listing_ok
    }

    pub fn status(&self) -> TargetStatus {
        let streams = self.inventory.entries().len();
        let r = self.refreshed();
        TargetStatus {
            target: self.target.clone(),
            region: self.region.clone(),
            account: r
                .account
                .clone()
                .or_else(|| self.role_account.clone())
                .unwrap_or_default(),
            status: if r.blind { "error" } else { "ok" }.into(),
            error: r.error.as_ref().map(|e| e.to_string()),
            streams,
        }
    }
}

/// One [`ScopeParts`] per region of each target: its clients (its role, its region) and its
/// checks.
pub async fn build(settings: &Settings, metrics: &Metrics) -> Vec<ScopeParts> {
    let factory = ClientFactory::new(settings.aws.clone(), metrics.clone());
    let mut out = Vec::new();
    for t in &settings.targets {
        let regions: Vec<Option<&str>> = if t.regions.is_empty() {
            vec![None]
        } else {
            t.regions.iter().map(|r| Some(r.as_str())).collect()
        };
        for r in regions {
            let clients = factory.clients(&ClientKey::of(t, r)).await;
            // Without a configured region the SDK's region chain chose one.
            let region = r
                .map(str::to_string)
                .or_else(|| clients.region().map(str::to_string))
                .unwrap_or_default();
            let diagnoser = Checks::new(clients.clone(), settings.diagnosis.clone());
            out.push(ScopeParts {
                target: t.clone(),
                region,
                api: clients.clone(),
                diagnoser: Arc::new(diagnoser),
                trail: Some(clients.clone()),
                audit: Some(clients),
            });
        }
    }
    out
}
