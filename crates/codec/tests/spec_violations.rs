//! One test per normative statement the decoder enforces, named after it. Each asserts the exact
//! error variant and the reason code a v5 server answers with.

use bytes::BytesMut;
use linkmq_codec::{DecodeError, Protocol, ReasonCode, decode};

fn decode_err(bytes: &[u8], protocol: Protocol) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, protocol, u32::MAX).expect_err("must be rejected")
}

fn assert_rejected(bytes: &[u8], protocol: Protocol, want: DecodeError, code: ReasonCode) {
    let err = decode_err(bytes, protocol);
    assert_eq!(err, want, "{bytes:02x?}");
    assert_eq!(err.reason_code(), code, "{err}");
    assert!(
        err.to_string().starts_with(&format!("[{}]", err.spec_id())),
        "{err}"
    );
}

const MALFORMED: ReasonCode = ReasonCode::MalformedPacket;
const PROTOCOL_ERROR: ReasonCode = ReasonCode::ProtocolError;

/// A v5 CONNECT "MQTT"/5 with clean start, keep alive 60, no properties, client id "c".
const V5_CONNECT: &[u8] = b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01c";

#[test]
fn mqtt_1_5_4_1_ill_formed_utf8_is_malformed() {
    // PUBLISH whose topic is the UTF-8 encoding of the surrogate U+D800.
    assert_rejected(
        b"\x30\x05\x00\x03\xed\xa0\x80",
        Protocol::V311,
        DecodeError::InvalidUtf8,
        MALFORMED,
    );
}

#[test]
fn mqtt_1_5_4_2_string_with_nul_is_malformed() {
    assert_rejected(
        b"\x30\x05\x00\x03a\x00b",
        Protocol::V5,
        DecodeError::NulInString,
        MALFORMED,
    );
    // Same in v3.1.1, here in a client id.
    assert_rejected(
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01\x00",
        Protocol::V311,
        DecodeError::NulInString,
        MALFORMED,
    );
}

#[test]
fn mqtt_1_5_5_1_remaining_length_over_4_bytes() {
    assert_rejected(
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        Protocol::V5,
        DecodeError::VarIntTooLong,
        MALFORMED,
    );
    // Detected as soon as the fifth length byte could start, without waiting for it.
    assert_rejected(
        &[0xC0, 0x80, 0x80, 0x80, 0x80],
        Protocol::V311,
        DecodeError::VarIntTooLong,
        MALFORMED,
    );
}

#[test]
fn mqtt_1_5_5_1_property_length_over_4_bytes() {
    assert_rejected(
        b"\x30\x08\x00\x01t\x80\x80\x80\x80\x01",
        Protocol::V5,
        DecodeError::VarIntTooLong,
        MALFORMED,
    );
}

#[test]
fn mqtt_2_1_3_1_reserved_flags() {
    for (byte, packet_type, flags) in [
        (0x63, 6, 3),
        (0x80, 8, 0),
        (0xA3, 10, 3),
        (0x41, 4, 1),
        (0xC8, 12, 8),
    ] {
        assert_rejected(
            &[byte, 0],
            Protocol::V311,
            DecodeError::ReservedFlags { packet_type, flags },
            MALFORMED,
        );
    }
}

#[test]
fn mqtt_2_1_2_reserved_packet_type_and_auth_in_v3() {
    assert_rejected(
        &[0x00, 0],
        Protocol::V5,
        DecodeError::InvalidPacketType { packet_type: 0 },
        MALFORMED,
    );
    assert_rejected(
        &[0xF0, 0],
        Protocol::V311,
        DecodeError::InvalidPacketType { packet_type: 15 },
        MALFORMED,
    );
    assert_rejected(
        &[0xF0, 0],
        Protocol::V31,
        DecodeError::InvalidPacketType { packet_type: 15 },
        MALFORMED,
    );
}

#[test]
fn mqtt_2_1_4_remaining_length_must_match_contents() {
    // PUBACK claiming 3 bytes in v3.1.1 (the body is exactly 2).
    assert_rejected(
        &[0x40, 3, 0, 1, 0],
        Protocol::V311,
        DecodeError::TrailingBytes { extra: 1 },
        MALFORMED,
    );
    // Topic length runs past the remaining length.
    assert_rejected(
        b"\x30\x03\x00\x05a",
        Protocol::V5,
        DecodeError::UnexpectedEnd,
        MALFORMED,
    );
    // Property length runs past the remaining length.
    assert_rejected(
        b"\x40\x05\x00\x01\x00\x09\x1f",
        Protocol::V5,
        DecodeError::UnexpectedEnd,
        MALFORMED,
    );
}

#[test]
fn mqtt_2_2_1_3_packet_id_zero() {
    for (bytes, packet) in [
        (&b"\x32\x05\x00\x01t\x00\x00"[..], "PUBLISH"),
        (&b"\x82\x06\x00\x00\x00\x01t\x00"[..], "SUBSCRIBE"),
        (&b"\xa2\x05\x00\x00\x00\x01t"[..], "UNSUBSCRIBE"),
        (&b"\x40\x02\x00\x00"[..], "PUBACK"),
        (&b"\x50\x02\x00\x00"[..], "PUBREC"),
        (&b"\x62\x02\x00\x00"[..], "PUBREL"),
        (&b"\x70\x02\x00\x00"[..], "PUBCOMP"),
        (&b"\x90\x03\x00\x00\x00"[..], "SUBACK"),
        (&b"\xb0\x02\x00\x00"[..], "UNSUBACK"),
    ] {
        assert_rejected(
            bytes,
            Protocol::V311,
            DecodeError::PacketIdZero { packet },
            PROTOCOL_ERROR,
        );
    }
}

#[test]
fn mqtt_2_2_2_2_duplicate_property() {
    // PUBLISH with Message Expiry Interval twice.
    assert_rejected(
        b"\x30\x0e\x00\x01t\x0a\x02\x00\x00\x00\x01\x02\x00\x00\x00\x02",
        Protocol::V5,
        DecodeError::DuplicateProperty {
            packet: "PUBLISH",
            id: 0x02,
        },
        PROTOCOL_ERROR,
    );
    // DISCONNECT with Reason String twice.
    assert_rejected(
        b"\xe0\x0a\x00\x08\x1f\x00\x01a\x1f\x00\x01b",
        Protocol::V5,
        DecodeError::DuplicateProperty {
            packet: "DISCONNECT",
            id: 0x1F,
        },
        PROTOCOL_ERROR,
    );
}

#[test]
fn mqtt_2_2_2_2_user_property_may_repeat() {
    let mut buf =
        BytesMut::from(&b"\xe0\x0e\x00\x0c\x26\x00\x01a\x00\x00\x26\x00\x01a\x00\x00"[..]);
    assert!(decode(&mut buf, Protocol::V5, u32::MAX).unwrap().is_some());
}

#[test]
fn mqtt_2_2_2_2_property_not_allowed_on_packet() {
    // Topic Alias (0x23) in PUBACK.
    assert_rejected(
        b"\x40\x07\x00\x01\x00\x03\x23\x00\x01",
        Protocol::V5,
        DecodeError::PropertyNotAllowed {
            packet: "PUBACK",
            id: 0x23,
        },
        MALFORMED,
    );
    // Session Expiry Interval (0x11) in PUBLISH.
    assert_rejected(
        b"\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01",
        Protocol::V5,
        DecodeError::PropertyNotAllowed {
            packet: "PUBLISH",
            id: 0x11,
        },
        MALFORMED,
    );
    // Will Delay Interval (0x18) in CONNECT's own properties (it belongs to the will).
    assert_rejected(
        b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x05\x18\x00\x00\x00\x01\x00\x01c",
        Protocol::V5,
        DecodeError::PropertyNotAllowed {
            packet: "CONNECT",
            id: 0x18,
        },
        MALFORMED,
    );
}

#[test]
fn mqtt_2_2_2_2_unknown_property_identifier() {
    assert_rejected(
        b"\x40\x06\x00\x01\x00\x02\x04\x00",
        Protocol::V5,
        DecodeError::UnknownProperty { id: 0x04 },
        MALFORMED,
    );
}

#[test]
fn mqtt_2_2_2_2_out_of_range_property_values_are_protocol_errors() {
    for (bytes, id, value) in [
        // Payload Format Indicator 2 in PUBLISH.
        (&b"\x30\x06\x00\x01t\x02\x01\x02"[..], 0x01, 2),
        // Receive Maximum 0 in CONNECT.
        (
            &b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x01c"[..],
            0x21,
            0,
        ),
        // Subscription Identifier 0 in PUBLISH.
        (&b"\x30\x06\x00\x01t\x02\x0b\x00"[..], 0x0B, 0),
        // Maximum Packet Size 0 in CONNECT.
        (
            &b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x05\x27\x00\x00\x00\x00\x00\x01c"[..],
            0x27,
            0,
        ),
    ] {
        assert_rejected(
            bytes,
            Protocol::V5,
            DecodeError::InvalidPropertyValue { id, value },
            PROTOCOL_ERROR,
        );
    }
}

#[test]
fn mqtt_2_4_reason_code_not_allowed_on_packet_is_malformed() {
    assert_rejected(
        &[0xE0, 1, 0x92],
        Protocol::V5,
        DecodeError::InvalidReasonCode {
            packet: "DISCONNECT",
            code: 0x92,
        },
        MALFORMED,
    );
    assert_rejected(
        &[0xF0, 2, 0x80, 0],
        Protocol::V5,
        DecodeError::InvalidReasonCode {
            packet: "AUTH",
            code: 0x80,
        },
        MALFORMED,
    );
    assert_rejected(
        &[0xB0, 4, 0, 1, 0, 0x03],
        Protocol::V5,
        DecodeError::InvalidReasonCode {
            packet: "UNSUBACK",
            code: 0x03,
        },
        MALFORMED,
    );
}

#[test]
fn mqtt_3_1_2_1_bad_protocol_name_is_unsupported_protocol_0x84() {
    assert_rejected(
        b"\x10\x0e\x00\x04MQTX\x05\x02\x00\x3c\x00\x00\x01c",
        Protocol::V5,
        DecodeError::UnsupportedProtocol { level: 5 },
        ReasonCode::UnsupportedProtocolVersion,
    );
}

#[test]
fn mqtt_3_1_2_2_bad_protocol_level_is_unsupported_protocol_0x84() {
    let mut bytes = V5_CONNECT.to_vec();
    bytes[8] = 6;
    assert_rejected(
        &bytes,
        Protocol::V5,
        DecodeError::UnsupportedProtocol { level: 6 },
        ReasonCode::UnsupportedProtocolVersion,
    );
}

#[test]
fn mqtt_3_1_2_3_connect_reserved_flag() {
    let mut bytes = V5_CONNECT.to_vec();
    bytes[9] |= 1;
    assert_rejected(
        &bytes,
        Protocol::V5,
        DecodeError::ConnectReservedFlag,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_1_2_11_will_qos_without_will_flag() {
    let mut bytes = V5_CONNECT.to_vec();
    bytes[9] |= 0b0001_0000;
    assert_rejected(
        &bytes,
        Protocol::V5,
        DecodeError::WillQoSWithoutWill,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_1_2_12_will_qos_3() {
    let mut bytes = V5_CONNECT.to_vec();
    bytes[9] |= 0b0001_1100;
    assert_rejected(&bytes, Protocol::V5, DecodeError::InvalidWillQoS, MALFORMED);
}

#[test]
fn mqtt_3_1_2_13_will_retain_without_will_flag() {
    let mut bytes = V5_CONNECT.to_vec();
    bytes[9] |= 0b0010_0000;
    assert_rejected(
        &bytes,
        Protocol::V5,
        DecodeError::WillRetainWithoutWill,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_1_2_22_password_without_username_in_v311() {
    assert_rejected(
        b"\x10\x10\x00\x04MQTT\x04\x42\x00\x3c\x00\x01c\x00\x01p",
        Protocol::V311,
        DecodeError::PasswordWithoutUsername,
        MALFORMED,
    );
    let mut ok = BytesMut::from(&b"\x10\x11\x00\x04MQTT\x05\x42\x00\x3c\x00\x00\x01c\x00\x01p"[..]);
    assert!(
        decode(&mut ok, Protocol::V5, u32::MAX).unwrap().is_some(),
        "allowed in v5"
    );
}

#[test]
fn mqtt_3_2_2_1_connack_reserved_flags() {
    assert_rejected(
        &[0x20, 2, 0x80, 0],
        Protocol::V311,
        DecodeError::ConnAckReservedFlags,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_3_1_2_dup_with_qos_0() {
    assert_rejected(
        b"\x38\x03\x00\x01t",
        Protocol::V5,
        DecodeError::DupWithQoS0,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_3_1_4_publish_qos_3() {
    assert_rejected(
        b"\x36\x05\x00\x01t\x00\x01",
        Protocol::V311,
        DecodeError::InvalidQoS,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_3_2_2_wildcard_in_publish_topic_is_0x90() {
    assert_rejected(
        b"\x30\x04\x00\x02a+",
        Protocol::V5,
        DecodeError::WildcardInTopicName,
        ReasonCode::TopicNameInvalid,
    );
    assert_rejected(
        b"\x30\x03\x00\x01#",
        Protocol::V311,
        DecodeError::WildcardInTopicName,
        ReasonCode::TopicNameInvalid,
    );
}

#[test]
fn mqtt_3_3_2_8_topic_alias_zero_is_0x94() {
    assert_rejected(
        b"\x30\x07\x00\x01t\x03\x23\x00\x00",
        Protocol::V5,
        DecodeError::TopicAliasZero,
        ReasonCode::TopicAliasInvalid,
    );
}

#[test]
fn mqtt_4_7_3_1_empty_topic_without_alias() {
    assert_rejected(
        b"\x30\x03\x00\x00\x00",
        Protocol::V5,
        DecodeError::EmptyTopicName,
        PROTOCOL_ERROR,
    );
    assert_rejected(
        b"\x30\x02\x00\x00",
        Protocol::V311,
        DecodeError::EmptyTopicName,
        PROTOCOL_ERROR,
    );
    let mut ok = BytesMut::from(&b"\x30\x06\x00\x00\x03\x23\x00\x01"[..]);
    assert!(
        decode(&mut ok, Protocol::V5, u32::MAX).unwrap().is_some(),
        "allowed with a Topic Alias"
    );
}

#[test]
fn mqtt_3_8_3_3_subscribe_without_filters() {
    assert_rejected(
        &[0x82, 2, 0, 1],
        Protocol::V311,
        DecodeError::SubscribeWithoutFilters,
        PROTOCOL_ERROR,
    );
}

#[test]
fn mqtt_3_8_3_4_no_local_on_shared_subscription() {
    assert_rejected(
        b"\x82\x10\x00\x01\x00\x00\x0a$share/g/t\x04",
        Protocol::V5,
        DecodeError::NoLocalOnSharedSubscription,
        PROTOCOL_ERROR,
    );
}

#[test]
fn mqtt_3_8_3_5_subscribe_reserved_option_bits() {
    assert_rejected(
        b"\x82\x07\x00\x01\x00\x00\x01t\x80",
        Protocol::V5,
        DecodeError::SubscribeReservedBits { options: 0x80 },
        MALFORMED,
    );
    // v3.x: only the QoS bits may be set.
    assert_rejected(
        b"\x82\x06\x00\x01\x00\x01t\x08",
        Protocol::V311,
        DecodeError::SubscribeReservedBits { options: 0x08 },
        MALFORMED,
    );
}

#[test]
fn mqtt_3_8_3_1_retain_handling_3_is_malformed() {
    assert_rejected(
        b"\x82\x07\x00\x01\x00\x00\x01t\x30",
        Protocol::V5,
        DecodeError::InvalidRetainHandling,
        MALFORMED,
    );
}

#[test]
fn mqtt_3_8_3_1_subscription_qos_3() {
    assert_rejected(
        b"\x82\x07\x00\x01\x00\x00\x01t\x03",
        Protocol::V5,
        DecodeError::InvalidSubscriptionQoS,
        PROTOCOL_ERROR,
    );
}

#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters() {
    assert_rejected(
        &[0xA2, 3, 0, 1, 0],
        Protocol::V5,
        DecodeError::UnsubscribeWithoutFilters,
        PROTOCOL_ERROR,
    );
}

#[test]
fn mqtt_3_2_2_15_packet_too_large_before_the_body_arrives() {
    // Fixed header announcing 1000 bytes; none of the body has arrived.
    let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
    let err = decode(&mut buf, Protocol::V5, 100).unwrap_err();
    assert_eq!(
        err,
        DecodeError::PacketTooLarge {
            size: 1003,
            max: 100
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
    // The largest Remaining Length, with the default-size limit a broker would use.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let err = decode(&mut buf, Protocol::V311, 1024 * 1024).unwrap_err();
    assert_eq!(
        err,
        DecodeError::PacketTooLarge {
            size: 268_435_460,
            max: 1024 * 1024
        }
    );
}

#[test]
fn max_packet_size_counts_the_whole_packet() {
    let publish = b"\x30\x05\x00\x01thi";
    let mut at_limit = BytesMut::from(&publish[..]);
    assert!(decode(&mut at_limit, Protocol::V311, 7).unwrap().is_some());
    let mut over = BytesMut::from(&publish[..]);
    assert_eq!(
        decode(&mut over, Protocol::V311, 6),
        Err(DecodeError::PacketTooLarge { size: 7, max: 6 })
    );
}

#[test]
fn every_error_names_its_spec_statement() {
    for err in [
        DecodeError::VarIntTooLong,
        DecodeError::UnsupportedProtocol { level: 9 },
        DecodeError::WildcardInTopicName,
        DecodeError::DuplicateProperty {
            packet: "PUBLISH",
            id: 2,
        },
    ] {
        assert!(
            err.to_string()
                .starts_with(&format!("[{}] ", err.spec_id())),
            "{err}"
        );
    }
    assert_eq!(
        DecodeError::WildcardInTopicName.to_string(),
        "[MQTT-3.3.2-2] Topic Name in PUBLISH contains a wildcard"
    );
}
