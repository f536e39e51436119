//! An in-memory AWS for unit tests and benchmarks: delivery streams and their datapoints, with
//! failures that can be switched on (listing, describing, `GetMetricData`). Only what a cycle
//! reads. Never used by the program itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AwsError, FirehoseApi, Logging, MetricQuery, MetricSeries, MetricsApi, S3Destination, Source,
    StreamDescription,
};

pub const ACCOUNT: &str = "111122223333";

/// A Direct PUT stream to S3 with a 60 s buffer.
pub fn s3_stream(name: &str) -> StreamDescription {
    StreamDescription {
        name: name.into(),
        arn: format!("arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/{name}"),
        status: "ACTIVE".into(),
        failure: None,
        source: Source::DirectPut,
        s3: Some(S3Destination {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/firehose-{name}"),
            bucket_arn: format!("arn:aws:s3:::{name}-bucket"),
            bucket: format!("{name}-bucket"),
            prefix: None,
            error_output_prefix: None,
            buffering_interval_seconds: 60,
            buffering_size_mb: 5,
            compression: None,
            kms_key_arn: None,
            logging: Logging {
                enabled: false,
                log_group: None,
                log_stream: None,
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

fn throttled(operation: &str) -> AwsError {
    AwsError::Throttled {
        operation: operation.into(),
        message: "Rate exceeded (injected)".into(),
    }
}

/// Datapoints by (stream, metric name).
type Points = HashMap<(String, String), BTreeMap<DateTime<Utc>, f64>>;

#[derive(Default)]
pub struct FakeAws {
    streams: Mutex<BTreeMap<String, StreamDescription>>,
    /// (stream, metric name) -> datapoints.
    points: Mutex<Points>,
    pub fail_list: AtomicBool,
    pub fail_metrics: AtomicBool,
    pub get_metric_data_calls: AtomicUsize,
    /// The credentials cannot be had (a role that cannot be assumed): every call fails.
    pub fail_credentials: AtomicBool,
    tags: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// The account and region streams are added in (default: [`ACCOUNT`], us-east-1).
    place: Option<(String, String)>,
    /// KMS keys by id or ARN (the audit's `DescribeKey`).
    pub keys: Mutex<HashMap<String, super::KeyInfo>>,
}

impl FakeAws {
    /// An AWS whose streams are in `account` and `region`.
    pub fn in_place(account: &str, region: &str) -> Self {
        FakeAws {
            place: Some((account.into(), region.into())),
            ..FakeAws::default()
        }
    }

    /// Add a stream; in a placed fake, its ARN is rewritten to the fake's account and region.
    pub fn add(&self, mut d: StreamDescription) {
        if let Some((account, region)) = &self.place {
            d.arn = format!(
                "arn:aws:firehose:{region}:{account}:deliverystream/{}",
                d.name
            );
        }
        self.streams.lock().unwrap().insert(d.name.clone(), d);
    }

    pub fn tag(&self, name: &str, key: &str, value: &str) {
        self.tags
            .lock()
            .unwrap()
            .entry(name.into())
            .or_default()
            .insert(key.into(), value.into());
    }

    fn credentials(&self, operation: &str) -> Result<(), AwsError> {
        if self.fail_credentials.load(Ordering::SeqCst) {
            return Err(AwsError::AccessDenied {
                operation: operation.into(),
                code: "AccessDenied".into(),
                message: "not authorized to perform: sts:AssumeRole (injected)".into(),
            });
        }
        Ok(())
    }

    pub fn remove(&self, name: &str) {
        self.streams.lock().unwrap().remove(name);
    }

    /// A datapoint of `metric` (its CloudWatch name) for `stream`.
    pub fn put(&self, stream: &str, metric: &str, t: DateTime<Utc>, v: f64) {
        self.points
            .lock()
            .unwrap()
            .entry((stream.into(), metric.into()))
            .or_default()
            .insert(t, v);
    }
}

#[async_trait]
impl FirehoseApi for FakeAws {
    async fn list_delivery_streams(&self) -> Result<Vec<String>, AwsError> {
        self.credentials("ListDeliveryStreams")?;
        if self.fail_list.load(Ordering::SeqCst) {
            return Err(throttled("ListDeliveryStreams"));
        }
        Ok(self.streams.lock().unwrap().keys().cloned().collect())
    }

    async fn describe_delivery_stream(&self, name: &str) -> Result<StreamDescription, AwsError> {
        self.credentials("DescribeDeliveryStream")?;
        self.streams
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| AwsError::NotFound {
                operation: "DescribeDeliveryStream".into(),
                code: "ResourceNotFoundException".into(),
                message: format!("{name} not found"),
            })
    }

    async fn list_tags(&self, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
        self.credentials("ListTagsForDeliveryStream")?;
        Ok(self
            .tags
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default())
    }

    async fn caller_account(&self) -> Result<String, AwsError> {
        self.credentials("GetCallerIdentity")?;
        Ok(self
            .place
            .as_ref()
            .map(|(a, _)| a.clone())
            .unwrap_or_else(|| ACCOUNT.to_string()))
    }
}

#[async_trait]
impl super::AuditApi for FakeAws {
    async fn audit_key(&self, key: &str) -> Result<super::KeyInfo, AwsError> {
        self.credentials("DescribeKey")?;
        self.keys
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| AwsError::NotFound {
                operation: "DescribeKey".into(),
                code: "NotFoundException".into(),
                message: format!("key {key} not found"),
            })
    }
    async fn audit_function(
        &self,
        name: &str,
        _qualifier: Option<&str>,
    ) -> Result<super::FunctionInfo, AwsError> {
        Err(AwsError::NotFound {
            operation: "GetFunctionConfiguration".into(),
            code: "ResourceNotFoundException".into(),
            message: format!("function {name} not found"),
        })
    }
    async fn audit_kinesis(&self, name: &str) -> Result<super::KinesisInfo, AwsError> {
        Err(AwsError::NotFound {
            operation: "DescribeStreamSummary".into(),
            code: "ResourceNotFoundException".into(),
            message: format!("stream {name} not found"),
        })
    }
    async fn audit_bucket_encryption(
        &self,
        _bucket: &str,
    ) -> Result<Option<super::BucketEncryption>, AwsError> {
        Ok(None)
    }
}

#[async_trait]
impl MetricsApi for FakeAws {
    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, AwsError> {
        self.get_metric_data_calls.fetch_add(1, Ordering::SeqCst);
        self.credentials("GetMetricData")?;
        if self.fail_metrics.load(Ordering::SeqCst) {
            return Err(throttled("GetMetricData"));
        }
        let points = self.points.lock().unwrap();
        Ok(queries
            .iter()
            .map(|q| {
                let stream = q
                    .dimensions
                    .first()
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let series = points
                    .get(&(stream, q.metric.to_string()))
                    .map(|s| s.range(start..end).map(|(t, v)| (*t, *v)).collect())
                    .unwrap_or_default();
                MetricSeries {
                    id: q.id.clone(),
                    points: series,
                }
            })
            .collect())
    }
}
