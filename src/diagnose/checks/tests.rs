//! Unit tests of every check over an in-memory [`DiagnosisApi`]: a healthy stream that must not
//! fail, then one fault at a time; scripted monitor access-denied and slow reads.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::aws::*;
use crate::model::Window;

const ACCT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/fh-role";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/k-1";
const FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:transform:$LATEST";

#[derive(Default)]
struct Fake {
    buckets: HashSet<String>,
    /// Buckets owned by another account.
    foreign_buckets: HashSet<String>,
    encryption: HashMap<String, BucketEncryption>,
    bucket_policies: HashMap<String, String>,
    objects: Vec<(ObjectInfo, Vec<u8>)>,
    roles: HashMap<String, RoleInfo>,
    policies: HashMap<String, Vec<NamedPolicy>>,
    keys: HashMap<String, KeyInfo>,
    key_policies: HashMap<String, String>,
    functions: HashMap<String, FunctionInfo>,
    kinesis: HashMap<String, KinesisInfo>,
    logs: HashMap<String, Vec<LogEvent>>,
    log_groups: HashSet<String>,
    /// (namespace, metric) -> values in the window.
    metrics: HashMap<(String, String), Vec<f64>>,
    /// Operations that answer AccessDenied to the monitor.
    denied: HashSet<&'static str>,
    slow: HashSet<&'static str>,
    simulation: Option<Vec<Simulated>>,
    /// The account's organization (`None`: it belongs to none).
    org: Option<String>,
    /// Object Ownership of buckets (absent: no ownership controls).
    ownership: HashMap<String, String>,
    /// Region of buckets (absent: us-east-1).
    regions: HashMap<String, String>,
    /// Glue tables by `database.table`.
    glue: HashMap<String, GlueTable>,
    calls: Mutex<Vec<&'static str>>,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 3, 12, 0).unwrap()
}

fn window() -> Window {
    Window::aligned(now(), 60, 120, 10)
}

impl Fake {
    async fn op(&self, name: &'static str) -> Result<(), AwsError> {
        self.calls.lock().unwrap().push(name);
        if self.slow.contains(name) {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        if self.denied.contains(name) {
            return Err(AwsError::AccessDenied {
                operation: name.into(),
                code: "AccessDenied".into(),
                message: "not authorized".into(),
            });
        }
        Ok(())
    }
    fn count(&self, name: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == name)
            .count()
    }
}

fn nf(op: &str) -> AwsError {
    AwsError::NotFound {
        operation: op.into(),
        code: "NotFound".into(),
        message: "not found".into(),
    }
}

#[async_trait]
impl MetricsApi for Fake {
    async fn get_metric_data(
        &self,
        q: &[MetricQuery],
        start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, AwsError> {
        self.op("GetMetricData").await?;
        Ok(q.iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: self
                    .metrics
                    .get(&(q.namespace.to_string(), q.metric.to_string()))
                    .map(|v| {
                        v.iter()
                            .enumerate()
                            .map(|(i, x)| (start + chrono::Duration::minutes(i as i64), *x))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }
}

#[async_trait]
impl DiagnosisApi for Fake {
    async fn head_bucket(&self, b: &str) -> Result<(), AwsError> {
        self.op("HeadBucket").await?;
        if self.buckets.contains(b) {
            Ok(())
        } else {
            Err(nf("HeadBucket"))
        }
    }
    async fn bucket_owned_by(&self, b: &str, _account: &str) -> Result<bool, AwsError> {
        self.op("HeadBucket(ExpectedBucketOwner)").await?;
        Ok(!self.foreign_buckets.contains(b))
    }
    async fn bucket_encryption(&self, b: &str) -> Result<Option<BucketEncryption>, AwsError> {
        self.op("GetBucketEncryption").await?;
        Ok(self.encryption.get(b).cloned())
    }
    async fn bucket_policy(&self, b: &str) -> Result<Option<String>, AwsError> {
        self.op("GetBucketPolicy").await?;
        Ok(self.bucket_policies.get(b).cloned())
    }
    async fn list_objects(
        &self,
        _b: &str,
        prefix: &str,
        start_after: Option<&str>,
        _max: usize,
    ) -> Result<Vec<ObjectInfo>, AwsError> {
        self.op("ListObjectsV2").await?;
        Ok(self
            .objects
            .iter()
            .filter(|(o, _)| {
                o.key.starts_with(prefix) && start_after.is_none_or(|s| o.key.as_str() > s)
            })
            .map(|(o, _)| o.clone())
            .collect())
    }
    async fn get_object(&self, _b: &str, key: &str, _max: usize) -> Result<Vec<u8>, AwsError> {
        self.op("GetObject").await?;
        self.objects
            .iter()
            .find(|(o, _)| o.key == key)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| nf("GetObject"))
    }
    async fn role(&self, name: &str) -> Result<RoleInfo, AwsError> {
        self.op("GetRole").await?;
        self.roles.get(name).cloned().ok_or_else(|| nf("GetRole"))
    }
    async fn role_policies(&self, name: &str) -> Result<Vec<NamedPolicy>, AwsError> {
        self.op("ListRolePolicies").await?;
        if !self.roles.contains_key(name) {
            return Err(nf("ListRolePolicies"));
        }
        Ok(self.policies.get(name).cloned().unwrap_or_default())
    }
    async fn simulate(
        &self,
        _r: &str,
        _a: &[String],
        _res: &[String],
        _c: &[(String, Vec<String>)],
    ) -> Result<Vec<Simulated>, AwsError> {
        self.op("SimulatePrincipalPolicy").await?;
        self.simulation.clone().ok_or_else(|| AwsError::Service {
            operation: "SimulatePrincipalPolicy".into(),
            code: "UnsupportedOperation".into(),
            message: "the simulator is unavailable".into(),
        })
    }
    async fn describe_key(&self, k: &str) -> Result<KeyInfo, AwsError> {
        self.op("DescribeKey").await?;
        self.keys.get(k).cloned().ok_or_else(|| nf("DescribeKey"))
    }
    async fn key_policy(&self, k: &str) -> Result<String, AwsError> {
        self.op("GetKeyPolicy").await?;
        self.key_policies
            .get(k)
            .cloned()
            .ok_or_else(|| nf("GetKeyPolicy"))
    }
    async fn function(&self, name: &str, _q: Option<&str>) -> Result<FunctionInfo, AwsError> {
        self.op("GetFunctionConfiguration").await?;
        self.functions
            .get(name)
            .cloned()
            .ok_or_else(|| nf("GetFunctionConfiguration"))
    }
    async fn kinesis_stream(&self, name: &str) -> Result<KinesisInfo, AwsError> {
        self.op("DescribeStreamSummary").await?;
        self.kinesis
            .get(name)
            .cloned()
            .ok_or_else(|| nf("DescribeStreamSummary"))
    }
    async fn log_events(
        &self,
        g: &str,
        _s: DateTime<Utc>,
        _e: DateTime<Utc>,
        _l: usize,
    ) -> Result<Vec<LogEvent>, AwsError> {
        self.op("FilterLogEvents").await?;
        if !self.log_groups.contains(g) {
            return Err(nf("FilterLogEvents"));
        }
        Ok(self.logs.get(g).cloned().unwrap_or_default())
    }
    async fn log_group_exists(&self, g: &str) -> Result<bool, AwsError> {
        self.op("DescribeLogGroups").await?;
        Ok(self.log_groups.contains(g))
    }
    async fn organization(&self) -> Result<Option<String>, AwsError> {
        self.op("DescribeOrganization").await?;
        Ok(self.org.clone())
    }
    async fn bucket_ownership(&self, b: &str) -> Result<Option<String>, AwsError> {
        self.op("GetBucketOwnershipControls").await?;
        Ok(self.ownership.get(b).cloned())
    }
    async fn glue_table(
        &self,
        _catalog: Option<&str>,
        database: &str,
        table: &str,
    ) -> Result<GlueTable, AwsError> {
        self.op("GetTable").await?;
        self.glue
            .get(&format!("{database}.{table}"))
            .cloned()
            .ok_or_else(|| nf("GetTable"))
    }
    async fn bucket_region(&self, b: &str) -> Result<String, AwsError> {
        self.op("GetBucketLocation").await?;
        Ok(self
            .regions
            .get(b)
            .cloned()
            .unwrap_or_else(|| "us-east-1".into()))
    }
}

fn stream() -> StreamDescription {
    StreamDescription {
        name: "orders".into(),
        arn: format!("arn:aws:firehose:us-east-1:{ACCT}:deliverystream/orders"),
        status: "ACTIVE".into(),
        failure: None,
        source: Source::DirectPut,
        s3: Some(S3Destination {
            role_arn: ROLE.into(),
            bucket_arn: "arn:aws:s3:::orders-bucket".into(),
            bucket: "orders-bucket".into(),
            prefix: Some("data/!{timestamp:yyyy/MM/dd}/".into()),
            error_output_prefix: Some(
                "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/".into(),
            ),
            buffering_interval_seconds: 60,
            buffering_size_mb: 5,
            compression: Some("GZIP".into()),
            kms_key_arn: None,
            logging: Logging {
                enabled: true,
                log_group: Some("/aws/kinesisfirehose/orders".into()),
                log_stream: Some("DestinationDelivery".into()),
            },
            lambda_arn: None,
            lambda_buffer_interval_seconds: None,
            dynamic_partitioning: false,
            backup: None,
            format_conversion: None,
        }),
        other_destination: None,
        sse: None,
    }
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"123456789012"}}}]}"#;

fn s3_policy() -> String {
    json!({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:AbortMultipartUpload","s3:GetBucketLocation","s3:GetObject","s3:ListBucket","s3:ListBucketMultipartUploads","s3:PutObject"],
         "Resource":["arn:aws:s3:::orders-bucket","arn:aws:s3:::orders-bucket/*"]},
        {"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesisfirehose/orders:log-stream:*"}
    ]}).to_string()
}

fn healthy() -> Fake {
    let mut f = Fake::default();
    f.buckets.insert("orders-bucket".into());
    f.roles.insert(
        "fh-role".into(),
        RoleInfo {
            arn: ROLE.into(),
            name: "fh-role".into(),
            trust_policy: TRUST.into(),
        },
    );
    f.policies.insert(
        "fh-role".into(),
        vec![NamedPolicy {
            name: "delivery".into(),
            arn: None,
            document: s3_policy(),
        }],
    );
    f.log_groups.insert("/aws/kinesisfirehose/orders".into());
    f.metrics.insert(
        ("AWS/Firehose".into(), "IncomingRecords".into()),
        vec![100.0, 120.0],
    );
    f
}

fn with_policy(f: &mut Fake, doc: serde_json::Value) {
    f.policies.get_mut("fh-role").unwrap().push(NamedPolicy {
        name: "extra".into(),
        arn: Some("arn:aws:iam::123456789012:policy/extra".into()),
        document: doc.to_string(),
    });
}

fn with_kms(f: &mut Fake, s: &mut StreamDescription, key_policy: serde_json::Value) {
    s.s3.as_mut().unwrap().kms_key_arn = Some(KEY.into());
    f.keys.insert(
        KEY.into(),
        KeyInfo {
            arn: KEY.into(),
            key_id: "k-1".into(),
            state: "Enabled".into(),
            manager: "CUSTOMER".into(),
            deletion_date: None,
        },
    );
    f.key_policies.insert("k-1".into(), key_policy.to_string());
}

fn delegating_key_policy() -> serde_json::Value {
    json!({"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]})
}

fn with_lambda(f: &mut Fake, s: &mut StreamDescription) {
    s.s3.as_mut().unwrap().lambda_arn = Some(FN.into());
    f.functions.insert(
        "transform".into(),
        FunctionInfo {
            arn: FN.into(),
            state: Some("Active".into()),
            state_reason: None,
            last_update_status: Some("Successful".into()),
            last_update_reason: None,
            timeout_seconds: 60,
        },
    );
    with_policy(
        f,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:InvokeFunction","lambda:GetFunctionConfiguration"],"Resource":"arn:aws:lambda:us-east-1:123456789012:function:transform:*"}]}),
    );
    f.metrics.insert(
        ("AWS/Firehose".into(), "ExecuteProcessing.Success".into()),
        vec![1.0, 1.0],
    );
}

async fn diagnose(f: Fake, s: &StreamDescription) -> (Diagnosis, Arc<Fake>) {
    let f = Arc::new(f);
    let checks = Checks::new(
        f.clone(),
        DiagnosisSettings {
            check_timeout: Duration::from_millis(500),
            concurrency: 1,
        },
    );
    (checks.run(s, window(), now()).await, f)
}

fn status(d: &Diagnosis, id: &str) -> Status {
    d.findings
        .iter()
        .find(|f| f.check == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .status
}

fn get<'a>(d: &'a Diagnosis, id: &str) -> &'a Finding {
    d.findings.iter().find(|f| f.check == id).unwrap()
}

#[tokio::test]
async fn healthy_stream_has_no_failure_and_every_check_once() {
    let (d, f) = diagnose(healthy(), &stream()).await;
    let fails: Vec<_> = d
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail || f.status == Status::Error)
        .collect();
    assert!(fails.is_empty(), "{fails:#?}");
    assert_eq!(d.root_cause, None);
    let ids: Vec<&str> = d.findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(ids, ALL_IDS.to_vec());
    for id in [
        "stream.status",
        "s3.bucket",
        "iam.role",
        "iam.s3",
        "s3.bucket_policy",
        "logging.errors",
        "iam.logs",
        "metrics.incoming",
        "logging.enabled",
    ] {
        assert_eq!(status(&d, id), Status::Pass, "{id}: {:?}", get(&d, id));
    }
    for id in [
        "kms.key",
        "iam.kms",
        "lambda.function",
        "iam.lambda",
        "lambda.invocation",
        "s3.processing_failed",
        "source.kinesis",
        "iam.kinesis",
        "kms.sse",
    ] {
        assert_eq!(status(&d, id), Status::Skip, "{id}");
    }
    // Shared reads are made once per diagnosis.
    assert_eq!(f.count("ListRolePolicies"), 1);
    assert_eq!(f.count("GetMetricData"), 1);
    assert_eq!(f.count("HeadBucket"), 1);
}

#[tokio::test]
async fn role_with_s3_star_on_star_passes() {
    let mut f = healthy();
    f.policies.insert("fh-role".into(), vec![NamedPolicy { name: "wide".into(), arn: None, document: json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"logs:*","Resource":"*"}]}).to_string() }]);
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "iam.s3"), Status::Pass);
}

#[tokio::test]
async fn missing_s3_action_fails_with_the_statement_to_add() {
    let mut f = healthy();
    f.policies.insert("fh-role".into(), vec![NamedPolicy { name: "partial".into(), arn: None, document: json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListBucket","s3:ListBucketMultipartUploads","s3:GetObject","s3:AbortMultipartUpload"],"Resource":"*"},{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}).to_string() }]);
    let (d, _) = diagnose(f, &stream()).await;
    let x = get(&d, "iam.s3");
    assert_eq!(x.status, Status::Fail);
    assert!(x.summary.contains("s3:PutObject"), "{}", x.summary);
    assert!(
        x.remediation.contains("arn:aws:s3:::orders-bucket/data/*"),
        "{}",
        x.remediation
    );
    assert!(!x.remediation.contains("sample-object"));
    assert_eq!(d.root_cause.as_deref(), Some("iam.s3"));
}

#[tokio::test]
async fn cross_account_bucket_needs_put_object_acl() {
    let mut f = healthy();
    f.foreign_buckets.insert("orders-bucket".into());
    let (d, _) = diagnose(f, &stream()).await;
    let x = get(&d, "iam.s3");
    assert_eq!(x.status, Status::Fail);
    assert!(x.summary.contains("s3:PutObjectAcl"), "{}", x.summary);
    let mut f = healthy();
    f.foreign_buckets.insert("orders-bucket".into());
    with_policy(
        &mut f,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObjectAcl","Resource":"arn:aws:s3:::orders-bucket/*"}]}),
    );
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "iam.s3"), Status::Pass);
}

#[tokio::test]
async fn explicit_deny_in_role_policy_fails() {
    let mut f = healthy();
    with_policy(
        &mut f,
        json!({"Version":"2012-10-17","Statement":[{"Sid":"NoWrites","Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}),
    );
    let (d, _) = diagnose(f, &stream()).await;
    let x = get(&d, "iam.s3");
    assert_eq!(x.status, Status::Fail);
    assert!(x.summary.contains("explicitly denied"));
}

#[tokio::test]
async fn key_policy_delegating_to_iam_passes_with_role_permissions() {
    let mut f = healthy();
    let mut s = stream();
    with_kms(&mut f, &mut s, delegating_key_policy());
    with_policy(
        &mut f,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":KEY,"Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"},"StringLike":{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::orders-bucket/data/*"}}}]}),
    );
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(
        status(&d, "kms.key"),
        Status::Pass,
        "{:?}",
        get(&d, "kms.key")
    );
    assert!(get(&d, "kms.key").summary.contains("delegates to IAM"));
    assert_eq!(
        status(&d, "iam.kms"),
        Status::Pass,
        "{:?}",
        get(&d, "iam.kms")
    );
}

#[tokio::test]
async fn delegating_key_without_role_permissions_fails_iam_kms() {
    let mut f = healthy();
    let mut s = stream();
    with_kms(&mut f, &mut s, delegating_key_policy());
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "kms.key"), Status::Pass);
    let x = get(&d, "iam.kms");
    assert_eq!(x.status, Status::Fail);
    assert!(x.remediation.contains(KEY));
    assert_eq!(d.root_cause.as_deref(), Some("iam.kms"));
}

#[tokio::test]
async fn key_policy_without_role_or_delegation_fails_kms_key() {
    let mut f = healthy();
    let mut s = stream();
    with_kms(
        &mut f,
        &mut s,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"kms:*","Resource":"*"}]}),
    );
    let (d, _) = diagnose(f, &s).await;
    let x = get(&d, "kms.key");
    assert_eq!(x.status, Status::Fail);
    assert!(x.remediation.contains(ROLE));
}

#[tokio::test]
async fn key_policy_granting_the_role_directly_passes_both() {
    let mut f = healthy();
    let mut s = stream();
    with_kms(
        &mut f,
        &mut s,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":ROLE},"Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*"}]}),
    );
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "kms.key"), Status::Pass);
    assert_eq!(status(&d, "iam.kms"), Status::Pass);
}

#[tokio::test]
async fn disabled_or_pending_deletion_key_fails() {
    for state in ["Disabled", "PendingDeletion"] {
        let mut f = healthy();
        let mut s = stream();
        with_kms(&mut f, &mut s, delegating_key_policy());
        f.keys.get_mut(KEY).unwrap().state = state.into();
        let (d, _) = diagnose(f, &s).await;
        let x = get(&d, "kms.key");
        assert_eq!(x.status, Status::Fail, "{state}");
        assert!(x.summary.contains(state));
        assert_eq!(d.root_cause.as_deref(), Some("kms.key"));
    }
}

#[tokio::test]
async fn bucket_default_kms_encryption_is_checked() {
    let mut f = healthy();
    f.encryption.insert(
        "orders-bucket".into(),
        BucketEncryption {
            algorithm: "aws:kms".into(),
            kms_key_id: Some(KEY.into()),
            bucket_key_enabled: false,
        },
    );
    f.keys.insert(
        KEY.into(),
        KeyInfo {
            arn: KEY.into(),
            key_id: "k-1".into(),
            state: "Disabled".into(),
            manager: "CUSTOMER".into(),
            deletion_date: None,
        },
    );
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "kms.key"), Status::Fail);
    assert!(get(&d, "kms.key").evidence["source"]
        .as_str()
        .unwrap()
        .contains("bucket"));
}

#[tokio::test]
async fn missing_bucket_is_the_root_cause() {
    let mut f = healthy();
    f.buckets.clear();
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "s3.bucket"), Status::Fail);
    assert_eq!(d.root_cause.as_deref(), Some("s3.bucket"));
}

#[tokio::test]
async fn monitor_access_denied_is_error_never_the_cause() {
    let mut f = healthy();
    f.denied.insert("GetRole");
    f.denied.insert("ListRolePolicies");
    let (d, _) = diagnose(f, &stream()).await;
    let x = get(&d, "iam.role");
    assert_eq!(x.status, Status::Error);
    assert_eq!(x.evidence["monitor_permission_needed"], "iam:GetRole");
    assert_eq!(status(&d, "iam.s3"), Status::Error);
    assert_eq!(d.root_cause, None);
    assert!(!d.complete());
}

#[tokio::test]
async fn trust_policy_must_let_firehose_assume_the_role() {
    let mut f = healthy();
    f.roles.get_mut("fh-role").unwrap().trust_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into();
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "iam.role"), Status::Fail);
    assert!(get(&d, "iam.role")
        .remediation
        .contains("firehose.amazonaws.com"));
    let mut f = healthy();
    f.roles.get_mut("fh-role").unwrap().trust_policy =
        TRUST.replace("123456789012", "999999999999");
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "iam.role"), Status::Fail, "wrong sts:ExternalId");
    let mut f = healthy();
    f.roles.clear();
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "iam.role"), Status::Fail);
    assert_eq!(status(&d, "iam.s3"), Status::Skip);
}

#[tokio::test]
async fn bucket_policy_deny_on_source_vpce_fails_and_other_principals_do_not() {
    let mut f = healthy();
    f.bucket_policies.insert("orders-bucket".into(), json!({"Version":"2012-10-17","Statement":[{"Sid":"OnlyFromVpce","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::orders-bucket","arn:aws:s3:::orders-bucket/*"],"Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0abc"}}}]}).to_string());
    let (d, _) = diagnose(f, &stream()).await;
    let x = get(&d, "s3.bucket_policy");
    assert_eq!(x.status, Status::Fail);
    assert!(x.summary.contains("OnlyFromVpce"), "{}", x.summary);
    assert!(x.evidence.to_string().contains("aws:SourceVpce"));
    assert!(x.remediation.contains("aws:PrincipalArn"));
    assert_eq!(d.root_cause.as_deref(), Some("s3.bucket_policy"));

    let mut f = healthy();
    f.bucket_policies.insert("orders-bucket".into(), json!({"Version":"2012-10-17","Statement":[
        {"Sid":"DenyOthers","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/other"},"Action":"s3:*","Resource":"arn:aws:s3:::orders-bucket/*"},
        {"Sid":"DenyHttp","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::orders-bucket/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
        {"Sid":"OrExempt","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::orders-bucket/*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0abc"},"ArnNotEquals":{"aws:PrincipalArn":ROLE}}}
    ]}).to_string());
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(
        status(&d, "s3.bucket_policy"),
        Status::Pass,
        "{:?}",
        get(&d, "s3.bucket_policy")
    );
}

#[tokio::test]
async fn lambda_checks() {
    let mut f = healthy();
    let mut s = stream();
    with_lambda(&mut f, &mut s);
    let (d, _) = diagnose(f, &s).await;
    for id in [
        "lambda.function",
        "iam.lambda",
        "lambda.invocation",
        "s3.processing_failed",
    ] {
        assert_eq!(status(&d, id), Status::Pass, "{id}: {:?}", get(&d, id));
    }

    let mut f = healthy();
    with_lambda(&mut f, &mut s);
    f.functions.clear();
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "lambda.function"), Status::Fail);
    assert_eq!(d.root_cause.as_deref(), Some("lambda.function"));

    let mut f = healthy();
    with_lambda(&mut f, &mut s);
    f.policies
        .get_mut("fh-role")
        .unwrap()
        .retain(|p| p.name != "extra");
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "iam.lambda"), Status::Fail);
    assert!(get(&d, "iam.lambda")
        .remediation
        .contains("lambda:InvokeFunction"));

    let mut f = healthy();
    with_lambda(&mut f, &mut s);
    f.metrics.insert(
        ("AWS/Lambda".into(), "Duration".into()),
        vec![20_000.0, 59_500.0],
    );
    let (d, _) = diagnose(f, &s).await;
    let x = get(&d, "lambda.invocation");
    assert_eq!(x.status, Status::Fail);
    assert!(x.summary.contains("times out"), "{}", x.summary);

    let mut f = healthy();
    with_lambda(&mut f, &mut s);
    f.metrics
        .insert(("AWS/Lambda".into(), "Errors".into()), vec![0.0, 3.0]);
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "lambda.invocation"), Status::Fail);

    let mut f = healthy();
    with_lambda(&mut f, &mut s);
    f.functions.get_mut("transform").unwrap().state = Some("Failed".into());
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "lambda.function"), Status::Fail);
}

#[tokio::test]
async fn processing_failed_objects_are_quoted() {
    let mut f = healthy();
    let mut s = stream();
    with_lambda(&mut f, &mut s);
    let rec = json!({"attemptsMade":4,"arrivalTimestamp":1,"errorCode":"Lambda.FunctionError","errorMessage":"The Lambda function was successfully invoked but it returned an error result.","lambdaArn":FN,"rawData":"e30="});
    f.objects.push((
        ObjectInfo {
            key: "errors/processing-failed/2026/x".into(),
            last_modified: Some(now() - chrono::Duration::minutes(3)),
            size: 100,
        },
        format!("{rec}\n").into_bytes(),
    ));
    f.objects.push((
        ObjectInfo {
            key: "errors/processing-failed/2025/old".into(),
            last_modified: Some(now() - chrono::Duration::days(30)),
            size: 100,
        },
        b"{}".to_vec(),
    ));
    let (d, _) = diagnose(f, &s).await;
    let x = get(&d, "s3.processing_failed");
    assert_eq!(x.status, Status::Fail);
    assert_eq!(
        x.evidence["newest_record"]["errorCode"],
        "Lambda.FunctionError"
    );
    assert_eq!(x.evidence["newest_record"]["attemptsMade"], 4);
    assert_eq!(x.evidence["objects_in_window"], 1);
}

#[tokio::test]
async fn kinesis_source_checks() {
    let mut s = stream();
    s.source = Source::KinesisStream {
        stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/src".into(),
        role_arn: ROLE.into(),
    };
    let mut f = healthy();
    f.kinesis.insert(
        "src".into(),
        KinesisInfo {
            arn: "arn:aws:kinesis:us-east-1:123456789012:stream/src".into(),
            status: "ACTIVE".into(),
            kms_key: None,
        },
    );
    f.metrics
        .insert(("AWS/Kinesis".into(), "IncomingRecords".into()), vec![50.0]);
    let (d, _) = diagnose(f, &s).await;
    // checks.md: records in while none is read is a symptom (warn); the role is the cause.
    assert_eq!(
        status(&d, "source.kinesis"),
        Status::Warn,
        "records in, none read"
    );
    assert_eq!(status(&d, "iam.kinesis"), Status::Fail);
    assert_eq!(d.root_cause.as_deref(), Some("iam.kinesis"));
    assert!(get(&d, "iam.kinesis")
        .remediation
        .contains("kinesis:GetRecords"));

    let mut f = healthy();
    with_policy(
        &mut f,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"arn:aws:kinesis:us-east-1:123456789012:stream/src"}]}),
    );
    f.kinesis.insert(
        "src".into(),
        KinesisInfo {
            arn: "arn:aws:kinesis:us-east-1:123456789012:stream/src".into(),
            status: "ACTIVE".into(),
            kms_key: None,
        },
    );
    f.metrics
        .insert(("AWS/Kinesis".into(), "IncomingRecords".into()), vec![50.0]);
    f.metrics.insert(
        (
            "AWS/Firehose".into(),
            "DataReadFromKinesisStream.Records".into(),
        ),
        vec![50.0],
    );
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "source.kinesis"), Status::Pass);
    assert_eq!(status(&d, "iam.kinesis"), Status::Pass);

    let f = healthy();
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(
        status(&d, "source.kinesis"),
        Status::Fail,
        "source stream missing"
    );
}

#[tokio::test]
async fn stream_sse_and_status() {
    let mut s = stream();
    s.sse = Some(StreamSse {
        status: "ENABLED".into(),
        key_type: Some("CUSTOMER_MANAGED_CMK".into()),
        key_arn: Some(KEY.into()),
        failure: None,
    });
    let mut f = healthy();
    f.keys.insert(
        KEY.into(),
        KeyInfo {
            arn: KEY.into(),
            key_id: "k-1".into(),
            state: "Enabled".into(),
            manager: "CUSTOMER".into(),
            deletion_date: None,
        },
    );
    f.metrics.insert(
        ("AWS/Firehose".into(), "KMSKeyDisabled".into()),
        vec![0.0, 4.0],
    );
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "kms.sse"), Status::Fail);

    let mut s = stream();
    s.failure = Some("KMS_ACCESS_DENIED: Firehose cannot use the key".into());
    let (d, _) = diagnose(healthy(), &s).await;
    assert_eq!(status(&d, "stream.status"), Status::Fail);
    assert_eq!(d.root_cause.as_deref(), Some("stream.status"));

    let mut s = stream();
    s.s3 = None;
    s.other_destination = Some("Splunk".into());
    let (d, _) = diagnose(healthy(), &s).await;
    // checks.md: a destination that is not S3 is not monitored, a warn, never a cause.
    assert_eq!(status(&d, "stream.status"), Status::Warn);
    assert_eq!(d.root_cause, None);
    assert_eq!(status(&d, "s3.bucket"), Status::Skip);
}

#[tokio::test]
async fn log_error_code_points_at_a_later_failing_check() {
    let mut f = healthy();
    // iam.s3 fails (priority 5) and the bucket policy denies (priority 7)...
    f.policies.get_mut("fh-role").unwrap()[0].document = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}).to_string();
    f.bucket_policies.insert("orders-bucket".into(), json!({"Version":"2012-10-17","Statement":[{"Sid":"DenyPut","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::orders-bucket/*"}]}).to_string());
    // ...and Firehose's log says MethodNotAllowed: the bucket policy wins.
    f.logs.insert("/aws/kinesisfirehose/orders".into(), vec![
        LogEvent { timestamp: now() - chrono::Duration::minutes(4), message: r#"{"deliveryStreamARN":"x","destination":"s3","errorCode":"S3.AccessDenied","errorMessage":"Access Denied"}"#.into() },
        LogEvent { timestamp: now() - chrono::Duration::minutes(2), message: r#"{"errorCode":"S3.MethodNotAllowed","errorMessage":"The specified method is not allowed against this resource."}"#.into() },
        LogEvent { timestamp: now() - chrono::Duration::minutes(1), message: "not json".into() },
    ]);
    let (d, _) = diagnose(f, &stream()).await;
    let x = get(&d, "logging.errors");
    assert_eq!(x.status, Status::Fail);
    assert_eq!(x.evidence["counts_by_code"]["S3.AccessDenied"], 1);
    assert_eq!(x.evidence["newest"]["errorCode"], "S3.MethodNotAllowed");
    assert_eq!(status(&d, "iam.s3"), Status::Fail);
    assert_eq!(d.root_cause.as_deref(), Some("s3.bucket_policy"));
}

#[tokio::test]
async fn logging_disabled_warns_and_no_incoming_warns() {
    let mut s = stream();
    s.s3.as_mut().unwrap().logging.enabled = false;
    let mut f = healthy();
    f.metrics.clear();
    let (d, _) = diagnose(f, &s).await;
    assert_eq!(status(&d, "logging.enabled"), Status::Warn);
    assert_eq!(status(&d, "logging.errors"), Status::Skip);
    assert_eq!(status(&d, "iam.logs"), Status::Skip);
    assert_eq!(status(&d, "metrics.incoming"), Status::Warn);
    assert!(get(&d, "metrics.incoming").summary.contains("PutRecord"));
    assert_eq!(d.root_cause, None, "warnings are not causes");
}

#[tokio::test]
async fn a_slow_read_times_out_its_checks_only() {
    let mut f = healthy();
    f.slow.insert("GetBucketPolicy");
    let (d, _) = diagnose(f, &stream()).await;
    assert_eq!(status(&d, "s3.bucket_policy"), Status::Error);
    assert!(get(&d, "s3.bucket_policy").summary.contains("timed out"));
    assert_eq!(status(&d, "s3.bucket"), Status::Pass);
}

#[tokio::test]
async fn simulator_disagreement_is_shown() {
    let mut f = healthy();
    f.simulation = Some(vec![Simulated {
        action: "s3:PutObject".into(),
        resource: "*".into(),
        decision: "explicitDeny".into(),
    }]);
    let (d, _) = diagnose(f, &stream()).await;
    let ev = &get(&d, "iam.s3").evidence["simulate_principal_policy"];
    assert_eq!(ev["used"], true);
    assert_eq!(ev["disagreements"][0]["action"], "s3:PutObject");
    let (d, _) = diagnose(healthy(), &stream()).await;
    assert_eq!(
        get(&d, "iam.s3").evidence["simulate_principal_policy"]["used"],
        false
    );
}

#[test]
fn missing_stream_reports_every_check() {
    let d = missing_stream(
        "gone",
        &Entry::Missing {
            reason: "not found".into(),
        },
    );
    assert_eq!(d.findings.len(), ALL_IDS.len());
    assert_eq!(d.root_cause.as_deref(), Some("stream.status"));
}
