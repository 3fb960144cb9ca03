//! The legacy `repositories` file: `{ "<repo>": { "<tag>": "<hex id>" } }`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::doc::DocError;

/// Repository name → tag → hex ID (a v1 layer ID, or in Docker 25+ the top layer's DiffID hex).
pub type Repositories = BTreeMap<String, BTreeMap<String, String>>;

/// Decodes `repositories`, requiring the `{name: {tag: string}}` shape.
pub(crate) fn parse(bytes: &[u8]) -> Result<Repositories, DocError> {
    let v: Value = crate::doc::json(bytes)?;
    let Value::Object(obj) = v else {
        return Err(DocError::shape(format!(
            "repositories must be an object, found {}",
            crate::doc::kind(&v)
        )));
    };
    let mut out = Repositories::new();
    for (name, tags) in obj {
        let Value::Object(tags) = tags else {
            return Err(DocError::shape(format!(
                "repositories[{name:?}] must be an object of tag → id"
            )));
        };
        let mut m = BTreeMap::new();
        for (tag, id) in tags {
            let Value::String(id) = id else {
                return Err(DocError::shape(format!(
                    "repositories[{name:?}][{tag:?}] must be a string"
                )));
            };
            m.insert(tag, id);
        }
        out.insert(name, m);
    }
    Ok(out)
}
