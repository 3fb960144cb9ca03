//! Image list filters as the Engine API takes them (moby `api/types/filters.Args`): a map from
//! filter name to a set of values, read from `name=value` arguments as the docker CLI reads
//! `--filter`.

use std::collections::{BTreeMap, BTreeSet};

/// The filters `GET /images/json` accepts.
pub const ACCEPTED: [&str; 6] = ["before", "dangling", "label", "reference", "since", "until"];

/// Why a filter cannot be used. Messages are the daemon's and the docker CLI's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// An argument without `=`.
    #[error("bad format of filter (expected name=value)")]
    Format,
    /// An unknown filter name, or a value that is not what the filter takes.
    #[error("invalid filter '{name}{}'", value.as_ref().map(|v| format!("=[{}]", v.join(" "))).unwrap_or_default())]
    Invalid {
        /// The filter name.
        name: String,
        /// The offending values, when the name itself is fine.
        value: Option<Vec<String>>,
    },
    /// A `reference` pattern that is not a valid glob.
    #[error("{0}")]
    Pattern(#[from] crate::reference::PatternError),
    /// An `until` value that is neither a timestamp nor a duration.
    #[error("failed to parse value as time or duration: {0:?}")]
    Time(String),
}

/// A set of filters: name → values. Values of one name are OR-ed or AND-ed as each filter
/// defines; different names are AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

impl Filters {
    /// No filters.
    pub fn new() -> Self {
        Filters::default()
    }

    /// Adds one value.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.fields
            .entry(name.into())
            .or_default()
            .insert(value.into());
        self
    }

    /// Adds a `name=value` argument as `docker image ls --filter` reads it: the name is trimmed
    /// and lowercased, the value trimmed; an empty argument is ignored.
    pub fn add_arg(&mut self, arg: &str) -> Result<&mut Self, FilterError> {
        if arg.is_empty() {
            return Ok(self);
        }
        let (name, value) = arg.split_once('=').ok_or(FilterError::Format)?;
        Ok(self.add(name.trim().to_lowercase(), value.trim()))
    }

    /// Whether a filter name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// The values of a filter (sorted, as a set).
    pub fn get(&self, name: &str) -> impl Iterator<Item = &str> {
        self.fields
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether there is no filter.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Rejects names outside `accepted` (`invalid filter 'name'`).
    pub fn validate(&self, accepted: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(FilterError::Invalid {
                name: k.clone(),
                value: None,
            }),
            None => Ok(()),
        }
    }

    /// A boolean filter: `true`/`1` or `false`/`0`; `default` when absent; an error when empty,
    /// unrecognised or contradictory.
    pub fn get_bool(&self, name: &str, default: bool) -> Result<bool, FilterError> {
        let Some(values) = self.fields.get(name) else {
            return Ok(default);
        };
        let is_true = values.contains("1") || values.contains("true");
        let is_false = values.contains("0") || values.contains("false");
        if is_true == is_false {
            return Err(FilterError::Invalid {
                name: name.to_string(),
                value: Some(values.iter().cloned().collect()),
            });
        }
        Ok(is_true)
    }

    /// `MatchKVList`: every `key` or `key=value` of the filter is among `labels`.
    pub fn match_labels(&self, name: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        let Some(values) = self.fields.get(name).filter(|v| !v.is_empty()) else {
            return true;
        };
        let Some(labels) = labels.filter(|l| !l.is_empty()) else {
            return false;
        };
        values.iter().all(|v| match v.split_once('=') {
            Some((k, want)) => labels.get(k).is_some_and(|have| have == want),
            None => labels.contains_key(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_args_and_values() {
        let mut f = Filters::new();
        f.add_arg(" Label = a=b ")
            .unwrap()
            .add_arg("dangling=true")
            .unwrap();
        assert_eq!(f.get("label").collect::<Vec<_>>(), ["a=b"]);
        assert_eq!(f.add_arg("nope").unwrap_err(), FilterError::Format);
        assert!(f.get_bool("dangling", false).unwrap());
        f.add("dangling", "0");
        assert_eq!(
            f.get_bool("dangling", false).unwrap_err().to_string(),
            "invalid filter 'dangling=[0 true]'"
        );
        f.add("color", "red");
        assert_eq!(
            f.validate(&ACCEPTED).unwrap_err().to_string(),
            "invalid filter 'color'"
        );
    }

    #[test]
    fn matches_labels_like_match_kv_list() {
        let labels: BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "".into())].into();
        let mut f = Filters::new();
        assert!(f.match_labels("label", None));
        f.add("label", "a");
        assert!(f.match_labels("label", Some(&labels)));
        assert!(!f.match_labels("label", None));
        f.add("label", "b=");
        assert!(f.match_labels("label", Some(&labels)));
        f.add("label", "a=2");
        assert!(!f.match_labels("label", Some(&labels)));
    }
}
