//! Diagnosis that names the right cause on real configurations, against the emulator: AWS's
//! request context of the delivery role (organization guard, SSE-KMS enforcement, a deny on
//! `aws:SourceAccount`), every place Firehose writes (a denied error output), failed records
//! where AWS puts them, format conversion's Glue table, and a bucket of another account. Each
//! scenario has a control that flips the verdict, so no check passes by always passing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firehose_sentinel::aws::sdk::{AwsClients, ClientFactory};
use firehose_sentinel::aws::*;
use firehose_sentinel::config::DiagnosisSettings;
use firehose_sentinel::diagnose::checks::Checks;
use firehose_sentinel::diagnose::Diagnosis;
use firehose_sentinel::model::{Status, Window};
use firehose_sentinel::telemetry::metrics::Metrics;
use serde_json::json;

use crate::diagnosis::{assert_cause, aws_settings, diagnose, dump, fixture, st, Fx, Opts};
use crate::harness::*;

async fn bucket_policy(aws: &Aws, bucket: &str, statements: serde_json::Value) {
    let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    aws.s3
        .put_bucket_policy()
        .bucket(bucket)
        .policy(doc)
        .send()
        .await
        .unwrap();
}

/// The organization of the test account (created once).
async fn org_id(aws: &Aws) -> String {
    let _ = aws
        .organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await;
    aws.organizations
        .describe_organization()
        .send()
        .await
        .unwrap()
        .organization()
        .and_then(|o| o.id())
        .unwrap()
        .to_string()
}

fn deny(
    sid: &str,
    fx: &Fx,
    action: &str,
    resource: &str,
    condition: serde_json::Value,
) -> serde_json::Value {
    json!({"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": action,
        "Resource": resource.replace("BUCKET", &fx.bucket), "Condition": condition})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_guard_is_not_blamed_when_the_role_is_inside() {
    let aws = aws().await;
    let org = org_id(&aws).await;
    let fx = fixture(&aws, "orgin", Opts::default()).await;
    let ctl = fixture(&aws, "orgout", Opts::default()).await;
    let guard = |f: &Fx, id: &str| {
        deny(
            "OrgOnly",
            f,
            "s3:*",
            "arn:aws:s3:::BUCKET/*",
            json!({"StringNotEquals": {"aws:PrincipalOrgID": id}}),
        )
    };
    bucket_policy(&aws, &fx.bucket, json!([guard(&fx, &org)])).await;
    bucket_policy(&aws, &ctl.bucket, json!([guard(&ctl, "o-someoneelse1")])).await;
    let d = diagnose(&fx.name).await;
    assert_eq!(st(&d, "s3.bucket_policy"), Status::Pass, "{}", dump(&d));
    assert_eq!(d.root_cause, None, "{}", dump(&d));
    // Control: the guard names another organization: the role is outside, it is the cause.
    assert_cause(&diagnose(&ctl.name).await, "s3.bucket_policy");
    delete_streams(&aws, &[&fx.name, &ctl.name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_kms_policy_is_not_blamed_when_the_stream_encrypts_with_kms() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "ssekms",
        Opts {
            kms: true,
            ..Default::default()
        },
    )
    .await;
    let ctl = fixture(&aws, "ssenone", Opts::default()).await;
    for f in [&fx, &ctl] {
        let st = deny(
            "KmsOnly",
            f,
            "s3:PutObject",
            "arn:aws:s3:::BUCKET/*",
            json!({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}),
        );
        bucket_policy(&aws, &f.bucket, json!([st])).await;
    }
    let d = diagnose(&fx.name).await;
    assert_eq!(st(&d, "s3.bucket_policy"), Status::Pass, "{}", dump(&d));
    assert_eq!(d.root_cause, None, "{}", dump(&d));
    // Control: a stream without KMS encryption sends no SSE header: denied.
    assert_cause(&diagnose(&ctl.name).await, "s3.bucket_policy");
    delete_streams(&aws, &[&fx.name, &ctl.name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_on_aws_source_account_is_blamed() {
    let aws = aws().await;
    let fx = fixture(&aws, "srcacct", Opts::default()).await;
    let ctl = fixture(&aws, "prinacct", Opts::default()).await;
    // AWS sends no aws:SourceAccount when Firehose uses its role: the negated condition is met.
    bucket_policy(
        &aws,
        &fx.bucket,
        json!([deny(
            "OurAccountOnly",
            &fx,
            "s3:*",
            "arn:aws:s3:::BUCKET/*",
            json!({"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})
        )]),
    )
    .await;
    // Control: the same guard on aws:PrincipalAccount, which AWS does send.
    bucket_policy(
        &aws,
        &ctl.bucket,
        json!([deny(
            "OurAccountOnly",
            &ctl,
            "s3:*",
            "arn:aws:s3:::BUCKET/*",
            json!({"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}})
        )]),
    )
    .await;
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "s3.bucket_policy");
    assert!(d
        .findings
        .iter()
        .any(|f| f.summary.contains("OurAccountOnly")));
    let c = diagnose(&ctl.name).await;
    assert_eq!(st(&c, "s3.bucket_policy"), Status::Pass, "{}", dump(&c));
    delete_streams(&aws, &[&fx.name, &ctl.name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_error_output_is_blamed() {
    let aws = aws().await;
    let opts = Opts {
        lambda: true,
        ..Default::default()
    };
    let fx = fixture(&aws, "errdeny", opts).await;
    let ctl = fixture(&aws, "otherdeny", opts).await;
    let role_deny = |f: &Fx, prefix: &str| {
        json!({"Sid": "NoWritesThere", "Effect": "Deny",
        "Principal": {"AWS": f.role_arn}, "Action": "s3:PutObject",
        "Resource": format!("arn:aws:s3:::{}/{prefix}*", f.bucket)})
    };
    // The processor's failed records go to errors/processing-failed/: a denied write there
    // blocks delivery (AWS retries it forever).
    bucket_policy(&aws, &fx.bucket, json!([role_deny(&fx, "errors/")])).await;
    bucket_policy(&aws, &ctl.bucket, json!([role_deny(&ctl, "archive/")])).await;
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "s3.bucket_policy");
    let f = d
        .findings
        .iter()
        .find(|f| f.check == "s3.bucket_policy")
        .unwrap();
    assert!(
        f.evidence.to_string().contains("errors/processing-failed/"),
        "{}",
        f.evidence
    );
    let c = diagnose(&ctl.name).await;
    assert_eq!(st(&c, "s3.bucket_policy"), Status::Pass, "{}", dump(&c));
    delete_streams(&aws, &[&fx.name, &ctl.name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_records_are_found_under_the_prefix_when_no_error_prefix_is_set() {
    let aws = aws().await;
    let opts = Opts {
        lambda: true,
        no_error_prefix: true,
        ..Default::default()
    };
    let fx = fixture(&aws, "deferr", opts).await;
    let ctl = fixture(&aws, "rooterr", opts).await;
    let record = br#"{"attemptsMade":4,"errorCode":"Lambda.FunctionError","errorMessage":"boom","lambdaArn":"arn"}"#;
    let hour = Utc::now().format("%Y/%m/%d/%H").to_string();
    // AWS: with ErrorOutputPrefix null, failed records go under <Prefix><type>/YYYY/MM/DD/HH/.
    let put = |bucket: String, key: String| {
        let aws = &aws;
        async move {
            aws.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from(record.to_vec()))
                .send()
                .await
                .unwrap();
        }
    };
    put(
        fx.bucket.clone(),
        format!("data/processing-failed/{hour}/fail-1"),
    )
    .await;
    // Control: an object at the bucket root's processing-failed/ is not where this stream's
    // failures go.
    put(
        ctl.bucket.clone(),
        format!("processing-failed/{hour}/fail-1"),
    )
    .await;
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "s3.processing_failed");
    let f = d
        .findings
        .iter()
        .find(|f| f.check == "s3.processing_failed")
        .unwrap();
    assert!(
        f.summary.contains("Lambda.FunctionError") && f.summary.contains("data/processing-failed/"),
        "{}",
        f.summary
    );
    let c = diagnose(&ctl.name).await;
    assert_eq!(st(&c, "s3.processing_failed"), Status::Pass, "{}", dump(&c));
    delete_streams(&aws, &[&fx.name, &ctl.name]).await;
}

/// Diagnose `desc` (as given) with the real SDK against the emulator.
async fn diagnose_desc(api: Arc<dyn DiagnosisApi>, desc: &StreamDescription) -> Diagnosis {
    let checks = Checks::new(
        api,
        DiagnosisSettings {
            check_timeout: std::time::Duration::from_secs(20),
            concurrency: 4,
        },
    );
    checks
        .run(desc, Window::aligned(Utc::now(), 60, 0, 10), Utc::now())
        .await
}

async fn clients() -> Arc<AwsClients> {
    let factory = ClientFactory::new(aws_settings(), Metrics::new());
    factory.clients(&factory.default_key()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_glue_table_is_blamed_for_format_conversion() {
    let aws = aws().await;
    let fx = fixture(&aws, "glue", Opts::default()).await;
    let db = fx.name.replace('-', "_");
    aws.glue
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(&db)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    aws.glue
        .create_table()
        .database_name(&db)
        .table_input(
            aws_sdk_glue::types::TableInput::builder()
                .name("events")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // The role may read the schema (the control needs it; the missing table is the point).
    aws.iam.put_role_policy().role_name(&fx.role_name).policy_name("glue")
        .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"], "Resource": "*"}]}).to_string())
        .send().await.unwrap();
    let api = clients().await;
    // moto's Firehose does not keep DataFormatConversionConfiguration: the description is
    // the real one with the conversion AWS would describe added; the Glue reads are real.
    let mut desc = api.describe_delivery_stream(&fx.name).await.unwrap();
    let conversion = |table: &str| FormatConversion {
        catalog_id: None,
        database: db.clone(),
        table: table.into(),
        region: Some(REGION.into()),
        version_id: Some("LATEST".into()),
        role_arn: None,
    };
    desc.s3.as_mut().unwrap().format_conversion = Some(conversion("missing"));
    let d = diagnose_desc(api.clone(), &desc).await;
    assert_cause(&d, "glue.format_conversion");
    desc.s3.as_mut().unwrap().format_conversion = Some(conversion("events"));
    let c = diagnose_desc(api, &desc).await;
    assert_eq!(
        st(&c, "glue.format_conversion"),
        Status::Pass,
        "{}",
        dump(&c)
    );
    delete_streams(&aws, &[&fx.name]).await;
}

/// The real SDK against the emulator, except the bucket's owner: moto ignores
/// `ExpectedBucketOwner`, where AWS answers 403 for a bucket of another account.
struct ForeignBucket(Arc<AwsClients>);

#[async_trait]
impl MetricsApi for ForeignBucket {
    async fn get_metric_data(
        &self,
        q: &[MetricQuery],
        s: DateTime<Utc>,
        e: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, AwsError> {
        self.0.get_metric_data(q, s, e).await
    }
}

#[async_trait]
impl DiagnosisApi for ForeignBucket {
    async fn head_bucket(&self, b: &str) -> Result<(), AwsError> {
        self.0.head_bucket(b).await
    }
    async fn bucket_owned_by(&self, _b: &str, _a: &str) -> Result<bool, AwsError> {
        Ok(false)
    }
    async fn bucket_encryption(&self, b: &str) -> Result<Option<BucketEncryption>, AwsError> {
        self.0.bucket_encryption(b).await
    }
    async fn bucket_policy(&self, b: &str) -> Result<Option<String>, AwsError> {
        self.0.bucket_policy(b).await
    }
    async fn list_objects(
        &self,
        b: &str,
        p: &str,
        s: Option<&str>,
        m: usize,
    ) -> Result<Vec<ObjectInfo>, AwsError> {
        self.0.list_objects(b, p, s, m).await
    }
    async fn get_object(&self, b: &str, k: &str, m: usize) -> Result<Vec<u8>, AwsError> {
        self.0.get_object(b, k, m).await
    }
    async fn role(&self, n: &str) -> Result<RoleInfo, AwsError> {
        self.0.role(n).await
    }
    async fn role_policies(&self, n: &str) -> Result<Vec<NamedPolicy>, AwsError> {
        self.0.role_policies(n).await
    }
    async fn simulate(
        &self,
        r: &str,
        a: &[String],
        res: &[String],
        c: &[(String, Vec<String>)],
    ) -> Result<Vec<Simulated>, AwsError> {
        self.0.simulate(r, a, res, c).await
    }
    async fn describe_key(&self, k: &str) -> Result<KeyInfo, AwsError> {
        self.0.describe_key(k).await
    }
    async fn key_policy(&self, k: &str) -> Result<String, AwsError> {
        self.0.key_policy(k).await
    }
    async fn function(&self, n: &str, q: Option<&str>) -> Result<FunctionInfo, AwsError> {
        self.0.function(n, q).await
    }
    async fn kinesis_stream(&self, n: &str) -> Result<KinesisInfo, AwsError> {
        self.0.kinesis_stream(n).await
    }
    async fn log_events(
        &self,
        g: &str,
        s: DateTime<Utc>,
        e: DateTime<Utc>,
        l: usize,
    ) -> Result<Vec<LogEvent>, AwsError> {
        self.0.log_events(g, s, e, l).await
    }
    async fn log_group_exists(&self, g: &str) -> Result<bool, AwsError> {
        self.0.log_group_exists(g).await
    }
    async fn organization(&self) -> Result<Option<String>, AwsError> {
        self.0.organization().await
    }
    async fn bucket_ownership(&self, b: &str) -> Result<Option<String>, AwsError> {
        self.0.bucket_ownership(b).await
    }
    async fn bucket_region(&self, b: &str) -> Result<String, AwsError> {
        self.0.bucket_region(b).await
    }
    async fn glue_table(&self, c: Option<&str>, d: &str, t: &str) -> Result<GlueTable, AwsError> {
        self.0.glue_table(c, d, t).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_of_another_account_needs_an_allow_for_the_role() {
    let aws = aws().await;
    let fx = fixture(&aws, "xacct", Opts::default()).await;
    let ctl = fixture(&aws, "xacctok", Opts::default()).await;
    // Control: the bucket owner allows the role.
    bucket_policy(&aws, &ctl.bucket, json!([{"Sid": "AllowDelivery", "Effect": "Allow",
        "Principal": {"AWS": ctl.role_arn}, "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{}", ctl.bucket), format!("arn:aws:s3:::{}/*", ctl.bucket)]}])).await;
    let api: Arc<dyn DiagnosisApi> = Arc::new(ForeignBucket(clients().await));
    let real = clients().await;
    let d = diagnose_desc(
        api.clone(),
        &real.describe_delivery_stream(&fx.name).await.unwrap(),
    )
    .await;
    assert_eq!(st(&d, "s3.bucket_policy"), Status::Fail, "{}", dump(&d));
    let f = d
        .findings
        .iter()
        .find(|f| f.check == "s3.bucket_policy")
        .unwrap();
    assert!(f.summary.contains("another account"), "{}", f.summary);
    // Without BucketOwnerEnforced ownership, the role must also set the owner's ACL.
    let iam = d.findings.iter().find(|f| f.check == "iam.s3").unwrap();
    assert_eq!(iam.status, Status::Fail, "{}", dump(&d));
    assert!(
        iam.remediation.contains("s3:PutObjectAcl"),
        "{}",
        iam.remediation
    );
    let c = diagnose_desc(
        api,
        &real.describe_delivery_stream(&ctl.name).await.unwrap(),
    )
    .await;
    assert_eq!(st(&c, "s3.bucket_policy"), Status::Pass, "{}", dump(&c));
    delete_streams(&aws, &[&fx.name, &ctl.name]).await;
}
