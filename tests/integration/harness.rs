//! Test harness: provisions moto 5.2.5 in a venv under `target/` (once, then reused), starts it
//! on a free loopback port for the whole test binary, and offers fixture helpers that build
//! streams and seed metrics through the real AWS SDK. Moto stops when the test process exits
//! (its stdin pipe closes).

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use chrono::{DateTime, Utc};

pub const MOTO_VERSION: &str = "5.2.5";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot provision moto: {what} could not start: {e}"));
    assert!(
        out.status.success(),
        "cannot provision moto: {what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CBOR for the CloudWatch translation in front of moto (`scripts/moto_cbor.py`).
const CBOR2_VERSION: &str = "5.6.5";

/// The venv's python, with moto[server]==5.2.5 and cbor2 installed the first time.
fn moto_python() -> PathBuf {
    let venv = target_dir().join("moto-venv");
    let bin = venv.join("bin/python");
    let marker = venv.join(format!(".moto-{MOTO_VERSION}-cbor2-{CBOR2_VERSION}"));
    if bin.exists() && marker.exists() {
        return bin;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        &format!("{python} -m venv (is python3 with the venv module installed?)"),
    );
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("moto[server]=={MOTO_VERSION}"),
            &format!("cbor2=={CBOR2_VERSION}"),
        ]),
        "pip install moto[server] cbor2 (is PyPI reachable?)",
    );
    std::fs::write(&marker, MOTO_VERSION).expect("write moto marker");
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The shared moto server (started on first use).
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        // The SDK's default chain reads these; moto accepts any credentials.
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", REGION);
        std::env::remove_var("AWS_PROFILE");
        let python = moto_python();
        let port = free_port();
        // moto's own server application, with CloudWatch translated from the CBOR protocol
        // the current SDK speaks (moto_cbor.py).
        let script_py = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/moto_cbor.py");
        // `sh` keeps moto alive while our stdin pipe is open and kills it when it closes,
        // which happens when this test process exits for any reason.
        let script = format!(
            "\"{}\" \"{}\" 127.0.0.1 {port} >\"{}\" 2>&1 & pid=$!; cat >/dev/null; kill $pid",
            python.display(),
            script_py.display(),
            target_dir().join("moto-server.log").display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut log = String::new();
                let _ = std::fs::File::open(target_dir().join("moto-server.log"))
                    .and_then(|mut f| f.read_to_string(&mut log));
                panic!("moto_server exited ({status}) before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint,
            _child: child,
        }
    })
}

pub async fn sdk() -> aws_config::SdkConfig {
    let m = moto();
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&m.endpoint)
        .load()
        .await
}

pub struct Aws {
    pub firehose: aws_sdk_firehose::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub glue: aws_sdk_glue::Client,
}

pub async fn aws() -> Aws {
    aws_of(&sdk().await)
}

/// Clients acting in the account of `role` (moto maps an assumed role to the account in its
/// ARN) in `region`, assumed with `external_id` when given.
pub async fn aws_as(role: &str, region: &str, external_id: Option<&str>) -> Aws {
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&moto().endpoint)
        .load()
        .await;
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role).session_name("fixture");
    if let Some(x) = external_id {
        builder = builder.external_id(x);
    }
    let provider = builder.configure(&base).build().await;
    let c = base
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build();
    aws_of(&c)
}

fn aws_of(c: &aws_config::SdkConfig) -> Aws {
    let c = c.clone();
    Aws {
        firehose: aws_sdk_firehose::Client::new(&c),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&c),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&c)
                .force_path_style(true)
                .build(),
        ),
        iam: aws_sdk_iam::Client::new(&c),
        kms: aws_sdk_kms::Client::new(&c),
        lambda: aws_sdk_lambda::Client::new(&c),
        kinesis: aws_sdk_kinesis::Client::new(&c),
        logs: aws_sdk_cloudwatchlogs::Client::new(&c),
        organizations: aws_sdk_organizations::Client::new(&c),
        glue: aws_sdk_glue::Client::new(&c),
    }
}

/// A unique name for this test run.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Options of a fixture stream.
#[derive(Default, Clone)]
pub struct StreamSpec {
    pub buffering_seconds: i32,
    pub lambda_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    pub logging: bool,
    /// Default `data/`.
    pub prefix: Option<String>,
    pub error_output_prefix: Option<String>,
    /// The Lambda processor's `BufferIntervalInSeconds`.
    pub lambda_buffer_seconds: Option<u32>,
}

/// The extended S3 destination of a fixture stream. moto omits CompressionFormat,
/// BufferingHints and EncryptionConfiguration from the describe answer unless they were set
/// (and the SDK then fails to parse it): they are always set here.
pub fn destination(
    name: &str,
    bucket: &str,
    role_arn: &str,
    spec: &StreamSpec,
) -> aws_sdk_firehose::types::ExtendedS3DestinationConfiguration {
    use aws_sdk_firehose::types::*;
    let encryption = match &spec.kms_key_arn {
        Some(k) => EncryptionConfiguration::builder()
            .kms_encryption_config(
                KmsEncryptionConfig::builder()
                    .awskms_key_arn(k)
                    .build()
                    .unwrap(),
            )
            .build(),
        None => EncryptionConfiguration::builder()
            .no_encryption_config(NoEncryptionConfig::NoEncryption)
            .build(),
    };
    let mut dest = ExtendedS3DestinationConfiguration::builder()
        .role_arn(role_arn)
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix(spec.prefix.as_deref().unwrap_or("data/"))
        .set_error_output_prefix(spec.error_output_prefix.clone())
        .compression_format(CompressionFormat::Uncompressed)
        .buffering_hints(
            BufferingHints::builder()
                .interval_in_seconds(if spec.buffering_seconds > 0 {
                    spec.buffering_seconds
                } else {
                    60
                })
                .size_in_mbs(5)
                .build(),
        )
        .encryption_configuration(encryption)
        .cloud_watch_logging_options(
            CloudWatchLoggingOptions::builder()
                .enabled(spec.logging)
                .log_group_name(format!("/aws/kinesisfirehose/{name}"))
                .log_stream_name("DestinationDelivery")
                .build(),
        );
    if let Some(l) = &spec.lambda_arn {
        let param = |name: ProcessorParameterName, value: String| {
            ProcessorParameter::builder()
                .parameter_name(name)
                .parameter_value(value)
                .build()
                .unwrap()
        };
        let mut params = vec![param(ProcessorParameterName::LambdaArn, l.clone())];
        if let Some(b) = spec.lambda_buffer_seconds {
            params.push(param(
                ProcessorParameterName::BufferIntervalInSeconds,
                b.to_string(),
            ));
        }
        dest = dest.processing_configuration(
            ProcessingConfiguration::builder()
                .enabled(true)
                .processors(
                    Processor::builder()
                        .r#type(ProcessorType::Lambda)
                        .set_parameters(Some(params))
                        .build()
                        .unwrap(),
                )
                .build(),
        );
    }
    dest.build().unwrap()
}

/// Create a DirectPut stream to a fresh bucket (its role is not created).
pub async fn create_stream(aws: &Aws, name: &str, spec: &StreamSpec) -> String {
    let bucket = format!("{}-bucket", name.to_lowercase());
    let _ = aws.s3.create_bucket().bucket(&bucket).send().await;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{name}-role");
    aws.firehose
        .create_delivery_stream()
        .delivery_stream_name(name)
        .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination(name, &bucket, &role, spec))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create stream {name}: {e:?}"));
    bucket
}

/// Delete delivery streams a test is done with: moto allows 50 per region, and the suite
/// creates more than that in all.
pub async fn delete_streams(aws: &Aws, names: &[&str]) {
    for n in names {
        let _ = aws
            .firehose
            .delete_delivery_stream()
            .delivery_stream_name(*n)
            .send()
            .await;
    }
}

/// Put one datapoint of `namespace`/`metric` with one dimension at `t`.
pub async fn put_metric_in(
    aws: &Aws,
    namespace: &str,
    dimension: (&str, &str),
    metric: &str,
    t: DateTime<Utc>,
    v: f64,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    aws.cloudwatch
        .put_metric_data()
        .namespace(namespace)
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name(dimension.0)
                        .value(dimension.1)
                        .build(),
                )
                .timestamp(aws_smithy_types::DateTime::from_secs(t.timestamp()))
                .value(v)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put metric {namespace} {metric}: {e:?}"));
}

/// Put one datapoint of an `AWS/Firehose` metric for `stream` at `t`.
pub async fn put_metric(aws: &Aws, stream: &str, metric: &str, t: DateTime<Utc>, v: f64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    aws.cloudwatch
        .put_metric_data()
        .namespace("AWS/Firehose")
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("DeliveryStreamName")
                        .value(stream)
                        .build(),
                )
                .timestamp(aws_smithy_types::DateTime::from_secs(t.timestamp()))
                .value(v)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put metric {metric}: {e:?}"));
}

/// Start of the minute `k` minutes before the current minute.
pub fn minutes_ago(k: i64) -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    let m = now - now.rem_euclid(60);
    DateTime::from_timestamp(m - 60 * k, 0).unwrap()
}

/// The path of the first of `binaries` found, installing Debian's `package` when none is (once,
/// as root, the way the moto venv is provisioned); without root, a clear message with the one
/// command to run. Services the package starts are stopped: the tests start their own.
pub fn debian_tool(binaries: &[&str], package: &str) -> String {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let find = || {
        binaries
            .iter()
            .find(|b| {
                Command::new(b)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            })
            .map(|b| b.to_string())
    };
    if let Some(b) = find() {
        return b;
    }
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = find() {
        return b;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let hint = format!(
        "{} is not installed: run `sudo apt-get install -y {package}` (the tests install it themselves when run as root)",
        binaries[0]
    );
    assert!(root, "{hint}");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !apt(&["install", "-y", "-qq", package]) {
        assert!(
            apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", package]),
            "{hint} (apt-get failed)"
        );
    }
    // Only what the installation started: its service (systemd), if any.
    for svc in [package, "prometheus"] {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", &format!("{svc}.service")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    find().unwrap_or_else(|| panic!("{hint} (installed, but not found)"))
}
