//! Expiry on servers without `RedisModule_SetAbsExpire` (Redis 6.0 to 6.2.1), run on any
//! server with the test-only build `no-abs-expire`: it hides that call, so the module sets
//! expiries with the relative `SetExpire`, and adds `SESSIONGATE.__EXPIREIN <sign_key> <token>
//! <ms>` (the session's end `ms` from now, through EXPIRE's path). `SetExpire(-1)` means "no
//! expiry": a session whose end comes at that boundary must end, never become persistent.

mod common;
mod harden;

use std::time::Duration;

use common::*;
use harden::*;

fn fallback_server() -> Server {
    let so = build_module_variant("no-abs-expire");
    Server::with(Options {
        args: vec!["--loadmodule".into(), so.display().to_string()],
        with_module: false,
        ..Options::default()
    })
}

fn pttl(c: &mut redis::Connection, key: &[u8]) -> i64 {
    cmd("PTTL").arg(key).query(c).unwrap()
}

fn ttl(c: &mut redis::Connection, token: &[u8]) -> i64 {
    cmd("SESSIONGATE.TTL").arg(KEY).arg(token).query(c).unwrap()
}

#[test]
fn sessions_get_their_expiry_through_the_relative_call() {
    let s = fallback_server();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 100);
    let k = session_key_of(&mut c, &t);
    assert!((99..=100).contains(&ttl(&mut c, &t)));
    assert!((1..=100_000).contains(&pttl(&mut c, &k)));
    pset(&mut c, &t, b"p", b"v");
    assert!((99..=100).contains(&ttl(&mut c, &t)), "PSET kept the TTL");
    ok(&mut c, "EXPIRE", (KEY, &t, 50));
    assert!((49..=50).contains(&ttl(&mut c, &t)));
    ok(&mut c, "EXPIRE", (KEY, &t, 0));
    assert_eq!(
        pget_reply(&mut c, &t, b"p"),
        Reply::Error(NO_SESSION.into())
    );
    assert!(keys(&mut c).is_empty());
    // A capped session, and RENEW carrying its time left to the new key.
    let t = start_capped(&mut c, KEY, 100, 30);
    assert!((29..=30).contains(&ttl(&mut c, &t)));
    pset(&mut c, &t, b"p", b"v");
    let n = renew(&mut c, KEY, &t, None);
    assert!(
        (29..=30).contains(&ttl(&mut c, &n)),
        "RENEW kept the time left"
    );
    assert_eq!(keys(&mut c).len(), 1);
}

#[test]
fn an_end_at_the_boundary_never_makes_a_session_persistent() {
    let master = fallback_server();
    let replica = start_replica(&master, false);
    let mut c = master.conn();
    let mut r = replica.conn();
    // 0 and below: the end has come. -1 is REDISMODULE_NO_EXPIRE for SetExpire; the end is
    // computed from one clock reading and applied at a second one, so each offset hits the
    // value offset - (ms between the readings), and the rounds make -1 come up.
    for offset in [-3i64, -2, -1, 0, 1, 2] {
        for round in 0..20 {
            let t = start(&mut c, KEY, 3600);
            pset(&mut c, &t, b"p", b"v");
            let k = session_key_of(&mut c, &t);
            let reply = one(
                &mut c,
                cmd("SESSIONGATE.__EXPIREIN").arg(KEY).arg(&t).arg(offset),
            );
            assert_eq!(reply, Reply::Ok, "offset {offset}, round {round}");
            let left = pttl(&mut c, &k);
            assert_ne!(
                left, -1,
                "offset {offset}, round {round}: the session became persistent"
            );
            if offset <= 0 {
                assert_eq!(
                    left, -2,
                    "offset {offset}, round {round}: a session whose end has come is still there"
                );
                assert_eq!(
                    pget_reply(&mut c, &t, b"p"),
                    Reply::Error(NO_SESSION.into())
                );
            }
        }
    }
    let acked: i64 = cmd("WAIT").arg(1).arg(10_000).query(&mut c).unwrap();
    assert_eq!(acked, 1, "the replica did not confirm the writes");
    // Every session has ended (the last ones 2 ms after their EXPIREIN), on both servers.
    for (name, conn) in [("master", &mut c), ("replica", &mut r)] {
        wait_until(
            &format!("every session to end on the {name}"),
            Duration::from_secs(10),
            || {
                let left: Vec<Vec<u8>> = cmd("KEYS").arg("sessiongate:*").query(conn).unwrap();
                left.is_empty()
            },
        );
    }
}
