//! `iam.s3`: the delivery role may use the S3 actions Firehose needs on every place it writes
//! (the destination prefix, the error output, the S3 backup): by its identity policies, or in
//! the bucket's own account by a bucket policy that allows the role. `s3:PutObjectAcl` is
//! needed on a bucket of another account unless its Object Ownership is `BucketOwnerEnforced`.

use serde_json::json;

use crate::aws::S3Destination;
use crate::diagnose::arn::write_locations;
use crate::diagnose::ctx::{Ctx, ROLE_POLICY_READS};
use crate::diagnose::findings::{monitor_error, skip};
use crate::diagnose::identity::{firehose_context, permissions_finding, role_allows};
use crate::diagnose::policy::{self, Decision, Policy, PolicyKind, Principal, Request};
use crate::model::Finding;

pub const ID: &str = "iam.s3";
pub const PERMISSIONS: &[&str] = &[
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "s3:ListBucket",
    "s3:GetBucketPolicy",
    "s3:GetBucketOwnershipControls",
    "organizations:DescribeOrganization",
];

/// Bucket-level actions Firehose uses.
pub const BUCKET_ACTIONS: &[&str] = &[
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
];
/// Object-level actions Firehose uses.
pub const OBJECT_ACTIONS: &[&str] = &["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"];

/// Whether the destination bucket belongs to another account (`None`: cannot tell).
pub async fn foreign_bucket(cx: &Ctx<'_>) -> Option<bool> {
    if cx.bucket().await.is_err() {
        return None;
    }
    match cx.bucket_owned_by(&cx.account()).await {
        Some(Ok(owned)) => Some(!owned),
        _ => None,
    }
}

/// Whether Firehose must set the object ACL: the bucket belongs to another account and its
/// Object Ownership is not `BucketOwnerEnforced` (with it, ACLs are disabled and the owner
/// owns every object).
pub async fn needs_object_acl(cx: &Ctx<'_>) -> bool {
    foreign_bucket(cx).await == Some(true)
        && !matches!(cx.bucket_ownership().await, Ok(Some(o)) if o == "BucketOwnerEnforced")
}

/// The (action, resource) pairs Firehose needs on every place it writes.
pub async fn pairs(cx: &Ctx<'_>, d: &S3Destination) -> Vec<(&'static str, String)> {
    let locations = write_locations(d, cx.now);
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut buckets: Vec<&str> = Vec::new();
    for l in &locations {
        if !buckets.contains(&l.bucket_arn.as_str()) {
            buckets.push(&l.bucket_arn);
            out.extend(BUCKET_ACTIONS.iter().map(|a| (*a, l.bucket_arn.clone())));
        }
    }
    let acl = needs_object_acl(cx).await;
    for l in &locations {
        out.extend(OBJECT_ACTIONS.iter().map(|a| (*a, l.object_arn.clone())));
        if acl {
            out.push(("s3:PutObjectAcl", l.object_arn.clone()));
        }
    }
    out
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let pairs = pairs(cx, d).await;
    let ctx = firehose_context(cx).await;
    let mut perms = match role_allows(cx, &d.role_arn, &pairs, &ctx).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => {
            return skip(
                ID,
                format!("the role {} does not exist (see iam.role)", d.role_arn),
            )
        }
        Err(e) => return monitor_error(ID, &e, &ROLE_POLICY_READS.join(", ")),
    };
    // Allows count: in the bucket's own account, a bucket policy that allows the role itself
    // grants what its identity policies lack (AWS evaluates the union). Not across accounts,
    // where both sides must allow (s3.bucket_policy checks the bucket's side).
    let mut granted_by_bucket = Vec::new();
    if foreign_bucket(cx).await == Some(false) && !perms.missing.is_empty() {
        if let Ok(Some(doc)) = cx.bucket_policy().await {
            if let Ok(p) = Policy::parse(&doc) {
                let principal = Principal::role(&d.role_arn);
                let policies = [(&p, PolicyKind::Resource)];
                perms.missing.retain(|(action, resource)| {
                    let in_bucket = resource == &d.bucket_arn
                        || resource.starts_with(&format!("{}/", d.bucket_arn));
                    let ev = policy::evaluate(
                        &policies,
                        &Request::new(action, resource, ctx.for_action(action))
                            .with_principal(&principal),
                    );
                    let grants = in_bucket
                        && ev.decision == Decision::Allow
                        && ev.deciding.iter().any(|a| !a.via_account_principal);
                    if grants {
                        granted_by_bucket.push(json!({"action": action, "resource": resource}));
                    }
                    !grants
                });
            }
        }
    }
    let mut f = permissions_finding(
        ID,
        &d.role_arn,
        &perms,
        &ctx,
        &format!(
            "the S3 actions on every place Firehose writes ({})",
            write_locations(d, cx.now)
                .iter()
                .map(|l| l.what.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    if !granted_by_bucket.is_empty() {
        f.evidence["granted_by_bucket_policy"] = json!(granted_by_bucket);
    }
    // Name the object patterns rather than the sample objects in the statement to add.
    for l in write_locations(d, cx.now) {
        f.remediation = f.remediation.replace(&l.object_arn, &l.pattern);
    }
    f
}
