//! Long runs leak nothing: 100,000 START/PSET/RENEW/PGET/END cycles (pipelined; half the
//! sessions with a max_lifetime, half renewed into another sign key and back), with wrong keys,
//! renewed-away and expired tokens mixed in, each reply checked, leave `used_memory` where it
//! started once every session has ended. The module's own allocations go through Redis' allocator, so a
//! leak in the module shows in `used_memory` as surely as one in the sessions. `make soak`
//! also runs this test with fewer cycles under valgrind (`scripts/soak.sh`).

mod common;
mod harden;

use std::time::Duration;

use common::*;
use harden::*;
use rand::Rng;

/// A leak of one allocation (8 bytes or more) per cycle over 100,000 cycles is 800 KB or more;
/// what legitimately moves between the two readings (hash tables resized by serverCron, the
/// allocator's bookkeeping) stays far below this.
const TOLERANCE: i64 = 256 * 1024;

const WRONG_KEYS: [&[u8]; 4] = [b"wrong-1", b"wrong-2", b"\0", b"\xff\xfe"];
const ROTATED_KEY: &[u8] = b"rotated-key";

/// The bulk replies of a pipeline, each a token.
fn tokens_of(c: &mut redis::Connection, cmds: &[redis::Cmd], what: &str) -> Vec<Vec<u8>> {
    pipeline(c, cmds)
        .into_iter()
        .map(|r| match r {
            Reply::Bulk(t) => t,
            r => panic!("{what}: {r:?}"),
        })
        .collect()
}

/// Runs `n` cycles in pipelined batches on a new connection, checking every reply; returns
/// the number of commands sent.
fn cycles(s: &Server, n: usize, expired: &[Vec<u8>], rng: &mut rand::rngs::StdRng) -> usize {
    let mut c = s.conn();
    let mut done = 0;
    let mut sent = 0;
    while done < n {
        let b = 1000.min(n - done);
        let starts: Vec<redis::Cmd> = (0..b)
            .map(|i| {
                if i % 2 == 0 {
                    start_cmd(KEY, 3600)
                } else {
                    start_capped_cmd(KEY, 3600, 7200)
                }
            })
            .collect();
        let first = tokens_of(&mut c, &starts, "START");
        // A payload, then RENEW: even sessions into the same key, odd ones into another key
        // (and back below).
        let data: Vec<Vec<u8>> = (0..b)
            .map(|_| (0..rng.gen_range(1..200)).map(|_| rng.gen()).collect())
            .collect();
        let mut renews = vec![];
        for (i, (t, d)) in first.iter().zip(&data).enumerate() {
            renews.push(pset_cmd(KEY, t, b"user", d));
            renews.push(renew_cmd(KEY, t, (i % 2 == 1).then_some(ROTATED_KEY)));
        }
        let second: Vec<Vec<u8>> = pipeline(&mut c, &renews)
            .chunks(2)
            .map(|r| match r {
                [Reply::Ok, Reply::Bulk(t)] => t.clone(),
                r => panic!("PSET, RENEW: {r:?}"),
            })
            .collect();
        let backs: Vec<redis::Cmd> = second
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, t)| renew_cmd(ROTATED_KEY, t, Some(KEY)))
            .collect();
        let mut backs = tokens_of(&mut c, &backs, "RENEW back").into_iter();
        let tokens: Vec<Vec<u8>> = second
            .into_iter()
            .enumerate()
            .map(|(i, t)| if i % 2 == 1 { backs.next().unwrap() } else { t })
            .collect();
        sent += starts.len() + renews.len() + b / 2;
        let mut cmds = vec![];
        let mut want = vec![];
        for ((t, renewed_away), data) in tokens.iter().zip(&first).zip(data) {
            let wrong = WRONG_KEYS[rng.gen_range(0..WRONG_KEYS.len())];
            let old = &expired[rng.gen_range(0..expired.len())];
            let bad_sig = CONTRACT_ERRORS[4].to_string();
            cmds.push(pget_cmd(KEY, t, b"user"));
            want.push(Reply::Bulk(data));
            cmds.push(pget_cmd(wrong, t, b"user"));
            want.push(Reply::Error(bad_sig.clone()));
            cmds.push(pset_cmd(wrong, t, b"user", b"x"));
            want.push(Reply::Error(bad_sig.clone()));
            cmds.push(pget_cmd(KEY, old, b"user"));
            want.push(Reply::Error(NO_SESSION.into()));
            cmds.push(end_cmd(wrong, t));
            want.push(Reply::Error(bad_sig.clone()));
            cmds.push(renew_cmd(wrong, t, None));
            want.push(Reply::Error(bad_sig));
            cmds.push(pget_cmd(KEY, renewed_away, b"user"));
            want.push(Reply::Error(NO_SESSION.into()));
            cmds.push(renew_cmd(KEY, renewed_away, Some(ROTATED_KEY)));
            want.push(Reply::Error(NO_SESSION.into()));
            cmds.push(pget_cmd(KEY, t, b"missing"));
            want.push(Reply::Error(NO_PAYLOAD.into()));
            cmds.push(end_cmd(KEY, t));
            want.push(Reply::Ok);
            cmds.push(pget_cmd(KEY, t, b"user"));
            want.push(Reply::Error(NO_SESSION.into()));
        }
        let got = pipeline(&mut c, &cmds);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "command {i} of a batch");
        }
        sent += cmds.len();
        done += b;
    }
    sent
}

fn wait_alone(c: &mut redis::Connection) {
    wait_until("other clients to close", Duration::from_secs(30), || {
        info_int(c, "clients", "connected_clients") == 1
    });
}

#[test]
fn cycles_with_wrong_keys_and_expired_tokens_leave_memory_where_it_started() {
    let n = env_count("SESSIONGATE_CYCLES", 100_000);
    let mut rng = rng("long run");
    let mut s = Server::with_args(&["--slowlog-log-slower-than", "-1"]);
    let mut m = s.conn();

    // Expired tokens: sessions of one second, waited out.
    let expired: Vec<Vec<u8>> = (0..100).map(|_| start(&mut m, KEY, 1)).collect();
    wait_until(
        "the 1-second sessions to expire",
        Duration::from_secs(30),
        || {
            pipeline(
                &mut m,
                &expired
                    .iter()
                    .map(|t| pget_cmd(KEY, t, b"x"))
                    .collect::<Vec<_>>(),
            )
            .iter()
            .all(|r| *r == Reply::Error(NO_SESSION.into()))
        },
    );

    // Warm up (allocator caches, hash table sizes, the sign-key cache), then measure.
    cycles(&s, 2000.min(n), &expired, &mut rng);
    wait_alone(&mut m);
    let dbsize: i64 = cmd("DBSIZE").query(&mut m).unwrap();
    assert_eq!(dbsize, 0);
    let before = info_int(&mut m, "memory", "used_memory");

    let sent = cycles(&s, n, &expired, &mut rng);
    wait_alone(&mut m);
    let dbsize: i64 = cmd("DBSIZE").query(&mut m).unwrap();
    assert_eq!(dbsize, 0, "sessions left after END");
    let after = info_int(&mut m, "memory", "used_memory");
    println!(
        "{n} cycles ({sent} commands): used_memory {before} -> {after} ({:+} bytes)",
        after - before
    );
    assert!(
        after - before <= TOLERANCE,
        "used_memory grew by {} bytes over {n} cycles",
        after - before
    );

    // A clean shutdown, so that a run under valgrind gets its leak report.
    assert!(s.alive(), "the server died; log:\n{}", s.log());
    let _ = cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut m);
    wait_until("the server to exit", Duration::from_secs(120), || {
        !s.alive()
    });
}
