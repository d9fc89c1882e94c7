//! Cutting a step's output into log lines, the same way on every engine (so a resumed
//! engine counts the pieces already on record exactly as they were cut), with secret
//! values masked before anything is cut.

use std::sync::Arc;

use conveyor_core::secrets::Masker;

/// Longer lines are cut into pieces marked `partial`.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Cuts a byte stream into lines; a line longer than the cap is cut into pieces, each but
/// the last marked partial, never inside a UTF-8 character. With a [`Masker`], secret values
/// are masked before any cut: output is held back as long as the longest value, so a value
/// that arrives in two reads, or would straddle a cut, is masked whole.
pub struct LineSplitter {
    max: usize,
    pending: Vec<u8>,
    masker: Option<Arc<Masker>>,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            max,
            pending: Vec::new(),
            masker: None,
        }
    }

    /// A splitter that masks the values `masker` knows.
    pub fn masking(max: usize, masker: Arc<Masker>) -> Self {
        let masker = (!masker.is_empty()).then_some(masker);
        LineSplitter {
            max,
            pending: Vec::new(),
            masker,
        }
    }

    fn mask_pending(&mut self) {
        if let Some(masked) = self
            .masker
            .as_ref()
            .and_then(|m| m.mask_bytes(&self.pending))
        {
            self.pending = masked;
        }
    }

    /// Bytes kept back from a cut while the line goes on.
    fn holdback(&self) -> usize {
        self.masker.as_ref().map_or(0, |m| m.longest())
    }

    /// Feeds bytes; returns the complete lines (and over-long pieces) they finish.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.pending.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    self.mask_pending();
                    self.cut_long(&mut out, 0);
                    let mut line = std::mem::take(&mut self.pending);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    out.push((String::from_utf8_lossy(&line).into_owned(), false));
                }
                None => {
                    self.pending.extend_from_slice(bytes);
                    bytes = &[];
                    if self.pending.len() > self.max + self.holdback() {
                        self.mask_pending();
                        self.cut_long(&mut out, self.holdback());
                    }
                }
            }
        }
        out
    }

    /// What is left when the stream ends without a final newline.
    pub fn finish(&mut self) -> Option<(String, bool)> {
        self.mask_pending();
        (!self.pending.is_empty()).then(|| {
            (
                String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned(),
                false,
            )
        })
    }

    /// Cuts pieces while more than `keep` bytes would remain past the cap.
    fn cut_long(&mut self, out: &mut Vec<(String, bool)>, keep: usize) {
        while self.pending.len() > self.max + keep {
            let mut cut = self.max;
            // Back up to a character boundary (at most 3 bytes for UTF-8).
            while cut > self.max - 3 && cut > 0 && (self.pending[cut] & 0b1100_0000) == 0b1000_0000
            {
                cut -= 1;
            }
            let rest = self.pending.split_off(cut);
            let piece = std::mem::replace(&mut self.pending, rest);
            out.push((String::from_utf8_lossy(&piece).into_owned(), true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LineSplitter;

    #[test]
    fn splits_lines_across_chunks() {
        let mut splitter = LineSplitter::new(100);
        assert_eq!(splitter.push(b"hel"), vec![]);
        assert_eq!(
            splitter.push(b"lo\nwor"),
            vec![("hello".to_string(), false)]
        );
        assert_eq!(
            splitter.push(b"ld\r\n\n"),
            vec![("world".to_string(), false), (String::new(), false)]
        );
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn cuts_long_lines_into_marked_pieces() {
        let mut splitter = LineSplitter::new(4);
        let lines = splitter.push(b"abcdefghij\n");
        assert_eq!(
            lines,
            vec![
                ("abcd".to_string(), true),
                ("efgh".to_string(), true),
                ("ij".to_string(), false)
            ]
        );
    }

    #[test]
    fn never_cuts_inside_a_character() {
        let mut splitter = LineSplitter::new(4);
        // "aé" is 3 bytes, "éé" 4: a cut at byte 4 would split the second é.
        let lines = splitter.push("aéé\n".as_bytes());
        let joined: String = lines.iter().map(|(text, _)| text.as_str()).collect();
        assert_eq!(joined, "aéé");
        assert!(lines.iter().all(|(text, _)| !text.contains('\u{FFFD}')));
    }

    #[test]
    fn keeps_the_unterminated_tail() {
        let mut splitter = LineSplitter::new(10);
        assert_eq!(splitter.push(b"tail"), vec![]);
        assert_eq!(splitter.finish(), Some(("tail".to_string(), false)));
    }
}

#[cfg(test)]
mod masking {
    use std::sync::Arc;

    use conveyor_core::secrets::{Masker, MASK};

    use super::LineSplitter;

    fn joined(lines: &[(String, bool)]) -> String {
        lines.iter().map(|(text, _)| text.as_str()).collect()
    }

    #[test]
    fn a_value_split_across_reads_is_masked_whole() {
        let mut splitter = LineSplitter::masking(100, Arc::new(Masker::new(["hunter22"])));
        assert_eq!(splitter.push(b"pw=hun"), vec![]);
        assert_eq!(
            splitter.push(b"ter22 ok\n"),
            vec![(format!("pw={MASK} ok"), false)]
        );
        assert_eq!(splitter.push(b"tail hunter"), vec![]);
        assert_eq!(splitter.push(b"22"), vec![]);
        assert_eq!(splitter.finish(), Some((format!("tail {MASK}"), false)));
    }

    #[test]
    fn a_value_where_a_long_line_is_cut_is_masked_whole() {
        let secret = "s3cr3t-value";
        for offset in 0..20 {
            let mut splitter = LineSplitter::masking(16, Arc::new(Masker::new([secret])));
            let line = format!("{}{secret}{}", "a".repeat(offset), "b".repeat(30));
            // Byte by byte: the worst case for a value straddling a cut.
            let mut lines = Vec::new();
            for byte in line.as_bytes() {
                lines.extend(splitter.push(std::slice::from_ref(byte)));
            }
            lines.extend(splitter.push(b"\n"));
            let text = joined(&lines);
            assert_eq!(
                text,
                format!("{}{MASK}{}", "a".repeat(offset), "b".repeat(30)),
                "offset {offset}"
            );
            assert!(
                lines.iter().all(|(piece, _)| piece.len() <= 16),
                "{lines:?}"
            );
            assert!(lines.iter().all(|(piece, _)| !piece.contains("s3cr3t")));
        }
    }
}
