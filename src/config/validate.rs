//! Validation: raw configuration (and what loading read for it) -> [`Settings`], or every
//! problem found, each naming its key. Pure: no file, no environment lookup beyond the map
//! it is given. One function per section; one rule (and one message) per kind of value.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use url::Url;

use super::defaults as d;
use super::raw::{
    RawAlertmanager, RawAlerts, RawAws, RawConfig, RawDelivery, RawDetection, RawDiagnosis,
    RawPagerDuty, RawSchedule, RawServer, RawSharding, RawSlack, RawStreams, RawTarget, RawWebhook,
};
use super::settings::GlobSetWrap;
use super::*;
use crate::secret::Secret;

/// The longest duration any key takes: longer ones are surely mistakes, and would overflow
/// the time arithmetic they feed.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The files secrets are read from, by path: their content, or why they could not be read.
pub type SecretFiles = HashMap<String, Result<String, String>>;

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

/// The one URL rule: an absolute http or https URL with a host. The message never quotes the
/// URL (it may be a secret).
pub fn url_rule(text: &str) -> Result<Url, String> {
    match Url::parse(text) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(u),
        Ok(u) => Err(format!(
            "URL must be http or https with a host, got scheme {:?}",
            u.scheme()
        )),
        Err(e) => Err(format!("invalid URL: {e}")),
    }
}

/// The whole configuration.
pub fn validate(
    raw: RawConfig,
    env: &HashMap<String, String>,
    files: &SecretFiles,
) -> Result<Settings, Vec<Problem>> {
    let mut v = V {
        problems: Vec::new(),
        env,
        files,
    };
    let aws = aws(&mut v, raw.aws);
    let with_targets = !raw.targets.is_empty();
    let streams = streams(&mut v, raw.streams, with_targets);
    let targets = targets(&mut v, raw.targets, &aws, &streams);
    let schedule = schedule(&mut v, raw.schedule);
    let detection = detection(&mut v, raw.detection, &schedule);
    let server = server(&mut v, raw.server);
    let state = state(&mut v, raw.state.path);
    let delivery = delivery(&mut v, raw.delivery);
    let diagnosis = diagnosis(&mut v, raw.diagnosis);
    let alerts = alerts(&mut v, raw.alerts);
    let sharding = sharding(&mut v, raw.sharding);
    if !v.problems.is_empty() {
        return Err(v.problems);
    }
    Ok(Settings {
        targets,
        sharding,
        aws,
        streams,
        schedule,
        detection,
        server,
        state,
        alerts,
        delivery,
        diagnosis,
    })
}

fn aws(v: &mut V<'_>, raw: RawAws) -> AwsSettings {
    if let Some(r) = &raw.region {
        if r.trim().is_empty() || r.contains(char::is_whitespace) {
            v.bad("aws.region", format!("invalid region {r:?}"));
        }
    }
    let endpoint_url = raw.endpoint_url.as_deref().and_then(|u| {
        v.url("aws.endpoint_url", u)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
    });
    if let Some(arn) = &raw.role_arn {
        if !is_role_arn(arn) {
            v.bad("aws.role_arn", format!("{arn:?} is not an IAM role ARN"));
        }
    }
    AwsSettings {
        region: raw.region,
        endpoint_url,
        timeout: v.duration("aws.timeout", raw.timeout.as_deref(), d::AWS_TIMEOUT),
        max_attempts: v.int(
            "aws.max_attempts",
            raw.max_attempts,
            d::AWS_MAX_ATTEMPTS,
            1,
            20,
        ) as u32,
        profile: raw.profile,
        role_arn: raw.role_arn,
        s3_force_path_style: raw.s3_force_path_style.unwrap_or(false),
    }
}

fn streams(v: &mut V<'_>, raw: RawStreams, with_targets: bool) -> StreamSettings {
    let refresh = v.duration(
        "streams.refresh",
        raw.refresh.as_deref(),
        d::STREAMS_REFRESH,
    );
    if with_targets {
        // Only `refresh` applies to every target; the selection is each target's.
        let used = [
            ("names", raw.names.is_some()),
            ("discover", raw.discover.is_some()),
            ("include", raw.include.is_some()),
            ("exclude", raw.exclude.is_some()),
            ("include_tags", raw.include_tags.is_some()),
            ("exclude_tags", raw.exclude_tags.is_some()),
        ];
        for (key, set) in used {
            if set {
                v.bad(
                    format!("streams.{key}"),
                    "not used when [[targets]] are configured: set it in each target",
                );
            }
        }
    }
    selection(
        v,
        "streams",
        Selection {
            names: raw.names,
            discover: raw.discover,
            include: raw.include,
            exclude: raw.exclude,
            include_tags: raw.include_tags,
            exclude_tags: raw.exclude_tags,
        },
        refresh,
        !with_targets,
    )
}

/// The stream selection keys of `[streams]` or of one target.
struct Selection {
    names: Option<Vec<String>>,
    discover: Option<bool>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    include_tags: Option<BTreeMap<String, String>>,
    exclude_tags: Option<BTreeMap<String, String>>,
}

fn selection(
    v: &mut V<'_>,
    prefix: &str,
    raw: Selection,
    refresh: Duration,
    required: bool,
) -> StreamSettings {
    let names = raw.names.unwrap_or_default();
    let discover = raw.discover.unwrap_or(false);
    let include = raw
        .include
        .unwrap_or_else(|| vec![d::STREAMS_INCLUDE.into()]);
    let exclude = raw.exclude.unwrap_or_default();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            v.bad(
                format!("{prefix}.names[{i}]"),
                format!("{n:?} is not a valid delivery stream name (1-64 of a-z A-Z 0-9 _ . -)"),
            );
        }
    }
    if required && names.is_empty() && !discover {
        v.bad(
            prefix,
            format!("no stream selected: set {prefix}.names, or {prefix}.discover = true"),
        );
    }
    if discover && include.is_empty() {
        v.bad(
            format!("{prefix}.include"),
            "empty list: discovery would select no stream",
        );
    }
    let include_tags = raw.include_tags.unwrap_or_default();
    let exclude_tags = raw.exclude_tags.unwrap_or_default();
    for (key, tags) in [
        ("include_tags", &include_tags),
        ("exclude_tags", &exclude_tags),
    ] {
        if !tags.is_empty() && !discover {
            v.bad(
                format!("{prefix}.{key}"),
                "tags select discovered streams: set discover = true (named streams are always watched)",
            );
        }
        for (k, value) in tags {
            // AWS tag rules: a key of 1-128 characters, a value of at most 256.
            if k.is_empty() || k.chars().count() > 128 {
                v.bad(
                    format!("{prefix}.{key}"),
                    format!("tag key {k:?} must be 1 to 128 characters"),
                );
            }
            if value.chars().count() > 256 {
                v.bad(
                    format!("{prefix}.{key}.{k}"),
                    "tag value longer than 256 characters",
                );
            }
        }
    }
    let include_set = GlobSetWrap(v.globs(&format!("{prefix}.include"), &include));
    let exclude_set = GlobSetWrap(v.globs(&format!("{prefix}.exclude"), &exclude));
    StreamSettings {
        names,
        discover,
        include,
        exclude,
        include_tags,
        exclude_tags,
        refresh,
        include_set,
        exclude_set,
    }
}

/// Whether `arn` is an IAM role ARN.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len()
}

/// A region name as AWS spells them (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
fn is_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && r.contains('-')
        && !r.starts_with('-')
        && !r.ends_with('-')
}

/// `[[targets]]`, or the implicit target of `[aws]` + `[streams]`.
fn targets(
    v: &mut V<'_>,
    raw: Vec<RawTarget>,
    aws: &AwsSettings,
    streams: &StreamSettings,
) -> Vec<TargetSettings> {
    if raw.is_empty() {
        return vec![TargetSettings {
            name: DEFAULT_TARGET.to_string(),
            role_arn: aws.role_arn.clone(),
            external_id: None,
            regions: aws.region.iter().cloned().collect(),
            streams: streams.clone(),
        }];
    }
    if aws.role_arn.is_some() {
        v.bad(
            "aws.role_arn",
            "not used when [[targets]] are configured: set role_arn in each target",
        );
    }
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let key = format!("targets[{i}]");
        let name = match t.name {
            Some(n)
                if !n.is_empty()
                    && n.len() <= 64
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') =>
            {
                if seen.contains(&n) {
                    v.bad(
                        format!("{key}.name"),
                        format!("target name {n:?} is used twice; names must be unique"),
                    );
                }
                seen.push(n.clone());
                n
            }
            Some(n) => {
                v.bad(
                    format!("{key}.name"),
                    format!("{n:?} is not a valid target name (1-64 of a-z A-Z 0-9 _ . -)"),
                );
                String::new()
            }
            None => {
                v.bad(format!("{key}.name"), "missing: every target needs a name");
                String::new()
            }
        };
        if let Some(arn) = &t.role_arn {
            if !is_role_arn(arn) {
                v.bad(
                    format!("{key}.role_arn"),
                    format!("{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"),
                );
            }
        }
        let external_id = v.secret(
            &key,
            "external_id",
            t.external_id,
            t.external_id_env,
            t.external_id_file,
            false,
        );
        if let Some(x) = &external_id {
            // AWS: 2 to 1224 characters of [\w+=,.@:\/-].
            let text = x.expose();
            let ok_chars = text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
            if !(2..=1224).contains(&text.len()) || !ok_chars {
                v.bad(
                    format!("{key}.external_id"),
                    "must be 2 to 1224 characters of a-z A-Z 0-9 _ + = , . @ : / -",
                );
            }
            if t.role_arn.is_none() {
                v.bad(
                    format!("{key}.external_id"),
                    "an external id is passed when assuming role_arn: set role_arn",
                );
            }
        }
        let regions = match t.regions {
            Some(r) => r,
            None => aws.region.iter().cloned().collect(),
        };
        if regions.is_empty() {
            v.bad(
                format!("{key}.regions"),
                "no region: list at least one (regions = [\"us-east-1\"]), or set aws.region",
            );
        }
        for (j, r) in regions.iter().enumerate() {
            if !is_region(r) {
                v.bad(
                    format!("{key}.regions[{j}]"),
                    format!("{r:?} is not a region name"),
                );
            }
            if regions[..j].contains(r) {
                v.bad(
                    format!("{key}.regions[{j}]"),
                    format!("{r:?} is listed twice"),
                );
            }
        }
        let streams = selection(
            v,
            &key,
            Selection {
                names: t.names,
                discover: t.discover,
                include: t.include,
                exclude: t.exclude,
                include_tags: t.include_tags,
                exclude_tags: t.exclude_tags,
            },
            streams.refresh,
            true,
        );
        out.push(TargetSettings {
            name,
            role_arn: t.role_arn,
            external_id,
            regions,
            streams,
        });
    }
    // Two targets watching one account and region would watch its streams twice.
    for (i, a) in out.iter().enumerate() {
        for b in &out[..i] {
            let same_account = a.role_account().is_some() && a.role_account() == b.role_account()
                || a.role_arn.is_none() && b.role_arn.is_none();
            if let Some(r) = a.regions.iter().find(|r| b.regions.contains(r)) {
                if same_account {
                    v.bad(
                        format!("targets[{i}]"),
                        format!(
                            "watches the same account and region ({r}) as target {:?}: merge their selections into one target",
                            b.name
                        ),
                    );
                }
            }
        }
    }
    out
}

/// `[sharding]`: `index` defaults to the StatefulSet pod's ordinal (the number that ends
/// `$HOSTNAME`, `name-3`) modulo `total`, so a StatefulSet of `total` x R replicas runs R
/// replicas of each shard.
fn sharding(v: &mut V<'_>, raw: RawSharding) -> ShardingSettings {
    let total = v.int("sharding.total", raw.total, 1, 1, 1_000) as u32;
    let index = match raw.index {
        Some(i) => {
            if i < 0 || i >= i64::from(total) {
                v.bad(
                    "sharding.index",
                    format!(
                        "{i} is out of range (0 to {}, sharding.total - 1)",
                        total - 1
                    ),
                );
                0
            } else {
                i as u32
            }
        }
        None if total == 1 => 0,
        None => {
            let host = v.env.get("HOSTNAME").cloned().unwrap_or_default();
            match host
                .rsplit_once('-')
                .and_then(|(_, n)| n.parse::<u64>().ok())
            {
                Some(ordinal) => (ordinal % u64::from(total)) as u32,
                None => {
                    v.bad(
                        "sharding.index",
                        format!(
                            "not set, and HOSTNAME ({host:?}) does not end in a StatefulSet pod ordinal (-N): set sharding.index"
                        ),
                    );
                    0
                }
            }
        }
    };
    ShardingSettings { total, index }
}

fn schedule(v: &mut V<'_>, raw: RawSchedule) -> ScheduleSettings {
    let poll = raw.poll.unwrap_or_else(|| d::POLL.to_string());
    if let Err(e) = validate_cron(&poll) {
        v.bad("schedule.poll", e);
    }
    let audit = match raw.audit.as_deref().map(str::trim) {
        Some("off") => None,
        other => {
            let expr = other.unwrap_or(d::AUDIT).to_string();
            if let Err(e) = validate_cron(&expr) {
                v.bad("schedule.audit", format!("{e} (or \"off\")"));
            }
            Some(expr)
        }
    };
    let period = v.int(
        "schedule.period_seconds",
        raw.period_seconds,
        d::PERIOD_SECONDS,
        60,
        86_400,
    );
    if period % 60 != 0 {
        v.bad(
            "schedule.period_seconds",
            format!("{period} is not a multiple of 60 (Firehose publishes 1-minute metrics)"),
        );
    }
    ScheduleSettings {
        poll,
        period_seconds: period as u32,
        delay_seconds: v.int(
            "schedule.delay_seconds",
            raw.delay_seconds,
            d::DELAY_SECONDS,
            0,
            86_400,
        ) as u32,
        lookback_periods: v.int(
            "schedule.lookback_periods",
            raw.lookback_periods,
            d::LOOKBACK_PERIODS,
            1,
            1_440,
        ) as u32,
        full_read_every: v.duration(
            "schedule.full_read_every",
            raw.full_read_every.as_deref(),
            d::FULL_READ_EVERY,
        ),
        audit,
    }
}

fn detection(v: &mut V<'_>, raw: RawDetection, schedule: &ScheduleSettings) -> DetectionSettings {
    let detection = DetectionSettings {
        failing_after_periods: v.int(
            "detection.failing_after_periods",
            raw.failing_after_periods,
            d::FAILING_AFTER_PERIODS,
            1,
            1_000,
        ) as u32,
        recover_after_periods: v.int(
            "detection.recover_after_periods",
            raw.recover_after_periods,
            d::RECOVER_AFTER_PERIODS,
            1,
            1_000,
        ) as u32,
        recheck_after: v.duration(
            "detection.recheck_after",
            raw.recheck_after.as_deref(),
            d::RECHECK_AFTER,
        ),
        renotify_after: v.duration(
            "detection.renotify_after",
            raw.renotify_after.as_deref(),
            d::RENOTIFY_AFTER,
        ),
        degraded_after_periods: v.int(
            "detection.degraded_after_periods",
            raw.degraded_after_periods,
            d::DEGRADED_AFTER_PERIODS,
            1,
            1_440,
        ) as u32,
        idle_close_after: v.duration(
            "detection.idle_close_after",
            raw.idle_close_after.as_deref(),
            d::IDLE_CLOSE_AFTER,
        ),
    };
    let lookback = schedule.lookback_periods;
    if detection.failing_after_periods > lookback {
        v.bad(
            "detection.failing_after_periods",
            format!(
                "{} is larger than schedule.lookback_periods ({lookback}): a stream could never be seen failing",
                detection.failing_after_periods
            ),
        );
    }
    if detection.recover_after_periods > lookback {
        v.bad(
            "detection.recover_after_periods",
            format!(
                "{} is larger than schedule.lookback_periods ({lookback}): an incident could never close",
                detection.recover_after_periods
            ),
        );
    }
    detection
}

fn server(v: &mut V<'_>, raw: RawServer) -> ServerSettings {
    let auth_token = v.secret(
        "server",
        "auth_token",
        raw.auth_token,
        raw.auth_token_env,
        raw.auth_token_file,
        false,
    );
    let text = raw.listen.unwrap_or_else(|| d::LISTEN.into());
    let listen = match text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            v.bad(
                "server.listen",
                format!("invalid address {text:?}: expected IP:PORT such as 0.0.0.0:9725"),
            );
            SocketAddr::from(([0, 0, 0, 0], 9725))
        }
    };
    ServerSettings { listen, auth_token }
}

fn state(v: &mut V<'_>, path: Option<String>) -> StateSettings {
    let path = path.unwrap_or_else(|| d::STATE_PATH.into());
    if path.trim().is_empty() {
        v.bad("state.path", "must not be empty");
    }
    StateSettings {
        path: PathBuf::from(path),
    }
}

fn delivery(v: &mut V<'_>, raw: RawDelivery) -> DeliverySettings {
    let delivery = DeliverySettings {
        initial_backoff: v.duration(
            "delivery.initial_backoff",
            raw.initial_backoff.as_deref(),
            d::INITIAL_BACKOFF,
        ),
        max_backoff: v.duration(
            "delivery.max_backoff",
            raw.max_backoff.as_deref(),
            d::MAX_BACKOFF,
        ),
        give_up_after: v.duration(
            "delivery.give_up_after",
            raw.give_up_after.as_deref(),
            d::GIVE_UP_AFTER,
        ),
        timeout: v.duration(
            "delivery.timeout",
            raw.timeout.as_deref(),
            d::DELIVERY_TIMEOUT,
        ),
        max_pending: v.int(
            "delivery.max_pending",
            raw.max_pending,
            d::MAX_PENDING,
            1,
            1_000_000,
        ) as usize,
    };
    if delivery.max_backoff < delivery.initial_backoff {
        v.bad(
            "delivery.max_backoff",
            "must not be shorter than delivery.initial_backoff",
        );
    }
    delivery
}

fn diagnosis(v: &mut V<'_>, raw: RawDiagnosis) -> DiagnosisSettings {
    DiagnosisSettings {
        check_timeout: v.duration(
            "diagnosis.check_timeout",
            raw.check_timeout.as_deref(),
            d::CHECK_TIMEOUT,
        ),
        concurrency: v.int(
            "diagnosis.concurrency",
            raw.concurrency,
            d::DIAGNOSIS_CONCURRENCY,
            1,
            64,
        ) as usize,
    }
}

/// `[[alerts.*]]`: every sink, with names unique across kinds.
fn alerts(v: &mut V<'_>, raw: RawAlerts) -> AlertSettings {
    let mut seen = Vec::new();
    let mut alerts = AlertSettings::default();
    for (i, w) in raw.webhook.into_iter().enumerate() {
        alerts
            .webhook
            .extend(webhook(v, &format!("alerts.webhook[{i}]"), w, &mut seen));
    }
    for (i, s) in raw.slack.into_iter().enumerate() {
        alerts
            .slack
            .extend(slack(v, &format!("alerts.slack[{i}]"), s, &mut seen));
    }
    for (i, a) in raw.alertmanager.into_iter().enumerate() {
        alerts.alertmanager.push(alertmanager(
            v,
            &format!("alerts.alertmanager[{i}]"),
            a,
            &mut seen,
        ));
    }
    for (i, p) in raw.pagerduty.into_iter().enumerate() {
        alerts.pagerduty.extend(pagerduty(
            v,
            &format!("alerts.pagerduty[{i}]"),
            p,
            &mut seen,
        ));
    }
    alerts
}

fn webhook(
    v: &mut V<'_>,
    key: &str,
    w: RawWebhook,
    seen: &mut Vec<String>,
) -> Option<WebhookConfig> {
    let name = v.sink_name(key, w.name, seen);
    let url = v.secret(key, "url", w.url, w.url_env, w.url_file, true);
    if let Some(u) = &url {
        v.secret_url(&format!("{key}.url"), u);
    }
    let secret = v.secret(key, "secret", w.secret, w.secret_env, w.secret_file, false);
    let mut headers = BTreeMap::new();
    for (h, val) in w.headers {
        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
            v.bad(
                format!("{key}.headers"),
                format!("invalid header name {h:?}"),
            );
        } else if reqwest::header::HeaderValue::from_str(&val).is_err() {
            // The value may be a token: never quoted.
            v.bad(
                format!("{key}.headers.{h}"),
                "invalid header value (control characters or non-visible ASCII)",
            );
        }
        headers.insert(h, Secret::new(val));
    }
    let streams = v.stream_filter(&format!("{key}.streams"), w.streams);
    Some(WebhookConfig {
        name,
        url: url?,
        secret,
        headers,
        streams,
    })
}

fn slack(v: &mut V<'_>, key: &str, s: RawSlack, seen: &mut Vec<String>) -> Option<SlackConfig> {
    let name = v.sink_name(key, s.name, seen);
    let url = v.secret(
        key,
        "webhook_url",
        s.webhook_url,
        s.webhook_url_env,
        s.webhook_url_file,
        true,
    );
    if let Some(u) = &url {
        v.secret_url(&format!("{key}.webhook_url"), u);
    }
    let streams = v.stream_filter(&format!("{key}.streams"), s.streams);
    Some(SlackConfig {
        name,
        webhook_url: url?,
        streams,
    })
}

fn alertmanager(
    v: &mut V<'_>,
    key: &str,
    a: RawAlertmanager,
    seen: &mut Vec<String>,
) -> AlertmanagerConfig {
    let name = v.sink_name(key, a.name, seen);
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
        d::ALERTMANAGER_RESEND_EVERY,
    );
    let streams = v.stream_filter(&format!("{key}.streams"), a.streams);
    AlertmanagerConfig {
        name,
        urls: urls
            .into_iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        resend_every,
        streams,
    }
}

fn pagerduty(
    v: &mut V<'_>,
    key: &str,
    p: RawPagerDuty,
    seen: &mut Vec<String>,
) -> Option<PagerDutyConfig> {
    let name = v.sink_name(key, p.name, seen);
    let routing_key = v.secret(
        key,
        "routing_key",
        p.routing_key,
        p.routing_key_env,
        p.routing_key_file,
        true,
    );
    let url = p.url.unwrap_or_else(|| d::PAGERDUTY_URL.into());
    v.url(&format!("{key}.url"), &url);
    let streams = v.stream_filter(&format!("{key}.streams"), p.streams);
    Some(PagerDutyConfig {
        name,
        routing_key: routing_key?,
        url,
        streams,
    })
}

/// The problems found so far, and what validation may look up.
struct V<'a> {
    problems: Vec<Problem>,
    env: &'a HashMap<String, String>,
    files: &'a SecretFiles,
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
            Ok(d) if d > MAX_DURATION => {
                self.bad(
                    key,
                    format!(
                        "duration {text:?} is too long (at most {})",
                        humantime::format_duration(MAX_DURATION)
                    ),
                );
                Duration::from_secs(1)
            }
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
        url_rule(text).map_err(|m| self.bad(key, m)).ok()
    }

    /// [`url_rule`] for a URL that is a secret.
    fn secret_url(&mut self, key: &str, url: &Secret) {
        if let Err(m) = url_rule(url.expose()) {
            self.bad(key, m);
        }
    }

    /// A secret given as `KEY`, `KEY_env` or `KEY_file`: exactly one of them.
    fn secret(
        &mut self,
        prefix: &str,
        key: &str,
        inline: Option<String>,
        env_name: Option<String>,
        file: Option<String>,
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
        let (value, source_key, empty) = if let Some(v) = inline {
            (
                Ok(v),
                format!("{prefix}.{key}"),
                "must not be empty".to_string(),
            )
        } else if let Some(name) = env_name {
            let value = self
                .env
                .get(&name)
                .map(|v| v.trim().to_string())
                .ok_or_else(|| format!("environment variable {name} is not set"));
            let empty = format!("environment variable {name} is empty");
            (value, format!("{prefix}.{key}_env"), empty)
        } else if let Some(path) = file {
            let value = match self.files.get(&path) {
                Some(Ok(content)) => Ok(content.trim().to_string()),
                Some(Err(e)) => Err(format!("cannot read {path}: {e}")),
                None => Err(format!("cannot read {path}: not loaded")),
            };
            (
                value,
                format!("{prefix}.{key}_file"),
                format!("file {path} is empty"),
            )
        } else {
            if required {
                self.bad(
                    format!("{prefix}.{key}"),
                    format!("missing: set {key}, {key}_env or {key}_file"),
                );
            }
            return None;
        };
        match value {
            Ok(v) if v.is_empty() => {
                self.bad(source_key, empty);
                None
            }
            Ok(v) => Some(Secret::new(v)),
            Err(m) => {
                self.bad(source_key, m);
                None
            }
        }
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
