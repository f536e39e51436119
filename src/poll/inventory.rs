//! The set of monitored streams: explicit `streams.names` plus, with `streams.discover`, the
//! region's delivery streams filtered by the include/exclude globs. Descriptions are cached and
//! refreshed every `streams.refresh`; a stream that disappears is reported, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

use futures::stream::{self, StreamExt};

use crate::aws::{AwsError, FirehoseApi, StreamDescription};
use crate::config::StreamSettings;
use crate::poll::Target;

/// What the inventory calls.
pub const PERMISSIONS: &[&str] = &[
    "firehose:ListDeliveryStreams",
    "firehose:DescribeDeliveryStream",
];

/// `DescribeDeliveryStream` calls in flight at once (AWS allows 10 per second per account).
const DESCRIBE_CONCURRENCY: usize = 4;

/// What is known of one selected stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Described(Box<StreamDescription>),
    /// `DescribeDeliveryStream` said it does not exist.
    Missing {
        reason: String,
    },
    /// The last describe failed; the previous description (if any) is still used.
    Unreadable {
        error: AwsError,
        last: Option<Box<StreamDescription>>,
    },
}

impl Entry {
    pub fn description(&self) -> Option<&StreamDescription> {
        match self {
            Entry::Described(d) => Some(d),
            Entry::Unreadable { last, .. } => last.as_deref(),
            Entry::Missing { .. } => None,
        }
    }
}

/// The streams to poll: every entry but those known not to exist.
pub fn targets(entries: &BTreeMap<String, Entry>) -> Vec<Target> {
    entries
        .iter()
        .filter(|(_, e)| !matches!(e, Entry::Missing { .. }))
        .map(|(name, e)| Target {
            name: name.clone(),
            has_lambda: e.description().is_some_and(|d| d.has_lambda()),
        })
        .collect()
}

/// Whether the describes reached AWS: not every one of them failed to connect or timed out.
pub fn reached_aws(entries: &BTreeMap<String, Entry>) -> bool {
    entries.is_empty()
        || entries
            .values()
            .any(|e| !matches!(e, Entry::Unreadable { error, .. } if error.is_unreachable()))
}

#[derive(Default)]
pub struct Inventory {
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Current entries by name.
    pub fn entries(&self) -> BTreeMap<String, Entry> {
        self.entries.read().map(|e| e.clone()).unwrap_or_default()
    }

    /// Re-select and re-describe. A failed `ListDeliveryStreams` keeps the previously
    /// discovered names and is returned as the error after the explicit names are refreshed.
    pub async fn refresh(
        &self,
        api: &dyn FirehoseApi,
        sel: &StreamSettings,
    ) -> Result<(), AwsError> {
        let previous = self.entries();
        let listed = if sel.discover {
            Some(api.list_delivery_streams().await)
        } else {
            None
        };
        if let Some(Err(e)) = &listed {
            tracing::warn!(error = %e, "stream discovery failed; keeping the previous selection");
        }
        let names = select(sel, listed.as_ref(), &previous);
        let described: Vec<(String, Result<StreamDescription, AwsError>)> = stream::iter(names)
            .map(|n| async move {
                let r = api.describe_delivery_stream(&n).await;
                (n, r)
            })
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .collect()
            .await;
        let mut next = BTreeMap::new();
        for (name, r) in described {
            match &r {
                Err(e) if e.is_not_found() => {
                    if !matches!(previous.get(&name), Some(Entry::Missing { .. }) | None) {
                        tracing::warn!(stream = %name, "delivery stream disappeared");
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = %name, error = %e, "cannot describe delivery stream")
                }
                Ok(_) => {}
            }
            if let Some(entry) = classify(&name, r, previous.get(&name), sel) {
                next.insert(name, entry);
            }
        }
        if let Ok(mut w) = self.entries.write() {
            *w = next;
        }
        match listed {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

/// The names to describe: the configured ones, plus the listed ones the globs select. A
/// listing that failed keeps the previously selected names.
pub fn select(
    sel: &StreamSettings,
    listed: Option<&Result<Vec<String>, AwsError>>,
    previous: &BTreeMap<String, Entry>,
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = sel.names.iter().cloned().collect();
    match listed {
        Some(Ok(all)) => names.extend(all.iter().filter(|n| sel.selects(n)).cloned()),
        Some(Err(_)) => names.extend(previous.keys().cloned()),
        None => {}
    }
    names
}

/// The entry of one described name (`None`: a discovered stream that is gone is simply no
/// longer selected). An unreadable stream keeps its last description.
pub fn classify(
    name: &str,
    described: Result<StreamDescription, AwsError>,
    previous: Option<&Entry>,
    sel: &StreamSettings,
) -> Option<Entry> {
    Some(match described {
        Ok(d) => Entry::Described(Box::new(d)),
        Err(e) if e.is_not_found() => {
            if !sel.names.iter().any(|n| n == name) {
                return None;
            }
            Entry::Missing {
                reason: format!("delivery stream {name} not found: {e}"),
            }
        }
        Err(error) => Entry::Unreadable {
            error,
            last: previous
                .and_then(|p| p.description().cloned())
                .map(Box::new),
        },
    })
}
