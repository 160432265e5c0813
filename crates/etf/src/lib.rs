//! Erlang External Term Format (ETF) for Cluster Linking's `$LINK` payloads.
//!
//! EMQX clusters exchange route replication and forwarded messages as `term_to_binary(T, [compressed])`.
//! This crate decodes and encodes exactly the subset that protocol needs (design doc
//! `cluster-link-protocol.md` §3) and nothing else: it knows no MQTT sessions, sockets or routing.
//! Input is treated as hostile: nesting depth, length fields, inflated size and atom names are all
//! bounded before anything is allocated, and every failure is an [`EtfError`], never a panic.
//!
//! Entry points: [`decode`] / [`decode_with`] and [`encode`] / [`encode_compressed`] for raw [`Term`]s;
//! [`link`] for the typed messages ([`link::ControlMessage`], [`link::ForwardedMessage`]).

mod atom;
mod decode;
mod encode;
mod error;
pub mod link;
mod term;

pub use atom::Atom;
pub use decode::{DecodeOptions, MAX_DEPTH, MAX_INFLATED_SIZE, decode, decode_with};
pub use encode::{encode, encode_compressed};
pub use error::EtfError;
pub use term::Term;

/// First byte of every external term.
pub const VERSION: u8 = 131;

/// Tag bytes of the external format that this crate reads or writes.
pub(crate) mod tag {
    pub const COMPRESSED: u8 = 80;
    pub const SMALL_INTEGER: u8 = 97;
    pub const INTEGER: u8 = 98;
    pub const ATOM: u8 = 100;
    pub const SMALL_TUPLE: u8 = 104;
    pub const LARGE_TUPLE: u8 = 105;
    pub const NIL: u8 = 106;
    pub const STRING: u8 = 107;
    pub const LIST: u8 = 108;
    pub const BINARY: u8 = 109;
    pub const SMALL_BIG: u8 = 110;
    pub const LARGE_BIG: u8 = 111;
    pub const SMALL_ATOM: u8 = 115;
    pub const MAP: u8 = 116;
    pub const ATOM_UTF8: u8 = 118;
    pub const SMALL_ATOM_UTF8: u8 = 119;
}
