//! Telemetry of the sentinel itself: its Prometheus metric families and its log setup.
pub mod logging;
pub mod metrics;
pub mod stream_series;
