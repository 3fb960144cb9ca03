//! `manifest.json`: one entry per image (moby `manifestItem`, containers/image `ManifestItem`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::doc::oci::Descriptor;
use crate::doc::{kind, DocError};

/// One `manifest.json` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ManifestItem {
    /// Path of the config file in the archive.
    pub config: String,
    /// Tags as written (`null` is `None`, `[]` is `Some(vec![])`).
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer files, bottom first.
    pub layers: Vec<String>,
    /// Image ID of the parent (Docker 1.11+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// DiffID → descriptor of the layer (foreign layers; all layers in Docker 25+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_sources: Option<BTreeMap<String, Descriptor>>,
}

/// A decoded `manifest.json`: entries plus keys spelled in another case than Go's field names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Manifest {
    /// The entries.
    pub items: Vec<ManifestItem>,
    /// Keys accepted case-insensitively (as Go's decoder does) but not spelled as written by
    /// docker: (entry index, key).
    pub odd_keys: Vec<(usize, String)>,
    /// Entries past `Limits::max_images`: counted, not decoded.
    pub skipped: u64,
    /// The limit they passed.
    pub max_images: u64,
}

/// Decodes `manifest.json`. Keys match case-insensitively, as Go's `encoding/json` matches them
/// (`ſ` and the Kelvin sign included), and the last key that matches a field wins.
/// `null`, non-arrays and type errors are problems; unknown keys are ignored.
pub(crate) fn parse(bytes: &[u8], max_images: u64) -> Result<Manifest, DocError> {
    let problem = |entry, message: String| DocError::Shape { entry, message };
    // The array's entries as raw text first (16 bytes each), then each decoded alone: a
    // million-entry manifest.json never becomes a million JSON objects at once.
    let Ok(arr) = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(bytes) else {
        let v: Value = crate::doc::json(bytes)?;
        return Err(match v {
            Value::Null => problem(
                None,
                "manifest.json is null (docker load: \"invalid manifest, manifest cannot be null (but can be [])\")".into(),
            ),
            Value::Array(_) => problem(None, "manifest.json is not a valid array".into()),
            other => problem(
                None,
                format!("manifest.json must be an array, found {}", kind(&other)),
            ),
        });
    };
    let keep = usize::try_from(max_images).unwrap_or(usize::MAX);
    let mut out = Manifest {
        skipped: (arr.len().saturating_sub(keep)) as u64,
        max_images,
        ..Manifest::default()
    };
    for (i, raw) in arr.into_iter().take(keep).enumerate() {
        let entry: Value = serde_json::from_str(raw.get()).map_err(|e| DocError::syntax(&e))?;
        let Value::Object(obj) = entry else {
            return Err(problem(
                Some(i),
                format!("entry {i} is {}, not an object", kind(&entry)),
            ));
        };
        let mut item = ManifestItem::default();
        let mut have_config = false;
        for (k, v) in obj {
            let Some(canon) = crate::doc::keys::field_of(crate::doc::keys::MANIFEST_FIELDS, &k)
            else {
                continue;
            };
            if canon != k {
                out.odd_keys.push((i, k.clone()));
            }
            let bad = |what: &str| problem(Some(i), format!("entry {i}: {k} must be {what}"));
            match canon {
                "Config" => {
                    item.config = v.as_str().ok_or_else(|| bad("a string"))?.to_string();
                    have_config = true;
                }
                "RepoTags" => {
                    item.repo_tags = match v {
                        Value::Null => None,
                        v => Some(strings(v).ok_or_else(|| bad("an array of strings"))?),
                    }
                }
                "Layers" => {
                    item.layers = match v {
                        Value::Null => Vec::new(),
                        v => strings(v).ok_or_else(|| bad("an array of strings"))?,
                    }
                }
                "Parent" => {
                    item.parent = match v {
                        Value::Null => None,
                        Value::String(s) if s.is_empty() => None,
                        Value::String(s) => Some(s),
                        _ => return Err(bad("a string")),
                    }
                }
                _ => {
                    item.layer_sources = match v {
                        Value::Null => None,
                        v => Some(
                            serde_json::from_value(v)
                                .map_err(|e| bad(&format!("a map of descriptors ({e})")))?,
                        ),
                    }
                }
            }
        }
        if !have_config {
            return Err(problem(Some(i), format!("entry {i} has no Config")));
        }
        out.items.push(item);
    }
    Ok(out)
}

fn strings(v: Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_case_insensitively() {
        let m = parse(
            br#"[{"config":"a.json","RepoTags":null,"Layers":["x/layer.tar"],"Parent":""}]"#,
            10,
        )
        .unwrap();
        assert_eq!(m.items.len(), 1);
        assert_eq!(m.items[0].config, "a.json");
        assert_eq!(m.items[0].repo_tags, None);
        assert_eq!(m.items[0].parent, None);
        assert_eq!(m.odd_keys, vec![(0, "config".to_string())]);
    }

    #[test]
    fn rejects_null_and_objects() {
        assert!(parse(b"null", 10)
            .unwrap_err()
            .to_string()
            .contains("cannot be null"));
        assert!(parse(b"{}", 10)
            .unwrap_err()
            .to_string()
            .contains("must be an array"));
        assert_eq!(
            parse(br#"[{"RepoTags":[]}]"#, 10).unwrap_err(),
            DocError::Shape {
                entry: Some(0),
                message: "entry 0 has no Config".into()
            }
        );
        assert!(parse(br#"[{"Config":1}]"#, 10).is_err());
        assert!(parse(b"[]", 10).unwrap().items.is_empty());
        let three = br#"[{"Config":"a"},{"Config":"b"},{"Config":"c"}]"#;
        let m = parse(three, 2).unwrap();
        assert_eq!((m.items.len(), m.skipped), (2, 1));
    }
}
