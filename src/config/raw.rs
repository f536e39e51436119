//! The raw shape of the configuration: exactly the keys users may write, as serde reads them.
//! Unknown keys are rejected with their path. No defaults and no checks here.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) aws: RawAws,
    #[serde(default)]
    pub(super) streams: RawStreams,
    #[serde(default)]
    pub(super) schedule: RawSchedule,
    #[serde(default)]
    pub(super) detection: RawDetection,
    #[serde(default)]
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) state: RawState,
    #[serde(default)]
    pub(super) alerts: RawAlerts,
    #[serde(default)]
    pub(super) delivery: RawDelivery,
    #[serde(default)]
    pub(super) diagnosis: RawDiagnosis,
    #[serde(default)]
    pub(super) sharding: RawSharding,
    #[serde(default)]
    pub(super) targets: Vec<RawTarget>,
}

/// One `[[targets]]` table: an account (through a role) in one or more regions, with its own
/// stream selection.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) name: Option<String>,
    pub(super) role_arn: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) external_id_env: Option<String>,
    pub(super) external_id_file: Option<String>,
    pub(super) regions: Option<Vec<String>>,
    pub(super) names: Option<Vec<String>>,
    pub(super) discover: Option<bool>,
    pub(super) include: Option<Vec<String>>,
    pub(super) exclude: Option<Vec<String>>,
    pub(super) include_tags: Option<BTreeMap<String, String>>,
    pub(super) exclude_tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSharding {
    pub(super) total: Option<i64>,
    pub(super) index: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    pub(super) region: Option<String>,
    pub(super) endpoint_url: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) max_attempts: Option<i64>,
    pub(super) profile: Option<String>,
    pub(super) role_arn: Option<String>,
    pub(super) s3_force_path_style: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStreams {
    pub(super) names: Option<Vec<String>>,
    pub(super) discover: Option<bool>,
    pub(super) include: Option<Vec<String>>,
    pub(super) exclude: Option<Vec<String>>,
    pub(super) include_tags: Option<BTreeMap<String, String>>,
    pub(super) exclude_tags: Option<BTreeMap<String, String>>,
    pub(super) refresh: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) poll: Option<String>,
    pub(super) period_seconds: Option<i64>,
    pub(super) delay_seconds: Option<i64>,
    pub(super) lookback_periods: Option<i64>,
    pub(super) full_read_every: Option<String>,
    pub(super) audit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDetection {
    pub(super) failing_after_periods: Option<i64>,
    pub(super) recover_after_periods: Option<i64>,
    pub(super) recheck_after: Option<String>,
    pub(super) renotify_after: Option<String>,
    pub(super) degraded_after_periods: Option<i64>,
    pub(super) idle_close_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: Option<String>,
    pub(super) auth_token: Option<String>,
    pub(super) auth_token_env: Option<String>,
    pub(super) auth_token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub(super) path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiagnosis {
    pub(super) check_timeout: Option<String>,
    pub(super) concurrency: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    #[serde(default)]
    pub(super) webhook: Vec<RawWebhook>,
    #[serde(default)]
    pub(super) slack: Vec<RawSlack>,
    #[serde(default)]
    pub(super) alertmanager: Vec<RawAlertmanager>,
    #[serde(default)]
    pub(super) pagerduty: Vec<RawPagerDuty>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub(super) name: Option<String>,
    pub(super) url: Option<String>,
    pub(super) url_env: Option<String>,
    pub(super) url_file: Option<String>,
    pub(super) secret: Option<String>,
    pub(super) secret_env: Option<String>,
    pub(super) secret_file: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    pub(super) name: Option<String>,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_url_env: Option<String>,
    pub(super) webhook_url_file: Option<String>,
    pub(super) streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlertmanager {
    pub(super) name: Option<String>,
    pub(super) urls: Option<Vec<String>>,
    pub(super) resend_every: Option<String>,
    pub(super) streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPagerDuty {
    pub(super) name: Option<String>,
    pub(super) routing_key: Option<String>,
    pub(super) routing_key_env: Option<String>,
    pub(super) routing_key_file: Option<String>,
    pub(super) url: Option<String>,
    pub(super) streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    pub(super) initial_backoff: Option<String>,
    pub(super) max_backoff: Option<String>,
    pub(super) give_up_after: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) max_pending: Option<i64>,
}
