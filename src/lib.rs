//! firehose-sentinel watches Amazon Data Firehose delivery streams that write to S3, detects
//! when delivery stops, names the most likely root cause and alerts with the fix.
//!
//! # Layout
//! The pipeline, in order: [`config`] -> [`aws`] (narrow traits; [`aws::sdk`] is the only SDK
//! user) -> [`inventory`] -> [`poller`] -> [`detect`] -> [`incident`] -> [`diagnosis`] /
//! [`checks`] -> [`alert`] (sinks and the durable [`alert::outbox`]). Beside it: [`server`]
//! (HTTP), [`metrics`] (every metric family), [`state`] (the state file), [`report`] (the JSON
//! report). [`daemon`] wires them; [`cli`] and [`check_cmd`] are the commands.
//!
//! Only `aws::sdk`, the alert sinks, `state` and `server` do I/O; detection, incidents and
//! checks are pure functions of what was read and of prior state.

pub mod alert;
pub mod aws;
pub mod check_cmd;
pub mod checks;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod diagnosis;
pub mod incident;
pub mod inventory;
pub mod logging;
pub mod metrics;
pub mod permissions;
pub mod policy;
pub mod poller;
pub mod report;
pub mod secret;
pub mod server;
pub mod state;
pub mod status_page;
