//! The ledger spool: batches the database did not take (it is unreachable, or failed a batch
//! through its retries), kept in a local file and written to the database, exactly once, when
//! it answers again. The gateway goes on serving meanwhile: the proxy never waits on the store.
//!
//! Format: one line per batch, the JSON of [`Spooled`], appended and flushed to the disk
//! (`sync_data`) before the batch counts as kept. A crash can cut only the last line short; at
//! open the file is cut back to its last complete line. Exactly once: every batch, first try or
//! replay, records its id in `written_batches` in its own transaction (see
//! `writer::write_batch`), so a replay of a batch that was committed after all (its commit's
//! answer was lost, or a replay was cut short) adds nothing. The file is emptied once every
//! line is through.
//!
//! Owns: the spool file. Must not: run on the hot path (only the writer task uses it, and its
//! file IO runs on tokio's blocking pool).

use std::io::{BufRead, Seek, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StoreError, Write};

/// One spooled batch.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Spooled {
    pub id: String,
    pub writes: Vec<Write>,
}

/// The spool file, and how many batches it holds.
#[derive(Debug)]
pub(super) struct Spool {
    path: PathBuf,
    batches: usize,
}

/// How many batches one read of [`Spool::read_from`] returns at most.
const READ_BATCHES: usize = 64;

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Spool {
        path: path.display().to_string(),
        source,
    }
}

impl Spool {
    /// Opens the spool at `path` (creating its folder; the file itself is created on the first
    /// append, readable by its owner only), cut back to its last complete line.
    pub(super) async fn open(path: PathBuf) -> Result<Spool, StoreError> {
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            }
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io(&path, e)),
            };
            let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if complete < text.len() {
                tracing::warn!(
                    path = %path.display(),
                    bytes = text.len() - complete,
                    "ledger spool: a batch cut short by a crash is dropped"
                );
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io(&path, e))?;
                f.set_len(complete as u64).map_err(|e| io(&path, e))?;
                f.sync_data().map_err(|e| io(&path, e))?;
            }
            let batches = text[..complete].iter().filter(|&&b| b == b'\n').count();
            Ok(Spool { path, batches })
        })
        .await
        .map_err(|e| StoreError::Spool {
            path: String::new(),
            source: std::io::Error::other(e),
        })?
    }

    /// How many batches wait in the file.
    pub(super) fn batches(&self) -> usize {
        self.batches
    }

    /// Appends a batch and flushes it to the disk.
    pub(super) async fn append(&mut self, batch: &Spooled) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(batch)?;
        line.push(b'\n');
        let path = self.path.clone();
        blocking(move || {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| io(&path, e))?;
            f.write_all(&line).map_err(|e| io(&path, e))?;
            f.sync_data().map_err(|e| io(&path, e))
        })
        .await?;
        self.batches += 1;
        Ok(())
    }

    /// Up to [`READ_BATCHES`] batches from byte `offset`, and the offset after them. A line
    /// that does not parse (written by another version, or damaged) is skipped with a warning.
    pub(super) async fn read_from(&self, offset: u64) -> Result<(Vec<Spooled>, u64), StoreError> {
        let path = self.path.clone();
        blocking(move || {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok((Vec::new(), offset))
                }
                Err(e) => return Err(io(&path, e)),
            };
            f.seek(std::io::SeekFrom::Start(offset))
                .map_err(|e| io(&path, e))?;
            let mut r = std::io::BufReader::new(f);
            let mut out = Vec::new();
            let mut at = offset;
            let mut line = Vec::new();
            while out.len() < READ_BATCHES {
                line.clear();
                let n = r.read_until(b'\n', &mut line).map_err(|e| io(&path, e))?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                at += n as u64;
                match serde_json::from_slice::<Spooled>(&line) {
                    Ok(b) => out.push(b),
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "ledger spool: a line that does not parse is skipped"
                    ),
                }
            }
            Ok((out, at))
        })
        .await
    }

    /// Empties the file: every batch in it is through.
    pub(super) async fn clear(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        blocking(
            move || match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => {
                    f.set_len(0).map_err(|e| io(&path, e))?;
                    f.sync_data().map_err(|e| io(&path, e))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(&path, e)),
            },
        )
        .await?;
        self.batches = 0;
        Ok(())
    }
}

/// Runs file IO on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Spool {
            path: String::new(),
            source: std::io::Error::other(e),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LedgerRow;

    fn batch(id: &str, rows: u64) -> Spooled {
        Spooled {
            id: id.into(),
            writes: (0..rows)
                .map(|i| {
                    Write::Call(Box::new(LedgerRow {
                        workspace: "a".into(),
                        input_tokens: i,
                        model: Some("gpt-4o".into()),
                        ..Default::default()
                    }))
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn batches_are_read_back_in_order_and_a_torn_last_line_is_cut() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub/ledger.spool");
        let mut s = Spool::open(path.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.batches(), 0);
        for (i, id) in ["b1", "b2", "b3"].into_iter().enumerate() {
            s.append(&batch(id, i as u64 + 1))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(s.batches(), 3);
        // A crash in the middle of a fourth append.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(br#"{"id":"b4","wri"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = Spool::open(path.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.batches(), 3, "the torn line is not a batch");
        s.append(&batch("b5", 1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (first, at) = s.read_from(0).await.unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = first.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["b1", "b2", "b3", "b5"]);
        assert_eq!(first[2].writes.len(), 3);
        let (rest, end) = s.read_from(at).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(rest.is_empty());
        assert_eq!(end, at);
        s.clear().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.batches(), 0);
        assert_eq!(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(9), 0);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.unwrap_or(0), 0o600);
    }
}
