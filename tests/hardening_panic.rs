//! Panic safety, proven with a test-only command: the module built with the cargo feature
//! `panic-test` (into target/panic-test, never shipped) registers `SESSIONGATE.__PANIC
//! <sign_key> <token>`, which verifies the token, opens the session's key for writing and then
//! panics. The guard's catch_unwind must turn that into an error reply, close the key while
//! unwinding, and leave Redis serving with every session intact.

mod common;
mod harden;

use common::*;
use harden::*;

#[test]
fn a_panicking_handler_answers_an_error_and_redis_keeps_running() {
    let so = build_module_variant("panic-test", "panic-test");
    let mut server = Server::with(Options {
        args: vec!["--loadmodule".into(), so.display().to_string()],
        with_module: false,
        ..Options::default()
    });
    let mut c = server.conn();
    let mut tokens = vec![];
    for i in 0..20u8 {
        let t = start(&mut c, KEY, 3600);
        pset(&mut c, &t, b"user", &[i; 100]);
        tokens.push(t);
    }
    let before = snapshot(&mut c);

    // Panics with a key open, many times, in a pipeline with ordinary commands around them.
    let mut cmds = vec![];
    for t in &tokens {
        cmds.push(cmd("SESSIONGATE.__PANIC").arg(KEY).arg(t).clone());
        cmds.push(pget_cmd(KEY, t, b"user"));
    }
    let replies = pipeline(&mut c, &cmds);
    for (i, pair) in replies.chunks(2).enumerate() {
        assert_eq!(pair[0], Reply::Error(INTERNAL.to_string()));
        assert_eq!(pair[1], Reply::Bulk(vec![i as u8; 100]));
    }
    // The guard's ordinary paths still work on the panicking command.
    assert_eq!(
        one(&mut c, cmd("SESSIONGATE.__PANIC").arg(KEY)),
        Reply::Error(format!(
            "ERR wrong number of arguments for '{}' command",
            arity_error_name("SESSIONGATE.__PANIC")
        ))
    );
    assert_eq!(
        one(&mut c, cmd("SESSIONGATE.__PANIC").arg(KEY).arg("x")),
        Reply::Error(CONTRACT_ERRORS[2].into())
    );

    assert!(server.alive(), "Redis died; log:\n{}", server.log());
    ping(&mut c);
    assert_eq!(snapshot(&mut c), before, "a panic changed the data");

    // RENEW right after a panic on the same session, in one pipeline: every session moves to
    // its new token whole.
    let mut cmds = vec![];
    for t in &tokens {
        cmds.push(cmd("SESSIONGATE.__PANIC").arg(KEY).arg(t).clone());
        cmds.push(renew_cmd(KEY, t, None));
    }
    let replies = pipeline(&mut c, &cmds);
    let mut renewed = vec![];
    for (i, pair) in replies.chunks(2).enumerate() {
        assert_eq!(pair[0], Reply::Error(INTERNAL.to_string()));
        let Reply::Bulk(n) = &pair[1] else {
            panic!("RENEW after a panic: {:?}", pair[1])
        };
        assert_eq!(
            pget_reply(&mut c, n, b"user"),
            Reply::Bulk(vec![i as u8; 100])
        );
        assert_eq!(
            pget_reply(&mut c, &tokens[i], b"user"),
            Reply::Error(NO_SESSION.into())
        );
        renewed.push(n.clone());
    }
    assert_eq!(keys(&mut c).len(), tokens.len());
    let tokens = renewed;
    // Every command of the module, and other clients, keep working.
    let mut other = server.conn();
    ping(&mut other);
    let t = start(&mut other, KEY, 60);
    pset(&mut other, &t, b"p", b"v");
    let capped = start_capped(&mut other, KEY, 60, 120);
    pset(&mut other, &capped, b"p", b"w");
    let capped = renew(&mut other, KEY, &capped, Some(b"another-key"));
    assert_eq!(
        one(&mut other, &pget_cmd(b"another-key", &capped, b"p")),
        Reply::Bulk(b"w".to_vec())
    );
    assert_eq!(pget_reply(&mut other, &t, b"p"), Reply::Bulk(b"v".to_vec()));
    for command in [
        cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(&t).arg(120).clone(),
        cmd("SESSIONGATE.PDEL").arg(KEY).arg(&t).arg("p").clone(),
        end_cmd(KEY, &t),
    ] {
        assert_eq!(one(&mut other, &command), Reply::Ok);
    }
    // The key the panicking command had open is not left locked or half-written: a native
    // write to it works and the module reads it back.
    let k = session_key_of(&mut c, &tokens[0]);
    let _: i64 = cmd("HSET")
        .arg(&k)
        .arg("native")
        .arg("w")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        pget_reply(&mut c, &tokens[0], b"native"),
        Reply::Bulk(b"w".to_vec())
    );
}

/// The shipped build has no such command: `make test` must never test a module that would let
/// a client panic it on purpose.
#[test]
fn the_release_module_has_no_panic_command() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 60);
    match one(&mut c, cmd("SESSIONGATE.__PANIC").arg(KEY).arg(&t)) {
        Reply::Error(e) => assert!(e.starts_with("ERR unknown command"), "{e}"),
        other => panic!("the release module answered {other:?}"),
    }
}
