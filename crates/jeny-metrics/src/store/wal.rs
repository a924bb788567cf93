//! The write-ahead log: every acknowledged batch, in order, until a flush has put its points in
//! blocks. Segments `wal/<number>.wal`; a flush starts a new segment and deletes the ones it
//! covered. A record is `[length u32][crc32 u32][payload]`, the payload a batch's entries
//! `[series u32][time i64][value]` (a number's 8 bytes, or a string's length u32 and bytes: the
//! series' type says which). A torn or damaged record ends the log: it was never acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Frames `payload` as a record at the end of `out`.
pub fn push_record(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The record at `off` in `buf` and where the next starts; `None` at the end or at a torn or
/// damaged record.
pub fn next_record(buf: &[u8], off: usize) -> Option<(&[u8], usize)> {
    let head = buf.get(off..off + 8)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let payload = buf.get(off + 8..off + 8 + len)?;
    (crc32fast::hash(payload) == crc).then_some((payload, off + 8 + len))
}

/// The log's open segment.
pub struct Wal {
    dir: PathBuf,
    file: File,
    /// the open segment's number
    pub segment: u64,
    /// bytes in the open segment
    pub len: u64,
}

pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

/// The segments in `dir`, oldest first.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads a segment's whole records; a torn end is cut off the file so that later appends follow
/// the last good record.
pub fn read_segment(dir: &Path, n: u64) -> io::Result<Vec<u8>> {
    let path = segment_path(dir, n);
    let buf = fs::read(&path)?;
    let mut off = 0;
    while let Some((_, next)) = next_record(&buf, off) {
        off = next;
    }
    if off < buf.len() {
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(off as u64)?;
        f.sync_data()?;
    }
    Ok(buf)
}

impl Wal {
    /// Opens the log for appending: a new segment after the newest one.
    pub fn open(dir: &Path) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let next = segments(dir)?.last().map_or(1, |n| n + 1);
        let file = Self::create(dir, next)?;
        Ok(Wal {
            dir: dir.to_owned(),
            file,
            segment: next,
            len: 0,
        })
    }

    fn create(dir: &Path, n: u64) -> io::Result<File> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, n))?;
        // the new name must survive a crash too
        File::open(dir)?.sync_all()?;
        Ok(file)
    }

    /// Appends records (already framed); a failed write is cut back so the log stays readable.
    pub fn append(&mut self, records: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all(records) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += records.len() as u64;
        Ok(())
    }

    /// Makes what was appended durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Starts a new segment; returns the number of the last one that the caller may delete once
    /// its points are in blocks.
    pub fn rotate(&mut self) -> io::Result<u64> {
        let old = self.segment;
        self.file = Self::create(&self.dir, old + 1)?;
        self.segment = old + 1;
        self.len = 0;
        Ok(old)
    }

    /// Deletes the segments up to and including `upto`.
    pub fn remove_through(&self, upto: u64) -> io::Result<()> {
        for n in segments(&self.dir)? {
            if n <= upto {
                fs::remove_file(segment_path(&self.dir, n))?;
            }
        }
        Ok(())
    }
}
