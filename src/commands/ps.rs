//! `rt ps`: the container's processes, as runc shows them: `ps -ef` (or the
//! given ps options) filtered to the PIDs in the container's cgroup, or a
//! JSON array of those PIDs.

use super::{Error, Result};
use crate::cli::{ListFormat, PsArgs};
use crate::linux::cgroups;
use crate::state;
use std::path::Path;

pub fn run(root: &Path, args: &PsArgs) -> Result<i32> {
    let record = state::read_record(root, &args.id)?
        .ok_or_else(|| Error::Refused("container is still being created".into()))?;
    let pids = cgroups::procs(&record.cgroup_dirs);
    if args.format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids).expect("pids serialize"));
        return Ok(0);
    }
    let ps_args: Vec<&str> = if args.ps_args.is_empty() {
        vec!["-ef"]
    } else {
        args.ps_args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .map_err(|source| Error::Io {
            op: "run",
            path: "ps".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    print!("{}", filter(&String::from_utf8_lossy(&out.stdout), &pids)?);
    Ok(0)
}

/// ps's header and the lines whose PID column is one of `pids`.
fn filter(table: &str, pids: &[i32]) -> Result<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Usage("ps output has no PID column".into()))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_header_and_the_container_pids() {
        let table = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sh\nroot 420 42 sleep\n";
        assert_eq!(
            filter(table, &[42]).unwrap(),
            "UID PID PPID CMD\nroot 42 1 sh\n"
        );
        assert!(filter("UID CMD\n", &[1]).is_err());
    }
}
