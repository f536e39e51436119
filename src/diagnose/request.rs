//! The request context AWS evaluates when Firehose acts with the delivery role: what a policy
//! condition can see. Built once per diagnosis from the stream's settings and what the monitor
//! could read; used for identity, bucket and key policies alike.
//!
//! AWS sends, for a role session: `aws:PrincipalArn`, `aws:PrincipalAccount`,
//! `aws:PrincipalType` (`AssumedRole`), `aws:PrincipalOrgID` when the account belongs to an
//! organization, `aws:SecureTransport`, `aws:RequestedRegion`, and a source IP inside AWS's
//! network (unknown to the monitor). Never `aws:SourceAccount`/`aws:SourceArn` (sent only when
//! a service principal calls directly), nor `aws:SourceVpce`/`aws:SourceVpc` (Firehose does
//! not use your VPC endpoints). `PutObject` also carries `s3:x-amz-acl`
//! (`bucket-owner-full-control`) and, when the stream encrypts with KMS,
//! `s3:x-amz-server-side-encryption` and `s3:x-amz-server-side-encryption-aws-kms-key-id`.

use serde_json::{json, Value};

use super::policy::Context;
use crate::aws::AwsError;

/// The organization of the delivery role's account, as far as the monitor could tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Organization {
    Member(String),
    /// The account belongs to no organization: AWS sends no `aws:PrincipalOrgID`.
    None,
    /// The monitor could not read it: conditions on it cannot be decided.
    Unknown(String),
}

impl Organization {
    pub fn from_read(r: &Result<Option<String>, AwsError>) -> Organization {
        match r {
            Ok(Some(id)) => Organization::Member(id.clone()),
            Ok(None) => Organization::None,
            Err(e) => Organization::Unknown(e.to_string()),
        }
    }
}

/// What the delivery role's requests carry.
#[derive(Debug, Clone)]
pub struct DeliveryContext {
    base: Context,
    put_object: Context,
    evidence: Value,
}

impl DeliveryContext {
    /// The context of `role_arn` acting in `region` of `account`; `sse_kms_key` is the key the
    /// stream's destination encrypts with (its `KMSEncryptionConfig`), if any.
    pub fn new(
        role_arn: &str,
        account: &str,
        region: &str,
        org: &Organization,
        sse_kms_key: Option<&str>,
    ) -> DeliveryContext {
        let mut base = Context::new()
            .with("aws:PrincipalArn", role_arn)
            .with("aws:PrincipalAccount", account)
            .with("aws:PrincipalType", "AssumedRole")
            .with("aws:SecureTransport", "true")
            .with("aws:RequestedRegion", region)
            .with_unknown("aws:SourceIp");
        base = match org {
            Organization::Member(id) => base.with("aws:PrincipalOrgID", id.clone()),
            Organization::None => base,
            Organization::Unknown(_) => base.with_unknown("aws:PrincipalOrgID"),
        };
        let mut put_object = base
            .clone()
            .with("s3:x-amz-acl", "bucket-owner-full-control");
        if let Some(key) = sse_kms_key {
            put_object = put_object
                .with("s3:x-amz-server-side-encryption", "aws:kms")
                .with("s3:x-amz-server-side-encryption-aws-kms-key-id", key);
        }
        let evidence = json!({
            "aws:PrincipalArn": role_arn,
            "aws:PrincipalAccount": account,
            "aws:PrincipalType": "AssumedRole",
            "aws:PrincipalOrgID": match org {
                Organization::Member(id) => json!(id),
                Organization::None => json!(null),
                Organization::Unknown(why) => json!(format!("unknown: {why}")),
            },
            "aws:SecureTransport": "true",
            "aws:SourceIp": "unknown (inside AWS's network)",
            "PutObject": {
                "s3:x-amz-acl": "bucket-owner-full-control",
                "s3:x-amz-server-side-encryption": sse_kms_key.map(|_| "aws:kms"),
                "s3:x-amz-server-side-encryption-aws-kms-key-id": sse_kms_key,
            },
        });
        DeliveryContext {
            base,
            put_object,
            evidence,
        }
    }

    /// The context of a request for `action`.
    pub fn for_action(&self, action: &str) -> &Context {
        if action.eq_ignore_ascii_case("s3:PutObject") {
            &self.put_object
        } else {
            &self.base
        }
    }

    /// The same context with `key` set (builder style), for every action.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        let v: String = value.into();
        self.base = self.base.with(key, v.clone());
        self.put_object = self.put_object.with(key, v);
        self
    }

    /// What the context holds, for a finding's evidence.
    pub fn evidence(&self) -> &Value {
        &self.evidence
    }
}
