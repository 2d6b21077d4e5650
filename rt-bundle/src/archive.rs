//! Images in a `docker save` archive: a tar with manifest.json listing, per
//! image, its config file and its layer tars. Members are read in place
//! (by offset) rather than extracted. Layer file names are not digests in
//! the older format, so layers are checked against the config's diff_ids,
//! and the config against its own file name.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::{self, Digest};
use crate::image::{self, ImageConfig, MAX_JSON};
use crate::source::Image;
use crate::unpack;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: no manifest.json: not a docker save archive")]
    NoManifest { path: PathBuf },
    #[error("{path}: manifest.json: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: no member {member:?}, which manifest.json names")]
    Missing { path: PathBuf, member: String },
    #[error("{path}: no image tagged {tag:?} (tags: {tags})")]
    NoTag {
        path: PathBuf,
        tag: String,
        tags: String,
    },
    #[error("{path}: {count} images; say which with docker-archive:FILE:NAME:TAG (tags: {tags})")]
    Ambiguous {
        path: PathBuf,
        count: usize,
        tags: String,
    },
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error(transparent)]
    Digest(#[from] digest::Error),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Where a member's data lies in the archive.
#[derive(Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

/// Opens the image tagged `tag` (as in RepoTags), or the only one.
pub fn open(path: &Path, tag: Option<&str>) -> Result<Image<'static>, Error> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let members = index(path).map_err(io_err)?;
    let manifest = members
        .get("manifest.json")
        .ok_or_else(|| Error::NoManifest {
            path: path.to_path_buf(),
        })?;
    let bytes = read_member(path, *manifest, MAX_JSON).map_err(io_err)?;
    let entries: Vec<Entry> = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let entry = pick(path, &entries, tag)?;
    let member = |name: &str| {
        members
            .get(normalize(name))
            .copied()
            .ok_or_else(|| Error::Missing {
                path: path.to_path_buf(),
                member: name.to_string(),
            })
    };
    let config_bytes = read_member(path, member(&entry.config)?, MAX_JSON).map_err(io_err)?;
    let config_what = format!("{}: {}", path.display(), entry.config);
    if let Some(d) = digest_in_name(&entry.config) {
        d.verify(&config_what, &config_bytes)?;
    }
    let config = ImageConfig::parse(&config_what, &config_bytes)?;
    config.check_layers(&config_what, entry.layers.len())?;
    let count = entry.layers.len();
    let mut layers = Vec::with_capacity(count);
    for (i, (name, diff_id)) in entry.layers.iter().zip(&config.rootfs.diff_ids).enumerate() {
        let m = member(name)?;
        let mut file = File::open(path).map_err(io_err)?;
        file.seek(SeekFrom::Start(m.offset)).map_err(io_err)?;
        layers.push(unpack::Layer {
            label: format!("layer {}/{count} {name}", i + 1),
            blob: Box::new(file.take(m.size)),
            digest: digest_in_name(name),
            diff_id: diff_id.clone(),
        });
    }
    Ok(Image {
        manifest: None,
        config,
        layers,
    })
}

fn pick<'e>(path: &Path, entries: &'e [Entry], tag: Option<&str>) -> Result<&'e Entry, Error> {
    let tags = || {
        let all: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.repo_tags.iter().flatten().map(String::as_str))
            .collect();
        if all.is_empty() {
            "none".to_string()
        } else {
            all.join(", ")
        }
    };
    match (tag, entries) {
        (Some(t), _) => entries
            .iter()
            .find(|e| e.repo_tags.iter().flatten().any(|r| r == t))
            .ok_or_else(|| Error::NoTag {
                path: path.to_path_buf(),
                tag: t.to_string(),
                tags: tags(),
            }),
        (None, [only]) => Ok(only),
        (None, all) => Err(Error::Ambiguous {
            path: path.to_path_buf(),
            count: all.len(),
            tags: tags(),
        }),
    }
}

/// The regular files in the archive, by normalized name.
fn index(path: &Path) -> io::Result<HashMap<String, Member>> {
    let mut archive = tar::Archive::new(File::open(path)?);
    let mut out = HashMap::new();
    for entry in archive.entries_with_seek()? {
        let entry = entry?;
        if entry.header().entry_type().is_file() {
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let member = Member {
                offset: entry.raw_file_position(),
                size: entry.size(),
            };
            out.insert(normalize(&name).to_string(), member);
        }
    }
    Ok(out)
}

fn normalize(name: &str) -> &str {
    name.trim_start_matches("./")
}

fn read_member(path: &Path, m: Member, limit: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(m.offset))?;
    let mut bytes = Vec::new();
    f.take(m.size.min(limit)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `blobs/sha256/<hex>` (newer docker) or `<hex>.json` (older configs).
fn digest_in_name(name: &str) -> Option<Digest> {
    let name = normalize(name);
    if let Some(rest) = name.strip_prefix("blobs/")
        && let Some((algo, hex)) = rest.split_once('/')
    {
        return format!("{algo}:{hex}").parse().ok();
    }
    let hex = name.strip_suffix(".json")?;
    format!("sha256:{hex}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_member_names() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            digest_in_name(&format!("blobs/sha256/{hex}"))
                .unwrap()
                .hex(),
            hex
        );
        assert_eq!(digest_in_name(&format!("./{hex}.json")).unwrap().hex(), hex);
        assert!(digest_in_name("abc/layer.tar").is_none());
        assert!(digest_in_name("config.json").is_none());
    }
}
