//! Searching logs: the query a search takes (text and run filters), the page it gives back,
//! and the one rule for what matches (a substring, ASCII letters in either case).

use serde::{Deserialize, Serialize};

use crate::definition::Problem;
use crate::dto::RunsQuery;
use crate::run::RunStatus;

/// The shortest query the index can answer (it indexes three-byte pieces of lines).
pub const MIN_QUERY: usize = 3;
/// The longest query, in bytes.
pub const MAX_QUERY: usize = 1024;

/// Where a page of results ends: the last line it examined (run, step index, line number);
/// the next page starts after it. Written `run.step.line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchCursor {
    pub run: i64,
    pub step: usize,
    pub line: u64,
}

impl std::fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.run, self.step, self.line)
    }
}

impl std::str::FromStr for SearchCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("\"{text}\" is not a cursor this search gave (run.step.line)");
        let mut parts = text.split('.');
        let (Some(run), Some(step), Some(line), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(SearchCursor {
            run: run.parse().map_err(|_| bad())?,
            step: step.parse().map_err(|_| bad())?,
            line: line.parse().map_err(|_| bad())?,
        })
    }
}

/// A search over the logs of runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    /// The text to find, as given (matched as a substring, ASCII letters in either case).
    pub q: String,
    /// Only runs of this pipeline.
    pub pipeline: Option<String>,
    /// Only this run (its results in reading order, step by step).
    pub run: Option<i64>,
    /// Go on after this place (`next` of the previous page).
    pub cursor: Option<SearchCursor>,
    /// Results per page, 1–1000 (default 50).
    pub limit: Option<u32>,
    /// The run listing's filters: status, tag, branch, trigger, since, until.
    pub runs: RunsQuery,
}

impl SearchQuery {
    pub const DEFAULT_LIMIT: u32 = 50;

    /// Reads a search from `name=value` pairs (a query string or a form). A value in the
    /// wrong form, a name given twice or an unknown name is a problem at that name (a 400);
    /// the query text itself is checked by [`SearchQuery::problems`].
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SearchQuery, Problem> {
        let mut query = SearchQuery::default();
        let mut q = None;
        let mut rest = Vec::new();
        let twice = |name: &str| Problem::new(name, format!("\"{name}\" is given twice"));
        for (name, value) in pairs {
            match name {
                "q" if q.is_some() => return Err(twice(name)),
                "q" => q = Some(value.to_owned()),
                "pipeline" | "run" | "cursor" | "limit" if !value.is_empty() => {
                    let given = match name {
                        "pipeline" => query.pipeline.is_some(),
                        "run" => query.run.is_some(),
                        "cursor" => query.cursor.is_some(),
                        _ => query.limit.is_some(),
                    };
                    if given {
                        return Err(twice(name));
                    }
                    let number = || format!("\"{value}\" is not a number");
                    match name {
                        "pipeline" => query.pipeline = Some(value.to_owned()),
                        "run" => {
                            query.run =
                                Some(value.parse().map_err(|_| Problem::new(name, number()))?)
                        }
                        "cursor" => {
                            query.cursor = Some(value.parse().map_err(|e| Problem::new(name, e))?)
                        }
                        _ => {
                            query.limit =
                                Some(value.parse().map_err(|_| Problem::new(name, number()))?)
                        }
                    }
                }
                "pipeline" | "run" | "cursor" | "limit" => {}
                "before" | "after" => {
                    return Err(Problem::new(
                        name,
                        "a search pages with \"cursor\" (the \"next\" of the previous page)",
                    ))
                }
                _ => rest.push((name, value)),
            }
        }
        query.q = q.unwrap_or_default();
        query.runs = RunsQuery::from_pairs(rest).map_err(|problem| {
            if problem.message.starts_with("unknown filter") {
                Problem::new(
                    &problem.path,
                    format!(
                        "unknown filter \"{}\"; known: q, pipeline, run, status, tag, branch, trigger, since, until, cursor, limit",
                        problem.path
                    ),
                )
            } else {
                problem
            }
        })?;
        Ok(query)
    }

    /// Filters in the wrong form (dates, a tag): problems at their names.
    pub fn filter_problems(&self) -> Vec<Problem> {
        self.runs.problems()
    }

    /// What is wrong with the text to find: empty, too short for the index, too long, or
    /// spanning lines.
    pub fn problems(&self) -> Vec<Problem> {
        let q = &self.q;
        let message = if q.is_empty() {
            "the query is empty: give the text to find".to_owned()
        } else if q.len() < MIN_QUERY {
            format!("the query is too short for the index: give at least {MIN_QUERY} characters")
        } else if q.len() > MAX_QUERY {
            format!(
                "the query is {} bytes; at most {MAX_QUERY} are allowed",
                q.len()
            )
        } else if q.contains(['\n', '\r']) {
            "the query spans lines; a match lies within one line".to_owned()
        } else {
            return Vec::new();
        };
        vec![Problem::new("q", message)]
    }

    /// Results per page: the query's, 1 to 1000, or [`Self::DEFAULT_LIMIT`].
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, 1000) as usize
    }
}

/// A line that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    pub run: i64,
    pub pipeline: String,
    /// The run's number within its pipeline.
    pub number: i64,
    pub tag: String,
    pub status: RunStatus,
    /// When the run was created (ms since the epoch).
    pub created_at: i64,
    /// The step's name.
    pub step: String,
    /// Line number within the step (1-based, as the run page numbers it).
    pub line: u64,
    /// The line, or the part of a long line around its first match.
    pub text: String,
    /// Byte ranges of `text` that match, `[start, end)`.
    pub matches: Vec<[usize; 2]>,
    /// The line on the run page: `/runs/ID#step-NAME-LN`.
    pub link: String,
}

/// A page of results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPage {
    /// Newest run first; within a run, step by step in line order.
    pub hits: Vec<SearchHit>,
    /// Pass as `cursor` to go on; absent once every log was searched.
    pub next: Option<String>,
    /// The page stopped at its time limit before it was full: `next` goes on from where it
    /// stopped.
    pub partial: bool,
}

/// Text to find, ready to match: ASCII letters match in either case, everything else
/// exactly.
#[derive(Debug, Clone)]
pub struct Needle {
    folded: Vec<u8>,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        Needle {
            folded: text.as_bytes().to_ascii_lowercase(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// Byte ranges where the needle occurs in `line`, without overlaps. `scratch` is
    /// reused between calls.
    pub fn find_all(&self, line: &[u8], scratch: &mut Vec<u8>) -> Vec<[usize; 2]> {
        let mut found = Vec::new();
        if self.folded.is_empty() || line.len() < self.folded.len() {
            return found;
        }
        scratch.clear();
        scratch.extend(line.iter().map(u8::to_ascii_lowercase));
        let mut from = 0;
        while let Some(at) = memchr::memmem::find(&scratch[from..], &self.folded) {
            let start = from + at;
            found.push([start, start + self.folded.len()]);
            from = start + self.folded.len();
        }
        found
    }

    /// Whether `line` contains the needle.
    pub fn is_in(&self, line: &str) -> bool {
        !self.find_all(line.as_bytes(), &mut Vec::new()).is_empty()
    }
}

/// At most this many bytes of a long line are shown around its first match.
const AROUND: usize = 240;

/// The part of `line` to show for its `matches` (a long line is cut around the first one,
/// at character boundaries), with the ranges moved to match.
pub fn excerpt(line: &str, matches: &[[usize; 2]]) -> (String, Vec<[usize; 2]>) {
    let Some(first) = matches.first() else {
        return (line.to_owned(), Vec::new());
    };
    if line.len() <= 2 * AROUND {
        return (line.to_owned(), matches.to_vec());
    }
    let mut start = first[0].saturating_sub(AROUND / 2);
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (first[1] + AROUND).min(line.len());
    while !line.is_char_boundary(end) {
        end += 1;
    }
    let kept = matches
        .iter()
        .filter(|[s, e]| *s >= start && *e <= end)
        .map(|[s, e]| [s - start, e - start])
        .collect();
    (line[start..end].to_owned(), kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_match_ascii_letters_in_either_case_only() {
        let needle = Needle::new("Error:");
        let mut scratch = Vec::new();
        assert_eq!(
            needle.find_all(b"an ERROR: x error: y", &mut scratch),
            vec![[3, 9], [12, 18]]
        );
        assert!(Needle::new("ÉTÉ").is_in("l'ÉTÉ"));
        assert!(!Needle::new("été").is_in("l'ÉTÉ"));
        assert!(Needle::new("aaa").find_all(b"aa", &mut scratch).is_empty());
    }

    #[test]
    fn queries_read_filters_and_name_what_is_wrong() {
        let query = SearchQuery::from_pairs([
            ("q", "needle"),
            ("pipeline", "web"),
            ("status", "failed"),
            ("cursor", "12.0.5"),
            ("limit", ""),
        ])
        .unwrap();
        assert_eq!(query.pipeline.as_deref(), Some("web"));
        assert_eq!(query.runs.status, Some(RunStatus::Failed));
        assert_eq!(
            query.cursor,
            Some(SearchCursor {
                run: 12,
                step: 0,
                line: 5
            })
        );
        assert!(query.problems().is_empty());
        for (name, value) in [
            ("cursor", "12.x"),
            ("run", "seven"),
            ("status", "great"),
            ("colour", "red"),
            ("limit", "-1"),
        ] {
            let problem = SearchQuery::from_pairs([("q", "abc"), (name, value)]).unwrap_err();
            assert_eq!(problem.path, name, "{problem:?}");
        }
        let since = SearchQuery::from_pairs([("q", "abc"), ("since", "yesterday")]).unwrap();
        assert_eq!(since.filter_problems()[0].path, "since");
        for q in ["", "ab", &"x".repeat(1025), "a\nb"] {
            let query = SearchQuery::from_pairs([("q", q)]).unwrap();
            assert_eq!(query.problems()[0].path, "q", "{q:?}");
        }
    }

    #[test]
    fn long_lines_are_cut_around_the_first_match() {
        let line = format!("{}needle{}", "é".repeat(400), "b".repeat(900));
        let found = Needle::new("NEEDLE").find_all(line.as_bytes(), &mut Vec::new());
        let (text, matches) = excerpt(&line, &found);
        assert!(text.len() < 500, "{}", text.len());
        let [s, e] = matches[0];
        assert_eq!(&text[s..e], "needle");
    }
}
