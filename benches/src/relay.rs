//! `linkmq-bench relay`: the floor of what an MQTT broker costs on this machine. Not a broker: one
//! thread, one epoll loop, no topics, no sessions, no queues. It answers CONNECT, SUBSCRIBE,
//! UNSUBSCRIBE and PINGREQ, acknowledges a QoS 1 PUBLISH at once, and passes every PUBLISH's bytes
//! unchanged to every connection that has subscribed (written straight from the read buffer when
//! the subscriber has nothing pending, so no copy in user space). A broker must do at least this
//! much per message: read it from one socket and write it to another.
//!
//! `cargo xtask bench` runs it beside linkmq and Mosquitto in the scenarios where "every PUBLISH
//! to every subscriber" is what the scenario asks for (1→1, fan-out, fan-in; not `$share`, not
//! the two-broker ones, not 10,000 idle connections), so each broker's figures can be read against
//! what moving the same bytes costs here.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::ops::Range;

use anyhow::Context;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::wire::read_varint;

/// Bytes a connection reads at once (its buffer starts at twice this).
const READ_BUFFER: usize = 256 * 1024;
/// The largest a read buffer grows for one packet.
const MAX_BUFFER: usize = 16 * 1024 * 1024;
/// While a subscriber has more than this pending, the relay reads no more PUBLISH from publishers
/// (TCP pushes back on them): bounded memory, nothing dropped.
const HIGH_WATER: usize = 4 * 1024 * 1024;
const LISTENER: Token = Token(usize::MAX);

/// One client connection.
struct Conn {
    sock: TcpStream,
    /// Read buffer: unread packets in `start..end`, the rest free.
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes accepted for writing and not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    v5: bool,
    subscriber: bool,
    /// Edge-triggered readiness not yet used up by a read that would block.
    readable: bool,
}

impl Conn {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Writes what is pending until the socket would block.
    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Sends `parts` (of `src`): written directly when nothing is pending, the rest kept.
    fn send(&mut self, src: &[u8], parts: &[Range<usize>]) -> io::Result<()> {
        let mut skip = 0;
        if self.pending() == 0 {
            let slices: Vec<IoSlice> = parts
                .iter()
                .map(|r| IoSlice::new(&src[r.clone()]))
                .collect();
            skip = match self.sock.write_vectored(&slices) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
        }
        for r in parts {
            let len = r.len();
            if skip >= len {
                skip -= len;
                continue;
            }
            self.out.extend_from_slice(&src[r.start + skip..r.end]);
            skip = 0;
        }
        Ok(())
    }
}

/// What one read's packets ask the relay to do.
#[derive(Default)]
struct Outcome {
    /// Byte ranges of the read buffer to pass to every subscriber.
    forward: Vec<Range<usize>>,
    /// Packets for the sender itself (CONNACK, SUBACK, PUBACK ...).
    reply: Vec<u8>,
    close: bool,
}

/// Serves on `addr` until killed, after printing the address it bound on stdout.
pub fn run(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("bind {addr}"))?;
    // The address it took (port 0 asks the system for a free one), for whoever started it.
    let bound = listener.local_addr()?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "relay listening on {bound}")?;
    stdout.flush()?;
    drop(stdout);
    serve(listener)
}

fn serve(mut listener: TcpListener) -> anyhow::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut ready: Vec<usize> = Vec::new();
    loop {
        let busy = ready.iter().any(|&i| readable_now(&conns, i));
        let timeout = busy.then_some(std::time::Duration::ZERO);
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        for ev in &events {
            if ev.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let i = ev.token().0;
            let Some(c) = conns.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if ev.is_writable() && c.flush().is_err() {
                close(&poll, &mut conns, i);
                continue;
            }
            if (ev.is_readable() || ev.is_read_closed() || ev.is_error()) && !c.readable {
                c.readable = true;
                ready.push(i);
            }
        }
        // One read per ready connection per turn, publishers held back while a subscriber is full.
        let turn = std::mem::take(&mut ready);
        for i in turn {
            if conns.get(i).and_then(Option::as_ref).is_none() {
                continue;
            }
            if readable_now(&conns, i) && !read_once(&mut conns, i) {
                close(&poll, &mut conns, i);
                continue;
            }
            if conns[i].as_ref().is_some_and(|c| c.readable) {
                ready.push(i);
            }
        }
    }
}

/// A connection may read now: it has readiness left, and it subscribes or no subscriber is full.
fn readable_now(conns: &[Option<Conn>], i: usize) -> bool {
    let Some(c) = conns.get(i).and_then(Option::as_ref) else {
        return false;
    };
    c.readable
        && (c.subscriber
            || !conns
                .iter()
                .flatten()
                .any(|s| s.subscriber && s.pending() > HIGH_WATER))
}

fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Vec<Option<Conn>>) {
    loop {
        let (mut sock, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors and the like: the client retries.
            Err(_) => return,
        };
        let i = conns
            .iter()
            .position(Option::is_none)
            .unwrap_or(conns.len());
        // A connection that cannot be set up (reset before it was accepted, say) is dropped; the
        // relay goes on serving the others.
        let setup = sock.set_nodelay(true).and_then(|()| {
            poll.registry()
                .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)
        });
        if let Err(e) = setup {
            eprintln!("relay: dropped a connection it could not set up: {e}");
            continue;
        }
        let c = Conn {
            sock,
            rbuf: vec![0; 2 * READ_BUFFER],
            start: 0,
            end: 0,
            out: Vec::new(),
            out_pos: 0,
            v5: false,
            subscriber: false,
            readable: false,
        };
        if i == conns.len() {
            conns.push(Some(c));
        } else {
            conns[i] = Some(c);
        }
    }
}

fn close(poll: &Poll, conns: &mut [Option<Conn>], i: usize) {
    if let Some(mut c) = conns[i].take() {
        let _ = poll.registry().deregister(&mut c.sock);
    }
}

/// Reads once from connection `i` and acts on the whole packets read. False: close it.
fn read_once(conns: &mut [Option<Conn>], i: usize) -> bool {
    let Some(c) = conns[i].as_mut() else {
        return false;
    };
    // Room for a full read at the end of the buffer: move the unread part to the front, or grow
    // for a packet larger than the buffer.
    if c.rbuf.len() - c.end < READ_BUFFER {
        c.rbuf.copy_within(c.start..c.end, 0);
        c.end -= c.start;
        c.start = 0;
        if c.rbuf.len() - c.end < READ_BUFFER {
            if c.rbuf.len() >= MAX_BUFFER {
                return false; // a packet over 16 MiB: not what the scenarios send
            }
            c.rbuf.resize(c.rbuf.len() * 2, 0);
        }
    }
    let n = match c.sock.read(&mut c.rbuf[c.end..]) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            c.readable = false;
            return true;
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
        Err(_) => return false,
    };
    c.end += n;
    let (consumed, outcome) = handle(&c.rbuf[c.start..c.end], &mut c.v5, &mut c.subscriber);
    let all = 0..outcome.reply.len();
    if !all.is_empty() && c.send(&outcome.reply, std::slice::from_ref(&all)).is_err() {
        return false;
    }
    let from = c.start;
    c.start += consumed;
    if c.start == c.end {
        (c.start, c.end) = (0, 0);
    }
    if !outcome.forward.is_empty() {
        // The ranges are relative to where this read's packets began.
        let forward: Vec<Range<usize>> = outcome
            .forward
            .iter()
            .map(|r| r.start + from..r.end + from)
            .collect();
        let rbuf = std::mem::take(&mut c.rbuf);
        for s in conns.iter_mut().flatten().filter(|s| s.subscriber) {
            // Linux TCP writes short only when the send buffer is full: a writable edge follows.
            if s.send(&rbuf, &forward).is_err() {
                // Closed by its own next event (the shutdown makes it readable).
                let _ = s.sock.shutdown(std::net::Shutdown::Both);
            }
        }
        if let Some(c) = conns[i].as_mut() {
            c.rbuf = rbuf;
        }
    }
    !outcome.close
}

/// Acts on the whole packets at the start of `buf`: returns how many bytes they took and what to
/// do. `v5` and `subscriber` are the connection's state, set by CONNECT and SUBSCRIBE.
fn handle(buf: &[u8], v5: &mut bool, subscriber: &mut bool) -> (usize, Outcome) {
    let mut out = Outcome::default();
    let mut at = 0;
    while at + 2 <= buf.len() {
        let Some((len, vlen)) = read_varint(&buf[at + 1..]) else {
            break;
        };
        let body_at = at + 1 + vlen;
        let end = body_at + len;
        if end > buf.len() {
            break;
        }
        let first = buf[at];
        let body = &buf[body_at..end];
        match first >> 4 {
            1 => {
                // Protocol name (length-prefixed), then the level: 5 for MQTT 5.
                let name_len = body
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                *v5 = body.get(2 + name_len as usize) == Some(&5);
                out.reply.extend_from_slice(if *v5 {
                    &[0x20, 3, 0, 0, 0]
                } else {
                    &[0x20, 2, 0, 0]
                });
            }
            3 => {
                let qos = (first >> 1) & 3;
                if qos == 1 {
                    let topic_len = body
                        .get(..2)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                    let Some(id) = body.get(2 + topic_len as usize..4 + topic_len as usize) else {
                        out.close = true;
                        break;
                    };
                    out.reply.extend_from_slice(&[0x40, 2, id[0], id[1]]);
                } else if qos != 0 {
                    out.close = true; // QoS 2 is beyond this relay
                    break;
                }
                match out.forward.last_mut() {
                    Some(r) if r.end == at => r.end = end,
                    _ => out.forward.push(at..end),
                }
            }
            8 | 10 => {
                let Some(reply) = sub_ack(first >> 4 == 8, body, *v5) else {
                    out.close = true;
                    break;
                };
                *subscriber = first >> 4 == 8;
                out.reply.extend_from_slice(&reply);
            }
            12 => out.reply.extend_from_slice(&[0xD0, 0]),
            4 => {} // PUBACK from a subscriber
            _ => {
                out.close = true; // DISCONNECT, or anything this relay does not do
                break;
            }
        }
        at = end;
    }
    (at, out)
}

/// SUBACK (granting each filter the QoS it asks, at most 1) or UNSUBACK for a SUBSCRIBE or
/// UNSUBSCRIBE body.
fn sub_ack(subscribe: bool, body: &[u8], v5: bool) -> Option<Vec<u8>> {
    let id = body.get(..2)?;
    let mut at = 2;
    if v5 {
        let (props, n) = read_varint(body.get(2..)?)?;
        at += n + props;
    }
    let mut codes = Vec::new();
    while at < body.len() {
        let len = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]) as usize;
        at += 2 + len;
        if subscribe {
            codes.push((*body.get(at)? & 3).min(1));
            at += 1;
        } else if v5 {
            codes.push(0);
        }
    }
    if at != body.len() || (subscribe && codes.is_empty()) {
        return None;
    }
    let props = usize::from(v5);
    let mut p = vec![if subscribe { 0x90 } else { 0xB0 }];
    p.push(u8::try_from(2 + props + codes.len()).ok()?);
    p.extend_from_slice(id);
    if v5 {
        p.push(0);
    }
    p.extend_from_slice(&codes);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(qos: u8, id: u16, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 1, b't'];
        if qos > 0 {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.push(0); // v5 properties
        body.extend_from_slice(payload);
        let mut p = vec![0x30 | qos << 1, body.len() as u8];
        p.extend_from_slice(&body);
        p
    }

    #[test]
    fn connect_then_subscribe_are_answered_in_the_clients_version() {
        let (mut v5, mut sub) = (false, false);
        // CONNECT MQTT 5, then SUBSCRIBE id 7 to "a/#" at QoS 1.
        let mut buf = vec![0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 0, 0, 0];
        buf.extend_from_slice(&[0x82, 9, 0, 7, 0, 0, 3, b'a', b'/', b'#', 1]);
        let (used, out) = handle(&buf, &mut v5, &mut sub);
        assert_eq!(used, buf.len());
        assert!(v5 && sub && !out.close);
        assert_eq!(out.reply, [0x20, 3, 0, 0, 0, 0x90, 4, 0, 7, 0, 1]);
        // MQTT 3.1.1: a CONNACK without properties.
        let buf = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0];
        let (_, out) = handle(&buf, &mut v5, &mut sub);
        assert!(!v5);
        assert_eq!(out.reply, [0x20, 2, 0, 0]);
    }

    #[test]
    fn publishes_are_forwarded_whole_and_qos1_acknowledged() {
        let (mut v5, mut sub) = (true, false);
        let mut buf = publish(0, 0, b"one");
        let second = publish(1, 0x0102, b"two");
        buf.extend_from_slice(&second);
        let whole = buf.len();
        buf.extend_from_slice(&publish(0, 0, b"three")[..4]); // a partial third packet
        let (used, out) = handle(&buf, &mut v5, &mut sub);
        assert_eq!(used, whole, "the partial packet waits for more bytes");
        assert_eq!(
            out.forward,
            vec![0..whole],
            "adjacent packets are one range"
        );
        assert_eq!(out.reply, [0x40, 2, 1, 2]);
        assert!(!sub && !out.close);
    }

    #[test]
    fn qos2_and_disconnect_close_the_connection() {
        let (mut v5, mut sub) = (true, false);
        assert!(handle(&publish(2, 1, b"x"), &mut v5, &mut sub).1.close);
        assert!(handle(&[0xE0, 0], &mut v5, &mut sub).1.close);
        // A SUBSCRIBE whose filter runs past its end.
        assert!(handle(&[0x82, 5, 0, 1, 0, 0, 9], &mut v5, &mut sub).1.close);
    }
}
