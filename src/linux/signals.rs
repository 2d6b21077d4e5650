//! Signal names as runc accepts them: `KILL`, `SIGKILL`, `9`, and the
//! real-time signals `RTMIN`, `RTMIN+3`, `SIGRTMAX-1`. Names of the standard
//! signals come from nix's table rather than one of our own.

use nix::sys::signal::Signal;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
#[error("invalid signal {0:?}")]
pub struct SignalError(String);

pub fn parse(s: &str) -> Result<i32, SignalError> {
    let err = || SignalError(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        // 0 only checks that the process exists, as kill(2) and runc allow.
        return if (0..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(err())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = parse_realtime(name) {
        return n.ok_or_else(err);
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|sig| sig as i32)
        .map_err(|_| err())
}

/// `RTMIN[+n]` / `RTMAX[-n]`: `None` when the name is not real-time at all,
/// `Some(None)` when it is but out of range.
fn parse_realtime(name: &str) -> Option<Option<i32>> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let in_range = |n: i32| (min..=max).contains(&n).then_some(n);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return Some(match rest {
            "" => Some(min),
            _ => rest
                .strip_prefix('+')
                .and_then(|n| n.parse::<i32>().ok())
                .and_then(|n| in_range(min + n)),
        });
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return Some(match rest {
            "" => Some(max),
            _ => rest
                .strip_prefix('-')
                .and_then(|n| n.parse::<i32>().ok())
                .and_then(|n| in_range(max - n)),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_forms() {
        assert_eq!(parse("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse("SIGKILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("SIGBUS").unwrap(), libc::SIGBUS);
        assert_eq!(parse("TRAP").unwrap(), libc::SIGTRAP);
        assert_eq!(parse("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse("SIGRTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        assert_eq!(parse("64").unwrap(), 64);
        assert_eq!(parse("0").unwrap(), 0);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "65", "-1", "FOO", "SIGRTMIN+99", "RTMAX+1", "RTMIN-1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
