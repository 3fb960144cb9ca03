//! `ImageSummary` items (`GET /images/json`) and their filters.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::facts::{self, IndexTree};
use crate::engine::filters::{self, FilterError, Filters};
use crate::engine::inspect::{self, ManifestSummary, OciDescriptor};
use crate::engine::time::Timestamp;
use crate::engine::version::{ApiVersion, Store};
use crate::engine::EngineError;
use crate::model::select::SelectError;
use crate::model::{Archive, Image};

/// `ImageSummary`: one image of a listing (fields in the order Docker 28 writes them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageSummary {
    /// `Containers`: -1, "not computed" (nothing runs offline).
    #[serde(rename = "Containers")]
    pub containers: i64,
    /// `Created`: Unix seconds of the config's `created`, 0 when absent.
    #[serde(rename = "Created")]
    pub created: i64,
    /// `Id`.
    #[serde(rename = "Id")]
    pub id: String,
    /// `Labels`: the config's labels, `null` without any.
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `ParentId`: manifest.json `Parent`, `""` if none.
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    /// `Descriptor`: the `index.json` entry of the image, for images reached through one.
    #[serde(
        rename = "Descriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub descriptor: Option<OciDescriptor>,
    /// `Manifests` (on request).
    #[serde(rename = "Manifests", default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<ManifestSummary>>,
    /// `RepoDigests` (`null`, Go's nil list, only up to API 1.42, for an image with tags
    /// but no digests).
    #[serde(rename = "RepoDigests")]
    pub repo_digests: Option<Vec<String>>,
    /// `RepoTags` (`null` only up to API 1.42, for an image with digests but no tags).
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    /// `SharedSize`: -1 unless asked for.
    #[serde(rename = "SharedSize")]
    pub shared_size: i64,
    /// `Size`.
    #[serde(rename = "Size")]
    pub size: i64,
    /// `VirtualSize`: API < 1.44 only.
    #[serde(
        rename = "VirtualSize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_size: Option<i64>,
    /// Fields not modelled here, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Options of [`list`] (the query parameters of `GET /images/json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// `all`: also untagged images that other images are built on.
    pub all: bool,
    /// `filters`.
    pub filters: Filters,
    /// `shared-size`: compute `SharedSize`.
    pub shared_size: bool,
    /// `manifests`: include `Manifests`.
    pub manifests: bool,
    /// The time `until=<duration>` counts back from (Unix seconds); the current time if `None`.
    pub now: Option<i64>,
    /// The API version answered (see [`crate::engine::version`]).
    pub api_version: ApiVersion,
    /// The image store answered from.
    pub store: Store,
}

impl ListOptions {
    /// Sets [`ListOptions::all`].
    pub fn all(mut self, on: bool) -> Self {
        self.all = on;
        self
    }
    /// Sets [`ListOptions::filters`].
    pub fn filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }
    /// Sets [`ListOptions::shared_size`].
    pub fn shared_size(mut self, on: bool) -> Self {
        self.shared_size = on;
        self
    }
    /// Sets [`ListOptions::manifests`].
    pub fn manifests(mut self, on: bool) -> Self {
        self.manifests = on;
        self
    }
    /// Sets [`ListOptions::now`].
    pub fn now(mut self, unix: i64) -> Self {
        self.now = Some(unix);
        self
    }
}

fn lookup<'a>(archive: &'a Archive, name: &str) -> Result<&'a Image, EngineError> {
    archive.find_image(Some(name)).map_err(|e| match e {
        // The daemon names what it looked for: a name with its default tag (moby
        // `daemon/images/image.go` `GetImage` on the normalized reference).
        SelectError::NotFound(_) => {
            EngineError::NoSuchImage(match crate::reference::Reference::parse_normalized(name) {
                Ok(r) if !name.starts_with("sha256:") => r.with_default_tag().familiar_string(),
                _ => name.to_string(),
            })
        }
        other => EngineError::Select(other),
    })
}

/// The `before`/`until` and `since` bounds of the filters: (created before, created after).
fn time_bounds(
    archive: &Archive,
    f: &Filters,
    now: i64,
) -> Result<(Option<Timestamp>, Option<Timestamp>), EngineError> {
    let mut before: Option<Timestamp> = None;
    for name in f.get("before") {
        if let Some(t) = facts::created(lookup(archive, name)?) {
            before = Some(before.map_or(t, |b| b.min(t)));
        }
    }
    for value in f.get("until") {
        let t = until(value, now)?;
        before = Some(before.map_or(t, |b| b.min(t)));
    }
    let mut since: Option<Timestamp> = None;
    for name in f.get("since") {
        if let Some(t) = facts::created(lookup(archive, name)?) {
            since = Some(since.map_or(t, |s| s.max(t)));
        }
    }
    Ok((before, since))
}

/// Puts the image's digests and tags that the `reference` patterns (if any) match into the
/// summary.
fn names(
    digests: &[String],
    tags: &[String],
    patterns: &[&str],
) -> Result<(Vec<String>, Vec<String>), EngineError> {
    let (mut out_tags, mut out_digests) = (Vec::new(), Vec::new());
    for (r, is_tag) in digests
        .iter()
        .map(|d| (d, false))
        .chain(tags.iter().map(|t| (t, true)))
    {
        if !patterns.is_empty() && !matches_any(patterns, r)? {
            continue;
        }
        if is_tag {
            out_tags.push(r.clone());
        } else {
            out_digests.push(r.clone());
        }
    }
    Ok((out_tags, out_digests))
}

/// The images of `archive` as `GET /images/json` lists them after `docker load`, newest
/// first, with moby's filter semantics (graphdriver store, `daemon/images/image_list.go`):
///
/// - `dangling=true` keeps untagged images that no other image names as `Parent`;
///   `dangling=false` drops untagged images;
/// - `label=key` / `label=key=value`: every one must match the config's labels;
/// - `before=IMAGE` / `since=IMAGE`: strictly older / newer than the named image (several
///   values: the tightest bound); images without `created` never pass;
/// - `until=TIMESTAMP|DURATION`: created before the time (Unix seconds, RFC 3339, or a Go
///   duration counted back from [`ListOptions::now`]);
/// - `reference=PATTERN` (several: any): keeps the names matching the glob (`FamiliarMatch`)
///   and drops images left without one.
///
/// Without `all`, untagged images that are the `Parent` of another image are hidden.
pub fn list(archive: &Archive, opts: &ListOptions) -> Result<Vec<ImageSummary>, EngineError> {
    let f = &opts.filters;
    f.validate(&filters::ACCEPTED)?;
    let dangling_only = f.get_bool("dangling", false)?;
    let now = opts.now.unwrap_or_else(now_unix);
    let (before, since) = time_bounds(archive, f, now)?;
    let tree = IndexTree::read(archive);
    let v = opts.api_version;
    let ids: Vec<String> = archive
        .images
        .iter()
        .map(|i| facts::image_id_in(archive, &tree, i, opts.store))
        .collect();
    let has_children = |id: &str| {
        !id.is_empty()
            && archive
                .images
                .iter()
                .any(|o| o.parent.as_deref() == Some(id))
    };
    let patterns: Vec<&str> = f.get("reference").collect();
    let mut out: Vec<(usize, ImageSummary)> = Vec::new();
    for (n, (img, id)) in archive.images.iter().zip(&ids).enumerate() {
        if dangling_only && has_children(id) {
            continue;
        }
        let created = facts::created(img);
        if before.is_some_and(|b| created.is_none_or(|c| c >= b)) {
            continue;
        }
        if since.is_some_and(|s| created.is_none_or(|c| c <= s)) {
            continue;
        }
        let labels = facts::labels(img);
        if f.contains("label")
            && (img.config.is_none() || !f.match_labels("label", labels.as_ref()))
        {
            continue;
        }
        let top = facts::top_in_store(&tree, img, opts.store);
        let digests = inspect::repo_digests(archive, &tree, img, opts.store);
        let tags = facts::repo_tags(archive, img);
        let (tags, digests) = names(&digests, &tags, &patterns)?;
        let size = facts::image_size(archive, img);
        let untagged = tags.is_empty() && digests.is_empty();
        let has_tags = !tags.is_empty();
        // moby docker-v29.7.2 `image_routes.go` `getImagesJSON`: before 1.43 an image with
        // neither gets `<none>` placeholders and the other nil lists stay `null`; from 1.43
        // both are lists. Docker 20.10's own `image_list.go` answers the same.
        let (repo_tags, repo_digests) = if v.at_least(43) {
            (Some(tags), Some(digests))
        } else if untagged {
            (
                Some(vec!["<none>:<none>".to_string()]),
                Some(vec!["<none>@<none>".to_string()]),
            )
        } else {
            (
                Some(tags).filter(|t| !t.is_empty()),
                Some(digests).filter(|d| !d.is_empty()),
            )
        };
        let summary = ImageSummary {
            // Before 1.51 -1 ("not computed"); from 1.51 the number of containers using the
            // image: none, after a load.
            containers: if v.at_least(51) { 0 } else { -1 },
            created: created.map_or(0, |c| c.unix),
            id: id.clone(),
            labels,
            parent_id: facts::parent_id(archive, img),
            descriptor: top
                .filter(|_| v.at_least(48))
                .map(|t| inspect::descriptor(&t.desc)),
            manifests: top
                .filter(|_| opts.manifests && v.at_least(47))
                .map(|t| inspect::manifest_summaries(archive, t)),
            repo_digests,
            repo_tags,
            shared_size: -1,
            size,
            virtual_size: (!v.at_least(44)).then_some(size),
            extra: Map::new(),
        };
        if untagged {
            // Hidden: an intermediate image (without `all`), `dangling=false`, or a
            // `reference` filter none of whose patterns named it.
            let intermediate = !opts.all && has_children(id);
            if intermediate || (f.contains("dangling") && !dangling_only) || f.contains("reference")
            {
                continue;
            }
        } else if dangling_only && has_tags {
            continue;
        }
        out.push((n, summary));
    }
    if opts.shared_size {
        shared_sizes(archive, &mut out);
    }
    // Newest first; images created at the same second keep the archive's order.
    out.sort_by(|(a, x), (b, y)| y.created.cmp(&x.created).then(a.cmp(b)));
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

fn matches_any(patterns: &[&str], name: &str) -> Result<bool, EngineError> {
    let Ok(r) = crate::reference::Reference::parse_normalized(name) else {
        return Ok(false);
    };
    for p in patterns {
        if r.familiar_match(p).map_err(FilterError::from)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `SharedSize`: the sizes of the layers whose ChainID another image of the archive uses too.
fn shared_sizes(archive: &Archive, out: &mut [(usize, ImageSummary)]) {
    let chains: Vec<Vec<String>> = archive
        .images
        .iter()
        .map(|i| facts::chain_ids(&facts::diff_ids(i)))
        .collect();
    let mut refs: HashMap<&str, usize> = HashMap::new();
    for c in chains.iter().flatten() {
        {
            let n = refs.entry(c.as_str()).or_default();
            *n = n.saturating_add(1);
        }
    }
    for (n, summary) in out.iter_mut() {
        let (Some(img), Some(chain)) = (archive.images.get(*n), chains.get(*n)) else {
            continue;
        };
        summary.shared_size = chain
            .iter()
            .zip(&img.layers)
            .filter(|(c, _)| refs.get(c.as_str()).copied().unwrap_or(0) > 1)
            .fold(0i64, |acc, (_, l)| {
                acc.saturating_add(facts::layer_size(archive, l))
            });
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The time an `until` value names: a Go duration before `now`, Unix seconds
/// (`1700000000[.nnn]`), or an RFC 3339 time.
pub(crate) fn until(value: &str, now: i64) -> Result<Timestamp, FilterError> {
    let at = |unix: i64, nanos: u32| Timestamp {
        unix,
        nanos,
        offset_minutes: 0,
    };
    if value != "0" {
        if let Some(d) = go_duration_nanos(value) {
            let t = i128::from(now)
                .saturating_mul(1_000_000_000)
                .saturating_sub(d);
            let unix = i64::try_from(t.div_euclid(1_000_000_000)).unwrap_or(i64::MIN);
            let nanos = u32::try_from(t.rem_euclid(1_000_000_000)).unwrap_or(0);
            return Ok(at(unix, nanos));
        }
    }
    if let Some(t) = Timestamp::parse(value) {
        return Ok(t);
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let unix = secs
        .parse::<i64>()
        .ok()
        .filter(|_| frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()));
    match unix {
        Some(unix) => {
            let nanos = format!("{frac:0<9}").parse::<u32>().unwrap_or(0);
            Ok(at(unix, nanos))
        }
        None => Err(FilterError::Time(value.to_string())),
    }
}

/// Go's `time.ParseDuration` in nanoseconds (`1h30m`, `1.5h`, `-10s`, `300ms`, `0`).
pub(crate) fn go_duration_nanos(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut v = int.checked_mul(scale)?;
        let mut place = scale;
        for d in frac.bytes() {
            place /= 10;
            let digit = d.checked_sub(b'0').filter(|x| *x < 10)?;
            v = v.checked_add(i128::from(digit).checked_mul(place)?)?;
        }
        total = total.checked_add(v)?;
        rest = tail;
    }
    if neg {
        total.checked_neg()
    } else {
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_durations_are_rejected_not_overflowed() {
        assert_eq!(go_duration_nanos("1.xs"), None);
        assert_eq!(go_duration_nanos("1.5/s"), None);
        let huge = format!("{}h", "9".repeat(40));
        assert_eq!(go_duration_nanos(&huge), None);
        assert!(until(&format!("{}h", "9".repeat(20)), i64::MAX).is_ok());
    }

    #[test]
    fn durations_and_until() {
        assert_eq!(go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("-10s"), Some(-10_000_000_000));
        assert_eq!(go_duration_nanos("300ms"), Some(300_000_000));
        assert_eq!(go_duration_nanos("2"), None);
        assert_eq!(go_duration_nanos("h"), None);
        assert_eq!(until("1h", 7200).unwrap().unix, 3600);
        assert_eq!(until("1500000000.5", 0).unwrap().nanos, 500_000_000);
        assert_eq!(until("0", 99).unwrap().unix, 0);
        assert_eq!(
            until("2020-01-01T00:00:00Z", 0).unwrap().unix,
            1_577_836_800
        );
        assert!(until("last tuesday", 0).is_err());
    }
}

crate::engine::version::daemon_setters!(ListOptions);
