//! `rt list`: every container under the root, as runc's table or JSON.

use super::Result;
use crate::cli::{ListArgs, ListFormat};
use crate::state::{self, StateJson};
use std::path::Path;

pub fn run(root: &Path, args: &ListArgs) -> Result<i32> {
    let ids = state::list_ids(root)?;
    if args.quiet {
        for id in &ids {
            println!("{id}");
        }
        return Ok(0);
    }
    let states: Vec<StateJson> = ids
        .iter()
        // A container deleted while we list is simply not listed.
        .filter_map(|id| {
            state::read_record(root, id)
                .ok()
                .map(|r| StateJson::new(id, r, state::owner(root, id)))
        })
        .collect();
    match args.format {
        ListFormat::Json => println!("{}", json(&states)),
        ListFormat::Table => print!("{}", table(&states)),
    }
    Ok(0)
}

/// runc prints `null` for no containers; callers parse that.
fn json(states: &[StateJson]) -> String {
    if states.is_empty() {
        "null".into()
    } else {
        serde_json::to_string(states).expect("state serializes")
    }
}

/// runc's tabwriter layout: columns padded to the widest cell plus three,
/// at least twelve wide.
fn table(states: &[StateJson]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for s in states {
        rows.push([
            s.id.clone(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            match widths.get(c) {
                Some(w) => out += &format!("{cell:<w$}"),
                None => out += cell,
            }
        }
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_matches_runc() {
        assert_eq!(json(&[]), "null");
        assert_eq!(
            table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
