//! Case results: the per-case lines, the summary line, the results file
//! (tab-separated: case, clause, verdict, detail) and the comparison table.

use crate::cases::Case;
use crate::outcome::Outcome;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }
}

pub struct Result {
    pub case: &'static Case,
    pub verdict: Verdict,
    pub detail: String,
    pub took: Duration,
}

impl Result {
    pub fn new(case: &'static Case, r: crate::outcome::R, took: Duration) -> Result {
        let (verdict, detail) = match r {
            Ok(()) => (Verdict::Pass, String::new()),
            Err(Outcome::Fail(m)) => (Verdict::Fail, m),
            Err(Outcome::Skip(m)) => (Verdict::Skip, m),
        };
        Result {
            case,
            verdict,
            detail,
            took,
        }
    }
}

pub fn print(r: &Result) {
    let secs = r.took.as_secs_f64();
    match r.verdict {
        Verdict::Pass => println!("ok    {} ({secs:.2}s)", r.case.name),
        Verdict::Skip => println!("skip  {}: {}", r.case.name, r.detail),
        Verdict::Fail => {
            println!("FAIL  {} [{}] ({secs:.2}s)", r.case.name, r.case.clause);
            println!("      spec: {}", r.case.quote);
            println!("      got:  {}", r.detail);
        }
    }
}

pub fn summary(results: &[Result]) -> String {
    let count = |v| results.iter().filter(|r| r.verdict == v).count();
    let mut s = format!(
        "{} passed, {} failed",
        count(Verdict::Pass),
        count(Verdict::Fail)
    );
    let skipped = count(Verdict::Skip);
    if skipped > 0 {
        let _ = write!(s, ", {skipped} skipped");
    }
    s
}

pub fn write_results(path: &Path, results: &[Result]) -> std::io::Result<()> {
    let mut text = String::new();
    for r in results {
        let detail = r.detail.replace(['\t', '\n'], " ");
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{detail}",
            r.case.name,
            r.case.clause,
            r.verdict.word()
        );
    }
    std::fs::write(path, text)
}

/// Markdown: case, spec clause, then one column per `LABEL=FILE`, in the
/// suite's order, with a totals row.
pub fn table(specs: &[String], cases: &[&'static Case]) -> std::result::Result<String, String> {
    if specs.is_empty() {
        return Err("--table needs LABEL=FILE arguments".into());
    }
    let mut columns: Vec<(String, HashMap<String, String>)> = Vec::new();
    for s in specs {
        let (label, file) = s
            .split_once('=')
            .ok_or(format!("{s}: expected LABEL=FILE"))?;
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let verdicts = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some((f.first()?.to_string(), f.get(2)?.to_string()))
            })
            .collect();
        columns.push((label.to_owned(), verdicts));
    }
    let mut t = String::from("| case | spec clause |");
    let mut rule = String::from("| --- | --- |");
    for (label, _) in &columns {
        let _ = write!(t, " {label} |");
        rule.push_str(" --- |");
    }
    let _ = writeln!(t, "\n{rule}");
    for c in cases {
        if !columns.iter().any(|(_, v)| v.contains_key(c.name)) {
            continue;
        }
        let _ = write!(t, "| {} | {} |", c.name, c.clause);
        for (_, v) in &columns {
            let _ = write!(t, " {} |", v.get(c.name).map_or("-", String::as_str));
        }
        t.push('\n');
    }
    t.push_str("| **total** | |");
    for (_, v) in &columns {
        let n = |w: &str| v.values().filter(|x| *x == w).count();
        let _ = write!(
            t,
            " {} passed, {} failed, {} skipped |",
            n("pass"),
            n("fail"),
            n("skip")
        );
    }
    t.push('\n');
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: &mut crate::ctx::Ctx) -> crate::outcome::R {
        Ok(())
    }

    static CASE: Case = Case {
        name: "t.case",
        clause: "runtime.md#runtimeState",
        quote: "q",
        run: nothing,
    };

    fn result(r: crate::outcome::R) -> Result {
        Result::new(&CASE, r, Duration::ZERO)
    }

    #[test]
    fn summary_line_is_exact() {
        let rs = vec![
            result(Ok(())),
            result(Err(Outcome::Fail("x".into()))),
            result(Ok(())),
        ];
        assert_eq!(summary(&rs), "2 passed, 1 failed");
        let rs = vec![
            result(Ok(())),
            result(Err(Outcome::Skip("no time ns".into()))),
        ];
        assert_eq!(summary(&rs), "1 passed, 0 failed, 1 skipped");
    }
}
