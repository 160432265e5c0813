//! `listeners.<type>.<name>.enable_authn = false`: EMQX's per-listener anonymous access. Clients of
//! that listener are let in without credentials while another listener still authenticates.

mod access_support;

use access_support::{ConfNode, connack, creds};
use linkmq_client::ConnectOptions;
use linkmq_codec::ReasonCode;

const CONF: &str = r#"
authentication = [{
  mechanism = password_based
  backend = built_in_database
  password_hash_algorithm { name = plain, salt_position = disable }
  bootstrap_file = "etc/users.json"
  bootstrap_type = plain
}]
authorization.sources = []
listeners.tcp.open { bind = "127.0.0.1:0", enable_authn = false }
"#;

const USERS: &str = r#"[{"user_id": "alice", "password": "alice-pw", "is_superuser": false}]"#;

#[tokio::test]
async fn enable_authn_false_lets_anonymous_and_unknown_clients_in_on_that_listener_only() {
    let n = ConfNode::start(CONF, &[("etc/users.json", USERS)]).await;
    let open = linkmq_tests::listener_addr(&n.node, "tcp:open");

    // The default listener authenticates.
    assert_eq!(
        connack(n.opts("anon")).await,
        ReasonCode::BadUserNameOrPassword
    );
    assert_eq!(
        connack(creds(n.opts("m"), "mallory", "x")).await,
        ReasonCode::BadUserNameOrPassword
    );
    assert_eq!(
        connack(creds(n.opts("a"), "alice", "alice-pw")).await,
        ReasonCode::Success
    );

    // The listener with enable_authn = false does not.
    assert_eq!(
        connack(ConnectOptions::new(open.clone(), "anon2")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(creds(ConnectOptions::new(open, "m2"), "mallory", "x")).await,
        ReasonCode::Success
    );
}
