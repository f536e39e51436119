//! The real AWS SDK behind the traits of [`crate::aws`]: one [`ClientFactory`] keyed by
//! (role, region), a per-attempt metrics interceptor, and error classification.
//!
//! This is the only module that names SDK types. `aws.endpoint_url` points every client at an
//! emulator or a private endpoint; otherwise the SDK's default credential chain applies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, TimeZone, Utc};

mod diagnosis;
mod trail;

use super::{
    AwsError, BackupDestination, FirehoseApi, FormatConversion, Logging, MetricQuery, MetricSeries,
    MetricsApi, S3Destination, Source, StreamDescription, StreamSse,
};
use crate::config::AwsSettings;
use crate::telemetry::metrics::Metrics;

/// Which credentials and region a set of clients serves. More accounts or regions are more
/// keys; the poller and the checks never build clients themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub role_arn: Option<String>,
    /// Passed when assuming `role_arn` (redacted in every rendering).
    pub external_id: Option<crate::secret::Secret>,
    pub region: Option<String>,
}

impl ClientKey {
    /// The key of one region of a target.
    pub fn of(target: &crate::config::TargetSettings, region: Option<&str>) -> Self {
        ClientKey {
            role_arn: target.role_arn.clone(),
            external_id: target.external_id.clone(),
            region: region.map(str::to_string),
        }
    }
}

/// Builds and caches one [`AwsClients`] per [`ClientKey`].
pub struct ClientFactory {
    settings: AwsSettings,
    metrics: Metrics,
    cache: Mutex<HashMap<ClientKey, Arc<AwsClients>>>,
}

impl ClientFactory {
    pub fn new(settings: AwsSettings, metrics: Metrics) -> Self {
        ClientFactory {
            settings,
            metrics,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The key of the configured default account and region.
    pub fn default_key(&self) -> ClientKey {
        ClientKey {
            role_arn: self.settings.role_arn.clone(),
            external_id: None,
            region: self.settings.region.clone(),
        }
    }

    /// Clients for `key`, built on first use.
    pub async fn clients(&self, key: &ClientKey) -> Arc<AwsClients> {
        if let Some(c) = self.cache.lock().ok().and_then(|c| c.get(key).cloned()) {
            return c;
        }
        let clients = Arc::new(AwsClients::build(&self.settings, key, &self.metrics).await);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key.clone(), clients.clone());
        }
        clients
    }
}

/// One SDK client per service, sharing credentials, region, timeouts and retries.
pub struct AwsClients {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub glue: aws_sdk_glue::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub sts: aws_sdk_sts::Client,
    /// What regional S3 clients are built from (a bucket in another region).
    s3_config: aws_sdk_s3::config::Builder,
    /// The region of this client set.
    region: Option<String>,
    /// S3 clients for buckets outside `region`, and each bucket's region, learnt once.
    s3_regional: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    /// What CloudTrail clients of other regions are built from (IAM events are in
    /// us-east-1), and those built so far.
    trail_config: aws_sdk_cloudtrail::config::Builder,
    trail_regional: Mutex<HashMap<String, aws_sdk_cloudtrail::Client>>,
    bucket_regions: Mutex<HashMap<String, String>>,
}

impl AwsClients {
    /// The region these clients call (configured, or chosen by the SDK's region chain).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The S3 client for `bucket`: its region's, when it is not this client set's. S3 answers
    /// a request to the wrong region with a redirect (301), so every bucket read follows the
    /// bucket's region (`GetBucketLocation`, learnt once).
    pub async fn s3_for(&self, bucket: &str) -> aws_sdk_s3::Client {
        let known = self
            .bucket_regions
            .lock()
            .ok()
            .and_then(|m| m.get(bucket).cloned());
        let region = match known {
            Some(r) => Some(r),
            None => match self.s3.get_bucket_location().bucket(bucket).send().await {
                Ok(out) => {
                    let r = match out.location_constraint().map(|c| c.as_str()) {
                        None | Some("") => "us-east-1".to_string(),
                        Some("EU") => "eu-west-1".to_string(),
                        Some(r) => r.to_string(),
                    };
                    if let Ok(mut m) = self.bucket_regions.lock() {
                        m.insert(bucket.to_string(), r.clone());
                    }
                    Some(r)
                }
                // Missing bucket, denied, unreachable: the call itself will say so.
                Err(_) => None,
            },
        };
        match region {
            Some(r) if Some(&r) != self.region.as_ref() => {
                let mut cache = match self.s3_regional.lock() {
                    Ok(c) => c,
                    Err(p) => p.into_inner(),
                };
                cache
                    .entry(r.clone())
                    .or_insert_with(|| {
                        aws_sdk_s3::Client::from_conf(
                            self.s3_config
                                .clone()
                                .region(aws_config::Region::new(r))
                                .build(),
                        )
                    })
                    .clone()
            }
            _ => self.s3.clone(),
        }
    }

    async fn build(settings: &AwsSettings, key: &ClientKey, metrics: &Metrics) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(settings.timeout)
                    .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(5)))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts));
        if let Some(r) = &key.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &settings.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let mut sdk = loader.load().await;
        if let Some(role) = &key.role_arn {
            // The SDK's own provider: it caches the session and refreshes it before expiry.
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("firehose-sentinel");
            if let Some(x) = &key.external_id {
                builder = builder.external_id(x.expose());
            }
            let provider = builder.configure(&sdk).build().await;
            sdk = sdk
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
        }
        let i = MetricsInterceptor {
            metrics: metrics.clone(),
        };
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(&sdk)
                        .interceptor(i.clone())
                        .build(),
                )
            };
        }
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.s3_force_path_style)
            .interceptor(i.clone());
        AwsClients {
            cloudwatch: client!(aws_sdk_cloudwatch),
            firehose: client!(aws_sdk_firehose),
            logs: client!(aws_sdk_cloudwatchlogs),
            organizations: client!(aws_sdk_organizations),
            glue: client!(aws_sdk_glue),
            s3: aws_sdk_s3::Client::from_conf(s3_config.clone().build()),
            s3_config,
            region: sdk.region().map(|r| r.to_string()),
            s3_regional: Mutex::new(HashMap::new()),
            trail_config: aws_sdk_cloudtrail::config::Builder::from(&sdk).interceptor(i.clone()),
            trail_regional: Mutex::new(HashMap::new()),
            bucket_regions: Mutex::new(HashMap::new()),
            iam: client!(aws_sdk_iam),
            kms: client!(aws_sdk_kms),
            lambda: client!(aws_sdk_lambda),
            kinesis: client!(aws_sdk_kinesis),
            sts: client!(aws_sdk_sts),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-attempt metrics.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct MetricsInterceptor {
    metrics: Metrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

#[derive(Debug, Clone)]
struct AttemptStart(Instant);
impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

/// Error codes AWS uses for throttling, across query, JSON and REST-XML services.
const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
];

impl Intercept for MetricsInterceptor {
    fn name(&self) -> &'static str {
        "firehose-sentinel-metrics"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(AttemptStart(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let service = service_label(&service);
        let outcome = match ctx.response() {
            Some(resp) => {
                let status = resp.status().as_u16();
                let body = resp.body().bytes().unwrap_or_default();
                let throttled = status == 429
                    || (status == 400 || status == 503)
                        && THROTTLE_CODES.iter().any(|c| {
                            let b = String::from_utf8_lossy(body);
                            b.contains(&format!(">{c}<"))
                                || b.contains(&format!("\"{c}\""))
                                || b.contains(&format!("#{c}\""))
                        });
                if throttled {
                    "throttled"
                } else if (200..300).contains(&status) {
                    "success"
                } else if (400..500).contains(&status) {
                    "client_error"
                } else {
                    "server_error"
                }
            }
            None => match ctx.output_or_error() {
                Some(Err(e)) if e.is_timeout_error() => "timeout",
                Some(Err(e)) => match e.as_connector_error() {
                    Some(c) if c.is_timeout() => "timeout",
                    _ => "connection_error",
                },
                _ => "connection_error",
            },
        };
        self.metrics
            .aws_requests_total
            .with_label_values(&[service, &operation, outcome])
            .inc();
        if let Some(start) = cfg.load::<AttemptStart>() {
            self.metrics
                .aws_request_duration_seconds
                .with_label_values(&[service, &operation])
                .observe(start.0.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

/// Bounded, lower-case service label from the SDK's service name.
fn service_label(sdk_name: &str) -> &'static str {
    match sdk_name
        .to_ascii_lowercase()
        .replace([' ', '-'], "")
        .as_str()
    {
        "cloudwatch" | "monitoring" => "cloudwatch",
        "firehose" => "firehose",
        "cloudwatchlogs" | "logs" => "logs",
        "s3" => "s3",
        "iam" => "iam",
        "kms" => "kms",
        "lambda" => "lambda",
        "kinesis" => "kinesis",
        "sts" => "sts",
        "organizations" => "organizations",
        "glue" => "glue",
        _ => "other",
    }
}

// ---------------------------------------------------------------------------------------------
// Error classification.
// ---------------------------------------------------------------------------------------------

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ResourceNotFound",
    "NoSuchBucket",
    "NoSuchEntity",
    "NoSuchKey",
    "NotFoundException",
    "NotFound",
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "EntityNotFoundException",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
];

/// Classify an SDK error for operation `op`.
pub fn classify<E>(op: &str, err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let operation = op.to_string();
    if let Some(c) = credentials_error(&err) {
        return c(operation);
    }
    match &err {
        SdkError::TimeoutError(_) => AwsError::Timeout { operation },
        // A timeout below the attempt's is the connect timeout: nothing answered at all, which
        // is a connection failure, not a slow answer (only those make the poller split calls).
        SdkError::DispatchFailure(d) => AwsError::Connection {
            operation,
            message: if d.is_timeout() {
                format!("connect timed out: {}", DisplayChain(&err))
            } else {
                format!("{}", DisplayChain(&err))
            },
        },
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("").to_string();
            let message = se.err().message().unwrap_or("").to_string();
            classify_code(operation, status, code, message)
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            classify_code(
                operation,
                status,
                String::new(),
                format!("{}", DisplayChain(&err)),
            )
        }
        _ => AwsError::Service {
            operation,
            code: "ClientError".into(),
            message: format!("{}", DisplayChain(&err)),
        },
    }
}

/// The credentials could not be had (a role that cannot be assumed, no credentials at all):
/// access denied, whatever the transport phase the SDK reports it in. A provider that timed
/// out is a connection failure.
fn credentials_error(
    err: &(dyn std::error::Error + 'static),
) -> Option<Box<dyn FnOnce(String) -> AwsError>> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = src {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            let message = format!("cannot get credentials: {}", DisplayChain(c));
            return Some(match c {
                CredentialsError::ProviderTimedOut(_) => {
                    Box::new(move |operation| AwsError::Connection { operation, message })
                }
                _ => Box::new(move |operation| AwsError::AccessDenied {
                    operation,
                    code: "CredentialsError".into(),
                    message,
                }),
            });
        }
        src = e.source();
    }
    None
}

fn classify_code(operation: String, status: u16, code: String, message: String) -> AwsError {
    let code = if code.is_empty() {
        match status {
            404 => "NotFound".to_string(),
            403 => "AccessDenied".to_string(),
            s => format!("HTTP{s}"),
        }
    } else {
        code
    };
    if THROTTLE_CODES.contains(&code.as_str()) || status == 429 {
        AwsError::Throttled { operation, message }
    } else if NOT_FOUND_CODES.contains(&code.as_str()) || status == 404 {
        AwsError::NotFound {
            operation,
            code,
            message,
        }
    } else if ACCESS_DENIED_CODES.contains(&code.as_str()) || status == 403 {
        AwsError::AccessDenied {
            operation,
            code,
            message,
        }
    } else {
        AwsError::Service {
            operation,
            code,
            message,
        }
    }
}

/// Renders an error with its sources, one line.
struct DisplayChain<'a>(&'a dyn std::error::Error);
impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

pub(crate) fn to_smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

pub(crate) fn from_smithy_time(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single()
}

// ---------------------------------------------------------------------------------------------
// Firehose.
// ---------------------------------------------------------------------------------------------

/// [`S3Destination`] from either SDK description type (extended or plain S3): they share
/// these accessors but no trait.
macro_rules! s3_destination {
    ($x:expr, $lambda:expr, $lambda_buffer:expr, $dynamic:expr, $backup:expr, $conversion:expr) => {{
        let x = $x;
        let logging = x.cloud_watch_logging_options();
        let hints = x.buffering_hints();
        S3Destination {
            role_arn: x.role_arn().to_string(),
            bucket_arn: x.bucket_arn().to_string(),
            bucket: bucket_from_arn(x.bucket_arn()),
            prefix: x.prefix().map(str::to_string),
            error_output_prefix: x.error_output_prefix().map(str::to_string),
            buffering_interval_seconds: hints.and_then(|b| b.interval_in_seconds()).unwrap_or(300)
                as u32,
            buffering_size_mb: hints.and_then(|b| b.size_in_mbs()).unwrap_or(5) as u32,
            compression: Some(x.compression_format().as_str().to_string()),
            kms_key_arn: x
                .encryption_configuration()
                .and_then(|e| e.kms_encryption_config())
                .map(|k| k.awskms_key_arn().to_string()),
            logging: Logging {
                enabled: logging.and_then(|l| l.enabled()).unwrap_or(false),
                log_group: logging.and_then(|l| l.log_group_name()).map(str::to_string),
                log_stream: logging
                    .and_then(|l| l.log_stream_name())
                    .map(str::to_string),
            },
            lambda_arn: $lambda,
            lambda_buffer_interval_seconds: $lambda_buffer,
            dynamic_partitioning: $dynamic,
            backup: $backup,
            format_conversion: $conversion,
        }
    }};
}

#[async_trait]
impl FirehoseApi for AwsClients {
    async fn list_tags(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
        let mut tags = std::collections::BTreeMap::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .firehose
                .list_tags_for_delivery_stream()
                .delivery_stream_name(name)
                .limit(50)
                .set_exclusive_start_tag_key(start.clone())
                .send()
                .await
                .map_err(|e| classify("ListTagsForDeliveryStream", e))?;
            let page = out.tags();
            for t in page {
                tags.insert(t.key().to_string(), t.value().unwrap_or("").to_string());
            }
            if !out.has_more_tags() || page.is_empty() {
                break;
            }
            start = page.last().map(|t| t.key().to_string());
        }
        Ok(tags)
    }

    async fn caller_account(&self) -> Result<String, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("GetCallerIdentity", e))?;
        out.account()
            .map(str::to_string)
            .ok_or_else(|| AwsError::Service {
                operation: "GetCallerIdentity".into(),
                code: "EmptyResponse".into(),
                message: "no Account in the answer".into(),
            })
    }

    async fn list_delivery_streams(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .firehose
                .list_delivery_streams()
                .limit(1000)
                .set_exclusive_start_delivery_stream_name(start.clone())
                .send()
                .await
                .map_err(|e| classify("ListDeliveryStreams", e))?;
            let page = out.delivery_stream_names();
            names.extend(page.iter().cloned());
            if !out.has_more_delivery_streams() || page.is_empty() {
                break;
            }
            start = page.last().cloned();
        }
        Ok(names)
    }

    async fn describe_delivery_stream(&self, name: &str) -> Result<StreamDescription, AwsError> {
        use aws_sdk_firehose::types::{ProcessorParameterName, ProcessorType};
        let out = self
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .map_err(|e| classify("DescribeDeliveryStream", e))?;
        let d = out
            .delivery_stream_description()
            .ok_or_else(|| AwsError::Service {
                operation: "DescribeDeliveryStream".into(),
                code: "EmptyResponse".into(),
                message: "no DeliveryStreamDescription in the answer".into(),
            })?;
        let failure = d
            .failure_description()
            .map(|f| format!("{}: {}", f.r#type().as_str(), f.details()));
        let kinesis = d
            .source()
            .and_then(|s| s.kinesis_stream_source_description());
        let msk = d.source().and_then(|s| s.msk_source_description());
        let source = match (kinesis, msk) {
            (Some(k), _) => Source::KinesisStream {
                stream_arn: k.kinesis_stream_arn().unwrap_or_default().to_string(),
                role_arn: k.role_arn().unwrap_or_default().to_string(),
            },
            (None, Some(m)) => Source::Msk {
                cluster_arn: m.msk_cluster_arn().unwrap_or_default().to_string(),
                topic: m.topic_name().unwrap_or_default().to_string(),
            },
            (None, None) => match d.delivery_stream_type().as_str() {
                "DirectPut" => Source::DirectPut,
                other => Source::Other {
                    kind: other.to_string(),
                },
            },
        };
        let sse = d
            .delivery_stream_encryption_configuration()
            .map(|e| StreamSse {
                status: e
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                key_type: e.key_type().map(|k| k.as_str().to_string()),
                key_arn: e.key_arn().map(str::to_string),
                failure: e
                    .failure_description()
                    .map(|f| format!("{}: {}", f.r#type().as_str(), f.details())),
            });
        let mut s3 = None;
        let mut other_destination = None;
        if let Some(dest) = d.destinations().first() {
            if let Some(x) = dest.extended_s3_destination_description() {
                let lambda = x
                    .processing_configuration()
                    .filter(|p| p.enabled().unwrap_or(false))
                    .and_then(|p| {
                        p.processors()
                            .iter()
                            .find(|pr| pr.r#type() == &ProcessorType::Lambda)
                    });
                let param = |name: ProcessorParameterName| {
                    lambda.and_then(|pr| {
                        pr.parameters()
                            .iter()
                            .find(|param| param.parameter_name() == &name)
                            .map(|param| param.parameter_value().to_string())
                    })
                };
                let lambda_arn = param(ProcessorParameterName::LambdaArn);
                let lambda_buffer = param(ProcessorParameterName::BufferIntervalInSeconds)
                    .and_then(|v| v.trim().parse::<u32>().ok());
                let dynamic = x
                    .dynamic_partitioning_configuration()
                    .and_then(|c| c.enabled())
                    .unwrap_or(false);
                let backup = x
                    .s3_backup_description()
                    .filter(|_| x.s3_backup_mode().map(|m| m.as_str()) == Some("Enabled"))
                    .map(|b| BackupDestination {
                        bucket_arn: b.bucket_arn().to_string(),
                        bucket: bucket_from_arn(b.bucket_arn()),
                        prefix: b.prefix().map(str::to_string),
                        error_output_prefix: b.error_output_prefix().map(str::to_string),
                    });
                let conversion = x
                    .data_format_conversion_configuration()
                    .filter(|c| c.enabled().unwrap_or(true))
                    .and_then(|c| c.schema_configuration())
                    .map(|sc| FormatConversion {
                        catalog_id: sc.catalog_id().map(str::to_string),
                        database: sc.database_name().unwrap_or_default().to_string(),
                        table: sc.table_name().unwrap_or_default().to_string(),
                        region: sc.region().map(str::to_string),
                        version_id: sc.version_id().map(str::to_string),
                        role_arn: sc.role_arn().map(str::to_string),
                    });
                s3 = Some(s3_destination!(
                    x,
                    lambda_arn,
                    lambda_buffer,
                    dynamic,
                    backup,
                    conversion
                ));
            } else if let Some(x) = dest.s3_destination_description() {
                s3 = Some(s3_destination!(x, None, None, false, None, None));
            } else {
                other_destination = Some(destination_kind(dest));
            }
        }
        Ok(StreamDescription {
            name: d.delivery_stream_name().to_string(),
            arn: d.delivery_stream_arn().to_string(),
            status: d.delivery_stream_status().as_str().to_string(),
            failure,
            source,
            s3,
            other_destination,
            sse,
        })
    }
}

fn bucket_from_arn(arn: &str) -> String {
    arn.rsplit(":::").next().unwrap_or(arn).to_string()
}

fn destination_kind(d: &aws_sdk_firehose::types::DestinationDescription) -> String {
    if d.redshift_destination_description().is_some() {
        "Redshift"
    } else if d.elasticsearch_destination_description().is_some() {
        "Elasticsearch"
    } else if d
        .amazonopensearchservice_destination_description()
        .is_some()
    {
        "OpenSearch"
    } else if d.splunk_destination_description().is_some() {
        "Splunk"
    } else if d.http_endpoint_destination_description().is_some() {
        "HTTP endpoint"
    } else if d.snowflake_destination_description().is_some() {
        "Snowflake"
    } else if d.iceberg_destination_description().is_some() {
        "Iceberg"
    } else {
        "unknown"
    }
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// CloudWatch.
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl MetricsApi for AwsClients {
    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, AwsError> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        // Made for each page (a later page, rare, sends the queries again): no copy kept.
        let sdk_queries = || -> Vec<MetricDataQuery> {
            queries
                .iter()
                .map(|q| {
                    let metric = Metric::builder()
                        .namespace(q.namespace.as_ref())
                        .metric_name(q.metric.as_ref())
                        .set_dimensions(Some(
                            q.dimensions
                                .iter()
                                .map(|(n, v)| {
                                    Dimension::builder().name(n.as_ref()).value(v).build()
                                })
                                .collect(),
                        ))
                        .build();
                    MetricDataQuery::builder()
                        .id(&q.id)
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric)
                                .period(q.period_seconds as i32)
                                .stat(q.stat.as_ref())
                                .build(),
                        )
                        .return_data(true)
                        .build()
                })
                .collect()
        };
        // One series per query, in their order; answers are placed by id.
        let position: HashMap<&str, usize> = queries
            .iter()
            .enumerate()
            .map(|(i, q)| (q.id.as_str(), i))
            .collect();
        let mut result: Vec<MetricSeries> = queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: Vec::new(),
            })
            .collect();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(sdk_queries()))
                .start_time(to_smithy_time(start))
                .end_time(to_smithy_time(end))
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("GetMetricData", e))?;
            for r in out.metric_data_results() {
                let Some(series) = r
                    .id()
                    .and_then(|id| position.get(id))
                    .map(|i| &mut result[*i])
                else {
                    continue;
                };
                for (t, v) in r.timestamps().iter().zip(r.values().iter()) {
                    if let Some(t) = from_smithy_time(t) {
                        if v.is_finite() {
                            series.points.push((t, *v));
                        }
                    }
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        // Newest first from CloudWatch (TimestampDescending), across pages: oldest first, one
        // per time.
        for s in &mut result {
            s.points.sort_by_key(|p| p.0);
            s.points.dedup_by(|a, b| a.0 == b.0);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes() {
        let e = classify_code("HeadBucket".into(), 404, String::new(), "x".into());
        assert!(e.is_not_found());
        let e = classify_code("GetRole".into(), 403, "AccessDenied".into(), "x".into());
        assert!(e.is_access_denied());
        let e = classify_code("GetMetricData".into(), 400, "Throttling".into(), "x".into());
        assert!(matches!(e, AwsError::Throttled { .. }));
        let e = classify_code(
            "GetMetricData".into(),
            400,
            "InvalidParameterValue".into(),
            "x".into(),
        );
        assert_eq!(e.code(), "InvalidParameterValue");
    }

    #[test]
    fn bucket_names() {
        assert_eq!(bucket_from_arn("arn:aws:s3:::my-bucket"), "my-bucket");
    }

    #[test]
    fn service_labels_are_bounded() {
        assert_eq!(service_label("CloudWatch"), "cloudwatch");
        assert_eq!(service_label("CloudWatch Logs"), "logs");
        assert_eq!(service_label("Something"), "other");
    }
}
