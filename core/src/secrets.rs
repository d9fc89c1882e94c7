//! Pipeline secrets as definitions name them, and masking their values in logs.
//!
//! A step lists the secrets it gets: `secrets: [DEPLOY_TOKEN]` puts the secret
//! `DEPLOY_TOKEN` in the variable of that name; `{name: NPM_TOKEN, env: NODE_AUTH_TOKEN}`
//! in another. Values live in the server's secrets store, never in a definition, a run's
//! record or a log: every value a run can see is masked in its output.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::definition::SecretUse;
use crate::definition::{Params, Problem};

/// Largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Shortest secret value: shorter ones would be masked wherever they happen to appear.
pub const MIN_SECRET_CHARS: usize = 4;
/// What a secret's value becomes in a log.
pub const MASK: &str = "********";

/// A stored secret as it is listed: never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretSummary {
    pub name: String,
    /// The pipeline it belongs to; none: every pipeline may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Unix milliseconds.
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// True for a secret's name: an upper-case variable name of at most 64 characters.
pub fn is_secret_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The rule for secret names, as a problem at `path`.
pub fn check_secret_name(path: &str, name: &str) -> Option<Problem> {
    (!is_secret_name(name)).then(|| {
        Problem::new(
            path,
            format!("\"{name}\" is not a secret name (upper-case letters, digits and '_', not starting with a digit, at most 64)"),
        )
    })
}

/// The rule for a secret's value.
pub fn check_secret_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "a secret holds at most {} KiB",
            MAX_SECRET_BYTES / 1024
        ));
    }
    if value.chars().count() < MIN_SECRET_CHARS {
        return Err(format!(
            "a secret must be at least {MIN_SECRET_CHARS} characters (shorter ones cannot be masked in logs)"
        ));
    }
    Ok(())
}

/// Checks a step's `secrets` (at `path`): names, variables, and no variable given twice or
/// also set by the step's `env`.
pub fn check_step_secrets(
    path: &str,
    uses: &[SecretUse],
    env: &Params,
    problems: &mut Vec<Problem>,
) {
    let mut seen = BTreeMap::new();
    for (i, use_) in uses.iter().enumerate() {
        let at = format!("{path}[{i}]");
        problems.extend(check_secret_name(&at, &use_.name));
        let variable = use_.variable();
        let mut variables = Params::new();
        variables.insert(variable.to_owned(), String::new());
        let before = problems.len();
        crate::params::check_param_names(&format!("{at}.env"), &variables, problems);
        if problems.len() > before {
            continue;
        }
        if env.contains_key(variable) {
            problems.push(Problem::new(
                &at,
                format!("\"{variable}\" is also set by the step's env"),
            ));
        } else if let Some(first) = seen.insert(variable.to_owned(), i) {
            problems.push(Problem::new(
                &at,
                format!("\"{variable}\" is given by {path}[{first}] already"),
            ));
        }
    }
}

/// Replaces every secret value a run can see with [`MASK`]. A value of several lines is
/// masked line by line (output shows it a line at a time).
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// Longest first, so a value containing another is masked whole.
    needles: Vec<String>,
}

impl Masker {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut needles: Vec<String> = values
            .into_iter()
            .flat_map(|value| {
                let whole = std::iter::once(value.trim_end_matches(['\n', '\r']));
                let lines = value.lines().map(|line| line.trim_end_matches('\r'));
                whole.chain(lines)
            })
            .filter(|needle| needle.chars().count() >= MIN_SECRET_CHARS)
            .map(str::to_owned)
            .collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Masker { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The longest value masked, in bytes: output held back this long can still be masked
    /// whole when the rest of a value arrives.
    pub fn longest(&self) -> usize {
        self.needles.first().map_or(0, String::len)
    }

    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), MASK));
            }
        }
        out
    }

    /// Masks bytes that may end inside a character (output as it arrives).
    pub fn mask_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for needle in &self.needles {
            let current = out.as_deref().unwrap_or(bytes);
            if let Some(replaced) = replace_bytes(current, needle.as_bytes(), MASK.as_bytes()) {
                out = Some(replaced);
            }
        }
        out
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let first = haystack.windows(needle.len()).position(|w| w == needle)?;
    let mut out = Vec::with_capacity(haystack.len());
    out.extend_from_slice(&haystack[..first]);
    let mut rest = &haystack[first..];
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(with);
            rest = &rest[needle.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    Some(out)
}
