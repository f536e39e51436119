//! The context of one diagnosis: the stream, the window, the clock of the diagnosis, and every
//! AWS read a check makes. Each read is made at most once per diagnosis (a `OnceCell` per read
//! and arguments), whichever check asks first; the AWS handle is private, so checks cannot
//! call AWS but through these reads. Checks then evaluate what was read without further I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::arn::{kinesis_stream_name, lambda_parts, role_name};
use super::diag_metrics::{self, DiagMetrics};
use super::policy::Policy;
use crate::aws::{
    AwsError, BucketEncryption, DiagnosisApi, FunctionInfo, GlueTable, KeyInfo, KinesisInfo,
    LogEvent, NamedPolicy, ObjectInfo, RoleInfo, S3Destination, Simulated, Source,
    StreamDescription,
};
use crate::model::Window;

/// What reading a role's identity policies costs the monitor (the `iam.*` checks).
pub const ROLE_POLICY_READS: &[&str] = &[
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
];

type Shared<T> = OnceCell<Result<T, AwsError>>;
type Keyed<T> = Mutex<HashMap<String, Arc<Shared<T>>>>;

/// A role's identity policies, parsed (a document that does not parse is kept as an error).
#[derive(Debug, Clone)]
pub struct RolePolicies {
    pub named: Vec<NamedPolicy>,
    pub parsed: Vec<Policy>,
    pub unparsable: Vec<String>,
}

/// Everything a check may read.
pub struct Ctx<'a> {
    api: &'a dyn DiagnosisApi,
    pub desc: &'a StreamDescription,
    pub window: Window,
    pub now: DateTime<Utc>,
    role: Keyed<RoleInfo>,
    policies: Keyed<RolePolicies>,
    bucket: Shared<()>,
    encryption: Shared<Option<BucketEncryption>>,
    bucket_policy: Shared<Option<String>>,
    keys: Keyed<KeyInfo>,
    key_policies: Keyed<String>,
    function: Shared<FunctionInfo>,
    metrics: Shared<DiagMetrics>,
    firehose_logs: Shared<Vec<LogEvent>>,
    lambda_logs: Shared<Vec<LogEvent>>,
    owned_by: Keyed<bool>,
    objects: Keyed<Vec<ObjectInfo>>,
    object_bodies: Keyed<Vec<u8>>,
    simulations: Keyed<Vec<Simulated>>,
    kinesis: Shared<KinesisInfo>,
    log_groups: Keyed<bool>,
    organization: Shared<Option<String>>,
    ownership: Shared<Option<String>>,
    bucket_region: Shared<String>,
    glue_table: Shared<GlueTable>,
}

fn keyed<T>(map: &Keyed<T>, key: &str) -> Arc<Shared<T>> {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone()
}

impl<'a> Ctx<'a> {
    pub fn new(
        api: &'a dyn DiagnosisApi,
        desc: &'a StreamDescription,
        window: Window,
        now: DateTime<Utc>,
    ) -> Self {
        Ctx {
            api,
            desc,
            window,
            now,
            role: Mutex::default(),
            policies: Mutex::default(),
            bucket: OnceCell::new(),
            encryption: OnceCell::new(),
            bucket_policy: OnceCell::new(),
            keys: Mutex::default(),
            key_policies: Mutex::default(),
            function: OnceCell::new(),
            metrics: OnceCell::new(),
            firehose_logs: OnceCell::new(),
            lambda_logs: OnceCell::new(),
            owned_by: Mutex::default(),
            objects: Mutex::default(),
            object_bodies: Mutex::default(),
            simulations: Mutex::default(),
            kinesis: OnceCell::new(),
            log_groups: Mutex::default(),
            organization: OnceCell::new(),
            ownership: OnceCell::new(),
            bucket_region: OnceCell::new(),
            glue_table: OnceCell::new(),
        }
    }

    pub fn account(&self) -> String {
        self.desc.account()
    }

    pub fn region(&self) -> String {
        self.desc.region()
    }

    pub fn s3(&self) -> Option<&'a S3Destination> {
        self.desc.s3.as_ref()
    }

    pub async fn role(&self, arn: &str) -> Result<RoleInfo, AwsError> {
        let cell = keyed(&self.role, arn);
        cell.get_or_init(|| self.api.role(role_name(arn)))
            .await
            .clone()
    }

    pub async fn role_policies(&self, arn: &str) -> Result<RolePolicies, AwsError> {
        let cell = keyed(&self.policies, arn);
        cell.get_or_init(|| async {
            let named = self.api.role_policies(role_name(arn)).await?;
            let mut parsed = Vec::new();
            let mut unparsable = Vec::new();
            for p in &named {
                match Policy::parse(&p.document) {
                    Ok(x) => parsed.push(x),
                    Err(e) => unparsable.push(format!("{}: {e}", p.name)),
                }
            }
            Ok(RolePolicies {
                named,
                parsed,
                unparsable,
            })
        })
        .await
        .clone()
    }

    pub async fn bucket(&self) -> Result<(), AwsError> {
        let Some(d) = self.s3() else { return Ok(()) };
        self.bucket
            .get_or_init(|| self.api.head_bucket(&d.bucket))
            .await
            .clone()
    }

    pub async fn encryption(&self) -> Result<Option<BucketEncryption>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        self.encryption
            .get_or_init(|| self.api.bucket_encryption(&d.bucket))
            .await
            .clone()
    }

    pub async fn bucket_policy(&self) -> Result<Option<String>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        self.bucket_policy
            .get_or_init(|| self.api.bucket_policy(&d.bucket))
            .await
            .clone()
    }

    pub async fn key(&self, key: &str) -> Result<KeyInfo, AwsError> {
        let cell = keyed(&self.keys, key);
        cell.get_or_init(|| self.api.describe_key(key))
            .await
            .clone()
    }

    pub async fn key_policy(&self, key_id: &str) -> Result<String, AwsError> {
        let cell = keyed(&self.key_policies, key_id);
        cell.get_or_init(|| self.api.key_policy(key_id))
            .await
            .clone()
    }

    pub async fn function(&self) -> Option<Result<FunctionInfo, AwsError>> {
        let arn = self.s3()?.lambda_arn.as_deref()?;
        let (name, qualifier) = lambda_parts(arn);
        Some(
            self.function
                .get_or_init(|| async move { self.api.function(&name, qualifier.as_deref()).await })
                .await
                .clone(),
        )
    }

    /// The KMS key that encrypts the destination's objects: the destination's own
    /// `KMSEncryptionConfig`, else the bucket's default `aws:kms`/`aws:kms:dsse` key.
    /// `Ok(None)`: no KMS encryption. `Ok(Some((None, ..)))`: the AWS managed `aws/s3` key.
    pub async fn destination_key(
        &self,
    ) -> Result<Option<(Option<String>, &'static str)>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        if let Some(k) = &d.kms_key_arn {
            return Ok(Some((
                Some(k.clone()),
                "the destination's EncryptionConfiguration",
            )));
        }
        match self.encryption().await? {
            Some(e) if e.algorithm.starts_with("aws:kms") => Ok(Some((
                e.kms_key_id.clone(),
                "the bucket's default encryption",
            ))),
            _ => Ok(None),
        }
    }

    /// The destination's KMS key, described: the lookup `kms.key` and `iam.kms` share.
    /// `Err`: the monitor could not read the bucket's encryption.
    pub async fn destination_key_info(&self) -> Result<DestKey, AwsError> {
        let Some(d) = self.s3() else {
            return Ok(DestKey::NotApplicable("the destination is not S3".into()));
        };
        let (reference, source) = match self.destination_key().await {
            Ok(Some((Some(k), source))) => (k, source),
            Ok(Some((None, source))) => return Ok(DestKey::AwsManagedS3 { source }),
            Ok(None) => {
                return Ok(DestKey::NotApplicable(
                    "the destination's objects are not encrypted with KMS".into(),
                ))
            }
            Err(e) if e.is_not_found() => {
                return Ok(DestKey::NotApplicable(format!(
                    "bucket {} does not exist (see s3.bucket)",
                    d.bucket
                )))
            }
            Err(e) => return Err(e),
        };
        Ok(match self.key(&reference).await {
            Ok(key) => DestKey::Described { key, source },
            Err(error) => DestKey::Unreadable {
                reference,
                source,
                error,
            },
        })
    }

    /// All diagnosis metrics in one `GetMetricData` request.
    pub async fn metrics(&self) -> Result<DiagMetrics, AwsError> {
        self.metrics
            .get_or_init(|| async {
                let queries = diag_metrics::queries(self.desc, self.window.period_seconds);
                let keys: HashMap<String, String> = queries
                    .iter()
                    .map(|q| {
                        (
                            q.id.clone(),
                            diag_metrics::key(&q.namespace, &q.metric, &q.stat),
                        )
                    })
                    .collect();
                let end = self
                    .window
                    .end
                    .max(self.now - chrono::Duration::seconds(60));
                let series = self
                    .api
                    .get_metric_data(&queries, self.window.start, end)
                    .await?;
                let mut m = DiagMetrics::default();
                for s in series {
                    if let Some(k) = keys.get(&s.id) {
                        m.series.insert(k.clone(), s.points.into_iter().collect());
                    }
                }
                Ok(m)
            })
            .await
            .clone()
    }

    /// Whether `account` owns the destination bucket (`None`: not an S3 destination).
    pub async fn bucket_owned_by(&self, account: &str) -> Option<Result<bool, AwsError>> {
        let d = self.s3()?;
        let cell = keyed(&self.owned_by, account);
        Some(
            cell.get_or_init(|| self.api.bucket_owned_by(&d.bucket, account))
                .await
                .clone(),
        )
    }

    /// Up to `max` objects of the destination bucket under `prefix`, after `start_after`.
    pub async fn list_objects(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Option<Result<Vec<ObjectInfo>, AwsError>> {
        let d = self.s3()?;
        let cell = keyed(
            &self.objects,
            &format!("{prefix}\u{0}{}\u{0}{max}", start_after.unwrap_or("")),
        );
        Some(
            cell.get_or_init(|| self.api.list_objects(&d.bucket, prefix, start_after, max))
                .await
                .clone(),
        )
    }

    /// The first `max_bytes` of an object of the destination bucket.
    pub async fn get_object(
        &self,
        key: &str,
        max_bytes: usize,
    ) -> Option<Result<Vec<u8>, AwsError>> {
        let d = self.s3()?;
        let cell = keyed(&self.object_bodies, &format!("{key}\u{0}{max_bytes}"));
        Some(
            cell.get_or_init(|| self.api.get_object(&d.bucket, key, max_bytes))
                .await
                .clone(),
        )
    }

    /// `iam:SimulatePrincipalPolicy` for the role (the identity checks' second opinion).
    pub async fn simulate(
        &self,
        role_arn: &str,
        actions: &[String],
        resources: &[String],
        context: &[(String, Vec<String>)],
    ) -> Result<Vec<Simulated>, AwsError> {
        let key = format!("{role_arn}\u{0}{actions:?}\u{0}{resources:?}\u{0}{context:?}");
        let cell = keyed(&self.simulations, &key);
        cell.get_or_init(|| self.api.simulate(role_arn, actions, resources, context))
            .await
            .clone()
    }

    /// The Kinesis data stream the delivery stream reads (`None`: another source).
    pub async fn kinesis_stream(&self) -> Option<Result<KinesisInfo, AwsError>> {
        let Source::KinesisStream { stream_arn, .. } = &self.desc.source else {
            return None;
        };
        let name = kinesis_stream_name(stream_arn);
        Some(
            self.kinesis
                .get_or_init(|| self.api.kinesis_stream(name))
                .await
                .clone(),
        )
    }

    /// The organization of the account (`None`: it belongs to none).
    pub async fn organization(&self) -> Result<Option<String>, AwsError> {
        self.organization
            .get_or_init(|| self.api.organization())
            .await
            .clone()
    }

    /// The destination bucket's Object Ownership (`None`: no ownership controls, so ACLs
    /// apply as for `ObjectWriter`).
    pub async fn bucket_ownership(&self) -> Result<Option<String>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        self.ownership
            .get_or_init(|| self.api.bucket_ownership(&d.bucket))
            .await
            .clone()
    }

    /// The destination bucket's region.
    pub async fn bucket_region(&self) -> Result<String, AwsError> {
        let Some(d) = self.s3() else {
            return Ok(self.region());
        };
        self.bucket_region
            .get_or_init(|| self.api.bucket_region(&d.bucket))
            .await
            .clone()
    }

    /// The Glue table of record format conversion (`None`: conversion is not enabled).
    pub async fn glue_table(&self) -> Option<Result<GlueTable, AwsError>> {
        let c = self.s3()?.format_conversion.as_ref()?;
        Some(
            self.glue_table
                .get_or_init(|| {
                    self.api
                        .glue_table(c.catalog_id.as_deref(), &c.database, &c.table)
                })
                .await
                .clone(),
        )
    }

    /// Whether the log group exists.
    pub async fn log_group_exists(&self, group: &str) -> Result<bool, AwsError> {
        let cell = keyed(&self.log_groups, group);
        cell.get_or_init(|| self.api.log_group_exists(group))
            .await
            .clone()
    }

    /// The Firehose error log group of the destination.
    pub fn log_group(&self) -> Option<String> {
        let l = &self.s3()?.logging;
        if !l.enabled {
            return None;
        }
        Some(
            l.log_group
                .clone()
                .unwrap_or_else(|| format!("/aws/kinesisfirehose/{}", self.desc.name)),
        )
    }

    fn log_start(&self) -> DateTime<Utc> {
        self.window.start
    }

    async fn logs(
        &self,
        cell: &'a Shared<Vec<LogEvent>>,
        group: String,
    ) -> Result<Vec<LogEvent>, AwsError> {
        cell.get_or_init(|| async move {
            self.api
                .log_events(&group, self.log_start(), self.now, 1000)
                .await
        })
        .await
        .clone()
    }

    /// Events of the Firehose error log in the window (`None`: logging disabled).
    pub async fn firehose_logs(&'a self) -> Option<Result<Vec<LogEvent>, AwsError>> {
        let group = self.log_group()?;
        Some(self.logs(&self.firehose_logs, group).await)
    }

    /// Events of the processor's log group in the window (`None`: no processor).
    pub async fn lambda_logs(&'a self) -> Option<Result<Vec<LogEvent>, AwsError>> {
        let arn = self.s3()?.lambda_arn.as_deref()?;
        let (name, _) = lambda_parts(arn);
        Some(
            self.logs(&self.lambda_logs, format!("/aws/lambda/{name}"))
                .await,
        )
    }
}

/// The key that encrypts the destination's objects.
#[derive(Debug, Clone)]
pub enum DestKey {
    /// No KMS key applies; the reason.
    NotApplicable(String),
    /// The AWS managed `aws/s3` key (no key id configured).
    AwsManagedS3 {
        source: &'static str,
    },
    /// `DescribeKey` failed (`NotFound`: the key does not exist).
    Unreadable {
        reference: String,
        source: &'static str,
        error: AwsError,
    },
    Described {
        key: KeyInfo,
        source: &'static str,
    },
}
