//! Layer unpacking: each layer (gzip, zstd or plain tar, told apart by
//! their magic numbers, as media types are not always right) is applied in
//! order onto the rootfs, and both its blob digest and its diff_id (the
//! digest of the uncompressed tar) are checked on the way.

mod entry;
pub mod root;

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::digest::{self, Digest, HashReader};

pub use entry::{Skipped, Whiteouts};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{layer}: {source}")]
    Entry { layer: String, source: entry::Error },
    #[error("{layer}: reading: {source}")]
    Read { layer: String, source: io::Error },
    #[error(transparent)]
    Digest(#[from] digest::Error),
    #[error(transparent)]
    Root(#[from] root::Error),
}

/// One layer to apply: a reader of its blob as stored, the blob's digest
/// when the source has one (a `docker save` archive does not), and the
/// diff_id from the image config.
pub struct Layer<'a> {
    pub label: String,
    pub blob: Box<dyn Read + 'a>,
    pub digest: Option<Digest>,
    pub diff_id: Digest,
}

/// Applies `layers` in order to the (empty) directory `rootfs`. With
/// `privileged`, owners and device nodes are reproduced; without, they are
/// counted in the result.
pub fn unpack<'a>(
    rootfs: &Path,
    layers: impl IntoIterator<Item = Layer<'a>>,
    privileged: bool,
    whiteouts: Whiteouts,
) -> Result<Skipped, Error> {
    let root = root::Root::open(rootfs)?;
    let mut applier = entry::Applier::new(&root, privileged, whiteouts);
    for layer in layers {
        apply_layer(&mut applier, layer)?;
    }
    Ok(applier.skipped)
}

fn apply_layer(applier: &mut entry::Applier<'_>, layer: Layer<'_>) -> Result<(), Error> {
    let read_err = |source| Error::Read {
        layer: layer.label.clone(),
        source,
    };
    let blob_algorithm = layer
        .digest
        .as_ref()
        .map_or(layer.diff_id.algorithm(), Digest::algorithm);
    let mut blob = HashReader::new(layer.blob, blob_algorithm);
    let decompressed =
        decompress(BufReader::with_capacity(256 << 10, &mut blob)).map_err(read_err)?;
    let mut archive = tar::Archive::new(HashReader::new(decompressed, layer.diff_id.algorithm()));
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        applier.apply(&mut entry).map_err(|source| Error::Entry {
            layer: layer.label.clone(),
            source,
        })?;
    }
    applier.finish_layer().map_err(|source| Error::Entry {
        layer: layer.label.clone(),
        source,
    })?;
    let (diff_id, _) = archive.into_inner().finish().map_err(read_err)?;
    let (blob_digest, _) = blob.finish().map_err(read_err)?;
    if let Some(expected) = &layer.digest {
        expected.check(&layer.label, blob_digest)?;
    }
    layer.diff_id.check(
        &format!(
            "{} (uncompressed, against the config's diff_id)",
            layer.label
        ),
        diff_id,
    )?;
    Ok(())
}

/// Picks the decompressor by the stream's first bytes.
fn decompress<'r, R: BufRead + 'r>(mut r: R) -> io::Result<Box<dyn Read + 'r>> {
    let head = r.fill_buf()?;
    Ok(if head.starts_with(GZIP_MAGIC) {
        Box::new(flate2::bufread::MultiGzDecoder::new(r))
    } else if head.starts_with(ZSTD_MAGIC) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else {
        Box::new(r)
    })
}
