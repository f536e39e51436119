//! What changed before an incident: CloudTrail management events on the resources a stream
//! depends on, as alerts, reports and the status page show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One change (a CloudTrail management event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub time: DateTime<Utc>,
    /// The event name, without Lambda's API version suffix (`UpdateFunctionConfiguration`).
    pub event: String,
    /// The resource it touched, as CloudTrail names it (a bucket, a role, a key ARN...).
    pub resource: String,
    /// Who made it: the caller's ARN, else its user name.
    pub actor: String,
}

impl Change {
    /// `PutBucketPolicy on orders-bucket by arn:aws:iam::1:user/alice, 4 min before`.
    pub fn describe(&self, before: DateTime<Utc>) -> String {
        let mins = (before - self.time).num_minutes();
        let when = match mins {
            m if m < 0 => "after the failure started".to_string(),
            0 => "less than a minute before".to_string(),
            m if m < 120 => format!("{m} min before"),
            m => format!("{} h before", m / 60),
        };
        format!(
            "{when}: {} on {} by {}",
            self.event, self.resource, self.actor
        )
    }
}

/// The changes found for one stream, and why the list may be incomplete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Newest relevant first, at most five.
    pub events: Vec<Change>,
    /// Set when the lookup could not be made or finished (the monitor's missing permission,
    /// throttling, the time budget): the list is then partial. Never delays an alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
