//! AWS access behind narrow traits that return the program's own types.
//!
//! Nothing outside `aws::sdk` sees an SDK type. The poller and the checks depend on these
//! traits only, so unit tests use in-memory fakes and integration tests the real SDK against
//! an emulator. Errors say which operation failed and whether it was the monitor's own access.

/// Also used by the benchmarks (not part of the program's interface).
#[doc(hidden)]
pub mod fake;
pub mod sdk;

use std::borrow::Cow;
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{ErrorKind, Shape, SourceKind, LAMBDA_DEFAULT_BUFFER_SECONDS};

/// An AWS call that did not succeed, classified so callers can tell the monitor's own missing
/// permission from a missing resource or an outage.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AwsError {
    #[error("{operation}: access denied to the monitor ({code}): {message}")]
    AccessDenied {
        operation: String,
        code: String,
        message: String,
    },
    #[error("{operation}: not found ({code}): {message}")]
    NotFound {
        operation: String,
        code: String,
        message: String,
    },
    #[error("{operation}: throttled after retries: {message}")]
    Throttled { operation: String, message: String },
    #[error("{operation}: timed out")]
    Timeout { operation: String },
    #[error("{operation}: cannot connect: {message}")]
    Connection { operation: String, message: String },
    #[error("{operation}: {code}: {message}")]
    Service {
        operation: String,
        code: String,
        message: String,
    },
}

impl AwsError {
    /// True when AWS could not be reached at all (no answer, as opposed to an error answer).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AwsError::Timeout { .. } | AwsError::Connection { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, AwsError::NotFound { .. })
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(self, AwsError::AccessDenied { .. })
    }

    /// The error code AWS sent, where there was one.
    pub fn code(&self) -> &str {
        match self {
            AwsError::AccessDenied { code, .. }
            | AwsError::NotFound { code, .. }
            | AwsError::Service { code, .. } => code,
            AwsError::Throttled { .. } => "Throttling",
            AwsError::Timeout { .. } => "Timeout",
            AwsError::Connection { .. } => "ConnectionError",
        }
    }

    /// Its kind in `errors_total{kind}`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AwsError::AccessDenied { .. } => ErrorKind::AwsAccessDenied,
            AwsError::NotFound { .. } => ErrorKind::AwsNotFound,
            AwsError::Throttled { .. } => ErrorKind::AwsThrottled,
            AwsError::Timeout { .. } => ErrorKind::AwsTimeout,
            AwsError::Connection { .. } => ErrorKind::AwsConnection,
            AwsError::Service { .. } => ErrorKind::AwsService,
        }
    }
}

/// Where the delivery stream gets its records.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    DirectPut,
    KinesisStream {
        stream_arn: String,
        role_arn: String,
    },
    /// An Amazon MSK topic.
    Msk {
        cluster_arn: String,
        topic: String,
    },
    Other {
        kind: String,
    },
}

/// Error logging of a destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logging {
    pub enabled: bool,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
}

/// An S3 (or extended S3) destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3Destination {
    pub role_arn: String,
    pub bucket_arn: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub error_output_prefix: Option<String>,
    pub buffering_interval_seconds: u32,
    pub buffering_size_mb: u32,
    pub compression: Option<String>,
    /// `EncryptionConfiguration.KMSEncryptionConfig.AWSKMSKeyARN`.
    pub kms_key_arn: Option<String>,
    pub logging: Logging,
    /// ARN of the Lambda processor (with its qualifier), when processing is enabled.
    pub lambda_arn: Option<String>,
    /// The processor's `BufferIntervalInSeconds`, when set (AWS uses 60 s when it is not).
    pub lambda_buffer_interval_seconds: Option<u32>,
    /// `DynamicPartitioningConfiguration.Enabled`.
    pub dynamic_partitioning: bool,
    /// The S3 backup destination, when `S3BackupMode` is `Enabled`.
    #[serde(default)]
    pub backup: Option<BackupDestination>,
    /// Record format conversion (Parquet/ORC), when enabled.
    #[serde(default)]
    pub format_conversion: Option<FormatConversion>,
}

/// Where Firehose backs up the source records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupDestination {
    pub bucket_arn: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub error_output_prefix: Option<String>,
}

/// The Glue table of record format conversion (`SchemaConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatConversion {
    pub catalog_id: Option<String>,
    pub database: String,
    pub table: String,
    pub region: Option<String>,
    pub version_id: Option<String>,
    /// The role Firehose uses to read the schema (the delivery role when not set).
    pub role_arn: Option<String>,
}

/// Server-side encryption of the delivery stream itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamSse {
    pub status: String,
    pub key_type: Option<String>,
    pub key_arn: Option<String>,
    pub failure: Option<String>,
}

/// What `DescribeDeliveryStream` says, reduced to what the sentinel uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamDescription {
    pub name: String,
    pub arn: String,
    pub status: String,
    /// `FailureDescription` as `TYPE: details`.
    pub failure: Option<String>,
    pub source: Source,
    /// `None` when the destination is not S3; `other_destination` then names it.
    pub s3: Option<S3Destination>,
    pub other_destination: Option<String>,
    pub sse: Option<StreamSse>,
}

impl StreamDescription {
    /// Account id from the ARN (`arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME`).
    pub fn account(&self) -> String {
        arn_field(&self.arn, 4).unwrap_or_default()
    }
    pub fn region(&self) -> String {
        arn_field(&self.arn, 3).unwrap_or_default()
    }
    pub fn has_lambda(&self) -> bool {
        self.s3.as_ref().is_some_and(|d| d.lambda_arn.is_some())
    }
    /// Buffering interval in seconds; 300 (the Firehose default) when unknown.
    pub fn buffering_interval(&self) -> u32 {
        self.s3
            .as_ref()
            .map(|d| d.buffering_interval_seconds)
            .unwrap_or(300)
    }

    /// What detection and polling need of this stream.
    pub fn shape(&self) -> Shape {
        let s3 = self.s3.as_ref();
        Shape {
            s3_buffer_seconds: self.buffering_interval(),
            lambda_buffer_seconds: s3.filter(|d| d.lambda_arn.is_some()).map(|d| {
                d.lambda_buffer_interval_seconds
                    .unwrap_or(LAMBDA_DEFAULT_BUFFER_SECONDS)
            }),
            dynamic_partitioning: s3.is_some_and(|d| d.dynamic_partitioning),
            source: match self.source {
                Source::DirectPut => SourceKind::DirectPut,
                Source::KinesisStream { .. } => SourceKind::Kinesis,
                Source::Msk { .. } => SourceKind::Msk,
                Source::Other { .. } => SourceKind::Other,
            },
        }
    }

    /// The name of the Kinesis data stream the delivery stream reads, if that is its source.
    pub fn kinesis_source(&self) -> Option<&str> {
        match &self.source {
            Source::KinesisStream { stream_arn, .. } => {
                Some(stream_arn.rsplit('/').next().unwrap_or(stream_arn))
            }
            _ => None,
        }
    }
}

/// Field `i` (0-based, colon separated) of an ARN.
pub fn arn_field(arn: &str, i: usize) -> Option<String> {
    arn.splitn(6, ':')
        .nth(i)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// One query of a `GetMetricData` call. (Names are mostly constants: `Cow`, not one string
/// allocated per query and cycle.)
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Unique in the call; `[a-z][a-zA-Z0-9_]*`.
    pub id: String,
    pub namespace: Cow<'static, str>,
    pub metric: Cow<'static, str>,
    pub dimensions: Vec<(Cow<'static, str>, String)>,
    pub period_seconds: u32,
    pub stat: Cow<'static, str>,
}

/// What came back for one query: present datapoints only (a missing period is absent),
/// oldest first, one per time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSeries {
    pub id: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// The delivery-stream API the inventory needs.
#[async_trait]
pub trait FirehoseApi: Send + Sync {
    /// All delivery stream names of the region (every page).
    async fn list_delivery_streams(&self) -> Result<Vec<String>, AwsError>;
    /// `Err(AwsError::NotFound)` when the stream does not exist.
    async fn describe_delivery_stream(&self, name: &str) -> Result<StreamDescription, AwsError>;
    /// The stream's tags (`ListTagsForDeliveryStream`, every page).
    async fn list_tags(&self, name: &str) -> Result<BTreeMap<String, String>, AwsError>;
    /// The account these credentials act in (`sts:GetCallerIdentity`, which needs no
    /// permission). Fails when the target's role cannot be assumed.
    async fn caller_account(&self) -> Result<String, AwsError>;
}

/// One CloudTrail management event, as `LookupEvents` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailEvent {
    pub id: String,
    /// As recorded (Lambda's carry an API version: `UpdateFunctionConfiguration20150331v2`).
    pub name: String,
    pub time: DateTime<Utc>,
    pub username: Option<String>,
    pub read_only: bool,
    /// (type, name) of each resource the event names.
    pub resources: Vec<(String, String)>,
    /// `userIdentity.arn` of the event record, when it has one.
    pub actor_arn: Option<String>,
}

/// CloudTrail's event history.
#[async_trait]
pub trait TrailApi: Send + Sync {
    /// One `LookupEvents` page in `region`: the events naming the resource `resource_name`
    /// (one lookup attribute per call, as the API allows) between `start` and `end`, at most
    /// 50, and the token of the next page.
    async fn lookup_events(
        &self,
        region: &str,
        resource_name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<String>,
    ) -> Result<(Vec<TrailEvent>, Option<String>), AwsError>;
}

/// What the risk audit reads besides metrics (a narrow view of [`DiagnosisApi`]).
#[async_trait]
pub trait AuditApi: MetricsApi {
    /// `DescribeKey`.
    async fn audit_key(&self, key: &str) -> Result<KeyInfo, AwsError>;
    /// `GetFunctionConfiguration`.
    async fn audit_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionInfo, AwsError>;
    /// `DescribeStreamSummary`.
    async fn audit_kinesis(&self, name: &str) -> Result<KinesisInfo, AwsError>;
    /// `GetBucketEncryption`.
    async fn audit_bucket_encryption(
        &self,
        bucket: &str,
    ) -> Result<Option<BucketEncryption>, AwsError>;
}

/// The CloudWatch API the poller needs.
#[async_trait]
pub trait MetricsApi: Send + Sync {
    /// One `GetMetricData` request (following `NextToken` pages) for at most 500 queries:
    /// one series per query, in the order of `queries`.
    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, AwsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_fields() {
        let arn = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/orders";
        assert_eq!(arn_field(arn, 3).as_deref(), Some("eu-west-1"));
        assert_eq!(arn_field(arn, 4).as_deref(), Some("123456789012"));
        assert_eq!(arn_field(arn, 5).as_deref(), Some("deliverystream/orders"));
        assert_eq!(arn_field("arn:aws:s3:::bucket", 4), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Diagnosis reads.
// ---------------------------------------------------------------------------------------------

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleInfo {
    pub arn: String,
    pub name: String,
    /// The trust policy document, URL-decoded JSON.
    pub trust_policy: String,
}

/// One identity policy of a role (inline, or the default version of an attached one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedPolicy {
    pub name: String,
    /// ARN of an attached managed policy; `None` for inline policies.
    pub arn: Option<String>,
    pub document: String,
}

/// A bucket's default encryption.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketEncryption {
    /// `AES256`, `aws:kms`, `aws:kms:dsse`.
    pub algorithm: String,
    pub kms_key_id: Option<String>,
    /// S3 Bucket Keys: KMS sees the bucket, not each object, as the encryption context.
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// `DescribeKey`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    pub arn: String,
    pub key_id: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub state: String,
    /// `AWS` or `CUSTOMER`.
    pub manager: String,
    /// When a key `PendingDeletion` will be deleted.
    #[serde(default)]
    pub deletion_date: Option<DateTime<Utc>>,
}

/// `GetFunctionConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionInfo {
    pub arn: String,
    pub state: Option<String>,
    pub state_reason: Option<String>,
    pub last_update_status: Option<String>,
    pub last_update_reason: Option<String>,
    pub timeout_seconds: i32,
}

/// `DescribeStreamSummary` of a Kinesis data stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KinesisInfo {
    pub arn: String,
    pub status: String,
    /// The KMS key of server-side encryption (`KeyId`: an ARN, key id or alias), when the
    /// stream is encrypted with KMS.
    #[serde(default)]
    pub kms_key: Option<String>,
}

/// A Glue table, as format conversion uses it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlueTable {
    pub database: String,
    pub name: String,
    /// Lake Formation governs it: its grants apply on top of IAM.
    pub lake_formation: bool,
}

/// An S3 object listed under a prefix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectInfo {
    pub key: String,
    pub last_modified: Option<DateTime<Utc>>,
    pub size: i64,
}

/// A CloudWatch Logs event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// One answer of `iam:SimulatePrincipalPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulated {
    pub action: String,
    pub resource: String,
    /// `allowed`, `explicitDeny`, `implicitDeny`.
    pub decision: String,
}

/// The reads the root-cause checks make. Every method maps to one IAM action of the monitor
/// (see `diagnose::ctx`, through which the checks read).
#[async_trait]
pub trait DiagnosisApi: MetricsApi {
    /// `Err(NotFound)` when the bucket does not exist.
    async fn head_bucket(&self, bucket: &str) -> Result<(), AwsError>;
    /// Whether `account` owns `bucket` (`HeadBucket` with `ExpectedBucketOwner`).
    async fn bucket_owned_by(&self, bucket: &str, account: &str) -> Result<bool, AwsError>;
    async fn bucket_encryption(&self, bucket: &str) -> Result<Option<BucketEncryption>, AwsError>;
    /// `Ok(None)` when the bucket has no policy.
    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, AwsError>;
    /// Up to `max` objects under `prefix` whose keys sort after `start_after` (one or more
    /// pages, in key order).
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Vec<ObjectInfo>, AwsError>;
    /// The first `max_bytes` of an object.
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, AwsError>;
    async fn role(&self, name: &str) -> Result<RoleInfo, AwsError>;
    /// Inline and attached managed policies (default versions).
    async fn role_policies(&self, name: &str) -> Result<Vec<NamedPolicy>, AwsError>;
    async fn simulate(
        &self,
        role_arn: &str,
        actions: &[String],
        resources: &[String],
        context: &[(String, Vec<String>)],
    ) -> Result<Vec<Simulated>, AwsError>;
    async fn describe_key(&self, key: &str) -> Result<KeyInfo, AwsError>;
    /// The key policy named `default`.
    async fn key_policy(&self, key_id: &str) -> Result<String, AwsError>;
    async fn function(&self, name: &str, qualifier: Option<&str>)
        -> Result<FunctionInfo, AwsError>;
    async fn kinesis_stream(&self, name: &str) -> Result<KinesisInfo, AwsError>;
    /// Events of `group` between `start` and `end`, newest last, at most `limit`.
    async fn log_events(
        &self,
        group: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogEvent>, AwsError>;
    async fn log_group_exists(&self, group: &str) -> Result<bool, AwsError>;
    /// The id of the organization the account belongs to (`None`: it belongs to none).
    async fn organization(&self) -> Result<Option<String>, AwsError>;
    /// The bucket's Object Ownership setting (`None`: no ownership controls).
    async fn bucket_ownership(&self, bucket: &str) -> Result<Option<String>, AwsError>;
    /// The bucket's region (`GetBucketLocation`; an empty constraint is us-east-1).
    async fn bucket_region(&self, bucket: &str) -> Result<String, AwsError>;
    /// A Glue table (`Err(NotFound)` when it or its database does not exist).
    async fn glue_table(
        &self,
        catalog_id: Option<&str>,
        database: &str,
        table: &str,
    ) -> Result<GlueTable, AwsError>;
}
