//! Cutting a step's output into log lines, the same way on every engine (so a resumed
//! engine counts the pieces already on record exactly as they were cut).

/// Longer lines are cut into pieces marked `partial`.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Cuts a byte stream into lines; a line longer than the cap is cut into pieces, each but
/// the last marked partial, never inside a UTF-8 character.
pub struct LineSplitter {
    max: usize,
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            max,
            pending: Vec::new(),
        }
    }

    /// Feeds bytes; returns the complete lines (and over-long pieces) they finish.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.pending.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    self.cut_long(&mut out);
                    let mut line = std::mem::take(&mut self.pending);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    out.push((String::from_utf8_lossy(&line).into_owned(), false));
                }
                None => {
                    self.pending.extend_from_slice(bytes);
                    bytes = &[];
                    self.cut_long(&mut out);
                }
            }
        }
        out
    }

    /// What is left when the stream ends without a final newline.
    pub fn finish(&mut self) -> Option<(String, bool)> {
        (!self.pending.is_empty()).then(|| {
            (
                String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned(),
                false,
            )
        })
    }

    fn cut_long(&mut self, out: &mut Vec<(String, bool)>) {
        while self.pending.len() > self.max {
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
