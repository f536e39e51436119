//! `firehose-sentinel`: parse the command line, set up logging, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match firehose_sentinel::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 2; --help and --version exit 0.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    firehose_sentinel::telemetry::logging::init(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(firehose_sentinel::cli::dispatch(cli));
    // Do not wait for tasks stuck in AWS calls: shutdown already had its grace period.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
