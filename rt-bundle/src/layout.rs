//! Images in an OCI image layout directory (`oci:DIR[:TAG]`): index.json,
//! then an index or manifest per platform, then config and layers, all
//! under blobs/ and all checked against their digests as they are read.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{self, Digest};
use crate::image::{self, Descriptor, ImageConfig, Index, MAX_JSON, Parsed};
use crate::platform::Platform;
use crate::source::Image;
use crate::unpack;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: not an OCI image layout (no oci-layout file)")]
    NotLayout(PathBuf),
    #[error("{dir}: no image tagged {tag:?} (tags: {tags})")]
    NoTag {
        dir: PathBuf,
        tag: String,
        tags: String,
    },
    #[error("{dir}: {count} images in index.json; say which with oci:DIR:TAG (tags: {tags})")]
    Ambiguous {
        dir: PathBuf,
        count: usize,
        tags: String,
    },
    #[error("{0}: index.json lists no images")]
    Empty(PathBuf),
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error(transparent)]
    Digest(#[from] digest::Error),
}

/// Opens the image `tag` (or the only one) for `platform`.
pub fn open(dir: &Path, tag: Option<&str>, platform: &Platform) -> Result<Image<'static>, Error> {
    if !dir.join("oci-layout").is_file() {
        return Err(Error::NotLayout(dir.to_path_buf()));
    }
    let index_path = dir.join("index.json");
    let bytes = read_limited(&index_path)?;
    let what = index_path.display().to_string();
    // Told it is an index, the parser returns one or fails.
    let Parsed::Index(top) = image::parse_manifest(&what, Some(image::OCI_INDEX), &bytes)? else {
        return Err(Error::Empty(dir.to_path_buf()));
    };
    let desc = pick(dir, &top, tag)?.clone();
    let (manifest_digest, manifest) = resolve(dir, &desc, platform)?;
    manifest.check_layers(&what)?;
    let config_what = format!("{} config {}", dir.display(), manifest.config.digest);
    let config = ImageConfig::parse(&config_what, &read_blob(dir, &manifest.config.digest)?)?;
    config.check_layers(&config_what, manifest.layers.len())?;
    let count = manifest.layers.len();
    let mut layers = Vec::with_capacity(count);
    for (i, (l, diff_id)) in manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .enumerate()
    {
        let path = blob_path(dir, &l.digest);
        let file = File::open(&path).map_err(|source| Error::Io { path, source })?;
        layers.push(unpack::Layer {
            label: format!("layer {}/{count} {}", i + 1, l.digest),
            blob: Box::new(file),
            digest: Some(l.digest.clone()),
            diff_id: diff_id.clone(),
        });
    }
    Ok(Image {
        manifest: Some(manifest_digest),
        config,
        layers,
    })
}

/// The index.json entry for `tag`, or the only entry.
fn pick<'i>(dir: &Path, top: &'i Index, tag: Option<&str>) -> Result<&'i Descriptor, Error> {
    let tags = || {
        let names: Vec<&str> = top
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    match (tag, top.manifests.as_slice()) {
        (_, []) => Err(Error::Empty(dir.to_path_buf())),
        (Some(t), all) => all
            .iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(t))
            .ok_or_else(|| Error::NoTag {
                dir: dir.to_path_buf(),
                tag: t.to_string(),
                tags: tags(),
            }),
        (None, [only]) => Ok(only),
        (None, all) => Err(Error::Ambiguous {
            dir: dir.to_path_buf(),
            count: all.len(),
            tags: tags(),
        }),
    }
}

/// Follows an index (nested ones too, as layouts may nest) down to the
/// manifest for `platform`.
fn resolve(
    dir: &Path,
    desc: &Descriptor,
    platform: &Platform,
) -> Result<(Digest, image::Manifest), Error> {
    let mut desc = desc.clone();
    // A layout could nest indexes in a loop; real ones are one or two deep.
    for _ in 0..8 {
        let bytes = read_blob(dir, &desc.digest)?;
        let what = format!("{} manifest {}", dir.display(), desc.digest);
        match image::parse_manifest(&what, Some(&desc.media_type), &bytes)? {
            Parsed::Image(m) => return Ok((desc.digest, m)),
            Parsed::Index(i) => desc = i.select(&what, platform)?.clone(),
        }
    }
    Err(image::Error::MediaType {
        what: dir.display().to_string(),
        media_type: "indexes nested too deep".into(),
    }
    .into())
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().name()).join(d.hex())
}

/// A manifest or config blob, checked.
fn read_blob(dir: &Path, d: &Digest) -> Result<Vec<u8>, Error> {
    let path = blob_path(dir, d);
    let bytes = read_limited(&path)?;
    d.verify(&path.display().to_string(), &bytes)?;
    Ok(bytes)
}

fn read_limited(path: &Path) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_JSON).read_to_end(&mut bytes))
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}
