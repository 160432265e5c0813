//! Typed `$LINK` decoding: what is tolerated (extra keys, unknown headers) and what is a protocol error.

mod common;

use bytes::Bytes;
use common::*;
use linkmq_etf::link::{ControlMessage, ForwardedMessage, Heartbeat, LinkError, MessageProperties};
use linkmq_etf::{Atom, EtfError, Term, encode};

fn bin(s: &str) -> Term {
    Term::binary(s.as_bytes().to_vec())
}

fn op() -> Term {
    Term::Atom(Atom::Op)
}

fn heartbeat_map() -> Vec<(Term, Term)> {
    vec![
        (Term::int(10), bin(ACTOR)),
        (Term::int(11), Term::int(INCARNATION)),
        (op(), bin("heartbeat")),
    ]
}

fn control(pairs: Vec<(Term, Term)>) -> Result<ControlMessage, LinkError> {
    ControlMessage::decode(&encode(&Term::Map(pairs)))
}

fn without(mut pairs: Vec<(Term, Term)>, key: i64) -> Vec<(Term, Term)> {
    pairs.retain(|(k, _)| *k != Term::Int(key));
    pairs
}

fn with(mut pairs: Vec<(Term, Term)>, key: Term, value: Term) -> Vec<(Term, Term)> {
    pairs.retain(|(k, _)| *k != key);
    pairs.push((key, value));
    pairs
}

#[test]
fn extra_control_keys_are_tolerated() {
    let pairs = with(
        heartbeat_map(),
        Term::int(99),
        Term::Tuple(vec![Term::Atom(Atom::Sys)]),
    );
    let pairs = with(pairs, Term::Atom(Atom::Undefined), Term::List(vec![]));
    assert_eq!(
        control(pairs).unwrap(),
        Heartbeat {
            actor: ACTOR.into(),
            incarnation: INCARNATION
        }
        .into()
    );
}

#[test]
fn unknown_or_missing_op_is_a_protocol_error() {
    let unknown = with(heartbeat_map(), op(), bin("actor_reset"));
    assert_eq!(
        control(unknown),
        Err(LinkError::UnknownOp("actor_reset".into()))
    );
    let missing: Vec<_> = heartbeat_map()
        .into_iter()
        .filter(|(k, _)| *k != op())
        .collect();
    assert_eq!(control(missing), Err(LinkError::MissingOp));
    // '$op' must be a binary, not an atom.
    let atom_op = with(heartbeat_map(), op(), Term::Atom(Atom::Message));
    assert_eq!(control(atom_op), Err(LinkError::MissingOp));
    assert_eq!(
        ControlMessage::decode(&encode(&Term::List(vec![]))),
        Err(LinkError::NotAMap)
    );
}

#[test]
fn every_missing_key_is_named() {
    for (stem, msg) in control_fixtures() {
        let Term::Map(pairs) = msg.to_term() else {
            panic!()
        };
        for (k, _) in pairs.iter().filter(|(k, _)| *k != op()) {
            let key = k.as_i64().unwrap();
            match control(without(pairs.clone(), key)) {
                Err(LinkError::MissingKey { key: missing, .. }) => {
                    assert_eq!(i64::from(missing), key, "{stem}")
                }
                other => panic!("{stem} without {key}: {other:?}"),
            }
        }
    }
}

#[test]
fn field_types_are_checked() {
    let bad = |key: i64, value: Term| control(with(heartbeat_map(), Term::int(key), value));
    assert_eq!(
        bad(11, Term::int(-1)),
        Err(LinkError::BadField {
            op: "heartbeat",
            field: "incarnation",
            expected: "a non-negative integer"
        })
    );
    assert_eq!(
        bad(10, Term::Atom(Atom::Ok)),
        Err(LinkError::BadField {
            op: "heartbeat",
            field: "actor",
            expected: "a UTF-8 binary"
        })
    );
    assert!(matches!(
        bad(10, Term::binary(vec![0xFFu8])),
        Err(LinkError::BadField { field: "actor", .. })
    ));
}

#[test]
fn malformed_route_ops_are_refused() {
    let route = |ops: Vec<Term>| {
        control(vec![
            (Term::int(10), bin(ACTOR)),
            (Term::int(11), Term::int(INCARNATION)),
            (Term::int(12), Term::List(ops)),
            (op(), bin("route")),
        ])
    };
    for bad in [
        Term::Tuple(vec![Term::int(101), bin("t"), bin("t")]),
        Term::Tuple(vec![bin("t")]),
        Term::Tuple(vec![bin("t"), Term::int(1)]),
        Term::Tuple(vec![Term::int(100), bin("t"), bin("t"), bin("t")]),
        bin("t"),
    ] {
        assert!(
            matches!(
                route(vec![bad.clone()]),
                Err(LinkError::BadField {
                    field: "routes",
                    ..
                })
            ),
            "{bad}"
        );
    }
    let not_a_list = control(vec![
        (Term::int(10), bin(ACTOR)),
        (Term::int(11), Term::int(INCARNATION)),
        (Term::int(12), Term::Map(vec![])),
        (op(), bin("route")),
    ]);
    assert!(matches!(
        not_a_list,
        Err(LinkError::BadField {
            field: "routes",
            expected: "a list",
            ..
        })
    ));
}

#[test]
fn ack_result_and_need_bootstrap_are_checked() {
    let Term::Map(ack) = ack(Ok(()), Some(true)).to_term() else {
        panic!()
    };
    for result in [
        Term::Atom(Atom::Error),
        Term::Tuple(vec![Term::Atom(Atom::Ok), bin("x")]),
        Term::Tuple(vec![Term::Atom(Atom::Error), Term::Atom(Atom::Undefined)]),
    ] {
        let r = control(with(ack.clone(), Term::int(15), result.clone()));
        assert!(
            matches!(
                r,
                Err(LinkError::BadField {
                    field: "result",
                    ..
                })
            ),
            "{result}: {r:?}"
        );
    }
    let r = control(with(ack.clone(), Term::int(16), Term::Atom(Atom::Ok)));
    assert!(
        matches!(
            r,
            Err(LinkError::BadField {
                field: "need_bootstrap",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn control_maps_refuse_foreign_atoms() {
    let pairs = with(
        heartbeat_map(),
        Term::int(12),
        Term::Atom(Atom::Other("node_down".into())),
    );
    assert_eq!(
        ControlMessage::decode(&encode(&Term::Map(pairs))),
        Err(LinkError::Etf(EtfError::UnknownAtom("node_down".into())))
    );
}

fn record(mut fields: Vec<Term>) -> Result<ForwardedMessage, LinkError> {
    fields.insert(0, Term::Atom(Atom::Message));
    ForwardedMessage::decode(&encode(&Term::Tuple(fields)))
}

fn minimal_fields() -> Vec<Term> {
    let Term::Tuple(mut t) = message_minimal().to_term() else {
        panic!()
    };
    t.remove(0);
    t
}

#[test]
fn forwarded_message_record_shape_is_checked() {
    assert_eq!(record(minimal_fields()).unwrap(), message_minimal());
    let mut short = minimal_fields();
    short.pop();
    assert!(matches!(
        record(short),
        Err(LinkError::BadField {
            field: "record",
            ..
        })
    ));
    let mut wrong_tag = message_minimal().to_term();
    if let Term::Tuple(t) = &mut wrong_tag {
        t[0] = Term::Atom(Atom::Ok);
    }
    assert!(matches!(
        ForwardedMessage::decode(&encode(&wrong_tag)),
        Err(LinkError::BadField {
            field: "record",
            ..
        })
    ));
    let cases: [(usize, Term, &str); 8] = [
        (0, Term::binary(vec![0u8; 15]), "id"),
        (1, Term::int(3), "qos"),
        (2, Term::int(1), "from"),
        (3, Term::List(vec![]), "flags"),
        (4, Term::List(vec![]), "headers"),
        (5, Term::Atom(Atom::Undefined), "topic"),
        (7, Term::int(-5), "timestamp"),
        (8, Term::List(vec![]), "extra"),
    ];
    for (i, value, field) in cases {
        let mut f = minimal_fields();
        f[i] = value;
        match record(f) {
            Err(LinkError::BadField { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn forwarded_message_tolerates_missing_flags_headers_and_unknown_properties() {
    let mut f = minimal_fields();
    f[3] = Term::Map(vec![(Term::Atom(Atom::Sys), Term::Atom(Atom::True))]);
    f[4] = Term::Map(vec![(
        Term::Atom(Atom::Other("client_attrs".into())),
        Term::Map(vec![]),
    )]);
    assert_eq!(record(f).unwrap(), message_minimal());
    let mut f = minimal_fields();
    f[4] = Term::Map(vec![(
        Term::Atom(Atom::Properties),
        Term::Map(vec![
            (
                Term::Atom(Atom::Other("Subscription-Identifier".into())),
                Term::int(5),
            ),
            (Term::Atom(Atom::ContentType), bin("text/plain")),
        ]),
    )]);
    let got = record(f).unwrap();
    assert_eq!(
        got.properties,
        MessageProperties {
            content_type: Some("text/plain".into()),
            ..Default::default()
        }
    );
    // A node atom as sender is read as its name.
    let mut f = minimal_fields();
    f[2] = Term::Atom(Atom::Other("emqx@n1".into()));
    assert_eq!(record(f).unwrap().from, "emqx@n1");
}

#[test]
fn forwarded_message_property_types_are_checked() {
    let with_prop = |atom: Atom, value: Term| {
        let mut f = minimal_fields();
        f[4] = Term::Map(vec![(
            Term::Atom(Atom::Properties),
            Term::Map(vec![(Term::Atom(atom), value)]),
        )]);
        record(f)
    };
    let cases = [
        (
            Atom::PayloadFormatIndicator,
            Term::int(256),
            "Payload-Format-Indicator",
        ),
        (
            Atom::MessageExpiryInterval,
            Term::int(-1),
            "Message-Expiry-Interval",
        ),
        (Atom::ContentType, Term::int(1), "Content-Type"),
        (Atom::ResponseTopic, Term::List(vec![]), "Response-Topic"),
        (
            Atom::CorrelationData,
            Term::Atom(Atom::Undefined),
            "Correlation-Data",
        ),
        (
            Atom::UserProperty,
            Term::List(vec![Term::Tuple(vec![bin("k")])]),
            "User-Property",
        ),
        (Atom::UserProperty, Term::Map(vec![]), "User-Property"),
    ];
    for (atom, value, field) in cases {
        match with_prop(atom, value) {
            Err(LinkError::BadField { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let ok = with_prop(Atom::CorrelationData, Term::binary(vec![0xFFu8])).unwrap();
    assert_eq!(
        ok.properties.correlation_data,
        Some(Bytes::from_static(&[0xFF]))
    );
}

#[test]
fn link_errors_explain_themselves() {
    assert_eq!(
        LinkError::MissingKey {
            op: "actor_init",
            key: 13,
            name: "target_cluster"
        }
        .to_string(),
        "$LINK actor_init: missing key 13 (target_cluster)"
    );
    assert_eq!(
        LinkError::UnknownOp("x".into()).to_string(),
        "$LINK control map has unknown '$op' \"x\""
    );
}
