//! `rt state`: the state JSON of runtime.md, with runc's fields.

use super::Result;
use crate::state::{self, StateJson};
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<i32> {
    let record = state::read_record(root, id)?;
    let json = StateJson::new(id, record, String::new());
    println!(
        "{}",
        serde_json::to_string_pretty(&json).expect("state serializes")
    );
    Ok(0)
}
