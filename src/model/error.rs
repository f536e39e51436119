//! The kinds of the sentinel's own errors: the values of `errors_total{kind}`.

/// One kind of the sentinel's own error. The label values are a fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The state file did not parse and was moved aside.
    StateCorrupt,
    /// The state file could not be written.
    StateWrite,
    AwsAccessDenied,
    AwsNotFound,
    AwsThrottled,
    AwsTimeout,
    AwsConnection,
    AwsService,
    /// A poll cycle or a worker panicked (a bug): it was logged and the loop went on.
    Panic,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::StateCorrupt,
        ErrorKind::StateWrite,
        ErrorKind::AwsAccessDenied,
        ErrorKind::AwsNotFound,
        ErrorKind::AwsThrottled,
        ErrorKind::AwsTimeout,
        ErrorKind::AwsConnection,
        ErrorKind::AwsService,
        ErrorKind::Panic,
    ];

    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::StateCorrupt => "state_corrupt",
            ErrorKind::StateWrite => "state_write",
            ErrorKind::AwsAccessDenied => "aws_access_denied",
            ErrorKind::AwsNotFound => "aws_not_found",
            ErrorKind::AwsThrottled => "aws_throttled",
            ErrorKind::AwsTimeout => "aws_timeout",
            ErrorKind::AwsConnection => "aws_connection",
            ErrorKind::AwsService => "aws_service",
            ErrorKind::Panic => "panic",
        }
    }
}
