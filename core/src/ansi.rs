//! ANSI colour escapes (SGR) in log lines, as spans with classes for the log viewer. Other
//! escape sequences are dropped; text is never interpreted as markup.

/// A run of text and the classes of its style (`fg-1`, `bright`, `bold`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub class: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn class(&self) -> String {
        let mut classes = Vec::new();
        if let Some(fg) = self.fg {
            classes.push(format!("fg-{fg}"));
        }
        if let Some(bg) = self.bg {
            classes.push(format!("bg-{bg}"));
        }
        for (on, name) in [
            (self.bold, "bold"),
            (self.dim, "dim"),
            (self.italic, "italic"),
            (self.underline, "underline"),
        ] {
            if on {
                classes.push(name.to_owned());
            }
        }
        classes.join(" ")
    }

    /// Applies one SGR parameter list (`1;31`, `0`, `38;5;196`…). Colours 0–15 are kept
    /// (8–15 the bright ones); 256-colour and RGB colours fall back to none.
    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = if params.is_empty() {
            vec![0]
        } else {
            params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
        };
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                code @ 30..=37 => self.fg = Some((code - 30) as u8),
                39 => self.fg = None,
                code @ 40..=47 => self.bg = Some((code - 40) as u8),
                49 => self.bg = None,
                code @ 90..=97 => self.fg = Some((code - 90 + 8) as u8),
                code @ 100..=107 => self.bg = Some((code - 100 + 8) as u8),
                38 | 48 => {
                    // 38;5;N or 38;2;R;G;B: a colour we do not map; skip its arguments.
                    let skip = match codes.get(i + 1) {
                        Some(5) => 2,
                        Some(2) => 4,
                        _ => 0,
                    };
                    let colour = codes
                        .get(i + 2)
                        .copied()
                        .filter(|&n| codes.get(i + 1) == Some(&5) && n < 16)
                        .map(|n| n as u8);
                    if codes[i] == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                    i += skip;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// Splits a line into styled spans; a line without escapes is one plain span.
pub fn spans(line: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            text.push(c);
            continue;
        }
        // An escape: CSI (`ESC [ params final`) or a lone ESC + one char.
        match chars.peek() {
            Some('[') => {
                chars.next();
                let mut params = String::new();
                let mut last = None;
                for next in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&next) {
                        last = Some(next);
                        break;
                    }
                    params.push(next);
                }
                if last == Some('m') {
                    let before = style;
                    style.apply(&params);
                    if style != before && !text.is_empty() {
                        out.push(Span {
                            text: std::mem::take(&mut text),
                            class: before.class(),
                        });
                    }
                }
            }
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    if !text.is_empty() || out.is_empty() {
        out.push(Span {
            text,
            class: style.class(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str, class: &str) -> Span {
        Span {
            text: text.into(),
            class: class.into(),
        }
    }

    #[test]
    fn colours_and_resets_become_classed_spans() {
        assert_eq!(spans("plain"), [span("plain", "")]);
        assert_eq!(
            spans("\u{1b}[1;31mERROR\u{1b}[0m: disk \u{1b}[92mok\u{1b}[m"),
            [
                span("ERROR", "fg-1 bold"),
                span(": disk ", ""),
                span("ok", "fg-10")
            ]
        );
        assert_eq!(
            spans("\u{1b}[38;5;9mred\u{1b}[38;5;200mpink"),
            [span("red", "fg-9"), span("pink", "")]
        );
        assert_eq!(
            spans("\u{1b}[38;2;1;2;3mrgb\u{1b}[4mline"),
            [span("rgb", ""), span("line", "underline")]
        );
    }

    #[test]
    fn other_escapes_are_dropped_and_markup_stays_text() {
        assert_eq!(
            spans("\u{1b}[2K\u{1b}[1Gprogress <b>50%</b>"),
            [span("progress <b>50%</b>", "")]
        );
        assert_eq!(spans("cut \u{1b}["), [span("cut ", "")]);
        assert_eq!(spans(""), [span("", "")]);
    }
}
