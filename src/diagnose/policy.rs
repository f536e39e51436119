//! Local IAM policy evaluator: parses IAM policy documents (identity, bucket, key and trust
//! policies) and decides Allow / ExplicitDeny / ImplicitDeny for one request following AWS's
//! documented evaluation logic, reporting which statements were skipped because of their
//! conditions and which context keys they depend on. Pure computation: no I/O, no AWS calls.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The largest document parsed (AWS's largest, a key policy, is 32 KiB).
pub const MAX_POLICY_BYTES: usize = 128 << 10;

/// Why a policy document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The text is not valid JSON (message carries serde_json's line/column).
    Json { message: String },
    /// Valid JSON, but not a valid policy document; `path` is e.g. `Statement[1].Effect`.
    Shape { path: String, message: String },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Json { message } => write!(f, "policy is not valid JSON: {message}"),
            PolicyError::Shape { path, message } => {
                write!(f, "invalid policy at {path}: {message}")
            }
        }
    }
}

impl std::error::Error for PolicyError {}

fn shape(path: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::Shape {
        path: path.to_string(),
        message: message.into(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Policy model
// ---------------------------------------------------------------------------------------------

/// Whether a policy is attached to an identity (no `Principal` element, principal matching is
/// skipped) or to a resource (bucket policy, key policy, role trust policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyKind {
    Identity,
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// `Action`/`NotAction` or `Resource`/`NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    /// `Action` / `Resource`: applies when any pattern matches.
    Listed(Vec<String>),
    /// `NotAction` / `NotResource`: applies when no pattern matches.
    Not(Vec<String>),
}

impl Patterns {
    fn applies(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        match self {
            Patterns::Listed(p) => p.iter().any(|x| matches(x)),
            Patterns::Not(p) => !p.iter().any(|x| matches(x)),
        }
    }
}

/// The value of a `Principal`/`NotPrincipal` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalSpec {
    /// `"Principal": "*"`.
    pub wildcard: bool,
    pub aws: Vec<String>,
    pub service: Vec<String>,
    pub federated: Vec<String>,
    pub canonical_user: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalBlock {
    /// True for `NotPrincipal`.
    pub negated: bool,
    pub spec: PrincipalSpec,
}

/// One `operator -> key -> values` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub action: Patterns,
    /// `None` when the statement has neither `Resource` nor `NotResource` (trust policies):
    /// it then applies to any resource.
    pub resource: Option<Patterns>,
    pub principal: Option<PrincipalBlock>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, PolicyError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(shape(
            path,
            format!("expected a string, got {}", kind_of(other)),
        )),
    }
}

/// A string or an array of strings.
fn string_list(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(shape(
                    &format!("{path}[{i}]"),
                    format!("expected a string, got {}", kind_of(other)),
                )),
            })
            .collect(),
        other => Err(shape(
            path,
            format!(
                "expected a string or an array of strings, got {}",
                kind_of(other)
            ),
        )),
    }
}

/// Condition values: strings, booleans or numbers (or an array of them), kept as strings.
fn condition_values(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    fn scalar(v: &Value, path: &str) -> Result<String, PolicyError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(shape(
                path,
                format!(
                    "expected a string, boolean or number, got {}",
                    kind_of(other)
                ),
            )),
        }
    }
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| scalar(item, &format!("{path}[{i}]")))
            .collect(),
        other => scalar(other, path).map(|s| vec![s]),
    }
}

fn pair<'v>(
    obj: &'v Map<String, Value>,
    positive: &str,
    negative: &str,
    path: &str,
) -> Result<Option<(bool, &'v Value)>, PolicyError> {
    match (obj.get(positive), obj.get(negative)) {
        (Some(_), Some(_)) => Err(shape(
            path,
            format!("statement has both {positive:?} and {negative:?}"),
        )),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

impl PrincipalSpec {
    fn from_value(v: &Value, path: &str) -> Result<Self, PolicyError> {
        let mut spec = PrincipalSpec::default();
        match v {
            Value::String(s) if s == "*" => spec.wildcard = true,
            Value::Object(map) => {
                for (k, val) in map {
                    let p = format!("{path}.{k}");
                    let list = string_list(val, &p)?;
                    match k.as_str() {
                        "AWS" => spec.aws = list,
                        "Service" => spec.service = list,
                        "Federated" => spec.federated = list,
                        "CanonicalUser" => spec.canonical_user = list,
                        _ => {
                            return Err(shape(
                                &p,
                                "unknown principal type (expected AWS, Service, Federated or CanonicalUser)",
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(shape(
                    path,
                    format!(
                        "expected \"*\" or an object of principal types, got {}",
                        kind_of(other)
                    ),
                ))
            }
        }
        Ok(spec)
    }

    fn to_json(&self) -> Value {
        if self.wildcard {
            return Value::String("*".into());
        }
        let mut m = Map::new();
        for (k, list) in [
            ("AWS", &self.aws),
            ("Service", &self.service),
            ("Federated", &self.federated),
            ("CanonicalUser", &self.canonical_user),
        ] {
            if !list.is_empty() {
                m.insert(k.into(), one_or_many(list));
            }
        }
        Value::Object(m)
    }
}

fn one_or_many(list: &[String]) -> Value {
    match list {
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

impl Statement {
    fn from_value(v: &Value, path: &str) -> Result<Self, PolicyError> {
        let obj = v
            .as_object()
            .ok_or_else(|| shape(path, format!("expected an object, got {}", kind_of(v))))?;
        if let Some(k) = obj.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
            return Err(shape(path, format!("unknown element {k:?}")));
        }
        let sid = opt_string(obj, "Sid", &format!("{path}.Sid"))?;
        let effect = match obj.get("Effect") {
            Some(Value::String(s)) if s == "Allow" => Effect::Allow,
            Some(Value::String(s)) if s == "Deny" => Effect::Deny,
            Some(other) => {
                return Err(shape(
                    &format!("{path}.Effect"),
                    format!("expected \"Allow\" or \"Deny\", got {other}"),
                ))
            }
            None => return Err(shape(path, "missing required element \"Effect\"")),
        };
        let action = match pair(obj, "Action", "NotAction", path)? {
            Some((false, v)) => Patterns::Listed(string_list(v, &format!("{path}.Action"))?),
            Some((true, v)) => Patterns::Not(string_list(v, &format!("{path}.NotAction"))?),
            None => {
                return Err(shape(
                    path,
                    "missing required element \"Action\" or \"NotAction\"",
                ))
            }
        };
        let resource = match pair(obj, "Resource", "NotResource", path)? {
            Some((false, v)) => Some(Patterns::Listed(string_list(
                v,
                &format!("{path}.Resource"),
            )?)),
            Some((true, v)) => Some(Patterns::Not(string_list(
                v,
                &format!("{path}.NotResource"),
            )?)),
            None => None,
        };
        let principal = match pair(obj, "Principal", "NotPrincipal", path)? {
            Some((negated, v)) => {
                let name = if negated { "NotPrincipal" } else { "Principal" };
                Some(PrincipalBlock {
                    negated,
                    spec: PrincipalSpec::from_value(v, &format!("{path}.{name}"))?,
                })
            }
            None => None,
        };
        let mut conditions = Vec::new();
        if let Some(c) = obj.get("Condition") {
            let cpath = format!("{path}.Condition");
            let ops = c
                .as_object()
                .ok_or_else(|| shape(&cpath, format!("expected an object, got {}", kind_of(c))))?;
            for (op, block) in ops {
                let opath = format!("{cpath}.{op}");
                let keys = block.as_object().ok_or_else(|| {
                    shape(
                        &opath,
                        format!(
                            "expected an object of condition keys, got {}",
                            kind_of(block)
                        ),
                    )
                })?;
                for (key, vals) in keys {
                    conditions.push(Condition {
                        operator: op.clone(),
                        key: key.clone(),
                        values: condition_values(vals, &format!("{opath}.{key}"))?,
                    });
                }
            }
        }
        Ok(Statement {
            sid,
            effect,
            action,
            resource,
            principal,
            conditions,
        })
    }

    /// Render the statement back to policy JSON (canonical form: single-element lists become
    /// strings, condition values are strings), e.g. for evidence in a diagnosis.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(sid) = &self.sid {
            m.insert("Sid".into(), Value::String(sid.clone()));
        }
        m.insert("Effect".into(), Value::String(self.effect.to_string()));
        if let Some(p) = &self.principal {
            let name = if p.negated {
                "NotPrincipal"
            } else {
                "Principal"
            };
            m.insert(name.into(), p.spec.to_json());
        }
        let (name, list) = match &self.action {
            Patterns::Listed(l) => ("Action", l),
            Patterns::Not(l) => ("NotAction", l),
        };
        m.insert(name.into(), one_or_many(list));
        match &self.resource {
            Some(Patterns::Listed(l)) => {
                m.insert("Resource".into(), one_or_many(l));
            }
            Some(Patterns::Not(l)) => {
                m.insert("NotResource".into(), one_or_many(l));
            }
            None => {}
        }
        if !self.conditions.is_empty() {
            let mut ops: Map<String, Value> = Map::new();
            for c in &self.conditions {
                let entry = ops
                    .entry(c.operator.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(keys) = entry {
                    keys.insert(c.key.clone(), one_or_many(&c.values));
                }
            }
            m.insert("Condition".into(), Value::Object(ops));
        }
        Value::Object(m)
    }
}

impl Policy {
    /// Parse a policy document (already URL-decoded, as IAM's Get*Policy calls return it encoded).
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        // IAM, bucket and key policies are at most a few tens of KiB.
        if json.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::Shape {
                path: String::new(),
                message: format!(
                    "document of {} bytes, larger than any IAM, bucket or key policy ({MAX_POLICY_BYTES})",
                    json.len()
                ),
            });
        }
        let value: Value = serde_json::from_str(json).map_err(|e| PolicyError::Json {
            message: e.to_string(),
        })?;
        Policy::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Policy, PolicyError> {
        let obj = value.as_object().ok_or_else(|| {
            shape(
                "$",
                format!("expected a JSON object, got {}", kind_of(value)),
            )
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
        {
            return Err(shape("$", format!("unknown element {k:?}")));
        }
        let version = opt_string(obj, "Version", "Version")?;
        if let Some(v) = &version {
            if v != "2012-10-17" && v != "2008-10-17" {
                return Err(shape(
                    "Version",
                    format!("expected \"2012-10-17\" or \"2008-10-17\", got {v:?}"),
                ));
            }
        }
        let id = opt_string(obj, "Id", "Id")?;
        let statements = match obj.get("Statement") {
            None => return Err(shape("$", "missing required element \"Statement\"")),
            Some(s @ Value::Object(_)) => vec![Statement::from_value(s, "Statement")?],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| Statement::from_value(s, &format!("Statement[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(shape(
                    "Statement",
                    format!(
                        "expected an object or an array of objects, got {}",
                        kind_of(other)
                    ),
                ))
            }
        };
        Ok(Policy {
            version,
            id,
            statements,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Request side
// ---------------------------------------------------------------------------------------------

/// Who makes the request. For a role, set `arn` (and optionally `account`; it is otherwise
/// derived from the ARN). For a service assuming a role, set `service`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    pub arn: Option<String>,
    pub account: Option<String>,
    pub service: Option<String>,
}

impl Principal {
    pub fn role(arn: &str) -> Self {
        Principal {
            arn: Some(arn.to_string()),
            ..Principal::default()
        }
    }

    pub fn service(name: &str) -> Self {
        Principal {
            service: Some(name.to_string()),
            ..Principal::default()
        }
    }

    /// `account`, or the account field of `arn` when it is a 12-digit id.
    pub fn account_id(&self) -> Option<&str> {
        if let Some(a) = &self.account {
            return Some(a.as_str());
        }
        let acct = self.arn.as_deref()?.split(':').nth(4)?;
        is_account_id(acct).then_some(acct)
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Condition context: key names are case-insensitive, each key holds a list of values.
/// A key with an empty list behaves as absent (except that `ForAllValues` is true either way).
///
/// A key may also be *unknown*: AWS sends it with the request, but the monitor cannot know its
/// value (the organization id without permission to read it, an AWS-internal source IP). A
/// condition on it makes the statement's outcome unknown, never met nor unmet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: BTreeMap<String, (String, Vec<String>)>,
    unknown: BTreeMap<String, String>,
}

impl Context {
    pub fn new() -> Self {
        Context::default()
    }

    /// Append one value to `key` (builder style).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Set all values of `key`, replacing earlier ones (builder style).
    pub fn with_values<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values = values.into_iter().map(Into::into).collect();
        self.entries
            .insert(key.to_ascii_lowercase(), (key.to_string(), values));
        self
    }

    /// Append one value to `key`.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .entry(key.to_ascii_lowercase())
            .or_insert_with(|| (key.to_string(), Vec::new()))
            .1
            .push(value.into());
    }

    /// Mark `key` as sent by AWS with a value the monitor cannot know (builder style).
    pub fn with_unknown(mut self, key: &str) -> Self {
        self.entries.remove(&key.to_ascii_lowercase());
        self.unknown
            .insert(key.to_ascii_lowercase(), key.to_string());
        self
    }

    /// Whether `key` is present with a value the monitor cannot know.
    pub fn is_unknown(&self, key: &str) -> bool {
        self.unknown.contains_key(&key.to_ascii_lowercase())
    }

    /// The keys present with values the monitor cannot know, as first given.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &str> {
        self.unknown.values().map(String::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries
            .get(&key.to_ascii_lowercase())
            .map(|(_, v)| v.as_slice())
    }

    /// Key names as first inserted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.values().map(|(k, _)| k.as_str())
    }

    fn present(&self, key: &str) -> Option<&[String]> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    /// Needed only for resource policies; `None` is an anonymous caller.
    pub principal: Option<&'a Principal>,
    pub context: &'a Context,
}

impl<'a> Request<'a> {
    pub fn new(action: &'a str, resource: &'a str, context: &'a Context) -> Self {
        Request {
            action,
            resource,
            principal: None,
            context,
        }
    }

    pub fn with_principal(mut self, principal: &'a Principal) -> Self {
        self.principal = Some(principal);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
    /// The decision depends on a statement whose conditions use a key the monitor cannot know
    /// (see [`Context::with_unknown`]): no certain Deny applies, and an uncertain Deny (or,
    /// without any certain Allow, an uncertain Allow) could decide it.
    Unknown,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Allow => "Allow",
            Decision::ExplicitDeny => "ExplicitDeny",
            Decision::ImplicitDeny => "ImplicitDeny",
            Decision::Unknown => "Unknown",
        })
    }
}

/// Points at one statement: `policy` indexes the slice given to [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    pub policy: usize,
    pub statement: usize,
    pub sid: Option<String>,
}

impl StatementRef {
    /// The Sid, or `#<index>` when the statement has none.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) => s.clone(),
            None => format!("#{}", self.statement),
        }
    }

    pub fn resolve<'p>(&self, policies: &[(&'p Policy, PolicyKind)]) -> Option<&'p Statement> {
        policies
            .get(self.policy)
            .and_then(|(p, _)| p.statements.get(self.statement))
    }
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy[{}] statement {}", self.policy, self.label())
    }
}

/// A statement that applied to the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedStatement {
    pub statement: StatementRef,
    pub effect: Effect,
    /// The principal matched only through an account id / `:root` entry. In a key policy or a
    /// cross-account bucket policy that is a delegation: the account's identity policies must
    /// allow the action as well, so evaluate them separately and require both.
    pub via_account_principal: bool,
    /// Condition keys absent from the context that were satisfied only because of that
    /// (`...IfExists`, `ForAllValues:`, `Null: true`).
    pub satisfied_by_absence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FailureReason {
    /// The key is not in the context (and the operator needs it).
    MissingKey,
    /// The key is present but its value(s) do not satisfy the operator.
    ValueMismatch,
    /// Unknown or unsupported operator (e.g. `Date*`, `Binary*`); never met.
    UnknownOperator,
    /// A policy value that the operator cannot use (bad CIDR, number, boolean).
    InvalidPolicyValue(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionFailure {
    pub operator: String,
    pub key: String,
    pub reason: FailureReason,
}

/// A statement whose action, resource and principal matched but whose conditions did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmetStatement {
    pub statement: StatementRef,
    pub effect: Effect,
    /// Every failing condition (all conditions are evaluated, not just the first failure).
    pub failures: Vec<ConditionFailure>,
    /// Keys (as spelled in the policy) that failed because the context lacks them.
    pub missing_keys: Vec<String>,
}

impl UnmetStatement {
    /// All keys whose condition failed, deduplicated, in policy order.
    pub fn unmet_keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.failures {
            if !out.contains(&f.key.as_str()) {
                out.push(&f.key);
            }
        }
        out
    }

    pub fn key_missing(&self) -> bool {
        !self.missing_keys.is_empty()
    }

    /// True when every failure is a missing key: with suitable values for those keys the
    /// statement would apply, so the outcome depends on context the caller did not supply.
    pub fn only_missing_keys(&self) -> bool {
        self.failures
            .iter()
            .all(|f| f.reason == FailureReason::MissingKey)
    }
}

/// A statement whose action, resource and principal matched and whose conditions are all met
/// or unknown, at least one unknown: it may or may not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncertainStatement {
    pub statement: StatementRef,
    pub effect: Effect,
    /// The keys the monitor cannot know that decide it.
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    /// ExplicitDeny: every applied Deny. Allow: every applied Allow. ImplicitDeny: empty.
    /// Unknown: the uncertain statements that decide it are in `uncertain`.
    pub deciding: Vec<AppliedStatement>,
    pub unmet: Vec<UnmetStatement>,
    /// Statements that may apply, depending on keys the monitor cannot know.
    pub uncertain: Vec<UncertainStatement>,
}

impl Evaluation {
    /// Missing keys over all unmet statements, sorted and deduplicated.
    pub fn missing_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .unmet
            .iter()
            .flat_map(|u| u.missing_keys.iter().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Unmet statements that could change the decision if the missing keys had suitable
    /// values: a Deny when the decision is not already ExplicitDeny, or an Allow when the
    /// decision is ImplicitDeny.
    pub fn context_dependent(&self) -> Vec<&UnmetStatement> {
        self.unmet
            .iter()
            .filter(|u| u.only_missing_keys())
            .filter(|u| match u.effect {
                Effect::Deny => self.decision != Decision::ExplicitDeny,
                Effect::Allow => self.decision == Decision::ImplicitDeny,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// Evaluate `req` against all `policies` together (union semantics, as for the identity and
/// resource policies of one account): any applicable Deny wins, else any applicable Allow,
/// else implicit deny. Cross-account access and KMS key-policy delegation need the caller to
/// evaluate each side separately and require both (see [`AppliedStatement::via_account_principal`]).
pub fn evaluate(policies: &[(&Policy, PolicyKind)], req: &Request) -> Evaluation {
    let mut allows = Vec::new();
    let mut denies = Vec::new();
    let mut unmet = Vec::new();
    let mut uncertain = Vec::new();
    for (pi, (policy, kind)) in policies.iter().enumerate() {
        for (si, st) in policy.statements.iter().enumerate() {
            if !st.action.applies(|p| wildcard_match(p, req.action, true)) {
                continue;
            }
            if let Some(r) = &st.resource {
                if !r.applies(|p| wildcard_match(p, req.resource, false)) {
                    continue;
                }
            }
            let via_account_principal = match (kind, &st.principal) {
                (PolicyKind::Resource, Some(block)) => {
                    match principal_applies(block, req.principal) {
                        Some(via_account) => via_account,
                        None => continue,
                    }
                }
                _ => false,
            };
            let statement = StatementRef {
                policy: pi,
                statement: si,
                sid: st.sid.clone(),
            };
            let mut failures = Vec::new();
            let mut satisfied_by_absence = Vec::new();
            let mut unknown_keys = Vec::new();
            for c in &st.conditions {
                match eval_condition(c, req.context) {
                    Outcome::Met => {}
                    Outcome::MetByAbsence => push_unique(&mut satisfied_by_absence, &c.key),
                    Outcome::Unknown => push_unique(&mut unknown_keys, &c.key),
                    Outcome::Unmet(reason) => failures.push(ConditionFailure {
                        operator: c.operator.clone(),
                        key: c.key.clone(),
                        reason,
                    }),
                }
            }
            if failures.is_empty() && !unknown_keys.is_empty() {
                uncertain.push(UncertainStatement {
                    statement,
                    effect: st.effect,
                    unknown_keys,
                });
            } else if failures.is_empty() {
                let applied = AppliedStatement {
                    statement,
                    effect: st.effect,
                    via_account_principal,
                    satisfied_by_absence,
                };
                match st.effect {
                    Effect::Allow => allows.push(applied),
                    Effect::Deny => denies.push(applied),
                }
            } else {
                let mut missing_keys = Vec::new();
                for f in &failures {
                    if f.reason == FailureReason::MissingKey {
                        push_unique(&mut missing_keys, &f.key);
                    }
                }
                unmet.push(UnmetStatement {
                    statement,
                    effect: st.effect,
                    failures,
                    missing_keys,
                });
            }
        }
    }
    let uncertain_effect = |e: Effect| uncertain.iter().any(|u: &UncertainStatement| u.effect == e);
    let (decision, deciding) = if !denies.is_empty() {
        (Decision::ExplicitDeny, denies)
    } else if uncertain_effect(Effect::Deny) {
        (Decision::Unknown, Vec::new())
    } else if !allows.is_empty() {
        (Decision::Allow, allows)
    } else if uncertain_effect(Effect::Allow) {
        (Decision::Unknown, Vec::new())
    } else {
        (Decision::ImplicitDeny, Vec::new())
    };
    // Only the uncertain statements that could change this decision are kept.
    let uncertain = uncertain
        .into_iter()
        .filter(|u| match decision {
            Decision::Unknown => true,
            Decision::Allow => u.effect == Effect::Deny,
            _ => false,
        })
        .collect();
    Evaluation {
        decision,
        deciding,
        unmet,
        uncertain,
    }
}

/// Every (action, resource) pair that is not allowed, with its decision, in input order.
pub fn denied_pairs(
    policies: &[(&Policy, PolicyKind)],
    actions: &[&str],
    resources: &[&str],
    principal: Option<&Principal>,
    context: &Context,
) -> Vec<(String, String, Decision)> {
    let mut out = Vec::new();
    for action in actions {
        for resource in resources {
            let req = Request {
                action,
                resource,
                principal,
                context,
            };
            let decision = evaluate(policies, &req).decision;
            if decision != Decision::Allow {
                out.push((action.to_string(), resource.to_string(), decision));
            }
        }
    }
    out
}

fn push_unique(list: &mut Vec<String>, key: &str) {
    if !list.iter().any(|k| k == key) {
        list.push(key.to_string());
    }
}

/// `Some(via_account)` when the block applies to the request principal.
fn principal_applies(block: &PrincipalBlock, who: Option<&Principal>) -> Option<bool> {
    let hit = principal_hit(&block.spec, who);
    match (block.negated, hit) {
        (false, Hit::No) => None,
        (false, Hit::Direct) => Some(false),
        (false, Hit::Account) => Some(true),
        (true, Hit::No) => Some(false),
        (true, _) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    No,
    Direct,
    Account,
}

/// The account named by an `AWS` principal entry that is an account id or `...:root` ARN.
fn account_entry(entry: &str) -> Option<&str> {
    if is_account_id(entry) {
        return Some(entry);
    }
    let parts: Vec<&str> = entry.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", acct, "root"] if is_account_id(acct) => Some(acct),
        _ => None,
    }
}

fn principal_hit(spec: &PrincipalSpec, who: Option<&Principal>) -> Hit {
    if spec.wildcard || spec.aws.iter().any(|a| a == "*") {
        return Hit::Direct;
    }
    let Some(who) = who else { return Hit::No };
    if let Some(arn) = &who.arn {
        if spec
            .aws
            .iter()
            .any(|a| a == arn && account_entry(a).is_none())
        {
            return Hit::Direct;
        }
    }
    if let Some(svc) = &who.service {
        if spec.service.iter().any(|s| s.eq_ignore_ascii_case(svc)) {
            return Hit::Direct;
        }
    }
    if let Some(acct) = who.account_id() {
        if spec.aws.iter().any(|a| account_entry(a) == Some(acct)) {
            return Hit::Account;
        }
    }
    Hit::No
}

// ---------------------------------------------------------------------------------------------
// Wildcards
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    One,
}

/// `*` and `?` are wildcards; `${*}`, `${?}`, `${$}` are literal `*`, `?`, `$`; any other
/// `${...}` policy variable is kept as literal text (never a wildcard).
fn tokenize(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' && chars.get(i + 1) == Some(&'{') {
            if let Some(len) = chars[i + 2..].iter().position(|&x| x == '}') {
                let inner = &chars[i + 2..i + 2 + len];
                match inner {
                    ['*'] | ['?'] | ['$'] => out.push(Tok::Lit(inner[0])),
                    _ => out.extend(chars[i..i + 3 + len].iter().map(|&x| Tok::Lit(x))),
                }
                i += 3 + len;
                continue;
            }
        }
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            other => Tok::Lit(other),
        });
        i += 1;
    }
    out
}

fn tokens_match(pattern: &[Tok], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Star) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                backtrack = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|x| *x == Tok::Star)
}

fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if ignore_case {
        let text: Vec<char> = text.to_lowercase().chars().collect();
        tokens_match(&tokenize(&pattern.to_lowercase()), &text)
    } else {
        let text: Vec<char> = text.chars().collect();
        tokens_match(&tokenize(pattern), &text)
    }
}

/// ARN comparison: each of the six colon-separated components is matched separately (so a
/// wildcard does not span `:` before the resource part). A pattern without any `:` (such as
/// `*`) is matched against the whole string; other patterns need all six components.
fn arn_match(pattern: &str, arn: &str) -> bool {
    if !pattern.contains(':') {
        return wildcard_match(pattern, arn, false);
    }
    let pp: Vec<&str> = pattern.splitn(6, ':').collect();
    let ap: Vec<&str> = arn.splitn(6, ':').collect();
    pp.len() == 6
        && ap.len() == 6
        && pp
            .iter()
            .zip(ap.iter())
            .all(|(p, a)| wildcard_match(p, a, false))
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Arn,
    Bool,
    Ip,
    NumEq,
    NumLt,
    NumLe,
    NumGt,
    NumGe,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone, Copy)]
struct Operator {
    base: Base,
    negated: bool,
    if_exists: bool,
    set: SetQualifier,
}

fn parse_operator(name: &str) -> Option<Operator> {
    let lower = name.to_ascii_lowercase();
    let (set, rest) = if let Some(r) = lower.strip_prefix("foranyvalue:") {
        (SetQualifier::AnyValue, r)
    } else if let Some(r) = lower.strip_prefix("forallvalues:") {
        (SetQualifier::AllValues, r)
    } else {
        (SetQualifier::Single, lower.as_str())
    };
    let (if_exists, rest) = match rest.strip_suffix("ifexists") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (base, negated) = match rest {
        "stringequals" => (Base::StringEquals, false),
        "stringnotequals" => (Base::StringEquals, true),
        "stringequalsignorecase" => (Base::StringEqualsIgnoreCase, false),
        "stringnotequalsignorecase" => (Base::StringEqualsIgnoreCase, true),
        "stringlike" => (Base::StringLike, false),
        "stringnotlike" => (Base::StringLike, true),
        "arnequals" | "arnlike" => (Base::Arn, false),
        "arnnotequals" | "arnnotlike" => (Base::Arn, true),
        "bool" => (Base::Bool, false),
        "ipaddress" => (Base::Ip, false),
        "notipaddress" => (Base::Ip, true),
        "numericequals" => (Base::NumEq, false),
        "numericnotequals" => (Base::NumEq, true),
        "numericlessthan" => (Base::NumLt, false),
        "numericlessthanequals" => (Base::NumLe, false),
        "numericgreaterthan" => (Base::NumGt, false),
        "numericgreaterthanequals" => (Base::NumGe, false),
        "null" if !if_exists && set == SetQualifier::Single => (Base::Null, false),
        _ => return None,
    };
    Some(Operator {
        base,
        negated,
        if_exists,
        set,
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Plain decimal numbers only (Rust's f64 parser would also take "inf" and "NaN").
fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let dots = body.bytes().filter(|b| *b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != body.len() {
        return None;
    }
    t.parse().ok()
}

/// A CIDR block or a plain address (treated as /32 or /128).
fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u32>().ok()?,
        None => max,
    };
    (len <= max).then_some((ip, len))
}

fn ip_in(ip: IpAddr, (net, len): (IpAddr, u32)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn valid_policy_value(base: Base, expected: &str) -> bool {
    match base {
        Base::Bool | Base::Null => parse_bool(expected).is_some(),
        Base::Ip => parse_cidr(expected).is_some(),
        Base::NumEq | Base::NumLt | Base::NumLe | Base::NumGt | Base::NumGe => {
            parse_number(expected).is_some()
        }
        Base::StringEquals | Base::StringEqualsIgnoreCase | Base::StringLike | Base::Arn => true,
    }
}

/// Positive (non-negated) comparison of one context value with one policy value.
fn compare(base: Base, actual: &str, expected: &str) -> bool {
    let numeric = |f: fn(f64, f64) -> bool| match (parse_number(actual), parse_number(expected)) {
        (Some(a), Some(e)) => f(a, e),
        _ => false,
    };
    match base {
        Base::StringEquals => actual == expected,
        Base::StringEqualsIgnoreCase => actual.to_lowercase() == expected.to_lowercase(),
        Base::StringLike => wildcard_match(expected, actual, false),
        Base::Arn => arn_match(expected, actual),
        Base::Bool => match (parse_bool(actual), parse_bool(expected)) {
            (Some(a), Some(e)) => a == e,
            _ => false,
        },
        Base::Ip => match (actual.trim().parse::<IpAddr>(), parse_cidr(expected)) {
            (Ok(ip), Some(net)) => ip_in(ip, net),
            _ => false,
        },
        Base::NumEq => numeric(|a, e| a == e),
        Base::NumLt => numeric(|a, e| a < e),
        Base::NumLe => numeric(|a, e| a <= e),
        Base::NumGt => numeric(|a, e| a > e),
        Base::NumGe => numeric(|a, e| a >= e),
        Base::Null => false,
    }
}

enum Outcome {
    Met,
    MetByAbsence,
    /// The key is sent by AWS but the monitor cannot know its value.
    Unknown,
    Unmet(FailureReason),
}

fn eval_condition(c: &Condition, ctx: &Context) -> Outcome {
    let Some(op) = parse_operator(&c.operator) else {
        return Outcome::Unmet(FailureReason::UnknownOperator);
    };
    if let Some(bad) = c.values.iter().find(|v| !valid_policy_value(op.base, v)) {
        return Outcome::Unmet(FailureReason::InvalidPolicyValue(bad.clone()));
    }
    if ctx.is_unknown(&c.key) {
        // Present with an unknown value: `Null` can still be decided (the key is there).
        if op.base == Base::Null {
            return if c.values.iter().any(|v| parse_bool(v) == Some(false)) {
                Outcome::Met
            } else {
                Outcome::Unmet(FailureReason::ValueMismatch)
            };
        }
        return Outcome::Unknown;
    }
    let actual = ctx.present(&c.key);
    if op.base == Base::Null {
        // "true": the key must be absent; "false": it must be present.
        let present = actual.is_some();
        let met = c.values.iter().any(|v| parse_bool(v) == Some(!present));
        return match (met, present) {
            (true, false) => Outcome::MetByAbsence,
            (true, true) => Outcome::Met,
            (false, false) => Outcome::Unmet(FailureReason::MissingKey),
            (false, true) => Outcome::Unmet(FailureReason::ValueMismatch),
        };
    }
    let Some(actual) = actual else {
        // AWS: "If the policy condition requires that the key is not matched, such as
        // StringNotLike or ArnNotLike, and the right key is not present, the condition is
        // true." That is what makes `Deny ... StringNotEquals aws:SourceVpce` hit a request
        // that does not come through a VPC endpoint, such as Firehose's own.
        let negated_single = op.negated && op.set == SetQualifier::Single;
        return if op.if_exists || op.set == SetQualifier::AllValues || negated_single {
            Outcome::MetByAbsence
        } else {
            Outcome::Unmet(FailureReason::MissingKey)
        };
    };
    let any_expected = |v: &str| c.values.iter().any(|e| compare(op.base, v, e));
    let one = |v: &String| any_expected(v) != op.negated;
    let met = match op.set {
        // Single-valued use: a negated operator is met when no context value matches any
        // policy value.
        SetQualifier::Single => actual.iter().any(|v| any_expected(v)) != op.negated,
        SetQualifier::AnyValue => actual.iter().any(one),
        SetQualifier::AllValues => actual.iter().all(one),
    };
    if met {
        Outcome::Met
    } else {
        Outcome::Unmet(FailureReason::ValueMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::{Allow, ExplicitDeny, ImplicitDeny};
    use PolicyKind::{Identity as I, Resource as R};

    const ROLE: &str = "arn:aws:iam::111122223333:role/firehose-role";
    const OTHER_ROLE: &str = "arn:aws:iam::111122223333:role/other";
    const FOREIGN_ROLE: &str = "arn:aws:iam::444455556666:role/x";
    const BUCKET: &str = "arn:aws:s3:::logs-bucket";
    const OBJ: &str = "arn:aws:s3:::logs-bucket/firehose/2024/01/01/part-0001.gz";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const FIREHOSE: &str = "firehose.amazonaws.com";

    #[derive(Clone, Copy)]
    enum Who {
        Anonymous,
        Role,
        OtherRole,
        Foreign,
        Service(&'static str),
    }

    impl Who {
        fn principal(self) -> Option<Principal> {
            match self {
                Who::Anonymous => None,
                Who::Role => Some(Principal::role(ROLE)),
                Who::OtherRole => Some(Principal::role(OTHER_ROLE)),
                Who::Foreign => Some(Principal::role(FOREIGN_ROLE)),
                Who::Service(s) => Some(Principal::service(s)),
            }
        }
    }

    type Ctx = &'static [(&'static str, &'static [&'static str])];

    fn context(ctx: Ctx) -> Context {
        ctx.iter().fold(Context::new(), |c, (k, v)| {
            c.with_values(k, v.iter().copied())
        })
    }

    struct Case {
        name: &'static str,
        policies: &'static [(PolicyKind, &'static str)],
        action: &'static str,
        resource: &'static str,
        who: Who,
        ctx: Ctx,
        want: Decision,
        /// Labels (Sid or `#index`) of the deciding statements, exactly.
        deciding: &'static [&'static str],
        /// `Evaluation::missing_keys()`, exactly.
        missing: &'static [&'static str],
    }

    #[allow(clippy::too_many_arguments)]
    const fn c(
        name: &'static str,
        policies: &'static [(PolicyKind, &'static str)],
        action: &'static str,
        resource: &'static str,
        who: Who,
        ctx: Ctx,
        want: Decision,
        deciding: &'static [&'static str],
        missing: &'static [&'static str],
    ) -> Case {
        Case {
            name,
            policies,
            action,
            resource,
            who,
            ctx,
            want,
            deciding,
            missing,
        }
    }

    const ALLOW_S3_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const PUT_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::logs-bucket/*"}]}"#;
    const NOT_PRINCIPAL: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/firehose-role"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::logs-bucket/*"},
        {"Sid":"D","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:role/firehose-role"]},"Action":"s3:*","Resource":"arn:aws:s3:::logs-bucket/*"}]}"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"T","Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const TRUST_EXTERNAL_ID: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"T","Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"111122223333"}}}]}"#;
    const KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    const KEY_VIA_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ViaS3","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/firehose-role"},"Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}"#;
    const VPCE_DENY: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/firehose-role"},"Action":"s3:*","Resource":["arn:aws:s3:::logs-bucket","arn:aws:s3:::logs-bucket/*"]},
        {"Sid":"DenyNonVpce","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::logs-bucket/*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}"#;
    const VPCE_DENY_IF_EXISTS: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/firehose-role"},"Action":"s3:*","Resource":"arn:aws:s3:::logs-bucket/*"},
        {"Sid":"DenyNonVpce","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::logs-bucket/*","Condition":{"StringNotEqualsIfExists":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}"#;
    const TLS_DENY: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"A","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::logs-bucket/*"},
        {"Sid":"DenyHttp","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"arn:aws:s3:::logs-bucket/*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}"#;

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        // --- basic decision logic -------------------------------------------------------------
        c("allow_exact", &[(I, PUT_ONLY)], "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("implicit_deny_other_action", &[(I, PUT_ONLY)], "s3:GetObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("implicit_deny_no_statements", &[(I, r#"{"Version":"2012-10-17","Statement":[]}"#)], "s3:PutObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("implicit_deny_no_policies", &[], "s3:PutObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("explicit_deny_beats_allow_across_policies",
          &[(I, ALLOW_S3_ALL), (I, r#"{"Version":"2012-10-17","Statement":{"Sid":"D","Effect":"Deny","Action":"s3:PutObject","Resource":"*"}}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], ExplicitDeny, &["D"], &[]),
        c("deny_on_other_action_does_not_block",
          &[(I, ALLOW_S3_ALL), (I, r#"{"Version":"2012-10-17","Statement":{"Sid":"D","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("two_denies_both_reported",
          &[(I, r#"{"Statement":[{"Sid":"D1","Effect":"Deny","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"D2","Effect":"Deny","Action":"s3:Put*","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], ExplicitDeny, &["D1", "D2"], &[]),
        c("two_allows_unnamed_labels",
          &[(I, r#"{"Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"},{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::logs-bucket/*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["#0", "#1"], &[]),
        c("statement_as_single_object",
          &[(I, r#"{"Version":"2012-10-17","Statement":{"Sid":"One","Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["One"], &[]),
        c("action_array",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload"],"Resource":"*"}]}"#)],
          "s3:AbortMultipartUpload", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        // --- action matching ----------------------------------------------------------------------
        c("action_case_insensitive",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"S3:putobject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("action_wildcard_case_insensitive",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:put*","Resource":"*"}]}"#)],
          "s3:PutObjectAcl", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("action_get_star_matches_get",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#)],
          "s3:GetBucketLocation", BUCKET, Who::Role, &[], Allow, &["A"], &[]),
        c("action_get_star_not_put",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("action_question_mark",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:?etObject","Resource":"*"}]}"#)],
          "s3:GetObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("action_question_mark_one_char_only",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:?Object","Resource":"*"}]}"#)],
          "s3:GetObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("action_star_everything",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}]}"#)],
          "kms:GenerateDataKey", KEY, Who::Role, &[], Allow, &["A"], &[]),
        c("s3_star_allows_s3", &[(I, ALLOW_S3_ALL)], "s3:ListBucketMultipartUploads", BUCKET, Who::Role, &[], Allow, &["A"], &[]),
        c("s3_star_not_kms", &[(I, ALLOW_S3_ALL)], "kms:GenerateDataKey", KEY, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("s3_star_not_prefix_service",
          &[(I, ALLOW_S3_ALL)], "s3express:CreateSession", BUCKET, Who::Role, &[], ImplicitDeny, &[], &[]),
        // --- resource matching --------------------------------------------------------------------
        c("resource_case_sensitive",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::Logs-Bucket/*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("resource_star_spans_slash",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::logs-*.gz"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("resource_star_spans_colon",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*"}]}"#)],
          "kms:Decrypt", KEY, Who::Role, &[], Allow, &["A"], &[]),
        c("resource_question_mark",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::logs-bucke?"}]}"#)],
          "s3:ListBucket", BUCKET, Who::Role, &[], Allow, &["A"], &[]),
        c("resource_question_mark_needs_a_char",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::logs-bucket?"}]}"#)],
          "s3:ListBucket", BUCKET, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("object_pattern_does_not_cover_bucket", &[(I, PUT_ONLY)], "s3:PutObject", BUCKET, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("not_action_allow_applies",
          &[(I, r#"{"Statement":[{"Sid":"NA","Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["NA"], &[]),
        c("not_action_allow_excluded",
          &[(I, r#"{"Statement":[{"Sid":"NA","Effect":"Allow","NotAction":["iam:*","kms:*"],"Resource":"*"}]}"#)],
          "KMS:Decrypt", KEY, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("not_resource_deny_spares_listed",
          &[(I, ALLOW_S3_ALL), (I, r#"{"Statement":[{"Sid":"D","Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::logs-bucket","arn:aws:s3:::logs-bucket/*"]}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("not_resource_deny_hits_other_bucket",
          &[(I, ALLOW_S3_ALL), (I, r#"{"Statement":[{"Sid":"D","Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::logs-bucket","arn:aws:s3:::logs-bucket/*"]}]}"#)],
          "s3:PutObject", "arn:aws:s3:::other-bucket/x", Who::Role, &[], ExplicitDeny, &["D"], &[]),
        // --- principals -----------------------------------------------------------------------------
        c("identity_kind_ignores_principal",
          &[(I, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:*","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("principal_role_arn_exact",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/firehose-role"},"Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("principal_role_arn_other_role",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/firehose-role"},"Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::OtherRole, &[], ImplicitDeny, &[], &[]),
        c("principal_account_id_matches_role",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("principal_account_root_matches_role",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::OtherRole, &[], Allow, &["A"], &[]),
        c("principal_foreign_account_root",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("principal_star_string",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Foreign, &[], Allow, &["A"], &[]),
        c("principal_aws_star_anonymous",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}]}"#)],
          "s3:GetObject", OBJ, Who::Anonymous, &[], Allow, &["A"], &[]),
        c("principal_named_not_anonymous",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:GetObject","Resource":"*"}]}"#)],
          "s3:GetObject", OBJ, Who::Anonymous, &[], ImplicitDeny, &[], &[]),
        c("principal_array_any_entry",
          &[(R, r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::111122223333:role/firehose-role"]},"Action":"s3:PutObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("not_principal_deny_excludes_listed_role", &[(R, NOT_PRINCIPAL)], "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
        c("not_principal_deny_hits_other_role", &[(R, NOT_PRINCIPAL)], "s3:PutObject", OBJ, Who::OtherRole, &[], ExplicitDeny, &["D"], &[]),
        c("not_principal_deny_hits_anonymous", &[(R, NOT_PRINCIPAL)], "s3:GetObject", OBJ, Who::Anonymous, &[], ExplicitDeny, &["D"], &[]),
        c("trust_service_principal", &[(R, TRUST)], "sts:AssumeRole", ROLE, Who::Service(FIREHOSE), &[], Allow, &["T"], &[]),
        c("trust_wrong_service", &[(R, TRUST)], "sts:AssumeRole", ROLE, Who::Service("lambda.amazonaws.com"), &[], ImplicitDeny, &[], &[]),
        c("trust_role_is_not_service", &[(R, TRUST)], "sts:AssumeRole", ROLE, Who::Role, &[], ImplicitDeny, &[], &[]),
        c("trust_wrong_action", &[(R, TRUST)], "sts:AssumeRoleWithWebIdentity", ROLE, Who::Service(FIREHOSE), &[], ImplicitDeny, &[], &[]),
        c("trust_service_array",
          &[(R, r#"{"Statement":[{"Sid":"T","Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","firehose.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#)],
          "sts:AssumeRole", ROLE, Who::Service(FIREHOSE), &[], Allow, &["T"], &[]),
        c("trust_external_id_match", &[(R, TRUST_EXTERNAL_ID)], "sts:AssumeRole", ROLE, Who::Service(FIREHOSE),
          &[("sts:ExternalId", &["111122223333"])], Allow, &["T"], &[]),
        c("trust_external_id_wrong", &[(R, TRUST_EXTERNAL_ID)], "sts:AssumeRole", ROLE, Who::Service(FIREHOSE),
          &[("sts:ExternalId", &["999999999999"])], ImplicitDeny, &[], &[]),
        c("trust_external_id_missing", &[(R, TRUST_EXTERNAL_ID)], "sts:AssumeRole", ROLE, Who::Service(FIREHOSE),
          &[], ImplicitDeny, &[], &["sts:ExternalId"]),
        c("kms_key_policy_delegates_to_account", &[(R, KEY_POLICY)], "kms:GenerateDataKey", KEY, Who::Role, &[], Allow, &["Enable IAM User Permissions"], &[]),
        c("kms_key_policy_other_account", &[(R, KEY_POLICY)], "kms:GenerateDataKey", KEY, Who::Foreign, &[], ImplicitDeny, &[], &[]),
        c("kms_via_service_match", &[(R, KEY_VIA_S3)], "kms:GenerateDataKey", KEY, Who::Role,
          &[("kms:ViaService", &["s3.us-east-1.amazonaws.com"])], Allow, &["ViaS3"], &[]),
        c("kms_via_service_other_region", &[(R, KEY_VIA_S3)], "kms:GenerateDataKey", KEY, Who::Role,
          &[("kms:ViaService", &["s3.eu-west-1.amazonaws.com"])], ImplicitDeny, &[], &[]),
        // --- bucket-policy denies with conditions ---------------------------------------------------
        // AWS: a negated operator on an absent key is true, so the Deny applies to requests that
        // do not come through a VPC endpoint (Firehose's own).
        c("vpce_deny_key_missing_applies", &[(R, VPCE_DENY)], "s3:PutObject", OBJ, Who::Role, &[], ExplicitDeny, &["DenyNonVpce"], &[]),
        c("vpce_deny_other_endpoint", &[(R, VPCE_DENY)], "s3:PutObject", OBJ, Who::Role,
          &[("aws:SourceVpce", &["vpce-99999999"])], ExplicitDeny, &["DenyNonVpce"], &[]),
        c("vpce_deny_same_endpoint", &[(R, VPCE_DENY)], "s3:PutObject", OBJ, Who::Role,
          &[("aws:SourceVpce", &["vpce-1a2b3c4d"])], Allow, &["A"], &[]),
        c("vpce_deny_context_key_case_insensitive", &[(R, VPCE_DENY)], "s3:PutObject", OBJ, Who::Role,
          &[("AWS:SOURCEVPCE", &["vpce-99999999"])], ExplicitDeny, &["DenyNonVpce"], &[]),
        c("vpce_deny_not_for_bucket_arn", &[(R, VPCE_DENY)], "s3:ListBucket", BUCKET, Who::Role, &[], Allow, &["A"], &[]),
        c("vpce_deny_if_exists_key_missing_applies", &[(R, VPCE_DENY_IF_EXISTS)], "s3:PutObject", OBJ, Who::Role, &[], ExplicitDeny, &["DenyNonVpce"], &[]),
        c("tls_deny_secure", &[(R, TLS_DENY)], "s3:PutObject", OBJ, Who::Role, &[("aws:SecureTransport", &["true"])], Allow, &["A"], &[]),
        c("tls_deny_insecure", &[(R, TLS_DENY)], "s3:PutObject", OBJ, Who::Role, &[("aws:SecureTransport", &["false"])], ExplicitDeny, &["DenyHttp"], &[]),
        c("tls_deny_unknown_transport", &[(R, TLS_DENY)], "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &["aws:SecureTransport"]),
        c("identity_allow_plus_bucket_deny",
          &[(I, PUT_ONLY), (R, VPCE_DENY)], "s3:PutObject", OBJ, Who::Role, &[("aws:SourceVpce", &["vpce-0"])], ExplicitDeny, &["DenyNonVpce"], &[]),
        c("identity_allow_bucket_silent_union",
          &[(I, PUT_ONLY), (R, r#"{"Statement":[{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:GetObject","Resource":"*"}]}"#)],
          "s3:PutObject", OBJ, Who::Role, &[], Allow, &["A"], &[]),
    ];

    fn run_case(case: &Case) {
        let parsed: Vec<(Policy, PolicyKind)> = case
            .policies
            .iter()
            .map(|(k, json)| match Policy::parse(json) {
                Ok(p) => (p, *k),
                Err(e) => panic!("{}: policy did not parse: {e}", case.name),
            })
            .collect();
        let policies: Vec<(&Policy, PolicyKind)> = parsed.iter().map(|(p, k)| (p, *k)).collect();
        let ctx = context(case.ctx);
        let principal = case.who.principal();
        let req = Request {
            action: case.action,
            resource: case.resource,
            principal: principal.as_ref(),
            context: &ctx,
        };
        let ev = evaluate(&policies, &req);
        assert_eq!(ev.decision, case.want, "{}: decision ({ev:#?})", case.name);
        let labels: Vec<String> = ev.deciding.iter().map(|d| d.statement.label()).collect();
        assert_eq!(labels, case.deciding, "{}: deciding statements", case.name);
        assert_eq!(
            ev.missing_keys(),
            case.missing,
            "{}: missing keys",
            case.name
        );
        for d in &ev.deciding {
            let want = if case.want == Allow {
                Effect::Allow
            } else {
                Effect::Deny
            };
            assert_eq!(d.effect, want, "{}: deciding effect", case.name);
        }
    }

    #[test]
    fn decision_table() {
        for case in CASES {
            run_case(case);
        }
    }

    /// One condition block wrapped into an Allow statement: met => Allow, else ImplicitDeny.
    struct CondCase {
        name: &'static str,
        condition: &'static str,
        ctx: Ctx,
        met: bool,
        missing: &'static [&'static str],
    }

    const fn k(
        name: &'static str,
        condition: &'static str,
        ctx: Ctx,
        met: bool,
        missing: &'static [&'static str],
    ) -> CondCase {
        CondCase {
            name,
            condition,
            ctx,
            met,
            missing,
        }
    }

    const T: bool = true;
    const F: bool = false;

    #[rustfmt::skip]
    const COND_CASES: &[CondCase] = &[
        // String operators
        k("string_equals_match", r#"{"StringEquals":{"aws:PrincipalTag/team":"data"}}"#, &[("aws:PrincipalTag/team", &["data"])], T, &[]),
        k("string_equals_case_sensitive", r#"{"StringEquals":{"aws:PrincipalTag/team":"data"}}"#, &[("aws:PrincipalTag/team", &["Data"])], F, &[]),
        k("string_equals_values_or", r#"{"StringEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}"#, &[("aws:RequestedRegion", &["us-east-1"])], T, &[]),
        k("string_equals_missing_key", r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[], F, &["aws:RequestedRegion"]),
        k("string_not_equals_match", r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[("aws:RequestedRegion", &["eu-west-1"])], T, &[]),
        k("string_not_equals_equal", r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[("aws:RequestedRegion", &["us-east-1"])], F, &[]),
        k("string_not_equals_list_one_equal", r#"{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}"#, &[("aws:RequestedRegion", &["us-east-1"])], F, &[]),
        k("string_not_equals_list_none_equal", r#"{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}"#, &[("aws:RequestedRegion", &["ap-south-1"])], T, &[]),
        k("string_not_equals_missing_key", r#"{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}"#, &[], T, &[]),
        k("string_equals_ignore_case_match", r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"DATA"}}"#, &[("aws:PrincipalTag/team", &["data"])], T, &[]),
        k("string_equals_ignore_case_differs", r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"DATA"}}"#, &[("aws:PrincipalTag/team", &["ops"])], F, &[]),
        k("string_not_equals_ignore_case_same", r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"DATA"}}"#, &[("aws:PrincipalTag/team", &["data"])], F, &[]),
        k("string_not_equals_ignore_case_differs", r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"DATA"}}"#, &[("aws:PrincipalTag/team", &["ops"])], T, &[]),
        k("string_like_star", r#"{"StringLike":{"s3:prefix":"firehose/*"}}"#, &[("s3:prefix", &["firehose/2024/01"])], T, &[]),
        k("string_like_question", r#"{"StringLike":{"s3:prefix":"log?"}}"#, &[("s3:prefix", &["logs"])], T, &[]),
        k("string_like_no_match", r#"{"StringLike":{"s3:prefix":"firehose/*"}}"#, &[("s3:prefix", &["other/2024"])], F, &[]),
        k("string_like_variable_not_wildcard", r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#, &[("s3:prefix", &["home/bob/file"])], F, &[]),
        k("string_like_variable_literal", r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#, &[("s3:prefix", &["home/${aws:username}/file"])], T, &[]),
        k("string_like_escaped_star_literal", r#"{"StringLike":{"s3:prefix":"a${*}b"}}"#, &[("s3:prefix", &["aXb"])], F, &[]),
        k("string_like_escaped_star_matches_star", r#"{"StringLike":{"s3:prefix":"a${*}b"}}"#, &[("s3:prefix", &["a*b"])], T, &[]),
        k("string_not_like_match", r#"{"StringNotLike":{"s3:prefix":"tmp/*"}}"#, &[("s3:prefix", &["firehose/x"])], T, &[]),
        k("string_not_like_excluded", r#"{"StringNotLike":{"s3:prefix":["tmp/*","firehose/*"]}}"#, &[("s3:prefix", &["firehose/x"])], F, &[]),
        // ARN operators
        k("arn_equals_exact", r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"])], T, &[]),
        k("arn_equals_differs", r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s2"])], F, &[]),
        k("arn_like_wildcards", r#"{"ArnLike":{"aws:SourceArn":"arn:aws:firehose:*:111122223333:deliverystream/*"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:eu-west-1:111122223333:deliverystream/s1"])], T, &[]),
        k("arn_like_other_account", r#"{"ArnLike":{"aws:SourceArn":"arn:aws:firehose:*:111122223333:deliverystream/*"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:eu-west-1:444455556666:deliverystream/s1"])], F, &[]),
        k("arn_like_star_stays_in_component", r#"{"ArnLike":{"aws:SourceArn":"arn:aws:firehose:*:deliverystream/*"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"])], F, &[]),
        k("arn_like_bare_star", r#"{"ArnLike":{"aws:SourceArn":"*"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"])], T, &[]),
        k("arn_like_not_an_arn", r#"{"ArnLike":{"aws:SourceArn":"arn:aws:firehose:*:*:*"}}"#, &[("aws:SourceArn", &["firehose"])], F, &[]),
        k("arn_not_equals_differs", r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s2"])], T, &[]),
        k("arn_not_like_matches", r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:firehose:*:111122223333:*"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s1"])], F, &[]),
        k("arn_not_like_missing_key", r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:firehose:*:111122223333:*"}}"#, &[], T, &[]),
        // Bool
        k("bool_true", r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:SecureTransport", &["true"])], T, &[]),
        k("bool_true_vs_false", r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:SecureTransport", &["false"])], F, &[]),
        k("bool_json_false", r#"{"Bool":{"aws:SecureTransport":false}}"#, &[("aws:SecureTransport", &["false"])], T, &[]),
        k("bool_case_insensitive", r#"{"Bool":{"aws:MultiFactorAuthPresent":"True"}}"#, &[("aws:MultiFactorAuthPresent", &["TRUE"])], T, &[]),
        k("bool_invalid_policy_value", r#"{"Bool":{"aws:SecureTransport":"yes"}}"#, &[("aws:SecureTransport", &["true"])], F, &[]),
        // IP
        k("ip_v4_cidr_inside", r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:SourceIp", &["203.0.113.77"])], T, &[]),
        k("ip_v4_cidr_outside", r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:SourceIp", &["203.0.114.1"])], F, &[]),
        k("ip_v4_plain_address", r#"{"IpAddress":{"aws:SourceIp":"198.51.100.7"}}"#, &[("aws:SourceIp", &["198.51.100.7"])], T, &[]),
        k("ip_v4_slash_zero", r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#, &[("aws:SourceIp", &["192.0.2.1"])], T, &[]),
        k("ip_v6_cidr_inside", r#"{"IpAddress":{"aws:SourceIp":"2001:db8:1234::/48"}}"#, &[("aws:SourceIp", &["2001:db8:1234:ffff::1"])], T, &[]),
        k("ip_v6_cidr_outside", r#"{"IpAddress":{"aws:SourceIp":"2001:db8:1234::/48"}}"#, &[("aws:SourceIp", &["2001:db8:1235::1"])], F, &[]),
        k("ip_v4_against_v6_cidr", r#"{"IpAddress":{"aws:SourceIp":"::/0"}}"#, &[("aws:SourceIp", &["192.0.2.1"])], F, &[]),
        k("ip_list_or", r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}"#, &[("aws:SourceIp", &["2001:db8::5"])], T, &[]),
        k("not_ip_outside", r#"{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}"#, &[("aws:SourceIp", &["198.51.100.1"])], T, &[]),
        k("not_ip_inside", r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:SourceIp", &["203.0.113.1"])], F, &[]),
        k("ip_invalid_cidr", r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/33"}}"#, &[("aws:SourceIp", &["203.0.113.1"])], F, &[]),
        k("ip_missing_key", r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[], F, &["aws:SourceIp"]),
        // Numeric
        k("numeric_equals", r#"{"NumericEquals":{"s3:max-keys":"10"}}"#, &[("s3:max-keys", &["10"])], T, &[]),
        k("numeric_equals_json_number", r#"{"NumericEquals":{"s3:max-keys":10}}"#, &[("s3:max-keys", &["10.0"])], T, &[]),
        k("numeric_equals_differs", r#"{"NumericEquals":{"s3:max-keys":"10"}}"#, &[("s3:max-keys", &["11"])], F, &[]),
        k("numeric_not_equals", r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#, &[("s3:max-keys", &["11"])], T, &[]),
        k("numeric_less_than", r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#, &[("aws:MultiFactorAuthAge", &["3599"])], T, &[]),
        k("numeric_less_than_boundary", r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#, &[("aws:MultiFactorAuthAge", &["3600"])], F, &[]),
        k("numeric_less_than_equals_boundary", r#"{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}}"#, &[("aws:MultiFactorAuthAge", &["3600"])], T, &[]),
        k("numeric_greater_than", r#"{"NumericGreaterThan":{"s3:object-lock-remaining-retention-days":"1.5"}}"#, &[("s3:object-lock-remaining-retention-days", &["2"])], T, &[]),
        k("numeric_greater_than_equals_below", r#"{"NumericGreaterThanEquals":{"s3:max-keys":"100"}}"#, &[("s3:max-keys", &["99"])], F, &[]),
        k("numeric_context_not_a_number", r#"{"NumericLessThan":{"s3:max-keys":"100"}}"#, &[("s3:max-keys", &["many"])], F, &[]),
        // Null
        k("null_true_absent", r#"{"Null":{"aws:SourceVpce":"true"}}"#, &[], T, &[]),
        k("null_true_present", r#"{"Null":{"aws:SourceVpce":"true"}}"#, &[("aws:SourceVpce", &["vpce-1"])], F, &[]),
        k("null_false_present", r#"{"Null":{"aws:SourceVpce":"false"}}"#, &[("aws:SourceVpce", &["vpce-1"])], T, &[]),
        k("null_false_absent", r#"{"Null":{"aws:SourceVpce":false}}"#, &[], F, &["aws:SourceVpce"]),
        // IfExists
        k("if_exists_missing", r#"{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1"}}"#, &[], T, &[]),
        k("if_exists_present_mismatch", r#"{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1"}}"#, &[("aws:SourceVpce", &["vpce-2"])], F, &[]),
        k("numeric_if_exists_missing", r#"{"NumericLessThanIfExists":{"s3:max-keys":"10"}}"#, &[], T, &[]),
        k("arn_like_if_exists_present", r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:firehose:*:111122223333:*"}}"#, &[("aws:SourceArn", &["arn:aws:firehose:us-east-1:111122223333:deliverystream/s"])], T, &[]),
        // Set operators
        k("for_any_value_missing", r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[], F, &["aws:TagKeys"]),
        k("for_any_value_one_matches", r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[("aws:TagKeys", &["owner", "team"])], T, &[]),
        k("for_any_value_none_match", r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[("aws:TagKeys", &["owner", "cost"])], F, &[]),
        k("for_all_values_missing", r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[], T, &[]),
        k("for_all_values_empty", r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[("aws:TagKeys", &[])], T, &[]),
        k("for_all_values_subset", r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[("aws:TagKeys", &["team", "env"])], T, &[]),
        k("for_all_values_one_outside", r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}"#, &[("aws:TagKeys", &["team", "owner"])], F, &[]),
        k("for_all_values_string_like", r#"{"ForAllValues:StringLike":{"aws:TagKeys":"team-*"}}"#, &[("aws:TagKeys", &["team-a", "team-b"])], T, &[]),
        k("for_any_value_not_equals", r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"env"}}"#, &[("aws:TagKeys", &["env", "team"])], T, &[]),
        // Combination and errors
        k("two_operators_and_one_fails", r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"},"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:RequestedRegion", &["us-east-1"]), ("aws:SecureTransport", &["false"])], F, &[]),
        k("two_operators_and_both_hold", r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"},"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:RequestedRegion", &["us-east-1"]), ("aws:SecureTransport", &["true"])], T, &[]),
        k("two_keys_and_one_missing", r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1","aws:SourceAccount":"111122223333"}}"#, &[("aws:RequestedRegion", &["us-east-1"])], F, &["aws:SourceAccount"]),
        k("unknown_operator", r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#, &[("aws:CurrentTime", &["2024-01-01T00:00:00Z"])], F, &[]),
        k("null_if_exists_is_unknown", r#"{"NullIfExists":{"aws:SourceVpce":"true"}}"#, &[], F, &[]),
    ];

    #[test]
    fn condition_table() {
        for case in COND_CASES {
            let json = format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{}}}}}"#,
                case.condition
            );
            let policy = match Policy::parse(&json) {
                Ok(p) => p,
                Err(e) => panic!("{}: policy did not parse: {e}", case.name),
            };
            let ctx = context(case.ctx);
            let ev = evaluate(&[(&policy, I)], &Request::new("s3:PutObject", OBJ, &ctx));
            let want = if case.met { Allow } else { ImplicitDeny };
            assert_eq!(ev.decision, want, "{}: decision ({ev:#?})", case.name);
            assert_eq!(
                ev.unmet.len(),
                usize::from(!case.met),
                "{}: unmet count",
                case.name
            );
            assert_eq!(
                ev.missing_keys(),
                case.missing,
                "{}: missing keys",
                case.name
            );
        }
    }

    /// (document, exact Display of the error, or a prefix ending in "…" for JSON errors)
    #[rustfmt::skip]
    const PARSE_ERRORS: &[(&str, &str)] = &[
        ("not json", "policy is not valid JSON: expected ident at line 1 column 2"),
        (r#"{"Statement":["#, "policy is not valid JSON: EOF while parsing a list at line 1 column 14"),
        ("[]", "invalid policy at $: expected a JSON object, got an array"),
        (r#"{"Version":"2012-10-17"}"#, r#"invalid policy at $: missing required element "Statement""#),
        (r#"{"Version":"2020-01-01","Statement":[]}"#, r#"invalid policy at Version: expected "2012-10-17" or "2008-10-17", got "2020-01-01""#),
        (r#"{"Statement":[],"Extra":1}"#, r#"invalid policy at $: unknown element "Extra""#),
        (r#"{"Statement":"Allow"}"#, "invalid policy at Statement: expected an object or an array of objects, got a string"),
        (r#"{"Statement":[42]}"#, "invalid policy at Statement[0]: expected an object, got a number"),
        (r#"{"Statement":[{"Effect":"Permit","Action":"s3:*","Resource":"*"}]}"#, r#"invalid policy at Statement[0].Effect: expected "Allow" or "Deny", got "Permit""#),
        (r#"{"Statement":{"Action":"s3:*","Resource":"*"}}"#, r#"invalid policy at Statement: missing required element "Effect""#),
        (r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#, r#"invalid policy at Statement[0]: missing required element "Action" or "NotAction""#),
        (r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","NotAction":"iam:*","Resource":"*"}]}"#, r#"invalid policy at Statement[0]: statement has both "Action" and "NotAction""#),
        (r#"{"Statement":[{"Effect":"Allow","Action":5,"Resource":"*"}]}"#, "invalid policy at Statement[0].Action: expected a string or an array of strings, got a number"),
        (r#"{"Statement":[{"Effect":"Allow","Action":["s3:*",null],"Resource":"*"}]}"#, "invalid policy at Statement[0].Action[1]: expected a string, got null"),
        (r#"{"Statement":[{"Effect":"Allow","Actions":"s3:*","Resource":"*"}]}"#, r#"invalid policy at Statement[0]: unknown element "Actions""#),
        (r#"{"Statement":[{"Effect":"Allow","Principal":"bob","Action":"s3:*"}]}"#, r#"invalid policy at Statement[0].Principal: expected "*" or an object of principal types, got a string"#),
        (r#"{"Statement":[{"Effect":"Allow","Principal":{"User":"bob"},"Action":"s3:*"}]}"#, "invalid policy at Statement[0].Principal.User: unknown principal type (expected AWS, Service, Federated or CanonicalUser)"),
        (r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Condition":["x"]}]}"#, "invalid policy at Statement[0].Condition: expected an object, got an array"),
        (r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Condition":{"Bool":"true"}}]}"#, "invalid policy at Statement[0].Condition.Bool: expected an object of condition keys, got a string"),
        (r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":{"a":1}}}}]}"#, "invalid policy at Statement[0].Condition.Bool.aws:SecureTransport: expected a string, boolean or number, got an object"),
        (r#"{"Statement":[{"Sid":7,"Effect":"Allow","Action":"s3:*"}]}"#, "invalid policy at Statement[0].Sid: expected a string, got a number"),
    ];

    #[test]
    fn parse_error_table() {
        for (json, want) in PARSE_ERRORS {
            match Policy::parse(json) {
                Ok(p) => panic!("{json}: expected an error, parsed {p:?}"),
                Err(e) => {
                    assert_eq!(e.to_string(), *want, "{json}");
                    let is_json = want.starts_with("policy is not valid JSON");
                    assert_eq!(matches!(e, PolicyError::Json { .. }), is_json, "{json}");
                    let as_error: &dyn std::error::Error = &e;
                    assert!(as_error.source().is_none());
                }
            }
        }
    }

    fn parse(json: &str) -> Policy {
        match Policy::parse(json) {
            Ok(p) => p,
            Err(e) => panic!("policy did not parse: {e}"),
        }
    }

    #[test]
    fn unmet_deny_reports_sid_effect_and_missing_key() {
        let policy = parse(TLS_DENY);
        let policies = [(&policy, R)];
        let role = Principal::role(ROLE);
        let ctx = Context::new();
        let ev = evaluate(
            &policies,
            &Request::new("s3:PutObject", OBJ, &ctx).with_principal(&role),
        );
        assert_eq!(ev.decision, Allow);
        assert_eq!(ev.unmet.len(), 1);
        let u = &ev.unmet[0];
        assert_eq!(u.statement.sid.as_deref(), Some("DenyHttp"));
        assert_eq!((u.statement.policy, u.statement.statement), (0, 1));
        assert_eq!(u.effect, Effect::Deny);
        assert_eq!(u.unmet_keys(), vec!["aws:SecureTransport"]);
        assert_eq!(u.missing_keys, vec!["aws:SecureTransport".to_string()]);
        assert!(u.key_missing());
        assert!(u.only_missing_keys());
        assert_eq!(
            u.failures,
            vec![ConditionFailure {
                operator: "Bool".into(),
                key: "aws:SecureTransport".into(),
                reason: FailureReason::MissingKey,
            }]
        );
        assert_eq!(ev.context_dependent().len(), 1);
        assert_eq!(u.statement.to_string(), "policy[0] statement DenyHttp");
        let evidence = u.statement.resolve(&policies).map(Statement::to_json);
        assert_eq!(
            evidence,
            Some(serde_json::json!({
                "Sid": "DenyHttp", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                "Resource": "arn:aws:s3:::logs-bucket/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }))
        );
        let serialized = serde_json::to_value(&ev).map(|v| v["decision"].clone());
        assert_eq!(serialized.ok(), Some(serde_json::json!("Allow")));
    }

    #[test]
    fn negated_operator_on_absent_key_applies_like_aws() {
        let policy = parse(VPCE_DENY);
        let policies = [(&policy, R)];
        let role = Principal::role(ROLE);
        let ctx = Context::new();
        let ev = evaluate(
            &policies,
            &Request::new("s3:PutObject", OBJ, &ctx).with_principal(&role),
        );
        assert_eq!(ev.decision, ExplicitDeny);
        assert_eq!(ev.deciding[0].statement.sid.as_deref(), Some("DenyNonVpce"));
        assert_eq!(
            ev.deciding[0].satisfied_by_absence,
            vec!["aws:SourceVpce".to_string()]
        );
    }

    #[test]
    fn mismatch_is_not_context_dependent() {
        let policy = parse(VPCE_DENY);
        let ctx = Context::new().with("aws:SourceVpce", "vpce-1a2b3c4d");
        let role = Principal::role(ROLE);
        let ev = evaluate(
            &[(&policy, R)],
            &Request::new("s3:PutObject", OBJ, &ctx).with_principal(&role),
        );
        assert_eq!(ev.decision, Allow);
        assert_eq!(ev.unmet.len(), 1);
        assert_eq!(ev.unmet[0].failures[0].reason, FailureReason::ValueMismatch);
        assert!(!ev.unmet[0].key_missing());
        assert!(ev.context_dependent().is_empty());
    }

    #[test]
    fn unknown_operator_and_invalid_value_are_reported() {
        let policy = parse(
            r#"{"Statement":{"Sid":"X","Effect":"Deny","Action":"*","Resource":"*","Condition":{
                "DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
                "IpAddress":{"aws:SourceIp":"300.1.1.1"}}}}"#,
        );
        let ctx = Context::new();
        let ev = evaluate(&[(&policy, I)], &Request::new("s3:PutObject", OBJ, &ctx));
        assert_eq!(ev.decision, ImplicitDeny);
        let reasons: Vec<FailureReason> = ev.unmet[0]
            .failures
            .iter()
            .map(|f| f.reason.clone())
            .collect();
        assert_eq!(
            reasons,
            vec![
                FailureReason::UnknownOperator,
                FailureReason::InvalidPolicyValue("300.1.1.1".into())
            ]
        );
        assert!(!ev.unmet[0].only_missing_keys());
        assert!(ev.context_dependent().is_empty());
    }

    #[test]
    fn account_principal_is_flagged_as_delegation() {
        let key_policy = parse(KEY_POLICY);
        let direct = parse(KEY_VIA_S3);
        let role = Principal::role(ROLE);
        let ctx = Context::new().with("kms:ViaService", "s3.us-east-1.amazonaws.com");
        let req = Request::new("kms:GenerateDataKey", KEY, &ctx).with_principal(&role);
        let ev = evaluate(&[(&key_policy, R)], &req);
        assert_eq!(ev.decision, Allow);
        assert!(ev.deciding[0].via_account_principal);
        let ev = evaluate(&[(&direct, R)], &req);
        assert_eq!(ev.decision, Allow);
        assert!(!ev.deciding[0].via_account_principal);
        // An explicit account field wins over the ARN's account.
        let explicit = Principal {
            arn: Some(ROLE.into()),
            account: Some("444455556666".into()),
            service: None,
        };
        let req = Request::new("kms:GenerateDataKey", KEY, &ctx).with_principal(&explicit);
        assert_eq!(evaluate(&[(&key_policy, R)], &req).decision, ImplicitDeny);
    }

    #[test]
    fn satisfied_by_absence_is_recorded() {
        let policy = parse(VPCE_DENY_IF_EXISTS);
        let role = Principal::role(ROLE);
        let ctx = Context::new();
        let ev = evaluate(
            &[(&policy, R)],
            &Request::new("s3:PutObject", OBJ, &ctx).with_principal(&role),
        );
        assert_eq!(ev.decision, ExplicitDeny);
        assert_eq!(
            ev.deciding[0].satisfied_by_absence,
            vec!["aws:SourceVpce".to_string()]
        );
        assert!(ev.unmet.is_empty());
    }

    #[test]
    fn denied_pairs_names_missing_actions() {
        let policy = parse(
            r#"{"Statement":[
                {"Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload"],"Resource":"arn:aws:s3:::logs-bucket/*"},
                {"Effect":"Allow","Action":"s3:GetBucketLocation","Resource":"arn:aws:s3:::logs-bucket"},
                {"Effect":"Deny","Action":"s3:ListBucket","Resource":"*"}]}"#,
        );
        let actions = [
            "s3:AbortMultipartUpload",
            "s3:GetBucketLocation",
            "s3:ListBucket",
            "s3:PutObject",
        ];
        let resources = [BUCKET, "arn:aws:s3:::logs-bucket/*"];
        let got = denied_pairs(&[(&policy, I)], &actions, &resources, None, &Context::new());
        let want: Vec<(String, String, Decision)> = [
            ("s3:AbortMultipartUpload", BUCKET, ImplicitDeny),
            (
                "s3:GetBucketLocation",
                "arn:aws:s3:::logs-bucket/*",
                ImplicitDeny,
            ),
            ("s3:ListBucket", BUCKET, ExplicitDeny),
            ("s3:ListBucket", "arn:aws:s3:::logs-bucket/*", ExplicitDeny),
            ("s3:PutObject", BUCKET, ImplicitDeny),
        ]
        .iter()
        .map(|(a, r, d)| (a.to_string(), r.to_string(), *d))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn to_json_round_trips() {
        let src = r#"{"Statement":[{"Sid":"S","Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"],"Service":"firehose.amazonaws.com"},
            "NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:s3:::b/*",
            "Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":["a*","b"]},"Bool":{"aws:SecureTransport":false}}}]}"#;
        let policy = parse(src);
        let st = &policy.statements[0];
        let rendered = st.to_json();
        assert_eq!(
            rendered["Condition"]["Bool"]["aws:SecureTransport"],
            serde_json::json!("false")
        );
        assert_eq!(
            rendered["NotPrincipal"]["Service"],
            serde_json::json!("firehose.amazonaws.com")
        );
        let again = Policy::from_value(&serde_json::json!({ "Statement": [rendered] }));
        assert_eq!(again.map(|p| p.statements), Ok(vec![st.clone()]));
    }

    #[test]
    fn context_keys_are_case_insensitive_and_accumulate() {
        let ctx = Context::new()
            .with("aws:TagKeys", "a")
            .with("AWS:tagkeys", "b")
            .with_values("kms:ViaService", ["x"])
            .with_values("KMS:VIASERVICE", ["y"]);
        assert_eq!(
            ctx.get("aws:tagkeys"),
            Some(&["a".to_string(), "b".to_string()][..])
        );
        assert_eq!(ctx.get("kms:viaservice"), Some(&["y".to_string()][..]));
        assert_eq!(ctx.get("aws:SourceVpce"), None);
        assert_eq!(
            ctx.keys().collect::<Vec<_>>(),
            vec!["aws:TagKeys", "KMS:VIASERVICE"]
        );
    }

    #[test]
    fn wildcard_and_network_helpers() {
        assert!(wildcard_match("a*b*c", "axxbyyc", false));
        assert!(!wildcard_match("a*b*c", "axxbyy", false));
        assert!(wildcard_match("**", "", false));
        assert!(!wildcard_match("?", "", false));
        assert!(wildcard_match("${$}{x}", "${x}", false));
        assert!(wildcard_match("${unterminated", "${unterminated", false));
        assert!(ip_in(
            "10.1.2.3".parse().unwrap(),
            (IpAddr::from([10, 0, 0, 0]), 8)
        ));
        assert!(!ip_in(
            "11.1.2.3".parse().unwrap(),
            (IpAddr::from([10, 0, 0, 0]), 8)
        ));
        assert_eq!(parse_cidr("2001:db8::/129"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        assert_eq!(parse_number("1.2.3"), None);
        assert_eq!(Decision::ExplicitDeny.to_string(), "ExplicitDeny");
    }
}
