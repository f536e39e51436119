//! Root-cause checks (`../shared/spec/checks.md`): one file per check, each a pure function of
//! what the shared reads returned. [`Checks`] gathers the reads once per diagnosis, runs every
//! implemented check concurrently with a timeout and names the root cause.
//!
//! Invariant: a check that is not implemented produces no finding (never a `pass`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::sdk::AwsClients;
use crate::aws::StreamDescription;
use crate::config::DiagnosisSettings;
use crate::diagnosis::{Diagnose, Diagnosis};
use crate::poller::Window;

/// Every check id of the spec, in priority order (the first `fail` is the root cause).
pub const ALL_IDS: [&str; 18] = [
    "stream.status",
    "s3.bucket",
    "iam.role",
    "kms.key",
    "iam.s3",
    "iam.kms",
    "s3.bucket_policy",
    "lambda.function",
    "iam.lambda",
    "lambda.invocation",
    "s3.processing_failed",
    "source.kinesis",
    "iam.kinesis",
    "kms.sse",
    "logging.errors",
    "iam.logs",
    "metrics.incoming",
    "logging.enabled",
];

/// The diagnosis over real AWS clients.
pub struct Checks {
    #[allow(dead_code)]
    clients: Arc<AwsClients>,
    #[allow(dead_code)]
    settings: DiagnosisSettings,
}

impl Checks {
    pub fn new(clients: Arc<AwsClients>, settings: DiagnosisSettings) -> Self {
        Checks { clients, settings }
    }
}

#[async_trait]
impl Diagnose for Checks {
    async fn diagnose(&self, _stream: &StreamDescription, _window: Window) -> Diagnosis {
        Diagnosis::default()
    }
}

/// Permissions the implemented checks need.
pub fn permissions() -> Vec<&'static str> {
    Vec::new()
}

/// The diagnosis of a stream that could not be described.
pub fn missing_stream(_name: &str, _entry: &crate::inventory::Entry) -> Diagnosis {
    Diagnosis::default()
}
