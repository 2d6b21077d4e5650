//! `rt spec`: write the default config.json (see `rt::defaults`).

use super::{Error, Result};
use crate::cli::SpecArgs;
use rt::defaults::{default_spec, rootless};
use std::io::Write;

pub fn run(args: &SpecArgs) -> Result<i32> {
    let path = args.bundle.join("config.json");
    let spec = if args.rootless {
        rootless()
    } else {
        default_spec()
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Error::Refused(format!("{} exists; remove it first", path.display()))
            }
            _ => Error::Io {
                op: "create",
                path: path.clone(),
                source,
            },
        })?;
    let text = serde_json::to_string_pretty(&spec).expect("spec serializes") + "\n";
    f.write_all(text.as_bytes()).map_err(|source| Error::Io {
        op: "write",
        path,
        source,
    })?;
    Ok(0)
}
