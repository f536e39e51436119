//! The monitor's own least-privilege IAM policy, derived from what each component declares
//! it calls (`PERMISSIONS` constants next to the code that makes the calls).

use std::collections::BTreeSet;

/// Every permission of every component.
pub fn all() -> BTreeSet<&'static str> {
    let mut s: BTreeSet<&'static str> = BTreeSet::new();
    s.extend(crate::poll::PERMISSIONS);
    s.extend(crate::poll::inventory::PERMISSIONS);
    s.extend(crate::diagnose::checks::permissions());
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

/// Whether an IAM action only reads (the monitor's policy must hold nothing else).
pub fn is_read_only(action: &str) -> bool {
    let verb = action.split(':').nth(1).unwrap_or("");
    ["Get", "List", "Describe", "Filter", "Simulate"]
        .iter()
        .any(|p| verb.starts_with(p))
}

/// The IAM action an SDK operation needs (the `service` and `operation` labels of
/// `aws_requests_total`). Most are `service:Operation`; S3 names a few differently.
pub fn iam_action(service: &str, operation: &str) -> String {
    match (service, operation) {
        ("s3", "HeadBucket") | ("s3", "ListObjectsV2") => "s3:ListBucket".into(),
        ("s3", "GetBucketEncryption") => "s3:GetEncryptionConfiguration".into(),
        ("s3", "GetObject") => "s3:GetObject".into(),
        _ => format!("{service}:{operation}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_read_only_and_complete() {
        let all = all();
        for (check, perms) in crate::diagnose::checks::declared() {
            for p in perms {
                assert!(all.contains(p), "{check} needs {p}");
            }
        }
        assert!(all.contains("cloudwatch:GetMetricData"));
        for a in &all {
            assert!(is_read_only(a), "{a}");
        }
        assert!(!is_read_only("s3:PutObject"));
        assert_eq!(iam_action("s3", "HeadBucket"), "s3:ListBucket");
        assert_eq!(iam_action("iam", "GetRole"), "iam:GetRole");
    }
}
