//! A deploy's stored output. The supervisor writes it in batches (never a row per line): each
//! `deploy_output` row holds a run of frames, one per chunk as it arrived, and each frame says
//! which stream it came from (stdout, stderr, or jeny's own lines) and when. Rows are raw while
//! the deploy runs and deflated once it has finished. Readers turn rows back into chunks.
//!
//! Frame layout: stream (1 byte: 1 stdout, 2 stderr, 3 jeny), time (i64 microseconds, little
//! endian), length (u32, little endian), then that many bytes.

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use jeny_core::Timestamp;
use jeny_store::{Row, Store, StoreError, sqlx};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Where a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
    /// jeny's own lines: the checkout, how the deploy ended, what was left out.
    Jeny,
}

impl OutputStream {
    fn code(self) -> u8 {
        match self {
            OutputStream::Stdout => 1,
            OutputStream::Stderr => 2,
            OutputStream::Jeny => 3,
        }
    }

    fn from_code(code: u8) -> Option<OutputStream> {
        match code {
            1 => Some(OutputStream::Stdout),
            2 => Some(OutputStream::Stderr),
            3 => Some(OutputStream::Jeny),
            _ => None,
        }
    }
}

/// A piece of output as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: OutputStream,
    pub at: Timestamp,
    pub bytes: Vec<u8>,
}

/// A stored batch of chunks; `seq` orders a deploy's batches (and is the SSE event id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputBatch {
    pub seq: i64,
    pub chunks: Vec<OutputChunk>,
}

impl OutputBatch {
    pub fn byte_len(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.bytes.len()).sum()
    }
}

const FRAME_HEADER: usize = 1 + 8 + 4;

/// Appends `chunk`'s frame to `buffer`.
pub fn encode_frame(buffer: &mut Vec<u8>, stream: OutputStream, at: Timestamp, bytes: &[u8]) {
    buffer.reserve(FRAME_HEADER + bytes.len());
    buffer.push(stream.code());
    buffer.extend_from_slice(&at.as_micros().to_le_bytes());
    buffer.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buffer.extend_from_slice(bytes);
}

/// The chunks in a run of frames. A damaged tail (which only a bug could write) ends the run.
pub fn decode_frames(mut data: &[u8]) -> Vec<OutputChunk> {
    let mut chunks = Vec::new();
    while data.len() >= FRAME_HEADER {
        let Some(stream) = OutputStream::from_code(data[0]) else {
            break;
        };
        let at = i64::from_le_bytes(data[1..9].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(data[9..13].try_into().unwrap_or_default()) as usize;
        let Some(bytes) = data.get(FRAME_HEADER..FRAME_HEADER + len) else {
            break;
        };
        chunks.push(OutputChunk {
            stream,
            at: Timestamp::from_micros(at),
            bytes: bytes.to_vec(),
        });
        data = &data[FRAME_HEADER + len..];
    }
    chunks
}

pub(crate) const DEFLATE: &str = "deflate";

pub(crate) fn compress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::fast());
    encoder.write_all(raw)?;
    encoder.finish()
}

fn decode_row(encoding: &str, data: &[u8]) -> Vec<OutputChunk> {
    if encoding == DEFLATE {
        let mut raw = Vec::new();
        if DeflateDecoder::new(data).read_to_end(&mut raw).is_err() {
            tracing::warn!("a stored output batch does not inflate; showing what did");
        }
        decode_frames(&raw)
    } else {
        decode_frames(data)
    }
}

/// The batches of `deploy_id` after `after_seq`, oldest first, stopping once `max_bytes` of
/// output are read (at least one batch is returned when there is one).
pub async fn read_after(
    store: &Store,
    deploy_id: &str,
    after_seq: i64,
    max_bytes: i64,
) -> Result<Vec<OutputBatch>, StoreError> {
    // A batch is at most BATCH_BYTES, so a limit in rows bounds the bytes read at once.
    let rows_wanted = (max_bytes / crate::supervisor::BATCH_BYTES as i64).clamp(1, 256);
    let rows = sqlx::query(
        "SELECT seq, encoding, data FROM deploy_output WHERE deploy_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(deploy_id)
    .bind(after_seq)
    .bind(rows_wanted)
    .fetch_all(store.reader())
    .await?;
    let mut batches = Vec::with_capacity(rows.len());
    for row in rows {
        let encoding: String = row.try_get("encoding")?;
        let data: Vec<u8> = row.try_get("data")?;
        batches.push(OutputBatch {
            seq: row.try_get("seq")?,
            chunks: decode_row(&encoding, &data),
        });
    }
    Ok(batches)
}

/// The last `batches` batches of `deploy_id`, oldest first: the end of its output.
pub async fn read_tail(
    store: &Store,
    deploy_id: &str,
    batches: i64,
) -> Result<Vec<OutputBatch>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, encoding, data FROM deploy_output WHERE deploy_id = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(deploy_id)
    .bind(batches.max(1))
    .fetch_all(store.reader())
    .await?;
    let mut tail = Vec::with_capacity(rows.len());
    for row in rows.iter().rev() {
        let encoding: String = row.try_get("encoding")?;
        let data: Vec<u8> = row.try_get("data")?;
        tail.push(OutputBatch {
            seq: row.try_get("seq")?,
            chunks: decode_row(&encoding, &data),
        });
    }
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_raw_and_deflated() {
        let mut data = Vec::new();
        let chunks = [
            (OutputStream::Stdout, 1, b"hello\n".to_vec()),
            (OutputStream::Stderr, 2, b"\x1b[31merror\x1b[0m\n".to_vec()),
            (OutputStream::Jeny, 3, Vec::new()),
            (OutputStream::Stdout, 4, vec![0xff; 70_000]),
        ];
        for (stream, at, bytes) in &chunks {
            encode_frame(&mut data, *stream, Timestamp::from_micros(*at), bytes);
        }
        let expected: Vec<OutputChunk> = chunks
            .iter()
            .map(|(stream, at, bytes)| OutputChunk {
                stream: *stream,
                at: Timestamp::from_micros(*at),
                bytes: bytes.clone(),
            })
            .collect();
        assert_eq!(decode_row("raw", &data), expected);
        let deflated = compress(&data).unwrap();
        assert!(deflated.len() < data.len() / 10);
        assert_eq!(decode_row(DEFLATE, &deflated), expected);
        // A truncated run gives the whole frames before the cut.
        assert_eq!(
            decode_frames(&data[..data.len() - 1]),
            expected[..3].to_vec()
        );
    }
}
