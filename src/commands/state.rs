//! `rt state`: the state JSON of runtime.md, with runc's fields.

use super::Result;
use crate::state::{self, Record, Status};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The JSON `state` prints and `list -f json` lists, field for field runc's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateJson {
    pub oci_version: &'static str,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl StateJson {
    /// A container mid-`create` has no record yet; it shows as `creating`.
    /// `owner` is filled by `list` only, as runc does.
    pub fn new(id: &str, record: Option<Record>, owner: String) -> StateJson {
        let Some(r) = record else {
            return StateJson {
                oci_version: "1.3.0",
                id: id.to_string(),
                pid: 0,
                status: Status::Creating,
                bundle: PathBuf::new(),
                rootfs: PathBuf::new(),
                created: String::new(),
                owner,
                annotations: HashMap::new(),
            };
        };
        let status = r.live_status();
        StateJson {
            oci_version: "1.3.0",
            // runtime.md: pid is required while created or running only.
            pid: if status == Status::Stopped { 0 } else { r.pid },
            status,
            id: r.id,
            bundle: r.bundle,
            rootfs: r.rootfs,
            created: r.created,
            owner,
            annotations: r.annotations,
        }
    }
}

pub fn run(root: &Path, id: &str) -> Result<i32> {
    let record = state::read_record(root, id)?;
    let json = StateJson::new(id, record, String::new());
    println!(
        "{}",
        serde_json::to_string_pretty(&json).expect("state serializes")
    );
    Ok(0)
}
