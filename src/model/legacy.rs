//! Pre-1.10 images as Docker's legacy loader records them (moby v20.10.24
//! `image/tarexport/load.go` `legacyLoadImage`, `image/v1/imagev1.go` `HistoryFromConfig` and
//! `MakeConfigFromV1Config`): every layer directory is an image whose config is made from the
//! directory's v1 `json` (minus `id`, `parent`, `Size`, `parent_id`, `layer_id`, `throwaway`,
//! plus `rootfs` with the chain's DiffIDs and `history` with one entry per directory of the
//! chain), marshalled as Go's `encoding/json` does; its ID is the sha256 of those bytes, its
//! parent the image of the `parent` directory.
//!
//! What Go's encoder does and this one follows: map keys sorted bytewise; strings escaped
//! with `\"`, `\\`, `\n`, `\r`, `\t`, `\u00XX` for other control bytes, `\u003c` `\u003e`
//! `\u0026` for `<` `>` `&` and `\u2028` `\u2029`; a raw value kept in its own key order,
//! compacted. A v1 `json` whose `docker_version` is older than 1.8.3 (or absent) is first read
//! into Go's `V1Image` struct and written back (the loader's "fallback"), which keeps only that
//! struct's fields, writes `container_config` (and `config`, when set) as a whole
//! `container.Config`, and `created` as Go writes a time. The one thing not reproduced: a
//! string escaped in the v1 `json` in a way Go would not write it (e.g. `\u00e9` for `é`)
//! is kept verbatim by the loader's compaction and re-escaped here.

use serde_json::{Map, Value};

/// Go's zero `time.Time`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Keys `MakeConfigFromV1Config` deletes.
const DELETED: [&str; 6] = ["id", "parent", "Size", "parent_id", "layer_id", "throwaway"];

/// A value of a JSON object by key, exactly or else case-insensitively (Go's decoder).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A string as Go's `encoding/json` writes it (HTML-safe).
pub(crate) fn go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An object of already encoded values, in the order given.
fn write_object<'a>(out: &mut String, fields: impl IntoIterator<Item = (&'a str, String)>) {
    out.push('{');
    for (n, (k, v)) in fields.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        go_string(out, k);
        out.push(':');
        out.push_str(&v);
    }
    out.push('}');
}

/// A JSON value, compacted, objects in their own order (Go's `json.RawMessage`).
fn go_value(out: &mut String, v: &Value) {
    match v {
        Value::Object(o) => write_object(
            out,
            o.iter().map(|(k, x)| {
                let mut e = String::new();
                go_value(&mut e, x);
                (k.as_str(), e)
            }),
        ),
        Value::Array(a) => {
            out.push('[');
            for (n, x) in a.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                go_value(out, x);
            }
            out.push(']');
        }
        Value::String(s) => go_string(out, s),
        other => out.push_str(&other.to_string()),
    }
}

/// A time as Go writes a `time.Time` read from RFC 3339 text (`RFC3339Nano`: the fraction
/// without trailing zeros, `Z` for a zero offset); `None` when Go would not read it.
pub(crate) fn go_time(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
            .then(|| s.get(r))
            .flatten()
    };
    let date = digits(0..4).and(digits(5..7)).and(digits(8..10));
    let time = digits(11..13).and(digits(14..16)).and(digits(17..19));
    let seps = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if date.is_none() || time.is_none() || !seps {
        return None;
    }
    let mut out = s.get(..19)?.to_string();
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let (f, tail) = frac.split_at(end);
        if f.is_empty() {
            return None;
        }
        let f: String = f.chars().take(9).collect();
        let f = f.trim_end_matches('0');
        if !f.is_empty() {
            out.push('.');
            out.push_str(f);
        }
        rest = tail;
    }
    match rest {
        "Z" | "+00:00" | "-00:00" => out.push('Z'),
        r if r.len() == 6
            && (r.starts_with('+') || r.starts_with('-'))
            && r.as_bytes().get(3) == Some(&b':')
            && r.bytes()
                .enumerate()
                .all(|(i, c)| matches!(i, 0 | 3) || c.is_ascii_digit()) =>
        {
            out.push_str(r);
        }
        _ => return None,
    }
    Some(out)
}

/// A string field as Go's decoder reads it into a `string` (absent or not a string: `""`).
fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> &'a str {
    get_ci(o, k).and_then(Value::as_str).unwrap_or_default()
}

/// A `strslice.StrSlice` / `[]string` field: a string is a one-item list.
fn strings_of(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// A `container.Config` as Go writes the struct (moby v20.10.24
/// `api/types/container/config.go`: field order, `omitempty` where tagged).
fn go_container_config(out: &mut String, c: Option<&Map<String, Value>>) {
    let empty = Map::new();
    let c = c.unwrap_or(&empty);
    let get = |k: &str| get_ci(c, k).filter(|v| !v.is_null());
    let boolean = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut fields: Vec<(&str, String)> = Vec::new();
    let mut put = |k: &'static str, v: String| fields.push((k, v));
    let s = |x: &str| {
        let mut o = String::new();
        go_string(&mut o, x);
        o
    };
    let list = |v: Option<Vec<String>>| match v {
        None => "null".to_string(),
        Some(l) => {
            let mut o = String::new();
            go_value(&mut o, &Value::from(l));
            o
        }
    };
    let set = |k: &str| {
        get(k).and_then(Value::as_object).map(|o| {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let mut out = String::new();
            write_object(
                &mut out,
                keys.iter().map(|k| (k.as_str(), "{}".to_string())),
            );
            out
        })
    };
    put("Hostname", s(str_of(c, "Hostname")));
    put("Domainname", s(str_of(c, "Domainname")));
    put("User", s(str_of(c, "User")));
    put("AttachStdin", boolean("AttachStdin").to_string());
    put("AttachStdout", boolean("AttachStdout").to_string());
    put("AttachStderr", boolean("AttachStderr").to_string());
    if let Some(p) = set("ExposedPorts").filter(|p| p != "{}") {
        put("ExposedPorts", p);
    }
    put("Tty", boolean("Tty").to_string());
    put("OpenStdin", boolean("OpenStdin").to_string());
    put("StdinOnce", boolean("StdinOnce").to_string());
    put("Env", list(strings_of(get("Env"))));
    put("Cmd", list(strings_of(get("Cmd"))));
    if let Some(h) = get("Healthcheck").and_then(Value::as_object) {
        let mut o = String::from("{");
        let mut first = true;
        let mut field = |o: &mut String, k: &str, v: String| {
            if !first {
                o.push(',');
            }
            first = false;
            go_string(o, k);
            o.push(':');
            o.push_str(&v);
        };
        if let Some(t) = strings_of(get_ci(h, "Test")).filter(|t| !t.is_empty()) {
            field(&mut o, "Test", list(Some(t)));
        }
        for k in ["Interval", "Timeout", "StartPeriod", "Retries"] {
            if let Some(n) = get_ci(h, k).and_then(Value::as_i64).filter(|n| *n != 0) {
                field(&mut o, k, n.to_string());
            }
        }
        o.push('}');
        put("Healthcheck", o);
    }
    if boolean("ArgsEscaped") {
        put("ArgsEscaped", "true".to_string());
    }
    put("Image", s(str_of(c, "Image")));
    put(
        "Volumes",
        set("Volumes").unwrap_or_else(|| "null".to_string()),
    );
    put("WorkingDir", s(str_of(c, "WorkingDir")));
    put("Entrypoint", list(strings_of(get("Entrypoint"))));
    if boolean("NetworkDisabled") {
        put("NetworkDisabled", "true".to_string());
    }
    if !str_of(c, "MacAddress").is_empty() {
        put("MacAddress", s(str_of(c, "MacAddress")));
    }
    put("OnBuild", list(strings_of(get("OnBuild"))));
    let labels = get("Labels").and_then(Value::as_object).map(|o| {
        let mut m: Vec<(&String, &str)> = o
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?)))
            .collect();
        m.sort();
        let mut out = String::new();
        write_object(
            &mut out,
            m.iter().map(|(k, v)| {
                let mut e = String::new();
                go_string(&mut e, v);
                (k.as_str(), e)
            }),
        );
        out
    });
    put("Labels", labels.unwrap_or_else(|| "null".to_string()));
    if !str_of(c, "StopSignal").is_empty() {
        put("StopSignal", s(str_of(c, "StopSignal")));
    }
    if let Some(t) = get("StopTimeout").and_then(Value::as_i64) {
        put("StopTimeout", t.to_string());
    }
    if let Some(sh) = strings_of(get("Shell")).filter(|s| !s.is_empty()) {
        put("Shell", list(Some(sh)));
    }
    write_object(out, fields);
}

/// moby `pkg/... versions.LessThan(v, "1.8.3")`: dotted numbers compared field by field, a
/// field that is not a number counting 0.
fn older_than_1_8_3(v: &str) -> bool {
    let a: Vec<u64> = v.split('.').map(|x| x.parse().unwrap_or(0)).collect();
    let b = [1u64, 8, 3];
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        if x != y {
            return x < y;
        }
    }
    false
}

/// One history entry as `HistoryFromConfig` makes it from a v1 `json`, encoded as Go writes
/// `image.History`.
pub(crate) fn history_entry(v1: &Map<String, Value>) -> Option<String> {
    let created = match get_ci(v1, "created").filter(|v| !v.is_null()) {
        None => ZERO_TIME.to_string(),
        Some(c) => go_time(c.as_str()?)?,
    };
    let cmd = get_ci(v1, "container_config")
        .and_then(Value::as_object)
        .and_then(|c| strings_of(get_ci(c, "Cmd").filter(|v| !v.is_null())))
        .unwrap_or_default()
        .join(" ");
    let mut out = String::from("{\"created\":");
    go_string(&mut out, &created);
    for (k, v) in [
        ("author", str_of(v1, "author")),
        ("created_by", cmd.as_str()),
        ("comment", str_of(v1, "comment")),
    ] {
        if !v.is_empty() {
            out.push_str(&format!(",\"{k}\":"));
            go_string(&mut out, v);
        }
    }
    out.push('}');
    Some(out)
}

/// The config `MakeConfigFromV1Config` makes from a v1 `json`, with the chain's DiffIDs and
/// history entries (each already encoded by [`history_entry`]); `None` when Go would not read
/// the `json`.
pub(crate) fn config_bytes(
    v1: &Map<String, Value>,
    diff_ids: &[String],
    history: &[String],
) -> Option<Vec<u8>> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let enc = |v: &Value| {
        let mut o = String::new();
        go_value(&mut o, v);
        o
    };
    let docker_version = get_ci(v1, "docker_version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if older_than_1_8_3(docker_version) {
        // Read into `image.V1Image` and written back (v20.10.24 `image/image.go`).
        let mut put = |k: &str, v: String| entries.push((k.to_string(), v));
        let string = |k: &str| {
            let s = str_of(v1, k);
            (!s.is_empty()).then(|| {
                let mut o = String::new();
                go_string(&mut o, s);
                o
            })
        };
        if let Some(c) = string("comment") {
            put("comment", c);
        }
        let created = match get_ci(v1, "created").filter(|v| !v.is_null()) {
            None => ZERO_TIME.to_string(),
            Some(c) => go_time(c.as_str()?)?,
        };
        let mut t = String::new();
        go_string(&mut t, &created);
        put("created", t);
        if let Some(c) = string("container") {
            put("container", c);
        }
        let mut cc = String::new();
        go_container_config(
            &mut cc,
            get_ci(v1, "container_config").and_then(Value::as_object),
        );
        put("container_config", cc);
        for k in ["docker_version", "author"] {
            if let Some(x) = string(k) {
                put(k, x);
            }
        }
        if let Some(c) = get_ci(v1, "config").and_then(Value::as_object) {
            let mut o = String::new();
            go_container_config(&mut o, Some(c));
            put("config", o);
        }
        for k in ["architecture", "variant", "os"] {
            if let Some(x) = string(k) {
                put(k, x);
            }
        }
    } else {
        for (k, v) in v1 {
            if !DELETED.contains(&k.as_str()) {
                entries.retain(|(e, _)| e != k);
                entries.push((k.clone(), enc(v)));
            }
        }
    }
    entries.retain(|(k, _)| k != "rootfs" && k != "history");
    entries.push((
        "rootfs".to_string(),
        format!(
            "{{\"type\":\"layers\",\"diff_ids\":{}}}",
            enc(&Value::from(diff_ids.to_vec()))
        ),
    ));
    entries.push(("history".to_string(), format!("[{}]", history.join(","))));
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    write_object(
        &mut out,
        entries.iter().map(|(k, v)| (k.as_str(), v.clone())),
    );
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_encoding_details() {
        let mut s = String::new();
        go_string(&mut s, "a && b <c> \"q\" \u{1}\t");
        assert_eq!(s, r#""a \u0026\u0026 b \u003cc\u003e \"q\" \u0001\t""#);
        assert_eq!(
            go_time("2019-01-02T03:04:05.120000Z").unwrap(),
            "2019-01-02T03:04:05.12Z"
        );
        assert_eq!(
            go_time("2019-01-02T03:04:05.000Z").unwrap(),
            "2019-01-02T03:04:05Z"
        );
        assert_eq!(
            go_time("2019-01-02T03:04:05+01:00").unwrap(),
            "2019-01-02T03:04:05+01:00"
        );
        assert_eq!(go_time("2019-01-02 03:04:05Z"), None);
        assert!(older_than_1_8_3(""));
        assert!(older_than_1_8_3("1.8.2"));
        assert!(!older_than_1_8_3("1.8.3"));
        assert!(!older_than_1_8_3("1.10.0"));
        assert!(!older_than_1_8_3("18.09.7"));
    }
}
