//! Where a stream is: its name, ARN, account and region. Two accounts (or two regions) may
//! both have an `orders-to-s3`; everything that outlives a cycle is keyed by the ARN.

use serde::{Deserialize, Serialize};

/// One delivery stream, placed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamRef {
    pub name: String,
    pub arn: String,
    pub account: String,
    pub region: String,
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`...).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

impl StreamRef {
    /// The stream `name` of `account` in `region`, its ARN built the way Firehose builds it
    /// (`arn:PARTITION:firehose:REGION:ACCOUNT:deliverystream/NAME`).
    pub fn new(name: &str, account: &str, region: &str) -> Self {
        StreamRef {
            name: name.to_string(),
            arn: format!(
                "arn:{}:firehose:{region}:{account}:deliverystream/{name}",
                partition_of(region)
            ),
            account: account.to_string(),
            region: region.to_string(),
        }
    }

    /// From a delivery stream ARN; `None` when it is not one.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "firehose" {
            return None;
        }
        let name = parts[5].strip_prefix("deliverystream/")?;
        Some(StreamRef {
            name: name.to_string(),
            arn: arn.to_string(),
            account: parts[4].to_string(),
            region: parts[3].to_string(),
        })
    }

    /// `orders-to-s3 (111122223333, eu-west-1)`: how people are told which stream it is.
    pub fn label(&self) -> String {
        match (self.account.is_empty(), self.region.is_empty()) {
            (false, false) => format!("{} ({}, {})", self.name, self.account, self.region),
            (true, false) => format!("{} ({})", self.name, self.region),
            _ => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_the_arn_firehose_uses() {
        let s = StreamRef::new("orders", "111122223333", "eu-west-1");
        assert_eq!(
            s.arn,
            "arn:aws:firehose:eu-west-1:111122223333:deliverystream/orders"
        );
        assert_eq!(StreamRef::from_arn(&s.arn), Some(s.clone()));
        assert_eq!(
            StreamRef::new("o", "1", "cn-north-1").arn,
            "arn:aws-cn:firehose:cn-north-1:1:deliverystream/o"
        );
        assert_eq!(StreamRef::from_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(s.label(), "orders (111122223333, eu-west-1)");
    }
}
