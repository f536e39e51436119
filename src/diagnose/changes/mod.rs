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
//!
//! This file is the pure part (which resources, which events cause what, the ranking);
//! [`lookup`] makes the calls.

mod lookup;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::aws::{StreamDescription, TrailEvent};
use crate::model::Change;
pub use lookup::{diagnose_with_changes, gather, Gathered, Pacer, GRACE};

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

#[cfg(test)]
mod tests;
