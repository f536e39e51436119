//! The diagnosis seam: what the daemon and `check` call to name a stream's root cause.
//!
//! [`Diagnose`] is implemented by the checks (see `checks`); until a check is implemented it
//! does not appear in findings at all, and never as `pass`.

pub mod arn;
pub mod changes;
pub mod checks;
pub mod ctx;
pub mod diag_metrics;
pub mod findings;
pub mod identity;
pub mod policy;
pub mod remediation;
pub mod request;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::aws::StreamDescription;
use crate::model::Window;
use crate::model::{Changes, Finding, Status};

/// The findings of one diagnosis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub root_cause: Option<String>,
    /// What changed on the stream's resources before the incident (filled by the caller
    /// after the checks: see [`changes`]).
    pub changes: Changes,
}

impl Diagnosis {
    /// Every check ran (no `error` finding).
    pub fn complete(&self) -> bool {
        self.findings.iter().all(|f| f.status != Status::Error)
    }

    /// The root cause cannot change when the checks that errored run: the diagnosis is
    /// complete, or its root cause ranks ahead of every `error` finding (findings are in
    /// priority order).
    pub fn settled(&self) -> bool {
        let first_error = self.findings.iter().position(|f| f.status == Status::Error);
        match (first_error, self.root_cause.as_deref()) {
            (None, _) => true,
            (Some(e), Some(rc)) => self
                .findings
                .iter()
                .position(|f| f.check == rc)
                .is_some_and(|r| r < e),
            (Some(_), None) => false,
        }
    }

    pub fn root_finding(&self) -> Option<&Finding> {
        let rc = self.root_cause.as_deref()?;
        self.findings.iter().find(|f| f.check == rc)
    }
}

#[async_trait]
pub trait Diagnose: Send + Sync {
    /// Every check of `stream` over `window`, at `now`.
    async fn diagnose(
        &self,
        stream: &StreamDescription,
        window: Window,
        now: DateTime<Utc>,
    ) -> Diagnosis;
}

/// Runs no check: used where diagnosis is disabled.
pub struct NoDiagnosis;

#[async_trait]
impl Diagnose for NoDiagnosis {
    async fn diagnose(
        &self,
        _stream: &StreamDescription,
        _window: Window,
        _now: DateTime<Utc>,
    ) -> Diagnosis {
        Diagnosis::default()
    }
}
