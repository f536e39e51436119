//! firehose-sentinel watches Amazon Data Firehose delivery streams that write to S3, detects
//! when delivery stops, names the most likely root cause and alerts with the fix.
//!
//! # Layout
//! The pipeline, in order: [`config`] -> [`aws`] (narrow traits; [`aws::sdk`] is the only SDK
//! user) -> [`poll`] (which streams, their datapoints) -> [`detect`] (health) -> [`plan`]
//! (incidents and the alerts they emit) -> [`diagnose`] (the root-cause checks) -> [`alert`]
//! (sinks and the durable [`alert::outbox`]). Beside it: [`http`] (endpoints and status page),
//! [`telemetry`] (metric families, logs), [`state`] (the state file), [`report`] (the JSON
//! report). [`model`] holds the types they share and imports nothing of the crate.
//! [`daemon`] is the I/O shell that wires them; [`cli`] and [`check_cmd`] are the commands.
//!
//! Decisions are pure functions of what was read and of prior state (`detect`, `plan`, the
//! evaluation half of each check); the I/O lives in `aws::sdk`, the alert sinks and outbox,
//! `state`, `http` and the daemon's shell around them.

pub mod alert;
pub mod audit;
pub mod aws;
pub mod check_cmd;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod diagnose;
pub mod http;
pub mod model;
pub mod permissions;
pub mod plan;
pub mod poll;
pub mod report;
pub mod secret;
pub mod state;
pub mod telemetry;
