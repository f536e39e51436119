//! `logging.enabled`: error logging is on and its log group exists (warns otherwise).

use serde_json::json;

use crate::diagnose::ctx::Ctx;
use crate::diagnose::findings::{finding, monitor_error, pass, skip};
use crate::model::{Finding, Status};

pub const ID: &str = "logging.enabled";
pub const PERMISSIONS: &[&str] = &["logs:DescribeLogGroups"];

pub async fn run(cx: &Ctx<'_>) -> Finding {
    let Some(d) = cx.s3() else {
        return skip(ID, "the destination is not S3");
    };
    let Some(group) = cx.log_group() else {
        let group = format!("/aws/kinesisfirehose/{}", cx.desc.name);
        return finding(
            ID,
            Status::Warn,
            "error logging is disabled: delivery errors are not recorded anywhere",
            json!({"cloudwatch_logging_options": d.logging}),
            format!(
                "enable CloudWatchLoggingOptions on the destination (Enabled=true, LogGroupName={group}, LogStreamName=DestinationDelivery), create the log group, and allow the role logs:PutLogEvents on arn:aws:logs:{}:{}:log-group:{group}:log-stream:*",
                cx.region(),
                cx.account()
            ),
        );
    };
    match cx.log_group_exists(&group).await {
        Ok(true) => pass(
            ID,
            format!("error logging is enabled to {group}"),
            json!({"log_group": group}),
        ),
        Ok(false) => finding(
            ID,
            Status::Warn,
            format!("error logging is enabled but the log group {group} does not exist"),
            json!({"log_group": group}),
            format!("create it: aws logs create-log-group --log-group-name {group}"),
        ),
        Err(e) => monitor_error(ID, &e, "logs:DescribeLogGroups"),
    }
}
