//! `FaultProxy`: a TCP proxy between jeny and a peer (PostgreSQL) that a test can cut (every
//! connection dropped, new ones refused: the database is down), stall (connections stay open but
//! nothing crosses, as on a split network: every call hangs) and restore, to see how jeny
//! behaves while its database is away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct FaultProxy {
    pub address: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    stalled: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts forwarding connections made to `address` to `target`.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (stalled, _) = watch::channel(false);
        let accept_up = up.clone();
        let accept_cut = cut.clone();
        let accept_stalled = stalled.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut_signal = accept_cut.subscribe();
                let stalled = accept_stalled.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        _ = pump(client_read, server_write, stalled.subscribe()) => {}
                        _ = pump(server_read, client_write, stalled.subscribe()) => {}
                        _ = cut_signal.changed() => {}
                    }
                });
            }
        });
        FaultProxy {
            address,
            up,
            cut,
            stalled,
            task,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Keeps every connection open, and accepts new ones, but lets nothing through in either
    /// direction until `restore`: every database call hangs, as on a split network.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Accepts connections again, and lets stalled ones flow.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.stalled.send_replace(false);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies one direction of a connection, holding whatever it reads while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
