//! The image formats rt-bundle reads: OCI image manifests and indexes,
//! Docker schema 2 manifests and manifest lists (the same JSON shape with
//! other media types), and the image config.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::platform::Platform;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Every manifest type we understand, for Accept headers.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Manifests and configs are small; a bigger one is an attack or a mistake.
pub const MAX_JSON: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: Docker schema 1 manifests are not supported (re-push the image)")]
    Schema1 { what: String },
    #[error("{what}: unsupported manifest media type {media_type:?}")]
    MediaType { what: String, media_type: String },
    #[error("{what}: invalid JSON: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("{what}: no manifest for platform {platform} (the index has: {available})")]
    NoPlatform {
        what: String,
        platform: String,
        available: String,
    },
    #[error("{what}: layer {digest} has foreign URLs, which rt-bundle does not fetch")]
    Foreign { what: String, digest: Digest },
    #[error("{what}: {layers} layers but {diff_ids} diff_ids in the config")]
    DiffIds {
        what: String,
        layers: usize,
        diff_ids: usize,
    },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub urls: Vec<String>,
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

pub enum Parsed {
    Image(Manifest),
    Index(Index),
}

/// Just enough of a manifest to tell which kind it is when the transport
/// did not say.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    schema_version: Option<u32>,
}

/// Parses a manifest or index. `media_type` is what the registry said
/// (Content-Type) or what the parent descriptor said; without one, the
/// document's own mediaType, or its shape, decides.
pub fn parse_manifest(what: &str, media_type: Option<&str>, bytes: &[u8]) -> Result<Parsed, Error> {
    let json_err = |source| Error::Json {
        what: what.to_string(),
        source,
    };
    let probe: Probe = serde_json::from_slice(bytes).map_err(json_err)?;
    let declared = media_type
        .filter(|m| !m.is_empty() && *m != "application/json" && *m != "text/plain")
        .map(str::to_string)
        .or(probe.media_type);
    let kind = match declared.as_deref() {
        Some(m) => m.to_string(),
        None if probe.schema_version == Some(1) => DOCKER_SCHEMA1[0].to_string(),
        None if probe.manifests.is_some() => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    };
    match kind.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(Parsed::Image(
            serde_json::from_slice(bytes).map_err(json_err)?,
        )),
        OCI_INDEX | DOCKER_LIST => Ok(Parsed::Index(
            serde_json::from_slice(bytes).map_err(json_err)?,
        )),
        m if DOCKER_SCHEMA1.contains(&m) => Err(Error::Schema1 {
            what: what.to_string(),
        }),
        m => Err(Error::MediaType {
            what: what.to_string(),
            media_type: m.to_string(),
        }),
    }
}

impl Index {
    /// The first manifest for `platform`, as docker picks.
    pub fn select(&self, what: &str, platform: &Platform) -> Result<&Descriptor, Error> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
            .ok_or_else(|| Error::NoPlatform {
                what: what.to_string(),
                platform: platform.to_string(),
                available: self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Manifest {
    /// Refuses layers we would have to fetch from elsewhere than the
    /// registry (Windows base layers); nothing Linux needs them.
    pub fn check_layers(&self, what: &str) -> Result<(), Error> {
        match self.layers.iter().find(|l| !l.urls.is_empty()) {
            Some(l) => Err(Error::Foreign {
                what: what.to_string(),
                digest: l.digest.clone(),
            }),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    pub variant: Option<String>,
    #[serde(rename = "os.version")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features")]
    pub os_features: Option<Vec<String>>,
    pub author: Option<String>,
    pub created: Option<String>,
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// The `config` object. Docker writes `null` for absent lists, so every
/// field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    pub user: Option<String>,
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub env: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
}

impl ImageConfig {
    pub fn parse(what: &str, bytes: &[u8]) -> Result<ImageConfig, Error> {
        serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: what.to_string(),
            source,
        })
    }

    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }

    /// The diff_ids must pair up with the manifest's layers.
    pub fn check_layers(&self, what: &str, layers: usize) -> Result<(), Error> {
        if self.rootfs.diff_ids.len() == layers {
            Ok(())
        } else {
            Err(Error::DiffIds {
                what: what.to_string(),
                layers,
                diff_ids: self.rootfs.diff_ids.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn tells_kinds_apart() {
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,
               "platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#
        );
        let Parsed::Index(i) = parse_manifest("x", None, index.as_bytes()).unwrap() else {
            panic!("not an index");
        };
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(i.select("x", &arm).unwrap().digest.to_string(), D);
        let amd = Platform::parse("linux/amd64").unwrap();
        let err = i.select("x", &amd).unwrap_err().to_string();
        assert!(err.contains("the index has: linux/arm64"), "{err}");

        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{D}","size":1}},"layers":[]}}"#
        );
        assert!(matches!(
            parse_manifest("x", Some(DOCKER_MANIFEST), manifest.as_bytes()),
            Ok(Parsed::Image(_))
        ));
        let v1 = r#"{"schemaVersion":1,"name":"x"}"#;
        let err = parse_manifest("x", None, v1.as_bytes()).err().unwrap();
        assert!(err.to_string().contains("schema 1"));
    }

    #[test]
    fn docker_nulls() {
        let c = r#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":["sh"],"Entrypoint":null},
                    "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::parse("cfg", c.as_bytes()).unwrap();
        let cc = c.config.unwrap();
        assert_eq!(cc.cmd.unwrap(), ["sh"]);
        assert!(cc.env.is_none() && cc.entrypoint.is_none());
    }
}
