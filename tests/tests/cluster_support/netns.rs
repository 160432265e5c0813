//! A small multi-host network for fault tests: one network namespace per node plus one for the
//! test's clients, all on a bridge in a namespace of their own, addresses 10.99.0.0/24 only inside
//! these namespaces. A node is cut off (partition) by taking its bridge port down. Everything is
//! deleted on drop.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The namespaces, bridge and veth pairs of one test.
pub struct NetLab {
    prefix: String,
    created: Vec<String>,
    /// Node namespaces, in order.
    pub nodes: Vec<String>,
    /// Where the test's clients run.
    pub client: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetLab {
    /// `n` node namespaces (10.99.0.1 ..) and a client namespace (10.99.0.100) on one bridge.
    /// Err (with the reason) where namespaces cannot be made here.
    pub fn create(n: usize) -> Result<NetLab, String> {
        let prefix = format!(
            "lmq{}x{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = NetLab {
            created: Vec::new(),
            nodes: (1..=n).map(|i| format!("{prefix}n{i}")).collect(),
            client: format!("{prefix}c"),
            prefix,
        };
        let br = format!("{}b", lab.prefix);
        ip(&["netns", "add", &br])?;
        lab.created.push(br.clone());
        ip(&["-n", &br, "link", "set", "lo", "up"])?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        let mut all: Vec<(String, String)> = lab
            .nodes
            .iter()
            .enumerate()
            .map(|(i, ns)| (ns.clone(), format!("10.99.0.{}", i + 1)))
            .collect();
        all.push((lab.client.clone(), "10.99.0.100".to_string()));
        for (k, (ns, addr)) in all.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            lab.created.push(ns.clone());
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            let port = format!("p{k}");
            ip(&[
                "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", &port, "netns", &br,
            ])?;
            ip(&["-n", &br, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &port, "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", "v0"])?;
            ip(&["-n", ns, "link", "set", "v0", "up"])?;
        }
        Ok(lab)
    }

    /// The address of node `i` (0-based).
    pub fn addr(&self, i: usize) -> String {
        format!("10.99.0.{}", i + 1)
    }

    /// Cuts node `i` off the network.
    pub fn cut(&self, i: usize) {
        ip(&[
            "-n",
            &format!("{}b", self.prefix),
            "link",
            "set",
            &format!("p{i}"),
            "down",
        ])
        .expect("cut");
    }

    /// Connects node `i` again.
    pub fn heal(&self, i: usize) {
        ip(&[
            "-n",
            &format!("{}b", self.prefix),
            "link",
            "set",
            &format!("p{i}"),
            "up",
        ])
        .expect("heal");
    }

    /// Runs `f` on a thread inside the client namespace (with a runtime of its own).
    pub fn in_client<F, T>(&self, f: F) -> T
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        in_ns(&self.client, f)
    }
}

/// Runs `f` on a thread inside network namespace `ns` (with a runtime of its own).
pub fn in_ns<F, T>(ns: &str, f: F) -> T
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let file = std::fs::File::open(&path).expect("open the client namespace");
            // SAFETY: setns on a valid namespace fd only switches this thread's network namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into {path}");
            // Threads the runtime starts from here inherit this thread's namespace.
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f)
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}
