//! Reading YAML (and JSON, which the same parser reads) into values and typed documents,
//! with every problem located: a syntax error by line and column, a shape error by the path
//! of the field.

use crate::definition::Problem;

/// Largest definition document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Reads YAML or JSON text within the size limit; a syntax error names its line and column.
pub fn read(source: &str) -> Result<serde_yaml::Value, Vec<Problem>> {
    if source.len() > MAX_DOCUMENT_BYTES {
        return Err(vec![Problem::new(
            "",
            format!(
                "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                source.len()
            ),
        )]);
    }
    serde_yaml::from_str(source).map_err(|err| {
        let message = match err.location() {
            Some(at) => format!(
                "line {}, column {}: {}",
                at.line(),
                at.column(),
                strip_location(&err.to_string())
            ),
            None => err.to_string(),
        };
        vec![Problem::new("", message)]
    })
}

/// Deserializes a typed document, reporting the path of the first problem.
pub fn typed<T: serde::de::DeserializeOwned>(value: serde_yaml::Value) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        vec![Problem::new(
            spell(err.path()),
            strip_location(&err.inner().to_string()),
        )]
    })
}

/// `stages[0].with.KEY`; a part the reader could not name (a key that is not a string)
/// ends the path there, at the node that holds it.
fn spell(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut spelled = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => spelled.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !spelled.is_empty() {
                    spelled.push('.');
                }
                spelled.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    spelled
}

/// serde_yaml appends " at line X column Y" to messages; the location is reported apart.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}
