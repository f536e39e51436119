//! Stream health, the outcome of detection.

use serde::{Deserialize, Serialize};

/// Health of a stream in one cycle. Declaration order is the precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Failing,
    Stalled,
    Degraded,
    Healthy,
    Idle,
    Unknown,
}

impl Health {
    pub const ALL: [Health; 6] = [
        Health::Failing,
        Health::Stalled,
        Health::Degraded,
        Health::Healthy,
        Health::Idle,
        Health::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Failing => "failing",
            Health::Stalled => "stalled",
            Health::Degraded => "degraded",
            Health::Healthy => "healthy",
            Health::Idle => "idle",
            Health::Unknown => "unknown",
        }
    }

    /// `failing` and `stalled` open incidents.
    pub fn is_incident(self) -> bool {
        matches!(self, Health::Failing | Health::Stalled)
    }
}

crate::model::display_as_str!(Health);
