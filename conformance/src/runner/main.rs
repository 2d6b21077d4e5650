//! The conformance runner (built and started by conformance/run.sh):
//!
//!   runner --probe PROBE [--results FILE] RUNTIME [FILTER]
//!       runs every case whose name contains FILTER (comma-separated
//!       alternatives) against RUNTIME; the last line is
//!       `N passed, M failed[, K skipped]`; exit 1 when M > 0.
//!   runner --list             the cases, with their spec clauses
//!   runner --table LABEL=FILE...
//!       a markdown table of several --results files, one column each.

mod bundle;
mod cases;
mod cleanup;
mod ctx;
mod host;
mod outcome;
mod probe;
mod report;
mod runtime;

use cases::Case;
use ctx::Ctx;
use outcome::Outcome;
use report::{Result as CaseResult, Verdict};
use runtime::Runtime;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Where case directories go (per run: BASE/<runtime>-<pid>/<case>).
const BASE: &str = "/tmp/rt-conformance";

/// The runner's own oom_score_adj, inherited by every runtime call: a case
/// checks that a container without `oomScoreAdj` keeps it.
pub const RUNNER_OOM_SCORE_ADJ: i32 = 123;

/// A supplementary group of the runner, inherited by every runtime call: the
/// container must get only the groups its config asks for.
pub const RUNNER_GROUP: libc::gid_t = 4242;

struct Options {
    probe: Option<PathBuf>,
    results: Option<PathBuf>,
    runtime: Option<String>,
    filter: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--list") => {
            for c in cases::all() {
                println!("{:<44} {}", c.name, c.clause);
            }
            ExitCode::SUCCESS
        }
        Some("--table") => match report::table(&args[1..], &cases::all()) {
            Ok(t) => {
                print!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        },
        _ => match parse(&args) {
            Ok(o) => run(o),
            Err(e) => usage_error(&e),
        },
    }
}

fn usage_error(e: &str) -> ExitCode {
    eprintln!("runner: {e}");
    eprintln!(
        "usage: runner --probe PROBE [--results FILE] RUNTIME [FILTER] | --list | --table LABEL=FILE..."
    );
    ExitCode::from(2)
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        probe: None,
        results: None,
        runtime: None,
        filter: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--probe" => o.probe = Some(it.next().ok_or("--probe needs a path")?.into()),
            "--results" => o.results = Some(it.next().ok_or("--results needs a path")?.into()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s if o.runtime.is_none() => o.runtime = Some(s.to_owned()),
            s if o.filter.is_none() => o.filter = Some(s.to_owned()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    Ok(o)
}

fn run(o: Options) -> ExitCode {
    let (Some(rt_path), Some(probe)) = (o.runtime, o.probe) else {
        return usage_error("RUNTIME and --probe are required");
    };
    if let Err(e) = preflight(&probe) {
        return usage_error(&e);
    }
    let rt = match Runtime::detect(&rt_path) {
        Ok(rt) => rt,
        Err(e) => return usage_error(&e),
    };
    let selected = select(&cases::all(), o.filter.as_deref());
    if selected.is_empty() {
        return usage_error("no case matches the filter");
    }
    for w in cleanup::sweep_stale(Path::new(BASE)) {
        eprintln!("warning: {w}");
    }
    let tag = format!("{}-{}", rt.label, std::process::id());
    println!(
        "running {} cases against {} ({})",
        selected.len(),
        rt.path.display(),
        rt.label
    );
    let t0 = Instant::now();
    let results: Vec<CaseResult> = selected
        .iter()
        .map(|c| run_case(c, &rt, &tag, &probe))
        .collect();
    for w in cleanup::remove_run_cgroups(&tag) {
        eprintln!("warning: {w}");
    }
    let _ = cleanup::remove_tree(&Path::new(BASE).join(&tag));
    let _ = std::fs::remove_dir(BASE);
    if let Some(path) = o.results
        && let Err(e) = report::write_results(&path, &results)
    {
        eprintln!("runner: cannot write {}: {e}", path.display());
    }
    println!("took {:.1}s", t0.elapsed().as_secs_f64());
    let summary = report::summary(&results);
    println!("{summary}");
    if results.iter().any(|r| r.verdict == Verdict::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn preflight(probe: &Path) -> Result<(), String> {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the cases create containers: run as root".into());
    }
    if !probe.is_file() {
        return Err(format!(
            "probe {} not found (conformance/run.sh builds it)",
            probe.display()
        ));
    }
    if !Path::new(bundle::BUSYBOX).is_file() {
        return Err(format!(
            "{} not found: install busybox-static",
            bundle::BUSYBOX
        ));
    }
    std::fs::write("/proc/self/oom_score_adj", RUNNER_OOM_SCORE_ADJ.to_string())
        .map_err(|e| format!("cannot set our oom_score_adj: {e}"))?;
    // SAFETY: one valid gid; no other thread runs yet.
    if unsafe { libc::setgroups(1, &RUNNER_GROUP) } != 0 {
        return Err(format!("setgroups: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn select(all: &[&'static Case], filter: Option<&str>) -> Vec<&'static Case> {
    let words: Vec<&str> = filter
        .map(|f| f.split(',').filter(|w| !w.is_empty()).collect())
        .unwrap_or_default();
    all.iter()
        .filter(|c| words.is_empty() || words.iter().any(|w| c.name.contains(w)))
        .copied()
        .collect()
}

fn run_case(case: &'static Case, rt: &Runtime, tag: &str, probe: &Path) -> CaseResult {
    let t0 = Instant::now();
    let outcome = match Ctx::new(rt, Path::new(BASE), tag, case.name, probe) {
        Ok(mut ctx) => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(&mut ctx)));
            let warnings = ctx.finish();
            for w in warnings {
                eprintln!("warning: {}: cleanup: {w}", case.name);
            }
            match r {
                Ok(r) => r,
                Err(_) => Err(Outcome::Fail(
                    "the case panicked (a bug in the suite)".into(),
                )),
            }
        }
        Err(e) => Err(Outcome::Fail(format!("cannot set the case up: {e}"))),
    };
    let result = CaseResult::new(case, outcome, t0.elapsed());
    report::print(&result);
    result
}
