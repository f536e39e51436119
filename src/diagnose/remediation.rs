//! Remediation text: the IAM statements a fix adds, and the wording of identity-policy fixes.
//! Pure.

use serde_json::json;

/// An IAM policy statement to add, pretty printed.
pub fn statement(sid: &str, actions: &[String], resources: &[String]) -> String {
    let doc = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The `Sid` of the statement a check proposes: `iam.s3` -> `FirehoseS3`,
/// `iam.some_thing` -> `FirehoseSomeThing`.
pub fn sid(check: &str) -> String {
    let words = check.split('.').next_back().unwrap_or(check).split('_');
    let capitalized: String = words
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("Firehose{capitalized}")
}

/// The fix of an identity-policy gap: the statement to add to the role's policy, and what to
/// do about explicit denies.
pub fn grant(
    check: &str,
    role_arn: &str,
    actions: &[String],
    resources: &[String],
    denied: bool,
) -> String {
    let mut fix = format!(
        "add to the policy of {role_arn}:\n{}",
        statement(&sid(check), actions, resources)
    );
    if denied {
        fix.push_str("\nand remove or narrow the explicit Deny statements shown in the evidence");
    }
    fix
}
