//! The conformance probe: runs as a container's process and prints, as JSON
//! lines on stdout, what the process sees (one `report` line) and then the
//! result of each action given on its command line, in order.
//!
//!   probe [ACTION...]      e.g. probe write:/x read:/proc/kcore wait-signal:USR1
//!
//! It is linked statically (conformance/run.sh) so it runs in any rootfs.

mod actions;
mod report;

use serde_json::Value;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut out = std::io::stdout().lock();
    // One line per record, flushed at once: the runner waits for lines such as
    // "ready" while the probe keeps running.
    let mut emit = |v: Value| {
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    };
    emit(report::gather(&args));
    for a in args.iter().skip(1) {
        actions::run(a, &mut emit);
    }
}
