//! Root-cause scenarios against the emulator: build a healthy stream with every resource it
//! needs, inject one fault, and assert that the right check fails and `root_cause` names it.
//! moto does not deliver or call Lambda: faults in data are injected as metrics, log lines and
//! processing-failed objects.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_firehose::types::*;
use chrono::Utc;
use firehose_sentinel::aws::sdk::ClientFactory;
use firehose_sentinel::aws::FirehoseApi;
use firehose_sentinel::config::{self, DiagnosisSettings};
use firehose_sentinel::diagnose::checks::Checks;
use firehose_sentinel::diagnose::Diagnosis;
use firehose_sentinel::model::Status;
use firehose_sentinel::model::Window;
use firehose_sentinel::telemetry::metrics::Metrics;
use serde_json::json;

use crate::harness::*;

#[derive(Default, Clone, Copy)]
pub(crate) struct Opts {
    pub(crate) kms: bool,
    pub(crate) lambda: bool,
    pub(crate) kinesis: bool,
    pub(crate) sse: bool,
    pub(crate) no_logging: bool,
    /// Create the stream's Lambda ARN without creating the function.
    pub(crate) ghost_lambda: bool,
    /// The S3 buffering interval (60 s when not given).
    pub(crate) s3_buffer: Option<i32>,
    /// The Lambda processor's `BufferIntervalInSeconds`.
    pub(crate) lambda_buffer: Option<u32>,
    /// With `kinesis`: Firehose reads nothing from the source.
    pub(crate) unread_source: bool,
    /// No `ErrorOutputPrefix` (failed records then go under the destination prefix).
    pub(crate) no_error_prefix: bool,
}

pub(crate) struct Fx {
    pub(crate) name: String,
    pub(crate) bucket: String,
    pub(crate) role_name: String,
    pub(crate) role_arn: String,
    pub(crate) key_id: Option<String>,
    pub(crate) key_arn: Option<String>,
    pub(crate) lambda_name: Option<String>,
    pub(crate) kinesis_name: Option<String>,
    pub(crate) log_group: String,
}

fn trust(service: &str) -> String {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":service},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":ACCOUNT}}}]}).to_string()
}

/// The delivery role's inline policy, optionally without some statements.
pub(crate) fn role_policy(fx: &Fx, without: &[&str]) -> String {
    let mut st = vec![];
    if !without.contains(&"s3") {
        st.push(json!({"Sid":"S3","Effect":"Allow","Action":["s3:AbortMultipartUpload","s3:GetBucketLocation","s3:GetObject","s3:ListBucket","s3:ListBucketMultipartUploads","s3:PutObject"],"Resource":[format!("arn:aws:s3:::{}", fx.bucket), format!("arn:aws:s3:::{}/*", fx.bucket)]}));
    } else {
        st.push(json!({"Sid":"S3","Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListBucket","s3:GetObject"],"Resource":[format!("arn:aws:s3:::{}", fx.bucket), format!("arn:aws:s3:::{}/*", fx.bucket)]}));
    }
    if !without.contains(&"logs") {
        st.push(json!({"Sid":"Logs","Effect":"Allow","Action":"logs:PutLogEvents","Resource":format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}:log-stream:*", fx.log_group)}));
    }
    if let (Some(k), false) = (&fx.key_arn, without.contains(&"kms")) {
        st.push(json!({"Sid":"Kms","Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":k,"Condition":{"StringEquals":{"kms:ViaService":format!("s3.{REGION}.amazonaws.com")}}}));
    }
    if let (Some(f), false) = (&fx.lambda_name, without.contains(&"lambda")) {
        st.push(json!({"Sid":"Lambda","Effect":"Allow","Action":["lambda:InvokeFunction","lambda:GetFunctionConfiguration"],"Resource":format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{f}:*")}));
    }
    if let (Some(k), false) = (&fx.kinesis_name, without.contains(&"kinesis")) {
        st.push(json!({"Sid":"Kinesis","Effect":"Allow","Action":["kinesis:DescribeStream","kinesis:GetShardIterator","kinesis:GetRecords","kinesis:ListShards"],"Resource":format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{k}")}));
    }
    json!({"Version":"2012-10-17","Statement":st}).to_string()
}

pub(crate) async fn set_role_policy(aws: &Aws, fx: &Fx, doc: &str) {
    aws.iam
        .put_role_policy()
        .role_name(&fx.role_name)
        .policy_name("delivery")
        .policy_document(doc)
        .send()
        .await
        .unwrap();
}

/// An empty but valid zip archive.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

pub(crate) async fn fixture(aws: &Aws, prefix: &str, o: Opts) -> Fx {
    let name = unique(prefix);
    let bucket = format!("{}-bucket", name.to_lowercase());
    aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let role_name = format!("{name}-role");
    let role_arn = aws
        .iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(trust("firehose.amazonaws.com"))
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let log_group = format!("/aws/kinesisfirehose/{name}");
    aws.logs
        .create_log_group()
        .log_group_name(&log_group)
        .send()
        .await
        .unwrap();
    aws.logs
        .create_log_stream()
        .log_group_name(&log_group)
        .log_stream_name("DestinationDelivery")
        .send()
        .await
        .unwrap();
    let (mut key_id, mut key_arn) = (None, None);
    if o.kms || o.sse {
        let k = aws.kms.create_key().send().await.unwrap();
        let m = k.key_metadata().unwrap();
        key_id = Some(m.key_id().to_string());
        key_arn = m.arn().map(str::to_string);
    }
    let mut lambda_name = None;
    if o.lambda || o.ghost_lambda {
        let f = format!("{name}-fn");
        if o.lambda {
            let lr = format!("{name}-lambda-role");
            let lr_arn = aws
                .iam
                .create_role()
                .role_name(&lr)
                .assume_role_policy_document(trust("lambda.amazonaws.com"))
                .send()
                .await
                .unwrap()
                .role()
                .unwrap()
                .arn()
                .to_string();
            aws.lambda
                .create_function()
                .function_name(&f)
                .runtime(aws_sdk_lambda::types::Runtime::Python312)
                .role(lr_arn)
                .handler("index.handler")
                .timeout(30)
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(EMPTY_ZIP.to_vec()))
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        lambda_name = Some(f);
    }
    let mut kinesis_name = None;
    if o.kinesis {
        let k = format!("{name}-src");
        aws.kinesis
            .create_stream()
            .stream_name(&k)
            .shard_count(1)
            .send()
            .await
            .unwrap();
        kinesis_name = Some(k);
    }
    let fx = Fx {
        name,
        bucket,
        role_name,
        role_arn,
        key_id,
        key_arn,
        lambda_name,
        kinesis_name,
        log_group,
    };
    set_role_policy(aws, &fx, &role_policy(&fx, &[])).await;

    let spec = StreamSpec {
        buffering_seconds: o.s3_buffer.unwrap_or(60),
        lambda_buffer_seconds: o.lambda_buffer,
        lambda_arn: fx
            .lambda_name
            .as_ref()
            .map(|f| format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{f}:$LATEST")),
        kms_key_arn: fx.key_arn.clone().filter(|_| o.kms),
        logging: !o.no_logging,
        prefix: Some("data/!{timestamp:yyyy/MM/dd}/".into()),
        error_output_prefix: (!o.no_error_prefix)
            .then(|| "errors/!{firehose:error-output-type}/".to_string()),
    };
    let dest = destination(&fx.name, &fx.bucket, &fx.role_arn, &spec);
    let mut req = aws
        .firehose
        .create_delivery_stream()
        .delivery_stream_name(&fx.name)
        .extended_s3_destination_configuration(dest);
    if let Some(k) = &fx.kinesis_name {
        req = req
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{k}"))
                    .role_arn(&fx.role_arn)
                    .build()
                    .unwrap(),
            );
    } else {
        req = req.delivery_stream_type(DeliveryStreamType::DirectPut);
    }
    req.send().await.unwrap();
    if o.sse {
        aws.firehose
            .start_delivery_stream_encryption()
            .delivery_stream_name(&fx.name)
            .delivery_stream_encryption_configuration_input(
                DeliveryStreamEncryptionConfigurationInput::builder()
                    .key_type(KeyType::CustomerManagedCmk)
                    .key_arn(fx.key_arn.clone().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    // Records arrive (and, for a Kinesis source, are read).
    for k in [3, 2] {
        put_metric(aws, &fx.name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(aws, &fx.name, "IncomingBytes", minutes_ago(k), 10_000.0).await;
        if o.kinesis && !o.unread_source {
            put_metric(
                aws,
                &fx.name,
                "DataReadFromKinesisStream.Records",
                minutes_ago(k),
                100.0,
            )
            .await;
        }
    }
    fx
}

pub(crate) fn aws_settings() -> config::AwsSettings {
    let m = moto();
    let text = format!("[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\ntimeout = \"10s\"\nmax_attempts = 2\n[streams]\nnames = [\"x\"]\n", m.endpoint);
    config::load_from_str(&text, std::path::Path::new("diag.toml"), &HashMap::new())
        .unwrap()
        .aws
}

pub(crate) async fn diagnose_with(name: &str, metrics: Metrics) -> Diagnosis {
    let factory = ClientFactory::new(aws_settings(), metrics);
    let clients = factory.clients(&factory.default_key()).await;
    let desc = clients.describe_delivery_stream(name).await.unwrap();
    let checks = Checks::new(
        clients,
        DiagnosisSettings {
            check_timeout: Duration::from_secs(20),
            concurrency: 4,
        },
    );
    let window = Window::aligned(Utc::now(), 60, 0, 10);
    checks.run(&desc, window, Utc::now()).await
}

pub(crate) async fn diagnose(name: &str) -> Diagnosis {
    diagnose_with(name, Metrics::new()).await
}

pub(crate) fn st(d: &Diagnosis, id: &str) -> Status {
    d.findings
        .iter()
        .find(|f| f.check == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .status
}

pub(crate) fn dump(d: &Diagnosis) -> String {
    d.findings
        .iter()
        .map(|f| format!("{} {:?}: {}", f.check, f.status, f.summary))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run the binary with `args` followed by the config path.
fn cli(args: &[&str], cfg: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_firehose-sentinel"))
        .args(args)
        .arg(cfg)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap()
}

/// Assert that `id` fails and is the root cause.
pub(crate) fn assert_cause(d: &Diagnosis, id: &str) {
    assert_eq!(st(d, id), Status::Fail, "{id} should fail:\n{}", dump(d));
    assert_eq!(
        d.root_cause.as_deref(),
        Some(id),
        "root cause:\n{}",
        dump(d)
    );
    assert!(
        d.findings.iter().all(|f| f.status != Status::Error),
        "no check may error:\n{}",
        dump(d)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_full_stream_has_no_failing_check() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "healthy",
        Opts {
            kms: true,
            lambda: true,
            ..Default::default()
        },
    )
    .await;
    put_metric(
        &aws,
        &fx.name,
        "ExecuteProcessing.Success",
        minutes_ago(2),
        1.0,
    )
    .await;
    let t0 = Instant::now();
    let d = diagnose(&fx.name).await;
    let took = t0.elapsed();
    println!(
        "full diagnosis of one stream against the emulator: {:.0} ms",
        took.as_secs_f64() * 1000.0
    );
    assert!(
        d.findings
            .iter()
            .all(|f| !matches!(f.status, Status::Fail | Status::Error | Status::Warn)),
        "{}",
        dump(&d)
    );
    assert_eq!(d.root_cause, None);
    assert_eq!(
        d.findings.len(),
        firehose_sentinel::diagnose::checks::ALL_IDS.len()
    );
    for id in [
        "kms.key",
        "iam.kms",
        "lambda.function",
        "iam.lambda",
        "lambda.invocation",
        "s3.processing_failed",
        "iam.logs",
        "logging.enabled",
        "logging.errors",
    ] {
        assert_eq!(st(&d, id), Status::Pass, "{id}:\n{}", dump(&d));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_missing() {
    let aws = aws().await;
    let fx = fixture(&aws, "nobucket", Opts::default()).await;
    aws.s3
        .delete_bucket()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    assert_cause(&diagnose(&fx.name).await, "s3.bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_role_trust_policy() {
    let aws = aws().await;
    let fx = fixture(&aws, "trust", Opts::default()).await;
    aws.iam
        .update_assume_role_policy()
        .role_name(&fx.role_name)
        .policy_document(trust("lambda.amazonaws.com"))
        .send()
        .await
        .unwrap();
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "iam.role");
    assert!(d.findings[2].remediation.contains("firehose.amazonaws.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_key_disabled() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "kmsoff",
        Opts {
            kms: true,
            ..Default::default()
        },
    )
    .await;
    aws.kms
        .disable_key()
        .key_id(fx.key_id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "kms.key");
    assert!(d.root_finding().unwrap().summary.contains("Disabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_s3_missing_put_object() {
    let aws = aws().await;
    let fx = fixture(&aws, "nos3", Opts::default()).await;
    set_role_policy(&aws, &fx, &role_policy(&fx, &["s3"])).await;
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "iam.s3");
    let f = d.root_finding().unwrap();
    assert!(
        f.summary.contains("s3:PutObject") && f.summary.contains("s3:AbortMultipartUpload"),
        "{}",
        f.summary
    );
    assert!(
        f.remediation
            .contains(&format!("arn:aws:s3:::{}/data/*", fx.bucket)),
        "{}",
        f.remediation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_kms_missing_with_delegating_key_policy() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "nokms",
        Opts {
            kms: true,
            ..Default::default()
        },
    )
    .await;
    set_role_policy(&aws, &fx, &role_policy(&fx, &["kms"])).await;
    let d = diagnose(&fx.name).await;
    assert_eq!(
        st(&d, "kms.key"),
        Status::Pass,
        "moto's default key policy delegates to IAM:\n{}",
        dump(&d)
    );
    assert_cause(&d, "iam.kms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_policy_denies_outside_vpc_endpoint() {
    let aws = aws().await;
    let fx = fixture(&aws, "bpol", Opts::default()).await;
    let policy = json!({"Version":"2012-10-17","Statement":[{"Sid":"DenyOutsideVpce","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":[format!("arn:aws:s3:::{}", fx.bucket), format!("arn:aws:s3:::{}/*", fx.bucket)],"Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0a1b2c3d"}}}]});
    aws.s3
        .put_bucket_policy()
        .bucket(&fx.bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "s3.bucket_policy");
    assert!(d
        .root_finding()
        .unwrap()
        .summary
        .contains("DenyOutsideVpce"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_function_missing() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "nofn",
        Opts {
            ghost_lambda: true,
            ..Default::default()
        },
    )
    .await;
    assert_cause(&diagnose(&fx.name).await, "lambda.function");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_lambda_missing() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "nolam",
        Opts {
            lambda: true,
            ..Default::default()
        },
    )
    .await;
    set_role_policy(&aws, &fx, &role_policy(&fx, &["lambda"])).await;
    assert_cause(&diagnose(&fx.name).await, "iam.lambda");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_invocation_times_out() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "lamto",
        Opts {
            lambda: true,
            ..Default::default()
        },
    )
    .await;
    let f = fx.lambda_name.clone().unwrap();
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    for (m, v) in [("Duration", 29_800.0), ("Errors", 2.0)] {
        aws.cloudwatch
            .put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(
                MetricDatum::builder()
                    .metric_name(m)
                    .dimensions(Dimension::builder().name("FunctionName").value(&f).build())
                    .timestamp(aws_smithy_types::DateTime::from_secs(
                        minutes_ago(2).timestamp(),
                    ))
                    .value(v)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "lambda.invocation");
    assert!(
        d.root_finding().unwrap().summary.contains("times out"),
        "{}",
        dump(&d)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_processing_failed_objects() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "pfail",
        Opts {
            lambda: true,
            ..Default::default()
        },
    )
    .await;
    let rec = json!({"attemptsMade":4,"arrivalTimestamp":1764126000000u64,"errorCode":"Lambda.FunctionError","errorMessage":"The Lambda function was successfully invoked but it returned an error result.","lambdaArn":format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}:$LATEST", fx.lambda_name.as_ref().unwrap()),"rawData":"eyJhIjoxfQ=="});
    aws.s3
        .put_object()
        .bucket(&fx.bucket)
        .key(format!("errors/processing-failed/{}-1", fx.name))
        .body(format!("{rec}\n").into_bytes().into())
        .send()
        .await
        .unwrap();
    let d = diagnose(&fx.name).await;
    assert_cause(&d, "s3.processing_failed");
    assert_eq!(
        d.root_finding().unwrap().evidence["newest_record"]["errorCode"],
        "Lambda.FunctionError"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_kinesis_missing() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "nosrc",
        Opts {
            kinesis: true,
            ..Default::default()
        },
    )
    .await;
    aws.kinesis
        .delete_stream()
        .stream_name(fx.kinesis_name.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_cause(&diagnose(&fx.name).await, "source.kinesis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_kinesis_missing() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "nokin",
        Opts {
            kinesis: true,
            ..Default::default()
        },
    )
    .await;
    set_role_policy(&aws, &fx, &role_policy(&fx, &["kinesis"])).await;
    assert_cause(&diagnose(&fx.name).await, "iam.kinesis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_sse_key_disabled() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "sseoff",
        Opts {
            sse: true,
            ..Default::default()
        },
    )
    .await;
    aws.kms
        .disable_key()
        .key_id(fx.key_id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_cause(&diagnose(&fx.name).await, "kms.sse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_errors_are_read_and_mapped() {
    let aws = aws().await;
    let fx = fixture(&aws, "logerr", Opts::default()).await;
    let now = Utc::now().timestamp_millis();
    let events: Vec<aws_sdk_cloudwatchlogs::types::InputLogEvent> = [
        (now - 120_000, json!({"deliveryStreamARN":"x","destination":format!("arn:aws:s3:::{}", fx.bucket),"deliveryStreamVersionId":1,"message":"Access was denied. Ensure that the trust policy for the provided IAM role allows Firehose to assume the role, and the access policy allows access to the S3 bucket.","errorCode":"S3.AccessDenied"})),
        (now - 60_000, json!({"message":"Access was denied.","errorCode":"S3.AccessDenied"})),
    ]
    .into_iter()
    .map(|(t, m)| aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(t).message(m.to_string()).build().unwrap())
    .collect();
    aws.logs
        .put_log_events()
        .log_group_name(&fx.log_group)
        .log_stream_name("DestinationDelivery")
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
    let d = diagnose(&fx.name).await;
    // Nothing else fails: the log is the only evidence, so it is the root cause.
    assert_cause(&d, "logging.errors");
    let f = d.root_finding().unwrap();
    assert_eq!(f.evidence["counts_by_code"]["S3.AccessDenied"], 2);
    assert!(f.remediation.contains("iam.s3"));

    // With the role's S3 permission gone too, the log's code points at iam.s3.
    set_role_policy(&aws, &fx, &role_policy(&fx, &["s3"])).await;
    let d = diagnose(&fx.name).await;
    assert_eq!(d.root_cause.as_deref(), Some("iam.s3"), "{}", dump(&d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_logs_missing() {
    let aws = aws().await;
    let fx = fixture(&aws, "nologs", Opts::default()).await;
    set_role_policy(&aws, &fx, &role_policy(&fx, &["logs"])).await;
    assert_cause(&diagnose(&fx.name).await, "iam.logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_for_no_incoming_and_logging_disabled() {
    let aws = aws().await;
    // A fixture always puts incoming records; this stream is built without them.
    let fx = fixture(
        &aws,
        "quiet",
        Opts {
            no_logging: true,
            ..Default::default()
        },
    )
    .await;
    let d = diagnose(&fx.name).await;
    assert_eq!(st(&d, "logging.enabled"), Status::Warn, "{}", dump(&d));
    assert_eq!(st(&d, "iam.logs"), Status::Skip);
    assert_eq!(d.root_cause, None);
    // IncomingRecords seeded at 2-3 minutes ago; a stream with none warns.
    let other = unique("empty");
    create_stream(&aws, &other, &StreamSpec::default()).await;
    let d = diagnose(&other).await;
    assert_eq!(st(&d, "metrics.incoming"), Status::Warn, "{}", dump(&d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_call_is_covered_by_the_iam_policy() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "perm",
        Opts {
            kms: true,
            lambda: true,
            kinesis: true,
            sse: true,
            ..Default::default()
        },
    )
    .await;
    aws.s3
        .put_object()
        .bucket(&fx.bucket)
        .key("errors/processing-failed/x")
        .body(b"{}\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let metrics = Metrics::new();
    let d = diagnose_with(&fx.name, metrics.clone()).await;
    assert_eq!(
        d.findings.len(),
        firehose_sentinel::diagnose::checks::ALL_IDS.len()
    );
    // The poller's and the inventory's calls too.
    let factory = ClientFactory::new(aws_settings(), metrics.clone());
    let clients = factory.clients(&factory.default_key()).await;
    clients.list_delivery_streams().await.unwrap();
    let described = clients.describe_delivery_stream(&fx.name).await.unwrap();
    let targets = [firehose_sentinel::poll::Target {
        name: fx.name.clone(),
        shape: described.shape(),
        source_stream: described.kinesis_source().map(str::to_string),
    }];
    let call_size = firehose_sentinel::poll::CallSize::default();
    firehose_sentinel::poll::Reader {
        api: clients.as_ref(),
        metrics: &metrics,
        target: firehose_sentinel::poll::DEFAULT_TARGET,
        region: REGION,
        call_size: &call_size,
    }
    .poll(&targets, Window::aligned(Utc::now(), 60, 0, 10))
    .await;
    let policy = firehose_sentinel::permissions::all();
    let text = metrics.render();
    let mut seen = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("firehose_sentinel_aws_requests_total{"))
    {
        let label = |k: &str| {
            line.split(&format!("{k}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
                .to_string()
        };
        let action =
            firehose_sentinel::permissions::iam_action(&label("service"), &label("operation"));
        assert!(
            policy.contains(action.as_str()),
            "{action} (called) is not in the iam-policy output"
        );
        seen.push(action);
    }
    seen.sort();
    seen.dedup();
    println!("AWS calls made and covered: {}", seen.join(", "));
    assert!(seen.len() >= 15, "too few operations observed: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_command_reports_a_missing_stream_and_exits_1() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\n[streams]\nnames = [\"does-not-exist\"]\n", m.endpoint)).unwrap();
    let out = cli(&["check", "--format", "json", "-c"], &cfg);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], "firehose-sentinel/report/v1");
    let s = &report["streams"][0];
    assert_eq!(s["root_cause"], "stream.status");
    assert_eq!(
        s["findings"].as_array().unwrap().len(),
        firehose_sentinel::diagnose::checks::ALL_IDS.len()
    );
    assert_eq!(s["findings"][0]["status"], "fail");

    // AWS unreachable at all: exit 3.
    std::fs::write(&cfg, format!("[aws]\nregion = \"{REGION}\"\nendpoint_url = \"http://127.0.0.1:{}\"\ntimeout = \"2s\"\nmax_attempts = 1\n[streams]\nnames = [\"x\"]\n", free_port())).unwrap();
    let out = cli(&["check", "-c"], &cfg);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_command_text_names_root_cause_first() {
    let aws = aws().await;
    let fx = fixture(&aws, "text", Opts::default()).await;
    aws.s3
        .delete_bucket()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\n[streams]\nnames = [\"{}\"]\n[schedule]\ndelay_seconds = 0\n", moto().endpoint, fx.name)).unwrap();
    let out = cli(&["check", "-c"], &cfg);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("ROOT CAUSE  s3.bucket:"), "{text}");
    assert!(text.contains("passed ("), "{text}");
}

/// The daemon puts the diagnosis in the firing alert and the status report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_alert_carries_the_root_cause() {
    let aws = aws().await;
    let fx = fixture(&aws, "alertrc", Opts::default()).await;
    aws.s3
        .delete_bucket()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    for k in [6, 5, 4] {
        put_metric(&aws, &fx.name, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    let rx = crate::receiver::Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\ns3_force_path_style = true\n[streams]\nnames = [\"{}\"]\n[schedule]\npoll = \"*/2 * * * * *\"\naudit = \"off\"\ndelay_seconds = 0\n[server]\nlisten = \"127.0.0.1:0\"\n[state]\npath = \"{}\"\n[[alerts.webhook]]\nname = \"w\"\nurl = \"{}/hook\"\n[[alerts.slack]]\nname = \"s\"\nwebhook_url = \"{}/slack\"\n",
        moto().endpoint, fx.name, dir.path().join("state.json").display(), rx.url, rx.url
    );
    let s = config::load_from_str(&text, &dir.path().join("c.toml"), &HashMap::new()).unwrap();
    let d = firehose_sentinel::daemon::start(s).await.unwrap();
    let got = rx.wait_for(30, |g| g.len() >= 2).await;
    assert_eq!(got.len(), 2, "one webhook and one slack message");
    let hook = got.iter().find(|r| r.body.get("schema").is_some()).unwrap();
    assert_eq!(hook.body["root_cause"]["check"], "s3.bucket");
    assert!(hook.body["root_cause"]["remediation"]
        .as_str()
        .unwrap()
        .contains("create-bucket"));
    assert_eq!(
        hook.body["findings"].as_array().unwrap().len(),
        firehose_sentinel::diagnose::checks::ALL_IDS.len()
    );
    let slack = got.iter().find(|r| r.body.get("blocks").is_some()).unwrap();
    assert!(slack.body["text"].as_str().unwrap().contains("s3.bucket"));
    assert!(slack.body.to_string().contains("create-bucket"));
    let status: serde_json::Value = reqwest::get(format!("http://{}/api/v1/status", d.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["streams"][0]["root_cause"], "s3.bucket");
    let metrics = reqwest::get(format!("http://{}/metrics", d.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("firehose_sentinel_check_failed{")
                && l.contains("check=\"s3.bucket\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    d.stop().await;
}
