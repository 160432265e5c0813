//! What the tasks of one running link share: identity, configuration, timers, status, metrics and
//! the cancellation token that stops them.

use std::sync::Arc;
use std::time::Duration;

use linkmq_client::{Client, ClientError, ConnectOptions, TlsOptions, TlsVersion};
use linkmq_config::{LinkConfig, LinkSslConfig, ServerNameIndication, SslVerify};
use sha1::{Digest, Sha1};
use tokio_util::sync::CancellationToken;

use crate::status::{LinkMetrics, LinkStatus};
use crate::timers::LinkTimers;

/// The first 8 lowercase hex characters of SHA-1 of the node name (client-id suffix, spec §1).
pub fn h8(node: &str) -> String {
    let digest = Sha1::digest(node.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The client TLS settings of a link's `ssl` section (ciphers are left to rustls' defaults).
fn tls_options(ssl: &LinkSslConfig) -> TlsOptions {
    let mut t = TlsOptions::new().verify(ssl.verify == SslVerify::VerifyPeer);
    if let Some(ca) = &ssl.cacertfile {
        t = t.ca_file(ca);
    }
    if let (Some(cert), Some(key)) = (&ssl.certfile, &ssl.keyfile) {
        t = t.client_cert_files(cert, key);
    }
    t = match &ssl.server_name_indication {
        ServerNameIndication::Auto => t,
        ServerNameIndication::Disable => t.no_sni(),
        ServerNameIndication::Name(n) => t.server_name(n.clone()),
    };
    let versions: Vec<TlsVersion> = ssl
        .versions
        .iter()
        .filter_map(|v| match v.as_str() {
            "tlsv1.3" => Some(TlsVersion::V1_3),
            "tlsv1.2" => Some(TlsVersion::V1_2),
            _ => None,
        })
        .collect();
    if !versions.is_empty() {
        t = t.versions(&versions);
    }
    t
}

/// One running instance of a link (a restart makes a new one, with a new incarnation).
pub(crate) struct LinkRuntime {
    pub local_cluster: Arc<str>,
    pub node: Arc<str>,
    pub h8: String,
    pub config: Arc<LinkConfig>,
    pub timers: LinkTimers,
    pub status: Arc<LinkStatus>,
    pub metrics: Arc<LinkMetrics>,
    pub cancel: CancellationToken,
}

impl LinkRuntime {
    /// `<base>`: the link's `clientid`, or the local cluster name.
    pub fn base(&self) -> &str {
        self.config.clientid_base(&self.local_cluster)
    }

    /// `<base>:routesync:<h8>`.
    pub fn routesync_client_id(&self) -> String {
        format!("{}:routesync:{}", self.base(), self.h8)
    }

    /// `<base>:msg:<h8>:<n>` (n = 1..pool_size).
    pub fn msg_client_id(&self, n: usize) -> String {
        format!("{}:msg:{}:{n}", self.base(), self.h8)
    }

    /// Topic of our route replication on the remote (`$LINK/cluster/route/<local cluster>`).
    pub fn route_topic(&self) -> String {
        format!(
            "{}{}",
            crate::receiver::ROUTE_TOPIC_PREFIX,
            self.local_cluster
        )
    }

    /// Topic of our forwarded messages on the remote.
    pub fn msg_topic(&self) -> String {
        format!(
            "{}{}",
            crate::receiver::MSG_TOPIC_PREFIX,
            self.local_cluster
        )
    }

    /// Connects one link client (MQTT v5, clean start, the link's credentials and TLS settings).
    pub async fn connect(&self, client_id: String) -> Result<Client, String> {
        let c = &self.config;
        let mut opts = ConnectOptions::new(c.server.host_port(), client_id)
            .keep_alive(30)
            .connect_timeout(self.timers.handshake_timeout.max(Duration::from_secs(1)));
        if let Some(u) = &c.username {
            opts.username = Some(u.clone());
        }
        if let Some(p) = &c.password {
            opts.password = Some(bytes::Bytes::copy_from_slice(p.expose().as_bytes()));
        }
        if c.uses_tls() {
            opts = opts.tls(tls_options(&c.ssl));
        }
        match Client::connect(opts).await {
            Ok((client, _connack)) => Ok(client),
            Err(ClientError::Refused(connack)) => Err(format!(
                "connection refused by the remote with 0x{:02X} ({})",
                connack.reason as u8,
                crate::status::reason_name(connack.reason)
            )),
            Err(e) => Err(format!("cannot connect to {}: {e}", c.server.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h8_is_the_sha1_prefix_of_the_node_name() {
        // `echo -n emqx@127.0.0.1 | sha1sum` = 2bd61c44b8b0...
        assert_eq!(h8("emqx@127.0.0.1"), "2bd61c44");
    }
}
