//! What every image source (registry pull, OCI layout, docker archive)
//! hands to bundle creation.

use crate::digest::Digest;
use crate::image::ImageConfig;
use crate::unpack;

pub struct Image<'a> {
    /// The platform manifest's digest, when the source has manifests.
    pub manifest: Option<Digest>,
    pub config: ImageConfig,
    /// In order, bottom first.
    pub layers: Vec<unpack::Layer<'a>>,
}
