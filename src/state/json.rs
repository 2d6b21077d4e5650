//! The state JSON of runtime.md "State", field for field runc's: what `state`
//! prints, `list -f json` lists and every hook reads on stdin.

use super::{Record, Status};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

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
        // runtime.md: pid is required while created or running only.
        let pid = if status == Status::Stopped { 0 } else { r.pid };
        StateJson::with(&r, status, pid, owner)
    }

    /// The state a hook gets: the status its lifecycle step implies and the
    /// PID as seen from the namespace the hook runs in.
    pub fn for_hook(record: &Record, status: Status, pid: i32) -> Vec<u8> {
        let json = StateJson::with(record, status, pid, String::new());
        serde_json::to_vec(&json).expect("state serializes")
    }

    fn with(r: &Record, status: Status, pid: i32, owner: String) -> StateJson {
        StateJson {
            oci_version: "1.3.0",
            id: r.id.clone(),
            pid,
            status,
            bundle: r.bundle.clone(),
            rootfs: r.rootfs.clone(),
            created: r.created.clone(),
            owner,
            annotations: r.annotations.clone(),
        }
    }
}
