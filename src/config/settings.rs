//! The validated configuration the rest of the program trusts: typed sections, secrets as
//! [`Secret`]s, globs compiled. Built only by `validate`; printed with every secret redacted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use globset::GlobSet;
use serde::Serialize;

use crate::secret::Secret;

/// The validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub aws: AwsSettings,
    pub streams: StreamSettings,
    pub schedule: ScheduleSettings,
    pub detection: DetectionSettings,
    pub server: ServerSettings,
    pub state: StateSettings,
    pub alerts: AlertSettings,
    pub delivery: DeliverySettings,
    pub diagnosis: DiagnosisSettings,
    pub sharding: ShardingSettings,
    /// The accounts and regions watched: the `[[targets]]`, or one implicit target named
    /// `default` made of `[aws]` and `[streams]`.
    pub targets: Vec<TargetSettings>,
}

/// The name of the implicit target (`[aws]` + `[streams]`, no `[[targets]]`).
pub const DEFAULT_TARGET: &str = "default";

/// One account (reached through `role_arn`, or the monitor's own credentials) in one or more
/// regions, with its own stream selection.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSettings {
    pub name: String,
    pub role_arn: Option<String>,
    /// Passed to `sts:AssumeRole`; the role's trust policy requires it (`sts:ExternalId`).
    pub external_id: Option<Secret>,
    /// Empty only for the implicit target without `aws.region`: the SDK's region chain decides.
    pub regions: Vec<String>,
    pub streams: StreamSettings,
}

impl TargetSettings {
    /// The account the role belongs to (the 5th field of its ARN), when there is a role.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn
            .as_deref()
            .and_then(|a| a.split(':').nth(4))
            .filter(|a| !a.is_empty())
    }
}

/// Which share of the streams this replica watches: those whose ARN hashes to `index` of
/// `total` (rendezvous hashing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShardingSettings {
    pub total: u32,
    pub index: u32,
}

impl Default for ShardingSettings {
    fn default() -> Self {
        ShardingSettings { total: 1, index: 0 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AwsSettings {
    /// `None`: the SDK's default region chain decides.
    pub region: Option<String>,
    #[serde(serialize_with = "redacted_opt_url")]
    pub endpoint_url: Option<String>,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    pub max_attempts: u32,
    pub profile: Option<String>,
    /// Role the monitor assumes to read this account (cross-account monitoring).
    pub role_arn: Option<String>,
    pub s3_force_path_style: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamSettings {
    pub names: Vec<String>,
    pub discover: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// A discovered stream is selected only if it has every one of these tags (key = value;
    /// a value of `*` matches any value).
    pub include_tags: BTreeMap<String, String>,
    /// A discovered stream with any one of these tags is not selected.
    pub exclude_tags: BTreeMap<String, String>,
    /// How often stream descriptions (and discovery) are refreshed.
    #[serde(with = "humantime_serde_compat")]
    pub refresh: Duration,
    #[serde(skip)]
    pub(super) include_set: GlobSetWrap,
    #[serde(skip)]
    pub(super) exclude_set: GlobSetWrap,
}

impl StreamSettings {
    /// Whether a discovered stream name passes the include/exclude globs.
    pub fn selects(&self, name: &str) -> bool {
        self.include_set.0.is_match(name) && !self.exclude_set.0.is_match(name)
    }

    /// Whether the selection looks at tags (each discovered stream's tags are then listed).
    pub fn uses_tags(&self) -> bool {
        !self.include_tags.is_empty() || !self.exclude_tags.is_empty()
    }

    /// Whether a discovered stream with `tags` passes `include_tags` and `exclude_tags`.
    pub fn selects_tags(&self, tags: &BTreeMap<String, String>) -> bool {
        let has = |(k, v): (&String, &String)| tags.get(k).is_some_and(|t| v == "*" || t == v);
        self.include_tags.iter().all(has) && !self.exclude_tags.iter().any(has)
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct GlobSetWrap(pub(super) GlobSet);

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleSettings {
    pub poll: String,
    pub period_seconds: u32,
    pub delay_seconds: u32,
    pub lookback_periods: u32,
    /// Every stream's every metric is read at least this often (two-phase polling reads
    /// only what detection needs in between).
    #[serde(with = "humantime_serde_compat")]
    pub full_read_every: Duration,
    /// 6-field cron of the risk audit (every selected stream, healthy ones included); `None`
    /// when `schedule.audit = "off"`.
    pub audit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectionSettings {
    pub failing_after_periods: u32,
    pub recover_after_periods: u32,
    #[serde(with = "humantime_serde_compat")]
    pub recheck_after: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub renotify_after: Duration,
    /// Degraded for this many newest periods with data opens an incident of severity
    /// `warning`.
    pub degraded_after_periods: u32,
    /// A failing stream that then receives nothing this long closes as `idle`.
    #[serde(with = "humantime_serde_compat")]
    pub idle_close_after: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// When set, `/` and `/api/v1/status` need it as a bearer token (they show account ids,
    /// policies and log lines); `/metrics`, `/healthz` and `/readyz` stay open.
    pub auth_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateSettings {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiagnosisSettings {
    #[serde(with = "humantime_serde_compat")]
    pub check_timeout: Duration,
    pub concurrency: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliverySettings {
    #[serde(with = "humantime_serde_compat")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub max_backoff: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub give_up_after: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Alerts kept per sink at most; the oldest non-firing go first when it is full.
    pub max_pending: usize,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct AlertSettings {
    pub webhook: Vec<WebhookConfig>,
    pub slack: Vec<SlackConfig>,
    pub alertmanager: Vec<AlertmanagerConfig>,
    pub pagerduty: Vec<PagerDutyConfig>,
}

impl AlertSettings {
    /// Names of every configured sink, in configuration order.
    pub fn sink_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.webhook.iter().map(|s| s.name.clone()).collect();
        v.extend(self.slack.iter().map(|s| s.name.clone()));
        v.extend(self.alertmanager.iter().map(|s| s.name.clone()));
        v.extend(self.pagerduty.iter().map(|s| s.name.clone()));
        v
    }
}

/// Which streams a sink receives alerts for (`streams` globs; all when absent).
#[derive(Debug, Clone, Default)]
pub struct StreamFilter {
    pub(super) patterns: Vec<String>,
    pub(super) set: Option<GlobSet>,
}

impl StreamFilter {
    pub fn matches(&self, stream: &str) -> bool {
        self.set.as_ref().is_none_or(|s| s.is_match(stream))
    }
}

impl Serialize for StreamFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookConfig {
    pub name: String,
    pub url: Secret,
    pub secret: Option<Secret>,
    /// Header values may carry tokens: they are treated as secrets.
    pub headers: BTreeMap<String, Secret>,
    pub streams: StreamFilter,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlackConfig {
    pub name: String,
    pub webhook_url: Secret,
    pub streams: StreamFilter,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertmanagerConfig {
    pub name: String,
    #[serde(serialize_with = "redacted_urls")]
    pub urls: Vec<String>,
    #[serde(with = "humantime_serde_compat")]
    pub resend_every: Duration,
    pub streams: StreamFilter,
}

#[derive(Debug, Clone, Serialize)]
pub struct PagerDutyConfig {
    pub name: String,
    pub routing_key: Secret,
    #[serde(serialize_with = "redacted_url")]
    pub url: String,
    pub streams: StreamFilter,
}

mod humantime_serde_compat {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

impl Settings {
    /// The effective configuration as JSON, every secret redacted.
    pub fn redacted_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("<unprintable: {e}>"))
    }
}

/// `url` with any credentials in it (`user:password@`) replaced: safe to print or log.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("redacted");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparsable: print nothing of it that could hold a secret.
        Err(_) => "<unparsable URL>".to_string(),
    }
}

fn redacted_url<S: serde::Serializer>(u: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(u))
}

fn redacted_opt_url<S: serde::Serializer>(u: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match u {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

fn redacted_urls<S: serde::Serializer>(urls: &[String], s: S) -> Result<S::Ok, S::Error> {
    let v: Vec<String> = urls.iter().map(|u| redact_url(u)).collect();
    v.serialize(s)
}

#[cfg(test)]
impl DetectionSettings {
    /// The defaults of `[detection]`, except a 15-minute re-check (unit tests).
    pub fn for_tests() -> DetectionSettings {
        DetectionSettings {
            failing_after_periods: 3,
            recover_after_periods: 2,
            recheck_after: Duration::from_secs(900),
            renotify_after: Duration::from_secs(3600),
            degraded_after_periods: 15,
            idle_close_after: Duration::from_secs(3600),
        }
    }
}
