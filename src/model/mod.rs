//! The shared vocabulary of the pipeline: the polled window and its datapoints, stream health,
//! check findings, the alert payload and the error kinds the daemon counts.
//!
//! A leaf: it imports nothing else of the crate, so every layer (poll, detect, plan, diagnose,
//! alert, http) can use these types without depending on each other. Plain data and the small
//! pure methods on it; no I/O, no clock.

/// `Display` for enums that name themselves with `as_str` (the same words as their serde
/// form and their metric labels).
macro_rules! display_as_str {
    ($($t:ty),+) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}
pub(crate) use display_as_str;

mod alert;
mod change;
mod error;
mod finding;
mod health;
mod series;
mod shape;
mod stream_ref;

pub use alert::{
    Alert, AlertKind, AlertReason, AlertStatus, FiringSnapshot, RootCause, Severity, ALERT_SCHEMA,
};
pub use change::{Change, Changes};
pub use error::ErrorKind;
pub use finding::{Finding, Status};
pub use health::Health;
pub use series::{Kinds, MetricKind, Point, StreamMetrics, Window};
pub use shape::{Shape, SourceKind, LAMBDA_DEFAULT_BUFFER_SECONDS};
pub use stream_ref::{partition_of, StreamRef};
