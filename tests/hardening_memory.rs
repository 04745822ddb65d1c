//! Memory pressure. Under `maxmemory` with `noeviction`, START and PSET (flagged `deny-oom`)
//! get Redis' OOM error while PGET, EXPIRE, PDEL and END keep working and nothing is lost; with
//! an evicting policy, sessions are evicted whole: every session key left has its fingerprint
//! and every payload it acknowledged, and a write to an evicted session never re-creates half
//! of one. Huge sign keys pin no memory.

mod common;
mod harden;

use common::*;
use harden::*;
use rand::Rng;

fn is_oom(r: &Reply) -> bool {
    matches!(r, Reply::Error(e) if e.starts_with("OOM command not allowed"))
}

#[test]
fn noeviction_refuses_start_and_pset_but_serves_reads_and_end() {
    let s = Server::with_args(&["--maxmemory-policy", "noeviction"]);
    let mut c = s.conn();
    let mut sessions = vec![];
    for i in 0..20u8 {
        let t = start(&mut c, KEY, 3600);
        pset(&mut c, &t, b"user", &[i; 500]);
        pset(&mut c, &t, b"cart", &[i; 10]);
        sessions.push(t);
    }
    let before = session_snapshot(&mut c);

    // Fill up to the limit with native data until Redis itself refuses a write.
    let used = info_int(&mut c, "memory", "used_memory");
    let limit = used + 2 * 1024 * 1024;
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(limit)
        .query(&mut c)
        .unwrap();
    let mut filled = false;
    for i in 0..10_000 {
        let r = one(
            &mut c,
            cmd("SET")
                .arg(format!("filler:{i}"))
                .arg(vec![b'x'; 10_000]),
        );
        if is_oom(&r) {
            filled = true;
            break;
        }
        assert_eq!(r, Reply::Ok);
    }
    assert!(filled, "Redis never reached maxmemory");
    // The refused SET's own argument, counted while it sat in the query buffer, is freed
    // after the refusal and can bring usage back under the limit: lower the limit below what
    // the data alone uses, so that every deny-oom command from now on is refused.
    let data_only = info_int(&mut c, "memory", "used_memory") - 512 * 1024;
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(data_only)
        .query(&mut c)
        .unwrap();

    // Writes that may grow memory are refused, with Redis' own error, and change nothing.
    let r = one(&mut c, &start_cmd(KEY, 60));
    assert!(is_oom(&r), "START under OOM: {r:?}");
    for t in &sessions[..5] {
        let r = one(&mut c, &pset_cmd(KEY, t, b"user", b"overwrite"));
        assert!(is_oom(&r), "PSET under OOM: {r:?}");
        let r = one(&mut c, &pset_cmd(KEY, t, b"new", b"field"));
        assert!(is_oom(&r), "PSET under OOM: {r:?}");
    }
    assert_eq!(
        session_snapshot(&mut c),
        before,
        "a refused write changed a session"
    );

    // Reads and the writes that free memory keep working.
    for (i, t) in sessions.iter().enumerate() {
        assert_eq!(
            pget_reply(&mut c, t, b"user"),
            Reply::Bulk(vec![i as u8; 500])
        );
    }
    let r = one(
        &mut c,
        cmd("SESSIONGATE.EXPIRE")
            .arg(KEY)
            .arg(&sessions[0])
            .arg(7200),
    );
    assert_eq!(r, Reply::Ok, "EXPIRE under OOM");
    let r = one(
        &mut c,
        cmd("SESSIONGATE.PDEL")
            .arg(KEY)
            .arg(&sessions[1])
            .arg("cart"),
    );
    assert_eq!(r, Reply::Ok, "PDEL under OOM");
    assert_eq!(
        pget_reply(&mut c, &sessions[1], b"cart"),
        Reply::Error(NO_PAYLOAD.into())
    );
    for t in &sessions[10..] {
        assert_eq!(one(&mut c, &end_cmd(KEY, t)), Reply::Ok, "END under OOM");
        assert_eq!(
            pget_reply(&mut c, t, b"user"),
            Reply::Error(NO_SESSION.into())
        );
    }
    for (i, t) in sessions[..10].iter().enumerate() {
        assert_eq!(
            pget_reply(&mut c, t, b"user"),
            Reply::Bulk(vec![i as u8; 500])
        );
    }

    // Once memory is available again, START and PSET work.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let t = start(&mut c, KEY, 60);
    pset(&mut c, &t, b"after", b"oom");
    assert_eq!(
        pget_reply(&mut c, &t, b"after"),
        Reply::Bulk(b"oom".to_vec())
    );
}

/// Writes sessions of three payloads each far past `maxmemory` under `policy`, then checks that
/// every session is either entirely gone or entirely there.
fn evicted_whole(policy: &str) {
    let mut rng = rng(&format!("eviction under {policy}"));
    let s = Server::with_args(&["--maxmemory-policy", policy]);
    let mut c = s.conn();
    let used = info_int(&mut c, "memory", "used_memory");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + 4 * 1024 * 1024)
        .query(&mut c)
        .unwrap();

    // (token, acknowledged payloads)
    type Payloads = Vec<(Vec<u8>, Vec<u8>)>;
    let mut sessions: Vec<(Vec<u8>, Payloads)> = vec![];
    let (mut oom, mut gone_on_write) = (0, 0);
    for _ in 0..30 {
        // Varied TTLs, so volatile-ttl has a choice to make.
        let starts: Vec<redis::Cmd> = (0..200)
            .map(|_| start_cmd(KEY, rng.gen_range(100..100_000)))
            .collect();
        let first = sessions.len();
        for r in pipeline(&mut c, &starts) {
            match r {
                Reply::Bulk(t) => sessions.push((t, vec![])),
                r if is_oom(&r) => oom += 1,
                r => panic!("START: {r:?}"),
            }
        }
        let mut psets = vec![];
        let mut what = vec![];
        for (si, (t, _)) in sessions.iter().enumerate().skip(first) {
            for p in 0..3u8 {
                let name = format!("payload-{p}").into_bytes();
                let data: Vec<u8> = (0..1000).map(|_| rng.gen()).collect();
                psets.push(pset_cmd(KEY, t, &name, &data));
                what.push((si, name, data));
            }
        }
        for (r, (si, name, data)) in pipeline(&mut c, &psets).into_iter().zip(what) {
            match r {
                Reply::Ok => sessions[si].1.push((name, data)),
                Reply::Error(e) if e == NO_SESSION => gone_on_write += 1,
                r if is_oom(&r) => oom += 1,
                r => panic!("PSET: {r:?}"),
            }
        }
    }
    let evicted = info_int(&mut c, "stats", "evicted_keys");
    // Stop evicting before checking, so the check itself cannot race an eviction.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let left = assert_sessions_whole(&mut c);

    let mut gets = vec![];
    let mut expect = vec![];
    for (si, (t, payloads)) in sessions.iter().enumerate() {
        gets.push(pget_cmd(KEY, t, b"payload-0"));
        expect.push((si, None));
        for (name, data) in payloads {
            gets.push(pget_cmd(KEY, t, name));
            expect.push((si, Some(data)));
        }
    }
    let mut present = vec![None::<bool>; sessions.len()];
    for (r, (si, data)) in pipeline(&mut c, &gets).into_iter().zip(expect) {
        let here = match (&r, data) {
            (Reply::Error(e), _) if e == NO_SESSION => false,
            (Reply::Bulk(got), Some(data)) => {
                assert_eq!(got, data, "a payload changed");
                true
            }
            (Reply::Bulk(_), None) => true,
            (Reply::Error(e), None) if e == NO_PAYLOAD => true,
            _ => panic!("session {si}: {r:?}"),
        };
        match present[si] {
            None => present[si] = Some(here),
            Some(p) => assert_eq!(p, here, "session {si} is half evicted"),
        }
    }
    let survivors = present.iter().filter(|p| **p == Some(true)).count();
    println!(
        "{policy}: {} sessions started, {evicted} keys evicted, {survivors} whole sessions left, \
         {gone_on_write} PSETs found their session evicted, {oom} OOM replies",
        sessions.len()
    );
    assert_eq!(survivors, left, "keys that no token reaches");
    assert!(
        evicted > 1000,
        "the test did not drive eviction ({evicted})"
    );
    assert!(survivors > 100, "nothing survived");
}

#[test]
fn allkeys_lru_evicts_sessions_whole() {
    evicted_whole("allkeys-lru");
}

#[test]
fn volatile_ttl_evicts_sessions_whole() {
    evicted_whole("volatile-ttl");
}

/// The contract caps a sign key only at Redis' bulk limit (512 MB by default), and PGET is not
/// `deny-oom`: a read-only client sending made-up tokens with huge, distinct sign keys must not
/// grow the module's key cache by the keys' size. (When the cache kept a copy of each key, 50
/// such 1 MB keys pinned 54.5 MB.)
#[test]
fn huge_distinct_sign_keys_pin_no_memory() {
    const MB: usize = 1 << 20;
    let s = Server::start();
    let mut c = s.conn();
    let made_up = format!("v1.{}.{}", "A".repeat(16), "0".repeat(64));
    let mut key = vec![b'k'; MB];
    let mut pget = |c: &mut redis::Connection, i: u32| {
        key[..4].copy_from_slice(&i.to_le_bytes());
        let r = one(c, &pget_cmd(&key, made_up.as_bytes(), b"p"));
        assert_eq!(r, Reply::Error(CONTRACT_ERRORS[4].into()), "key {i}");
    };
    // A few first calls size the client's query buffer and the cache's table.
    for i in 0..5 {
        pget(&mut c, i);
    }
    let before = info_int(&mut c, "memory", "used_memory");
    for i in 5..305 {
        pget(&mut c, i);
    }
    let grown = info_int(&mut c, "memory", "used_memory") - before;
    println!("300 distinct 1 MB sign keys grew used_memory by {grown} bytes");
    assert!(
        grown < MB as i64,
        "300 distinct 1 MB sign keys pinned {grown} bytes"
    );
}
