//! SUBSCRIBE (§3.8): Packet Identifier, v5 properties, then one or more topic filters each followed by
//! an options byte. v5 options: QoS (bits 0-1), No Local (2), Retain As Published (3), Retain Handling
//! (4-5), reserved (6-7); v3.x: QoS only, the upper six bits reserved.

use bytes::{BufMut, Bytes, BytesMut};

use super::{SubOptions, Subscribe, SubscribeFilter, read_pkid};
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::strings::{read_string, string_len, write};
use crate::types::{Properties, Protocol, QoS, RetainHandling};

const NO_LOCAL: u8 = 0b0000_0100;
const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
const RETAIN_HANDLING_SHIFT: u8 = 4;

impl SubOptions {
    /// Parses an options byte in `protocol`'s layout.
    pub(crate) fn decode(byte: u8, protocol: Protocol) -> Result<SubOptions, DecodeError> {
        let reserved = if protocol.is_v5() {
            0b1100_0000
        } else {
            0b1111_1100
        };
        if byte & reserved != 0 {
            return Err(DecodeError::SubscribeReservedBits { options: byte });
        }
        let qos = QoS::from_u8(byte & 0b11).ok_or(DecodeError::InvalidSubscriptionQoS)?;
        let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0b11 {
            0 => RetainHandling::OnSubscribe,
            1 => RetainHandling::OnNewSubscribe,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(SubOptions {
            qos,
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }

    /// The options byte in `protocol`'s layout (v3.x carries the QoS only).
    pub(crate) fn to_byte(self, protocol: Protocol) -> u8 {
        let mut byte = self.qos as u8;
        if protocol.is_v5() {
            byte |= (self.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
            if self.no_local {
                byte |= NO_LOCAL;
            }
            if self.retain_as_published {
                byte |= RETAIN_AS_PUBLISHED;
            }
        }
        byte
    }
}

impl Subscribe {
    pub(crate) fn decode(body: &mut Bytes, protocol: Protocol) -> Result<Subscribe, DecodeError> {
        let pkid = read_pkid(body, "SUBSCRIBE")?;
        let properties = if protocol.is_v5() {
            Properties::decode(body, PropertyContext::Subscribe)?
        } else {
            Properties::default()
        };
        let mut filters = Vec::new();
        while !body.is_empty() {
            let filter = read_string(body)?;
            let options = SubOptions::decode(read_u8(body)?, protocol)?;
            if options.no_local && filter.starts_with("$share/") {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            filters.push(SubscribeFilter { filter, options });
        }
        if filters.is_empty() {
            return Err(DecodeError::SubscribeWithoutFilters);
        }
        Ok(Subscribe {
            pkid,
            filters,
            properties,
        })
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let mut len = 2;
        if protocol.is_v5() {
            len += self.properties.encoded_len(PropertyContext::Subscribe)?;
        }
        for f in &self.filters {
            len += string_len(&f.filter)? + 1;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u16(self.pkid);
        if protocol.is_v5() {
            self.properties.write(buf);
        }
        for f in &self.filters {
            write(buf, f.filter.as_bytes());
            buf.put_u8(f.options.to_byte(protocol));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ReasonCode, decode};

    fn decode_err(bytes: &[u8], protocol: Protocol) -> DecodeError {
        decode(&mut BytesMut::from(bytes), protocol, u32::MAX).unwrap_err()
    }

    #[test]
    fn v5_options_round_trip() {
        let opts = SubOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        assert_eq!(opts.to_byte(Protocol::V5), 0b0010_1110);
        assert_eq!(SubOptions::decode(0b0010_1110, Protocol::V5), Ok(opts));
        assert_eq!(opts.to_byte(Protocol::V311), 2);
    }

    #[test]
    fn v311_subscribe_decodes() {
        let got = decode(
            &mut BytesMut::from(&b"\x82\x08\x00\x01\x00\x03a/b\x01"[..]),
            Protocol::V311,
            u32::MAX,
        );
        let filter = SubscribeFilter {
            filter: "a/b".into(),
            options: SubOptions {
                qos: QoS::AtLeastOnce,
                ..SubOptions::default()
            },
        };
        assert_eq!(
            got.unwrap(),
            Some(Packet::Subscribe(Subscribe {
                pkid: 1,
                filters: vec![filter],
                properties: Properties::default()
            }))
        );
    }

    #[test]
    fn mqtt_3_8_3_3_subscribe_without_filters_is_protocol_error() {
        let err = decode_err(&[0x82, 3, 0, 1, 0], Protocol::V5);
        assert_eq!(err, DecodeError::SubscribeWithoutFilters);
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn mqtt_3_8_3_5_reserved_option_bits_are_malformed() {
        let err = decode_err(b"\x82\x07\x00\x01\x00\x00\x01t\x40", Protocol::V5);
        assert_eq!(err, DecodeError::SubscribeReservedBits { options: 0x40 });
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
        // v3.x: No Local's bit is reserved too.
        let err = decode_err(b"\x82\x06\x00\x01\x00\x01t\x04", Protocol::V311);
        assert_eq!(err, DecodeError::SubscribeReservedBits { options: 0x04 });
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn retain_handling_3_is_malformed() {
        let err = decode_err(b"\x82\x07\x00\x01\x00\x00\x01t\x30", Protocol::V5);
        assert_eq!(err, DecodeError::InvalidRetainHandling);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn subscription_qos_3_is_rejected() {
        let err = decode_err(b"\x82\x06\x00\x01\x00\x01t\x03", Protocol::V311);
        assert_eq!(err, DecodeError::InvalidSubscriptionQoS);
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn mqtt_3_8_3_4_no_local_on_shared_subscription_is_protocol_error() {
        let err = decode_err(b"\x82\x10\x00\x01\x00\x00\x0a$share/g/t\x04", Protocol::V5);
        assert_eq!(err, DecodeError::NoLocalOnSharedSubscription);
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn mqtt_2_2_1_3_packet_id_zero_in_subscribe_is_protocol_error() {
        let err = decode_err(b"\x82\x06\x00\x00\x00\x01t\x00", Protocol::V311);
        assert_eq!(
            err,
            DecodeError::PacketIdZero {
                packet: "SUBSCRIBE"
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn subscription_identifier_once_and_not_zero() {
        // Property length 4: Subscription Identifier 1 twice.
        let err = decode_err(
            b"\x82\x0b\x00\x01\x04\x0b\x01\x0b\x01\x00\x01t\x00",
            Protocol::V5,
        );
        assert_eq!(
            err,
            DecodeError::DuplicateProperty {
                packet: "SUBSCRIBE",
                id: 0x0B
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
        let err = decode_err(b"\x82\x09\x00\x01\x02\x0b\x00\x00\x01t\x00", Protocol::V5);
        assert_eq!(
            err,
            DecodeError::InvalidPropertyValue { id: 0x0B, value: 0 }
        );
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }
}
