//! A one-line download progress display, drawn only when stderr is a
//! terminal; in scripts and logs rt-bundle stays quiet.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

const TICK: Duration = Duration::from_millis(200);

#[derive(Default)]
pub struct Progress {
    total: AtomicU64,
    done: AtomicU64,
    blobs: AtomicUsize,
    finished: AtomicUsize,
    stop: AtomicBool,
}

impl Progress {
    /// Counts a blob that will be downloaded.
    pub fn expect(&self, bytes: u64) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
        self.blobs.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Takes back bytes that will be downloaded again (a restart).
    pub fn sub(&self, bytes: u64) {
        self.done.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub fn blob_done(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `work` while a scoped thread redraws the line, if stderr is a
    /// terminal and there is something to download.
    pub fn show_while<T>(&self, work: impl FnOnce() -> T) -> T {
        if !std::io::stderr().is_terminal() || self.blobs.load(Ordering::Relaxed) == 0 {
            return work();
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                while !self.stop.load(Ordering::Relaxed) {
                    self.draw();
                    std::thread::sleep(TICK);
                }
                // Clear the line for whatever is printed next.
                eprint!("\r\x1b[K");
            });
            let result = work();
            self.stop.store(true, Ordering::Relaxed);
            result
        })
    }

    fn draw(&self) {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[Kfetching {}/{} blobs  {:.1}/{:.1} MiB",
            self.finished.load(Ordering::Relaxed),
            self.blobs.load(Ordering::Relaxed),
            mib(self.done.load(Ordering::Relaxed)),
            mib(self.total.load(Ordering::Relaxed)),
        );
        let _ = err.flush();
    }
}

/// Says which layer is being unpacked, on a terminal, as each is taken
/// from the iterator; `done` clears the line.
pub struct LayerLine {
    tty: bool,
}

impl LayerLine {
    pub fn new() -> LayerLine {
        LayerLine {
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub fn announce<T>(&self, layers: Vec<T>) -> impl Iterator<Item = T> {
        let (tty, total) = (self.tty, layers.len());
        layers.into_iter().enumerate().map(move |(i, layer)| {
            if tty {
                eprint!("\r\x1b[Kunpacking layer {}/{total}", i + 1);
            }
            layer
        })
    }

    pub fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}
