//! `glue.format_conversion`: record format conversion (Parquet/ORC) can read its schema: the
//! Glue table exists, and the role may `glue:GetTable`, `glue:GetTableVersion` and
//! `glue:GetTableVersions` on the catalog, the database and the table. A table governed by Lake
//! Formation also needs Lake Formation grants, which the monitor cannot see: said as a `warn`.

use serde_json::json;

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, skip};
use crate::diagnose::identity::{firehose_context, identity_finding};
use crate::model::{Finding, Status};

pub const ID: &str = "glue.format_conversion";
pub const PERMISSIONS: &[&str] = &[
    "glue:GetTable",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
];

/// What the role must be allowed on the schema's table.
pub const ACTIONS: &[&str] = &[
    "glue:GetTable",
    "glue:GetTableVersion",
    "glue:GetTableVersions",
];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some((d, c)) = cx
        .s3()
        .and_then(|d| d.format_conversion.as_ref().map(|c| (d, c)))
    else {
        return skip(ID, "record format conversion is not enabled");
    };
    let region = c.region.clone().unwrap_or_else(|| cx.region());
    let catalog = c.catalog_id.clone().unwrap_or_else(|| cx.account());
    let table_name = format!("{}.{}", c.database, c.table);
    let table = match cx.glue_table().await {
        Some(Ok(t)) => t,
        Some(Err(e)) if e.is_not_found() => {
            return finding(
                ID,
                Status::Fail,
                format!("the Glue table {table_name} of record format conversion does not exist"),
                json!({"catalog": catalog, "database": c.database, "table": c.table, "region": region, "error": e.to_string()}),
                format!("create the table {table_name} in the Glue Data Catalog (with the schema of your records), or point the stream's SchemaConfiguration at an existing table"),
            )
        }
        Some(Err(e)) => return monitor_error(ID, &e, "glue:GetTable"),
        None => return skip(ID, "record format conversion is not enabled"),
    };
    let arn = |suffix: String| format!("arn:aws:glue:{region}:{catalog}:{suffix}");
    let resources = [
        arn("catalog".into()),
        arn(format!("database/{}", c.database)),
        arn(format!("table/{}/{}", c.database, c.table)),
    ];
    let pairs: Vec<(&str, String)> = ACTIONS
        .iter()
        .flat_map(|a| resources.iter().map(move |r| (*a, r.clone())))
        .collect();
    let role = c.role_arn.clone().unwrap_or_else(|| d.role_arn.clone());
    let ctx = firehose_context(cx).await;
    let mut f = identity_finding(
        cx,
        ID,
        &role,
        &pairs,
        &ctx,
        &format!("reading the schema of {table_name}"),
    )
    .await;
    f.evidence["table"] = json!(table);
    if table.lake_formation && f.status == Status::Pass {
        f.status = Status::Warn;
        f.summary = format!(
            "{}; Lake Formation governs {table_name}: the role also needs Lake Formation permissions (SELECT, DESCRIBE) on it, which the monitor cannot see",
            f.summary
        );
        f.remediation =
            format!("grant {role} SELECT and DESCRIBE on {table_name} in Lake Formation");
    }
    f
}
