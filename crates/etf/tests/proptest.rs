//! encode ∘ decode = id, for raw terms and for every typed `$LINK` message.

use bytes::Bytes;
use linkmq_etf::link::{
    ActorInit, ActorInitAck, ControlMessage, ForwardedMessage, Heartbeat, MessageProperties,
    RouteBatch, RouteOp,
};
use linkmq_etf::{Atom, DecodeOptions, Term, decode, decode_with, encode, encode_compressed};
use proptest::prelude::*;

fn known_atom() -> impl Strategy<Value = Atom> {
    proptest::sample::select(Atom::KNOWN.to_vec())
}

fn other_atom() -> impl Strategy<Value = Atom> {
    "[a-zA-Z_@.ñ-]{0,12}".prop_filter_map("a known atom is not Other", |s| {
        Atom::known(&s).is_none().then_some(Atom::Other(s))
    })
}

fn big_int() -> impl Strategy<Value = Term> {
    any::<i128>().prop_filter_map("outside i64", |v| {
        i64::try_from(v).is_err().then_some(Term::BigInt(v))
    })
}

/// Canonical terms (as decoding produces them); `lenient` allows atoms outside the protocol set.
fn term(lenient: bool) -> impl Strategy<Value = Term> {
    let atom = if lenient {
        prop_oneof![3 => known_atom(), 1 => other_atom()].boxed()
    } else {
        known_atom().boxed()
    };
    let leaf = prop_oneof![
        atom.prop_map(Term::Atom),
        any::<i64>().prop_map(Term::Int),
        (0i64..300).prop_map(Term::Int),
        big_int(),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Term::binary),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Term::Tuple),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Term::List),
            proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(|pairs| {
                let mut seen = Vec::new();
                Term::Map(
                    pairs
                        .into_iter()
                        .filter(|(k, _)| {
                            let fresh = !seen.contains(k);
                            seen.push(k.clone());
                            fresh
                        })
                        .collect(),
                )
            }),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn route_op() -> impl Strategy<Value = RouteOp> {
    (any::<bool>(), text(), text()).prop_map(|(add, filter, route_id)| {
        if add {
            RouteOp::Add { filter, route_id }
        } else {
            RouteOp::Delete { filter, route_id }
        }
    })
}

fn control_message() -> impl Strategy<Value = ControlMessage> {
    prop_oneof![
        (text(), any::<u64>(), text(), any::<u32>()).prop_map(
            |(actor, incarnation, target_cluster, proto_ver)| {
                ActorInit {
                    actor,
                    incarnation,
                    target_cluster,
                    proto_ver,
                }
                .into()
            }
        ),
        (
            text(),
            any::<u32>(),
            proptest::option::of(text()),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(actor, proto_ver, err, need_bootstrap)| {
                ActorInitAck {
                    actor,
                    proto_ver,
                    result: err.map_or(Ok(()), Err),
                    need_bootstrap,
                }
                .into()
            }),
        (
            text(),
            any::<u64>(),
            proptest::collection::vec(route_op(), 0..40)
        )
            .prop_map(|(actor, incarnation, ops)| RouteBatch {
                actor,
                incarnation,
                ops
            }
            .into()),
        (text(), any::<u64>())
            .prop_map(|(actor, incarnation)| Heartbeat { actor, incarnation }.into()),
    ]
}

fn properties() -> impl Strategy<Value = MessageProperties> {
    (
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(bytes()),
        proptest::collection::vec((bytes(), bytes()), 0..4),
    )
        .prop_map(|(pfi, mei, ct, rt, cd, up)| MessageProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
        })
}

fn forwarded_message() -> impl Strategy<Value = ForwardedMessage> {
    (
        any::<[u8; 16]>(),
        0u8..=2,
        text(),
        any::<(bool, bool)>(),
        properties(),
        text(),
        bytes(),
        any::<u64>(),
    )
        .prop_map(
            |(id, qos, from, (dup, retain), properties, topic, payload, timestamp_ms)| {
                ForwardedMessage {
                    id,
                    qos,
                    from,
                    dup,
                    retain,
                    properties,
                    topic,
                    payload,
                    timestamp_ms,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn term_round_trips_strict(t in term(false)) {
        prop_assert_eq!(decode(&encode(&t)).unwrap(), t.clone());
        prop_assert_eq!(decode(&encode_compressed(&t)).unwrap(), t);
    }

    #[test]
    fn term_round_trips_lenient(t in term(true)) {
        let lenient = DecodeOptions::lenient();
        prop_assert_eq!(decode_with(&encode(&t), lenient).unwrap(), t.clone());
        prop_assert_eq!(decode_with(&encode_compressed(&t), lenient).unwrap(), t);
    }

    #[test]
    fn encoding_is_never_longer_when_compressed(t in term(false)) {
        prop_assert!(encode_compressed(&t).len() <= encode(&t).len());
    }

    #[test]
    fn int_constructor_is_canonical(v in any::<i128>()) {
        let t = Term::int(v);
        prop_assert_eq!(t.as_i128(), Some(v));
        prop_assert_eq!(matches!(t, Term::Int(_)), i64::try_from(v).is_ok());
        prop_assert_eq!(decode(&encode(&t)).unwrap(), t);
    }

    #[test]
    fn control_messages_round_trip(m in control_message()) {
        prop_assert_eq!(ControlMessage::decode(&m.encode()).unwrap(), m.clone());
        prop_assert_eq!(ControlMessage::decode(&encode(&m.to_term())).unwrap(), m);
    }

    #[test]
    fn forwarded_messages_round_trip(m in forwarded_message()) {
        prop_assert_eq!(ForwardedMessage::decode(&m.encode()).unwrap(), m.clone());
        prop_assert_eq!(ForwardedMessage::decode_bytes(&Bytes::from(m.encode())).unwrap(), m.clone());
        // What we send needs no lenient atoms.
        prop_assert!(decode(&m.encode()).is_ok());
    }

    #[test]
    fn forwarded_message_ref_writes_the_bytes_of_the_term(m in forwarded_message()) {
        // The borrowed encoder (the forwarding hot path) against the term tree it replaces.
        prop_assert_eq!(m.as_ref().encode(), encode_compressed(&m.to_term()));
    }
}
