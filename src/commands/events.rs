//! `rt events`: the container's resource usage as runc prints it, one JSON
//! line per event: `--stats` prints one `stats` line and exits; otherwise a
//! `stats` line at once and then every `--interval`, an `oom` line for each
//! OOM of the container's memory cgroup, until the container stops.

use super::{Error, Result};
use crate::cli::EventsArgs;
use crate::linux::cgroups;
use crate::linux::stats::{self, OomWatch, types::Event};
use crate::state::{self, Pidfd, Record, Status};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run(root: &Path, args: &EventsArgs) -> Result<i32> {
    let interval = parse_duration(&args.interval)?;
    let not_running = || Error::Refused(format!("container with id {} is not running", args.id));
    let record = state::read_record(root, &args.id)?.ok_or_else(not_running)?;
    if record.live_status() == Status::Stopped {
        return Err(not_running());
    }
    let dirs = cgroups::dirs_of(&record.cgroup_dirs)?;
    if args.stats {
        print_stats(&record, &dirs)?;
        return Ok(0);
    }
    // The init's pidfd turns readable when it exits: then events ends.
    let init = Pidfd::open(record.pid, record.pid_start).ok_or_else(not_running)?;
    let mut oom = OomWatch::new(&dirs)?;
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next {
            if !print_stats(&record, &dirs)? {
                return Ok(0);
            }
            next = now + interval;
        }
        let wait = next.saturating_duration_since(Instant::now());
        let mut fds = vec![PollFd::new(init.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = &oom {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        let timeout =
            PollTimeout::try_from(wait.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(source) => {
                return Err(Error::Sys {
                    op: "poll".into(),
                    source,
                });
            }
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let exited = ready(&fds[0]);
        let oom_ready = fds.get(1).is_some_and(ready);
        drop(fds);
        // The kernel counts an OOM kill before the victim (maybe init) dies,
        // so the event is there by the time the exit is seen.
        if let Some(w) = oom.as_mut().filter(|_| oom_ready || exited) {
            for _ in 0..w.take()? {
                if !emit(&Event {
                    kind: "oom",
                    id: &record.id,
                    data: None,
                }) {
                    return Ok(0);
                }
            }
        }
        if exited {
            return Ok(0);
        }
    }
}

/// Prints one stats line; false when stdout is gone (the reader left).
fn print_stats(record: &Record, dirs: &[cgroups::CgroupDir]) -> Result<bool> {
    let stats = stats::collect(dirs, record.pid)?;
    Ok(emit(&Event {
        kind: "stats",
        id: &record.id,
        data: Some(&stats),
    }))
}

fn emit(event: &Event) -> bool {
    let line = serde_json::to_string(event).expect("events serialize");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// A Go duration as runc's --interval takes it: `5s`, `500ms`, `1m30s`, `1.5s`.
fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::Usage(format!(
            "events --interval: {s:?} is not a duration like 5s"
        ))
    };
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    if total <= 0.0 || !total.is_finite() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "5", "s", "0s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
