//! The legacy per-layer `json` (Docker image spec v1, moby `image.V1Image`).

use serde_json::{Map, Value};

/// The fields of a v1 layer `json` that imgtar checks; the document is kept whole.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Json {
    /// `id`: 64 hex digits in every known writer.
    pub id: Option<String>,
    /// `parent`: hex ID of the parent layer directory.
    pub parent: Option<String>,
    /// `created`.
    pub created: Option<String>,
    /// `os`.
    pub os: Option<String>,
    /// The whole document.
    pub raw: Map<String, Value>,
}

/// Decodes a v1 `json`: it must be an object; string fields of other types are ignored.
pub fn parse(bytes: &[u8]) -> Result<V1Json, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(raw) = v else {
        return Err(format!(
            "must be a JSON object, found {}",
            crate::doc::manifest::kind(&v)
        ));
    };
    let s = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(V1Json {
        id: s("id"),
        parent: s("parent").filter(|p| !p.is_empty()),
        created: s("created"),
        os: s("os"),
        raw: raw.clone(),
    })
}
