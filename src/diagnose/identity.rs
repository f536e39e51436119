//! Identity-policy evaluation of the delivery role: which (action, resource) pairs its policies
//! allow, judged by the local evaluator ([`super::policy`]), with the IAM simulator's answer
//! kept as a second opinion where the monitor may call it.
//!
//! [`evaluate`] and [`second_opinion`] are pure; [`identity_finding`] reads through the
//! diagnosis context and builds the finding of the `iam.*` checks.

use serde_json::{json, Value};

use super::ctx::{Ctx, RolePolicies, ROLE_POLICY_READS};
use super::findings::{finding, monitor_error, pass, skip};
use super::policy::{self, Decision, Policy, PolicyKind, Request};
use super::remediation;
use super::request::{DeliveryContext, Organization};
use crate::aws::{AwsError, Simulated};
use crate::model::{Finding, Status};

/// What an identity-policy evaluation found.
#[derive(Debug, Clone)]
pub struct Permissions {
    /// (action, resource) pairs not allowed.
    pub missing: Vec<(String, String)>,
    /// Explicit denies, with their statements.
    pub denied: Vec<Value>,
    /// Pairs whose decision depends on keys the monitor cannot know, with those keys.
    pub uncertain: Vec<Value>,
    /// Condition keys the evaluation needed and the monitor could not know.
    pub unmet_keys: Vec<String>,
    pub policies: Vec<String>,
    pub unparsable: Vec<String>,
    pub simulation: Value,
}

impl Permissions {
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
    }

    pub fn missing_actions(&self) -> Vec<String> {
        let mut a: Vec<String> = self.missing.iter().map(|(a, _)| a.clone()).collect();
        a.sort();
        a.dedup();
        a
    }

    pub fn missing_resources(&self) -> Vec<String> {
        let mut r: Vec<String> = self.missing.iter().map(|(_, r)| r.clone()).collect();
        r.sort();
        r.dedup();
        r
    }

    pub fn evidence(&self, role_arn: &str) -> Value {
        json!({
            "role": role_arn,
            "policies_evaluated": self.policies,
            "unparsable_policies": self.unparsable,
            "not_allowed": self.missing.iter().map(|(a, r)| json!({"action": a, "resource": r})).collect::<Vec<_>>(),
            "explicit_denies": self.denied,
            "cannot_tell": self.uncertain,
            "unknown_condition_keys": self.unmet_keys,
            "simulate_principal_policy": self.simulation,
        })
    }
}

/// The request context of the destination's delivery role acting through Firehose (see
/// [`super::request`]).
pub async fn firehose_context(cx: &Ctx<'_>) -> DeliveryContext {
    let role = cx
        .s3()
        .map(|d| d.role_arn.clone())
        .unwrap_or_else(|| match &cx.desc.source {
            crate::aws::Source::KinesisStream { role_arn, .. } => role_arn.clone(),
            _ => String::new(),
        });
    let org = Organization::from_read(&cx.organization().await);
    DeliveryContext::new(
        &role,
        &cx.account(),
        &cx.region(),
        &org,
        cx.s3().and_then(|d| d.kms_key_arn.as_deref()),
    )
}

/// Evaluate the role's identity policies for every (action, resource) pair.
pub fn evaluate(
    pol: &RolePolicies,
    pairs: &[(&str, String)],
    context: &DeliveryContext,
) -> Permissions {
    let policies: Vec<(&Policy, PolicyKind)> = pol
        .parsed
        .iter()
        .map(|p| (p, PolicyKind::Identity))
        .collect();
    let mut missing = Vec::new();
    let mut denied = Vec::new();
    let mut unmet_keys = Vec::new();
    let mut uncertain = Vec::new();
    for (action, resource) in pairs {
        let ev = policy::evaluate(
            &policies,
            &Request::new(action, resource, context.for_action(action)),
        );
        match ev.decision {
            Decision::Unknown => {
                let statements: Vec<Value> = ev
                    .uncertain
                    .iter()
                    .filter_map(|u| u.statement.resolve(&policies).map(|s| s.to_json()))
                    .collect();
                let keys: Vec<&str> = ev
                    .uncertain
                    .iter()
                    .flat_map(|u| u.unknown_keys.iter().map(String::as_str))
                    .collect();
                uncertain.push(json!({"action": action, "resource": resource, "unknown_keys": keys, "statements": statements}));
            }
            Decision::Allow => {}
            Decision::ExplicitDeny => {
                let stmts: Vec<Value> = ev
                    .deciding
                    .iter()
                    .filter_map(|d| d.statement.resolve(&policies).map(|s| s.to_json()))
                    .collect();
                denied.push(json!({"action": action, "resource": resource, "statements": stmts}));
                missing.push((action.to_string(), resource.clone()));
            }
            Decision::ImplicitDeny => missing.push((action.to_string(), resource.clone())),
        }
        for k in ev.missing_keys() {
            if !unmet_keys.contains(&k.to_string()) {
                unmet_keys.push(k.to_string());
            }
        }
    }
    Permissions {
        missing,
        denied,
        uncertain,
        unmet_keys,
        policies: pol.named.iter().map(|p| p.name.clone()).collect(),
        unparsable: pol.unparsable.clone(),
        simulation: Value::Null,
    }
}

/// The simulator's answer next to the local one: where they disagree (it sees SCPs and
/// permission boundaries). Unavailable is not an error.
pub fn second_opinion(perms: &Permissions, simulated: &Result<Vec<Simulated>, AwsError>) -> Value {
    match simulated {
        Ok(results) => {
            let disagreements: Vec<Value> = results
                .iter()
                .filter(|r| {
                    let local_allowed = !perms.missing.iter().any(|(a, res)| {
                        a.eq_ignore_ascii_case(&r.action) && (res == &r.resource || r.resource == "*")
                    });
                    local_allowed != (r.decision == "allowed")
                })
                .map(|r| json!({"action": r.action, "resource": r.resource, "simulator": r.decision}))
                .collect();
            json!({"used": true, "disagreements": disagreements})
        }
        Err(e) => json!({"used": false, "reason": e.to_string()}),
    }
}

/// [`evaluate`] over the role's policies as read, with the simulator's second opinion.
pub async fn role_allows(
    cx: &Ctx<'_>,
    role_arn: &str,
    pairs: &[(&str, String)],
    context: &DeliveryContext,
) -> Result<Permissions, AwsError> {
    let pol = cx.role_policies(role_arn).await?;
    let mut perms = evaluate(&pol, pairs, context);
    let actions: Vec<String> = pairs.iter().map(|(a, _)| a.to_string()).collect();
    let mut resources: Vec<String> = pairs.iter().map(|(_, r)| r.clone()).collect();
    resources.dedup();
    let base = context.for_action("");
    let ctx_entries: Vec<(String, Vec<String>)> = base
        .keys()
        .filter_map(|k| base.get(k).map(|v| (k.to_string(), v.to_vec())))
        .collect();
    let simulated = cx
        .simulate(role_arn, &actions, &resources, &ctx_entries)
        .await;
    perms.simulation = second_opinion(&perms, &simulated);
    Ok(perms)
}

/// The common shape of the `iam.*` checks: evaluate the role's identity policies for `pairs`
/// and report what is missing with the statement to add.
pub async fn identity_finding(
    cx: &Ctx<'_>,
    check: &str,
    role_arn: &str,
    pairs: &[(&str, String)],
    context: &DeliveryContext,
    what: &str,
) -> Finding {
    let perms = match role_allows(cx, role_arn, pairs, context).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => {
            return skip(
                check,
                format!("the role {role_arn} does not exist (see iam.role)"),
            )
        }
        Err(e) => return monitor_error(check, &e, &ROLE_POLICY_READS.join(", ")),
    };
    permissions_finding(check, role_arn, &perms, context, what)
}

/// The finding of an identity-policy evaluation: `pass`, `warn` (cannot tell) or `fail` with
/// the statement to add.
pub fn permissions_finding(
    check: &str,
    role_arn: &str,
    perms: &Permissions,
    context: &DeliveryContext,
    what: &str,
) -> Finding {
    let mut evidence = perms.evidence(role_arn);
    evidence["request_context"] = context.evidence().clone();
    if perms.ok() && perms.uncertain.is_empty() {
        return pass(check, format!("the role's policies allow {what}"), evidence);
    }
    if perms.ok() {
        return cannot_tell(check, role_arn, &perms.uncertain, evidence);
    }
    let actions = perms.missing_actions();
    let resources = perms.missing_resources();
    let denied = !perms.denied.is_empty();
    finding(
        check,
        Status::Fail,
        format!(
            "the delivery role {role_arn} is not allowed {}{}",
            actions.join(", "),
            if denied { " (explicitly denied)" } else { "" }
        ),
        evidence,
        remediation::grant(check, role_arn, &actions, &resources, denied),
    )
}

/// The `warn` of a decision that depends on keys the monitor cannot know: never a `fail`,
/// never the root cause.
pub fn cannot_tell(check: &str, who: &str, uncertain: &[Value], evidence: Value) -> Finding {
    let mut keys: Vec<String> = uncertain
        .iter()
        .flat_map(|u| u["unknown_keys"].as_array().cloned().unwrap_or_default())
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    keys.sort();
    keys.dedup();
    finding(
        check,
        Status::Warn,
        format!(
            "cannot tell whether {who} is allowed: it depends on {} whose value the monitor cannot know",
            keys.join(", ")
        ),
        evidence,
        "review the statements shown in the evidence; where the value is your organization id, let the monitor read it (organizations:DescribeOrganization)",
    )
}
