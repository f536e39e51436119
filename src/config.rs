//! Configuration: load (TOML file, then `FIREHOSE_SENTINEL__SECTION__KEY` environment
//! overrides) -> validate -> [`Settings`], a typed model the rest of the program trusts.
//!
//! Every problem names the file and the key. Secrets are resolved here (inline, `*_env`,
//! `*_file`) into [`Secret`]s and never appear in errors or in [`Settings::redacted_toml`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

/// Where `-c` points by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/firehose-sentinel/config.toml";
/// Environment variable naming the config file when `-c` is absent.
pub const CONFIG_PATH_ENV: &str = "FIREHOSE_SENTINEL_CONFIG";
/// Prefix of the per-key environment overrides.
pub const ENV_PREFIX: &str = "FIREHOSE_SENTINEL";

/// A configuration that could not be loaded. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One invalid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}: {}", path.display(), p.key, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Raw shape: exactly the keys users may write. Unknown keys are rejected with their path.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    aws: RawAws,
    #[serde(default)]
    streams: RawStreams,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    detection: RawDetection,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    diagnosis: RawDiagnosis,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<String>,
    endpoint_url: Option<String>,
    timeout: Option<String>,
    max_attempts: Option<i64>,
    profile: Option<String>,
    role_arn: Option<String>,
    s3_force_path_style: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreams {
    names: Option<Vec<String>>,
    discover: Option<bool>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    refresh: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    poll: Option<String>,
    period_seconds: Option<i64>,
    delay_seconds: Option<i64>,
    lookback_periods: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetection {
    failing_after_periods: Option<i64>,
    recover_after_periods: Option<i64>,
    recheck_after: Option<String>,
    renotify_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiagnosis {
    check_timeout: Option<String>,
    concurrency: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    #[serde(default)]
    slack: Vec<RawSlack>,
    #[serde(default)]
    alertmanager: Vec<RawAlertmanager>,
    #[serde(default)]
    pagerduty: Vec<RawPagerDuty>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: Option<String>,
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    name: Option<String>,
    webhook_url: Option<String>,
    webhook_url_env: Option<String>,
    webhook_url_file: Option<String>,
    streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertmanager {
    name: Option<String>,
    urls: Option<Vec<String>>,
    resend_every: Option<String>,
    streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagerDuty {
    name: Option<String>,
    routing_key: Option<String>,
    routing_key_env: Option<String>,
    routing_key_file: Option<String>,
    url: Option<String>,
    streams: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    initial_backoff: Option<String>,
    max_backoff: Option<String>,
    give_up_after: Option<String>,
    timeout: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validated model.
// ---------------------------------------------------------------------------------------------

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
}

#[derive(Debug, Clone, Serialize)]
pub struct AwsSettings {
    /// `None`: the SDK's default region chain decides.
    pub region: Option<String>,
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
    /// How often stream descriptions (and discovery) are refreshed.
    #[serde(with = "humantime_serde_compat")]
    pub refresh: Duration,
    #[serde(skip)]
    include_set: GlobSetWrap,
    #[serde(skip)]
    exclude_set: GlobSetWrap,
}

impl StreamSettings {
    /// Whether a discovered stream name passes the include/exclude globs.
    pub fn selects(&self, name: &str) -> bool {
        self.include_set.0.is_match(name) && !self.exclude_set.0.is_match(name)
    }
}

#[derive(Clone, Debug, Default)]
struct GlobSetWrap(GlobSet);

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleSettings {
    pub poll: String,
    pub period_seconds: u32,
    pub delay_seconds: u32,
    pub lookback_periods: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectionSettings {
    pub failing_after_periods: u32,
    pub recover_after_periods: u32,
    #[serde(with = "humantime_serde_compat")]
    pub recheck_after: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub renotify_after: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    pub listen: SocketAddr,
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
    patterns: Vec<String>,
    set: Option<GlobSet>,
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
    pub urls: Vec<String>,
    #[serde(with = "humantime_serde_compat")]
    pub resend_every: Duration,
    pub streams: StreamFilter,
}

#[derive(Debug, Clone, Serialize)]
pub struct PagerDutyConfig {
    pub name: String,
    pub routing_key: Secret,
    pub url: String,
    pub streams: StreamFilter,
}

mod humantime_serde_compat {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Loading.
// ---------------------------------------------------------------------------------------------

/// Which file to read: `-c`, else `$FIREHOSE_SENTINEL_CONFIG`, else the default path.
pub fn resolve_path(cli: Option<&Path>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    match std::env::var_os(CONFIG_PATH_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_CONFIG_PATH),
    }
}

/// Load from a file plus the process environment.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    load_with_env(path, &env)
}

/// Load from a file plus the given environment (tests pass their own map).
pub fn load_with_env(path: &Path, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    load_from_str(&text, path, env)
}

/// Load from TOML text; `path` is only used in messages.
pub fn load_from_str(
    text: &str,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let overrides: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let merged = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("streams.names")
                .with_list_parse_key("streams.include")
                .with_list_parse_key("streams.exclude")
                .source(Some(overrides)),
        )
        .build()
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: without_snippet(&e.to_string()),
        })?;
    let value: serde_json::Value =
        merged
            .try_deserialize()
            .map_err(|e: config::ConfigError| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    let raw: RawConfig = serde_path_to_error::deserialize(&value).map_err(|e| {
        // For an unknown field the path already ends with the field itself.
        let key = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = match inner.strip_prefix("unknown field ") {
            Some(rest) => {
                let known = rest
                    .split_once(", expected ")
                    .map(|(_, k)| k.replace('`', "").replace("one of ", ""))
                    .map(|k| format!(" (expected one of: {k})"))
                    .unwrap_or_default();
                format!("unknown key{known}")
            }
            None => inner
                .replace("expected i64", "expected an integer")
                .replace("expected u64", "expected an integer")
                .replace("expected a boolean", "expected true or false"),
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem { key, message }],
        }
    })?;
    validate(raw, env).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// A parse error without the source lines it quotes: the line may hold a secret.
fn without_snippet(message: &str) -> String {
    message
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with('|')
                || t.split_once(" |")
                    .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit())))
        })
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

struct V<'a> {
    problems: Vec<Problem>,
    env: &'a HashMap<String, String>,
}

impl V<'_> {
    fn bad(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, key: &str, raw: Option<&str>, default: &str) -> Duration {
        let text = raw.unwrap_or(default);
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.bad(key, format!("duration {text:?} must be greater than zero"));
                Duration::from_secs(1)
            }
            Err(e) => {
                self.bad(
                    key,
                    format!("invalid duration {text:?}: {e} (examples: \"30s\", \"15m\", \"4h\")"),
                );
                Duration::from_secs(1)
            }
        }
    }

    fn int(&mut self, key: &str, raw: Option<i64>, default: i64, min: i64, max: i64) -> i64 {
        let v = raw.unwrap_or(default);
        if v < min || v > max {
            self.bad(key, format!("{v} is out of range ({min} to {max})"));
            return default;
        }
        v
    }

    fn url(&mut self, key: &str, text: &str) -> Option<Url> {
        match Url::parse(text) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {
                Some(u)
            }
            Ok(u) => {
                self.bad(
                    key,
                    format!(
                        "URL must be http or https with a host, got scheme {:?}",
                        u.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                self.bad(key, format!("invalid URL: {e}"));
                None
            }
        }
    }

    /// A secret given as `KEY`, `KEY_env` or `KEY_file`: exactly one of them.
    fn secret(
        &mut self,
        prefix: &str,
        key: &str,
        inline: Option<&String>,
        env_name: Option<&String>,
        file: Option<&String>,
        required: bool,
    ) -> Option<Secret> {
        let given = [inline.is_some(), env_name.is_some(), file.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given > 1 {
            self.bad(
                format!("{prefix}.{key}"),
                format!("give only one of {key}, {key}_env, {key}_file"),
            );
            return None;
        }
        if let Some(v) = inline {
            if v.is_empty() {
                self.bad(format!("{prefix}.{key}"), "must not be empty");
                return None;
            }
            return Some(Secret::new(v.clone()));
        }
        if let Some(name) = env_name {
            return match self.env.get(name) {
                Some(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_string())),
                Some(_) => {
                    self.bad(
                        format!("{prefix}.{key}_env"),
                        format!("environment variable {name} is empty"),
                    );
                    None
                }
                None => {
                    self.bad(
                        format!("{prefix}.{key}_env"),
                        format!("environment variable {name} is not set"),
                    );
                    None
                }
            };
        }
        if let Some(path) = file {
            return match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_string())),
                Ok(_) => {
                    self.bad(
                        format!("{prefix}.{key}_file"),
                        format!("file {path} is empty"),
                    );
                    None
                }
                Err(e) => {
                    self.bad(
                        format!("{prefix}.{key}_file"),
                        format!("cannot read {path}: {e}"),
                    );
                    None
                }
            };
        }
        if required {
            self.bad(
                format!("{prefix}.{key}"),
                format!("missing: set {key}, {key}_env or {key}_file"),
            );
        }
        None
    }

    fn globs(&mut self, key: &str, patterns: &[String]) -> GlobSet {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            match Glob::new(p) {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => self.bad(key, format!("invalid glob {p:?}: {e}")),
            }
        }
        b.build().unwrap_or_default()
    }

    fn stream_filter(&mut self, key: &str, patterns: Option<Vec<String>>) -> StreamFilter {
        match patterns {
            None => StreamFilter::default(),
            Some(p) if p.is_empty() => {
                self.bad(
                    key,
                    "empty list selects no stream: remove the key to select all",
                );
                StreamFilter::default()
            }
            Some(p) => {
                let set = self.globs(key, &p);
                StreamFilter {
                    patterns: p,
                    set: Some(set),
                }
            }
        }
    }

    fn sink_name(&mut self, key: &str, name: Option<String>, seen: &mut Vec<String>) -> String {
        match name {
            Some(n) if !n.trim().is_empty() => {
                if seen.contains(&n) {
                    self.bad(
                        format!("{key}.name"),
                        format!("sink name {n:?} is used twice; names must be unique"),
                    );
                }
                seen.push(n.clone());
                n
            }
            _ => {
                self.bad(format!("{key}.name"), "missing: every sink needs a name");
                String::new()
            }
        }
    }
}

/// Validate a cron expression the way the scheduler parses it (6 fields, seconds first).
pub fn validate_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "invalid cron expression {expr:?}: expected 6 fields (sec min hour day-of-month month day-of-week), got {fields}"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

fn validate(raw: RawConfig, env: &HashMap<String, String>) -> Result<Settings, Vec<Problem>> {
    let mut v = V {
        problems: Vec::new(),
        env,
    };

    // [aws]
    let region = raw.aws.region.clone();
    if let Some(r) = &region {
        if r.trim().is_empty() || r.contains(char::is_whitespace) {
            v.bad("aws.region", format!("invalid region {r:?}"));
        }
    }
    let endpoint_url = raw.aws.endpoint_url.as_deref().and_then(|u| {
        v.url("aws.endpoint_url", u)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
    });
    let aws = AwsSettings {
        region,
        endpoint_url,
        timeout: v.duration("aws.timeout", raw.aws.timeout.as_deref(), "10s"),
        max_attempts: v.int("aws.max_attempts", raw.aws.max_attempts, 3, 1, 20) as u32,
        profile: raw.aws.profile.clone(),
        role_arn: raw.aws.role_arn.clone(),
        s3_force_path_style: raw.aws.s3_force_path_style.unwrap_or(false),
    };
    if let Some(arn) = &aws.role_arn {
        if !arn.starts_with("arn:") || !arn.contains(":role/") {
            v.bad("aws.role_arn", format!("{arn:?} is not an IAM role ARN"));
        }
    }

    // [streams]
    let names = raw.streams.names.unwrap_or_default();
    let discover = raw.streams.discover.unwrap_or(false);
    let include = raw.streams.include.unwrap_or_else(|| vec!["*".into()]);
    let exclude = raw.streams.exclude.unwrap_or_default();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            v.bad(
                format!("streams.names[{i}]"),
                format!("{n:?} is not a valid delivery stream name (1-64 of a-z A-Z 0-9 _ . -)"),
            );
        }
    }
    if names.is_empty() && !discover {
        v.bad(
            "streams",
            "no stream selected: set streams.names, or streams.discover = true",
        );
    }
    if discover && include.is_empty() {
        v.bad(
            "streams.include",
            "empty list: discovery would select no stream",
        );
    }
    let include_set = GlobSetWrap(v.globs("streams.include", &include));
    let exclude_set = GlobSetWrap(v.globs("streams.exclude", &exclude));
    let streams = StreamSettings {
        names,
        discover,
        include,
        exclude,
        refresh: v.duration("streams.refresh", raw.streams.refresh.as_deref(), "15m"),
        include_set,
        exclude_set,
    };

    // [schedule]
    let poll = raw
        .schedule
        .poll
        .unwrap_or_else(|| "0 */5 * * * *".to_string());
    if let Err(e) = validate_cron(&poll) {
        v.bad("schedule.poll", e);
    }
    let period = v.int(
        "schedule.period_seconds",
        raw.schedule.period_seconds,
        60,
        60,
        86_400,
    );
    if period % 60 != 0 {
        v.bad(
            "schedule.period_seconds",
            format!("{period} is not a multiple of 60 (Firehose publishes 1-minute metrics)"),
        );
    }
    let schedule = ScheduleSettings {
        poll,
        period_seconds: period as u32,
        delay_seconds: v.int(
            "schedule.delay_seconds",
            raw.schedule.delay_seconds,
            120,
            0,
            86_400,
        ) as u32,
        lookback_periods: v.int(
            "schedule.lookback_periods",
            raw.schedule.lookback_periods,
            10,
            1,
            1_440,
        ) as u32,
    };

    // [detection]
    let detection = DetectionSettings {
        failing_after_periods: v.int(
            "detection.failing_after_periods",
            raw.detection.failing_after_periods,
            3,
            1,
            1_000,
        ) as u32,
        recover_after_periods: v.int(
            "detection.recover_after_periods",
            raw.detection.recover_after_periods,
            2,
            1,
            1_000,
        ) as u32,
        recheck_after: v.duration(
            "detection.recheck_after",
            raw.detection.recheck_after.as_deref(),
            "15m",
        ),
        renotify_after: v.duration(
            "detection.renotify_after",
            raw.detection.renotify_after.as_deref(),
            "4h",
        ),
    };
    if detection.failing_after_periods > schedule.lookback_periods {
        v.bad(
            "detection.failing_after_periods",
            format!(
                "{} is larger than schedule.lookback_periods ({}): a stream could never be seen failing",
                detection.failing_after_periods, schedule.lookback_periods
            ),
        );
    }
    if detection.recover_after_periods > schedule.lookback_periods {
        v.bad(
            "detection.recover_after_periods",
            format!(
                "{} is larger than schedule.lookback_periods ({}): an incident could never close",
                detection.recover_after_periods, schedule.lookback_periods
            ),
        );
    }

    // [server]
    let listen_text = raw.server.listen.unwrap_or_else(|| "0.0.0.0:9725".into());
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            v.bad(
                "server.listen",
                format!("invalid address {listen_text:?}: expected IP:PORT such as 0.0.0.0:9725"),
            );
            SocketAddr::from(([0, 0, 0, 0], 9725))
        }
    };

    // [state]
    let state_path = raw
        .state
        .path
        .unwrap_or_else(|| "/var/lib/firehose-sentinel/state.json".into());
    if state_path.trim().is_empty() {
        v.bad("state.path", "must not be empty");
    }

    // [delivery]
    let delivery = DeliverySettings {
        initial_backoff: v.duration(
            "delivery.initial_backoff",
            raw.delivery.initial_backoff.as_deref(),
            "2s",
        ),
        max_backoff: v.duration(
            "delivery.max_backoff",
            raw.delivery.max_backoff.as_deref(),
            "60s",
        ),
        give_up_after: v.duration(
            "delivery.give_up_after",
            raw.delivery.give_up_after.as_deref(),
            "24h",
        ),
        timeout: v.duration("delivery.timeout", raw.delivery.timeout.as_deref(), "10s"),
    };
    if delivery.max_backoff < delivery.initial_backoff {
        v.bad(
            "delivery.max_backoff",
            "must not be shorter than delivery.initial_backoff",
        );
    }

    let diagnosis = DiagnosisSettings {
        check_timeout: v.duration(
            "diagnosis.check_timeout",
            raw.diagnosis.check_timeout.as_deref(),
            "30s",
        ),
        concurrency: v.int("diagnosis.concurrency", raw.diagnosis.concurrency, 4, 1, 64) as usize,
    };

    // [alerts]
    let mut seen = Vec::new();
    let mut alerts = AlertSettings::default();
    for (i, w) in raw.alerts.webhook.into_iter().enumerate() {
        let key = format!("alerts.webhook[{i}]");
        let name = v.sink_name(&key, w.name, &mut seen);
        let url = v.secret(
            &key,
            "url",
            w.url.as_ref(),
            w.url_env.as_ref(),
            w.url_file.as_ref(),
            true,
        );
        if let Some(u) = &url {
            // The URL is secret: the message names the key, never the value.
            if let Err(e) = Url::parse(u.expose()) {
                v.bad(format!("{key}.url"), format!("invalid URL: {e}"));
            } else if !u.expose().starts_with("http://") && !u.expose().starts_with("https://") {
                v.bad(format!("{key}.url"), "URL must be http or https");
            }
        }
        let secret = v.secret(
            &key,
            "secret",
            w.secret.as_ref(),
            w.secret_env.as_ref(),
            w.secret_file.as_ref(),
            false,
        );
        let mut headers = BTreeMap::new();
        for (h, val) in w.headers {
            if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                v.bad(
                    format!("{key}.headers"),
                    format!("invalid header name {h:?}"),
                );
            }
            headers.insert(h, Secret::new(val));
        }
        let streams = v.stream_filter(&format!("{key}.streams"), w.streams);
        if let Some(url) = url {
            alerts.webhook.push(WebhookConfig {
                name,
                url,
                secret,
                headers,
                streams,
            });
        }
    }
    for (i, s) in raw.alerts.slack.into_iter().enumerate() {
        let key = format!("alerts.slack[{i}]");
        let name = v.sink_name(&key, s.name, &mut seen);
        let url = v.secret(
            &key,
            "webhook_url",
            s.webhook_url.as_ref(),
            s.webhook_url_env.as_ref(),
            s.webhook_url_file.as_ref(),
            true,
        );
        if let Some(u) = &url {
            if Url::parse(u.expose()).is_err()
                || !(u.expose().starts_with("http://") || u.expose().starts_with("https://"))
            {
                v.bad(
                    format!("{key}.webhook_url"),
                    "invalid URL: expected http(s)://...",
                );
            }
        }
        let streams = v.stream_filter(&format!("{key}.streams"), s.streams);
        if let Some(webhook_url) = url {
            alerts.slack.push(SlackConfig {
                name,
                webhook_url,
                streams,
            });
        }
    }
    for (i, a) in raw.alerts.alertmanager.into_iter().enumerate() {
        let key = format!("alerts.alertmanager[{i}]");
        let name = v.sink_name(&key, a.name, &mut seen);
        let urls = a.urls.unwrap_or_default();
        if urls.is_empty() {
            v.bad(
                format!("{key}.urls"),
                "missing: give at least one Alertmanager URL",
            );
        }
        for (j, u) in urls.iter().enumerate() {
            v.url(&format!("{key}.urls[{j}]"), u);
        }
        let resend_every = v.duration(
            &format!("{key}.resend_every"),
            a.resend_every.as_deref(),
            "1m",
        );
        let streams = v.stream_filter(&format!("{key}.streams"), a.streams);
        alerts.alertmanager.push(AlertmanagerConfig {
            name,
            urls: urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            resend_every,
            streams,
        });
    }
    for (i, p) in raw.alerts.pagerduty.into_iter().enumerate() {
        let key = format!("alerts.pagerduty[{i}]");
        let name = v.sink_name(&key, p.name, &mut seen);
        let routing_key = v.secret(
            &key,
            "routing_key",
            p.routing_key.as_ref(),
            p.routing_key_env.as_ref(),
            p.routing_key_file.as_ref(),
            true,
        );
        let url = p
            .url
            .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
        v.url(&format!("{key}.url"), &url);
        let streams = v.stream_filter(&format!("{key}.streams"), p.streams);
        if let Some(routing_key) = routing_key {
            alerts.pagerduty.push(PagerDutyConfig {
                name,
                routing_key,
                url,
                streams,
            });
        }
    }

    if !v.problems.is_empty() {
        return Err(v.problems);
    }
    Ok(Settings {
        aws,
        streams,
        schedule,
        detection,
        server: ServerSettings { listen },
        state: StateSettings {
            path: PathBuf::from(state_path),
        },
        alerts,
        delivery,
        diagnosis,
    })
}

impl Settings {
    /// The effective configuration as JSON, every secret redacted.
    pub fn redacted_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("<unprintable: {e}>"))
    }

    /// Length of the polling window.
    pub fn window(&self) -> Duration {
        Duration::from_secs(
            u64::from(self.schedule.period_seconds) * u64::from(self.schedule.lookback_periods),
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}
