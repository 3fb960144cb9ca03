//! JSON object keys as Go's `encoding/json` reads them: every loader (moby, containerd,
//! containers/image, go-containerregistry) decodes these documents into Go structs, where a
//! key matches a field case-insensitively (with Unicode simple folding: `ſ` is `s`, the Kelvin
//! sign is `k`) and, when several keys match one field or a key is written twice, the LAST
//! one wins (Go `encoding/json` `decode.go` `object`; `fold.go`). Other readers (a scanner
//! decoding with a case-sensitive or first-wins parser) then see another document.
//!
//! [`scan`] finds every key written twice (exactly, or as a case variant of a struct field)
//! in one bounded pass that keeps only one object's keys at a time; [`fold`] rewrites a
//! parsed document so that imgtar reads the value Docker reads.

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// `manifest.json` entries (moby `image/tarexport` `manifestItem`).
pub(crate) const MANIFEST_FIELDS: &[&str] =
    &["Config", "RepoTags", "Layers", "Parent", "LayerSources"];

/// The image config and a legacy layer `json` (moby `image.V1Image`, `image.Image`,
/// `image.RootFS`, `image.History`, and the main fields of `container.Config`).
pub(crate) const CONFIG_FIELDS: &[&str] = &[
    "id",
    "parent",
    "comment",
    "created",
    "container",
    "container_config",
    "docker_version",
    "author",
    "config",
    "architecture",
    "variant",
    "os",
    "os.version",
    "os.features",
    "size",
    "rootfs",
    "history",
    "type",
    "diff_ids",
    "created_by",
    "empty_layer",
    "User",
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "Labels",
    "Volumes",
    "ExposedPorts",
    "StopSignal",
    "Shell",
    "OnBuild",
    "Healthcheck",
];

/// OCI and Docker schema2 indexes, manifests, descriptors and platforms, and `oci-layout`.
pub(crate) const OCI_FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
    "digest",
    "size",
    "urls",
    "data",
    "platform",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "imageLayoutVersion",
];

/// Fields whose value is a Go map (keys are data, matched exactly) rather than a struct.
const MAP_FIELDS: &[&str] = &[
    "annotations",
    "LayerSources",
    "Labels",
    "Volumes",
    "ExposedPorts",
];

/// Go's `encoding/json` key folding, for matching against the ASCII field names: ASCII
/// letters upper-cased, `ſ` (U+017F) as `S`, the Kelvin sign (U+212A) as `K`.
fn fold_key(k: &str) -> String {
    k.chars()
        .map(|c| match c {
            '\u{17f}' => 'S',
            '\u{212a}' => 'K',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// The field of `fields` that `k` decodes into, if any.
pub(crate) fn field_of(fields: &'static [&'static str], k: &str) -> Option<&'static str> {
    if let Some(f) = fields.iter().copied().find(|f| *f == k) {
        return Some(f);
    }
    let folded = fold_key(k);
    fields.iter().copied().find(|f| fold_key(f) == folded)
}

/// A key written more than once in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repeat {
    /// Where the first such object is (`[0].Config`, `rootfs.diff_ids`…).
    pub path: String,
    /// The spellings, in document order (the last is the one Go uses).
    pub spellings: Vec<String>,
    /// The value Go uses (the last), shown when it is a scalar.
    pub used: Option<String>,
    /// The values differ.
    pub differ: bool,
    /// How many objects repeat this key the same way.
    pub count: u64,
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spellings: Vec<String> = self.spellings.iter().map(|s| format!("{s:?}")).collect();
        let n = self.spellings.len();
        write!(
            f,
            "{} holds {}",
            if self.path.is_empty() {
                "the document"
            } else {
                &self.path
            },
            if spellings.windows(2).all(|w| w.first() == w.last()) {
                format!(
                    "the key {} {n} times",
                    spellings.first().map_or("", String::as_str)
                )
            } else {
                format!("the keys {} (one field to Go)", spellings.join(", "))
            }
        )?;
        if self.differ {
            write!(f, " with different values")?;
        }
        write!(
            f,
            "; Go's encoding/json (docker load, containerd, containers/image) uses the last"
        )?;
        if let Some(u) = &self.used {
            write!(f, ", {u}")?;
        }
        if !self.differ {
            write!(f, " (the values are the same)")?;
        }
        if self.count > 1 {
            write!(f, "; {} objects repeat it", self.count)?;
        }
        Ok(())
    }
}

/// Most distinct repeats kept per document (each further one only counts).
const MAX_REPEATS: usize = 16;

/// Every repeated key of the JSON document `bytes` (nothing when it is not JSON). `fields`:
/// the Go struct fields of the document, whose case variants collide (empty for a document
/// that is a map, such as `repositories`). Repeats of the same key spelled the same way collapse into one,
/// with a count; at most [`MAX_REPEATS`] are kept, and the second value counts the repeats
/// left out.
pub(crate) fn scan(bytes: &[u8], fields: &'static [&'static str]) -> (Vec<Repeat>, u64) {
    let mut st = State::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Seed {
        st: &mut st,
        path: String::new(),
        fields,
        structs: true,
    };
    if seed.deserialize(&mut de).is_err() {
        return (Vec::new(), 0);
    }
    (st.repeats, st.dropped)
}

#[derive(Default)]
struct State {
    repeats: Vec<Repeat>,
    dropped: u64,
}

impl State {
    fn add(&mut self, r: Repeat) {
        // The same key in the same spelling at the same place in many objects (`[3].Config`
        // and `[9].Config`): one repeat with a count.
        let shape = |p: &str| -> String { p.chars().filter(|c| !c.is_ascii_digit()).collect() };
        if let Some(x) = self
            .repeats
            .iter_mut()
            .find(|x| x.spellings == r.spellings && shape(&x.path) == shape(&r.path))
        {
            x.count = x.count.saturating_add(1);
            x.differ |= r.differ;
            return;
        }
        if self.repeats.len() < MAX_REPEATS {
            self.repeats.push(r);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}

/// What a value is, for comparing repeated values without keeping them.
struct Summary {
    hash: u64,
    shown: Option<String>,
}

struct Seed<'s> {
    st: &'s mut State,
    path: String,
    fields: &'static [&'static str],
    /// The value is in struct position (not inside a map-valued field).
    structs: bool,
}

fn scalar(hash_of: impl Hash, shown: String) -> Summary {
    let mut h = DefaultHasher::new();
    hash_of.hash(&mut h);
    let shown = if shown.chars().count() > 80 {
        let cut: String = shown.chars().take(77).collect();
        format!("{cut}...")
    } else {
        shown
    };
    Summary {
        hash: h.finish(),
        shown: Some(shown),
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Summary;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Summary, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Summary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Summary, E> {
        Ok(scalar(("b", v), v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Summary, E> {
        Ok(scalar(("n", v.to_string()), v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Summary, E> {
        Ok(scalar(("n", v.to_string()), v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Summary, E> {
        Ok(scalar(("n", v.to_string()), v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Summary, E> {
        Ok(scalar(("s", v), format!("{v:?}")))
    }
    fn visit_unit<E>(self) -> Result<Summary, E> {
        Ok(scalar("null", "null".to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Summary, A::Error> {
        let mut h = DefaultHasher::new();
        "[".hash(&mut h);
        let mut i = 0u64;
        loop {
            let seed = Seed {
                st: &mut *self.st,
                path: format!("{}[{i}]", self.path),
                fields: self.fields,
                structs: self.structs,
            };
            match seq.next_element_seed(seed)? {
                Some(s) => s.hash.hash(&mut h),
                None => break,
            }
            i = i.saturating_add(1);
        }
        Ok(Summary {
            hash: h.finish(),
            shown: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summary, A::Error> {
        // One object's keys at a time: folded key → (spellings, hash and shown value of the
        // last).
        let mut keys: HashMap<String, (Vec<String>, u64, Option<String>, bool)> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut h = DefaultHasher::new();
        "{".hash(&mut h);
        while let Some(k) = map.next_key::<String>()? {
            let field = if self.structs {
                field_of(self.fields, &k)
            } else {
                None
            };
            let child_structs = self.structs && !MAP_FIELDS.contains(&field.unwrap_or(&k));
            let path = if self.path.is_empty() {
                k.clone()
            } else {
                format!("{}.{k}", self.path)
            };
            let seed = Seed {
                st: &mut *self.st,
                path,
                fields: self.fields,
                structs: child_structs,
            };
            let v = map.next_value_seed(seed)?;
            let group = match field {
                Some(f) => format!("\u{0}{}", fold_key(f)),
                None => k.clone(),
            };
            match keys.get_mut(&group) {
                Some((spellings, hash, shown, differ)) => {
                    *differ |= *hash != v.hash;
                    spellings.push(k.clone());
                    *hash = v.hash;
                    *shown = v.shown;
                }
                None => {
                    order.push(group.clone());
                    keys.insert(group, (vec![k.clone()], v.hash, v.shown, false));
                }
            }
            k.hash(&mut h);
            v.hash.hash(&mut h);
        }
        for g in order {
            if let Some((spellings, _, shown, differ)) = keys.remove(&g) {
                if spellings.len() > 1 {
                    self.st.add(Repeat {
                        path: self.path.clone(),
                        spellings,
                        used: shown,
                        differ,
                        count: 1,
                    });
                }
            }
        }
        Ok(Summary {
            hash: h.finish(),
            shown: None,
        })
    }
}

/// Rewrites `v` so that every object in struct position holds each Go field once, under its
/// canonical name, with the value Go's decoder would keep (the last key that matches it).
/// Map-valued fields (`annotations`, `Labels`…) keep their keys as written.
pub(crate) fn fold(v: &mut Value, fields: &'static [&'static str]) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| fold(x, fields)),
        Value::Object(o) => {
            if o.keys()
                .all(|k| field_of(fields, k).is_none_or(|f| f == k.as_str()))
            {
                for (k, x) in o.iter_mut() {
                    if !MAP_FIELDS.contains(&k.as_str()) {
                        fold(x, fields);
                    }
                }
                return;
            }
            let old = std::mem::take(o);
            let mut new = Map::with_capacity(old.len());
            for (k, mut x) in old {
                let key = field_of(fields, &k).map_or(k, str::to_string);
                if !MAP_FIELDS.contains(&key.as_str()) {
                    fold(&mut x, fields);
                }
                // Last one wins, as in Go.
                new.shift_remove(&key);
                new.insert(key, x);
            }
            *o = new;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_exact_and_case_variant_keys() {
        let (r, n) = scan(
            br#"[{"Config":"a.json","config":"b.json","Layers":[]},{"Config":"x","Config":"x"}]"#,
            MANIFEST_FIELDS,
        );
        assert_eq!(n, 0);
        assert_eq!(r[0].path, "[0]");
        assert_eq!(r[0].spellings, vec!["Config", "config"]);
        assert_eq!(r[0].used.as_deref(), Some("\"b.json\""));
        assert!(r[0].differ);
        assert!(!r[1].differ);
        // Go folds the long s and the Kelvin sign.
        let (r, _) = scan(
            "[{\"Layer\u{17f}\":[1],\"Layers\":[2]}]".as_bytes(),
            MANIFEST_FIELDS,
        );
        assert_eq!(r.len(), 1);
        assert!(r[0].differ);
        // Map keys (labels, annotations, repositories) are data: case matters.
        let (r, _) = scan(br#"{"annotations":{"os":"a","OS":"b"}}"#, OCI_FIELDS);
        assert!(r.is_empty());
        let (r, _) = scan(br#"{"busybox":{"Latest":"a","latest":"b"}}"#, &[]);
        assert!(r.is_empty());
        let (r, _) = scan(br#"{"busybox":{"latest":"a","latest":"b"}}"#, &[]);
        assert_eq!(r[0].path, "busybox");
        // Same key in many objects: one repeat, counted.
        let many = format!(
            "[{}]",
            vec![r#"{"Config":"a","Config":"b"}"#; 1000].join(",")
        );
        let (r, n) = scan(many.as_bytes(), MANIFEST_FIELDS);
        assert_eq!((r.len(), n, r[0].count), (1, 0, 1000));
        // Distinct repeats past the cap are only counted.
        let distinct: Vec<String> = (0..40).map(|i| format!("\"k{i}\":1,\"k{i}\":2")).collect();
        let (r, n) = scan(format!("{{{}}}", distinct.join(",")).as_bytes(), &[]);
        assert_eq!((r.len(), n), (MAX_REPEATS, 40 - MAX_REPEATS as u64));
        assert!(scan(b"not json", MANIFEST_FIELDS).0.is_empty());
    }

    #[test]
    fn fold_keeps_what_go_keeps() {
        let mut v: Value = serde_json::from_str(
            r#"{"os":"linux","OS":"windows","rootfs":{"Diff_IDs":["x"]},"config":{"Labels":{"A":"1","a":"2"}}}"#,
        )
        .unwrap();
        fold(&mut v, CONFIG_FIELDS);
        assert_eq!(v["os"], "windows");
        assert!(v.get("OS").is_none());
        assert_eq!(v["rootfs"]["diff_ids"][0], "x");
        assert_eq!(v["config"]["Labels"]["A"], "1");
        assert_eq!(v["config"]["Labels"]["a"], "2");
    }
}
