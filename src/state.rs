//! The state file: open incidents and every alert not yet delivered, so a restart neither
//! re-fires nor forgets. Written atomically (temp file, fsync, rename, fsync of the folder) and
//! versioned; an unreadable file is moved to `PATH.corrupt-UNIXTIME` and the daemon starts empty.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use futures::future::BoxFuture;

use crate::alert::outbox::{OutboxEntry, QueueStore};
use crate::plan::incident::Incident;

pub const STATE_VERSION: u32 = 1;

/// Everything that must survive a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Open incidents by stream name.
    #[serde(default)]
    pub incidents: BTreeMap<String, Incident>,
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
    /// Alerts a sink refused permanently (4xx), newest last.
    #[serde(default)]
    pub rejected: Vec<OutboxEntry>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            incidents: BTreeMap::new(),
            outbox: Vec::new(),
            rejected: Vec::new(),
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
    state: Mutex<State>,
    /// Bumped on every change; a write never replaces a newer one with an older snapshot.
    changes: AtomicU64,
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
                state: Mutex::new(state),
                changes: AtomicU64::new(0),
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
        let (bytes, version) = {
            let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let v = self.changes.load(Ordering::SeqCst);
            (serde_json::to_vec_pretty(&*guard).unwrap_or_default(), v)
        };
        let path = self.path.clone();
        let written = self.written.clone();
        let res = tokio::task::spawn_blocking(move || {
            let mut w = written.lock().unwrap_or_else(|p| p.into_inner());
            if version < *w {
                return Ok(());
            }
            write_atomic(&path, &bytes)?;
            *w = version;
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
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A failed write leaves no temporary file behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
        let firing = snap.incidents["orders"].last_firing.as_ref().unwrap();
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
