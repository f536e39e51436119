//! The command line: `run`, `check`, `validate-config`, `test-alert`, `iam-policy`, with the
//! exit codes of interfaces.md (0 ok, 1 problem found, 2 bad config or usage, 3 AWS unreachable).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Settings};
use crate::telemetry::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "firehose-sentinel",
    version,
    about = "Watches Firehose delivery streams to S3, names why delivery stops, and alerts."
)]
pub struct Cli {
    /// Log format on stderr: auto = text on a terminal, JSON otherwise.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: scheduler, detection, diagnosis, alerts, HTTP server.
    Run {
        /// Config file (default: $FIREHOSE_SENTINEL_CONFIG, else /etc/firehose-sentinel/config.toml).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// One pass now: read the metrics, run every check, print the report.
    Check {
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Only these streams (repeatable); default: all configured.
        #[arg(long = "stream")]
        streams: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Also run the risk audit (every risk rule, healthy streams included).
        #[arg(long)]
        audit: bool,
    },
    /// Parse and validate the configuration; print it with secrets redacted.
    ValidateConfig {
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// Send a clearly marked test alert through each (or one) sink.
    TestAlert {
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        #[arg(long)]
        sink: Option<String>,
    },
    /// Print the least-privilege IAM policy the monitor needs. With -c, also what each
    /// target role needs: its permissions and its trust policy (with the external id).
    IamPolicy {
        /// A config with [[targets]]: print the monitor's policy and each target role's.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// The role or user the monitor runs as, named in the target roles' trust policies.
        #[arg(long, requires = "config")]
        principal: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

fn load(path: Option<&PathBuf>) -> Result<Settings, ExitCode> {
    let path = config::resolve_path(path.map(|p| p.as_path()));
    config::load(&path).map_err(|e| {
        eprintln!("error: invalid configuration\n{e}");
        ExitCode::from(2)
    })
}

/// Run the parsed command.
pub async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run { config } => {
            let settings = match load(config.as_ref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match crate::daemon::run(settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "daemon failed");
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::ValidateConfig { config } => {
            let path = config::resolve_path(config.as_deref());
            match config::load(&path) {
                Ok(s) => {
                    println!("# {}: valid\n{}", path.display(), s.redacted_json());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: invalid configuration\n{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Check {
            config,
            streams,
            format,
            audit,
        } => {
            let settings = match load(config.as_ref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            crate::check_cmd::run(settings, streams, format == OutputFormat::Json, audit).await
        }
        Command::TestAlert { config, sink } => {
            let settings = match load(config.as_ref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            crate::check_cmd::test_alert(settings, sink).await
        }
        Command::IamPolicy { config, principal } => {
            match config {
                None => println!("{}", crate::permissions::policy_json()),
                Some(path) => {
                    let settings = match load(Some(&path)) {
                        Ok(s) => s,
                        Err(code) => return code,
                    };
                    println!(
                        "{}",
                        crate::permissions::targets_json(&settings, principal.as_deref())
                    );
                }
            }
            ExitCode::SUCCESS
        }
    }
}
