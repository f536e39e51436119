//! The monitor's own least-privilege IAM policy, derived from what each component declares
//! it calls (`PERMISSIONS` constants next to the code that makes the calls).

use std::collections::BTreeSet;

/// Every permission of every component.
pub fn all() -> BTreeSet<&'static str> {
    let mut s: BTreeSet<&'static str> = BTreeSet::new();
    s.extend(crate::poller::PERMISSIONS);
    s.extend(crate::inventory::PERMISSIONS);
    s.extend(crate::checks::permissions());
    s
}

/// The policy document `iam-policy` prints.
pub fn policy_json() -> String {
    let actions: Vec<&str> = all().into_iter().collect();
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FirehoseSentinelReadOnly",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*"
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
