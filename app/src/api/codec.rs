//! How server functions send their results: JSON, decoded in the browser from text.
//!
//! Resources hand their data to the browser as text and decode it with `serde_json::from_str`.
//! The stock server-function codec decodes the same types with `serde_json::from_slice`, and
//! each reader makes its own copy of every type's deserialiser in the WASM. Decoding server
//! function results from text as well keeps one copy; the bytes on the wire are unchanged.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

pub struct TextJsonEncoding;

impl ContentType for TextJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for TextJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for TextJsonEncoding {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// JSON in a POST body, read back from text: the output codec of every server function.
pub type TextJson = Post<TextJsonEncoding>;
