//! CloudTrail's `LookupEvents` (change attribution): one client per region, built on first
//! use from the client set's configuration (IAM's events are in another region).

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use super::{classify, to_smithy_time, AwsClients};
use crate::aws::{AwsError, TrailApi, TrailEvent};

impl AwsClients {
    /// The CloudTrail client of `region` (built on first use).
    fn trail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let mut cache = self
            .trail_regional
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_cloudtrail::Client::from_conf(
                    self.trail_config
                        .clone()
                        .region(aws_config::Region::new(region.to_string()))
                        .build(),
                )
            })
            .clone()
    }
}

#[async_trait]
impl TrailApi for AwsClients {
    async fn lookup_events(
        &self,
        region: &str,
        resource_name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<String>,
    ) -> Result<(Vec<TrailEvent>, Option<String>), AwsError> {
        use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(resource_name)
            .build()
            .map_err(|e| AwsError::Service {
                operation: "LookupEvents".into(),
                code: "InvalidRequest".into(),
                message: e.to_string(),
            })?;
        let out = self
            .trail(region)
            .lookup_events()
            .lookup_attributes(attribute)
            .start_time(to_smithy_time(start))
            .end_time(to_smithy_time(end))
            .max_results(50)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| classify("LookupEvents", e))?;
        let events = out
            .events()
            .iter()
            .map(|e| {
                let record: Option<serde_json::Value> = e
                    .cloud_trail_event()
                    .and_then(|j| serde_json::from_str(j).ok());
                TrailEvent {
                    id: e.event_id().unwrap_or_default().to_string(),
                    name: e.event_name().unwrap_or_default().to_string(),
                    time: e
                        .event_time()
                        .and_then(|t| Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single())
                        .unwrap_or(start),
                    username: e.username().map(str::to_string),
                    read_only: e.read_only() == Some("true"),
                    resources: e
                        .resources()
                        .iter()
                        .map(|r| {
                            (
                                r.resource_type().unwrap_or_default().to_string(),
                                r.resource_name().unwrap_or_default().to_string(),
                            )
                        })
                        .collect(),
                    actor_arn: record
                        .as_ref()
                        .and_then(|r| r["userIdentity"]["arn"].as_str())
                        .map(str::to_string),
                }
            })
            .collect();
        Ok((events, out.next_token().map(str::to_string)))
    }
}
