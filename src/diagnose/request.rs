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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::policy::{evaluate, Decision, Policy, PolicyKind, Principal, Request};

    const ROLE: &str = "arn:aws:iam::111122223333:role/firehose-role";
    const OBJECT: &str = "arn:aws:s3:::b/data/x";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k";

    /// A bucket policy allowing the role everything, plus `deny`.
    fn bucket_policy(deny: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"AllowRole","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}},{deny}]}}"#
        ))
        .unwrap()
    }

    fn decide(deny: &str, action: &str, org: &Organization, sse: Option<&str>) -> Decision {
        let p = bucket_policy(deny);
        let ctx = DeliveryContext::new(ROLE, "111122223333", "us-east-1", org, sse);
        let who = Principal::role(ROLE);
        evaluate(
            &[(&p, PolicyKind::Resource)],
            &Request::new(action, OBJECT, ctx.for_action(action)).with_principal(&who),
        )
        .decision
    }

    const ORG_GUARD: &str = r#"{"Sid":"OrgOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-ours"}}}"#;
    const SSE_KMS: &str = r#"{"Sid":"KmsOnly","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}}"#;
    const SSE_NULL: &str = r#"{"Sid":"NoUnencrypted","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}"#;
    const SOURCE_ACCOUNT: &str = r#"{"Sid":"OurAccount","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}}"#;
    const SOURCE_IP: &str = r#"{"Sid":"Office","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#;
    const VPCE: &str = r#"{"Sid":"Vpce","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}"#;
    const ACL: &str = r#"{"Sid":"OwnerAcl","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}"#;
    const TLS: &str = r#"{"Sid":"Tls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#;
    const NULL_IP: &str = r#"{"Sid":"NeedsIp","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"aws:SourceIp":"true"}}}"#;
    const NOT_ROLE_TYPE: &str = r#"{"Sid":"RolesOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"aws:PrincipalType":"AssumedRole"}}}"#;

    /// (name, deny statement, action, organization, SSE key, decision)
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a Organization,
        Option<&'a str>,
        Decision,
    );

    #[test]
    fn the_request_context_of_the_delivery_role() {
        use Decision::*;
        let ours = Organization::Member("o-ours".into());
        let theirs = Organization::Member("o-theirs".into());
        let unknown = Organization::Unknown("AccessDenied".into());
        let none = Organization::None;
        #[rustfmt::skip]
        let rows: &[Row<'_>] = &[
            ("org guard, our org", ORG_GUARD, "s3:PutObject", &ours, None, Allow),
            ("org guard, org unknown: cannot tell", ORG_GUARD, "s3:PutObject", &unknown, None, Unknown),
            ("org guard, another org", ORG_GUARD, "s3:PutObject", &theirs, None, ExplicitDeny),
            ("org guard, no organization: key absent, negated operator met", ORG_GUARD, "s3:PutObject", &none, None, ExplicitDeny),
            ("SSE-KMS enforced, stream encrypts with KMS", SSE_KMS, "s3:PutObject", &ours, Some(KEY), Allow),
            ("SSE-KMS enforced, stream sends no SSE header", SSE_KMS, "s3:PutObject", &ours, None, ExplicitDeny),
            ("SSE-KMS enforced, other actions unaffected", SSE_KMS, "s3:GetObject", &ours, None, Allow),
            ("Null SSE deny, stream encrypts", SSE_NULL, "s3:PutObject", &ours, Some(KEY), Allow),
            ("Null SSE deny, stream does not", SSE_NULL, "s3:PutObject", &ours, None, ExplicitDeny),
            ("aws:SourceAccount is not sent for a role session", SOURCE_ACCOUNT, "s3:PutObject", &ours, None, ExplicitDeny),
            ("source IP inside AWS: cannot tell", SOURCE_IP, "s3:PutObject", &ours, None, Unknown),
            ("VPC endpoint deny hits Firehose", VPCE, "s3:PutObject", &ours, None, ExplicitDeny),
            ("owner-full-control ACL is sent", ACL, "s3:PutObject", &ours, None, Allow),
            ("TLS is used", TLS, "s3:PutObject", &ours, None, Allow),
            ("the source IP is present (Null decided)", NULL_IP, "s3:PutObject", &ours, None, Allow),
            ("principal type is AssumedRole", NOT_ROLE_TYPE, "s3:PutObject", &ours, None, Allow),
        ];
        for (name, deny, action, org, sse, want) in rows {
            assert_eq!(decide(deny, action, org, *sse), *want, "{name}");
        }
    }

    #[test]
    fn an_uncertain_allow_alone_is_unknown_and_a_certain_deny_wins() {
        let p = Policy::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"OrgAllow","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"s3:*","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-ours"}}}}}}]}}"#
        ))
        .unwrap();
        let unknown = Organization::Unknown("denied".into());
        let ctx = DeliveryContext::new(ROLE, "111122223333", "us-east-1", &unknown, None);
        let who = Principal::role(ROLE);
        let ev = evaluate(
            &[(&p, PolicyKind::Resource)],
            &Request::new("s3:PutObject", OBJECT, ctx.for_action("s3:PutObject"))
                .with_principal(&who),
        );
        assert_eq!(ev.decision, Decision::Unknown);
        assert_eq!(
            ev.uncertain[0].unknown_keys,
            vec!["aws:PrincipalOrgID".to_string()]
        );
        // A certain Deny beside an uncertain one decides.
        assert_eq!(
            decide(
                &format!("{VPCE},{SOURCE_IP}"),
                "s3:PutObject",
                &unknown,
                None
            ),
            Decision::ExplicitDeny
        );
    }
}
