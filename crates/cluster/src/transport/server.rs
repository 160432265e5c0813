//! The accepting side of the transport: authenticates a connecting node, then handles its
//! requests (each in its own task, answered on the same connection) and its pushes (in order:
//! routes, client ids, forwards — acknowledged in batches — and load figures).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{Frame, Push, Request, Response, auth, feed, recv, send};
use crate::raft::types::{ClusterNode, node_id};
use crate::{Cluster, ClusterError, ClusterOptions};

/// Binds the transport listener (a taken default port falls back to an ephemeral one).
pub(crate) async fn bind(opts: &ClusterOptions) -> Result<TcpListener, ClusterError> {
    match TcpListener::bind(opts.listen).await {
        Ok(l) => Ok(l),
        Err(e) if !opts.port_configured => {
            let mut any = opts.listen;
            any.set_port(0);
            warn!(addr = %opts.listen, error = %e, "default cluster port taken; using an ephemeral port (set rpc.tcp_server_port)");
            TcpListener::bind(any)
                .await
                .map_err(|source| ClusterError::Bind { addr: any, source })
        }
        Err(source) => Err(ClusterError::Bind {
            addr: opts.listen,
            source,
        }),
    }
}

/// Accepts node connections until shutdown.
pub(crate) async fn run(cluster: Arc<Cluster>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = cluster.cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((sock, peer)) => {
                let c = cluster.clone();
                cluster.tracker.spawn(async move {
                    if let Err(e) = connection(c, sock).await {
                        debug!(%peer, error = %e, "cluster connection ended");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "cluster accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(cluster: Arc<Cluster>, sock: TcpStream) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let (r, w): (super::tls::BoxRead, super::tls::BoxWrite) = match &cluster.tls {
        Some(tls) => tokio::time::timeout(Duration::from_secs(5), tls.accept(sock))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })??,
        None => {
            let (r, w) = sock.into_split();
            (Box::new(r), Box::new(w))
        }
    };
    let (mut r, mut w) = super::framed(r, w);
    let step = Duration::from_secs(5);
    let denied = |m: &str| std::io::Error::new(std::io::ErrorKind::PermissionDenied, m.to_string());
    let Ok(Ok(Some(Frame::Hello {
        protocol,
        node,
        addr,
        nonce: their_nonce,
    }))) = tokio::time::timeout(step, recv(&mut r)).await
    else {
        return Err(denied("no hello"));
    };
    if protocol != super::PROTOCOL {
        return Err(denied("protocol version mismatch"));
    }
    let cookie = cluster.opts.cookie.clone();
    let my_nonce = auth::nonce();
    let proof = auth::server_proof(&cookie, &their_nonce, &my_nonce, &node, &cluster.me.name);
    send(
        &mut w,
        &Frame::Challenge {
            node: cluster.me.name.clone(),
            nonce: my_nonce,
            proof,
        },
    )
    .await?;
    let Ok(Ok(Some(Frame::Proof { proof, epoch }))) =
        tokio::time::timeout(step, recv(&mut r)).await
    else {
        return Err(denied("no proof"));
    };
    let expected = auth::client_proof(&cookie, &their_nonce, &my_nonce, &node, &cluster.me.name);
    if !auth::verify(&expected, &proof) {
        warn!(node = %node, "cluster connection refused: wrong cookie");
        return Err(denied("wrong cookie"));
    }
    send(&mut w, &Frame::Welcome).await?;
    let peer = ClusterNode {
        name: node.clone(),
        addr,
    };
    let pid = node_id(&node);
    debug!(node = %node, epoch, "cluster peer authenticated");

    // Answers and acknowledgements go through one writer task.
    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(1024);
    let writer = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            if feed(&mut w, &f).await.is_err() {
                return;
            }
            while let Ok(f) = out_rx.try_recv() {
                if feed(&mut w, &f).await.is_err() {
                    return;
                }
            }
            if super::flush(&mut w).await.is_err() {
                return;
            }
        }
    });
    if !cluster.is_removed(pid) && cluster.is_member(pid) {
        // Make sure we can talk back (a restarted peer gets our state at once).
        cluster.ensure_peer(&peer);
    }
    let mut ack_tick = tokio::time::interval(Duration::from_millis(20));
    let mut unacked: Option<u64> = None;
    let mut ping = tokio::time::interval(cluster.opts.timers.stats);
    let silence = cluster.opts.timers.stats * super::SILENCE_LIMIT;
    let mut last_heard = tokio::time::Instant::now();
    let result = loop {
        tokio::select! {
            _ = cluster.cancel.cancelled() => break Ok(()),
            _ = ping.tick() => {
                if last_heard.elapsed() > silence {
                    break Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "peer silent"));
                }
                let _ = out_tx.try_send(Frame::Push(Push::Ping));
            }
            _ = ack_tick.tick(), if unacked.is_some() => {
                if let Some(seq) = unacked.take() {
                    let _ = out_tx.send(Frame::Push(Push::Ack { seq })).await;
                }
            }
            f = recv(&mut r) => match f {
                Ok(Some(Frame::Request { id, req })) => {
                    last_heard = tokio::time::Instant::now();
                    let c = cluster.clone();
                    let tx = out_tx.clone();
                    let from = peer.clone();
                    cluster.tracker.spawn(async move {
                        let resp = handle_request(&c, &from, req).await;
                        let _ = tx.send(Frame::Response { id, resp }).await;
                    });
                }
                Ok(Some(Frame::Push(p))) => {
                    last_heard = tokio::time::Instant::now();
                    if cluster.is_removed(pid) {
                        continue;
                    }
                    if let Some(seq) = cluster.handle_push(pid, epoch, p) {
                        unacked = Some(seq);
                        if seq % 64 == 0 {
                            let _ = out_tx.send(Frame::Push(Push::Ack { seq })).await;
                            unacked = None;
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        }
    };
    if let Some(seq) = unacked {
        let _ = out_tx.send(Frame::Push(Push::Ack { seq })).await;
    }
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    result
}

async fn handle_request(cluster: &Arc<Cluster>, from: &ClusterNode, req: Request) -> Response {
    match req {
        Request::Vote(v) => match cluster.raft() {
            Some(raft) => match raft.vote(v).await {
                Ok(r) => Response::Vote(r),
                Err(e) => Response::Error(e.to_string()),
            },
            None => Response::Error("raft not running".into()),
        },
        Request::Append(a) => match cluster.raft() {
            Some(raft) => match raft.append_entries(a).await {
                Ok(r) => Response::Append(r),
                Err(e) => Response::Error(e.to_string()),
            },
            None => Response::Error("raft not running".into()),
        },
        Request::InstallSnapshot(s) => match cluster.raft() {
            Some(raft) => match raft.install_snapshot(s).await {
                Ok(r) => Response::InstallSnapshot(r),
                Err(e) => Response::Error(e.to_string()),
            },
            None => Response::Error("raft not running".into()),
        },
        Request::Join(node) => {
            info!(node = %node.name, via = %from.name, "join request");
            match cluster.admit(node).await {
                Ok(()) => Response::Done,
                Err(e) => Response::Error(e.to_string()),
            }
        }
        Request::Remove { node } => match cluster.remove_member(&node).await {
            Ok(()) => Response::Done,
            Err(e) => Response::Error(e.to_string()),
        },
        Request::Flush => {
            if let Some(link) = cluster.peer(node_id(&from.name)) {
                link.drained(Duration::from_secs(2)).await;
            }
            Response::Done
        }
        Request::Write(cmd) => match cluster.write(cmd).await {
            Ok(()) => Response::Done,
            Err(e) => Response::Error(e.to_string()),
        },
        Request::Takeover {
            client_id,
            want_session,
        } => Response::Session(crate::takeover::give_up(cluster, &client_id, want_session).await),
    }
}
