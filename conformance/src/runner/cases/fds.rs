//! runtime-linux.md "File descriptors": beyond stdio, the runtime passes
//! exactly the descriptors asked for, as runc's `--preserve-fds N` and its
//! socket activation (LISTEN_FDS for the runtime's own PID) do, and no
//! other one it has open.

use super::Case;
use crate::ctx::{CreateOpts, Ctx};
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use crate::probe::{numbers, strings};
use crate::runtime::ExtraFd;

const FDS: &str = "By default, only the stdin, stdout and stderr file descriptors are kept open for the application by the runtime. The runtime MAY pass additional file descriptors to the application to support features such as socket activation.";

pub const CASES: &[Case] = &[
    Case {
        name: "fds.preserve_fds",
        clause: "runtime-linux.md#file-descriptors",
        quote: FDS,
        run: preserve_fds,
    },
    Case {
        name: "fds.listen_fds",
        clause: "runtime-linux.md#file-descriptors",
        quote: FDS,
        run: listen_fds,
    },
];

/// `n` descriptors on a fixture file at 3, 4, ...
fn fixture_fds(ctx: &Ctx, n: i32) -> R<Vec<ExtraFd>> {
    (3..3 + n)
        .map(|target| {
            let file = std::fs::File::open(ctx.in_rootfs("/etc/passwd")).or_fail("open fixture")?;
            Ok(ExtraFd { file, target })
        })
        .collect()
}

/// Creates and runs the probe with `opts`; its open descriptors and env.
fn run_with(ctx: &mut Ctx, opts: CreateOpts) -> R<(Vec<u64>, Vec<String>)> {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    let out = ctx.create_with(&id, opts)?;
    ensure!(out.success(), "create: {}", out.describe());
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let p = ctx.output(&id);
    let report = p.report()?;
    Ok((numbers(&report["fds"]), strings(&report["env"])))
}

/// `--preserve-fds 2` with 3, 4 and 5 open: the process gets 3 and 4.
fn preserve_fds(ctx: &mut Ctx) -> R {
    let opts = CreateOpts {
        args: vec!["--preserve-fds", "2"],
        extra_fds: fixture_fds(ctx, 3)?,
        ..Default::default()
    };
    let (fds, _) = run_with(ctx, opts)?;
    ensure_eq!(fds, vec![0, 1, 2, 3, 4], "open descriptors of the process");
    Ok(())
}

/// LISTEN_FDS=2 for the runtime's PID and `--preserve-fds 1`, with 3 to 6
/// open: the process gets 3 and 4 (the listening ones), then 5, and, as
/// from systemd, LISTEN_FDS=2 with LISTEN_PID its own PID (1).
fn listen_fds(ctx: &mut Ctx) -> R {
    let opts = CreateOpts {
        args: vec!["--preserve-fds", "1"],
        extra_fds: fixture_fds(ctx, 4)?,
        listen_fds: Some(2),
        ..Default::default()
    };
    let (fds, env) = run_with(ctx, opts)?;
    ensure_eq!(
        fds,
        vec![0, 1, 2, 3, 4, 5],
        "open descriptors of the process"
    );
    let listen: Vec<&String> = env.iter().filter(|e| e.starts_with("LISTEN_")).collect();
    ensure_eq!(
        listen,
        vec!["LISTEN_FDS=2", "LISTEN_PID=1"],
        "socket activation variables of the process"
    );
    Ok(())
}
