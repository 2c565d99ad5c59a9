//! Size-based rotation of log files, for the container's own json-file log and for a log
//! shared by every container of a service.
//!
//! Rotation follows Docker's json-file driver: once writing the next batch would take the file
//! past `max_size`, `log.(n-1)` becomes `log.n` (the oldest is overwritten), ..., `log` becomes
//! `log.1`, and a new `log` is started; so at most `max_files` files exist. With `max_files`
//! of 1 the file is truncated instead.
//!
//! A shared log is appended by several shims at once. Every batch is written with one
//! `write(2)` on an `O_APPEND` descriptor under an exclusive `flock` of a lock file beside the
//! log, and each writer re-opens the log when another one rotated it (the path no longer names
//! the inode it holds), so lines are never interleaved or lost to a rename.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// When to rotate and how many files to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once a file would grow past this many bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// Files kept, the current one included (at least 1).
    pub max_files: u32,
}

impl Default for Rotation {
    /// Docker's json-file defaults are unlimited; berth's daemon passes its own defaults.
    fn default() -> Self {
        Rotation { max_size: None, max_files: 1 }
    }
}

/// The path of rotated file `n` (`log.1`, `log.2`, ...).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Shifts `log.(n-1)` to `log.n` ... `log` to `log.1`; truncates when only one file is kept.
/// The caller re-opens `path` afterwards.
fn shift(path: &Path, rotation: Rotation, current: &File) -> std::io::Result<()> {
    if rotation.max_files <= 1 {
        return current.set_len(0);
    }
    for n in (1..rotation.max_files - 1).rev() {
        let from = rotated_path(path, n);
        if from.exists() {
            std::fs::rename(&from, rotated_path(path, n + 1))?;
        }
    }
    std::fs::rename(path, rotated_path(path, 1))
}

fn would_overflow(rotation: Rotation, size: u64, add: usize) -> bool {
    rotation.max_size.is_some_and(|max| size > 0 && size + add as u64 > max)
}

/// A log file written by this process only.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl RotatingFile {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Self { path: path.to_path_buf(), file, size, rotation })
    }

    /// Appends `batch` (whole lines), rotating first if it would not fit.
    pub fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        if would_overflow(self.rotation, self.size, batch.len()) {
            shift(&self.path, self.rotation, &self.file)?;
            self.file = open_append(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(batch)?;
        self.size += batch.len() as u64;
        Ok(())
    }
}

/// A log file appended by several processes (the shims of one service).
pub struct SharedFile {
    path: PathBuf,
    lock: File,
    file: File,
    rotation: Rotation,
}

impl SharedFile {
    /// Opens `path` for appending, with its lock file `.<name>.lock` beside it.
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let lock_path = path.with_file_name(format!(".{name}.lock"));
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(lock_path)?;
        let file = open_append(path)?;
        Ok(Self { path: path.to_path_buf(), lock, file, rotation })
    }

    /// Appends `batch` under the lock, following and doing rotations.
    pub fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        rustix::fs::flock(&self.lock, rustix::fs::FlockOperation::LockExclusive)?;
        let result = self.write_locked(batch);
        let _ = rustix::fs::flock(&self.lock, rustix::fs::FlockOperation::Unlock);
        result
    }

    fn write_locked(&mut self, batch: &[u8]) -> std::io::Result<()> {
        let held = self.file.metadata()?;
        let current = std::fs::metadata(&self.path).ok();
        if current.as_ref().is_none_or(|m| m.ino() != held.ino() || m.dev() != held.dev()) {
            self.file = open_append(&self.path)?;
        }
        let size = self.file.metadata()?.len();
        if would_overflow(self.rotation, size, batch.len()) {
            shift(&self.path, self.rotation, &self.file)?;
            self.file = open_append(&self.path)?;
        }
        self.file.write_all(batch)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect();
        v.sort();
        v
    }

    #[test]
    fn rotation_keeps_at_most_max_files_of_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut f = RotatingFile::open(&path, Rotation { max_size: Some(100), max_files: 3 }).unwrap();
        for i in 0..50 {
            f.write(format!("line {i:04} ........\n").as_bytes()).unwrap();
        }
        assert_eq!(files(dir.path()), vec!["c-json.log", "c-json.log.1", "c-json.log.2"]);
        for name in files(dir.path()) {
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() <= 100);
        }
        // The newest line is in the current file, older ones in .1 then .2.
        assert!(std::fs::read_to_string(&path).unwrap().contains("line 0049"));
        let older = std::fs::read_to_string(rotated_path(&path, 2)).unwrap();
        assert!(!older.contains("line 0000"), "the oldest lines were dropped");
    }

    #[test]
    fn one_file_is_truncated_instead_of_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = RotatingFile::open(&path, Rotation { max_size: Some(30), max_files: 1 }).unwrap();
        for _ in 0..10 {
            f.write(b"0123456789\n").unwrap();
        }
        assert_eq!(files(dir.path()), vec!["log"]);
        assert!(std::fs::metadata(&path).unwrap().len() <= 30);
    }

    #[test]
    fn shared_writers_follow_each_others_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.log");
        let rotation = Rotation { max_size: Some(50), max_files: 4 };
        let mut a = SharedFile::open(&path, rotation).unwrap();
        let mut b = SharedFile::open(&path, rotation).unwrap();
        let mut written = 0;
        for i in 0..20 {
            a.write(format!("a{i:03}\n").as_bytes()).unwrap();
            b.write(format!("b{i:03}\n").as_bytes()).unwrap();
            written += 10;
        }
        let mut all = String::new();
        for n in (1..4).rev() {
            all.push_str(&std::fs::read_to_string(rotated_path(&path, n)).unwrap_or_default());
        }
        all.push_str(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(all.len(), written, "no line lost or duplicated across rotations");
        assert!(all.lines().all(|l| l.len() == 4));
        assert!(std::fs::metadata(&path).unwrap().len() <= 50);
        assert!(!rotated_path(&path, 4).exists());
    }
}
