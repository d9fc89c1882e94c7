//! The bytes of a step's log segment: a sequence of blocks, each one `write` of the
//! supervisor, each holding a few lines.
//!
//! ```text
//! block  := payload_len:u32le payload
//! payload:= first_seq:varint ts:varint count:varint record*
//! record := seq_delta:varint ts_delta:varint flags:u8 len:varint text
//! ```
//! `seq_delta` is from the previous record of the block (the first record's from
//! `first_seq`), `ts_delta` milliseconds from the block's `ts`; `flags` holds the stream
//! (0 stdout, 1 stderr, 2 system) and bit 2 "partial". Varints are unsigned LEB128. A block
//! never spans a mark, so the bytes between two marks decode on their own (and compress
//! into one zstd frame).

use conveyor_core::run::LogStream;

/// A block is closed once its payload passes this size (a mark then falls between blocks
/// often enough for seeks and frames to stay small).
pub const BLOCK_TARGET: usize = 64 * 1024;

/// One log line (or piece of an over-long one) as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub seq: i64,
    pub ts: i64,
    pub stream: LogStream,
    pub partial: bool,
    pub text: String,
}

/// A decoded record: its text is `bytes[start..end]` of the decoded range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub seq: i64,
    pub ts: i64,
    pub stream: LogStream,
    pub partial: bool,
    pub start: usize,
    pub end: usize,
}

fn stream_flag(stream: LogStream) -> u8 {
    match stream {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
        LogStream::System => 2,
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| format!("log segment ends inside a number at byte {at}"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!(
        "log segment has an over-long number before byte {at}"
    ))
}

/// Encodes lines (in seq order) as one block, appended to `out`.
pub fn encode_block(lines: &[&Line], out: &mut Vec<u8>) {
    let Some(first) = lines.first() else { return };
    let header = out.len();
    out.extend_from_slice(&[0; 4]);
    put_varint(out, first.seq as u64);
    put_varint(out, first.ts as u64);
    put_varint(out, lines.len() as u64);
    let mut seq = first.seq;
    for line in lines {
        put_varint(out, (line.seq - seq) as u64);
        seq = line.seq;
        // Two's complement: a clock that stepped back is kept as it was.
        put_varint(out, line.ts.wrapping_sub(first.ts) as u64);
        out.push(stream_flag(line.stream) | if line.partial { 4 } else { 0 });
        put_varint(out, line.text.len() as u64);
        out.extend_from_slice(line.text.as_bytes());
    }
    let length = (out.len() - header - 4) as u32;
    out[header..header + 4].copy_from_slice(&length.to_le_bytes());
}

/// Decodes every record of whole blocks, in order.
pub fn decode(bytes: &[u8], out: &mut Vec<Record>) -> Result<(), String> {
    let mut at = 0;
    while at < bytes.len() {
        let length = bytes
            .get(at..at + 4)
            .ok_or("log segment ends inside a block header")?;
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let end = at + 4 + length;
        if end > bytes.len() {
            return Err(format!("log segment block at byte {at} is cut short"));
        }
        at += 4;
        let mut seq = get_varint(bytes, &mut at)? as i64;
        let ts = get_varint(bytes, &mut at)? as i64;
        let count = get_varint(bytes, &mut at)?;
        for _ in 0..count {
            seq = seq.wrapping_add(get_varint(bytes, &mut at)? as i64);
            let delta = get_varint(bytes, &mut at)? as i64;
            let flags = *bytes.get(at).ok_or("log segment ends inside a record")?;
            at += 1;
            let length = get_varint(bytes, &mut at)? as usize;
            let start = at;
            at = at.saturating_add(length);
            if at > end {
                return Err(format!("log record at byte {start} overruns its block"));
            }
            out.push(Record {
                seq,
                ts: ts.wrapping_add(delta),
                stream: match flags & 3 {
                    0 => LogStream::Stdout,
                    1 => LogStream::Stderr,
                    _ => LogStream::System,
                },
                partial: flags & 4 != 0,
                start,
                end: at,
            });
        }
        if at != end {
            return Err(format!(
                "log segment block ending at byte {end} has stray bytes"
            ));
        }
    }
    Ok(())
}

/// A record's text (lossless: it was a `String` when written).
pub fn text(bytes: &[u8], record: &Record) -> String {
    String::from_utf8_lossy(&bytes[record.start..record.end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: i64, ts: i64, text: &str) -> Line {
        Line {
            seq,
            ts,
            stream: if seq % 3 == 0 {
                LogStream::Stderr
            } else {
                LogStream::Stdout
            },
            partial: seq % 5 == 0,
            text: text.to_owned(),
        }
    }

    #[test]
    fn blocks_decode_to_what_was_encoded() {
        let first: Vec<Line> = (1..=300)
            .map(|i| line(i * 2, 1_000 + i, &"x".repeat(i as usize)))
            .collect();
        let second = [line(1_000, 5_000, ""), line(100_000, 4_000, "é ü")];
        let mut bytes = Vec::new();
        encode_block(&first.iter().collect::<Vec<_>>(), &mut bytes);
        encode_block(&second.iter().collect::<Vec<_>>(), &mut bytes);
        let mut records = Vec::new();
        decode(&bytes, &mut records).expect("decodes");
        let back: Vec<Line> = records
            .iter()
            .map(|r| Line {
                seq: r.seq,
                ts: r.ts,
                stream: r.stream,
                partial: r.partial,
                text: text(&bytes, r),
            })
            .collect();
        let mut want = first.clone();
        // A timestamp before the block's own (the clock stepped back) is kept as it was.
        want.extend(second);
        assert_eq!(back, want);
    }

    #[test]
    fn a_cut_block_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_block(&[&line(1, 1, "hello")], &mut bytes);
        for cut in 0..bytes.len() {
            let mut records = Vec::new();
            assert!(
                decode(&bytes[..cut], &mut records).is_err() || cut == 0,
                "cut at {cut}"
            );
        }
    }
}
