//! Change attribution: the resources, the ranking, the pacer and the lookup's time limits.

use std::sync::Mutex;

use super::*;
use crate::aws::fake::s3_stream;
use crate::aws::{AwsError, TrailApi};
use crate::model::Changes;
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
        crate::diagnose::Diagnosis::default()
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
    let waits = (0..20).map(|_| tokio::time::timeout(Duration::from_secs(1), pacer.wait("1", "r")));
    futures::future::join_all(waits).await;
    let t0 = tokio::time::Instant::now();
    pacer.wait("1", "r").await;
    assert!(tokio::time::Instant::now() - t0 <= CALL_SPACING);
}

/// [`gather`] without a stop, ranked (what `check` and the daemon do, minus the checks).
async fn lookup(
    api: &dyn TrailApi,
    pacer: &Pacer,
    account: &str,
    d: &StreamDescription,
    root_cause: Option<&str>,
    before: DateTime<Utc>,
    budget: Duration,
) -> Changes {
    gather(
        api,
        pacer,
        account,
        d,
        before,
        budget,
        std::future::pending(),
    )
    .await
    .rank(root_cause)
}
