//! Reading logs back: a cursor per step that decodes one frame (the bytes between two marks)
//! at a time, and a scan that merges the steps' cursors in sequence order. Blocking file
//! reads: callers run them on the blocking pool.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use conveyor_core::run::{LogBatch, LogStream};

use super::segment::{self, Record};
use super::{LogDir, StepLog};
use crate::store::{StoreError, StoreResult};

/// What a reader wants next from a line it is shown.
pub enum Take {
    /// Take it and go on.
    More,
    /// Take it and stop.
    Last,
    /// Stop before it (it stays for the next scan).
    Stop,
}

/// A line as a scan shows it.
pub struct Hit<'a> {
    pub step: usize,
    /// 1-based, within its step.
    pub number: u64,
    pub record: Record,
    pub text: &'a [u8],
}

impl Hit<'_> {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.text).into_owned()
    }
}

/// Reads one step's segment, frame by frame.
struct Cursor {
    step: usize,
    log: StepLog,
    file: File,
    /// Whether `file` is the compressed segment.
    packed: bool,
    /// The next frame to load.
    frame: usize,
    bytes: Vec<u8>,
    records: Vec<Record>,
    pos: usize,
    /// 0-based line index of `records[pos]`.
    line: u64,
    /// Where the decoded bytes of a plain segment end (a live one may have grown since).
    loaded_end: u64,
}

/// The segment a layout says a step's log is in has moved (compressed meanwhile): read the
/// layout again.
pub fn moved(err: &StoreError) -> bool {
    matches!(err, StoreError::LogMoved)
}

impl Cursor {
    fn open(dir: &LogDir, run_id: i64, step: usize, log: &StepLog) -> StoreResult<Option<Cursor>> {
        if log.lines == 0 || log.marks.is_empty() {
            return Ok(None);
        }
        let packed = log.packed.is_some();
        let path = if packed {
            dir.packed(run_id, step)
        } else {
            dir.segment(run_id, step)
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !packed => {
                return Err(StoreError::LogMoved)
            }
            Err(err) => return Err(super::io_error("could not open", &path, err)),
        };
        Ok(Some(Cursor {
            step,
            log: log.clone(),
            file,
            packed,
            frame: 0,
            bytes: Vec::new(),
            records: Vec::new(),
            pos: 0,
            line: 0,
            loaded_end: 0,
        }))
    }

    /// Loads frame `frame`; false past the last one.
    fn load(&mut self, frame: usize) -> StoreResult<bool> {
        let marks = &self.log.marks;
        let Some(mark) = marks.get(frame) else {
            self.records.clear();
            self.pos = 0;
            return Ok(false);
        };
        let raw_end = marks.get(frame + 1).map_or(self.log.bytes, |m| m.offset);
        let raw_len = (raw_end - mark.offset) as usize;
        let (start, end) = if self.packed {
            let start = mark
                .packed
                .ok_or_else(|| corrupt(self, "a mark without its frame"))?;
            let end = match marks.get(frame + 1) {
                Some(next) => next
                    .packed
                    .ok_or_else(|| corrupt(self, "a mark without its frame"))?,
                None => self.log.packed.unwrap_or(start),
            };
            (start, end)
        } else {
            (mark.offset, raw_end)
        };
        let mut buffer = vec![0; end.saturating_sub(start) as usize];
        self.file
            .read_exact_at(&mut buffer, start)
            .map_err(|err| corrupt(self, &format!("could not read: {err}")))?;
        self.bytes = if self.packed {
            zstd::bulk::decompress(&buffer, raw_len)
                .map_err(|err| corrupt(self, &format!("could not decompress a frame: {err}")))?
        } else {
            buffer
        };
        self.records.clear();
        segment::decode(&self.bytes, &mut self.records).map_err(|err| corrupt(self, &err))?;
        self.pos = 0;
        self.line = mark.line;
        self.frame = frame + 1;
        self.loaded_end = raw_end;
        Ok(true)
    }

    /// Decodes what was committed to the current frame of a plain segment since it was
    /// read (a live run's); false when nothing was.
    fn load_more(&mut self) -> StoreResult<bool> {
        if self.packed || self.frame == 0 {
            return Ok(false);
        }
        let end = self
            .log
            .marks
            .get(self.frame)
            .map_or(self.log.bytes, |m| m.offset);
        if end <= self.loaded_end {
            return Ok(false);
        }
        let mut buffer = vec![0; (end - self.loaded_end) as usize];
        self.file
            .read_exact_at(&mut buffer, self.loaded_end)
            .map_err(|err| corrupt(self, &format!("could not read: {err}")))?;
        self.bytes = buffer;
        self.records.clear();
        segment::decode(&self.bytes, &mut self.records).map_err(|err| corrupt(self, &err))?;
        self.pos = 0;
        self.loaded_end = end;
        Ok(true)
    }

    fn peek(&mut self) -> StoreResult<Option<Record>> {
        while self.pos >= self.records.len() {
            if !self.load_more()? && !self.load(self.frame)? {
                return Ok(None);
            }
        }
        Ok(Some(self.records[self.pos]))
    }

    /// Takes what was committed since the cursor's layout (a plain segment only grows).
    fn grow(&mut self, log: &StepLog) {
        if self.packed || log.bytes <= self.log.bytes {
            return;
        }
        self.log.bytes = log.bytes;
        let known = self.log.marks.len();
        self.log
            .marks
            .extend_from_slice(&log.marks[known.min(log.marks.len())..]);
        self.log.lines = log.lines;
        self.log.last_seq = log.last_seq;
    }

    fn advance(&mut self) {
        self.pos += 1;
        self.line += 1;
    }

    /// Places the cursor on the first line with a sequence past `after`.
    fn seek_seq(&mut self, after: i64) -> StoreResult<()> {
        let frame = self
            .log
            .marks
            .partition_point(|m| m.seq <= after + 1)
            .saturating_sub(1);
        self.load(frame)?;
        while self.peek()?.is_some_and(|r| r.seq <= after) {
            self.advance();
        }
        Ok(())
    }

    /// Places the cursor on line `line` (0-based).
    fn seek_line(&mut self, line: u64) -> StoreResult<()> {
        let frame = self
            .log
            .marks
            .partition_point(|m| m.line <= line)
            .saturating_sub(1);
        self.load(frame)?;
        while self.line < line && self.peek()?.is_some() {
            self.advance();
        }
        Ok(())
    }
}

fn corrupt(cursor: &Cursor, what: &str) -> StoreError {
    StoreError::Corrupt(format!("log of step {}: {what}", cursor.step))
}

/// Where a scan starts in each step.
#[derive(Clone, Copy)]
pub enum From {
    /// The first line with a sequence past this.
    After(i64),
    /// The last lines of each step, this many.
    Last(u64),
    /// Line number (0-based) in each step.
    Line(u64),
}

/// The lines of some steps of a run, merged in sequence order.
pub struct Scan {
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
}

impl Scan {
    /// A scan of the steps `only` picks (all by default) from `from`.
    pub fn open(
        dir: &LogDir,
        run_id: i64,
        layout: &[StepLog],
        only: Option<usize>,
        from: From,
    ) -> StoreResult<Scan> {
        let mut scan = Scan {
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
        };
        for (step, log) in layout.iter().enumerate() {
            if only.is_some_and(|only| only != step) {
                continue;
            }
            if let From::After(after) = from {
                if log.last_seq <= after {
                    continue;
                }
            }
            let Some(mut cursor) = Cursor::open(dir, run_id, step, log)? else {
                continue;
            };
            match from {
                From::After(after) => cursor.seek_seq(after)?,
                From::Last(count) => cursor.seek_line(log.lines.saturating_sub(count))?,
                From::Line(line) => cursor.seek_line(line)?,
            }
            if let Some(record) = cursor.peek()? {
                scan.heap.push(Reverse((record.seq, scan.cursors.len())));
                scan.cursors.push(cursor);
            }
        }
        Ok(scan)
    }

    /// Takes in what a live run committed since: more lines of the steps already read, and
    /// steps that had none past `after` before.
    pub fn extend(
        &mut self,
        dir: &LogDir,
        run_id: i64,
        layout: &[StepLog],
        after: i64,
    ) -> StoreResult<()> {
        for (step, log) in layout.iter().enumerate() {
            match self.cursors.iter().position(|c| c.step == step) {
                Some(index) => {
                    let cursor = &mut self.cursors[index];
                    let idle = !self.heap.iter().any(|Reverse((_, i))| *i == index);
                    cursor.grow(log);
                    if idle {
                        if let Some(record) = cursor.peek()? {
                            self.heap.push(Reverse((record.seq, index)));
                        }
                    }
                }
                None if log.last_seq > after => {
                    if let Some(mut cursor) = Cursor::open(dir, run_id, step, log)? {
                        cursor.seek_seq(after)?;
                        if let Some(record) = cursor.peek()? {
                            self.heap.push(Reverse((record.seq, self.cursors.len())));
                        }
                        self.cursors.push(cursor);
                    }
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Shows lines in sequence order to `take` until it stops or none are left; true when
    /// none are left.
    pub fn visit(&mut self, mut take: impl FnMut(&Hit) -> Take) -> StoreResult<bool> {
        while let Some(&Reverse((_, index))) = self.heap.peek() {
            let cursor = &mut self.cursors[index];
            let record = cursor.records[cursor.pos];
            let hit = Hit {
                step: cursor.step,
                number: cursor.line + 1,
                record,
                text: &cursor.bytes[record.start..record.end],
            };
            let decision = take(&hit);
            if matches!(decision, Take::Stop) {
                return Ok(false);
            }
            self.heap.pop();
            cursor.advance();
            if let Some(next) = cursor.peek()? {
                self.heap.push(Reverse((next.seq, index)));
            }
            if matches!(decision, Take::Last) {
                return Ok(self.heap.is_empty());
            }
        }
        Ok(true)
    }
}

/// Gathers lines into batches of consecutive sequences of one step and stream.
#[derive(Default)]
pub struct Batcher {
    pub batches: Vec<LogBatch<usize>>,
    pub bytes: usize,
}

impl Batcher {
    pub fn push(&mut self, hit: &Hit) {
        let record = &hit.record;
        let text = hit.text();
        self.bytes += text.len() + 4;
        if let Some(last) = self.batches.last_mut() {
            if last.step == hit.step
                && last.stream == record.stream
                && last.last_seq() + 1 == record.seq
            {
                let index = last.lines.len() as u32;
                if record.partial {
                    last.partial.push(index);
                }
                if last.times.last().map_or(last.ts, |(_, ts)| *ts) != record.ts {
                    last.times.push((index, record.ts));
                }
                last.lines.push(text);
                return;
            }
        }
        self.batches.push(LogBatch {
            seq: record.seq,
            ts: record.ts,
            step: hit.step,
            line: hit.number,
            stream: record.stream,
            lines: vec![text],
            partial: if record.partial { vec![0] } else { Vec::new() },
            times: Vec::new(),
        });
    }
}

/// One line with where it is, for the page's tail and search results.
pub struct Located {
    pub seq: i64,
    pub step: usize,
    pub number: u64,
    pub stream: LogStream,
    pub text: String,
}
