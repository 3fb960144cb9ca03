//! The legacy `repositories` file: `{ "<repo>": { "<tag>": "<hex id>" } }`.

use std::collections::BTreeMap;

use serde_json::Value;

/// Repository name → tag → hex ID (a v1 layer ID, or in Docker 25+ the top layer's DiffID hex).
pub type Repositories = BTreeMap<String, BTreeMap<String, String>>;

/// Decodes `repositories`, requiring the `{name: {tag: string}}` shape.
pub fn parse(bytes: &[u8]) -> Result<Repositories, String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("repositories is not JSON: {e}"))?;
    let Value::Object(obj) = v else {
        return Err(format!(
            "repositories must be an object, found {}",
            crate::doc::manifest::kind(&v)
        ));
    };
    let mut out = Repositories::new();
    for (name, tags) in obj {
        let Value::Object(tags) = tags else {
            return Err(format!(
                "repositories[{name:?}] must be an object of tag → id"
            ));
        };
        let mut m = BTreeMap::new();
        for (tag, id) in tags {
            let Value::String(id) = id else {
                return Err(format!("repositories[{name:?}][{tag:?}] must be a string"));
            };
            m.insert(tag, id);
        }
        out.insert(name, m);
    }
    Ok(out)
}
