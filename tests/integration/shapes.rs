//! Detection on the stream configurations people run, end to end against the emulator: a
//! discovered non-S3 stream next to a failing S3 one, a Lambda stream with long buffers, a
//! Kinesis source the role cannot read, and a sustained partial failure. Each with a control
//! that flips the verdict.

use firehose_sentinel::daemon;

use crate::diagnosis::{fixture, role_policy, set_role_policy, Opts};
use crate::harness::*;
use crate::receiver::Receiver;
use crate::{metric, settings, status, wait_polls, webhook};

fn alerts_for<'a>(
    got: &'a [crate::receiver::Received],
    stream: &str,
) -> Vec<&'a serde_json::Value> {
    got.iter()
        .map(|r| &r.body)
        .filter(|b| b["stream"] == stream)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_non_s3_stream_is_skipped_while_the_s3_one_alerts() {
    use aws_sdk_firehose::types::*;
    let aws = aws().await;
    let p = unique("mixed");
    let s3 = format!("{p}-s3");
    create_stream(&aws, &s3, &StreamSpec::default()).await;
    for k in [8, 7, 6] {
        put_metric(&aws, &s3, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &s3, "DeliveryToS3.Success", minutes_ago(k), 0.0).await;
    }
    // An HTTP endpoint stream: records arrive, DeliveryToS3.* never exists. Assessed as if it
    // were S3, it would be stalled.
    let http = format!("{p}-http");
    let bucket = format!("{}-backup", http.to_lowercase());
    aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    aws.firehose
        .create_delivery_stream()
        .delivery_stream_name(&http)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .http_endpoint_destination_configuration(
            HttpEndpointDestinationConfiguration::builder()
                .endpoint_configuration(
                    HttpEndpointConfiguration::builder()
                        .url("https://collector.example.com/ingest")
                        .build()
                        .unwrap(),
                )
                // moto omits what was not set, and the SDK then cannot parse the answer.
                .s3_configuration(
                    S3DestinationConfiguration::builder()
                        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{http}-role"))
                        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                        .compression_format(CompressionFormat::Uncompressed)
                        .buffering_hints(
                            BufferingHints::builder()
                                .interval_in_seconds(60)
                                .size_in_mbs(5)
                                .build(),
                        )
                        .encryption_configuration(
                            EncryptionConfiguration::builder()
                                .no_encryption_config(NoEncryptionConfig::NoEncryption)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    for k in [9, 8, 7, 6, 5] {
        put_metric(&aws, &http, "IncomingRecords", minutes_ago(k), 100.0).await;
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(
        dir.path(),
        &format!("discover = true\ninclude = [\"{p}-*\"]"),
        &webhook(&rx),
    ))
    .await
    .unwrap();
    let got = rx.wait_for(30, |g| !g.is_empty()).await;
    wait_polls(&d, 4.0, 30).await;
    let got_all = rx.accepted();
    assert_eq!(
        alerts_for(&got_all, &s3).len(),
        1,
        "the S3 stream alerts once"
    );
    assert_eq!(got[0].body["health"], "failing");
    assert!(
        alerts_for(&got_all, &http).is_empty(),
        "the HTTP stream never alerts"
    );
    let st = status(&d).await;
    let streams: Vec<&str> = st["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"].as_str().unwrap())
        .collect();
    assert_eq!(streams, vec![s3.as_str()], "only the S3 stream is assessed");
    let skipped = st["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{st}");
    assert_eq!(skipped[0]["stream"], http.as_str());
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("HTTP endpoint"),
        "{}",
        skipped[0]
    );
    let text = crate::get(&d, "/metrics").await.1;
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_stream_health",
            &[&format!("stream=\"{http}\"")]
        ),
        0.0,
        "no series for a skipped stream"
    );
    d.stop().await;
    delete_streams(&aws, &[&s3, &http]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_and_s3_buffers_of_300_s_with_620_s_freshness_do_not_page() {
    let aws = aws().await;
    let fx = fixture(
        &aws,
        "lbuf",
        Opts {
            lambda: true,
            s3_buffer: Some(300),
            lambda_buffer: Some(300),
            ..Default::default()
        },
    )
    .await;
    // Control: the same datapoints on a stream without a processor (300 s S3 buffer) are a
    // stall: 620 s is above its 300 s + 3 periods.
    let control = unique("lbufctl");
    create_stream(
        &aws,
        &control,
        &StreamSpec {
            buffering_seconds: 300,
            ..Default::default()
        },
    )
    .await;
    for name in [&fx.name, &control] {
        for k in 1..=10 {
            put_metric(&aws, name, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
            if name == &fx.name {
                // (The fixture already put IncomingRecords at minutes 3 and 2.)
                if k != 3 && k != 2 {
                    put_metric(&aws, name, "IncomingRecords", minutes_ago(k), 100.0).await;
                }
                put_metric(&aws, name, "ExecuteProcessing.Success", minutes_ago(k), 1.0).await;
                put_metric(
                    &aws,
                    name,
                    "SucceedProcessing.Records",
                    minutes_ago(k),
                    100.0,
                )
                .await;
            }
        }
        put_metric(
            &aws,
            name,
            "DeliveryToS3.DataFreshness",
            minutes_ago(1),
            620.0,
        )
        .await;
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(
        dir.path(),
        &format!("names = [\"{}\", \"{control}\"]", fx.name),
        &webhook(&rx),
    ))
    .await
    .unwrap();
    let got = rx.wait_for(40, |g| !g.is_empty()).await;
    wait_polls(&d, 4.0, 30).await;
    let all = rx.accepted();
    assert_eq!(alerts_for(&all, &control).len(), 1, "the control stalls");
    assert_eq!(got[0].body["health"], "stalled");
    assert!(
        alerts_for(&all, &fx.name).is_empty(),
        "the Lambda stream is within its buffers: {all:?}"
    );
    let st = status(&d).await;
    let lambda = st["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == fx.name.as_str())
        .unwrap();
    assert_eq!(lambda["health"], "healthy", "{lambda}");
    d.stop().await;
    delete_streams(&aws, &[&fx.name, &control]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_source_the_role_cannot_read_alerts_naming_iam_kinesis() {
    let aws = aws().await;
    let opts = Opts {
        kinesis: true,
        unread_source: true,
        ..Default::default()
    };
    let fx = fixture(&aws, "kinunread", opts).await;
    set_role_policy(&aws, &fx, &role_policy(&fx, &["kinesis"])).await;
    // Control: a source stream read by a role that may read it does not page.
    let ok = fixture(&aws, "kinread", opts).await;
    for (f, read) in [(&fx, false), (&ok, true)] {
        let source = f.kinesis_name.as_deref().unwrap();
        for k in 1..=12 {
            put_metric_in(
                &aws,
                "AWS/Kinesis",
                ("StreamName", source),
                "IncomingRecords",
                minutes_ago(k),
                100.0,
            )
            .await;
            if read {
                put_metric(
                    &aws,
                    &f.name,
                    "DataReadFromKinesisStream.Records",
                    minutes_ago(k),
                    100.0,
                )
                .await;
                put_metric(&aws, &f.name, "DeliveryToS3.Success", minutes_ago(k), 1.0).await;
            }
        }
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon::start(settings(
        dir.path(),
        &format!("names = [\"{}\", \"{}\"]", fx.name, ok.name),
        &webhook(&rx),
    ))
    .await
    .unwrap();
    let got = rx.wait_for(40, |g| !g.is_empty()).await;
    wait_polls(&d, 3.0, 30).await;
    let a = &got[0].body;
    assert_eq!(a["stream"], fx.name.as_str());
    assert_eq!(a["health"], "stalled", "{a}");
    assert_eq!(a["severity"], "critical");
    assert_eq!(
        a["root_cause"]["check"], "iam.kinesis",
        "{}",
        a["root_cause"]
    );
    assert!(a["summary"]
        .as_str()
        .unwrap()
        .contains("source Kinesis stream"));
    assert!(
        alerts_for(&rx.accepted(), &ok.name).is_empty(),
        "the readable source does not page"
    );
    d.stop().await;
    delete_streams(&aws, &[&fx.name, &ok.name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_half_success_opens_a_warning_incident() {
    let aws = aws().await;
    let name = unique("half");
    create_stream(&aws, &name, &StreamSpec::default()).await;
    // Control: a stream at 0.5 for fewer periods than degraded_after_periods stays quiet.
    let short = unique("halfshort");
    create_stream(&aws, &short, &StreamSpec::default()).await;
    for k in 1..=8 {
        put_metric(&aws, &name, "IncomingRecords", minutes_ago(k), 100.0).await;
        put_metric(&aws, &name, "DeliveryToS3.Success", minutes_ago(k), 0.5).await;
        put_metric(&aws, &short, "IncomingRecords", minutes_ago(k), 100.0).await;
        let v = if k <= 3 { 0.5 } else { 1.0 };
        put_metric(&aws, &short, "DeliveryToS3.Success", minutes_ago(k), v).await;
    }
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(
        dir.path(),
        &format!("names = [\"{name}\", \"{short}\"]"),
        &format!(
            "{}[[alerts.slack]]\nname = \"slack\"\nwebhook_url = \"{}/slack\"\n",
            webhook(&rx),
            rx.url
        ),
    );
    s.detection.degraded_after_periods = 6;
    let d = daemon::start(s).await.unwrap();
    let got = rx.wait_for(40, |g| g.len() >= 2).await;
    wait_polls(&d, 3.0, 30).await;
    let hook = got.iter().find(|r| r.body.get("schema").is_some()).unwrap();
    assert_eq!(hook.body["stream"], name.as_str());
    assert_eq!(hook.body["status"], "firing");
    assert_eq!(hook.body["severity"], "warning");
    assert_eq!(hook.body["health"], "degraded");
    let slack = got.iter().find(|r| r.body.get("blocks").is_some()).unwrap();
    assert!(slack.body["text"]
        .as_str()
        .unwrap()
        .contains("FIRING (warning)"));
    assert!(
        alerts_for(&rx.accepted(), &short).is_empty(),
        "3 partial periods stay quiet"
    );
    let text = crate::get(&d, "/metrics").await.1;
    let sl = format!("stream=\"{name}\"");
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_incident_open",
            &[&sl, "severity=\"warning\""]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "firehose_sentinel_incident_open",
            &[&sl, "severity=\"critical\""]
        ),
        0.0
    );
    d.stop().await;
    delete_streams(&aws, &[&name, &short]).await;
}
