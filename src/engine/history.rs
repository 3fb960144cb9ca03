//! `ImageHistory` items (`GET /images/{name}/history`).

use serde::{Deserialize, Serialize};

use crate::engine::facts;
use crate::engine::time::Timestamp;
use crate::engine::version::{ApiVersion, Store};
use crate::engine::EngineError;
use crate::model::{Archive, Image, ImageSource};

/// One history item (fields in the order Docker writes them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryItem {
    /// `Comment`.
    #[serde(rename = "Comment")]
    pub comment: String,
    /// `Created`: Unix seconds, 0 when unknown.
    #[serde(rename = "Created")]
    pub created: i64,
    /// `CreatedBy`.
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    /// `Id`: the image this entry made, or `<missing>` when that image is not known.
    #[serde(rename = "Id")]
    pub id: String,
    /// `Size`: the size the entry's layer adds (0 for `empty_layer` entries).
    #[serde(rename = "Size")]
    pub size: i64,
    /// `Tags`: the tags of the image in `Id` (`null` without any).
    #[serde(rename = "Tags")]
    pub tags: Option<Vec<String>>,
}

fn unix(created: Option<&str>) -> i64 {
    created.and_then(Timestamp::parse).map_or(0, |t| t.unix)
}

fn tags(archive: &Archive, image: &Image) -> Option<Vec<String>> {
    Some(facts::repo_tags(archive, image)).filter(|t| !t.is_empty())
}

/// The history of `image`, newest first, as moby's `ImageHistory` builds it: one item per
/// config `history` entry, each non-empty entry sized by its layer; the newest item carries the
/// image's ID and tags, and each next one its `Parent`'s while the parent is in the archive.
///
/// A pre-1.10 image has no config history: like `docker load`'s legacy path, each layer
/// directory of the chain gives one item (its `json`'s `created`, `author`, `comment`, and
/// `container_config.Cmd` joined by spaces), identified by its v1 ID.
pub fn history(archive: &Archive, image: &Image) -> Result<Vec<HistoryItem>, EngineError> {
    history_with(archive, image, &HistoryOptions::default())
}

/// Options of [`history_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryOptions {
    /// The API version answered (the items have the same fields in 1.41 to 1.55).
    pub api_version: ApiVersion,
    /// The image store answered from: the containerd store names the newest item by the
    /// image's target digest and knows no parent images.
    pub store: Store,
}

/// [`history`] as the daemon of `opts` answers it.
pub fn history_with(
    archive: &Archive,
    image: &Image,
    opts: &HistoryOptions,
) -> Result<Vec<HistoryItem>, EngineError> {
    if let (ImageSource::Legacy { .. }, None) = (&image.source, &image.id) {
        // A chain the loader could not load: its directories as they are.
        return Ok(legacy(archive, image));
    }
    let Some(config) = &image.config else {
        return Ok(Vec::new());
    };
    let mut items: Vec<HistoryItem> = Vec::with_capacity(config.history.len());
    let mut layer = 0usize;
    for h in &config.history {
        let mut size = 0;
        if !h.empty_layer {
            if config.diff_ids.len() <= layer {
                return Err(EngineError::TooManyNonEmptyLayers);
            }
            size = image
                .layers
                .get(layer)
                .map_or(0, |l| facts::layer_size(archive, l));
            layer = layer.saturating_add(1);
        }
        items.push(HistoryItem {
            comment: h.comment.clone().unwrap_or_default(),
            created: unix(h.created.as_deref()),
            created_by: h.created_by.clone().unwrap_or_default(),
            id: "<missing>".to_string(),
            size,
            tags: None,
        });
    }
    items.reverse();
    let mut current = Some(image);
    let tree = facts::IndexTree::read(archive);
    for item in &mut items {
        let Some(img) = current else { break };
        item.id = facts::image_id_in(archive, &tree, img, opts.store);
        item.tags = tags(archive, img);
        if opts.store == Store::Containerd {
            break;
        }
        current = img.parent.as_deref().and_then(|p| {
            archive
                .images
                .iter()
                .find(|o| o.id.as_ref().is_some_and(|d| d.to_string() == p))
        });
    }
    Ok(items)
}

fn legacy(archive: &Archive, image: &Image) -> Vec<HistoryItem> {
    let mut items: Vec<HistoryItem> = image
        .layers
        .iter()
        .map(|l| {
            let dir = l
                .path
                .as_deref()
                .and_then(|p| p.strip_suffix("/layer.tar"))
                .unwrap_or_default()
                .to_string();
            let json = archive
                .member(&crate::path::EntryPath::from(
                    format!("{dir}/json").as_str(),
                ))
                .and_then(|m| m.data())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .unwrap_or_default();
            let s = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            let cmd = json
                .get("container_config")
                .and_then(|c| c.get("Cmd"))
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let named: Vec<String> = archive
                .images
                .iter()
                .filter(|o| matches!(&o.source, ImageSource::Legacy { top } if *top == dir))
                .flat_map(|o| facts::repo_tags(archive, o))
                .collect();
            HistoryItem {
                comment: s("comment").to_string(),
                created: unix(Some(s("created"))),
                created_by: cmd,
                id: dir,
                size: facts::layer_size(archive, l),
                tags: Some(named).filter(|t| !t.is_empty()),
            }
        })
        .collect();
    items.reverse();
    items
}

crate::engine::version::daemon_setters!(HistoryOptions);
