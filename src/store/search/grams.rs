//! Trigrams: the three-byte pieces of lines (ASCII letters folded, as
//! [`conveyor_core::search::Needle`] matches)
//! that the index holds per chunk, and the ones a query asks for.

/// The most trigrams one query asks the index for (spread over the query): a long query's
/// chunks are narrowed enough by these, and reading them back checks the rest.
const QUERY_GRAMS: usize = 16;

fn gram(bytes: &[u8]) -> u32 {
    (u32::from(bytes[0].to_ascii_lowercase()) << 16)
        | (u32::from(bytes[1].to_ascii_lowercase()) << 8)
        | u32::from(bytes[2].to_ascii_lowercase())
}

/// A trigram as six hex digits (a token FTS5's `ascii` tokenizer keeps whole).
fn token(gram: u32, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in [20, 16, 12, 8, 4, 0] {
        out.push(char::from(HEX[((gram >> shift) & 0xf) as usize]));
    }
}

/// The distinct trigrams of a chunk's lines, gathered line by line.
pub struct Grams {
    /// One bit per possible trigram.
    seen: Vec<u64>,
    found: Vec<u32>,
}

impl Default for Grams {
    fn default() -> Self {
        Grams {
            seen: vec![0; (1 << 24) / 64],
            found: Vec::new(),
        }
    }
}

impl Grams {
    pub fn add_line(&mut self, line: &[u8]) {
        let mut gram = 0u32;
        for (i, byte) in line.iter().enumerate() {
            // The last three bytes, folded, rolled into one number.
            gram = ((gram << 8) | u32::from(byte.to_ascii_lowercase())) & 0xff_ffff;
            if i < 2 {
                continue;
            }
            let (word, bit) = ((gram / 64) as usize, gram % 64);
            if self.seen[word] & (1 << bit) == 0 {
                self.seen[word] |= 1 << bit;
                self.found.push(gram);
            }
        }
    }

    /// The chunk's document (one token per trigram); starts the next chunk afresh.
    pub fn take_document(&mut self) -> String {
        let mut document = String::with_capacity(self.found.len() * 7);
        for &gram in &self.found {
            token(gram, &mut document);
            document.push(' ');
            self.seen[(gram / 64) as usize] = 0;
        }
        self.found.clear();
        document
    }
}

/// The FTS5 query for chunks that hold every trigram of `text` (at most [`QUERY_GRAMS`],
/// spread over it); `None` when it has none.
pub fn query(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut grams: Vec<u32> = bytes.windows(3).map(gram).collect();
    grams.sort_unstable();
    grams.dedup();
    if grams.is_empty() {
        return None;
    }
    let step = grams.len().div_ceil(QUERY_GRAMS);
    let mut query = String::new();
    for &gram in grams.iter().step_by(step) {
        if !query.is_empty() {
            query.push_str(" AND ");
        }
        query.push('"');
        token(gram, &mut query);
        query.push('"');
    }
    Some(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_each_trigram_once_folded_and_queries_ask_for_them() {
        let mut grams = Grams::default();
        grams.add_line(b"ABab");
        grams.add_line(b"aba");
        let document = grams.take_document();
        assert_eq!(document, "616261 626162 ");
        assert!(
            grams.take_document().is_empty(),
            "the next chunk starts afresh"
        );
        assert_eq!(query("xABA").unwrap(), "\"616261\" AND \"786162\"");
        assert_eq!(query("ab"), None);
        let long = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(3);
        assert!(query(&long).unwrap().matches("AND").count() < QUERY_GRAMS);
    }
}
