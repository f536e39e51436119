//! Every default of the configuration, in one place (README's configuration table lists them).

pub const AWS_TIMEOUT: &str = "10s";
pub const AWS_MAX_ATTEMPTS: i64 = 3;
pub const STREAMS_INCLUDE: &str = "*";
pub const STREAMS_REFRESH: &str = "15m";
pub const POLL: &str = "0 */5 * * * *";
pub const PERIOD_SECONDS: i64 = 60;
pub const DELAY_SECONDS: i64 = 120;
pub const LOOKBACK_PERIODS: i64 = 10;
/// Two-phase polling: every metric of every stream at least this often (the slow signal,
/// `DataFreshness`, rising while deliveries succeed). Every 2 hours keeps a healthy Direct PUT
/// stream under $0.10 a month at the default schedule (README, "Cost").
pub const FULL_READ_EVERY: &str = "2h";
/// The risk audit: every 6 hours.
pub const AUDIT: &str = "0 0 */6 * * *";
pub const FAILING_AFTER_PERIODS: i64 = 3;
pub const RECOVER_AFTER_PERIODS: i64 = 2;
pub const RECHECK_AFTER: &str = "15m";
pub const RENOTIFY_AFTER: &str = "4h";
pub const DEGRADED_AFTER_PERIODS: i64 = 15;
pub const IDLE_CLOSE_AFTER: &str = "1h";
pub const LISTEN: &str = "0.0.0.0:9725";
pub const STATE_PATH: &str = "/var/lib/firehose-sentinel/state.json";
pub const INITIAL_BACKOFF: &str = "2s";
pub const MAX_BACKOFF: &str = "60s";
pub const GIVE_UP_AFTER: &str = "24h";
pub const DELIVERY_TIMEOUT: &str = "10s";
pub const CHECK_TIMEOUT: &str = "30s";
pub const DIAGNOSIS_CONCURRENCY: i64 = 4;
pub const ALERTMANAGER_RESEND_EVERY: &str = "1m";
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
pub const MAX_PENDING: i64 = 10_000;
