//! slot::key_slot on arbitrary keys agrees with an independent bit-by-bit CRC16-XMODEM and
//! Redis' hash-tag rule; session keys always carry a tag of the token's slot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiongate::slot;

fn crc16_bitwise(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Redis' keyHashSlot, written from its description.
fn reference_slot(key: &[u8]) -> u16 {
    let mut hashed = key;
    if let Some(s) = key.iter().position(|&b| b == b'{') {
        if let Some(e) = key[s + 1..].iter().position(|&b| b == b'}') {
            if e != 0 {
                hashed = &key[s + 1..s + 1 + e];
            }
        }
    }
    crc16_bitwise(hashed) % 16384
}

fuzz_target!(|data: &[u8]| {
    let s = slot::key_slot(data);
    assert!(s < 16384);
    assert_eq!(s, reference_slot(data));
    assert_eq!(slot::crc16(data), crc16_bitwise(data));
    // A session key built for this slot hashes to it.
    let mut id = [b'a'; 16];
    for (d, &b) in id.iter_mut().zip(data) {
        *d = sessiongate::token::ALPHABET[b as usize % 62];
    }
    let mut buf = [0u8; slot::MAX_KEY_LEN];
    let n = slot::session_key(s, &id, &mut buf);
    assert_eq!(slot::key_slot(&buf[..n]), s);
});
