//! Extra descriptors (runc's `--preserve-fds N` and socket activation with
//! LISTEN_FDS/LISTEN_PID): exactly the ones asked for reach the program, at
//! the same numbers, and no other descriptor of rt's (CVE-2024-21626 class).

mod common;
use common::*;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Files whose contents name them ("fd3", "fd4", ...), to be put at 3, 4, ...
fn numbered_files(b: &Bundle, n: i32) -> Vec<OwnedFd> {
    (3..3 + n)
        .map(|fd| {
            let path = b.dir.join(format!("fd{fd}.txt"));
            std::fs::write(&path, format!("fd{fd}\n")).unwrap();
            File::open(&path).unwrap().into()
        })
        .collect()
}

/// `program args` with `files` at descriptors 3, 4, ... and nothing else
/// open above them, whatever the test harness has open. Output goes to
/// files; returns (exit code, stdout, stderr).
fn run_with_fds(
    b: &Bundle,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    files: Vec<OwnedFd>,
) -> (Option<i32>, String, String) {
    let (out, err) = (b.dir.join("fds.out"), b.dir.join("fds.err"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap());
    assert!(files.len() <= 8);
    let n = files.len();
    let mut raw = [-1i32; 8];
    for (slot, f) in raw.iter_mut().zip(&files) {
        *slot = f.as_raw_fd();
    }
    // SAFETY: only async-signal-safe calls (fcntl, dup2, close_range), no
    // allocation: the harness runs tests in threads.
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first, so no dup2 lands on a source not yet
            // moved. FD_CLOEXEC is cleared explicitly: a dup2 onto the
            // same number would keep it.
            let mut high = [-1i32; 8];
            for i in 0..n {
                high[i] = libc::fcntl(raw[i], libc::F_DUPFD_CLOEXEC, 100);
            }
            for (i, &fd) in high[..n].iter().enumerate() {
                let target = 3 + i as i32;
                if fd < 0 || libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::fcntl(target, libc::F_SETFD, 0);
            }
            let first = 3 + n as u32;
            libc::syscall(
                libc::SYS_close_range,
                first,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn");
    drop(files);
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (
        status.code(),
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(err).unwrap_or_default(),
    )
}

fn rt_args<'a>(b: &'a Bundle, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--root", b.state_root.to_str().unwrap(), "run"];
    a.extend_from_slice(extra);
    a.extend(["--bundle", b.dir.to_str().unwrap(), &b.id]);
    a
}

/// What the program reports of descriptors 3 to `last`: each one's contents,
/// or "fdN-closed".
fn report_fds(b: &Bundle, last: i32) {
    let script: String = (3..=last)
        .map(|fd| {
            format!("if [ -e /proc/$$/fd/{fd} ]; then cat <&{fd}; else echo fd{fd}-closed; fi; ")
        })
        .collect();
    b.set_script(&format!(
        "echo \"env:[$LISTEN_FDS][$LISTEN_PID]\"; {script}"
    ));
}

#[test]
fn preserve_fds_passes_exactly_n() {
    let Some(b) = Bundle::new("preserve_fds_passes_exactly_n") else {
        return;
    };
    report_fds(&b, 5);
    b.remember(&b.id);
    let rt = rt_bin();
    let files = numbered_files(&b, 3);
    let args = rt_args(&b, &["--preserve-fds", "2"]);
    let (code, out, err) = run_with_fds(&b, rt.to_str().unwrap(), &args, &[], files);
    assert_eq!(code, Some(0), "{out} {err}");
    assert_eq!(out, "env:[][]\nfd3\nfd4\nfd5-closed\n", "{err}");
    b.assert_nothing_left();
}

#[test]
fn preserve_fds_that_are_not_open_are_refused() {
    let Some(b) = Bundle::new("preserve_fds_that_are_not_open_are_refused") else {
        return;
    };
    b.remember(&b.id);
    let rt = rt_bin();
    let files = numbered_files(&b, 1);
    let args = rt_args(&b, &["--preserve-fds", "2"]);
    let (code, _, err) = run_with_fds(&b, rt.to_str().unwrap(), &args, &[], files);
    assert_ne!(code, Some(0));
    assert!(err.contains("--preserve-fds 2: fd 4 is not open"), "{err}");
    b.assert_nothing_left();
    b.assert_state_root_empty();
}

/// runc's socket activation: with LISTEN_PID rt's own PID, the LISTEN_FDS
/// descriptors go first, the --preserve-fds ones after them, and the
/// program gets LISTEN_FDS=N and LISTEN_PID=1. A shell execs rt, so $$ is
/// rt's PID.
#[test]
fn listen_fds_are_passed_like_runc() {
    let Some(b) = Bundle::new("listen_fds_are_passed_like_runc") else {
        return;
    };
    report_fds(&b, 6);
    b.remember(&b.id);
    let rt = rt_bin();
    let files = numbered_files(&b, 4);
    let mut args = vec!["-c", "LISTEN_PID=$$ LISTEN_FDS=2 exec \"$0\" \"$@\""];
    args.push(rt.to_str().unwrap());
    args.extend(rt_args(&b, &["--preserve-fds", "1"]));
    let (code, out, err) = run_with_fds(&b, "/bin/sh", &args, &[], files);
    assert_eq!(code, Some(0), "{out} {err}");
    assert_eq!(
        out, "env:[2][1]\nfd3\nfd4\nfd5\nfd6-closed\n",
        "stderr: {err}"
    );
    b.assert_nothing_left();
}

/// LISTEN_FDS meant for another process (LISTEN_PID not rt's) is ignored.
#[test]
fn listen_fds_for_another_pid_are_ignored() {
    let Some(b) = Bundle::new("listen_fds_for_another_pid_are_ignored") else {
        return;
    };
    report_fds(&b, 3);
    b.remember(&b.id);
    let rt = rt_bin();
    let files = numbered_files(&b, 1);
    let args = rt_args(&b, &[]);
    let env = [("LISTEN_PID", "1"), ("LISTEN_FDS", "1")];
    let (code, out, err) = run_with_fds(&b, rt.to_str().unwrap(), &args, &env, files);
    assert_eq!(code, Some(0), "{out} {err}");
    assert_eq!(out, "env:[][]\nfd3-closed\n", "stderr: {err}");
    b.assert_nothing_left();
}

#[test]
fn exec_preserve_fds_passes_exactly_n() {
    let Some(b) = Bundle::new("exec_preserve_fds_passes_exactly_n") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let rt = rt_bin();
    let files = numbered_files(&b, 2);
    let script = "for fd in 3 4; do if [ -e /proc/$$/fd/$fd ]; then cat <&$fd; \
                  else echo fd$fd-closed; fi; done";
    let args = [
        "--root",
        b.state_root.to_str().unwrap(),
        "exec",
        "--preserve-fds",
        "1",
        &b.id,
        "sh",
        "-c",
        script,
    ];
    let (code, out, err) = run_with_fds(&b, rt.to_str().unwrap(), &args, &[], files);
    assert_eq!(code, Some(0), "{out} {err}");
    assert_eq!(out, "fd3\nfd4-closed\n", "stderr: {err}");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}
