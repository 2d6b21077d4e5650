//! Log records for `--log` / `--log-format`, shaped like runc's (logrus) so that
//! containerd and podman can read them: containerd takes the last `error`
//! record, podman parses the whole file as one JSON object. So the file is
//! always created, and a failing command writes exactly one error record.

use crate::cli::{GlobalOpts, LogFormat};
use crate::clock;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub struct Logger {
    file: Option<File>,
    format: LogFormat,
    debug: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Debug,
    Warning,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl Logger {
    /// Opens the log file (creating it) and installs the process-wide logger.
    pub fn init(opts: &GlobalOpts) -> Result<&'static Logger, String> {
        let file = opts.log.as_deref().map(open_log_file).transpose()?;
        let logger = Logger {
            file,
            format: opts.log_format,
            debug: opts.debug,
        };
        Ok(LOGGER.get_or_init(|| logger))
    }

    /// The one record of a failed command: to the log file and to stderr.
    /// With a log file the caller (podman, containerd) shows stderr as is,
    /// prefixed with the runtime's path: the bare message, as runc prints.
    pub fn fatal(&self, msg: &str) {
        self.record(Level::Error, msg);
        if self.file.is_some() {
            eprintln!("{msg}");
        } else {
            eprintln!("rt: {msg}");
        }
    }

    fn record(&self, level: Level, msg: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let line = match self.format {
            LogFormat::Json => {
                let rec = serde_json::json!({
                    "level": level.as_str(),
                    "msg": msg,
                    "time": clock::rfc3339_now(false),
                });
                format!("{rec}\n")
            }
            LogFormat::Text => format!(
                "time={:?} level={} msg={:?}\n",
                clock::rfc3339_now(false),
                level.as_str(),
                msg
            ),
        };
        match &self.file {
            // One write per record keeps lines whole when several processes append.
            Some(f) => {
                let mut f: &File = f;
                let _ = f.write_all(line.as_bytes());
            }
            None if level != Level::Error => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            None => {}
        }
    }
}

fn open_log_file(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("--log {}: {e}", path.display()))
}

/// A problem the command carries on after (runtime.md "Warnings").
pub fn warn(msg: &str) {
    if let Some(l) = LOGGER.get() {
        l.record(Level::Warning, msg);
    }
}

pub fn debug(msg: &str) {
    if let Some(l) = LOGGER.get() {
        l.record(Level::Debug, msg);
    }
}

/// The log file's descriptor, which a forked child must keep open.
pub fn file_fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    LOGGER.get()?.file.as_ref().map(|f| f.as_raw_fd())
}
