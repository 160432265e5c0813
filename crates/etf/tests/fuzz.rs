//! 100k random and mutated inputs (fixed seed): decoding never panics and never allocates more than
//! the input can justify.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use linkmq_etf::link::{ControlMessage, ForwardedMessage};
use linkmq_etf::{DecodeOptions, decode, decode_with, encode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Records the largest single allocation made by this test binary.
struct PeakAlloc;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

const ITERATIONS: usize = 100_000;

/// Valid payloads to mutate: Erlang's fixtures (the large plain batch excluded to keep the run fast;
/// its compressed twin stays) and our own encodings.
fn corpus() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".bin") && name != "route_batch_large.bin" {
            seeds.push(std::fs::read(&path).unwrap());
        }
    }
    seeds.sort();
    for (_, msg) in control_fixtures()
        .into_iter()
        .filter(|(stem, _)| *stem != "route_batch_large")
    {
        seeds.push(msg.encode());
        seeds.push(encode(&msg.to_term()));
    }
    seeds.push(message_full().encode());
    seeds.push(encode(&message_full().to_term()));
    seeds
}

/// Tag bytes and length-ish values that steer random input into the decoder's deeper paths.
const INTERESTING: &[u8] = &[
    80, 97, 98, 100, 104, 105, 106, 107, 108, 109, 110, 111, 115, 116, 118, 119, 131, 0, 1, 0x7F,
    0x80, 0xFF,
];

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = data.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            2 => data.truncate(rng.random_range(0..=len)),
            3 => {
                let i = rng.random_range(0..=len);
                let extra: Vec<u8> = (0..rng.random_range(1..8)).map(|_| rng.random()).collect();
                data.splice(i..i, extra);
            }
            4 if len > 4 => {
                // A length field gone huge.
                let i = rng.random_range(0..len - 4);
                data[i..i + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF, rng.random()]);
            }
            5 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len);
                data.drain(a..b);
            }
            _ => {
                let i = rng.random_range(0..=len);
                data.insert(i, INTERESTING[rng.random_range(0..INTERESTING.len())]);
            }
        }
    }
    data
}

fn random_input(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(0..64);
    let mut data: Vec<u8> = (0..len)
        .map(|_| {
            if rng.random_bool(0.5) {
                INTERESTING[rng.random_range(0..INTERESTING.len())]
            } else {
                rng.random()
            }
        })
        .collect();
    if rng.random_bool(0.9) {
        data.insert(0, 131);
    }
    data
}

#[test]
fn random_and_mutated_inputs_never_panic_and_stay_bounded() {
    let seeds = corpus();
    let largest_seed = seeds.iter().map(Vec::len).max().unwrap();
    let mut rng = StdRng::seed_from_u64(0x1_1AC_E7F);
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let lenient = DecodeOptions::lenient();
    LARGEST.store(0, Ordering::Relaxed);
    for i in 0..ITERATIONS {
        let input = if i % 4 == 0 {
            random_input(&mut rng)
        } else {
            let seed = &seeds[rng.random_range(0..seeds.len())];
            mutate(&mut rng, seed)
        };
        match decode_with(&input, lenient) {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
        let _ = decode(&input);
        let _ = ControlMessage::decode(&input);
        // The direct reader of forwarded messages agrees with the general decoder on anything.
        assert_eq!(
            ForwardedMessage::decode_bytes(&bytes::Bytes::from(input.clone())),
            ForwardedMessage::decode(&input),
            "{input:?}"
        );
    }
    eprintln!(
        "accepted {accepted}, rejected {rejected}, largest allocation {} bytes",
        LARGEST.load(Ordering::Relaxed)
    );
    // Both outcomes happen, so the mutations explore past the first byte.
    assert!(
        accepted > 1000 && rejected > 1000,
        "accepted {accepted}, rejected {rejected}"
    );
    // The biggest inflated seed is ~60 KiB; no allocation may approach what a hostile length field
    // asks for (up to 4 GiB) or the 64 MiB inflate cap.
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 8 << 20,
        "largest single allocation {largest} bytes (largest seed {largest_seed})"
    );
}
