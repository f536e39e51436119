//! `iam.kms`: when the destination key's policy delegates to IAM, the delivery role's own
//! policies allow kms:Decrypt and kms:GenerateDataKey on the key, in the S3 encryption context.

use serde_json::json;

use super::kms_key::{key_grant, kms_context, KeyGrant};
use crate::diagnose::ctx::Ctx;
use crate::diagnose::ctx::DestKey;
use crate::diagnose::findings::{monitor_error, pass, skip};
use crate::diagnose::identity::identity_finding;
use crate::model::Finding;

pub const ID: &str = "iam.kms";
pub const PERMISSIONS: &[&str] = &[
    "s3:GetEncryptionConfiguration",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "s3:GetBucketLocation",
    "organizations:DescribeOrganization",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let key = match cx.destination_key_info().await {
        Err(e) => return monitor_error(ID, &e, "s3:GetEncryptionConfiguration"),
        Ok(DestKey::NotApplicable(why)) => return skip(ID, why),
        Ok(DestKey::AwsManagedS3 { .. }) => {
            return skip(ID, "the AWS managed key aws/s3 needs no IAM permission")
        }
        Ok(DestKey::Unreadable {
            reference, error, ..
        }) if error.is_not_found() => {
            return skip(
                ID,
                format!("the key {reference} does not exist (see kms.key)"),
            )
        }
        Ok(DestKey::Unreadable { error, .. }) => {
            return monitor_error(ID, &error, "kms:DescribeKey")
        }
        Ok(DestKey::Described { key, .. }) => key,
    };
    if key.manager == "AWS" {
        return skip(ID, "an AWS managed key needs no IAM permission");
    }
    let ctx = kms_context(cx, d).await;
    if let Ok(doc) = cx.key_policy(&key.key_id).await {
        if let Ok((KeyGrant::Direct, _)) = key_grant(&doc, &d.role_arn, &key.arn, &ctx) {
            return pass(
                ID,
                format!(
                    "the key policy of {} grants the role directly; no IAM permission needed",
                    key.arn
                ),
                json!({"key": key.arn}),
            );
        }
    }
    let pairs = [
        ("kms:Decrypt", key.arn.clone()),
        ("kms:GenerateDataKey", key.arn.clone()),
    ];
    identity_finding(
        cx,
        ID,
        &d.role_arn,
        &pairs,
        &ctx,
        &format!("kms:Decrypt and kms:GenerateDataKey on {}", key.arn),
    )
    .await
}
