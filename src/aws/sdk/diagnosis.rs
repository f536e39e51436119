//! [`DiagnosisApi`] over the SDK: the S3, IAM, KMS, Lambda, Kinesis and Logs reads of the
//! root-cause checks, each mapped to the program's own types.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use super::{classify, from_smithy_time, AwsClients};
use crate::aws::{
    AwsError, BucketEncryption, DiagnosisApi, FunctionInfo, GlueTable, KeyInfo, KinesisInfo,
    LogEvent, NamedPolicy, ObjectInfo, RoleInfo, Simulated,
};

/// IAM returns policy documents URL-encoded (RFC 3986).
fn decode_policy(doc: &str) -> String {
    if doc.trim_start().starts_with('{') {
        return doc.to_string();
    }
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .map(|s| s.into_owned())
        .unwrap_or_else(|_| doc.to_string())
}

#[async_trait]
impl DiagnosisApi for AwsClients {
    async fn head_bucket(&self, bucket: &str) -> Result<(), AwsError> {
        self.s3_for(bucket)
            .await
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("HeadBucket", e))
    }

    async fn bucket_owned_by(&self, bucket: &str, account: &str) -> Result<bool, AwsError> {
        match self
            .s3_for(bucket)
            .await
            .head_bucket()
            .bucket(bucket)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = classify("HeadBucket", e);
                // S3 answers 403 when the owner differs from the expected one.
                if e.is_access_denied() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn bucket_encryption(&self, bucket: &str) -> Result<Option<BucketEncryption>, AwsError> {
        match self
            .s3_for(bucket)
            .await
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| {
                    r.apply_server_side_encryption_by_default()
                        .map(|d| BucketEncryption {
                            algorithm: d.sse_algorithm().as_str().to_string(),
                            kms_key_id: d.kms_master_key_id().map(str::to_string),
                            bucket_key_enabled: r.bucket_key_enabled().unwrap_or(false),
                        })
                })),
            Err(e) => {
                let e = classify("GetBucketEncryption", e);
                if e.code() == "ServerSideEncryptionConfigurationNotFoundError" {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, AwsError> {
        match self
            .s3_for(bucket)
            .await
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out.policy().map(str::to_string)),
            Err(e) => {
                let e = classify("GetBucketPolicy", e);
                if e.code() == "NoSuchBucketPolicy" {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Vec<ObjectInfo>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .s3_for(bucket)
                .await
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_start_after(start_after.map(str::to_string))
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("ListObjectsV2", e))?;
            for o in page.contents() {
                out.push(ObjectInfo {
                    key: o.key().unwrap_or_default().to_string(),
                    last_modified: o.last_modified().and_then(from_smithy_time),
                    size: o.size().unwrap_or_default(),
                });
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() || out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, AwsError> {
        let out = self
            .s3_for(bucket)
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes=0-{}", max_bytes.saturating_sub(1)))
            .send()
            .await
            .map_err(|e| classify("GetObject", e))?;
        let bytes = out.body.collect().await.map_err(|e| AwsError::Connection {
            operation: "GetObject".into(),
            message: e.to_string(),
        })?;
        let mut v = bytes.into_bytes().to_vec();
        v.truncate(max_bytes);
        Ok(v)
    }

    async fn role(&self, name: &str) -> Result<RoleInfo, AwsError> {
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify("GetRole", e))?;
        let r = out.role().ok_or_else(|| AwsError::Service {
            operation: "GetRole".into(),
            code: "EmptyResponse".into(),
            message: "no Role in the answer".into(),
        })?;
        Ok(RoleInfo {
            arn: r.arn().to_string(),
            name: r.role_name().to_string(),
            trust_policy: decode_policy(r.assume_role_policy_document().unwrap_or("{}")),
        })
    }

    async fn role_policies(&self, name: &str) -> Result<Vec<NamedPolicy>, AwsError> {
        let mut policies = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .iam
                .list_role_policies()
                .role_name(name)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify("ListRolePolicies", e))?;
            for p in out.policy_names() {
                let doc = self
                    .iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .map_err(|e| classify("GetRolePolicy", e))?;
                policies.push(NamedPolicy {
                    name: p.clone(),
                    arn: None,
                    document: decode_policy(doc.policy_document()),
                });
            }
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify("ListAttachedRolePolicies", e))?;
            for a in out.attached_policies() {
                let Some(arn) = a.policy_arn() else { continue };
                let p = self
                    .iam
                    .get_policy()
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| classify("GetPolicy", e))?;
                let Some(version) = p.policy().and_then(|p| p.default_version_id()) else {
                    continue;
                };
                let v = self
                    .iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| classify("GetPolicyVersion", e))?;
                if let Some(doc) = v.policy_version().and_then(|v| v.document()) {
                    policies.push(NamedPolicy {
                        name: a.policy_name().unwrap_or(arn).to_string(),
                        arn: Some(arn.to_string()),
                        document: decode_policy(doc),
                    });
                }
            }
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
        Ok(policies)
    }

    async fn simulate(
        &self,
        role_arn: &str,
        actions: &[String],
        resources: &[String],
        context: &[(String, Vec<String>)],
    ) -> Result<Vec<Simulated>, AwsError> {
        use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
        let entries: Vec<ContextEntry> = context
            .iter()
            .map(|(k, v)| {
                ContextEntry::builder()
                    .context_key_name(k)
                    .set_context_key_values(Some(v.clone()))
                    .context_key_type(if v.len() > 1 {
                        ContextKeyTypeEnum::StringList
                    } else {
                        ContextKeyTypeEnum::String
                    })
                    .build()
            })
            .collect();
        let out = self
            .iam
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .set_action_names(Some(actions.to_vec()))
            .set_resource_arns(Some(resources.to_vec()))
            .set_context_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify("SimulatePrincipalPolicy", e))?;
        Ok(out
            .evaluation_results()
            .iter()
            .map(|r| Simulated {
                action: r.eval_action_name().to_string(),
                resource: r.eval_resource_name().unwrap_or("*").to_string(),
                decision: r.eval_decision().as_str().to_string(),
            })
            .collect())
    }

    async fn describe_key(&self, key: &str) -> Result<KeyInfo, AwsError> {
        let out = self
            .kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| classify("DescribeKey", e))?;
        let m = out.key_metadata().ok_or_else(|| AwsError::Service {
            operation: "DescribeKey".into(),
            code: "EmptyResponse".into(),
            message: "no KeyMetadata in the answer".into(),
        })?;
        Ok(KeyInfo {
            arn: m.arn().unwrap_or_default().to_string(),
            key_id: m.key_id().to_string(),
            state: m
                .key_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| {
                    if m.enabled() {
                        "Enabled".into()
                    } else {
                        "Disabled".into()
                    }
                }),
            manager: m
                .key_manager()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "CUSTOMER".into()),
            deletion_date: m
                .deletion_date()
                .and_then(|t| Utc.timestamp_opt(t.secs(), 0).single()),
        })
    }

    async fn key_policy(&self, key_id: &str) -> Result<String, AwsError> {
        let out = self
            .kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| classify("GetKeyPolicy", e))?;
        Ok(out.policy().unwrap_or("{}").to_string())
    }

    async fn function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionInfo, AwsError> {
        let out = self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify("GetFunctionConfiguration", e))?;
        Ok(FunctionInfo {
            arn: out.function_arn().unwrap_or_default().to_string(),
            state: out.state().map(|s| s.as_str().to_string()),
            state_reason: out.state_reason().map(str::to_string),
            last_update_status: out.last_update_status().map(|s| s.as_str().to_string()),
            last_update_reason: out.last_update_status_reason().map(str::to_string),
            timeout_seconds: out.timeout().unwrap_or(3),
        })
    }

    async fn kinesis_stream(&self, name: &str) -> Result<KinesisInfo, AwsError> {
        let out = self
            .kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(|e| classify("DescribeStreamSummary", e))?;
        let s = out
            .stream_description_summary()
            .ok_or_else(|| AwsError::Service {
                operation: "DescribeStreamSummary".into(),
                code: "EmptyResponse".into(),
                message: "no StreamDescriptionSummary in the answer".into(),
            })?;
        let kms = s.encryption_type().map(|e| e.as_str()) == Some("KMS");
        Ok(KinesisInfo {
            arn: s.stream_arn().to_string(),
            status: s.stream_status().as_str().to_string(),
            kms_key: s.key_id().filter(|_| kms).map(str::to_string),
        })
    }

    async fn log_events(
        &self,
        group: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogEvent>, AwsError> {
        // FilterLogEvents answers oldest first: read the whole window (at most 50 pages) and
        // keep the newest `limit` events.
        let mut events: std::collections::VecDeque<LogEvent> = std::collections::VecDeque::new();
        let mut token: Option<String> = None;
        for _ in 0..50 {
            let out = self
                .logs
                .filter_log_events()
                .log_group_name(group)
                .start_time(start.timestamp_millis())
                .end_time(end.timestamp_millis())
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("FilterLogEvents", e))?;
            for e in out.events() {
                let t = e
                    .timestamp()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                    .unwrap_or(start);
                events.push_back(LogEvent {
                    timestamp: t,
                    message: e.message().unwrap_or_default().to_string(),
                });
                if events.len() > limit {
                    events.pop_front();
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut events: Vec<LogEvent> = events.into();
        events.sort_by_key(|e| e.timestamp);
        Ok(events)
    }

    async fn log_group_exists(&self, group: &str) -> Result<bool, AwsError> {
        let out = self
            .logs
            .describe_log_groups()
            .log_group_name_prefix(group)
            .send()
            .await
            .map_err(|e| classify("DescribeLogGroups", e))?;
        Ok(out
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(group)))
    }

    async fn organization(&self) -> Result<Option<String>, AwsError> {
        match self.organizations.describe_organization().send().await {
            Ok(out) => Ok(out.organization().and_then(|o| o.id()).map(str::to_string)),
            Err(e) => {
                let e = classify("DescribeOrganization", e);
                // The account belongs to no organization: AWS sends no aws:PrincipalOrgID.
                if e.code() == "AWSOrganizationsNotInUseException" {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn bucket_ownership(&self, bucket: &str) -> Result<Option<String>, AwsError> {
        match self
            .s3_for(bucket)
            .await
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_string())),
            Err(e) => {
                let e = classify("GetBucketOwnershipControls", e);
                if e.code() == "OwnershipControlsNotFoundError" {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn glue_table(
        &self,
        catalog_id: Option<&str>,
        database: &str,
        table: &str,
    ) -> Result<GlueTable, AwsError> {
        let out = self
            .glue
            .get_table()
            .set_catalog_id(catalog_id.map(str::to_string))
            .database_name(database)
            .name(table)
            .send()
            .await
            .map_err(|e| classify("GetTable", e))?;
        let t = out.table();
        Ok(GlueTable {
            database: database.to_string(),
            name: t
                .map(|t| t.name().to_string())
                .unwrap_or_else(|| table.to_string()),
            lake_formation: t.is_some_and(|t| t.is_registered_with_lake_formation()),
        })
    }

    async fn bucket_region(&self, bucket: &str) -> Result<String, AwsError> {
        let out = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| classify("GetBucketLocation", e))?;
        // An empty constraint is us-east-1; `EU` is the legacy name of eu-west-1.
        Ok(match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(r) => r.to_string(),
        })
    }
}

/// The risk audit's narrow view: the same reads.
#[async_trait]
impl crate::aws::AuditApi for AwsClients {
    async fn audit_key(&self, key: &str) -> Result<KeyInfo, AwsError> {
        DiagnosisApi::describe_key(self, key).await
    }
    async fn audit_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionInfo, AwsError> {
        DiagnosisApi::function(self, name, qualifier).await
    }
    async fn audit_kinesis(&self, name: &str) -> Result<KinesisInfo, AwsError> {
        DiagnosisApi::kinesis_stream(self, name).await
    }
    async fn audit_bucket_encryption(
        &self,
        bucket: &str,
    ) -> Result<Option<BucketEncryption>, AwsError> {
        DiagnosisApi::bucket_encryption(self, bucket).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_policies() {
        assert_eq!(
            decode_policy("%7B%22Version%22%3A%222012-10-17%22%7D"),
            "{\"Version\":\"2012-10-17\"}"
        );
        assert_eq!(decode_policy("{\"a\":\"100%\"}"), "{\"a\":\"100%\"}");
    }
}
