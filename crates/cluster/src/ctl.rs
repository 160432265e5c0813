//! The local control channel behind `linkmq ctl cluster ...`: a Unix socket at
//! `<node.data_dir>/ctl.sock`, one JSON request per line, one JSON answer per line. Only local
//! users with access to the data directory can reach it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use crate::Cluster;

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum CtlRequest {
    Join { node: String },
    Leave,
    ForceLeave { node: String },
    Status,
}

/// Where the control socket of a node with this data directory is.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ctl.sock")
}

/// Serves the control socket until shutdown.
pub(crate) async fn serve(cluster: Arc<Cluster>) {
    let path = socket_path(&cluster.opts.data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "control socket not available; linkmq ctl cannot reach this node");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        // Only the node's own user may drive it.
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    info!(path = %path.display(), "control socket listening");
    loop {
        let conn = tokio::select! {
            _ = cluster.cancel.cancelled() => break,
            c = listener.accept() => c,
        };
        if let Ok((sock, _)) = conn {
            let c = cluster.clone();
            cluster.tracker.spawn(async move {
                let _ = handle(c, sock).await;
            });
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn handle(cluster: Arc<Cluster>, sock: UnixStream) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let answer = match serde_json::from_str::<CtlRequest>(&line) {
            Ok(req) => execute(&cluster, req).await,
            Err(e) => json!({"ok": false, "message": format!("bad request: {e}")}),
        };
        let mut out = answer.to_string();
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
    }
    Ok(())
}

/// Carries out a control request; the answer is `{"ok": bool, "message": ..., "status": ...}`.
pub async fn execute(cluster: &Arc<Cluster>, req: CtlRequest) -> Value {
    let r = match &req {
        CtlRequest::Join { node } => cluster.join(node).await.map(|_| format!("joined {node}")),
        CtlRequest::Leave => cluster
            .leave()
            .await
            .map(|_| "left the cluster".to_string()),
        CtlRequest::ForceLeave { node } => cluster
            .force_leave(node)
            .await
            .map(|_| format!("{node} removed from the cluster")),
        CtlRequest::Status => Ok("status".to_string()),
    };
    match r {
        Ok(message) => json!({"ok": true, "message": message, "status": cluster.status()}),
        Err(e) => json!({"ok": false, "message": e.to_string(), "status": cluster.status()}),
    }
}

/// The client side: sends `req` to the node whose data directory is `data_dir`.
pub async fn call(data_dir: &Path, req: &CtlRequest) -> Result<Value, String> {
    let path = socket_path(data_dir);
    let sock = UnixStream::connect(&path)
        .await
        .map_err(|e| format!("cannot reach the node at {}: {e}", path.display()))?;
    let (r, mut w) = sock.into_split();
    let mut line = serde_json::to_string(req).map_err(|e| e.to_string())?;
    line.push('\n');
    w.write_all(line.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(r).lines();
    match lines.next_line().await {
        Ok(Some(l)) => serde_json::from_str(&l).map_err(|e| e.to_string()),
        Ok(None) => Err("the node closed the control connection".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// `Cluster status: running_nodes = [...], stopped_nodes = [...]`, then one line per member.
pub fn render_status(v: &Value) -> String {
    let s = &v["status"];
    let list = |k: &str| {
        s[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let mut out = format!(
        "Cluster status: running_nodes = [{}], stopped_nodes = [{}]\n",
        list("running_nodes"),
        list("stopped_nodes")
    );
    if let Some(members) = s["members"].as_array() {
        for m in members {
            out.push_str(&format!(
                "  {} {} {}{}\n",
                m["node"].as_str().unwrap_or(""),
                m["addr"].as_str().unwrap_or(""),
                m["status"].as_str().unwrap_or(""),
                if m["leader"].as_bool() == Some(true) {
                    " (leader)"
                } else {
                    ""
                }
            ));
        }
    }
    out
}
