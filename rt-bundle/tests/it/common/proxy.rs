//! A TCP proxy in front of the registry that cuts the first connection
//! which has sent more than `cut_after` bytes to the client, to interrupt a
//! blob download half-way, and notes whether a Range request followed.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub struct CutProxy {
    pub host: String,
    pub cut: Arc<AtomicBool>,
    pub saw_range: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CutProxy {
    pub fn start(upstream: &str, cut_after: usize) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let saw_range = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_string();
        let thread = {
            let (cut, saw_range, stop) = (cut.clone(), saw_range.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let server = TcpStream::connect(&upstream).unwrap();
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let saw_range = saw_range.clone();
                    std::thread::spawn(move || pump_requests(c2, s2, &saw_range));
                    let cut = cut.clone();
                    std::thread::spawn(move || pump_responses(server, client, cut_after, &cut));
                }
            })
        };
        CutProxy {
            host,
            cut,
            saw_range,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.host);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn pump_requests(mut from: TcpStream, mut to: TcpStream, saw_range: &AtomicBool) {
    let mut buf = [0u8; 16 << 10];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if String::from_utf8_lossy(&buf[..n])
            .to_ascii_lowercase()
            .contains("\r\nrange: bytes=")
        {
            saw_range.store(true, Ordering::Relaxed);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn pump_responses(mut from: TcpStream, mut to: TcpStream, cut_after: usize, cut: &AtomicBool) {
    let mut buf = [0u8; 16 << 10];
    let mut sent = 0;
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if sent + n > cut_after && !cut.swap(true, Ordering::Relaxed) {
            // Send part of it, then drop the connection mid-body.
            let _ = to.write_all(&buf[..cut_after.saturating_sub(sent).min(n)]);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
