//! The monitor's own least-privilege IAM policy, derived from what each component declares
//! it calls (`PERMISSIONS` constants next to the code that makes the calls).

use std::collections::BTreeSet;

/// Every permission of every component.
pub fn all() -> BTreeSet<&'static str> {
    let mut s: BTreeSet<&'static str> = BTreeSet::new();
    s.extend(crate::poll::PERMISSIONS);
    s.extend(crate::poll::inventory::PERMISSIONS);
    s.extend(crate::diagnose::checks::permissions());
    s.extend(crate::diagnose::changes::PERMISSIONS);
    s.extend(crate::audit::read::PERMISSIONS);
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

/// The principal the trust policies name when `--principal` is not given: to be replaced by
/// the role or user the monitor runs as.
pub const PRINCIPAL_PLACEHOLDER: &str = "arn:aws:iam::MONITOR_ACCOUNT_ID:role/MONITOR_ROLE_NAME";

/// `iam-policy -c FILE`: what the monitor's own principal needs (the read-only policy when a
/// target uses its credentials directly, and `sts:AssumeRole` on the target roles), and for
/// each target role its permissions and its trust policy (naming `principal`, with the
/// target's external id as `sts:ExternalId`: it must appear there, and AWS does not treat an
/// external id as a secret; every other output redacts it).
pub fn targets_json(settings: &crate::config::Settings, principal: Option<&str>) -> String {
    let actions: Vec<&str> = all().into_iter().collect();
    let read_only = serde_json::json!({
        "Sid": "FirehoseSentinelReadOnly",
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*"
    });
    let roles: Vec<&str> = settings
        .targets
        .iter()
        .filter_map(|t| t.role_arn.as_deref())
        .collect();
    let mut monitor = Vec::new();
    if settings.targets.iter().any(|t| t.role_arn.is_none()) {
        monitor.push(read_only.clone());
    }
    if !roles.is_empty() {
        monitor.push(serde_json::json!({
            "Sid": "FirehoseSentinelAssumeTargetRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": roles
        }));
    }
    let principal = principal.unwrap_or(PRINCIPAL_PLACEHOLDER);
    let targets: Vec<serde_json::Value> = settings
        .targets
        .iter()
        .filter_map(|t| {
            let role = t.role_arn.as_deref()?;
            let mut assume = serde_json::json!({
                "Sid": "FirehoseSentinelAssume",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole"
            });
            if let Some(x) = &t.external_id {
                assume["Condition"] =
                    serde_json::json!({"StringEquals": {"sts:ExternalId": x.expose()}});
            }
            Some(serde_json::json!({
                "target": t.name,
                "role_arn": role,
                "permissions": {"Version": "2012-10-17", "Statement": [read_only.clone()]},
                "trust": {"Version": "2012-10-17", "Statement": [assume]}
            }))
        })
        .collect();
    let doc = serde_json::json!({
        "monitor": {"Version": "2012-10-17", "Statement": monitor},
        "targets": targets
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Whether an IAM action only reads (the monitor's policy must hold nothing else).
pub fn is_read_only(action: &str) -> bool {
    let verb = action.split(':').nth(1).unwrap_or("");
    ["Get", "List", "Describe", "Filter", "Simulate", "Lookup"]
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
    #[test]
    fn each_target_role_gets_its_permissions_and_a_trust_policy_with_its_external_id() {
        let text = r#"
[aws]
region = "us-east-1"
[[targets]]
name = "prod"
role_arn = "arn:aws:iam::111122223333:role/read"
external_id = "xid-prod-1"
names = ["a"]
[[targets]]
name = "here"
names = ["b"]
"#;
        let s =
            crate::config::load_from_str(text, std::path::Path::new("c.toml"), &Default::default())
                .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&targets_json(&s, Some("arn:aws:iam::999988887777:role/m")))
                .unwrap();
        let monitor = v["monitor"]["Statement"].as_array().unwrap();
        assert_eq!(
            monitor.len(),
            2,
            "read-only for `here`, AssumeRole for `prod`"
        );
        assert_eq!(monitor[1]["Action"], "sts:AssumeRole");
        assert_eq!(
            monitor[1]["Resource"][0],
            "arn:aws:iam::111122223333:role/read"
        );
        let t = &v["targets"].as_array().unwrap()[0];
        let trust = &t["trust"]["Statement"][0];
        assert_eq!(
            trust["Principal"]["AWS"],
            "arn:aws:iam::999988887777:role/m"
        );
        assert_eq!(
            trust["Condition"]["StringEquals"]["sts:ExternalId"],
            "xid-prod-1"
        );
        let actions = t["permissions"]["Statement"][0]["Action"]
            .as_array()
            .unwrap();
        assert!(actions.iter().all(|a| is_read_only(a.as_str().unwrap())));
        assert_eq!(
            v["targets"].as_array().unwrap().len(),
            1,
            "`here` has no role"
        );
    }

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
