//! Real Erlang as the oracle: our encodings are fed to `binary_to_term(Bin, [safe])` (as EMQX decodes
//! them) through `fixtures/check_decode.escript`, which must accept each and produce the expected term.
//! Runs when `escript` (Debian `erlang-base`) is on PATH; CI installs it.

mod common;

use std::process::Command;

use common::*;
use linkmq_etf::link::{ControlMessage, ForwardedMessage, RouteBatch};
use linkmq_etf::{Atom, Term, encode, encode_compressed};

/// A fresh temporary directory for one oracle run (tests run in parallel), removed on drop.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("linkmq-etf-oracle-")
        .tempdir()
        .unwrap()
}

/// Runs the oracle over (file name, bytes, expected Erlang expression); returns its output, or `None`
/// when Erlang is not installed.
fn oracle(cases: &[(String, Vec<u8>, String)]) -> Option<(bool, String)> {
    let scratch = scratch();
    let dir = scratch.path();
    let mut cmd = Command::new("escript");
    cmd.arg(fixtures_dir().join("check_decode.escript"));
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        cmd.arg(&path).arg(expected);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: `escript` is not on PATH (apt-get install erlang-base); Erlang oracle not run"
            );
            return None;
        }
        Err(e) => panic!("running escript: {e}"),
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text))
}

/// Both our encodings of `term`, each with the same expected expression.
fn plain_and_compressed(name: &str, term: &Term, expected: &str) -> [(String, Vec<u8>, String); 2] {
    [
        (format!("{name}.bin"), encode(term), expected.to_owned()),
        (
            format!("{name}.z.bin"),
            encode_compressed(term),
            expected.to_owned(),
        ),
    ]
}

fn assert_all_match(cases: &[(String, Vec<u8>, String)]) {
    let Some((ok, text)) = oracle(cases) else {
        return;
    };
    for (name, _, _) in cases {
        assert!(
            text.lines()
                .any(|l| l.starts_with("MATCH ") && l.ends_with(name.as_str())),
            "{name}:\n{text}"
        );
    }
    assert!(ok, "{text}");
}

const ACTOR_BIN: &str = r#"<<"emqx@node1.example">>"#;

#[test]
fn erlang_decodes_our_control_messages_to_the_spec_terms() {
    let expected: Vec<(&str, String)> = vec![
        (
            "actor_init",
            format!(
                r#"#{{'$op' => <<"actor_init">>, 14 => 1, 13 => <<"cluster-b">>, 10 => {ACTOR_BIN}, 11 => 1718000000123}}"#
            ),
        ),
        (
            "actor_init_ack_ok_bootstrap",
            format!(
                r#"#{{'$op' => <<"actor_init_ack">>, 14 => 1, 10 => {ACTOR_BIN}, 15 => ok, 16 => true}}"#
            ),
        ),
        (
            "actor_init_ack_ok_resume",
            format!(
                r#"#{{'$op' => <<"actor_init_ack">>, 14 => 1, 10 => {ACTOR_BIN}, 15 => ok, 16 => false}}"#
            ),
        ),
        (
            "actor_init_ack_unknown_cluster",
            format!(
                r#"#{{'$op' => <<"actor_init_ack">>, 14 => 1, 10 => {ACTOR_BIN}, 15 => {{error, <<"unknown_cluster">>}}, 16 => undefined}}"#
            ),
        ),
        (
            "actor_init_ack_bad_remote_cluster_link_name",
            format!(
                r#"#{{'$op' => <<"actor_init_ack">>, 14 => 1, 10 => {ACTOR_BIN}, 15 => {{error, <<"bad_remote_cluster_link_name">>}}, 16 => undefined}}"#
            ),
        ),
        (
            "actor_init_ack_cluster_link_disabled",
            format!(
                r#"#{{'$op' => <<"actor_init_ack">>, 14 => 1, 10 => {ACTOR_BIN}, 15 => {{error, <<"cluster_link_disabled">>}}, 16 => undefined}}"#
            ),
        ),
        (
            "route_batch",
            format!(
                r#"#{{'$op' => <<"route">>, 10 => {ACTOR_BIN}, 11 => 1718000000123, 12 => [{{<<"t/1/2/3/#">>, <<"t/+/2/3/#">>}}, {{<<"t/#">>, <<"$s/g/t/#">>}}, {{100, <<"t/z">>, <<"t/z">>}}, {{100, <<"t/#">>, <<"$s/g/t/#">>}}, {{<<"sensor/+/temp">>, <<"sensor/+/temp">>}}]}}"#
            ),
        ),
        (
            "route_batch_empty",
            format!(
                r#"#{{'$op' => <<"route">>, 10 => {ACTOR_BIN}, 11 => 1718000000123, 12 => []}}"#
            ),
        ),
        (
            "route_batch_large",
            format!(
                r#"#{{'$op' => <<"route">>, 10 => {ACTOR_BIN}, 11 => 1718000000123, 12 => [case N rem 3 of 0 -> {{100, F, F}}; _ -> {{F, F}} end || N <- lists:seq(1, 1000), F <- [iolist_to_binary(io_lib:format("devices/~b/telemetry/#", [N]))]]}}"#
            ),
        ),
        (
            "heartbeat",
            format!(r#"#{{'$op' => <<"heartbeat">>, 10 => {ACTOR_BIN}, 11 => 1718000000123}}"#),
        ),
    ];
    let fixtures = control_fixtures();
    assert_eq!(fixtures.len(), expected.len());
    let mut cases = Vec::new();
    for ((stem, msg), (stem2, expr)) in fixtures.iter().zip(&expected) {
        assert_eq!(stem, stem2);
        cases.extend(plain_and_compressed(stem, &msg.to_term(), expr));
        // What the link actually sends.
        cases.push((format!("{stem}.sent.bin"), msg.encode(), expr.clone()));
    }
    assert_all_match(&cases);
}

#[test]
fn erlang_decodes_our_forwarded_messages_to_message_records() {
    let id = "<<0,6,16#1A,16#2B,16#3C,16#4D,16#5E,16#6F,16#70,16#81,16#92,16#A3,16#B4,16#C5,16#D6,16#E7>>";
    let full = format!(
        r#"{{message, {id}, 2, <<"pub-1">>, #{{dup => true, retain => true}},
            #{{properties => #{{'Payload-Format-Indicator' => 1, 'Message-Expiry-Interval' => 3600,
                               'Content-Type' => <<"application/json">>, 'Response-Topic' => <<"reply/to/me">>,
                               'Correlation-Data' => <<0, 1, 2, 255>>,
                               'User-Property' => [{{<<"k1">>, <<"v1">>}}, {{<<"k1">>, <<"v2">>}}, {{<<"ключ"/utf8>>, <<>>}}]}}}},
            <<"t/1/2/3/x">>, <<"{{\"temp\": 21.5}}">>, 1718000000456, #{{}}}}"#
    );
    let minimal = format!(
        r#"{{message, {id}, 0, <<"pub-2">>, #{{dup => false, retain => false}}, #{{properties => #{{}}}},
            <<"t/1">>, <<>>, 1718000000999, #{{}}}}"#
    );
    let mut cases = Vec::new();
    for (name, msg, expr) in [
        ("message_full", message_full(), full),
        ("message_minimal", message_minimal(), minimal),
    ] {
        cases.extend(plain_and_compressed(name, &msg.to_term(), &expr));
        cases.push((
            format!("{name}.sent.bin"),
            ForwardedMessage::encode(&msg),
            expr,
        ));
    }
    assert_all_match(&cases);
}

#[test]
fn erlang_decodes_every_integer_width_and_container_we_write() {
    let term = Term::Tuple(vec![
        Term::List((0..=255).map(Term::int).collect()),
        Term::List(vec![
            Term::int(-1),
            Term::int(256),
            Term::int(i32::MIN),
            Term::int(i32::MAX),
        ]),
        Term::List(
            [
                1i128 << 31,
                -(1i128 << 31) - 1,
                i64::MAX.into(),
                i64::MIN.into(),
                u64::MAX.into(),
                i128::MAX,
                i128::MIN,
            ]
            .into_iter()
            .map(Term::int)
            .collect(),
        ),
        Term::Tuple((0..300).map(|i| Term::int(i * 1000)).collect()),
        Term::List(vec![
            Term::List(vec![]),
            Term::Map(vec![]),
            Term::Tuple(vec![]),
            Term::binary(vec![0u8; 3]),
        ]),
        Term::Map(vec![
            (Term::Atom(Atom::Sys), Term::Atom(Atom::True)),
            (Term::int(7), Term::binary("x")),
        ]),
    ]);
    // The expected expression is our own rendering, so write it independently for the big values.
    let rendered = term.to_string();
    assert!(
        rendered.contains("170141183460469231731687303715884105727"),
        "{rendered}"
    );
    assert!(
        rendered.contains("-170141183460469231731687303715884105728"),
        "{rendered}"
    );
    assert_all_match(&plain_and_compressed("ints", &term, &rendered));
}

#[test]
fn erlang_refuses_an_atom_outside_the_protocol_set_so_the_oracle_is_strict() {
    let term = Term::Tuple(vec![
        Term::Atom(Atom::Ok),
        Term::Atom(Atom::Other("not_an_emqx_atom_xyz".into())),
    ]);
    let cases = [(
        "foreign_atom.bin".to_owned(),
        encode(&term),
        "{ok, x}".to_owned(),
    )];
    let Some((ok, text)) = oracle(&cases) else {
        return;
    };
    assert!(!ok, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("REFUSED ") && l.contains("foreign_atom.bin")),
        "{text}"
    );
}

#[test]
fn route_batch_of_4000_ops_is_accepted_by_erlang() {
    let batch = RouteBatch {
        actor: ACTOR.into(),
        incarnation: INCARNATION,
        ops: (0..linkmq_etf::link::MAX_ROUTE_OPS)
            .map(|n| linkmq_etf::link::RouteOp::Add {
                filter: format!("a/{n}/#"),
                route_id: format!("$s/g{n}/a/{n}/#"),
            })
            .collect(),
    };
    let expr = format!(
        r#"#{{'$op' => <<"route">>, 10 => {ACTOR_BIN}, 11 => 1718000000123, 12 => [{{iolist_to_binary(io_lib:format("a/~b/#", [N])), iolist_to_binary(io_lib:format("$s/g~b/a/~b/#", [N, N]))}} || N <- lists:seq(0, 3999)]}}"#
    );
    let bytes = ControlMessage::Route(batch).encode();
    assert_eq!(&bytes[..2], &[131, 80], "a full batch goes compressed");
    assert_all_match(&[("route_4000.bin".to_owned(), bytes, expr)]);
}
