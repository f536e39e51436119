//! The context of one diagnosis: the stream, the window and the AWS reads the checks share.
//! Each shared read is made at most once per diagnosis (a `OnceCell` per read), whichever check
//! asks first; checks then evaluate what was read without further I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::aws::{
    AwsError, BucketEncryption, DiagnosisApi, FunctionInfo, KeyInfo, LogEvent, MetricQuery,
    NamedPolicy, RoleInfo, S3Destination, StreamDescription,
};
use crate::diagnose::policy::{self, Context, Decision, Policy, PolicyKind, Request};
use crate::model::Window;
use crate::model::{Finding, Status};

/// What reading a role's identity policies costs the monitor (the `iam.*` checks).
pub const ROLE_POLICY_READS: &[&str] = &[
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
];

type Shared<T> = OnceCell<Result<T, AwsError>>;
type Keyed<T> = Mutex<HashMap<String, Arc<Shared<T>>>>;

/// A role's identity policies, parsed (a document that does not parse is kept as an error).
#[derive(Debug, Clone)]
pub struct RolePolicies {
    pub named: Vec<NamedPolicy>,
    pub parsed: Vec<Policy>,
    pub unparsable: Vec<String>,
}

/// Datapoints of the diagnosis metrics, by `namespace/metric/stat`.
#[derive(Debug, Clone, Default)]
pub struct DiagMetrics {
    pub series: HashMap<String, BTreeMap<DateTime<Utc>, f64>>,
}

impl DiagMetrics {
    pub fn points(
        &self,
        ns: &str,
        metric: &str,
        stat: &str,
    ) -> Option<&BTreeMap<DateTime<Utc>, f64>> {
        self.series.get(&format!("{ns}/{metric}/{stat}"))
    }
    pub fn sum(&self, ns: &str, metric: &str, stat: &str) -> f64 {
        self.points(ns, metric, stat)
            .map(|p| p.values().sum())
            .unwrap_or(0.0)
    }
    pub fn max(&self, ns: &str, metric: &str, stat: &str) -> Option<f64> {
        self.points(ns, metric, stat)
            .and_then(|p| p.values().copied().reduce(f64::max))
    }
    pub fn min(&self, ns: &str, metric: &str, stat: &str) -> Option<f64> {
        self.points(ns, metric, stat)
            .and_then(|p| p.values().copied().reduce(f64::min))
    }
    pub fn has(&self, ns: &str, metric: &str, stat: &str) -> bool {
        self.points(ns, metric, stat).is_some_and(|p| !p.is_empty())
    }
    pub fn json(&self, ns: &str, metric: &str, stat: &str) -> Value {
        match self.points(ns, metric, stat) {
            Some(p) => json!(p
                .iter()
                .map(|(t, v)| json!({"t": t, "v": v}))
                .collect::<Vec<_>>()),
            None => json!([]),
        }
    }
}

/// Everything a check may read.
pub struct Ctx<'a> {
    pub api: &'a dyn DiagnosisApi,
    pub desc: &'a StreamDescription,
    pub window: Window,
    pub now: DateTime<Utc>,
    role: Keyed<RoleInfo>,
    policies: Keyed<RolePolicies>,
    bucket: Shared<()>,
    encryption: Shared<Option<BucketEncryption>>,
    bucket_policy: Shared<Option<String>>,
    keys: Keyed<KeyInfo>,
    key_policies: Keyed<String>,
    function: Shared<FunctionInfo>,
    metrics: Shared<DiagMetrics>,
    firehose_logs: Shared<Vec<LogEvent>>,
    lambda_logs: Shared<Vec<LogEvent>>,
}

fn keyed<T>(map: &Keyed<T>, key: &str) -> Arc<Shared<T>> {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone()
}

/// Name of a role from its ARN (`arn:aws:iam::ACCOUNT:role/path/NAME`).
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Lambda ARN split into (function name, qualifier).
pub fn lambda_parts(arn: &str) -> (String, Option<String>) {
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() >= 7 && parts[5] == "function" {
        (
            parts[6].to_string(),
            parts
                .get(7)
                .map(|q| q.to_string())
                .filter(|q| !q.is_empty()),
        )
    } else {
        (arn.to_string(), None)
    }
}

/// The static part of an S3 prefix: the text before its first `!{` expression.
pub fn static_prefix(prefix: &str) -> &str {
    prefix.split("!{").next().unwrap_or("")
}

/// Where Firehose writes processing-failed records.
pub fn error_output_prefix(d: &S3Destination) -> String {
    match d.error_output_prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => static_prefix(&p.replace("!{firehose:error-output-type}", "processing-failed"))
            .to_string(),
        None => "processing-failed/".to_string(),
    }
}

impl<'a> Ctx<'a> {
    pub fn new(
        api: &'a dyn DiagnosisApi,
        desc: &'a StreamDescription,
        window: Window,
        now: DateTime<Utc>,
    ) -> Self {
        Ctx {
            api,
            desc,
            window,
            now,
            role: Mutex::default(),
            policies: Mutex::default(),
            bucket: OnceCell::new(),
            encryption: OnceCell::new(),
            bucket_policy: OnceCell::new(),
            keys: Mutex::default(),
            key_policies: Mutex::default(),
            function: OnceCell::new(),
            metrics: OnceCell::new(),
            firehose_logs: OnceCell::new(),
            lambda_logs: OnceCell::new(),
        }
    }

    pub fn account(&self) -> String {
        self.desc.account()
    }

    pub fn region(&self) -> String {
        self.desc.region()
    }

    pub fn s3(&self) -> Option<&'a S3Destination> {
        self.desc.s3.as_ref()
    }

    pub async fn role(&self, arn: &str) -> Result<RoleInfo, AwsError> {
        let cell = keyed(&self.role, arn);
        cell.get_or_init(|| self.api.role(role_name(arn)))
            .await
            .clone()
    }

    pub async fn role_policies(&self, arn: &str) -> Result<RolePolicies, AwsError> {
        let cell = keyed(&self.policies, arn);
        cell.get_or_init(|| async {
            let named = self.api.role_policies(role_name(arn)).await?;
            let mut parsed = Vec::new();
            let mut unparsable = Vec::new();
            for p in &named {
                match Policy::parse(&p.document) {
                    Ok(x) => parsed.push(x),
                    Err(e) => unparsable.push(format!("{}: {e}", p.name)),
                }
            }
            Ok(RolePolicies {
                named,
                parsed,
                unparsable,
            })
        })
        .await
        .clone()
    }

    pub async fn bucket(&self) -> Result<(), AwsError> {
        let Some(d) = self.s3() else { return Ok(()) };
        self.bucket
            .get_or_init(|| self.api.head_bucket(&d.bucket))
            .await
            .clone()
    }

    pub async fn encryption(&self) -> Result<Option<BucketEncryption>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        self.encryption
            .get_or_init(|| self.api.bucket_encryption(&d.bucket))
            .await
            .clone()
    }

    pub async fn bucket_policy(&self) -> Result<Option<String>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        self.bucket_policy
            .get_or_init(|| self.api.bucket_policy(&d.bucket))
            .await
            .clone()
    }

    pub async fn key(&self, key: &str) -> Result<KeyInfo, AwsError> {
        let cell = keyed(&self.keys, key);
        cell.get_or_init(|| self.api.describe_key(key))
            .await
            .clone()
    }

    pub async fn key_policy(&self, key_id: &str) -> Result<String, AwsError> {
        let cell = keyed(&self.key_policies, key_id);
        cell.get_or_init(|| self.api.key_policy(key_id))
            .await
            .clone()
    }

    pub async fn function(&self) -> Option<Result<FunctionInfo, AwsError>> {
        let arn = self.s3()?.lambda_arn.as_deref()?;
        let (name, qualifier) = lambda_parts(arn);
        Some(
            self.function
                .get_or_init(|| async move { self.api.function(&name, qualifier.as_deref()).await })
                .await
                .clone(),
        )
    }

    /// The KMS key that encrypts the destination's objects: the destination's own
    /// `KMSEncryptionConfig`, else the bucket's default `aws:kms`/`aws:kms:dsse` key.
    /// `Ok(None)`: no KMS encryption. `Ok(Some((None, ..)))`: the AWS managed `aws/s3` key.
    pub async fn destination_key(
        &self,
    ) -> Result<Option<(Option<String>, &'static str)>, AwsError> {
        let Some(d) = self.s3() else { return Ok(None) };
        if let Some(k) = &d.kms_key_arn {
            return Ok(Some((
                Some(k.clone()),
                "the destination's EncryptionConfiguration",
            )));
        }
        match self.encryption().await? {
            Some(e) if e.algorithm.starts_with("aws:kms") => Ok(Some((
                e.kms_key_id.clone(),
                "the bucket's default encryption",
            ))),
            _ => Ok(None),
        }
    }

    /// The destination's KMS key, described: the lookup `kms.key` and `iam.kms` share.
    /// `Err`: the monitor could not read the bucket's encryption.
    pub async fn destination_key_info(&self) -> Result<DestKey, AwsError> {
        let Some(d) = self.s3() else {
            return Ok(DestKey::NotApplicable("the destination is not S3".into()));
        };
        let (reference, source) = match self.destination_key().await {
            Ok(Some((Some(k), source))) => (k, source),
            Ok(Some((None, source))) => return Ok(DestKey::AwsManagedS3 { source }),
            Ok(None) => {
                return Ok(DestKey::NotApplicable(
                    "the destination's objects are not encrypted with KMS".into(),
                ))
            }
            Err(e) if e.is_not_found() => {
                return Ok(DestKey::NotApplicable(format!(
                    "bucket {} does not exist (see s3.bucket)",
                    d.bucket
                )))
            }
            Err(e) => return Err(e),
        };
        Ok(match self.key(&reference).await {
            Ok(key) => DestKey::Described { key, source },
            Err(error) => DestKey::Unreadable {
                reference,
                source,
                error,
            },
        })
    }

    /// All diagnosis metrics in one `GetMetricData` request.
    pub async fn metrics(&self) -> Result<DiagMetrics, AwsError> {
        self.metrics
            .get_or_init(|| async {
                let queries = self.metric_queries();
                let keys: HashMap<String, String> = queries
                    .iter()
                    .map(|q| {
                        (
                            q.id.clone(),
                            format!("{}/{}/{}", q.namespace, q.metric, q.stat),
                        )
                    })
                    .collect();
                let end = self
                    .window
                    .end
                    .max(self.now - chrono::Duration::seconds(60));
                let series = self
                    .api
                    .get_metric_data(&queries, self.window.start, end)
                    .await?;
                let mut m = DiagMetrics::default();
                for s in series {
                    if let Some(k) = keys.get(&s.id) {
                        m.series.insert(k.clone(), s.points);
                    }
                }
                Ok(m)
            })
            .await
            .clone()
    }

    fn metric_queries(&self) -> Vec<MetricQuery> {
        let period = self.window.period_seconds;
        let mut q = Vec::new();
        let mut add = |ns: &str, metric: &str, stat: &str, dim: (&str, String)| {
            q.push(MetricQuery {
                id: format!("d{}", q.len()),
                namespace: ns.into(),
                metric: metric.into(),
                dimensions: vec![(dim.0.to_string(), dim.1)],
                period_seconds: period,
                stat: stat.into(),
            })
        };
        let fh = ("DeliveryStreamName", self.desc.name.clone());
        for (m, s) in [
            ("IncomingRecords", "Sum"),
            ("IncomingBytes", "Sum"),
            ("ThrottledRecords", "Sum"),
            ("KMSKeyAccessDenied", "Sum"),
            ("KMSKeyDisabled", "Sum"),
            ("KMSKeyInvalidState", "Sum"),
            ("KMSKeyNotFound", "Sum"),
        ] {
            add("AWS/Firehose", m, s, fh.clone());
        }
        if let Some(arn) = self.s3().and_then(|d| d.lambda_arn.as_deref()) {
            add(
                "AWS/Firehose",
                "ExecuteProcessing.Success",
                "Average",
                fh.clone(),
            );
            add(
                "AWS/Firehose",
                "ExecuteProcessing.Duration",
                "Maximum",
                fh.clone(),
            );
            let (name, _) = lambda_parts(arn);
            for (m, s) in [
                ("Errors", "Sum"),
                ("Throttles", "Sum"),
                ("Duration", "Maximum"),
            ] {
                add("AWS/Lambda", m, s, ("FunctionName", name.clone()));
            }
        }
        if let crate::aws::Source::KinesisStream { stream_arn, .. } = &self.desc.source {
            add(
                "AWS/Firehose",
                "DataReadFromKinesisStream.Records",
                "Sum",
                fh.clone(),
            );
            let name = stream_arn
                .rsplit('/')
                .next()
                .unwrap_or(stream_arn)
                .to_string();
            add(
                "AWS/Kinesis",
                "IncomingRecords",
                "Sum",
                ("StreamName", name),
            );
        }
        q
    }

    /// The Firehose error log group of the destination.
    pub fn log_group(&self) -> Option<String> {
        let l = &self.s3()?.logging;
        if !l.enabled {
            return None;
        }
        Some(
            l.log_group
                .clone()
                .unwrap_or_else(|| format!("/aws/kinesisfirehose/{}", self.desc.name)),
        )
    }

    fn log_start(&self) -> DateTime<Utc> {
        self.window.start
    }

    async fn logs(
        &self,
        cell: &'a Shared<Vec<LogEvent>>,
        group: String,
    ) -> Result<Vec<LogEvent>, AwsError> {
        cell.get_or_init(|| async move {
            self.api
                .log_events(&group, self.log_start(), self.now, 1000)
                .await
        })
        .await
        .clone()
    }

    /// Events of the Firehose error log in the window (`None`: logging disabled).
    pub async fn firehose_logs(&'a self) -> Option<Result<Vec<LogEvent>, AwsError>> {
        let group = self.log_group()?;
        Some(self.logs(&self.firehose_logs, group).await)
    }

    /// Events of the processor's log group in the window (`None`: no processor).
    pub async fn lambda_logs(&'a self) -> Option<Result<Vec<LogEvent>, AwsError>> {
        let arn = self.s3()?.lambda_arn.as_deref()?;
        let (name, _) = lambda_parts(arn);
        Some(
            self.logs(&self.lambda_logs, format!("/aws/lambda/{name}"))
                .await,
        )
    }

    /// Evaluate the role's identity policies for every (action, resource) pair. Where the
    /// monitor may call `iam:SimulatePrincipalPolicy`, its answer is kept as a second opinion.
    pub async fn role_allows(
        &self,
        role_arn: &str,
        pairs: &[(&str, String)],
        context: &Context,
    ) -> Result<Permissions, AwsError> {
        let pol = self.role_policies(role_arn).await?;
        let policies: Vec<(&Policy, PolicyKind)> = pol
            .parsed
            .iter()
            .map(|p| (p, PolicyKind::Identity))
            .collect();
        let mut missing = Vec::new();
        let mut denied = Vec::new();
        let mut unmet_keys = Vec::new();
        for (action, resource) in pairs {
            let ev = policy::evaluate(&policies, &Request::new(action, resource, context));
            match ev.decision {
                Decision::Allow => {}
                Decision::ExplicitDeny => {
                    let stmts: Vec<Value> = ev
                        .deciding
                        .iter()
                        .filter_map(|d| d.statement.resolve(&policies).map(|s| s.to_json()))
                        .collect();
                    denied
                        .push(json!({"action": action, "resource": resource, "statements": stmts}));
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
        // Second opinion (covers SCPs and permission boundaries); unavailable is not an error.
        let actions: Vec<String> = pairs.iter().map(|(a, _)| a.to_string()).collect();
        let mut resources: Vec<String> = pairs.iter().map(|(_, r)| r.clone()).collect();
        resources.dedup();
        let ctx_entries: Vec<(String, Vec<String>)> = context
            .keys()
            .filter_map(|k| context.get(k).map(|v| (k.to_string(), v.to_vec())))
            .collect();
        let simulation = match self
            .api
            .simulate(role_arn, &actions, &resources, &ctx_entries)
            .await
        {
            Ok(results) => {
                let disagreements: Vec<Value> = results
                    .iter()
                    .filter(|r| {
                        let local_allowed = !missing.iter().any(|(a, res)| a.eq_ignore_ascii_case(&r.action) && (res == &r.resource || r.resource == "*"));
                        local_allowed != (r.decision == "allowed")
                    })
                    .map(|r| json!({"action": r.action, "resource": r.resource, "simulator": r.decision}))
                    .collect();
                json!({"used": true, "disagreements": disagreements})
            }
            Err(e) => json!({"used": false, "reason": e.to_string()}),
        };
        Ok(Permissions {
            missing,
            denied,
            unmet_keys,
            policies: pol.named.iter().map(|p| p.name.clone()).collect(),
            unparsable: pol.unparsable,
            simulation,
        })
    }
}

/// The key that encrypts the destination's objects.
#[derive(Debug, Clone)]
pub enum DestKey {
    /// No KMS key applies; the reason.
    NotApplicable(String),
    /// The AWS managed `aws/s3` key (no key id configured).
    AwsManagedS3 {
        source: &'static str,
    },
    /// `DescribeKey` failed (`NotFound`: the key does not exist).
    Unreadable {
        reference: String,
        source: &'static str,
        error: AwsError,
    },
    Described {
        key: KeyInfo,
        source: &'static str,
    },
}

/// What an identity-policy evaluation found.
#[derive(Debug, Clone)]
pub struct Permissions {
    /// (action, resource) pairs not allowed.
    pub missing: Vec<(String, String)>,
    /// Explicit denies, with their statements.
    pub denied: Vec<Value>,
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
            "unknown_condition_keys": self.unmet_keys,
            "simulate_principal_policy": self.simulation,
        })
    }
}

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

/// Finding constructors.
pub fn finding(
    check: &str,
    status: Status,
    summary: impl Into<String>,
    evidence: Value,
    remediation: impl Into<String>,
) -> Finding {
    Finding {
        check: check.to_string(),
        status,
        summary: summary.into(),
        evidence,
        remediation: remediation.into(),
    }
}

pub fn pass(check: &str, summary: impl Into<String>, evidence: Value) -> Finding {
    finding(check, Status::Pass, summary, evidence, "")
}

pub fn skip(check: &str, why: impl Into<String>) -> Finding {
    finding(check, Status::Skip, why, Value::Null, "")
}

/// The monitor itself could not read what the check needs: never the stream's cause.
pub fn monitor_error(check: &str, e: &AwsError, permission: &str) -> Finding {
    if e.is_access_denied() {
        finding(
            check,
            Status::Error,
            format!("the monitor is not allowed to read this: {e}"),
            json!({"error": e.to_string(), "code": e.code(), "monitor_permission_needed": permission}),
            format!(
                "grant the monitor's own role {permission} (see `firehose-sentinel iam-policy`)"
            ),
        )
    } else {
        finding(
            check,
            Status::Error,
            format!("could not run: {e}"),
            json!({"error": e.to_string(), "code": e.code()}),
            "",
        )
    }
}

/// A request context for the delivery role acting through Firehose.
pub fn firehose_context(cx: &Ctx<'_>) -> Context {
    Context::new()
        .with("aws:SecureTransport", "true")
        .with("aws:PrincipalAccount", cx.account())
        .with("aws:SourceAccount", cx.account())
        .with("aws:SourceArn", cx.desc.arn.clone())
        .with("aws:RequestedRegion", cx.region())
}

/// A sample object ARN under the destination prefix.
pub fn sample_object_arn(d: &S3Destination, now: DateTime<Utc>) -> String {
    let prefix = static_prefix(d.prefix.as_deref().unwrap_or(""));
    let prefix = if prefix.is_empty() {
        now.format("%Y/%m/%d/%H/").to_string()
    } else {
        prefix.to_string()
    };
    format!(
        "arn:aws:s3:::{}/{}firehose-sentinel-sample-object",
        d.bucket, prefix
    )
}

/// The object ARN pattern for remediation statements.
pub fn object_arn_pattern(d: &S3Destination) -> String {
    let prefix = static_prefix(d.prefix.as_deref().unwrap_or(""));
    format!("arn:aws:s3:::{}/{}*", d.bucket, prefix)
}

/// The common shape of the `iam.*` checks: evaluate the role's identity policies for `pairs`
/// and report what is missing with the statement to add.
pub async fn identity_finding(
    cx: &Ctx<'_>,
    check: &str,
    role_arn: &str,
    pairs: &[(&str, String)],
    context: &Context,
    what: &str,
) -> Finding {
    let perms = match cx.role_allows(role_arn, pairs, context).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => {
            return skip(
                check,
                format!("the role {role_arn} does not exist (see iam.role)"),
            )
        }
        Err(e) => return monitor_error(check, &e, &ROLE_POLICY_READS.join(", ")),
    };
    let evidence = perms.evidence(role_arn);
    if perms.ok() {
        return pass(check, format!("the role's policies allow {what}"), evidence);
    }
    let actions = perms.missing_actions();
    let resources = perms.missing_resources();
    let sid = format!(
        "Firehose{}",
        check
            .split('.')
            .next_back()
            .unwrap_or(check)
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>()
    );
    let mut fix = format!(
        "add to the policy of {role_arn}:\n{}",
        statement(&sid, &actions, &resources)
    );
    if !perms.denied.is_empty() {
        fix.push_str("\nand remove or narrow the explicit Deny statements shown in the evidence");
    }
    finding(
        check,
        Status::Fail,
        format!(
            "the delivery role {role_arn} is not allowed {}{}",
            actions.join(", "),
            if perms.denied.is_empty() {
                ""
            } else {
                " (explicitly denied)"
            }
        ),
        evidence,
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_arns() {
        assert_eq!(static_prefix("logs/!{timestamp:yyyy/MM/dd}/"), "logs/");
        assert_eq!(static_prefix("!{firehose:random-string}/x"), "");
        assert_eq!(role_name("arn:aws:iam::1:role/service-role/fh"), "fh");
        assert_eq!(
            lambda_parts("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            ("f".to_string(), Some("$LATEST".to_string()))
        );
        assert_eq!(
            lambda_parts("arn:aws:lambda:us-east-1:1:function:f"),
            ("f".to_string(), None)
        );
    }
}
