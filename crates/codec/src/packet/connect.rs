//! CONNECT (§3.1). The packet names its own protocol: "MQIsdp"/3 (3.1), "MQTT"/4 (3.1.1), "MQTT"/5.
//! v5 adds properties after Keep Alive and will properties before the Will Topic; v3.1.1 forbids a
//! password without a user name, v5 allows it.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Connect, LastWill};
use crate::error::{DecodeError, EncodeError};
use crate::ints::{read_u8, read_u16};
use crate::properties::PropertyContext;
use crate::strings::{binary_len, read_binary, read_string, string_len, write};
use crate::types::{Properties, Protocol, QoS};

const USERNAME: u8 = 0b1000_0000;
const PASSWORD: u8 = 0b0100_0000;
const WILL_RETAIN: u8 = 0b0010_0000;
const WILL_QOS_SHIFT: u8 = 3;
const WILL: u8 = 0b0000_0100;
const CLEAN_START: u8 = 0b0000_0010;
const RESERVED: u8 = 0b0000_0001;

fn protocol_name(protocol: Protocol) -> &'static [u8] {
    match protocol {
        Protocol::V31 => b"MQIsdp",
        Protocol::V311 | Protocol::V5 => b"MQTT",
    }
}

impl Connect {
    pub(crate) fn decode(body: &mut Bytes) -> Result<Connect, DecodeError> {
        let name = read_binary(body)?;
        let level = read_u8(body)?;
        let protocol = match (&name[..], level) {
            (b"MQIsdp", 3) => Protocol::V31,
            (b"MQTT", 4) => Protocol::V311,
            (b"MQTT", 5) => Protocol::V5,
            _ => return Err(DecodeError::UnsupportedProtocol { level }),
        };
        let flags = read_u8(body)?;
        if flags & RESERVED != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let will_qos = (flags >> WILL_QOS_SHIFT) & 0b11;
        if flags & WILL == 0 {
            if will_qos != 0 {
                return Err(DecodeError::WillQoSWithoutWill);
            }
            if flags & WILL_RETAIN != 0 {
                return Err(DecodeError::WillRetainWithoutWill);
            }
        }
        let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidWillQoS)?;
        if !protocol.is_v5() && flags & PASSWORD != 0 && flags & USERNAME == 0 {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = read_u16(body)?;
        let properties = read_properties(body, protocol, PropertyContext::Connect)?;

        let client_id = read_string(body)?;
        let will = if flags & WILL != 0 {
            let properties = read_properties(body, protocol, PropertyContext::Will)?;
            Some(LastWill {
                topic: read_string(body)?,
                payload: read_binary(body)?,
                qos: will_qos,
                retain: flags & WILL_RETAIN != 0,
                properties,
            })
        } else {
            None
        };
        let username = if flags & USERNAME != 0 {
            Some(read_string(body)?)
        } else {
            None
        };
        let password = if flags & PASSWORD != 0 {
            Some(read_binary(body)?)
        } else {
            None
        };
        Ok(Connect {
            protocol,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        let v5 = self.protocol.is_v5();
        let mut len = 2 + protocol_name(self.protocol).len() + 1 + 1 + 2;
        if v5 {
            len += self.properties.encoded_len(PropertyContext::Connect)?;
        }
        len += string_len(&self.client_id)?;
        if let Some(will) = &self.will {
            if v5 {
                len += will.properties.encoded_len(PropertyContext::Will)?;
            }
            len += string_len(&will.topic)? + binary_len(&will.payload)?;
        }
        if let Some(username) = &self.username {
            len += string_len(username)?;
        }
        if let Some(password) = &self.password {
            len += binary_len(password)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, buf: &mut BytesMut) {
        let v5 = self.protocol.is_v5();
        write(buf, protocol_name(self.protocol));
        buf.put_u8(self.protocol.level());
        buf.put_u8(self.flags());
        buf.put_u16(self.keep_alive);
        if v5 {
            self.properties.write(buf);
        }
        write(buf, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                will.properties.write(buf);
            }
            write(buf, will.topic.as_bytes());
            write(buf, &will.payload);
        }
        if let Some(username) = &self.username {
            write(buf, username.as_bytes());
        }
        if let Some(password) = &self.password {
            write(buf, password);
        }
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.username.is_some() {
            flags |= USERNAME;
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        if let Some(will) = &self.will {
            flags |= WILL | (will.qos as u8) << WILL_QOS_SHIFT;
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.clean_start {
            flags |= CLEAN_START;
        }
        flags
    }
}

/// Properties in v5, nothing on the wire in v3.x.
fn read_properties(
    body: &mut Bytes,
    protocol: Protocol,
    ctx: PropertyContext,
) -> Result<Properties, DecodeError> {
    if protocol.is_v5() {
        Properties::decode(body, ctx)
    } else {
        Ok(Properties::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ReasonCode, decode, encode};

    fn connect(protocol: Protocol) -> Connect {
        Connect {
            protocol,
            clean_start: true,
            keep_alive: 60,
            client_id: "c1".into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        }
    }

    fn wire(c: &Connect) -> BytesMut {
        let mut buf = BytesMut::new();
        encode(&Packet::Connect(Box::new(c.clone())), c.protocol, &mut buf).unwrap();
        buf
    }

    /// Decodes with a `protocol` argument that disagrees: CONNECT names its own.
    fn decode_any(mut buf: BytesMut) -> Result<Option<Packet>, DecodeError> {
        decode(&mut buf, Protocol::V5, u32::MAX)
    }

    #[test]
    fn v311_connect_matches_spec_bytes() {
        let buf = wire(&connect(Protocol::V311));
        assert_eq!(&buf[..], b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02c1");
    }

    #[test]
    fn v31_uses_mqisdp() {
        let c = connect(Protocol::V31);
        let buf = wire(&c);
        assert_eq!(&buf[2..10], b"\x00\x06MQIsdp");
        assert_eq!(decode_any(buf).unwrap(), Some(Packet::Connect(Box::new(c))));
    }

    #[test]
    fn full_v5_connect_round_trips() {
        let mut c = connect(Protocol::V5);
        c.username = Some("u".into());
        c.password = Some(Bytes::from_static(&[0, 0xFF]));
        c.properties.session_expiry_interval = Some(30);
        c.will = Some(LastWill {
            topic: "w/t".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: Properties::from(crate::types::PropertyValues {
                will_delay_interval: Some(5),
                ..Default::default()
            }),
        });
        assert_eq!(
            decode_any(wire(&c)).unwrap(),
            Some(Packet::Connect(Box::new(c)))
        );
    }

    fn patch(c: &Connect, at: usize, byte: u8) -> BytesMut {
        let mut buf = wire(c);
        buf[at] = byte;
        buf
    }

    #[test]
    fn mqtt_3_1_2_1_bad_protocol_name_is_unsupported_protocol_0x84() {
        let err = decode_any(patch(&connect(Protocol::V311), 4, b'X')).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedProtocol { level: 4 });
        assert_eq!(err.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    }

    #[test]
    fn mqtt_3_1_2_2_bad_protocol_level_is_unsupported_protocol_0x84() {
        for level in [0, 3, 6, 0xFF] {
            let err = decode_any(patch(&connect(Protocol::V311), 8, level)).unwrap_err();
            assert_eq!(err, DecodeError::UnsupportedProtocol { level });
            assert_eq!(err.reason_code(), ReasonCode::UnsupportedProtocolVersion);
        }
        // "MQIsdp" with level 4 is no protocol either.
        let err = decode_any(patch(&connect(Protocol::V31), 10, 4)).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedProtocol { level: 4 });
    }

    #[test]
    fn mqtt_3_1_2_3_reserved_connect_flag_is_malformed() {
        let err = decode_any(patch(&connect(Protocol::V5), 9, 0b11)).unwrap_err();
        assert_eq!(err, DecodeError::ConnectReservedFlag);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn mqtt_3_1_2_11_will_qos_without_will_flag_is_malformed() {
        let err = decode_any(patch(&connect(Protocol::V311), 9, 0b0000_1010)).unwrap_err();
        assert_eq!(err, DecodeError::WillQoSWithoutWill);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn mqtt_3_1_2_12_will_qos_3_is_malformed() {
        let err = decode_any(patch(&connect(Protocol::V311), 9, 0b0001_1110)).unwrap_err();
        assert_eq!(err, DecodeError::InvalidWillQoS);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn mqtt_3_1_2_13_will_retain_without_will_flag_is_malformed() {
        let err = decode_any(patch(&connect(Protocol::V5), 9, 0b0010_0010)).unwrap_err();
        assert_eq!(err, DecodeError::WillRetainWithoutWill);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn mqtt_3_1_2_22_password_without_username_is_malformed_in_v311_only() {
        let mut c = connect(Protocol::V311);
        c.password = Some(Bytes::from_static(b"pw"));
        let err = decode_any(wire(&c)).unwrap_err();
        assert_eq!(err, DecodeError::PasswordWithoutUsername);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);

        c.protocol = Protocol::V5;
        assert_eq!(
            decode_any(wire(&c)).unwrap(),
            Some(Packet::Connect(Box::new(c)))
        );
    }

    #[test]
    fn will_properties_only_allow_message_properties() {
        let mut c = connect(Protocol::V5);
        c.will = Some(LastWill {
            topic: "t".into(),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::from(crate::types::PropertyValues {
                session_expiry_interval: Some(1),
                ..Default::default()
            }),
        });
        let mut buf = BytesMut::new();
        assert_eq!(
            encode(&Packet::Connect(Box::new(c)), Protocol::V5, &mut buf),
            Err(EncodeError::PropertyNotAllowed {
                packet: "CONNECT will properties",
                id: 0x11
            })
        );
    }
}
