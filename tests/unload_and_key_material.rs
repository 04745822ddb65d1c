//! MODULE UNLOAD and what a sign key leaves in the server's memory.
//!
//! - After MODULE UNLOAD the module's shared object is unmapped (`/proc/<pid>/maps`), so a
//!   MODULE LOAD of another file at the same path runs the new code: the release build and the
//!   test-only `panic-test` build (which has `SESSIONGATE.__PANIC`) take turns at one path, after
//!   every command and after caught panics. A panic in the unload callback cancels the unload
//!   and leaves the module working.
//! - A sign key's HMAC schedule (the SHA-256 states after its inner and outer padded blocks,
//!   either enough to sign tokens) exists exactly once in the server's memory, in the key cache,
//!   whatever commands ran; the padded key blocks never stay; after MODULE UNLOAD none of it is
//!   anywhere (the cache and every per-command copy were wiped). Read from `/proc/<pid>/mem`.
//! - The key cache reaching its limit on a live server keeps every session working.

mod common;
mod harden;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use common::*;
use harden::*;
use redis::Value;
use sha2::digest::generic_array::GenericArray;

/// The unload tests need MODULE LOAD at run time (Redis 7.0+ refuses it unless enabled).
fn server_without_module() -> Server {
    let mut args = vec![];
    if supports_enable_module_command() {
        args = vec!["--enable-module-command".into(), "yes".into()];
    }
    Server::with(Options {
        args,
        with_module: false,
        ..Options::default()
    })
}

fn pid(c: &mut redis::Connection) -> u32 {
    info_field(c, "server", "process_id").parse().unwrap()
}

/// Puts `from` at `at` by rename (a mapped file is never overwritten in place).
fn install(from: &Path, at: &Path) {
    let tmp = at.with_extension("so.tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, at).unwrap();
}

fn module_load(c: &mut redis::Connection, at: &Path) {
    let r: redis::RedisResult<String> =
        cmd("MODULE").arg("LOAD").arg(at.to_str().unwrap()).query(c);
    assert_eq!(r.map_err(|e| error_text(&e)), Ok("OK".to_string()));
}

fn module_unload(c: &mut redis::Connection) -> Result<String, String> {
    cmd("MODULE")
        .arg("UNLOAD")
        .arg("sessiongate")
        .query(c)
        .map_err(|e| error_text(&e))
}

fn mapped(pid: u32, at: &Path) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.contains(at.to_str().unwrap())
}

fn has_command(c: &mut redis::Connection, name: &str) -> bool {
    let v: Value = cmd("COMMAND").arg("INFO").arg(name).query(c).unwrap();
    matches!(&v, Value::Array(a) if a.first().is_some_and(|x| *x != Value::Nil))
}

/// Runs every command of the module, errors included, with `key` (and `new_key` for RENEW).
fn every_command(c: &mut redis::Connection, key: &[u8], new_key: &[u8]) {
    let t = start(c, key, 600);
    ok(c, "PSET", (key, &t, "user", "u"));
    assert_eq!(pget(c, (key, &t, "user")), b"u");
    let _: Value = cmd("SESSIONGATE.PGETALL")
        .arg(key)
        .arg(&t)
        .query(c)
        .unwrap();
    let _: i64 = cmd("SESSIONGATE.TTL").arg(key).arg(&t).query(c).unwrap();
    ok(c, "EXPIRE", (key, &t, 300));
    ok(c, "PDEL", (key, &t, "user"));
    let n = renew(c, key, &t, None);
    let n = renew(c, key, &n, Some(new_key));
    let _ = err(c, cmd("SESSIONGATE.PGET").arg(key).arg(&n).arg("user"));
    let _ = err(c, cmd("SESSIONGATE.PGET").arg(b"wrong").arg(&n).arg("user"));
    ok(c, "END", (new_key, &n));
    let capped: Vec<u8> = cmd("SESSIONGATE.START")
        .arg(key)
        .arg(600)
        .arg(60)
        .query(c)
        .unwrap();
    let _ = renew(c, key, &capped, None);
}

#[test]
fn unload_unmaps_the_module_and_a_new_file_at_the_same_path_runs() {
    let server = server_without_module();
    let mut c = server.conn();
    if !supports_enable_module_command() {
        let ((major, minor), _) = server_version();
        eprintln!(
            "(Redis {major}.{minor} loads modules at run time without enable-module-command)"
        );
    }
    let pid = pid(&mut c);
    let at = server.dir.join("sessiongate-under-test.so");
    let release = module_path();
    let panic_test = build_module_variant("panic-test");

    // The release build, every command run: unloaded, it is gone from the process.
    install(&release, &at);
    module_load(&mut c, &at);
    assert!(mapped(pid, &at));
    every_command(&mut c, KEY, b"another-key");
    assert_eq!(module_unload(&mut c), Ok("OK".into()));
    assert!(
        !mapped(pid, &at),
        "the module stays mapped after MODULE UNLOAD: a new file at the path would not run"
    );

    // The panic-test build at the same path runs: its test command is there.
    install(&panic_test, &at);
    module_load(&mut c, &at);
    assert!(
        has_command(&mut c, "sessiongate.__panic"),
        "the old code runs"
    );
    every_command(&mut c, KEY, b"another-key");
    // Caught panics in a handler and in the INFO callback.
    let t = start(&mut c, KEY, 600);
    assert_eq!(
        one(&mut c, cmd("SESSIONGATE.__PANIC").arg(KEY).arg(&t)),
        Reply::Error(INTERNAL.into())
    );
    let _: () = cmd("SESSIONGATE.__PANICAT")
        .arg("info")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let _: String = cmd("INFO").arg("sessiongate").query(&mut c).unwrap();
    assert!(
        server.log().contains("sessiongate: caught a panic at "),
        "panics go to the log:\n{}",
        server.log()
    );

    // A panic in the unload callback cancels the unload; the module keeps working.
    let _: () = cmd("SESSIONGATE.__PANICAT")
        .arg("deinit")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let refused = module_unload(&mut c).unwrap_err();
    assert!(
        refused.starts_with("ERR Error unloading module"),
        "{refused}"
    );
    assert!(mapped(pid, &at));
    let t = start(&mut c, KEY, 600);
    ok(&mut c, "PSET", (KEY, &t, "user", "still here"));
    assert_eq!(pget(&mut c, (KEY, &t, "user")), b"still here");

    // Then it unloads for real, caught panics and all, and the release build runs again.
    assert_eq!(module_unload(&mut c), Ok("OK".into()));
    assert!(!mapped(pid, &at), "mapped after caught panics");
    install(&release, &at);
    module_load(&mut c, &at);
    assert!(
        !has_command(&mut c, "sessiongate.__panic"),
        "the old code runs"
    );
    assert_eq!(
        pget(&mut c, (KEY, &t, "user")),
        b"still here",
        "the data is Redis'"
    );
    every_command(&mut c, KEY, b"another-key");

    // Nothing of the unloaded code is left to call: a fork (BGSAVE) and a last unload.
    assert_eq!(module_unload(&mut c), Ok("OK".into()));
    let _: String = cmd("BGSAVE").query(&mut c).unwrap();
    wait_no_child(&mut c);
    ping(&mut c);
    let status = info_field(&mut c, "persistence", "rdb_last_bgsave_status");
    assert_eq!(status, "ok");
}

/// SHA-256's initial state.
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// What a sign key (of at most 64 bytes) must not leave behind, as bytes in memory: the
/// padded key blocks, and the states after each (as the words of a `[u32; 8]`).
struct Material {
    blocks: [Vec<u8>; 2],
    states: [Vec<u8>; 2],
}

fn material(key: &[u8]) -> Material {
    assert!(key.len() <= 64);
    let pad = |byte: u8| {
        let mut b = [byte; 64];
        for (x, k) in b.iter_mut().zip(key) {
            *x ^= k;
        }
        b
    };
    let state = |block: &[u8; 64]| {
        let mut s = IV;
        sha2::compress256(&mut s, &[GenericArray::clone_from_slice(block)]);
        s.iter().flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>()
    };
    let (inner, outer) = (pad(0x36), pad(0x5c));
    Material {
        states: [state(&inner), state(&outer)],
        blocks: [inner.to_vec(), outer.to_vec()],
    }
}

/// How often each needle occurs in the writable memory of process `pid`.
fn occurrences(pid: u32, needles: &[&[u8]]) -> Vec<usize> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))
        .unwrap_or_else(|e| panic!("cannot read the server's memory (/proc/{pid}/mem: {e})"));
    let mut counts = vec![0; needles.len()];
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or("");
        if !perms.starts_with("rw") || name.starts_with("[v") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut buf = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut buf).is_err() {
            continue;
        }
        for (n, needle) in needles.iter().enumerate() {
            counts[n] += buf.windows(needle.len()).filter(|w| w == needle).count();
        }
    }
    counts
}

#[test]
fn key_material_is_kept_once_and_wiped_at_unload() {
    let server = server_without_module();
    let mut c = server.conn();
    let pid = pid(&mut c);
    let at = server.dir.join("sessiongate-under-test.so");
    install(&module_path(), &at);
    module_load(&mut c, &at);

    let keys: [&[u8]; 2] = [b"the-first-sign-key-8f3a", b"the-second-sign-key-c71e"];
    let m: Vec<Material> = keys.iter().map(|k| material(k)).collect();
    let needles: Vec<&[u8]> = m
        .iter()
        .flat_map(|m| {
            [
                &m.states[0][..],
                &m.states[1][..],
                &m.blocks[0],
                &m.blocks[1],
            ]
        })
        .collect();
    assert_eq!(occurrences(pid, &needles), vec![0; 8], "before any command");

    for _ in 0..20 {
        every_command(&mut c, keys[0], keys[1]);
    }
    let seen = occurrences(pid, &needles);
    // Per key: the two states once (the cache entry), the padded blocks never.
    assert_eq!(
        seen,
        vec![1, 1, 0, 0, 1, 1, 0, 0],
        "copies of key material in memory (per key: inner state, outer state, inner block, \
         outer block)"
    );

    assert_eq!(module_unload(&mut c), Ok("OK".into()));
    assert_eq!(
        occurrences(pid, &needles),
        vec![0; 8],
        "key material left in memory after MODULE UNLOAD"
    );
}

#[test]
fn the_key_cache_reaching_its_limit_keeps_every_session() {
    // keycache::CAPACITY is 1024: twice over, so the cache is emptied twice along the way.
    const KEYS: usize = 2 * 1024 + 100;
    let server = Server::start();
    let mut c = server.conn();
    let key = |i: usize| format!("application-key-{i}").into_bytes();
    let starts: Vec<redis::Cmd> = (0..KEYS).map(|i| start_cmd(&key(i), 600)).collect();
    let tokens: Vec<Vec<u8>> = pipeline(&mut c, &starts)
        .into_iter()
        .map(|r| match r {
            Reply::Bulk(t) => t,
            other => panic!("START: {other:?}"),
        })
        .collect();
    let sets: Vec<redis::Cmd> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| pset_cmd(&key(i), t, b"i", i.to_string().as_bytes()))
        .collect();
    assert!(pipeline(&mut c, &sets).iter().all(|r| *r == Reply::Ok));
    // Every session answers its own key, in both orders, and no other key.
    for order in [
        (0..KEYS).collect::<Vec<_>>(),
        (0..KEYS).rev().collect::<Vec<_>>(),
    ] {
        let gets: Vec<redis::Cmd> = order
            .iter()
            .map(|&i| pget_cmd(&key(i), &tokens[i], b"i"))
            .collect();
        for (&i, r) in order.iter().zip(pipeline(&mut c, &gets)) {
            assert_eq!(r, Reply::Bulk(i.to_string().into_bytes()), "session {i}");
        }
    }
    let foreign: Vec<redis::Cmd> = (0..KEYS)
        .map(|i| pget_cmd(&key((i + 1) % KEYS), &tokens[i], b"i"))
        .collect();
    for r in pipeline(&mut c, &foreign) {
        assert_eq!(
            r,
            Reply::Error("the signature contained in <token> is invalid".into())
        );
    }
    assert_eq!(assert_sessions_whole(&mut c), KEYS);
}
