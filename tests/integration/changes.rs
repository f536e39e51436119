//! What changed before an incident, end to end: the daemon looks up CloudTrail's event history
//! through the real SDK. moto has no `LookupEvents`: the harness's `moto_cbor.py` serves it from
//! a stand-in speaking CloudTrail's JSON protocol, with events shaped as the API returns them
//! (registered by each test under its own resource names).

use chrono::{DateTime, Utc};
use firehose_sentinel::daemon;
use serde_json::json;

use crate::diagnosis::{fixture, Opts};
use crate::harness::*;
use crate::receiver::Receiver;
use crate::{settings, status, webhook};

/// One event as `LookupEvents` returns it.
fn event(
    id: &str,
    name: &str,
    at: DateTime<Utc>,
    resource: (&str, &str),
    actor: &str,
    read_only: bool,
) -> serde_json::Value {
    let record = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": actor, "accountId": ACCOUNT},
        "eventTime": at.to_rfc3339(),
        "eventName": name,
        "readOnly": read_only,
    });
    json!({
        "EventId": id,
        "EventName": name,
        "ReadOnly": if read_only { "true" } else { "false" },
        "AccessKeyId": "AKIAEXAMPLE",
        "EventTime": at.timestamp() as f64,
        "EventSource": "s3.amazonaws.com",
        "Username": actor.rsplit('/').next().unwrap(),
        "Resources": [{"ResourceType": resource.0, "ResourceName": resource.1}],
        "CloudTrailEvent": record.to_string(),
    })
}

async fn post(path: &str, body: serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", moto().endpoint))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

async fn calls() -> Vec<serde_json::Value> {
    reqwest::get(format!("{}/_cloudtrail/calls", moto().endpoint))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A stream whose bucket policy denies its role, failing for the last three minutes.
async fn denied_stream(aws: &Aws, prefix: &str) -> crate::diagnosis::Fx {
    let fx = fixture(aws, prefix, Opts::default()).await;
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "NoWrites", "Effect": "Deny", "Principal": {"AWS": fx.role_arn},
        "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{}/*", fx.bucket)}]});
    aws.s3
        .put_bucket_policy()
        .bucket(&fx.bucket)
        .policy(doc.to_string())
        .send()
        .await
        .unwrap();
    for k in [8, 7, 6] {
        put_metric(aws, &fx.name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(aws, &fx.name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    fx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_policy_changed_before_the_failure_is_named_in_the_alert() {
    let aws = aws().await;
    let fx = denied_stream(&aws, "trail").await;
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let bob = format!("arn:aws:iam::{ACCOUNT}:user/bob");
    let bucket = ("AWS::S3::Bucket", fx.bucket.as_str());
    let p = &fx.name;
    // One timestamp for the event and the assertion (a minute may turn in between).
    let cause_at = minutes_ago(18);
    post(
        "/_cloudtrail/events",
        json!({"region": REGION, "events": [
            // The cause: 10 minutes before the failure started (minute 8).
            event(&format!("{p}-1"), "PutBucketPolicy", cause_at, bucket, &alice, false),
            // Another change of the bucket, older, and a read (not a change).
            event(&format!("{p}-2"), "PutBucketTagging", minutes_ago(30), bucket, &bob, false),
            event(&format!("{p}-3"), "GetBucketPolicy", minutes_ago(5), bucket, &bob, true),
            // Older than the 24-hour window.
            event(&format!("{p}-4"), "DeleteBucketPolicy", minutes_ago(60 * 30), bucket, &bob, false),
            // An unrelated resource.
            event(&format!("{p}-5"), "PutBucketPolicy", minutes_ago(12),
                ("AWS::S3::Bucket", &format!("{}-other", fx.bucket)), &bob, false),
            // The role, in us-east-1 like every IAM event.
            event(&format!("{p}-6"), "DetachRolePolicy", minutes_ago(40),
                ("AWS::IAM::Role", &fx.role_name), &bob, false),
        ]}),
    )
    .await;
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(
        dir.path(),
        &format!("names = [\"{}\"]", fx.name),
        &webhook(&rx),
    ))
    .await
    .unwrap();
    let got = rx.wait_for(60, |g| !g.is_empty()).await;
    let a = &got[0].body;
    assert_eq!(a["status"], "firing");
    assert_eq!(a["root_cause"]["check"], "s3.bucket_policy", "{a}");
    let changes = a["changes"].as_array().unwrap();
    let events: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["event"].as_str().unwrap(),
                c["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("PutBucketPolicy", fx.bucket.as_str()),
            ("PutBucketTagging", fx.bucket.as_str()),
            ("DetachRolePolicy", fx.role_name.as_str()),
        ],
        "the cause first, then its resource's other change, then the role's; no read, no old or unrelated event"
    );
    assert_eq!(changes[0]["actor"], alice.as_str());
    assert_eq!(
        changes[0]["time"].as_str().unwrap(),
        cause_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    // The lookup may be cut short when the checks end first (the stream itself is looked up
    // last): a note then, never a denial.
    if let Some(e) = a.get("changes_error").and_then(|e| e.as_str()) {
        assert!(
            e.contains("incomplete") && !e.contains("LookupEvents)"),
            "{e}"
        );
    }
    // The report shows them too.
    let st = status(&d).await;
    let s = st["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == fx.name.as_str())
        .unwrap();
    assert_eq!(s["changes"][0]["event"], "PutBucketPolicy");
    let page = crate::get(&d, "/").await.1;
    assert!(
        page.contains("PutBucketPolicy on ") && page.contains("user/alice"),
        "the status page names the change"
    );
    d.stop().await;

    // Every lookup named one resource, and calls in a region were at least 0.5 s apart.
    let mine: Vec<(f64, String)> = calls()
        .await
        .into_iter()
        .filter(|c| {
            let v = c["value"].as_str().unwrap_or_default();
            v == fx.name || v == fx.bucket || v == fx.role_name
        })
        .map(|c| {
            (
                c["t"].as_f64().unwrap(),
                c["region"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // How many of the three resources were looked up depends on how long the checks took
    // (the lookup stops 0.5 s after them; under load the last one is cut, with the note
    // above): two calls show the pacing.
    assert!(mine.len() >= 2, "{mine:?}");
    let mut times: Vec<f64> = mine.iter().map(|c| c.0).collect();
    times.sort_by(f64::total_cmp);
    for w in times.windows(2) {
        // One region (us-east-1) here: the stream's and IAM's.
        assert!(w[1] - w[0] >= 0.45, "calls {:.3} s apart", w[1] - w[0]);
    }
    delete_streams(&aws, &[&fx.name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_lookup_is_a_note_and_the_alert_goes_out_on_time() {
    let aws = aws().await;
    let fx = denied_stream(&aws, "notrail").await;
    post(
        "/_cloudtrail/deny",
        json!({"resource_names": [fx.name, fx.bucket, fx.role_name]}),
    )
    .await;
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let d = daemon::start(settings(
        dir.path(),
        &format!("names = [\"{}\"]", fx.name),
        &webhook(&rx),
    ))
    .await
    .unwrap();
    let got = rx.wait_for(60, |g| !g.is_empty()).await;
    let waited = started.elapsed();
    let a = &got[0].body;
    assert_eq!(a["status"], "firing");
    assert_eq!(a["root_cause"]["check"], "s3.bucket_policy");
    assert_eq!(a["changes"], json!([]));
    assert!(
        a["changes_error"]
            .as_str()
            .unwrap()
            .contains("cloudtrail:LookupEvents"),
        "{a}"
    );
    // The first cycle's alert, as without CloudTrail (no retry, no wait on the lookup).
    assert!(waited < std::time::Duration::from_secs(20), "{waited:?}");
    d.stop().await;
    delete_streams(&aws, &[&fx.name]).await;
}
