//! The legacy per-layer `json` (Docker image spec v1, moby `image.V1Image`).

use serde_json::{Map, Value};

use crate::doc::DocError;

/// The fields of a v1 layer `json` that imgtar checks; the document is kept whole.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V1Json {
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
pub(crate) fn parse(bytes: &[u8]) -> Result<V1Json, DocError> {
    let mut v: Value = crate::doc::json(bytes)?;
    crate::doc::keys::fold(&mut v, crate::doc::keys::CONFIG_FIELDS);
    let Value::Object(raw) = v else {
        return Err(DocError::shape(format!(
            "must be a JSON object, found {}",
            crate::doc::kind(&v)
        )));
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
