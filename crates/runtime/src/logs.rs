//! [`LogHub`]: what replicas print, kept per function in a ring buffer for `/system/logs`, broadcast to
//! followers, and appended to `<state>/logs/<namespace>/<name>.log` (NDJSON `LogMessage`s) so history
//! survives a restart.
//!
//! Writing never blocks the caller: file writes go through a bounded channel to one writer task, which
//! buffers and flushes every 200 ms; lines past the channel's capacity are counted and dropped.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sedge_core::QualifiedName;
use sedge_core::api::LogMessage;
use tokio::sync::{broadcast, mpsc};

/// Lines kept in memory per function.
const RING_LINES: usize = 1000;
/// Lines queued for the file writer before new ones are dropped.
const FILE_QUEUE: usize = 8192;

/// Per-function log capture.
pub struct LogHub {
    dir: PathBuf,
    rings: Mutex<HashMap<QualifiedName, VecDeque<LogMessage>>>,
    live: broadcast::Sender<LogMessage>,
    to_file: mpsc::Sender<(QualifiedName, LogMessage)>,
    dropped: AtomicU64,
}

impl LogHub {
    /// A hub writing under `dir`; spawns the file writer on the current tokio runtime.
    pub fn new(dir: PathBuf) -> Self {
        let (to_file, rx) = mpsc::channel(FILE_QUEUE);
        let (live, _) = broadcast::channel(1024);
        tokio::spawn(write_files(dir.clone(), rx));
        Self { dir, rings: Mutex::default(), live, to_file, dropped: AtomicU64::new(0) }
    }

    /// Records one line from `instance` of `function`.
    pub fn write(&self, function: &QualifiedName, instance: &str, text: &str) {
        let message = LogMessage {
            name: function.name.clone(),
            namespace: function.namespace.clone(),
            instance: instance.to_string(),
            timestamp: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            text: text.trim_end_matches(['\n', '\r']).to_string(),
        };
        {
            let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
            let ring = rings.entry(function.clone()).or_default();
            if ring.len() == RING_LINES {
                ring.pop_front();
            }
            ring.push_back(message.clone());
        }
        let _ = self.live.send(message.clone());
        if self.to_file.try_send((function.clone(), message)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The last `tail` lines (all kept lines when `None`) at or after `since`, oldest first. After a restart
    /// the in-memory ring is empty, so history comes from the function's log file.
    pub fn history(&self, function: &QualifiedName, tail: Option<usize>, since: Option<SystemTime>) -> Vec<LogMessage> {
        let in_memory: Vec<LogMessage> = {
            let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
            rings.get(function).map(|r| r.iter().cloned().collect()).unwrap_or_default()
        };
        let lines = if in_memory.is_empty() { self.read_file(function) } else { in_memory };
        let mut lines: Vec<LogMessage> = match since {
            Some(since) => lines.into_iter().filter(|m| parse_time(&m.timestamp).is_some_and(|t| t >= since)).collect(),
            None => lines,
        };
        if let Some(tail) = tail {
            let skip = lines.len().saturating_sub(tail);
            lines.drain(..skip);
        }
        lines
    }

    /// Lines written from now on, for every function (filter by name).
    pub fn subscribe(&self) -> broadcast::Receiver<LogMessage> {
        self.live.subscribe()
    }

    /// Lines dropped because the file writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Forgets a removed function's in-memory lines (its file stays).
    pub fn forget(&self, function: &QualifiedName) {
        self.rings.lock().unwrap_or_else(|p| p.into_inner()).remove(function);
    }

    fn read_file(&self, function: &QualifiedName) -> Vec<LogMessage> {
        let Ok(file) = std::fs::File::open(log_path(&self.dir, function)) else { return Vec::new() };
        let mut lines: VecDeque<LogMessage> = VecDeque::new();
        for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
            if let Ok(m) = serde_json::from_str(&line) {
                if lines.len() == RING_LINES {
                    lines.pop_front();
                }
                lines.push_back(m);
            }
        }
        lines.into()
    }
}

fn parse_time(rfc3339: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(rfc3339).ok()
}

fn log_path(dir: &Path, f: &QualifiedName) -> PathBuf {
    dir.join(&f.namespace).join(format!("{}.log", f.name))
}

/// The file writer: appends batches of lines, then rests 200 ms; rotates a file to `.log.1` past 16 MiB.
async fn write_files(dir: PathBuf, mut rx: mpsc::Receiver<(QualifiedName, LogMessage)>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 1024).await > 0 {
        let lines = std::mem::take(&mut batch);
        let dir = dir.clone();
        // Small buffered appends, but file I/O all the same: off the async workers.
        let _ = tokio::task::spawn_blocking(move || append(&dir, lines)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn append(dir: &Path, lines: Vec<(QualifiedName, LogMessage)>) {
    const ROTATE_BYTES: u64 = 16 << 20;
    let mut files: HashMap<QualifiedName, std::io::BufWriter<std::fs::File>> = HashMap::new();
    for (function, message) in lines {
        if !files.contains_key(&function) {
            let path = log_path(dir, &function);
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(dir));
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_BYTES) {
                let _ = std::fs::rename(&path, path.with_extension("log.1"));
            }
            let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else { continue };
            files.insert(function.clone(), std::io::BufWriter::new(file));
        }
        if let Some(w) = files.get_mut(&function) {
            let _ = serde_json::to_writer(&mut *w, &message);
            let _ = w.write_all(b"\n");
        }
    }
    for w in files.values_mut() {
        let _ = w.flush();
    }
}
