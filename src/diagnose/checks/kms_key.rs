//! `kms.key`: the KMS key that encrypts the destination objects exists, is Enabled, and its key
//! policy either grants the delivery role kms:GenerateDataKey + kms:Decrypt or delegates to IAM.

use serde_json::json;

use crate::aws::AwsError;
use crate::aws::S3Destination;
use crate::diagnose::ctx::{Ctx, DestKey};
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::diagnose::identity::firehose_context;
use crate::diagnose::policy::{self, Decision, Policy, PolicyKind, Principal, Request};
use crate::diagnose::request::DeliveryContext;
use crate::model::{Finding, Status};

pub const ID: &str = "kms.key";
pub const PERMISSIONS: &[&str] = &[
    "s3:GetEncryptionConfiguration",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "s3:GetBucketLocation",
    "organizations:DescribeOrganization",
];

/// How the key policy treats the delivery role.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyGrant {
    /// The key policy allows the role directly.
    Direct,
    /// The key policy delegates to IAM (account principal): the role's policies decide.
    DelegatesToIam,
    /// Neither.
    Missing,
    /// It depends on a key the monitor cannot know (e.g. `aws:PrincipalOrgID`).
    Unknown,
}

/// The KMS request context when S3 encrypts for Firehose: `kms:ViaService` names S3 in the
/// bucket's region, and the encryption context is the object's ARN, or the bucket's with S3
/// Bucket Keys.
pub async fn kms_context(cx: &Ctx<'_>, d: &S3Destination) -> DeliveryContext {
    let region = cx.bucket_region().await.unwrap_or_else(|_| cx.region());
    let bucket_keys = matches!(cx.encryption().await, Ok(Some(e)) if e.bucket_key_enabled);
    let encryption_context = if bucket_keys {
        d.bucket_arn.clone()
    } else {
        crate::diagnose::arn::sample_object_arn(d, cx.now)
    };
    firehose_context(cx)
        .await
        .with("kms:ViaService", format!("s3.{region}.amazonaws.com"))
        .with("kms:CallerAccount", cx.account())
        .with("kms:EncryptionContext:aws:s3:arn", encryption_context)
}

/// Evaluate a key policy for the delivery role in the KMS context `ctx` (see [`kms_context`]).
pub fn key_grant(
    policy_doc: &str,
    role_arn: &str,
    key_arn: &str,
    ctx: &DeliveryContext,
) -> Result<(KeyGrant, serde_json::Value), String> {
    let p = Policy::parse(policy_doc).map_err(|e| e.to_string())?;
    let principal = Principal::role(role_arn);
    let policies = [(&p, PolicyKind::Resource)];
    let mut grant = KeyGrant::Direct;
    let mut details = Vec::new();
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        let ev = policy::evaluate(
            &policies,
            &Request::new(action, key_arn, ctx.for_action(action)).with_principal(&principal),
        );
        let via_account = ev.deciding.iter().all(|d| d.via_account_principal);
        let this = match ev.decision {
            Decision::Allow if !via_account => KeyGrant::Direct,
            Decision::Allow => KeyGrant::DelegatesToIam,
            Decision::Unknown => KeyGrant::Unknown,
            _ => KeyGrant::Missing,
        };
        details.push(json!({"action": action, "decision": ev.decision.to_string(), "via_account_principal": via_account}));
        grant = match (grant, this) {
            (_, KeyGrant::Missing) | (KeyGrant::Missing, _) => KeyGrant::Missing,
            (_, KeyGrant::Unknown) | (KeyGrant::Unknown, _) => KeyGrant::Unknown,
            (KeyGrant::DelegatesToIam, _) | (_, KeyGrant::DelegatesToIam) => {
                KeyGrant::DelegatesToIam
            }
            _ => KeyGrant::Direct,
        };
    }
    Ok((grant, json!(details)))
}

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let (key, source) = match cx.destination_key_info().await {
        Err(e) => return monitor_error(ID, &e, "s3:GetEncryptionConfiguration"),
        Ok(DestKey::NotApplicable(why)) => return skip(ID, why),
        Ok(DestKey::AwsManagedS3 { source }) => {
            return pass(
                ID,
                "objects are encrypted with the AWS managed key aws/s3, which Firehose can use",
                json!({"source": source}),
            )
        }
        Ok(DestKey::Unreadable {
            reference,
            source,
            error: e @ AwsError::NotFound { .. },
        }) => {
            return finding(
                ID,
                Status::Fail,
                format!("the KMS key {reference} used by {source} does not exist"),
                json!({"key": reference, "source": source, "error": e.to_string()}),
                "point the destination's encryption (or the bucket's default encryption) at an existing, enabled key",
            )
        }
        Ok(DestKey::Unreadable { error, .. }) => return monitor_error(ID, &error, "kms:DescribeKey"),
        Ok(DestKey::Described { key, source }) => (key, source),
    };
    let evidence = json!({"key": key.arn, "key_state": key.state, "key_manager": key.manager, "source": source});
    if key.state != "Enabled" {
        let fix = match key.state.as_str() {
            "PendingDeletion" => format!("cancel the deletion (aws kms cancel-key-deletion --key-id {}) and enable the key (aws kms enable-key --key-id {})", key.key_id, key.key_id),
            _ => format!("enable the key: aws kms enable-key --key-id {}", key.key_id),
        };
        return finding(
            ID,
            Status::Fail,
            format!(
                "the KMS key {} is {}, so Firehose cannot encrypt objects",
                key.arn, key.state
            ),
            evidence,
            fix,
        );
    }
    if key.manager == "AWS" {
        return pass(
            ID,
            format!("the AWS managed key {} is Enabled", key.arn),
            evidence,
        );
    }
    let doc = match cx.key_policy(&key.key_id).await {
        Ok(p) => p,
        Err(e) => return monitor_error(ID, &e, "kms:GetKeyPolicy"),
    };
    let ctx = kms_context(cx, d).await;
    let region = cx.bucket_region().await.unwrap_or_else(|_| cx.region());
    match key_grant(&doc, &d.role_arn, &key.arn, &ctx) {
        Ok((KeyGrant::Direct, details)) => pass(ID, format!("the key policy of {} grants the delivery role kms:GenerateDataKey and kms:Decrypt", key.arn), json!({"key": key.arn, "key_state": key.state, "evaluation": details})),
        Ok((KeyGrant::DelegatesToIam, details)) => pass(ID, format!("the key policy of {} delegates to IAM: the role's own policies decide (see iam.kms)", key.arn), json!({"key": key.arn, "key_state": key.state, "evaluation": details})),
        Ok((KeyGrant::Unknown, details)) => finding(ID, Status::Warn, format!("cannot tell whether the key policy of {} lets the delivery role use the key: it depends on a value the monitor cannot know", key.arn), json!({"key": key.arn, "key_state": key.state, "evaluation": details, "request_context": ctx.evidence()}), "review the key policy statements shown in the evidence"),
        Ok((KeyGrant::Missing, details)) => {
            let stmt = json!({
                "Sid": "AllowFirehoseDeliveryRole",
                "Effect": "Allow",
                "Principal": {"AWS": d.role_arn},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": format!("s3.{region}.amazonaws.com")}}
            });
            finding(
                ID,
                Status::Fail,
                format!("the key policy of {} neither grants the delivery role {} kms:GenerateDataKey and kms:Decrypt nor delegates to IAM", key.arn, d.role_arn),
                json!({"key": key.arn, "key_policy": serde_json::from_str::<serde_json::Value>(&doc).unwrap_or_default(), "evaluation": details}),
                format!("add this statement to the key policy of {}:\n{}", key.arn, serde_json::to_string_pretty(&stmt).unwrap_or_default()),
            )
        }
        Err(e) => finding(ID, Status::Fail, format!("the key policy of {} cannot be parsed: {e}", key.arn), json!({"key": key.arn}), "fix the key policy document"),
    }
}
