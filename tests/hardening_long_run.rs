//! Long runs leak nothing: 100,000 START/PSET/PGET/END cycles (pipelined), with wrong keys and
//! expired tokens mixed in, each reply checked, leave `used_memory` where it started once
//! every session has ended. The module's own allocations go through Redis' allocator, so a
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

/// Runs `n` cycles in pipelined batches on a new connection, checking every reply.
fn cycles(s: &Server, n: usize, expired: &[Vec<u8>], rng: &mut rand::rngs::StdRng) {
    let mut c = s.conn();
    let mut done = 0;
    while done < n {
        let b = 1000.min(n - done);
        let starts: Vec<redis::Cmd> = (0..b).map(|_| start_cmd(KEY, 3600)).collect();
        let tokens: Vec<Vec<u8>> = pipeline(&mut c, &starts)
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(t) => t,
                r => panic!("START: {r:?}"),
            })
            .collect();
        let mut cmds = vec![];
        let mut want = vec![];
        for t in &tokens {
            let data: Vec<u8> = (0..rng.gen_range(1..200)).map(|_| rng.gen()).collect();
            let wrong = WRONG_KEYS[rng.gen_range(0..WRONG_KEYS.len())];
            let old = &expired[rng.gen_range(0..expired.len())];
            let bad_sig = CONTRACT_ERRORS[4].to_string();
            cmds.push(pset_cmd(KEY, t, b"user", &data));
            want.push(Reply::Ok);
            cmds.push(pget_cmd(KEY, t, b"user"));
            want.push(Reply::Bulk(data));
            cmds.push(pget_cmd(wrong, t, b"user"));
            want.push(Reply::Error(bad_sig.clone()));
            cmds.push(pset_cmd(wrong, t, b"user", b"x"));
            want.push(Reply::Error(bad_sig.clone()));
            cmds.push(pget_cmd(KEY, old, b"user"));
            want.push(Reply::Error(NO_SESSION.into()));
            cmds.push(end_cmd(wrong, t));
            want.push(Reply::Error(bad_sig));
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
        done += b;
    }
}

fn wait_alone(c: &mut redis::Connection) {
    wait_until("other clients to close", Duration::from_secs(30), || {
        info_int(c, "clients", "connected_clients") == 1
    });
}

#[test]
fn cycles_with_wrong_keys_and_expired_tokens_leave_memory_where_it_started() {
    let n = env_count("SESSIONGATE_CYCLES", 100_000, 1000);
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

    cycles(&s, n, &expired, &mut rng);
    wait_alone(&mut m);
    let dbsize: i64 = cmd("DBSIZE").query(&mut m).unwrap();
    assert_eq!(dbsize, 0, "sessions left after END");
    let after = info_int(&mut m, "memory", "used_memory");
    println!(
        "{n} cycles ({} commands): used_memory {before} -> {after} ({:+} bytes)",
        n * 10,
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
