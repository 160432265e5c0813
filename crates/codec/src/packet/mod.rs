//! One file per control packet; the version differences sit side by side inside each file.
//! This file holds the packet data types and the dispatch from packet type to file.

mod auth;
mod connack;
mod connect;
mod disconnect;
mod ping;
mod puback;
mod publish;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::fixed_header::{self as fh, FixedHeader};
use crate::ints::read_u16;
use crate::types::{Properties, Protocol, QoS, ReasonCode, RetainHandling};
pub use publish::PublishRef;

/// Any MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResponse),
    PubRec(PubResponse),
    PubRel(PubResponse),
    PubComp(PubResponse),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    /// MQTT 5.0 only.
    Auth(Auth),
}

/// CONNECT (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: Protocol,
    /// Clean Start (v5) / Clean Session (v3.x).
    pub clean_start: bool,
    pub keep_alive: u16,
    pub client_id: String,
    pub will: Option<LastWill>,
    pub username: Option<String>,
    /// Binary data in v5 and v3.1.1.
    pub password: Option<Bytes>,
    pub properties: Properties,
}

/// The will message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Will properties (v5): will delay, expiry, content type, response topic, ...
    pub properties: Properties,
}

/// CONNACK (§3.2). In v3.x `reason` maps to the return codes 0..=5.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// PUBLISH (§3.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// May be empty in v5 when a topic alias is set.
    pub topic: String,
    /// Zero for QoS 0.
    pub pkid: u16,
    pub properties: Properties,
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape (§3.4–§3.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubResponse {
    pub pkid: u16,
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// Per-filter subscription options (§3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

/// One topic filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeFilter {
    pub filter: String,
    pub options: SubOptions,
}

/// SUBSCRIBE (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub pkid: u16,
    pub filters: Vec<SubscribeFilter>,
    pub properties: Properties,
}

/// SUBACK (§3.9). v3.x maps Success/GrantedQoS1/GrantedQoS2 to 0/1/2 and any failure to 0x80.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub pkid: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: Properties,
}

/// UNSUBSCRIBE (§3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub pkid: u16,
    pub filters: Vec<String>,
    pub properties: Properties,
}

/// UNSUBACK (§3.11). v3.x carries no reason codes (decoded as an empty list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub pkid: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: Properties,
}

/// DISCONNECT (§3.14). v3.x carries no body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// AUTH (§3.15, v5 only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Packet {
    /// The control packet's name as the specification spells it, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

/// Decodes a body whose fixed header `fh` was validated; the caller rejects bytes left in `body`.
pub(crate) fn decode_body(
    header: &FixedHeader,
    body: &mut Bytes,
    protocol: Protocol,
) -> Result<Packet, DecodeError> {
    Ok(match header.packet_type() {
        fh::CONNECT => Packet::Connect(Box::new(Connect::decode(body)?)),
        fh::CONNACK => Packet::ConnAck(ConnAck::decode(body, protocol)?),
        fh::PUBLISH => Packet::Publish(Publish::decode(header.flags(), body, protocol)?),
        fh::PUBACK => Packet::PubAck(PubResponse::decode(puback::Kind::Ack, body, protocol)?),
        fh::PUBREC => Packet::PubRec(PubResponse::decode(puback::Kind::Rec, body, protocol)?),
        fh::PUBREL => Packet::PubRel(PubResponse::decode(puback::Kind::Rel, body, protocol)?),
        fh::PUBCOMP => Packet::PubComp(PubResponse::decode(puback::Kind::Comp, body, protocol)?),
        fh::SUBSCRIBE => Packet::Subscribe(Subscribe::decode(body, protocol)?),
        fh::SUBACK => Packet::SubAck(SubAck::decode(body, protocol)?),
        fh::UNSUBSCRIBE => Packet::Unsubscribe(Unsubscribe::decode(body, protocol)?),
        fh::UNSUBACK => Packet::UnsubAck(UnsubAck::decode(body, protocol)?),
        fh::PINGREQ => Packet::PingReq,
        fh::PINGRESP => Packet::PingResp,
        fh::DISCONNECT => Packet::Disconnect(Disconnect::decode(body, protocol)?),
        fh::AUTH => Packet::Auth(Auth::decode(body)?),
        packet_type => return Err(DecodeError::InvalidPacketType { packet_type }),
    })
}

/// The first byte of the fixed header: packet type and flags.
pub(crate) fn first_byte(packet: &Packet) -> u8 {
    let (packet_type, flags) = match packet {
        Packet::Connect(_) => (fh::CONNECT, 0),
        Packet::ConnAck(_) => (fh::CONNACK, 0),
        Packet::Publish(p) => (fh::PUBLISH, p.flags()),
        Packet::PubAck(_) => (fh::PUBACK, 0),
        Packet::PubRec(_) => (fh::PUBREC, 0),
        Packet::PubRel(_) => (fh::PUBREL, 0b0010),
        Packet::PubComp(_) => (fh::PUBCOMP, 0),
        Packet::Subscribe(_) => (fh::SUBSCRIBE, 0b0010),
        Packet::SubAck(_) => (fh::SUBACK, 0),
        Packet::Unsubscribe(_) => (fh::UNSUBSCRIBE, 0b0010),
        Packet::UnsubAck(_) => (fh::UNSUBACK, 0),
        Packet::PingReq => (fh::PINGREQ, 0),
        Packet::PingResp => (fh::PINGRESP, 0),
        Packet::Disconnect(_) => (fh::DISCONNECT, 0),
        Packet::Auth(_) => (fh::AUTH, 0),
    };
    packet_type << 4 | flags
}

/// The Remaining Length `write_body` will produce, after checking the packet can be encoded.
/// CONNECT is encoded in its own `protocol`, every other packet in the given one.
pub(crate) fn body_len(packet: &Packet, protocol: Protocol) -> Result<usize, EncodeError> {
    match packet {
        Packet::Connect(p) => p.body_len(),
        Packet::ConnAck(p) => p.body_len(protocol),
        Packet::Publish(p) => p.body_len(protocol),
        Packet::PubAck(p) => p.body_len(puback::Kind::Ack, protocol),
        Packet::PubRec(p) => p.body_len(puback::Kind::Rec, protocol),
        Packet::PubRel(p) => p.body_len(puback::Kind::Rel, protocol),
        Packet::PubComp(p) => p.body_len(puback::Kind::Comp, protocol),
        Packet::Subscribe(p) => p.body_len(protocol),
        Packet::SubAck(p) => p.body_len(protocol),
        Packet::Unsubscribe(p) => p.body_len(protocol),
        Packet::UnsubAck(p) => p.body_len(protocol),
        Packet::PingReq | Packet::PingResp => Ok(0),
        Packet::Disconnect(p) => p.body_len(protocol),
        Packet::Auth(p) => p.body_len(protocol),
    }
}

/// Writes the body of a packet [`body_len`] accepted.
pub(crate) fn write_body(packet: &Packet, protocol: Protocol, buf: &mut BytesMut) {
    match packet {
        Packet::Connect(p) => p.write_body(buf),
        Packet::ConnAck(p) => p.write_body(protocol, buf),
        Packet::Publish(p) => p.write_body(protocol, buf),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            p.write_body(protocol, buf)
        }
        Packet::Subscribe(p) => p.write_body(protocol, buf),
        Packet::SubAck(p) => p.write_body(protocol, buf),
        Packet::Unsubscribe(p) => p.write_body(protocol, buf),
        Packet::UnsubAck(p) => p.write_body(protocol, buf),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(p) => p.write_body(protocol, buf),
        Packet::Auth(p) => p.write_body(protocol, buf),
    }
}

/// Reads a Packet Identifier, which must not be 0 ([MQTT-2.2.1-3]).
pub(crate) fn read_pkid(buf: &mut Bytes, packet: &'static str) -> Result<u16, DecodeError> {
    match read_u16(buf)? {
        0 => Err(DecodeError::PacketIdZero { packet }),
        pkid => Ok(pkid),
    }
}
