//! SCRAM-SHA-256 (RFC 5802 / RFC 7677) over MQTT v5 enhanced authentication: the stored
//! credential of a user, and the server's side of one exchange.
//!
//! Exchange: CONNECT carries `client-first-message`; the server answers AUTH 0x18 with
//! `server-first-message`; the client's AUTH 0x18 carries `client-final-message`; CONNACK carries
//! `server-final-message` (`v=...`). Channel binding is not supported (`p=` is refused). The
//! password is used as given (no SASLprep), as EMQX does.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use linkmq_codec::ReasonCode;
use linkmq_core::access::{AuthStep, EnhancedAuth};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::hashing::{ct_eq, hmac_sha256};
use super::store::UserStore;

/// The authentication method name in CONNECT/AUTH.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// What the server keeps to verify a SCRAM client without knowing its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// Base64 salt.
    pub salt: String,
    pub iterations: u32,
    /// Base64 `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: String,
    /// Base64 `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: String,
}

impl ScramCredential {
    /// Derives the credential for `password` with a fresh 16-byte salt (PBKDF2, `iterations`).
    pub fn derive(password: &[u8], iterations: u32) -> ScramCredential {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        Self::derive_with_salt(password, &salt, iterations)
    }

    /// Derives the credential with a given salt (tests, fixed vectors).
    pub fn derive_with_salt(password: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        let keys = Keys::from_password(password, salt, iterations.max(1));
        ScramCredential {
            salt: B64.encode(salt),
            iterations: iterations.max(1),
            stored_key: B64.encode(keys.stored_key),
            server_key: B64.encode(keys.server_key),
        }
    }

    fn keys(&self) -> Option<Keys> {
        Some(Keys {
            stored_key: B64.decode(&self.stored_key).ok()?.try_into().ok()?,
            server_key: B64.decode(&self.server_key).ok()?.try_into().ok()?,
        })
    }
}

struct Keys {
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl Keys {
    fn from_password(password: &[u8], salt: &[u8], iterations: u32) -> Keys {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Keys {
            stored_key: sha2::Sha256::digest(client_key).into(),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }
}

enum State {
    /// Waiting for client-first-message.
    Start,
    /// Sent server-first-message; waiting for client-final-message.
    SentFirst {
        user: Option<(Keys, bool)>,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        gs2_header: String,
    },
    Done,
}

/// The server side of one SCRAM-SHA-256 exchange against the built-in user database.
pub struct ScramServer {
    store: Arc<UserStore>,
    default_iterations: u32,
    state: State,
}

impl ScramServer {
    /// A new exchange; unknown users get a mock challenge (no user enumeration) and fail at the end.
    pub fn new(store: Arc<UserStore>, default_iterations: u32) -> ScramServer {
        ScramServer {
            store,
            default_iterations,
            state: State::Start,
        }
    }

    fn client_first(&mut self, msg: &str) -> Result<AuthStep, ReasonCode> {
        // gs2-header: "n,," or "y,," (with an optional "a=authzid"); "p=" asks for channel binding.
        let mut parts = msg.splitn(3, ',');
        let cb = parts.next().ok_or(ReasonCode::NotAuthorized)?;
        let authzid = parts.next().ok_or(ReasonCode::NotAuthorized)?;
        let bare = parts.next().ok_or(ReasonCode::NotAuthorized)?;
        if !(cb == "n" || cb == "y") || !(authzid.is_empty() || authzid.starts_with("a=")) {
            return Err(ReasonCode::NotAuthorized);
        }
        let gs2_header = format!("{cb},{authzid},");
        let mut username = None;
        let mut cnonce = None;
        for (i, attr) in bare.split(',').enumerate() {
            match (i, attr.split_once('=')) {
                (0, Some(("n", v))) => username = Some(unescape_name(v)?),
                (1, Some(("r", v))) if !v.is_empty() => cnonce = Some(v.to_string()),
                (0 | 1, _) => return Err(ReasonCode::NotAuthorized),
                // RFC 5802: "m" is a mandatory extension we do not know: fail.
                (_, Some(("m", _))) => return Err(ReasonCode::NotAuthorized),
                _ => {}
            }
        }
        let (Some(username), Some(cnonce)) = (username, cnonce) else {
            return Err(ReasonCode::NotAuthorized);
        };
        let record = self.store.get(&username);
        let (user, salt, iterations) = match record.and_then(|r| {
            let c = r.scram.clone()?;
            Some((c.keys()?, r.is_superuser, c))
        }) {
            Some((keys, su, c)) => (
                Some((keys, su)),
                B64.decode(&c.salt).unwrap_or_default(),
                c.iterations,
            ),
            None => (
                None,
                mock_salt(&username).to_vec(),
                self.default_iterations.max(1),
            ),
        };
        let mut snonce = [0u8; 18];
        rand::rng().fill_bytes(&mut snonce);
        let nonce = format!("{cnonce}{}", B64.encode(snonce));
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(&salt));
        let out = Bytes::from(server_first.clone().into_bytes());
        self.state = State::SentFirst {
            user,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            gs2_header,
        };
        Ok(AuthStep::Continue(out))
    }

    fn client_final(&mut self, msg: &str) -> Result<AuthStep, ReasonCode> {
        let State::SentFirst {
            user,
            client_first_bare,
            server_first,
            nonce,
            gs2_header,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ReasonCode::ProtocolError);
        };
        let (without_proof, proof) = msg.rsplit_once(",p=").ok_or(ReasonCode::NotAuthorized)?;
        let mut attrs = without_proof.split(',');
        let c = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ReasonCode::NotAuthorized)?;
        let r = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ReasonCode::NotAuthorized)?;
        if B64.decode(c).ok().as_deref() != Some(gs2_header.as_bytes()) || r != nonce {
            return Err(ReasonCode::NotAuthorized);
        }
        let proof: [u8; 32] = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ReasonCode::NotAuthorized)?;
        let Some((keys, is_superuser)) = user else {
            return Err(ReasonCode::BadUserNameOrPassword);
        };
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hmac_sha256(&keys.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; 32];
        for i in 0..32 {
            client_key[i] = proof[i] ^ client_signature[i];
        }
        let stored: [u8; 32] = sha2::Sha256::digest(client_key).into();
        if !ct_eq(&stored, &keys.stored_key) {
            return Err(ReasonCode::BadUserNameOrPassword);
        }
        let server_signature = hmac_sha256(&keys.server_key, auth_message.as_bytes());
        Ok(AuthStep::Success {
            is_superuser,
            data: Some(Bytes::from(format!("v={}", B64.encode(server_signature)))),
        })
    }
}

impl EnhancedAuth for ScramServer {
    fn step(&mut self, data: &[u8]) -> AuthStep {
        let Ok(msg) = std::str::from_utf8(data) else {
            self.state = State::Done;
            return AuthStep::Failure(ReasonCode::NotAuthorized);
        };
        let r = match self.state {
            State::Start => self.client_first(msg),
            State::SentFirst { .. } => self.client_final(msg),
            State::Done => Err(ReasonCode::ProtocolError),
        };
        r.unwrap_or_else(|rc| {
            self.state = State::Done;
            AuthStep::Failure(rc)
        })
    }
}

/// `saslname`: `=2C` is ',', `=3D` is '='; any other '=' is malformed.
fn unescape_name(v: &str) -> Result<String, ReasonCode> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3) {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(ReasonCode::NotAuthorized),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A stable per-name salt for unknown users, so probing cannot tell them from real ones.
fn mock_salt(username: &str) -> [u8; 16] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        k
    });
    let h = hmac_sha256(key, username.as_bytes());
    h[..16].try_into().expect("16 of 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7677_test_vector_keys() {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let c = ScramCredential::derive_with_salt(b"pencil", &salt, 4096);
        let keys = c.keys().unwrap();
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let sig = hmac_sha256(&keys.server_key, auth_message.as_bytes());
        assert_eq!(
            B64.encode(sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let client_sig = hmac_sha256(&keys.stored_key, auth_message.as_bytes());
        let proof = B64
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof.iter().zip(client_sig).map(|(a, b)| a ^ b).collect();
        let stored: [u8; 32] = sha2::Sha256::digest(&client_key).into();
        assert_eq!(stored, keys.stored_key);
    }

    #[test]
    fn saslname_escapes() {
        assert_eq!(unescape_name("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert!(unescape_name("a=b").is_err());
    }
}
