//! The receiver side of requirement 3: a TCP server in a namespace that answers every
//! connection with the peer address it saw, so the source IP is checked where the packet
//! arrives, not where it was sent. Its listener is made on a thread inside the namespace;
//! the socket stays there, so accepting can happen on any thread.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use super::shell::in_netns;

/// The port every echo server listens on.
pub const ECHO_PORT: u16 = 7777;

/// A running echo server; stops on drop.
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Serves on `ip:ECHO_PORT` inside `netns`.
///
/// # Errors
/// The namespace or the bind failing.
pub fn serve(netns: &str, ip: IpAddr) -> anyhow::Result<EchoServer> {
    let addr = SocketAddr::new(ip, ECHO_PORT);
    let listener = in_netns(netns, || {
        TcpListener::bind(addr).with_context(|| format!("binding {addr} in {netns}"))
    })?;
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, peer)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(peer.ip().to_string().as_bytes());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    Ok(EchoServer {
        stop,
        thread: Some(thread),
    })
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from `netns` to the echo server at `ip` and returns the source address it saw.
///
/// # Errors
/// No connection or no answer within `timeout`.
pub fn ask(netns: &str, ip: IpAddr, timeout: Duration) -> anyhow::Result<IpAddr> {
    let addr = SocketAddr::new(ip, ECHO_PORT);
    in_netns(netns, || {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        buf.trim()
            .parse()
            .with_context(|| format!("the echo server at {addr} answered {buf:?}"))
    })
}
