//! OCI image layouts written by the tests, to push with skopeo or to
//! unpack directly.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::layer::Compression;

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// An image to write: layer tars (uncompressed) with their compression,
/// the `config` object of the image config, and the architecture.
pub struct Image {
    pub layers: Vec<(Vec<u8>, Compression)>,
    pub config: Value,
    pub architecture: &'static str,
}

impl Image {
    pub fn new(config: Value) -> Image {
        Image {
            layers: Vec::new(),
            config,
            architecture: "amd64",
        }
    }

    pub fn layer(mut self, tar: Vec<u8>, compression: Compression) -> Image {
        self.layers.push((tar, compression));
        self
    }
}

/// A descriptor of something written to the layout.
#[derive(Clone)]
pub struct Desc {
    pub media_type: &'static str,
    pub digest: String,
    pub size: usize,
}

impl Desc {
    fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// What an image was written as: its manifest and its layer blobs.
pub struct Written {
    pub manifest: Desc,
    pub config: Desc,
    pub layers: Vec<Desc>,
}

pub struct Layout {
    pub dir: PathBuf,
    index: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let layout = Layout {
            dir: dir.to_path_buf(),
            index: Vec::new(),
        };
        layout.write_index();
        layout
    }

    pub fn blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        fs::write(self.blob_path(&digest), bytes).unwrap();
        digest
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    pub fn image(&self, image: &Image) -> Written {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (tar, compression) in &image.layers {
            let blob = compression.apply(tar);
            diff_ids.push(sha256(tar));
            layers.push(Desc {
                media_type: compression.media_type(),
                digest: self.blob(&blob),
                size: blob.len(),
            });
        }
        let config = serde_json::to_vec(&json!({
            "architecture": image.architecture,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": image.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config = Desc {
            media_type: "application/vnd.oci.image.config.v1+json",
            digest: self.blob(&config),
            size: config.len(),
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.json(),
            "layers": layers.iter().map(Desc::json).collect::<Vec<_>>(),
        }))
        .unwrap();
        let manifest = Desc {
            media_type: MANIFEST,
            digest: self.blob(&manifest),
            size: manifest.len(),
        };
        Written {
            manifest,
            config,
            layers,
        }
    }

    /// An index of manifests for the given architectures.
    pub fn index(&self, manifests: &[(&Desc, &str)]) -> Desc {
        let entries: Vec<Value> = manifests
            .iter()
            .map(|(d, arch)| {
                let mut v = d.json();
                v["platform"] = json!({"os": "linux", "architecture": arch});
                v
            })
            .collect();
        let bytes = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}),
        )
        .unwrap();
        Desc {
            media_type: INDEX,
            digest: self.blob(&bytes),
            size: bytes.len(),
        }
    }

    /// Names `desc` `tag` in index.json.
    pub fn tag(&mut self, tag: &str, desc: &Desc) {
        let mut v = desc.json();
        v["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.index.push(v);
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": self.index});
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}
