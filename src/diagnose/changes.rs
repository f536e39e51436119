//! What changed just before an incident: CloudTrail management events (`LookupEvents`) on every
//! resource a stream depends on (the stream, its buckets, its role, its keys, its Lambda
//! function, its Kinesis source) in the 24 hours before the incident started, ranked: events on
//! the root cause's resource that can cause it first (`PutBucketPolicy` for `s3.bucket_policy`),
//! then the rest of that resource's, then the others, each by closeness in time.
//!
//! The API's rules are kept: one lookup attribute per call (`ResourceName`), 50 events a page,
//! two calls per second per account and region ([`Pacer`], shared by every lookup of the
//! process), IAM events only in us-east-1, Lambda event names with their API version suffix.
//! A denied, throttled or slow lookup gives what it found and a note; it never holds an alert.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::aws::{AwsError, StreamDescription, TrailApi, TrailEvent};
use crate::model::{Change, Changes};

/// What the lookup calls.
pub const PERMISSIONS: &[&str] = &["cloudtrail:LookupEvents"];

/// How far before the incident events are looked up.
pub const WINDOW_HOURS: i64 = 24;
/// Pages read per resource at most (50 events each).
pub const MAX_PAGES: usize = 2;
/// Changes shown at most.
pub const MAX_SHOWN: usize = 5;
/// `LookupEvents` allows two calls per second per account and region.
pub const CALL_SPACING: Duration = Duration::from_millis(500);
/// IAM is global: its events are recorded in us-east-1 (in the aws partition).
pub const IAM_REGION: &str = "us-east-1";

/// The region IAM's events are recorded in, for the partition of `region`.
pub fn iam_region(region: &str) -> &'static str {
    match crate::model::partition_of(region) {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => IAM_REGION,
    }
}
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

/// Which of the stream's resources an event is on, in the order they are looked up (the
/// most frequent causes first: a lookup cut short by the checks' end has read those).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bucket,
    Role,
    Key,
    Function,
    Stream,
    Source,
}

/// One resource to look up: the name CloudTrail records for it and the region its events
/// are in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    pub kind: Kind,
    pub name: String,
    pub region: String,
}

fn arn_field(arn: &str, i: usize) -> Option<&str> {
    arn.split(':').nth(i).filter(|f| !f.is_empty())
}

/// Every resource the stream depends on. CloudTrail names a bucket, a role, a Lambda
/// function, a Kinesis stream and a delivery stream by name, a KMS key by its ARN.
pub fn resources(d: &StreamDescription) -> Vec<Resource> {
    let region = d.region();
    let mut out: BTreeSet<Resource> = BTreeSet::new();
    let mut add = |kind, name: &str, region: &str| {
        if !name.is_empty() && !region.is_empty() {
            out.insert(Resource {
                kind,
                name: name.to_string(),
                region: region.to_string(),
            });
        }
    };
    add(Kind::Stream, &d.name, &region);
    if let Some(s3) = &d.s3 {
        add(Kind::Bucket, &s3.bucket, &region);
        if let Some(b) = &s3.backup {
            add(Kind::Bucket, &b.bucket, &region);
        }
        let role = s3.role_arn.rsplit('/').next().unwrap_or_default();
        add(Kind::Role, role, iam_region(&region));
        if let Some(k) = &s3.kms_key_arn {
            add(Kind::Key, k, arn_field(k, 3).unwrap_or(&region));
        }
        if let Some(l) = &s3.lambda_arn {
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
            if let Some(name) = arn_field(l, 6) {
                add(Kind::Function, name, arn_field(l, 3).unwrap_or(&region));
            }
        }
    }
    if let Some(k) = d.sse.as_ref().and_then(|s| s.key_arn.as_deref()) {
        add(Kind::Key, k, arn_field(k, 3).unwrap_or(&region));
    }
    if let crate::aws::Source::KinesisStream {
        stream_arn,
        role_arn,
    } = &d.source
    {
        let name = stream_arn.rsplit('/').next().unwrap_or_default();
        add(
            Kind::Source,
            name,
            arn_field(stream_arn, 3).unwrap_or(&region),
        );
        add(
            Kind::Role,
            role_arn.rsplit('/').next().unwrap_or_default(),
            iam_region(&region),
        );
    }
    out.into_iter().collect()
}

/// The resource a root cause is about.
pub fn root_kind(check: &str) -> Option<Kind> {
    Some(match check {
        "stream.status" => Kind::Stream,
        "kms.sse" | "kms.key" | "iam.kms" => Kind::Key,
        c if c.starts_with("s3.") => Kind::Bucket,
        c if c.starts_with("lambda.") => Kind::Function,
        "source.kinesis" => Kind::Source,
        c if c.starts_with("iam.") => Kind::Role,
        _ => return None,
    })
}

/// Events that can cause the failure a root cause names.
pub fn causes(check: &str) -> &'static [&'static str] {
    match check {
        "s3.bucket" => &["DeleteBucket"],
        "s3.bucket_policy" => &["PutBucketPolicy", "DeleteBucketPolicy"],
        "s3.processing_failed" | "s3.dynamic_partitioning" => &["UpdateDestination"],
        "kms.key" | "kms.sse" | "iam.kms" => &[
            "DisableKey",
            "ScheduleKeyDeletion",
            "PutKeyPolicy",
            "RevokeGrant",
            "RetireGrant",
        ],
        "stream.status" => &[
            "UpdateDestination",
            "StopDeliveryStreamEncryption",
            "StartDeliveryStreamEncryption",
        ],
        "source.kinesis" => &["DeleteStream", "StartStreamEncryption", "UpdateShardCount"],
        c if c.starts_with("lambda.") => &[
            "UpdateFunctionCode",
            "UpdateFunctionConfiguration",
            "DeleteFunction",
            "PutFunctionConcurrency",
            "RemovePermission",
        ],
        c if c.starts_with("iam.") => &[
            "DetachRolePolicy",
            "PutRolePolicy",
            "DeleteRolePolicy",
            "AttachRolePolicy",
            // (CreatePolicyVersion/SetDefaultPolicyVersion are recorded on the policy, not on
            // the role the lookup names.)
            "UpdateAssumeRolePolicy",
            "DeleteRole",
            "PutRolePermissionsBoundary",
        ],
        _ => &[],
    }
}

/// The event name without Lambda's API version suffix (`UpdateFunctionCode20150331v2` ->
/// `UpdateFunctionCode`).
pub fn normalize(event: &str) -> &str {
    let trimmed = event.trim_end_matches(|c: char| c.is_ascii_digit());
    let base = match trimmed.strip_suffix('v') {
        Some(b) if trimmed.len() < event.len() => b,
        _ => event,
    };
    let digits = base.len() - base.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 8 {
        &base[..base.len() - 8]
    } else {
        event
    }
}

/// The changes to show, most relevant first: events on the root cause's resource that can
/// cause it, then that resource's others, then the rest; each group newest (closest to
/// `before`) first. Read-only events, events after `before` and duplicates are dropped.
pub fn rank(
    found: Vec<(Resource, TrailEvent)>,
    root_cause: Option<&str>,
    before: DateTime<Utc>,
) -> Vec<Change> {
    let kind = root_cause.and_then(root_kind);
    let causes = root_cause.map(causes).unwrap_or(&[]);
    let mut seen = BTreeSet::new();
    let mut ranked: Vec<(u8, chrono::Duration, Change)> = found
        .into_iter()
        .filter(|(_, e)| !e.read_only && e.time <= before)
        .filter(|(_, e)| seen.insert(e.id.clone()))
        .map(|(r, e)| {
            let event = normalize(&e.name).to_string();
            // A stream-level cause (`UpdateDestination`) is on the stream whatever resource
            // the root cause names.
            let cause = causes.contains(&event.as_str());
            let tier = match kind {
                Some(k) if cause && (k == r.kind || r.kind == Kind::Stream) => 0,
                Some(k) if k == r.kind => 1,
                _ => 2,
            };
            let change = Change {
                time: e.time,
                event,
                resource: r.name.clone(),
                actor: e
                    .actor_arn
                    .clone()
                    .or(e.username.clone())
                    .unwrap_or_else(|| "unknown".into()),
            };
            (tier, before - e.time, change)
        })
        .collect();
    ranked.sort_by_key(|r| (r.0, r.1));
    ranked
        .into_iter()
        .take(MAX_SHOWN)
        .map(|(_, _, c)| c)
        .collect()
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
/// `budget`. Whatever went wrong becomes the note of the ranked [`Changes`].
pub async fn gather(
    api: &dyn TrailApi,
    pacer: &Pacer,
    account: &str,
    d: &StreamDescription,
    before: DateTime<Utc>,
    budget: Duration,
) -> Gathered {
    gather_until(
        api,
        pacer,
        account,
        d,
        before,
        budget,
        std::future::pending(),
    )
    .await
}

/// [`gather`], also stopped (with what it found) when `stop` completes: the caller's checks
/// are done and [`GRACE`] has passed.
pub async fn gather_until(
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
    diagnose: impl std::future::Future<Output = super::Diagnosis>,
    api: &dyn TrailApi,
    pacer: &Pacer,
    account: &str,
    d: &StreamDescription,
    before: DateTime<Utc>,
    budget: Duration,
) -> super::Diagnosis {
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
    let (mut diagnosis, gathered) = futures::join!(
        checks,
        gather_until(api, pacer, account, d, before, budget, stop)
    );
    diagnosis.changes = gathered.rank(diagnosis.root_cause.as_deref());
    diagnosis
}

/// [`gather`], then rank for `root_cause`.
pub async fn lookup(
    api: &dyn TrailApi,
    pacer: &Pacer,
    account: &str,
    d: &StreamDescription,
    root_cause: Option<&str>,
    before: DateTime<Utc>,
    budget: Duration,
) -> Changes {
    gather(api, pacer, account, d, before, budget)
        .await
        .rank(root_cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::s3_stream;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn ev(id: &str, name: &str, min: i64) -> TrailEvent {
        TrailEvent {
            id: id.into(),
            name: name.into(),
            time: t(min),
            username: Some("alice".into()),
            read_only: false,
            resources: vec![],
            actor_arn: Some("arn:aws:iam::1:user/alice".into()),
        }
    }

    fn res(kind: Kind, name: &str) -> Resource {
        Resource {
            kind,
            name: name.into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn iam_events_are_in_the_partitions_iam_region_and_stream_level_causes_rank_first() {
        assert_eq!(iam_region("eu-west-1"), "us-east-1");
        assert_eq!(iam_region("cn-northwest-1"), "cn-north-1");
        assert_eq!(iam_region("us-gov-east-1"), "us-gov-west-1");
        let found = vec![
            (res(Kind::Bucket, "b"), ev("1", "PutBucketTagging", -1)),
            (res(Kind::Stream, "s"), ev("2", "UpdateDestination", -9)),
        ];
        let c = rank(found, Some("s3.processing_failed"), t(0));
        assert_eq!(c[0].event, "UpdateDestination");
    }

    #[test]
    fn lambda_version_suffixes_are_dropped() {
        assert_eq!(
            normalize("UpdateFunctionConfiguration20150331v2"),
            "UpdateFunctionConfiguration"
        );
        assert_eq!(
            normalize("UpdateFunctionCode20150331"),
            "UpdateFunctionCode"
        );
        assert_eq!(normalize("PutBucketPolicy"), "PutBucketPolicy");
        assert_eq!(normalize("CreateKey"), "CreateKey");
    }

    #[test]
    fn the_root_causes_resource_and_event_come_first_then_time() {
        let found = vec![
            (res(Kind::Role, "r"), ev("1", "DetachRolePolicy", -2)),
            (res(Kind::Bucket, "b"), ev("2", "PutBucketTagging", -1)),
            (res(Kind::Bucket, "b"), ev("3", "PutBucketPolicy", -50)),
            (res(Kind::Bucket, "b"), ev("4", "PutBucketPolicy", -10)),
            (res(Kind::Stream, "s"), ev("5", "UpdateDestination", -3)),
            (res(Kind::Bucket, "b"), ev("4", "PutBucketPolicy", -10)),
        ];
        let c = rank(found, Some("s3.bucket_policy"), t(0));
        let ids: Vec<(&str, i64)> = c
            .iter()
            .map(|c| (c.event.as_str(), (t(0) - c.time).num_minutes()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("PutBucketPolicy", 10),
                ("PutBucketPolicy", 50),
                ("PutBucketTagging", 1),
                ("DetachRolePolicy", 2),
                ("UpdateDestination", 3)
            ]
        );
        assert_eq!(
            c[0].describe(t(0)),
            "10 min before: PutBucketPolicy on b by arn:aws:iam::1:user/alice"
        );
    }

    #[test]
    fn read_only_and_later_events_are_not_changes_and_five_at_most() {
        let mut found: Vec<(Resource, TrailEvent)> = (0..8)
            .map(|i| {
                (
                    res(Kind::Bucket, "b"),
                    ev(&i.to_string(), "PutBucketAcl", -i),
                )
            })
            .collect();
        let mut read = ev("r", "GetBucketPolicy", -1);
        read.read_only = true;
        found.push((res(Kind::Bucket, "b"), read));
        found.push((res(Kind::Bucket, "b"), ev("late", "DeleteBucket", 5)));
        let c = rank(found, None, t(0));
        assert_eq!(c.len(), MAX_SHOWN);
        assert!(c.iter().all(|c| c.event == "PutBucketAcl"));
    }

    #[test]
    fn every_resource_of_the_stream_with_iam_in_us_east_1() {
        let mut d = s3_stream("orders");
        d.arn = "arn:aws:firehose:eu-west-1:1:deliverystream/orders".into();
        if let Some(s3) = d.s3.as_mut() {
            s3.kms_key_arn = Some("arn:aws:kms:eu-west-1:1:key/k1".into());
            s3.lambda_arn = Some("arn:aws:lambda:eu-west-1:1:function:fn:$LATEST".into());
        }
        let r: Vec<(Kind, String, String)> = resources(&d)
            .into_iter()
            .map(|r| (r.kind, r.name, r.region))
            .collect();
        let e = |k, n: &str, r: &str| (k, n.to_string(), r.to_string());
        assert_eq!(
            r,
            vec![
                e(Kind::Bucket, "orders-bucket", "eu-west-1"),
                e(Kind::Role, "firehose-orders", "us-east-1"),
                e(Kind::Key, "arn:aws:kms:eu-west-1:1:key/k1", "eu-west-1"),
                e(Kind::Function, "fn", "eu-west-1"),
                e(Kind::Stream, "orders", "eu-west-1"),
            ]
        );
    }

    /// Records when each call was made (tokio's clock) and answers from a list.
    #[derive(Default)]
    struct Trail {
        calls: Mutex<Vec<(tokio::time::Instant, String)>>,
        deny: bool,
    }

    #[async_trait::async_trait]
    impl TrailApi for Trail {
        async fn lookup_events(
            &self,
            region: &str,
            _name: &str,
            _start: DateTime<Utc>,
            _end: DateTime<Utc>,
            _token: Option<String>,
        ) -> Result<(Vec<TrailEvent>, Option<String>), AwsError> {
            self.calls
                .lock()
                .unwrap()
                .push((tokio::time::Instant::now(), region.to_string()));
            if self.deny {
                return Err(AwsError::AccessDenied {
                    operation: "LookupEvents".into(),
                    code: "AccessDeniedException".into(),
                    message: "not authorized".into(),
                });
            }
            Ok((vec![], None))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn thirty_resources_share_two_calls_a_second_per_region() {
        let trail = Trail::default();
        let pacer = Pacer::default();
        // 30 streams of 2 regional resources each, looked up at once: 60 calls in
        // us-east-1, spaced by the shared pacer.
        let streams: Vec<StreamDescription> = (0..30)
            .map(|i| {
                let mut d = s3_stream(&format!("s{i}"));
                d.s3.as_mut().unwrap().role_arn = "arn:aws:iam::1:role/shared".into();
                d
            })
            .collect();
        let budget = Duration::from_secs(600);
        futures::future::join_all(
            streams
                .iter()
                .map(|d| lookup(&trail, &pacer, "1", d, None, t(0), budget)),
        )
        .await;
        let calls = trail.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 90, "stream, bucket and role of each");
        let mut times: Vec<tokio::time::Instant> = calls.iter().map(|c| c.0).collect();
        times.sort();
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= CALL_SPACING, "{:?}", w[1] - w[0]);
        }
        for w in times.windows(3) {
            assert!(w[2] - w[0] >= Duration::from_secs(1), "never 3 in a second");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_denied_lookup_is_a_note_at_once() {
        let trail = Trail {
            deny: true,
            ..Default::default()
        };
        let t0 = tokio::time::Instant::now();
        let c = lookup(
            &trail,
            &Pacer::default(),
            "1",
            &s3_stream("orders"),
            Some("s3.bucket"),
            t(0),
            Duration::from_secs(20),
        )
        .await;
        assert!(c.events.is_empty());
        assert!(
            c.error
                .as_deref()
                .unwrap()
                .contains("cloudtrail:LookupEvents"),
            "{c:?}"
        );
        assert!(tokio::time::Instant::now() - t0 < Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_lookup_stops_at_its_budget_with_what_it_found() {
        struct Slow;
        #[async_trait::async_trait]
        impl TrailApi for Slow {
            async fn lookup_events(
                &self,
                _region: &str,
                name: &str,
                _start: DateTime<Utc>,
                _end: DateTime<Utc>,
                _token: Option<String>,
            ) -> Result<(Vec<TrailEvent>, Option<String>), AwsError> {
                // The bucket is looked up first and answers; the role then hangs.
                if name == "orders-bucket" {
                    return Ok((vec![ev("1", "PutBucketPolicy", -5)], None));
                }
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok((vec![], None))
            }
        }
        let c = lookup(
            &Slow,
            &Pacer::default(),
            "1",
            &s3_stream("orders"),
            None,
            t(0),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(c.events.len(), 1);
        assert!(c.error.as_deref().unwrap().contains("not all read in time"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_alert_waits_for_the_checks_and_at_most_the_grace_more() {
        struct Stuck;
        #[async_trait::async_trait]
        impl TrailApi for Stuck {
            async fn lookup_events(
                &self,
                _region: &str,
                _name: &str,
                _start: DateTime<Utc>,
                _end: DateTime<Utc>,
                _token: Option<String>,
            ) -> Result<(Vec<TrailEvent>, Option<String>), AwsError> {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok((vec![], None))
            }
        }
        let t0 = tokio::time::Instant::now();
        let checks = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            super::super::Diagnosis::default()
        };
        let d = diagnose_with_changes(
            checks,
            &Stuck,
            &Pacer::default(),
            "1",
            &s3_stream("orders"),
            t(0),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(
            tokio::time::Instant::now() - t0,
            Duration::from_secs(3) + GRACE
        );
        assert!(d.changes.error.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_lookups_hold_no_turns() {
        let pacer = Pacer::default();
        // 20 waiters, all given up after a second (their lookups ran out of time).
        let waits =
            (0..20).map(|_| tokio::time::timeout(Duration::from_secs(1), pacer.wait("1", "r")));
        futures::future::join_all(waits).await;
        let t0 = tokio::time::Instant::now();
        pacer.wait("1", "r").await;
        assert!(tokio::time::Instant::now() - t0 <= CALL_SPACING);
    }
}
