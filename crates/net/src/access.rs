//! Where connections meet access control: `peer_cert_as_*`, authentication of CONNECT (password or
//! the v5 AUTH exchange), and the authorization of PUBLISH, SUBSCRIBE and the will message.

use bytes::Bytes;
use linkmq_codec::{Auth, Connect, Packet, Properties, QoS, ReasonCode, Subscribe};
use linkmq_core::access::{
    Action, AuthStep, AuthnRequest, AuthnResult, ClientAuthz, DenyAction, Permission,
};
use linkmq_core::metrics::Counter;
use linkmq_core::registry::PeerCert;
use linkmq_core::{Broker, MqttSettings, topic};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use crate::channel::{Channel, Exit};
use crate::connection::{Connection, ReadError};
use crate::inbound::ack;

/// A client that passed authentication.
#[derive(Debug, Default)]
pub(crate) struct Authenticated {
    pub is_superuser: bool,
    /// Enhanced authentication: the method and the final data for CONNACK.
    pub method: Option<String>,
    pub data: Option<Bytes>,
}

impl Authenticated {
    /// Adds the Authentication Method / Data of an enhanced exchange to the CONNACK properties.
    pub fn connack_properties(&self, props: &mut Properties) {
        if let Some(m) = &self.method {
            props.authentication_method = Some(m.clone());
            props.authentication_data = self.data.clone();
        }
    }
}

/// `peer_cert_as_clientid` / `peer_cert_as_username`: the TLS client certificate's identity replaces
/// what CONNECT says (before authentication, as in EMQX).
pub(crate) fn apply_peer_cert(c: &mut Connect, cert: Option<&PeerCert>, s: &MqttSettings) {
    if let Some(id) = s.peer_cert_as_clientid.pick(cert) {
        c.client_id = id;
    }
    if let Some(name) = s.peer_cert_as_username.pick(cert) {
        c.username = Some(name);
    }
}

/// Authenticates a CONNECT with the broker's authenticator; on refusal, the CONNACK reason.
pub(crate) async fn authenticate<R, W>(
    conn: &mut Connection<R, W>,
    connect: &Connect,
    client_id: &str,
) -> Result<Authenticated, (ReasonCode, &'static str)>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    conn.broker.metrics.inc(Counter::ClientAuthenticate);
    if conn.skip_authn() && connect.properties.authentication_method.is_none() {
        conn.broker.metrics.inc(Counter::AuthenticationSuccess);
        return Ok(Authenticated::default());
    }
    let result = authenticate_inner(conn, connect, client_id).await;
    conn.broker.metrics.inc(if result.is_ok() {
        Counter::AuthenticationSuccess
    } else {
        Counter::AuthenticationFailure
    });
    result
}

async fn authenticate_inner<R, W>(
    conn: &mut Connection<R, W>,
    connect: &Connect,
    client_id: &str,
) -> Result<Authenticated, (ReasonCode, &'static str)>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let authn = conn.broker.access.authenticator();
    let req = AuthnRequest {
        client_id: client_id.to_string(),
        username: connect.username.clone(),
        password: connect.password.clone(),
        peer: conn.peer,
        peer_cert: conn.peer_cert.as_deref().cloned(),
        listener: conn.listener.clone(),
        protocol: connect.protocol,
    };
    let Some(method) = connect
        .properties
        .authentication_method
        .clone()
        .filter(|_| connect.protocol.is_v5())
    else {
        return match authn.authenticate(&req).await {
            AuthnResult::Allow { is_superuser } => Ok(Authenticated {
                is_superuser,
                ..Authenticated::default()
            }),
            AuthnResult::Deny(rc) => Err((rc, "authentication failed")),
        };
    };
    let Some(mut exchange) = authn.start_enhanced(&method, &req) else {
        return Err((
            ReasonCode::BadAuthenticationMethod,
            "authentication method not supported",
        ));
    };
    let mut data = connect
        .properties
        .authentication_data
        .clone()
        .unwrap_or_default();
    loop {
        match exchange.step(&data) {
            AuthStep::Success { is_superuser, data } => {
                return Ok(Authenticated {
                    is_superuser,
                    method: Some(method),
                    data,
                });
            }
            AuthStep::Failure(rc) => return Err((rc, "authentication failed")),
            AuthStep::Continue(challenge) => {
                let props = Properties::from(linkmq_codec::PropertyValues {
                    authentication_method: Some(method.clone()),
                    authentication_data: Some(challenge),
                    ..Default::default()
                });
                conn.queue(&Packet::Auth(Auth {
                    reason: ReasonCode::ContinueAuthentication,
                    properties: props,
                }));
                if conn.flush().await.is_err() {
                    return Err((ReasonCode::UnspecifiedError, "socket error during AUTH"));
                }
                let timeout = conn.broker.settings.idle_timeout;
                match conn.read_packet(timeout).await {
                    // [MQTT-4.12.0-2]: the client continues with AUTH 0x18 and the same method.
                    Ok(Packet::Auth(a))
                        if a.reason == ReasonCode::ContinueAuthentication
                            && a.properties.authentication_method.as_deref()
                                == Some(method.as_str()) =>
                    {
                        data = a.properties.authentication_data.clone().unwrap_or_default();
                    }
                    Ok(Packet::Auth(_)) => {
                        return Err((
                            ReasonCode::ProtocolError,
                            "[MQTT-4.12.0-5] AUTH must continue with the same Authentication Method",
                        ));
                    }
                    Ok(_) => {
                        return Err((
                            ReasonCode::ProtocolError,
                            "[MQTT-4.12.0-2] only AUTH may follow CONNECT during authentication",
                        ));
                    }
                    Err(ReadError::Timeout) => {
                        return Err((ReasonCode::NotAuthorized, "authentication timed out"));
                    }
                    Err(_) => return Err((ReasonCode::ProtocolError, "no AUTH from client")),
                }
            }
        }
    }
}

/// Counts one authorization (`client.authorize`, `authorization.allow` / `.deny`); true if allowed.
fn counted(broker: &Broker, p: Permission) -> bool {
    broker.metrics.inc(Counter::ClientAuthorize);
    let allowed = p == Permission::Allow;
    broker.metrics.inc(if allowed {
        Counter::AuthorizationAllow
    } else {
        Counter::ClientAuthorizeDenied
    });
    allowed
}

/// Authorizes a client PUBLISH. `None`: go on. `Some(None)`: denied and answered (0x87 for QoS 1/2,
/// dropped for QoS 0). `Some(Some(exit))`: denied with `deny_action = disconnect`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn authorize_publish<R, W>(
    authz: &mut dyn ClientAuthz,
    broker: &Broker,
    client_id: &str,
    conn: &mut Connection<R, W>,
    topic: &str,
    qos: QoS,
    retain: bool,
    pkid: u16,
) -> Option<Option<Exit>>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    if counted(
        broker,
        authz.authorize(Action::Publish { qos, retain }, topic),
    ) {
        return None;
    }
    broker.metrics.inc(Counter::PacketsPublishAuthError);
    debug!(client_id, topic, ?qos, retain, "publish not authorized");
    if authz.deny_action() == DenyAction::Disconnect {
        return Some(Some(Exit::Error(
            ReasonCode::NotAuthorized,
            "publish not authorized (deny_action = disconnect)".into(),
        )));
    }
    let v5 = conn.protocol.is_v5();
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            conn.queue(&Packet::PubAck(ack(pkid, ReasonCode::NotAuthorized, v5)));
        }
        QoS::ExactlyOnce => {
            conn.queue(&Packet::PubRec(ack(pkid, ReasonCode::NotAuthorized, v5)));
        }
    }
    Some(None)
}

/// Authorizes one subscription (the inner filter of a shared one, so `$share/g/$SYS/#` is
/// checked as `$SYS/#`).
pub(crate) fn may_subscribe(
    authz: &mut dyn ClientAuthz,
    broker: &Broker,
    client_id: &str,
    filter: &str,
    qos: QoS,
) -> bool {
    let inner = match topic::parse_shared(filter) {
        Ok(Some((_, inner))) => inner,
        _ => filter,
    };
    let ok = counted(broker, authz.authorize(Action::Subscribe { qos }, inner));
    if !ok {
        broker.metrics.inc(Counter::PacketsSubscribeAuthError);
        debug!(client_id, filter, "subscription not authorized");
    }
    ok
}

impl Channel {
    /// With `deny_action = disconnect`, a SUBSCRIBE with any denied filter closes the connection
    /// (DISCONNECT 0x87) instead of being answered, as in EMQX.
    pub(crate) fn subscribe_denied_disconnect(&mut self, s: &Subscribe) -> Option<Exit> {
        if self.authz.deny_action() != DenyAction::Disconnect {
            return None;
        }
        let denied = s.filters.iter().any(|f| {
            topic::parse_shared(&f.filter).is_ok()
                && !may_subscribe(
                    self.authz.as_mut(),
                    &self.broker,
                    &self.session.client_id,
                    &f.filter,
                    f.options.qos,
                )
        });
        denied.then(|| {
            Exit::Error(
                ReasonCode::NotAuthorized,
                "subscribe not authorized (deny_action = disconnect)".into(),
            )
        })
    }

    /// The will is published only if the client may publish it (checked when it is due, as EMQX).
    pub(crate) fn may_publish_will(&mut self, topic: &str, qos: QoS, retain: bool) -> bool {
        let ok = counted(
            &self.broker,
            self.authz.authorize(Action::Publish { qos, retain }, topic),
        );
        if !ok {
            debug!(client_id = %self.session.client_id, topic, "will message not authorized; not published");
        }
        ok
    }
}
