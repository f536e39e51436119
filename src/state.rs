//! The state file: open incidents and every alert not yet delivered, so a restart neither
//! re-fires nor forgets. Written atomically (temp file, fsync, rename, fsync of the folder) and
//! versioned; an unreadable file is moved to `PATH.corrupt-UNIXTIME` and the daemon starts empty.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use futures::future::BoxFuture;

use crate::alert::outbox::{OutboxEntry, QueueStore};
use crate::model::Alert;
use crate::model::StreamRef;
use crate::plan::incident::Incident;
use crate::plan::risks::OpenRisk;

/// 2: each alert is stored once under `alerts`, the outbox entries name it by `alert_key`.
/// 3: datapoints stored as `[UNIX_SECONDS, value]`, and `closed` (recently closed incidents).
/// 4: incidents keyed by stream ARN (two accounts may both have `orders-to-s3`).
/// Versions 1 to 3 are read (their incidents, keyed by name, are re-keyed by ARN where the
/// ARN is known, else when the stream is found again: [`State::rekey_by_name`]); an older
/// binary refuses a newer file rather than misreading it.
pub const STATE_VERSION: u32 = 4;

/// How long a closed incident's last sequence is remembered (see [`State::closed`]).
pub const CLOSED_KEPT_HOURS: i64 = 24;

/// What is kept of a closed incident: so that an incident opened later under the same id
/// (the same bad run) numbers its alerts after the old ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedIncident {
    pub closed_at: chrono::DateTime<Utc>,
    /// The last sequence number its alerts used.
    pub seq: u32,
}

/// Everything that must survive a restart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Stored<Alert, BTreeMap<String, Incident>>")]
pub struct State {
    pub version: u32,
    /// Open incidents by stream ARN (by name only in files written before version 4, until
    /// [`State::rekey_by_name`] finds the stream).
    #[serde(default)]
    pub incidents: BTreeMap<String, Incident>,
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
    /// Alerts a sink refused permanently (4xx), newest last.
    #[serde(default)]
    pub rejected: Vec<OutboxEntry>,
    /// Incidents closed in the last [`CLOSED_KEPT_HOURS`], by id.
    #[serde(default)]
    pub closed: BTreeMap<String, ClosedIncident>,
    /// Open audit risks: stream ARN -> rule id -> risk.
    #[serde(default)]
    pub risks: BTreeMap<String, BTreeMap<String, OpenRisk>>,
}

/// Whether an incident key is a stream ARN (version 4) rather than a name.
pub fn is_arn_key(key: &str) -> bool {
    key.starts_with("arn:")
}

impl State {
    /// Move incidents still keyed by name to the ARN `arn_of` finds for that name (the one
    /// stream of that name watched); those it cannot place stay as they are.
    pub fn rekey_by_name(&mut self, arn_of: &dyn Fn(&str) -> Option<String>) {
        let legacy: Vec<String> = self
            .incidents
            .keys()
            .filter(|k| !is_arn_key(k))
            .cloned()
            .collect();
        for name in legacy {
            let Some(arn) = arn_of(&name) else { continue };
            // Never onto an ARN without its account (a target whose account is not known yet).
            if StreamRef::from_arn(&arn).is_none_or(|r| r.account.is_empty()) {
                continue;
            }
            if self.incidents.contains_key(&arn) {
                continue;
            }
            if let Some(mut inc) = self.incidents.remove(&name) {
                tracing::info!(stream = %name, %arn, "open incident re-keyed by stream ARN");
                inc.arn = arn.clone();
                self.incidents.insert(arn, inc);
            }
        }
    }
    /// Remember that incident `id` closed at `now` after alerts up to `seq`; forget those
    /// closed more than [`CLOSED_KEPT_HOURS`] ago.
    pub fn remember_closed(&mut self, id: &str, seq: u32, now: chrono::DateTime<Utc>) {
        let horizon = now - chrono::Duration::hours(CLOSED_KEPT_HOURS);
        self.closed.retain(|_, c| c.closed_at >= horizon);
        let e = self.closed.entry(id.to_string()).or_insert(ClosedIncident {
            closed_at: now,
            seq,
        });
        e.closed_at = now;
        e.seq = e.seq.max(seq);
    }
}

/// An outbox entry as written: the alert by its key in [`Stored::alerts`] (version 2) or
/// inline (version 1).
#[derive(Serialize, Deserialize)]
struct StoredEntry<A> {
    sink: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert_key: Option<String>,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    alert: Option<A>,
    enqueued_at: chrono::DateTime<Utc>,
    attempts: u32,
    next_attempt_at: chrono::DateTime<Utc>,
    #[serde(default)]
    last_error: Option<String>,
}

/// `#[serde(default)]` would make the derive require `A: Default`.
fn none<A>() -> Option<A> {
    None
}

/// The state file's layout: every alert once, however many sinks wait for it (a diagnosis
/// with its policy documents is the bulk of the file).
#[derive(Serialize, Deserialize)]
#[serde(bound(deserialize = "A: Deserialize<'de>, I: Deserialize<'de> + Default"))]
struct Stored<A, I> {
    version: u32,
    #[serde(default)]
    incidents: I,
    #[serde(default = "BTreeMap::new")]
    alerts: BTreeMap<String, A>,
    #[serde(default = "Vec::new")]
    outbox: Vec<StoredEntry<A>>,
    #[serde(default = "Vec::new")]
    rejected: Vec<StoredEntry<A>>,
    #[serde(default)]
    closed: BTreeMap<String, ClosedIncident>,
    #[serde(default = "BTreeMap::new", skip_serializing_if = "BTreeMap::is_empty")]
    risks: BTreeMap<String, BTreeMap<String, OpenRisk>>,
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut alerts: BTreeMap<String, CompactAlert> = BTreeMap::new();
        let mut lists: [Vec<StoredEntry<CompactAlert>>; 2] = [Vec::new(), Vec::new()];
        for (list, entries) in lists.iter_mut().zip([&self.outbox, &self.rejected]) {
            for e in entries {
                let key = e.alert.idempotency_key();
                alerts.entry(key.clone()).or_insert(CompactAlert(&e.alert));
                list.push(StoredEntry {
                    sink: e.sink.clone(),
                    alert_key: Some(key),
                    alert: None,
                    enqueued_at: e.enqueued_at,
                    attempts: e.attempts,
                    next_attempt_at: e.next_attempt_at,
                    last_error: e.last_error.clone(),
                });
            }
        }
        let [outbox, rejected] = lists;
        Stored {
            version: self.version,
            incidents: &self.incidents,
            alerts,
            outbox,
            rejected,
            closed: self.closed.clone(),
            risks: self.risks.clone(),
        }
        .serialize(ser)
    }
}

/// An alert as stored: the payload's fields, with its datapoints as `[UNIX_SECONDS, value]`
/// (an hour of four metrics is a third of a diagnosed alert in the full form; [`Point`] reads
/// both forms).
///
/// [`Point`]: crate::model::Point
struct CompactAlert<'a>(&'a Alert);

impl Serialize for CompactAlert<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(self.0).map_err(serde::ser::Error::custom)?;
        if let Some(serde_json::Value::Object(metrics)) = v.get_mut("metrics") {
            for (name, points) in metrics.iter_mut() {
                if let Some(series) = self.0.metrics.get(name) {
                    *points = series.iter().map(|p| p.compact()).collect();
                }
            }
        }
        v.serialize(ser)
    }
}

impl TryFrom<Stored<Alert, BTreeMap<String, Incident>>> for State {
    type Error = String;

    fn try_from(s: Stored<Alert, BTreeMap<String, Incident>>) -> Result<Self, String> {
        let alerts: BTreeMap<String, Arc<Alert>> = s
            .alerts
            .into_iter()
            .map(|(k, a)| (k, Arc::new(a)))
            .collect();
        let entry = |e: StoredEntry<Alert>| -> Result<OutboxEntry, String> {
            let alert = match (e.alert, e.alert_key) {
                (Some(a), _) => Arc::new(a),
                (None, Some(k)) => alerts.get(&k).cloned().ok_or_else(|| {
                    format!(
                        "outbox entry for sink {} names alert {k}, which is not under `alerts`",
                        e.sink
                    )
                })?,
                (None, None) => {
                    return Err(format!("outbox entry for sink {} has no alert", e.sink))
                }
            };
            Ok(OutboxEntry {
                sink: e.sink,
                alert,
                enqueued_at: e.enqueued_at,
                attempts: e.attempts,
                next_attempt_at: e.next_attempt_at,
                last_error: e.last_error,
                held: false,
            })
        };
        // Before version 4 incidents were keyed by name: the ARN of the last firing alert
        // (when one was sent) places them at once.
        let incidents = s
            .incidents
            .into_iter()
            .map(|(k, mut inc)| {
                if is_arn_key(&k) {
                    return (k, inc);
                }
                let arn = inc
                    .last_firing
                    .as_ref()
                    .map(|f| f.arn.clone())
                    .filter(|a| is_arn_key(a));
                match arn {
                    Some(a) => {
                        inc.arn = a.clone();
                        (a, inc)
                    }
                    None => (k, inc),
                }
            })
            .collect();
        Ok(State {
            version: STATE_VERSION,
            incidents,
            outbox: s.outbox.into_iter().map(entry).collect::<Result<_, _>>()?,
            rejected: s
                .rejected
                .into_iter()
                .map(entry)
                .collect::<Result<_, _>>()?,
            closed: s.closed,
            risks: s.risks,
        })
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            incidents: BTreeMap::new(),
            outbox: Vec::new(),
            rejected: Vec::new(),
            closed: BTreeMap::new(),
            risks: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a content problem: moving the file aside would lose incidents and alerts.
    #[error("cannot read state file {path}: {source} (fix the path or its permissions; the file is left as it is)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} has format version {version}, newer than this firehose-sentinel knows ({STATE_VERSION}): run the newer version, or move the file away to start empty")]
    Newer { path: PathBuf, version: u32 },
    #[error("state file {path} is in use by another firehose-sentinel (lock {lock} held): two daemons must not share a state file")]
    Locked { path: PathBuf, lock: PathBuf },
}

/// The state in memory plus its file.
pub struct StateStore {
    path: PathBuf,
    state: Arc<Mutex<State>>,
    /// Bumped on every change; a write never replaces a newer one with an older snapshot.
    changes: Arc<AtomicU64>,
    /// Version last written; held by the blocking write itself, so a cancelled save can
    /// never land after a newer one.
    written: std::sync::Arc<Mutex<u64>>,
    /// The exclusive lock on `PATH.lock`, held while the store lives.
    lock: Mutex<Option<std::fs::File>>,
}

/// Take the exclusive lock of the state file at `path`.
fn lock(path: &Path) -> Result<std::fs::File, StateError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let read_err = |source| StateError::Read {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(read_err)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(read_err)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked {
            path: path.to_path_buf(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(read_err(e)),
    }
}

impl StateStore {
    /// Load `path`, holding `PATH.lock` for as long as the store lives (one daemon per state
    /// file). Missing: empty state. Content that does not parse: moved to
    /// `PATH.corrupt-UNIXTIME`, empty state, and the returned message says where it went. Any
    /// other failure (unreadable, a directory, a newer format, locked) is an error naming the
    /// path; the file is left untouched.
    pub fn open(path: &Path) -> Result<(StateStore, Option<String>), StateError> {
        let lock = lock(path)?;
        let (state, warning) = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (State::default(), None),
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v)
                    if v.get("version")
                        .and_then(|x| x.as_u64())
                        .is_some_and(|x| x > u64::from(STATE_VERSION)) =>
                {
                    return Err(StateError::Newer {
                        path: path.to_path_buf(),
                        version: v["version"].as_u64().unwrap_or_default() as u32,
                    })
                }
                _ => match serde_json::from_slice::<State>(&bytes) {
                    Ok(s) => (s, None),
                    Err(e) => (
                        State::default(),
                        Some(move_aside(path, &format!("not valid state JSON: {e}"))),
                    ),
                },
            },
        };
        Ok((
            StateStore {
                path: path.to_path_buf(),
                state: Arc::new(Mutex::new(state)),
                changes: Arc::new(AtomicU64::new(0)),
                written: std::sync::Arc::new(Mutex::new(0)),
                lock: Mutex::new(Some(lock)),
            },
            warning,
        ))
    }

    /// Let another process (or a restarted daemon) open the state file.
    pub fn release(&self) {
        if let Ok(mut l) = self.lock.lock() {
            *l = None;
        }
    }

    /// Read or change the state. Changes are written by the next [`StateStore::save`].
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut guard);
        self.changes.fetch_add(1, Ordering::SeqCst);
        r
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Write the current state atomically. Concurrent or cancelled saves never write an
    /// older snapshot over a newer one.
    pub async fn save(&self) -> Result<(), StateError> {
        let path = self.path.clone();
        let written = self.written.clone();
        let state = self.state.clone();
        let changes = self.changes.clone();
        // Serialized straight into the temporary file under the state's lock: no copy of a
        // large outbox in memory (the file is written to the page cache; the fsync happens
        // after the lock is released).
        let res = tokio::task::spawn_blocking(move || {
            let mut w = written.lock().unwrap_or_else(|p| p.into_inner());
            let mut version = 0;
            let done = write_atomic_with(&path, |out| {
                let guard = state.lock().unwrap_or_else(|p| p.into_inner());
                version = changes.load(Ordering::SeqCst);
                if version < *w {
                    return Ok(false);
                }
                serde_json::to_writer(&mut *out, &*guard).map_err(std::io::Error::other)?;
                Ok(true)
            })?;
            if done {
                *w = version;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        res.map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

impl QueueStore for StateStore {
    fn update_queue(&self, f: &mut dyn FnMut(&mut Vec<OutboxEntry>, &mut Vec<OutboxEntry>)) {
        self.with(|s| f(&mut s.outbox, &mut s.rejected));
    }

    fn persist(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.save().await.map_err(|e| e.to_string()) })
    }
}

fn move_aside(path: &Path, why: &str) -> String {
    let aside = PathBuf::from(format!(
        "{}.corrupt-{}",
        path.display(),
        Utc::now().timestamp()
    ));
    match std::fs::rename(path, &aside) {
        Ok(()) => format!(
            "state file {} is unusable ({why}); moved to {} and starting with an empty state",
            path.display(),
            aside.display()
        ),
        Err(e) => format!(
            "state file {} is unusable ({why}) and could not be moved aside ({e}); starting with an empty state",
            path.display()
        ),
    }
}

/// Write, fsync, rename over, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes).map(|()| true)).map(|_| ())
}

/// [`write_atomic`] of what `fill` writes; `fill` answering `false` abandons the write (the
/// temporary file is removed and `path` left as it is).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<bool>,
) -> std::io::Result<bool> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into()),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    let written = (|| {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(&tmp)?);
        if !fill(&mut out)? {
            return Ok(false);
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).map(|()| true)
    })();
    match written {
        Ok(true) => {}
        // Abandoned or failed: no temporary file is left behind.
        Ok(false) => {
            let _ = std::fs::remove_file(&tmp);
            return Ok(false);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let (store, warn) = StateStore::open(&path).unwrap();
        assert!(warn.is_none());
        store.with(|s| {
            s.incidents.insert(
                "a".into(),
                Incident::open(
                    "a",
                    "arn",
                    crate::model::Health::Failing,
                    crate::model::Severity::Critical,
                    Utc::now(),
                    Utc::now(),
                ),
            )
        });
        store.save().await.unwrap();
        let saved = store.snapshot();
        drop(store);
        let (again, warn) = StateStore::open(&path).unwrap();
        assert!(warn.is_none());
        assert_eq!(again.snapshot(), saved);
        drop(again);

        std::fs::write(&path, b"{not json").unwrap();
        let (fresh, warn) = StateStore::open(&path).unwrap();
        let warn = warn.unwrap();
        assert!(warn.contains("moved to"), "{warn}");
        assert!(fresh.snapshot().incidents.is_empty());
        assert!(!path.exists());
        let aside: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
    }

    fn entry(sink: &str, alert: &Arc<Alert>) -> OutboxEntry {
        OutboxEntry {
            sink: sink.into(),
            alert: alert.clone(),
            enqueued_at: Utc::now(),
            attempts: 2,
            next_attempt_at: Utc::now(),
            last_error: Some("HTTP 503".into()),
            held: false,
        }
    }

    #[test]
    fn an_alert_waiting_for_several_sinks_is_stored_once_and_shared_when_read() {
        let mut a = crate::plan::alerts::test_alert(Utc::now());
        a.summary = "x".repeat(10_000);
        let a = Arc::new(a);
        let mut b = (*a).clone();
        b.sequence = 2;
        let b = Arc::new(b);
        let state = State {
            outbox: vec![
                entry("slack", &a),
                entry("webhook", &a),
                entry("pd", &a),
                entry("slack", &b),
            ],
            rejected: vec![entry("webhook", &b)],
            ..State::default()
        };
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(
            text.matches(&"x".repeat(10_000)).count(),
            2,
            "one copy per alert"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], STATE_VERSION);
        assert_eq!(v["alerts"].as_object().unwrap().len(), 2);
        assert_eq!(v["outbox"][1]["alert_key"], a.idempotency_key());
        assert!(v["outbox"][1].get("alert").is_none());
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        assert!(Arc::ptr_eq(&back.outbox[0].alert, &back.outbox[2].alert));
        assert!(Arc::ptr_eq(&back.outbox[3].alert, &back.rejected[0].alert));
    }

    #[test]
    fn datapoints_are_stored_compact_and_read_back_exactly() {
        use chrono::TimeZone;
        let mut a = crate::plan::alerts::test_alert(Utc::now());
        let whole = Utc.with_ymd_and_hms(2026, 11, 26, 2, 55, 0).unwrap();
        let odd = whole + chrono::Duration::nanoseconds(123_456_789);
        a.metrics = BTreeMap::from([(
            "DeliveryToS3.Success".to_string(),
            vec![
                crate::model::Point { t: whole, v: 0.0 },
                crate::model::Point { t: odd, v: 2.5 },
            ],
        )]);
        let a = Arc::new(a);
        let state = State {
            outbox: vec![entry("slack", &a)],
            ..State::default()
        };
        let text = serde_json::to_string(&state).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let points = &v["alerts"][a.idempotency_key()]["metrics"]["DeliveryToS3.Success"];
        assert_eq!(points[0], serde_json::json!([whole.timestamp(), 0.0]));
        // A time with a fraction of a second keeps the full form, so nothing is rounded.
        assert_eq!(points[1]["v"], 2.5);
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        // The payload the sinks send keeps the documented `{"t", "v"}` form.
        let payload = serde_json::to_value(&*a).unwrap();
        assert_eq!(
            payload["metrics"]["DeliveryToS3.Success"][0],
            serde_json::json!({"t": "2026-11-26T02:55:00Z", "v": 0.0})
        );
    }

    #[test]
    fn a_version_1_file_with_the_alert_in_every_entry_still_loads() {
        let a = Arc::new(crate::plan::alerts::test_alert(Utc::now()));
        let e = entry("slack", &a);
        let v1 = serde_json::json!({
            "version": 1,
            "incidents": {},
            "outbox": [serde_json::to_value(&e).unwrap()],
            "rejected": [],
        });
        assert!(v1["outbox"][0]["alert"].is_object());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, v1.to_string()).unwrap();
        let (store, warn) = StateStore::open(&path).unwrap();
        assert!(warn.is_none(), "{warn:?}");
        assert_eq!(store.snapshot().outbox, vec![e]);
    }

    #[test]
    fn an_entry_naming_a_missing_alert_is_unparsable_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let now = Utc::now().to_rfc3339();
        let text = format!(
            r#"{{"version":2,"alerts":{{}},"outbox":[{{"sink":"slack","alert_key":"inc-1:1","enqueued_at":"{now}","attempts":0,"next_attempt_at":"{now}"}}]}}"#
        );
        std::fs::write(&path, text).unwrap();
        let (store, warn) = StateStore::open(&path).unwrap();
        let warn = warn.unwrap();
        assert!(
            warn.contains("inc-1:1") && warn.contains("moved to"),
            "{warn}"
        );
        assert!(store.snapshot().outbox.is_empty());
    }

    #[test]
    fn a_state_file_whose_incident_holds_the_whole_last_alert_still_loads() {
        // Before the firing snapshot, `last_firing` held the whole alert payload.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let old = r#"{"version":1,"incidents":{"orders":{"id":"inc-0123456789abcdef","stream":"orders",
          "started_at":"2026-11-26T03:00:00Z","health":"failing","seq":1,"firing_sent":true,
          "last_root_cause":"s3.bucket","last_alert_at":"2026-11-26T03:00:00Z","waiting_cycles":0,
          "last_diagnosis_at":"2026-11-26T03:00:00Z","last_bad_at":null,
          "last_firing":{"schema":"firehose-sentinel/alert/v1","status":"firing",
            "incident_id":"inc-0123456789abcdef","sequence":1,"stream":"orders",
            "arn":"arn:aws:firehose:us-east-1:1:deliverystream/orders","account":"1",
            "region":"us-east-1","health":"failing","started_at":"2026-11-26T03:00:00Z",
            "resolved_at":null,"summary":"orders: delivery to S3 is failing",
            "root_cause":{"check":"s3.bucket","summary":"gone","remediation":"create it"},
            "findings":[],"metrics":{},"test":false,"reason":"opened",
            "created_at":"2026-11-26T03:00:00Z"}}},"outbox":[],"rejected":[]}"#;
        std::fs::write(&path, old).unwrap();
        let (store, warn) = StateStore::open(&path).unwrap();
        assert!(warn.is_none(), "{warn:?}");
        let snap = store.snapshot();
        // Keyed by name before version 4: re-keyed by the ARN of its last firing alert.
        let inc = &snap.incidents["arn:aws:firehose:us-east-1:1:deliverystream/orders"];
        assert_eq!(
            inc.arn,
            "arn:aws:firehose:us-east-1:1:deliverystream/orders"
        );
        let firing = inc.last_firing.as_ref().unwrap();
        assert_eq!(
            firing.to_alert().idempotency_key(),
            "inc-0123456789abcdef:1"
        );
        assert_eq!(firing.root_cause.as_ref().unwrap().check, "s3.bucket");
    }

    #[test]
    fn a_readable_state_file_is_never_thrown_away() {
        let dir = tempfile::tempdir().unwrap();
        // A directory at the path: an error naming it, nothing moved aside.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).unwrap();
        let err = StateStore::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("state.json") && err.contains("cannot read"),
            "{err}"
        );
        assert!(path.is_dir());
        // A newer format: an error, the file untouched.
        let path = dir.path().join("newer.json");
        std::fs::write(&path, br#"{"version": 99, "incidents": {}}"#).unwrap();
        let err = StateStore::open(&path).err().unwrap().to_string();
        assert!(err.contains("version 99"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            br#"{"version": 99, "incidents": {}}"#
        );
    }

    #[test]
    fn two_daemons_never_share_a_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (first, _) = StateStore::open(&path).unwrap();
        let err = StateStore::open(&path).err().unwrap().to_string();
        assert!(err.contains("in use by another firehose-sentinel"), "{err}");
        first.release();
        assert!(StateStore::open(&path).is_ok(), "free once released");
    }

    #[tokio::test]
    async fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (store, _) = StateStore::open(&path).unwrap();
        // The rename over a directory fails after the temporary file was written.
        std::fs::create_dir(&path).unwrap();
        assert!(store.save().await.is_err());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
