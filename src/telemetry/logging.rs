//! Logging setup: text on a terminal, JSON otherwise (or as `--log-format` says), level from
//! `RUST_LOG`. HTTP and SDK internals are capped at `info` whatever `RUST_LOG` says, so that no
//! URL with a token or signed header reaches a log line even at `trace`.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Targets whose debug/trace output may carry request URLs or headers.
const CAPPED: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "aws_smithy",
    "aws_sigv4",
    "aws_config",
    "aws_sdk",
    "tower",
];

pub const DEFAULT_FILTER: &str = "info,tokio_cron_scheduler=warn";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// Whether an event may be logged (the cap above).
pub fn allowed(target: &str, level: &Level) -> bool {
    !(CAPPED.iter().any(|c| target.starts_with(c)) && *level > Level::INFO)
}

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let cap = filter_fn(|m| allowed(m.target(), m.level()));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        let _ = registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(cap),
            )
            .try_init();
    } else {
        let _ = registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(cap),
            )
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_internals_are_capped() {
        assert!(!allowed("reqwest::connect", &Level::TRACE));
        assert!(!allowed("hyper_util::client", &Level::DEBUG));
        assert!(allowed("reqwest::connect", &Level::WARN));
        assert!(allowed("firehose_sentinel::daemon", &Level::TRACE));
    }
}
