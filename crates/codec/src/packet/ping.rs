//! PINGREQ and PINGRESP (§3.12, §3.13): a fixed header and nothing else, the same in every version.
//! Their Remaining Length must be 0; the shared trailing-bytes check rejects anything more.

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use crate::{DecodeError, Packet, Protocol, ReasonCode, decode, encode};

    #[test]
    fn ping_round_trips_in_every_version() {
        for protocol in [Protocol::V31, Protocol::V311, Protocol::V5] {
            for (packet, byte) in [(Packet::PingReq, 0xC0), (Packet::PingResp, 0xD0)] {
                let mut buf = BytesMut::new();
                encode(&packet, protocol, &mut buf).unwrap();
                assert_eq!(&buf[..], &[byte, 0]);
                assert_eq!(decode(&mut buf, protocol, u32::MAX).unwrap(), Some(packet));
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn ping_with_a_body_is_malformed() {
        let err = decode(
            &mut BytesMut::from(&[0xC0, 1, 0][..]),
            Protocol::V5,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(err, DecodeError::TrailingBytes { extra: 1 });
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }
}
