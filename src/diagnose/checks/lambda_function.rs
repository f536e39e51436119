//! `lambda.function`: the processor function (and version/alias) exists and is usable.

use serde_json::json;

use crate::aws::AwsError;
use crate::diagnose::arn::lambda_parts;
use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "lambda.function";
pub const PERMISSIONS: &[&str] = &["lambda:GetFunctionConfiguration"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(arn) = cx.s3().and_then(|d| d.lambda_arn.clone()) else {
        return skip(ID, "no Lambda processor is configured");
    };
    let (name, qualifier) = lambda_parts(&arn);
    let f = match cx.function().await {
        Some(Ok(f)) => f,
        Some(Err(e @ AwsError::NotFound { .. })) => {
            return finding(
                ID,
                Status::Fail,
                match &qualifier {
                    Some(q) => format!("the Lambda processor {name} (version or alias {q}) does not exist"),
                    None => format!("the Lambda processor {name} does not exist"),
                },
                json!({"lambda_arn": arn, "error": e.to_string()}),
                "deploy the function (and publish the version or create the alias the stream names), or update the stream's ProcessingConfiguration to an existing function ARN",
            )
        }
        Some(Err(e)) => return monitor_error(ID, &e, "lambda:GetFunctionConfiguration"),
        None => return skip(ID, "no Lambda processor is configured"),
    };
    let evidence = json!({"lambda_arn": arn, "function_arn": f.arn, "state": f.state, "state_reason": f.state_reason, "last_update_status": f.last_update_status, "last_update_reason": f.last_update_reason, "timeout_seconds": f.timeout_seconds});
    if let Some(state) = f.state.as_deref().filter(|s| *s != "Active") {
        return finding(
            ID,
            Status::Fail,
            format!("the Lambda processor {name} is {state}{}", f.state_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
            evidence,
            match state {
                "Inactive" => "invoke the function once to reactivate it, or check why it went idle".to_string(),
                "Failed" => "fix the cause in StateReason (often the execution role, VPC subnets or a layer) and redeploy".to_string(),
                _ => "wait for the function to become Active; if it stays Pending, check StateReason".to_string(),
            },
        );
    }
    if f.last_update_status.as_deref() == Some("Failed") {
        return finding(
            ID,
            Status::Fail,
            format!(
                "the last update of the Lambda processor {name} failed{}",
                f.last_update_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            evidence,
            "fix the cause in LastUpdateStatusReason and redeploy the function",
        );
    }
    pass(
        ID,
        format!("the Lambda processor {name} is Active"),
        evidence,
    )
}
