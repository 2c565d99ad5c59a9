//! Attaching to a container's main process: now if it runs, or at its next start (the way
//! `docker run` and `docker start -a` attach before starting).

use std::path::Path;
use std::sync::Arc;

use berth_runtime::client::ShimConn;
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::{Reply, Request};
use tokio::sync::oneshot;

use super::registry::ContainerHandle;
use super::Engine;
use crate::error::EngineError;

/// An attach waiting for the container to start.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: oneshot::Sender<Result<ShimConn, EngineError>>,
}

/// Connects to a shim and registers an attach.
async fn attach_shim(socket: &Path, stdin: bool, stdout: bool, stderr: bool) -> Result<ShimConn, EngineError> {
    let mut conn = ShimConn::connect(socket).await?;
    conn.send_request(&Request::Attach { stdin, stdout, stderr }).await?;
    match conn.reply().await? {
        Reply::Ok => Ok(conn),
        Reply::Error { message } => Err(EngineError::Conflict(message)),
        other => Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
    }
}

/// An attach in progress: connected now, or registered for the next start.
pub enum AttachTicket {
    Ready(ShimConn),
    Pending(oneshot::Receiver<Result<ShimConn, EngineError>>),
}

impl AttachTicket {
    /// Waits for the shim connection.
    pub async fn connection(self) -> Result<ShimConn, EngineError> {
        match self {
            AttachTicket::Ready(c) => Ok(c),
            AttachTicket::Pending(rx) => rx.await.map_err(|_| EngineError::Conflict("container was removed before it started".into()))?,
        }
    }
}

impl Engine {
    /// Attaches to the main process's stdio now if it runs, or registers for its next start.
    /// Registration is done before this returns, so a start requested right after cannot miss
    /// the attach.
    pub async fn attach(&self, h: &Arc<ContainerHandle>, stdin: bool, stdout: bool, stderr: bool) -> Result<AttachTicket, EngineError> {
        let rec = h.snapshot();
        if rec.state.status == super::record::Status::Paused {
            return Err(EngineError::Conflict(format!("container {} is paused, unpause the container before attach", rec.id)));
        }
        let layout = ShimLayout::new(&self.config.exec_root, &h.id);
        if rec.state.status.is_running() {
            return attach_shim(&layout.socket(), stdin, stdout, stderr).await.map(AttachTicket::Ready);
        }
        let (tx, rx) = oneshot::channel();
        h.pending.lock().unwrap_or_else(|p| p.into_inner()).push(PendingAttach { stdin, stdout, stderr, tx });
        Ok(AttachTicket::Pending(rx))
    }

    /// Hands every pending attach its shim connection; called between create and start.
    pub(crate) async fn connect_pending(&self, h: &Arc<ContainerHandle>, socket: &Path) {
        let pending: Vec<PendingAttach> = std::mem::take(&mut *h.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            if p.tx.is_closed() {
                continue;
            }
            let conn = attach_shim(socket, p.stdin, p.stdout, p.stderr).await;
            let _ = p.tx.send(conn);
        }
    }
}
