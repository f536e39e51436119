//! The set of monitored streams: explicit `streams.names` plus, with `streams.discover`, the
//! region's delivery streams filtered by the include/exclude globs. Descriptions are cached and
//! refreshed every `streams.refresh`; a stream that disappears is reported, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use futures::stream::{self, StreamExt};

use crate::aws::{AwsError, FirehoseApi, StreamDescription};
use crate::config::{ShardingSettings, StreamSettings};
use crate::model::Shape;
use crate::poll::{shard, Target};

/// What the inventory calls.
pub const PERMISSIONS: &[&str] = &[
    "firehose:ListDeliveryStreams",
    "firehose:DescribeDeliveryStream",
    // Only with include_tags / exclude_tags.
    "firehose:ListTagsForDeliveryStream",
    // Needs no permission (AWS answers it for every principal); listed because it is called.
    "sts:GetCallerIdentity",
];

/// `DescribeDeliveryStream` calls in flight at once (AWS allows 10 per second per account).
const DESCRIBE_CONCURRENCY: usize = 4;

/// What is known of one selected stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Shared: the watched map and every cycle's work hold the same description.
    Described(Arc<StreamDescription>),
    /// `DescribeDeliveryStream` said it does not exist.
    Missing { reason: String },
    /// The last describe failed; the previous description (if any) is still used.
    Unreadable {
        error: AwsError,
        last: Option<Arc<StreamDescription>>,
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

    /// The description, shared (not copied).
    pub fn shared_description(&self) -> Option<Arc<StreamDescription>> {
        match self {
            Entry::Described(d) => Some(d.clone()),
            Entry::Unreadable { last, .. } => last.clone(),
            Entry::Missing { .. } => None,
        }
    }
}

/// The streams to poll: every entry but those known not to exist and those known not to
/// deliver to S3. A stream never described is polled as a Direct PUT stream with the default
/// buffer.
pub fn targets(entries: &BTreeMap<String, Entry>) -> Vec<Target> {
    entries
        .iter()
        .filter(|(_, e)| !matches!(e, Entry::Missing { .. }))
        .filter(|(_, e)| e.description().is_none_or(|d| d.s3.is_some()))
        .map(|(name, e)| Target {
            name: name.clone(),
            shape: e
                .description()
                .map(|d| d.shape())
                .unwrap_or_else(|| Shape::direct_put(300)),
            source_stream: e
                .description()
                .and_then(|d| d.kinesis_source())
                .map(str::to_string),
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

/// A discovered stream that is not watched, and why (its destination is not S3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub stream: String,
    pub arn: String,
    pub reason: String,
}

#[derive(Default)]
pub struct Inventory {
    /// Shared with the cycle that reads it (a 20,000-stream map is not copied each cycle).
    entries: RwLock<Arc<BTreeMap<String, Entry>>>,
    skipped: RwLock<Vec<Skipped>>,
    sharding: ShardingSettings,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    /// An inventory that keeps only the streams of this replica's shard.
    pub fn sharded(sharding: ShardingSettings) -> Self {
        Inventory {
            sharding,
            ..Self::default()
        }
    }

    /// Current entries by name.
    pub fn entries(&self) -> Arc<BTreeMap<String, Entry>> {
        self.entries.read().map(|e| e.clone()).unwrap_or_default()
    }

    /// Discovered streams that are not watched (never polled), by name.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.skipped.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Re-select and re-describe. A failed `ListDeliveryStreams` keeps the previously
    /// discovered names and is returned as the error after the explicit names are refreshed.
    pub async fn refresh(
        &self,
        api: &dyn FirehoseApi,
        sel: &StreamSettings,
    ) -> Result<(), AwsError> {
        self.refresh_keeping(api, sel, &BTreeSet::new(), &|n| n.to_string())
            .await
    }

    /// Nothing could be read (the target's credentials failed): every stream it had, the
    /// named ones and `keep` become unreadable with `error`, keeping their last description.
    pub fn mark_unreadable(
        &self,
        sel: &StreamSettings,
        keep: &BTreeSet<String>,
        error: &AwsError,
        shard_key: &(dyn Fn(&str) -> String + Sync),
    ) {
        let previous = self.entries();
        // The named streams of this replica's shard only; kept ones are already its own.
        let names: BTreeSet<String> = previous
            .keys()
            .chain(
                sel.names
                    .iter()
                    .filter(|n| shard::owns(&self.sharding, &shard_key(n))),
            )
            .chain(keep.iter())
            .cloned()
            .collect();
        let next: BTreeMap<String, Entry> = names
            .into_iter()
            .map(|n| {
                let last = previous.get(&n).and_then(Entry::shared_description);
                (
                    n,
                    Entry::Unreadable {
                        error: error.clone(),
                        last,
                    },
                )
            })
            .collect();
        if let Ok(mut w) = self.entries.write() {
            *w = Arc::new(next);
        }
    }

    /// [`Inventory::refresh`], also keeping `keep` (the streams of open incidents) when the
    /// listing fails: after a restart the previous selection is empty.
    pub async fn refresh_keeping(
        &self,
        api: &dyn FirehoseApi,
        sel: &StreamSettings,
        keep: &BTreeSet<String>,
        shard_key: &(dyn Fn(&str) -> String + Sync),
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
        let mut names = select(sel, listed.as_ref(), &previous);
        if matches!(listed, Some(Err(_))) {
            names.extend(keep.iter().cloned());
        }
        // Only this replica's shard, before any describe: the others' streams cost nothing.
        names.retain(|n| shard::owns(&self.sharding, &shard_key(n)));
        if sel.uses_tags() {
            names = self.by_tags(api, sel, names, &previous).await;
        }
        let described: Vec<(String, Result<StreamDescription, AwsError>)> = stream::iter(names)
            .map(|n| async move {
                let r = api.describe_delivery_stream(&n).await;
                (n, r)
            })
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .collect()
            .await;
        let before: BTreeSet<String> = self.skipped().into_iter().map(|k| k.stream).collect();
        let mut next = BTreeMap::new();
        let mut skipped = Vec::new();
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
            match classify(&name, r, previous.get(&name), sel) {
                Classified::Watch(entry) => {
                    if let Entry::Described(d) = &entry {
                        let was_other = matches!(previous.get(&name), Some(Entry::Described(p)) if p.s3.is_none());
                        if d.s3.is_none() && !was_other {
                            tracing::warn!(stream = %name, destination = ?d.other_destination,
                                "this stream is named in streams.names but does not deliver to S3: it is reported unknown and never alerted");
                        }
                    }
                    next.insert(name, entry);
                }
                Classified::Skip(k) => {
                    if !before.contains(&k.stream) {
                        tracing::info!(stream = %k.stream, reason = %k.reason, "discovered stream skipped");
                    }
                    skipped.push(k);
                }
                Classified::Gone => {}
            }
        }
        if let Ok(mut w) = self.skipped.write() {
            *w = skipped;
        }
        if let Ok(mut w) = self.entries.write() {
            *w = Arc::new(next);
        }
        match listed {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

impl Inventory {
    /// Keep the named streams, and the discovered ones whose tags the selection takes. A
    /// stream whose tags cannot be read keeps its previous standing.
    async fn by_tags(
        &self,
        api: &dyn FirehoseApi,
        sel: &StreamSettings,
        names: BTreeSet<String>,
        previous: &BTreeMap<String, Entry>,
    ) -> BTreeSet<String> {
        let (named, discovered): (Vec<String>, Vec<String>) =
            names.into_iter().partition(|n| sel.names.contains(n));
        type Tagged = (String, Result<BTreeMap<String, String>, AwsError>);
        let tagged: Vec<Tagged> = stream::iter(discovered)
            .map(|n| async move {
                let r = api.list_tags(&n).await;
                (n, r)
            })
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .collect()
            .await;
        let mut out: BTreeSet<String> = named.into_iter().collect();
        for (n, r) in tagged {
            match r {
                Ok(tags) if sel.selects_tags(&tags) => {
                    out.insert(n);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(stream = %n, error = %e, "cannot list the stream's tags; keeping its previous selection");
                    if previous.contains_key(&n) {
                        out.insert(n);
                    }
                }
            }
        }
        out
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

/// What to do with one described name.
#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    Watch(Entry),
    /// A discovered stream whose destination is not S3: listed, never polled.
    Skip(Skipped),
    /// A discovered stream that is gone is simply no longer selected.
    Gone,
}

/// The entry of one described name. An unreadable stream keeps its last description; a named
/// stream is always watched (a missing one is reported, one that is not S3 is `unknown`).
pub fn classify(
    name: &str,
    described: Result<StreamDescription, AwsError>,
    previous: Option<&Entry>,
    sel: &StreamSettings,
) -> Classified {
    let named = sel.names.iter().any(|n| n == name);
    Classified::Watch(match described {
        Ok(d) if d.s3.is_none() && !named => {
            return Classified::Skip(Skipped {
                stream: name.to_string(),
                arn: d.arn.clone(),
                reason: format!(
                    "the destination is {}, not S3",
                    d.other_destination.as_deref().unwrap_or("unknown")
                ),
            })
        }
        Ok(d) => Entry::Described(Arc::new(d)),
        Err(e) if e.is_not_found() => {
            if !named {
                return Classified::Gone;
            }
            Entry::Missing {
                reason: format!("delivery stream {name} not found: {e}"),
            }
        }
        Err(error) => Entry::Unreadable {
            error,
            last: previous.and_then(Entry::shared_description),
        },
    })
}
