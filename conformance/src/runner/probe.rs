//! Reading what the probe printed: one JSON object per line, the first one
//! the `report`, then one result per action (see src/probe/actions.rs).

use crate::host::{MountInfo, parse_mountinfo};
use crate::outcome::{OrFail, Outcome, R};
use serde_json::Value;

pub struct Probe {
    pub lines: Vec<Value>,
}

impl Probe {
    /// Lines that are not JSON objects (a runtime's own chatter) are ignored.
    pub fn parse(text: &str) -> Probe {
        let lines = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("action").is_some())
            .collect();
        Probe { lines }
    }

    pub fn report(&self) -> R<&Value> {
        self.lines
            .iter()
            .find(|l| l["action"] == "report")
            .or_fail("the probe printed no report (did the process run?)")
    }

    /// The result line of action `name` with argument `arg` (the first one).
    pub fn result(&self, name: &str, arg: &str) -> R<&Value> {
        self.lines
            .iter()
            .find(|l| l["action"] == name && l["arg"] == arg && l.get("ok").is_some())
            .ok_or_else(|| Outcome::Fail(format!("the probe printed no result for {name}:{arg}")))
    }

    /// Ok(None) when the action succeeded, Ok(Some(errno)) when it failed with one.
    pub fn errno(&self, name: &str, arg: &str) -> R<Option<i64>> {
        let r = self.result(name, arg)?;
        if r["ok"] == true {
            return Ok(None);
        }
        match r["errno"].as_i64() {
            Some(e) => Ok(Some(e)),
            None => Err(Outcome::Fail(format!(
                "{name}:{arg} failed without errno: {r}"
            ))),
        }
    }

    pub fn mounts(&self) -> R<Vec<MountInfo>> {
        Ok(parse_mountinfo(&strings(&self.report()?["mountinfo"])))
    }

    /// A node under /dev from the report (`path` absolute).
    pub fn device(&self, path: &str) -> R<Option<&Value>> {
        let devs = self.report()?["devices"]
            .as_array()
            .or_fail("report without devices")?;
        Ok(devs.iter().find(|d| d["path"] == path))
    }
}

/// A JSON array of strings as a Vec (missing or mistyped items are skipped).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON array of unsigned numbers as a Vec.
pub fn numbers(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

pub const EPERM: i64 = libc::EPERM as i64;
pub const ENOENT: i64 = libc::ENOENT as i64;
pub const EACCES: i64 = libc::EACCES as i64;
pub const EROFS: i64 = libc::EROFS as i64;
pub const ENXIO: i64 = libc::ENXIO as i64;
pub const ENOSPC: i64 = libc::ENOSPC as i64;
