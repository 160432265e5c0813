//! EMQX password hashing (`password_hash_algorithm`): the simple salted digests, PBKDF2 and bcrypt,
//! byte-for-byte compatible with EMQX's built-in database so its exported users load here.
//!
//! Hashes are lowercase hex (bcrypt: the `$2b$...` string); salts are 32 hex characters used as
//! text, as EMQX generates them. Comparison is constant-time.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Digest;

/// The digest of `name = plain | md5 | sha | sha256 | sha512`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleHash {
    Plain,
    Md5,
    Sha,
    Sha256,
    Sha512,
}

/// Where the salt goes for the simple digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaltPosition {
    Disable,
    Prefix,
    Suffix,
}

/// The HMAC of PBKDF2 (`mac_fun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacFun {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl MacFun {
    fn output_len(self) -> usize {
        match self {
            MacFun::Md5 => 16,
            MacFun::Sha => 20,
            MacFun::Sha224 => 28,
            MacFun::Sha256 => 32,
            MacFun::Sha384 => 48,
            MacFun::Sha512 => 64,
        }
    }
}

/// One `password_hash_algorithm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `{ name = plain | md5 | sha | sha256 | sha512, salt_position = disable | prefix | suffix }`.
    Simple {
        name: SimpleHash,
        salt_position: SaltPosition,
    },
    /// `{ name = pbkdf2, mac_fun, iterations, dk_length }` (`dk_length` defaults to the MAC's size).
    Pbkdf2 {
        mac_fun: MacFun,
        iterations: u32,
        dk_length: Option<u32>,
    },
    /// `{ name = bcrypt, salt_rounds }` (EMQX clamps salt_rounds to 5..=10).
    Bcrypt { salt_rounds: u32 },
}

impl Default for HashAlgorithm {
    /// EMQX's default: `{ name = sha256, salt_position = prefix }`.
    fn default() -> Self {
        HashAlgorithm::Simple {
            name: SimpleHash::Sha256,
            salt_position: SaltPosition::Prefix,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashAlgorithm::Simple {
                name,
                salt_position,
            } => write!(f, "{name:?}/{salt_position:?}"),
            HashAlgorithm::Pbkdf2 {
                mac_fun,
                iterations,
                ..
            } => write!(f, "pbkdf2-{mac_fun:?}/{iterations}"),
            HashAlgorithm::Bcrypt { salt_rounds } => write!(f, "bcrypt/{salt_rounds}"),
        }
    }
}

impl HashAlgorithm {
    /// Hashes a new password with a fresh salt: `(password_hash, salt)`. CPU-heavy for PBKDF2 and
    /// bcrypt: call it off the async workers.
    pub fn hash(&self, password: &[u8]) -> (String, String) {
        match self {
            HashAlgorithm::Bcrypt { salt_rounds } => {
                let cost = (*salt_rounds).clamp(5, 10);
                let mut salt = [0u8; 16];
                rand::rng().fill_bytes(&mut salt);
                match bcrypt::hash_with_salt(password, cost, salt) {
                    // EMQX stores the whole hash as the salt too.
                    Ok(parts) => {
                        let h = parts.format_for_version(bcrypt::Version::TwoB);
                        (h.clone(), h)
                    }
                    Err(_) => (String::new(), String::new()),
                }
            }
            HashAlgorithm::Pbkdf2 { .. } => {
                let salt = gen_salt();
                (self.compute(&salt, password).unwrap_or_default(), salt)
            }
            HashAlgorithm::Simple {
                salt_position: SaltPosition::Disable,
                ..
            } => (
                self.compute("", password).unwrap_or_default(),
                String::new(),
            ),
            HashAlgorithm::Simple { name, .. } => {
                let salt = if *name == SimpleHash::Plain {
                    String::new()
                } else {
                    gen_salt()
                };
                (self.compute(&salt, password).unwrap_or_default(), salt)
            }
        }
    }

    /// Checks `password` against a stored `(salt, password_hash)` in constant time.
    pub fn check(&self, salt: &str, password_hash: &str, password: &[u8]) -> bool {
        if let HashAlgorithm::Bcrypt { .. } = self {
            // The salt is inside the hash; EMQX ignores the salt column for bcrypt.
            return bcrypt_check(password_hash, password);
        }
        match self.compute(salt, password) {
            Some(h) => ct_eq(h.as_bytes(), password_hash.as_bytes()),
            None => false,
        }
    }

    /// The stored form of `password` under this algorithm and `salt` (not bcrypt).
    fn compute(&self, salt: &str, password: &[u8]) -> Option<String> {
        match self {
            HashAlgorithm::Simple {
                name,
                salt_position,
            } => {
                let mut data = Vec::with_capacity(salt.len() + password.len());
                match salt_position {
                    SaltPosition::Disable => data.extend_from_slice(password),
                    SaltPosition::Prefix => {
                        data.extend_from_slice(salt.as_bytes());
                        data.extend_from_slice(password);
                    }
                    SaltPosition::Suffix => {
                        data.extend_from_slice(password);
                        data.extend_from_slice(salt.as_bytes());
                    }
                }
                Some(match name {
                    SimpleHash::Plain => String::from_utf8_lossy(&data).into_owned(),
                    SimpleHash::Md5 => hex(&md5::Md5::digest(&data)),
                    SimpleHash::Sha => hex(&sha1::Sha1::digest(&data)),
                    SimpleHash::Sha256 => hex(&sha2::Sha256::digest(&data)),
                    SimpleHash::Sha512 => hex(&sha2::Sha512::digest(&data)),
                })
            }
            HashAlgorithm::Pbkdf2 {
                mac_fun,
                iterations,
                dk_length,
            } => {
                let len = dk_length.map_or(mac_fun.output_len(), |n| n as usize);
                if len == 0 || len > 1024 || *iterations == 0 {
                    return None;
                }
                let mut out = vec![0u8; len];
                let (p, s, n) = (password, salt.as_bytes(), *iterations);
                match mac_fun {
                    MacFun::Md5 => pbkdf2::pbkdf2_hmac::<md5::Md5>(p, s, n, &mut out),
                    MacFun::Sha => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(p, s, n, &mut out),
                    MacFun::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(p, s, n, &mut out),
                    MacFun::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(p, s, n, &mut out),
                    MacFun::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(p, s, n, &mut out),
                    MacFun::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(p, s, n, &mut out),
                }
                Some(hex(&out))
            }
            HashAlgorithm::Bcrypt { .. } => None,
        }
    }
}

fn bcrypt_check(password_hash: &str, password: &[u8]) -> bool {
    let Ok(parts) = password_hash.parse::<bcrypt::HashParts>() else {
        return false;
    };
    let Ok(salt) = decode_bcrypt_salt(&parts.get_salt()) else {
        return false;
    };
    let version = match password_hash.get(1..3) {
        Some("2a") => bcrypt::Version::TwoA,
        Some("2x") => bcrypt::Version::TwoX,
        Some("2y") => bcrypt::Version::TwoY,
        _ => bcrypt::Version::TwoB,
    };
    match bcrypt::hash_with_salt(password, parts.get_cost(), salt) {
        Ok(h) => ct_eq(
            h.format_for_version(version).as_bytes(),
            password_hash.as_bytes(),
        ),
        Err(_) => false,
    }
}

/// bcrypt's 22-character salt (its own base64 alphabet) back to 16 bytes.
fn decode_bcrypt_salt(s: &str) -> Result<[u8; 16], ()> {
    use base64::Engine;
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    const BCRYPT: base64::alphabet::Alphabet = base64::alphabet::BCRYPT;
    let engine = GeneralPurpose::new(
        &BCRYPT,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let v = engine.decode(s).map_err(|_| ())?;
    v.try_into().map_err(|_| ())
}

/// A fresh salt as EMQX makes it: 16 random bytes as 32 lowercase hex characters.
pub fn gen_salt() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex(&b)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Constant-time equality (the time depends on the lengths only).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// HMAC-SHA-256 (SCRAM).
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple(name: SimpleHash, salt_position: SaltPosition) -> HashAlgorithm {
        HashAlgorithm::Simple {
            name,
            salt_position,
        }
    }

    #[test]
    fn simple_digests_match_emqx_known_values() {
        // sha256("salt" ++ "public"), as EMQX computes with salt_position = prefix.
        let a = simple(SimpleHash::Sha256, SaltPosition::Prefix);
        let expect = hex(&sha2::Sha256::digest(b"saltpublic"));
        assert!(a.check("salt", &expect, b"public"));
        assert!(!a.check("salt", &expect, b"Public"));
        let s = simple(SimpleHash::Sha256, SaltPosition::Suffix);
        assert!(s.check(
            "salt",
            &hex(&sha2::Sha256::digest(b"publicsalt")),
            b"public"
        ));
        // Well-known digests of "password".
        let d = |n| simple(n, SaltPosition::Disable);
        assert!(d(SimpleHash::Md5).check("", "5f4dcc3b5aa765d61d8327deb882cf99", b"password"));
        assert!(d(SimpleHash::Sha).check(
            "",
            "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
            b"password"
        ));
        assert!(d(SimpleHash::Sha256).check(
            "",
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            b"password"
        ));
        assert!(d(SimpleHash::Plain).check("", "password", b"password"));
        assert!(simple(SimpleHash::Plain, SaltPosition::Suffix).check(
            "x",
            "passwordx",
            b"password"
        ));
    }

    #[test]
    fn pbkdf2_matches_rfc_6070_vector() {
        // RFC 6070: P="password", S="salt", c=2, dkLen=20, HMAC-SHA1.
        let a = HashAlgorithm::Pbkdf2 {
            mac_fun: MacFun::Sha,
            iterations: 2,
            dk_length: Some(20),
        };
        assert!(a.check(
            "salt",
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957",
            b"password"
        ));
        assert!(!a.check(
            "salt",
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8958",
            b"password"
        ));
        // Default dk_length is the MAC size.
        let b = HashAlgorithm::Pbkdf2 {
            mac_fun: MacFun::Sha256,
            iterations: 10,
            dk_length: None,
        };
        let (h, salt) = b.hash(b"secret");
        assert_eq!(h.len(), 64);
        assert_eq!(salt.len(), 32);
        assert!(b.check(&salt, &h, b"secret"));
        assert!(!b.check(&salt, &h, b"secreT"));
    }

    #[test]
    fn bcrypt_round_trip_and_known_hash() {
        let a = HashAlgorithm::Bcrypt { salt_rounds: 4 };
        let (h, salt) = a.hash(b"public");
        assert!(h.starts_with("$2b$05$"), "rounds clamp to 5: {h}");
        assert_eq!(h, salt);
        assert!(a.check("", &h, b"public"));
        assert!(!a.check("", &h, b"publiC"));
        // A $2a$ hash made elsewhere (OpenBSD test vector for "U*U").
        assert!(a.check(
            "",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            b"U*U"
        ));
        assert!(!a.check("", "not a bcrypt hash", b"U*U"));
    }

    #[test]
    fn salts_are_fresh_hex() {
        let a = simple(SimpleHash::Sha512, SaltPosition::Prefix);
        let (h1, s1) = a.hash(b"p");
        let (h2, s2) = a.hash(b"p");
        assert_ne!(s1, s2);
        assert_ne!(h1, h2);
        assert!(s1.bytes().all(|b| b.is_ascii_hexdigit()) && s1.len() == 32);
        assert!(a.check(&s1, &h1, b"p") && a.check(&s2, &h2, b"p"));
    }

    #[test]
    fn ct_eq_compares_whole_slices() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
