//! UNSUBSCRIBE (§3.10): Packet Identifier, v5 properties (User Property only), one or more filters.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Unsubscribe, read_pkid};
use crate::error::{DecodeError, EncodeError};
use crate::properties::PropertyContext;
use crate::strings::{read_string, string_len, write};
use crate::types::{Properties, Protocol};

impl Unsubscribe {
    pub(crate) fn decode(body: &mut Bytes, protocol: Protocol) -> Result<Unsubscribe, DecodeError> {
        let pkid = read_pkid(body, "UNSUBSCRIBE")?;
        let properties = if protocol.is_v5() {
            Properties::decode(body, PropertyContext::Unsubscribe)?
        } else {
            Properties::default()
        };
        let mut filters = Vec::new();
        while !body.is_empty() {
            filters.push(read_string(body)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::UnsubscribeWithoutFilters);
        }
        Ok(Unsubscribe {
            pkid,
            filters,
            properties,
        })
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let mut len = 2;
        if protocol.is_v5() {
            len += self.properties.encoded_len(PropertyContext::Unsubscribe)?;
        }
        for f in &self.filters {
            len += string_len(f)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u16(self.pkid);
        if protocol.is_v5() {
            self.properties.write(buf);
        }
        for f in &self.filters {
            write(buf, f.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ReasonCode, decode};

    #[test]
    fn v311_unsubscribe_decodes() {
        let got = decode(
            &mut BytesMut::from(&b"\xa2\x07\x00\x05\x00\x03a/#"[..]),
            Protocol::V311,
            u32::MAX,
        );
        assert_eq!(
            got.unwrap(),
            Some(Packet::Unsubscribe(Unsubscribe {
                pkid: 5,
                filters: vec!["a/#".into()],
                properties: Properties::default()
            }))
        );
    }

    #[test]
    fn mqtt_3_10_3_2_unsubscribe_without_filters_is_protocol_error() {
        let err = decode(
            &mut BytesMut::from(&[0xA2, 2, 0, 1][..]),
            Protocol::V311,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(err, DecodeError::UnsubscribeWithoutFilters);
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn property_not_allowed_in_unsubscribe_is_malformed() {
        // Property length 2: Subscription Identifier 1 -- allowed in SUBSCRIBE, not here.
        let err = decode(
            &mut BytesMut::from(&b"\xa2\x08\x00\x01\x02\x0b\x01\x00\x01t"[..]),
            Protocol::V5,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err,
            DecodeError::PropertyNotAllowed {
                packet: "UNSUBSCRIBE",
                id: 0x0B
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }
}
