//! The microengine's journal: what it committed to, durably, before it
//! tells the node (SPEC §5.3).
//!
//! An engine that asserts and then loses its nonce can never reveal, and an
//! unrevealed assertion loses every bid it made. The original client kept
//! nonces in memory and lost its stakes on every restart. The journal is an
//! append-only file of JSON lines, one [`Record`] each: the runtime writes
//! [`Record::Committed`] — guid, nonce, verdicts, mask, bids, metadata,
//! deadlines — flushes it to disk (`fsync`), and only then sends
//! `bounty:Assert`.
//!
//! An fsync costs about as much as everything else the engine does for a
//! bounty, so records are group-committed: [`Journal::stage`] applies a
//! record to the in-memory view and buffers its line, and
//! [`Journal::commit`] writes every buffered line and fsyncs once. The
//! runtime stages the records of one turn of its loop and commits them
//! before it sends any of the transactions they protect.
//! [`Journal::append`] is both at once.
//!
//! On start the file is replayed into the set of bounties still in flight
//! ([`Journal::entries`]). A crash in the middle of an append leaves a torn
//! last line: it is ignored and cut off, so the next append starts on a
//! fresh line. Settled bounties are forgotten, and once enough dead lines
//! pile up the file is rewritten — to a temporary file, flushed, then
//! renamed over the old one — with only the live records, so it does not
//! grow without bound.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use swarm_protocol::{Amount, Bits256, Guid, H256};

/// An assertion as committed to, with everything needed to resubmit it and
/// to reveal it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommittedAssertion {
    /// The bounty.
    pub guid: Guid,
    /// The nonce the commitment hides the verdicts with.
    pub nonce: H256,
    /// Bit i: artifact i is malicious.
    pub verdicts: Bits256,
    /// Bit i: artifact i is asserted on.
    pub mask: Bits256,
    /// One bid per mask bit, ascending.
    pub bids: Vec<Amount>,
    /// The assertion fee when the assertion was made.
    pub fee: Amount,
    /// `commitment(verdicts, nonce, address)`.
    pub commitment: H256,
    /// Per-artifact scan metadata for the reveal: a JSON array, `null` for
    /// artifacts not asserted on.
    pub metadata: serde_json::Value,
    /// First block of the reveal round (E).
    pub expiration: u64,
    /// First block after the reveal round (E + R).
    pub reveal_deadline: u64,
    /// First block of round 4 (E + R + V); the bounty settles by then.
    pub vote_deadline: u64,
}

impl CommittedAssertion {
    /// Bids plus fee: what the assertion escrows.
    pub fn cost(&self) -> Amount {
        self.bids
            .iter()
            .copied()
            .sum::<Amount>()
            .checked_add(self.fee)
            .unwrap_or(Amount::from_wei(u128::MAX))
    }
}

/// One line of the journal.
// `Committed` is the large variant (its metadata is a JSON map, an
// IndexMap once yara-x turns on serde_json's `preserve_order`); a record
// is written about once per bounty, so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// An assertion about to be sent. Written before `bounty:Assert`.
    Committed(CommittedAssertion),
    /// The node included the assertion.
    Asserted {
        /// The bounty.
        guid: Guid,
        /// The `bounty:Assert` transaction, when known.
        txhash: Option<H256>,
    },
    /// The node included the reveal (or said it already had one).
    Revealed {
        /// The bounty.
        guid: Guid,
    },
    /// The bounty settled; `payout` is what this engine was credited.
    Settled {
        /// The bounty.
        guid: Guid,
        /// Sum of this engine's expert payouts.
        payout: Amount,
    },
    /// The assertion never reached the node and no longer can (or the
    /// bounty is unknown): nothing is at stake.
    Dropped {
        /// The bounty.
        guid: Guid,
        /// Why.
        reason: String,
    },
    /// Every bounty posted before this block has been handled: the event
    /// stream resumes here.
    Checkpoint {
        /// The block.
        block: u64,
    },
}

/// A bounty the engine committed to and that has not settled yet.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    /// The assertion.
    pub assertion: CommittedAssertion,
    /// Whether the node included the assertion (as far as the journal knows).
    pub asserted: bool,
    /// The assertion transaction, when known.
    pub txhash: Option<H256>,
    /// Whether the reveal was included.
    pub revealed: bool,
}

impl JournalEntry {
    /// The records that rebuild this entry.
    fn records(&self) -> Vec<Record> {
        let guid = self.assertion.guid;
        let mut out = vec![Record::Committed(self.assertion.clone())];
        if self.asserted {
            out.push(Record::Asserted {
                guid,
                txhash: self.txhash,
            });
        }
        if self.revealed {
            out.push(Record::Revealed { guid });
        }
        out
    }
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file operation failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A record could not be serialized.
    #[error("journal record cannot be serialized: {0}")]
    Encode(#[from] serde_json::Error),
}

/// How many dead lines (settled bounties, superseded checkpoints) the file
/// may hold before it is compacted.
pub const DEFAULT_COMPACT_AFTER: usize = 256;

/// The journal: an fsync'd append-only file, and the bounties it says are
/// in flight.
#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    file: Option<File>,
    entries: BTreeMap<Guid, JournalEntry>,
    checkpoint: Option<u64>,
    lines: usize,
    compact_after: usize,
    compactions: u64,
    skipped: usize,
    /// Lines staged and not yet written.
    staged: Vec<u8>,
    staged_lines: usize,
    syncs: u64,
}

impl Journal {
    /// Opens (creating it and its directory if needed) and replays the
    /// journal at `path`. A torn last line is cut off; other unreadable
    /// lines are skipped with a warning.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut journal = Journal {
            path: Some(path.clone()),
            file: None,
            entries: BTreeMap::new(),
            checkpoint: None,
            lines: 0,
            compact_after: DEFAULT_COMPACT_AFTER,
            compactions: 0,
            skipped: 0,
            staged: Vec::new(),
            staged_lines: 0,
            syncs: 0,
        };
        // Only newline-terminated lines were completely written.
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        if complete < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len() - complete,
                "journal: torn last line (interrupted write) ignored"
            );
            file.set_len(complete as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        for (n, line) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            journal.lines += 1;
            match serde_json::from_slice::<Record>(line) {
                Ok(record) => journal.apply(record),
                Err(e) => {
                    journal.skipped += 1;
                    tracing::warn!(
                        path = %path.display(),
                        line = n + 1,
                        error = %e,
                        "journal: unreadable record skipped"
                    );
                }
            }
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        journal.file = Some(file);
        Ok(journal)
    }

    /// A journal kept only in memory: nothing survives a restart.
    pub fn in_memory() -> Journal {
        Journal {
            path: None,
            file: None,
            entries: BTreeMap::new(),
            checkpoint: None,
            lines: 0,
            compact_after: DEFAULT_COMPACT_AFTER,
            compactions: 0,
            skipped: 0,
            staged: Vec::new(),
            staged_lines: 0,
            syncs: 0,
        }
    }

    /// The file, unless in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Compacts once this many dead lines have piled up.
    pub fn set_compact_after(&mut self, lines: usize) {
        self.compact_after = lines.max(1);
    }

    /// Bounties committed to and not yet settled or dropped.
    pub fn entries(&self) -> &BTreeMap<Guid, JournalEntry> {
        &self.entries
    }

    /// One entry.
    pub fn entry(&self, guid: &Guid) -> Option<&JournalEntry> {
        self.entries.get(guid)
    }

    /// The last checkpoint block.
    pub fn checkpoint(&self) -> Option<u64> {
        self.checkpoint
    }

    /// Lines in the file.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// How many times the file was compacted.
    pub fn compactions(&self) -> u64 {
        self.compactions
    }

    /// Unreadable lines skipped on replay.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// How many times records were flushed to disk (`fsync`), compactions
    /// not counted.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Records staged and not yet committed.
    pub fn staged(&self) -> usize {
        self.staged_lines
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Committed(a) => {
                self.entries.insert(
                    a.guid,
                    JournalEntry {
                        assertion: a,
                        asserted: false,
                        txhash: None,
                        revealed: false,
                    },
                );
            }
            Record::Asserted { guid, txhash } => {
                if let Some(e) = self.entries.get_mut(&guid) {
                    e.asserted = true;
                    e.txhash = txhash.or(e.txhash);
                }
            }
            Record::Revealed { guid } => {
                if let Some(e) = self.entries.get_mut(&guid) {
                    e.revealed = true;
                    // A reveal implies the assertion made it.
                    e.asserted = true;
                }
            }
            Record::Settled { guid, .. } | Record::Dropped { guid, .. } => {
                self.entries.remove(&guid);
            }
            Record::Checkpoint { block } => {
                self.checkpoint = Some(self.checkpoint.map_or(block, |c| c.max(block)));
            }
        }
    }

    /// Lines a compacted file would hold.
    fn live_lines(&self) -> usize {
        usize::from(self.checkpoint.is_some())
            + self
                .entries
                .values()
                .map(|e| 1 + usize::from(e.asserted) + usize::from(e.revealed))
                .sum::<usize>()
    }

    /// Appends `record`, flushed to disk before this returns, and applies it
    /// (with whatever was staged before it). Compacts the file when enough
    /// dead lines piled up.
    pub fn append(&mut self, record: Record) -> Result<(), JournalError> {
        self.stage(record)?;
        self.commit()
    }

    /// Applies `record` to the in-memory view at once and buffers its line
    /// for the next [`commit`](Journal::commit). Until then the record is
    /// not durable: nothing it protects may leave the process.
    pub fn stage(&mut self, record: Record) -> Result<(), JournalError> {
        if self.path.is_some() {
            serde_json::to_writer(&mut self.staged, &record)?;
            self.staged.push(b'\n');
            self.staged_lines += 1;
        }
        self.apply(record);
        Ok(())
    }

    /// Writes every staged line and flushes the file to disk once; does
    /// nothing when nothing is staged. Compacts the file when enough dead
    /// lines piled up.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.staged_lines == 0 {
            return Ok(());
        }
        if let (Some(path), Some(file)) = (&self.path, self.file.as_mut()) {
            let io = |source| JournalError::Io {
                path: path.clone(),
                source,
            };
            file.write_all(&self.staged).map_err(io)?;
            file.sync_all().map_err(io)?;
            self.syncs += 1;
            self.lines += self.staged_lines;
        }
        self.staged.clear();
        self.staged_lines = 0;
        if self.path.is_some() && self.lines >= self.live_lines() + self.compact_after {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only the live records: to a temporary file,
    /// flushed, renamed over the journal, and the directory flushed.
    pub fn compact(&mut self) -> Result<(), JournalError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".compact");
        let tmp = path.with_file_name(tmp_name);
        let mut records = Vec::new();
        if let Some(block) = self.checkpoint {
            records.push(Record::Checkpoint { block });
        }
        for entry in self.entries.values() {
            records.extend(entry.records());
        }
        let mut text = Vec::new();
        for record in &records {
            serde_json::to_writer(&mut text, record)?;
            text.push(b'\n');
        }
        {
            let mut out = File::create(&tmp).map_err(io)?;
            out.write_all(&text).map_err(io)?;
            out.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Makes the rename durable; not every platform can open a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = Some(OpenOptions::new().append(true).open(&path).map_err(io)?);
        // The rewritten file holds the staged records too (they were applied).
        self.staged.clear();
        self.staged_lines = 0;
        self.lines = records.len();
        self.compactions += 1;
        tracing::debug!(path = %path.display(), lines = self.lines, "journal compacted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(n: u8) -> CommittedAssertion {
        CommittedAssertion {
            guid: Guid::from_u128(u128::from(n) + 1),
            nonce: H256([n.wrapping_add(1); 32]),
            verdicts: Bits256::from_indices([0]),
            mask: Bits256::from_indices([0, 1]),
            bids: vec![Amount::from_nct(1), Amount::from_nct(2)],
            fee: Amount::parse_nct("0.03125").unwrap(),
            commitment: H256([9; 32]),
            metadata: serde_json::json!([{"malware_family": "EICAR"}, null]),
            expiration: 10,
            reveal_deadline: 15,
            vote_deadline: 25,
        }
    }

    #[test]
    fn append_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/engine.journal");
        let a = committed(1);
        let b = committed(2);
        {
            let mut j = Journal::open(&path).unwrap();
            assert!(j.entries().is_empty() && j.checkpoint().is_none());
            j.append(Record::Checkpoint { block: 3 }).unwrap();
            j.append(Record::Committed(a.clone())).unwrap();
            j.append(Record::Committed(b.clone())).unwrap();
            j.append(Record::Asserted {
                guid: a.guid,
                txhash: Some(H256([1; 32])),
            })
            .unwrap();
            j.append(Record::Revealed { guid: a.guid }).unwrap();
            j.append(Record::Asserted {
                guid: b.guid,
                txhash: None,
            })
            .unwrap();
            j.append(Record::Settled {
                guid: b.guid,
                payout: Amount::from_nct(3),
            })
            .unwrap();
            j.append(Record::Checkpoint { block: 7 }).unwrap();
            assert_eq!(j.lines(), 8);
        }
        // Every append reached the file: a fresh open sees it all.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 8);
        assert!(text.ends_with('\n'));
        assert!(text.contains("\"record\":\"committed\""));
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.checkpoint(), Some(7));
        assert_eq!(j.entries().len(), 1);
        let e = j.entry(&a.guid).unwrap();
        assert_eq!(e.assertion, a);
        assert!(e.asserted && e.revealed);
        assert_eq!(e.txhash, Some(H256([1; 32])));
        assert!(j.entry(&b.guid).is_none());
    }

    #[test]
    fn torn_last_line_is_ignored_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let a = committed(1);
        {
            let mut j = Journal::open(&path).unwrap();
            j.append(Record::Committed(a.clone())).unwrap();
        }
        // A crash in the middle of the next append.
        let full = serde_json::to_string(&Record::Committed(committed(2))).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&full.as_bytes()[..full.len() / 2]).unwrap();
        drop(f);

        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert!(j.entry(&a.guid).is_some());
        // The torn bytes are gone, so the next record starts a fresh line.
        j.append(Record::Revealed { guid: a.guid }).unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.skipped(), 0);
        assert!(j.entry(&a.guid).unwrap().revealed);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let a = committed(1);
        let mut text = String::from("not json\n\n{\"record\":\"unknown\"}\n");
        text.push_str(&serde_json::to_string(&Record::Committed(a.clone())).unwrap());
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.skipped(), 2);
        assert_eq!(j.entries().len(), 1);
    }

    #[test]
    fn compaction_bounds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let mut j = Journal::open(&path).unwrap();
        j.set_compact_after(10);
        let keep = committed(200);
        j.append(Record::Committed(keep.clone())).unwrap();
        j.append(Record::Asserted {
            guid: keep.guid,
            txhash: None,
        })
        .unwrap();
        for n in 0..50u8 {
            let c = committed(n);
            j.append(Record::Committed(c.clone())).unwrap();
            j.append(Record::Asserted {
                guid: c.guid,
                txhash: None,
            })
            .unwrap();
            j.append(Record::Revealed { guid: c.guid }).unwrap();
            j.append(Record::Settled {
                guid: c.guid,
                payout: Amount::ZERO,
            })
            .unwrap();
            j.append(Record::Checkpoint {
                block: u64::from(n),
            })
            .unwrap();
            assert!(j.lines() < 2 + 1 + 10 + 5, "lines {}", j.lines());
        }
        assert!(j.compactions() > 0);
        assert_eq!(j.entries().len(), 1);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, j.lines());
        assert!(!dir.path().join("e.journal.compact").exists());
        drop(j);
        // The compacted file replays to the same state.
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert!(j.entry(&keep.guid).unwrap().asserted);
        assert_eq!(j.checkpoint(), Some(49));
    }

    #[test]
    fn a_group_commit_writes_n_records_with_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let mut j = Journal::open(&path).unwrap();
        let n = 50u8;
        for i in 0..n {
            j.stage(Record::Committed(committed(i))).unwrap();
        }
        j.stage(Record::Checkpoint { block: 9 }).unwrap();
        // Applied at once, so decisions see them; not on disk yet.
        assert_eq!(j.entries().len(), usize::from(n));
        assert_eq!(j.staged(), usize::from(n) + 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        j.commit().unwrap();
        assert_eq!(j.syncs(), 1);
        assert_eq!(j.staged(), 0);
        assert_eq!(j.lines(), usize::from(n) + 1);
        // Nothing staged: no write, no fsync.
        j.commit().unwrap();
        assert_eq!(j.syncs(), 1);
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.entries().len(), usize::from(n));
        assert_eq!(j.checkpoint(), Some(9));
    }

    #[test]
    fn staged_records_that_were_never_committed_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let a = committed(1);
        {
            let mut j = Journal::open(&path).unwrap();
            j.append(Record::Committed(a.clone())).unwrap();
            // A crash before the commit: the staged record is lost, and
            // nothing it protected was sent.
            j.stage(Record::Committed(committed(2))).unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert!(j.entry(&a.guid).is_some());
    }

    #[test]
    fn compaction_keeps_staged_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let mut j = Journal::open(&path).unwrap();
        let a = committed(1);
        j.append(Record::Committed(a.clone())).unwrap();
        j.stage(Record::Asserted {
            guid: a.guid,
            txhash: None,
        })
        .unwrap();
        j.compact().unwrap();
        assert_eq!(j.staged(), 0);
        j.commit().unwrap();
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let j = Journal::open(&path).unwrap();
        assert!(j.entry(&a.guid).unwrap().asserted);
    }

    #[test]
    fn in_memory_journal_keeps_state() {
        let mut j = Journal::in_memory();
        let a = committed(1);
        j.append(Record::Committed(a.clone())).unwrap();
        assert!(j.path().is_none());
        assert_eq!(j.entries().len(), 1);
        j.append(Record::Dropped {
            guid: a.guid,
            reason: "test".into(),
        })
        .unwrap();
        assert!(j.entries().is_empty());
    }
}
