//! What detection and polling need of a stream's configuration: its buffers, its processor,
//! dynamic partitioning and its source.

use super::{Kinds, MetricKind};

/// Where a delivery stream's records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    DirectPut,
    Kinesis,
    Msk,
    Other,
}

/// A stream's shape, reduced to what decides when delivery is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The S3 destination's `BufferingHints.IntervalInSeconds` (300 when unknown).
    pub s3_buffer_seconds: u32,
    /// The Lambda processor's `BufferIntervalInSeconds` (60, AWS's default, when not set);
    /// `None` without a processor.
    pub lambda_buffer_seconds: Option<u32>,
    pub dynamic_partitioning: bool,
    pub source: SourceKind,
}

/// AWS's default `BufferIntervalInSeconds` of a Lambda processor.
pub const LAMBDA_DEFAULT_BUFFER_SECONDS: u32 = 60;

impl Shape {
    /// A Direct PUT stream with `s3_buffer_seconds` of buffering and nothing else.
    pub fn direct_put(s3_buffer_seconds: u32) -> Shape {
        Shape {
            s3_buffer_seconds,
            lambda_buffer_seconds: None,
            dynamic_partitioning: false,
            source: SourceKind::DirectPut,
        }
    }

    /// Every delay AWS documents between a record's arrival and its delivery: the S3 buffer,
    /// the processor's buffer, and with dynamic partitioning half the S3 buffer again ("the
    /// end-to-end delay of a batch of records might be 1.5 times of the configured buffering
    /// hint time").
    pub fn buffer_seconds(&self) -> u32 {
        let dynamic = if self.dynamic_partitioning {
            self.s3_buffer_seconds.div_ceil(2)
        } else {
            0
        };
        self.s3_buffer_seconds + self.lambda_buffer_seconds.unwrap_or(0) + dynamic
    }

    pub fn has_lambda(&self) -> bool {
        self.lambda_buffer_seconds.is_some()
    }

    /// The metric that says records arrive: `IncomingRecords` for Direct PUT, what Firehose
    /// read from its Kinesis or MSK source otherwise.
    pub fn arrivals(&self) -> MetricKind {
        match self.source {
            SourceKind::Kinesis => MetricKind::KinesisRead,
            SourceKind::Msk => MetricKind::MskRead,
            SourceKind::DirectPut | SourceKind::Other => MetricKind::Incoming,
        }
    }

    /// The metrics every cycle reads for a stream of this shape (two-phase polling): delivery
    /// success, and the metrics of the rules that delivery success cannot settle: a Lambda
    /// processor's invocations and records (with the records entering it), a Kinesis source's
    /// reads and arrivals.
    pub fn every_cycle_kinds(&self) -> Kinds {
        let mut k = Kinds::new();
        k.insert(MetricKind::Success);
        if self.has_lambda() {
            k.insert(self.arrivals());
            k.insert(MetricKind::Processing);
            k.insert(MetricKind::ProcessedRecords);
        }
        if self.source == SourceKind::Kinesis {
            k.insert(MetricKind::KinesisRead);
            k.insert(MetricKind::SourceIncoming);
        }
        k
    }

    /// Every metric the detection table reads for a stream of this shape (a full read).
    pub fn metric_kinds(&self) -> Kinds {
        let mut k: Kinds = [MetricKind::Success, self.arrivals(), MetricKind::Freshness]
            .into_iter()
            .collect();
        if self.has_lambda() {
            k.insert(MetricKind::Processing);
            k.insert(MetricKind::ProcessedRecords);
        }
        if self.source == SourceKind::Kinesis {
            k.insert(MetricKind::SourceIncoming);
        }
        k
    }
}
