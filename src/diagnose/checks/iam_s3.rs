//! `iam.s3`: the delivery role's identity policies allow the S3 actions Firehose needs on the
//! bucket and on objects under the destination prefix.

use crate::diagnose::arn::sample_object_arn;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::skip;
use crate::diagnose::identity::{firehose_context, identity_finding};
use crate::model::Finding;

pub const ID: &str = "iam.s3";
pub const PERMISSIONS: &[&str] = &[
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "s3:ListBucket",
];

/// Bucket-level actions Firehose uses.
pub const BUCKET_ACTIONS: &[&str] = &[
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
];
/// Object-level actions Firehose uses.
pub const OBJECT_ACTIONS: &[&str] = &["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let object = sample_object_arn(d, cx.now);
    let mut pairs: Vec<(&str, String)> = BUCKET_ACTIONS
        .iter()
        .map(|a| (*a, d.bucket_arn.clone()))
        .collect();
    pairs.extend(OBJECT_ACTIONS.iter().map(|a| (*a, object.clone())));
    // A bucket of another account also needs s3:PutObjectAcl (to give the owner the objects).
    // Unknown ownership (the bucket is gone, or the monitor may not look) adds nothing.
    if cx.bucket().await.is_ok()
        && matches!(cx.bucket_owned_by(&cx.account()).await, Some(Ok(false)))
    {
        pairs.push(("s3:PutObjectAcl", object.clone()));
    }
    let mut f = identity_finding(
        cx,
        ID,
        &d.role_arn,
        &pairs,
        &firehose_context(cx),
        &format!("the S3 actions on {} and its objects", d.bucket),
    )
    .await;
    // Name the prefix pattern rather than the sample object in the statement to add.
    let pattern = crate::diagnose::arn::object_arn_pattern(d);
    f.remediation = f.remediation.replace(&object, &pattern);
    f
}
