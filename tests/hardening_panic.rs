//! Panic safety, proven with test-only commands: the module built with the cargo feature
//! `panic-test` (into target/test-variants, never shipped) registers `SESSIONGATE.__PANIC
//! <sign_key> <token>`, which verifies the token, opens the session's key for writing and then
//! panics, and `SESSIONGATE.__PANICAT <point> <nth>`, which makes a callback that Redis calls
//! panic (PGETALL's ScanKey callback, the INFO callback). Every barrier must turn the panic into
//! a well-formed reply, close what was open while unwinding, and leave Redis serving with every
//! session intact.

mod common;
mod harden;

use common::*;
use harden::*;
use redis::Value;

fn panic_test_server() -> Server {
    let so = build_module_variant("panic-test");
    Server::with(Options {
        args: vec!["--loadmodule".into(), so.display().to_string()],
        with_module: false,
        ..Options::default()
    })
}

fn panic_at(point: &str, nth: u32) -> redis::Cmd {
    cmd("SESSIONGATE.__PANICAT").arg(point).arg(nth).clone()
}

#[test]
fn a_panicking_handler_answers_an_error_and_redis_keeps_running() {
    let mut server = panic_test_server();
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

/// The payloads of a PGETALL reply that a panic cut short: an array of name/data pairs from
/// `payloads`, then the internal error as its last element.
fn assert_cut_short(v: &Value, payloads: &[(&[u8], &[u8])], what: &str) {
    let Value::Array(items) = v else {
        panic!("{what}: not an array: {v:?}")
    };
    let (last, pairs) = items.split_last().expect("an empty array");
    assert!(
        matches!(last, Value::ServerError(_))
            && classify(last.clone()) == Reply::Error(INTERNAL.into()),
        "{what}: last element {last:?}"
    );
    assert_eq!(pairs.len() % 2, 0, "{what}: a name without its data: {v:?}");
    for pair in pairs.chunks(2) {
        let pair = (classify(pair[0].clone()), classify(pair[1].clone()));
        assert!(
            payloads
                .iter()
                .any(|(n, d)| pair == (Reply::Bulk(n.to_vec()), Reply::Bulk(d.to_vec()))),
            "{what}: {pair:?} is no payload"
        );
    }
}

/// A panic inside the ScanKey callback Redis calls for each field of the hash: without a
/// barrier there, the panic unwinds into C and aborts Redis. With it, the panic is raised again
/// in the handler, PGETALL's open reply is closed while unwinding, and the client gets one
/// well-formed reply (RESP2 and RESP3), its connection still in step.
#[test]
fn a_panic_in_the_scankey_callback_closes_the_pgetall_reply() {
    let mut server = panic_test_server();
    let mut c = server.conn();
    let payloads: [(&[u8], &[u8]); 3] = [(b"a", b"1"), (b"b", b"\0\xff"), (b"c", &[7; 300])];
    let t = start(&mut c, KEY, 3600);
    for (n, d) in payloads {
        pset(&mut c, &t, n, d);
    }
    let before = snapshot(&mut c);
    let pgetall = cmd("SESSIONGATE.PGETALL").arg(KEY).arg(&t).clone();

    let resp3 = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut c3 = resp3.get_connection().unwrap();
    for (name, conn) in [("RESP2", &mut c), ("RESP3", &mut c3)] {
        // The hash has 4 fields (the fingerprint and 3 payloads): panic at each of them.
        for nth in 1..=4 {
            let what = format!("{name}, panic at field {nth}");
            let replies = pipeline_values(
                conn,
                &[
                    panic_at("scankey", nth),
                    pgetall.clone(),
                    cmd("PING").clone(),
                ],
            );
            assert_eq!(classify(replies[0].clone()), Reply::Ok, "{what}");
            assert_cut_short(&replies[1], &payloads, &what);
            assert!(
                matches!(&replies[2], Value::SimpleString(s) if s == "PONG"),
                "{what}: the connection is out of step: {:?}",
                replies[2]
            );
        }
        // Disarmed after one panic: the next PGETALL is whole.
        let whole = pipeline_values(conn, std::slice::from_ref(&pgetall)).remove(0);
        let count = match &whole {
            Value::Array(v) => v.len() / 2,
            Value::Map(m) => m.len(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(count, 3, "{name}: {whole:?}");
    }

    assert!(server.alive(), "Redis died; log:\n{}", server.log());
    assert_eq!(snapshot(&mut c), before, "a panic changed the data");
    assert_eq!(
        pget_reply(&mut c, &t, b"c"),
        Reply::Bulk(vec![7; 300]),
        "the session's key was left open"
    );
}

/// A panic while RENEW collects the payloads to copy (the ScanKey callback): the payloads
/// already held are released while unwinding, the old session stays whole and no new one is
/// made. Repeated with a 10 KB payload, a leak of what RENEW held would show in used_memory.
#[test]
fn a_panic_while_renew_collects_payloads_changes_nothing_and_leaks_nothing() {
    let mut server = panic_test_server();
    let mut c = server.conn();
    let t = start_capped(&mut c, KEY, 3600, 7200);
    pset(&mut c, &t, b"a", &[1; 10_000]);
    pset(&mut c, &t, b"b", b"\0\xff");
    let before = snapshot(&mut c);
    let rounds = |c: &mut redis::Connection, n: usize| {
        for i in 0..n {
            // The hash has 3 fields: panic at the 2nd or the 3rd, after a payload is held.
            let nth = 2 + (i % 2) as u32;
            let replies = pipeline(
                c,
                &[
                    panic_at("scankey", nth),
                    renew_cmd(KEY, &t, Some(b"new-key")),
                ],
            );
            assert_eq!(replies[0], Reply::Ok);
            assert_eq!(replies[1], Reply::Error(INTERNAL.to_string()), "round {i}");
        }
    };
    rounds(&mut c, 200);
    let used = info_int(&mut c, "memory", "used_memory");
    rounds(&mut c, 2000);
    let grown = info_int(&mut c, "memory", "used_memory") - used;
    assert!(grown < 1_000_000, "used_memory grew by {grown} bytes");
    assert!(server.alive(), "Redis died; log:\n{}", server.log());
    assert_eq!(
        snapshot(&mut c),
        before,
        "a panicking RENEW changed the data"
    );
    let n = renew(&mut c, KEY, &t, Some(b"new-key"));
    assert_eq!(
        one(&mut c, &pget_cmd(b"new-key", &n, b"a")),
        Reply::Bulk(vec![1; 10_000])
    );
}

/// A panic inside the INFO callback: without a barrier it aborts Redis; with it, INFO answers
/// (the section cut short) and the next INFO shows every counter.
#[test]
fn a_panic_in_the_info_callback_keeps_info_and_redis_working() {
    let mut server = panic_test_server();
    let mut c = server.conn();
    let t = start(&mut c, KEY, 60);
    for section in ["sessiongate", "everything"] {
        assert_eq!(one(&mut c, &panic_at("info", 1)), Reply::Ok);
        let cut: String = cmd("INFO").arg(section).query(&mut c).unwrap();
        assert!(
            !cut.contains("sessiongate_sessions_started:"),
            "INFO {section} did not reach the panic: {cut}"
        );
        ping(&mut c);
        let whole: String = cmd("INFO").arg(section).query(&mut c).unwrap();
        assert!(
            whole.contains("sessiongate_sessions_started:1"),
            "INFO {section} after the panic: {whole}"
        );
    }
    assert!(server.alive(), "Redis died; log:\n{}", server.log());
    assert_eq!(
        pget_reply(&mut c, &t, b"p"),
        Reply::Error(NO_PAYLOAD.into())
    );
}

/// A panic in the module configs' callbacks (Redis 7.0+ and Valkey; 6.2 has no module configs):
/// CONFIG SET is refused with the internal error and changes nothing; CONFIG GET, which cannot
/// fail, answers 0 (below every bound) or `no` that once; Redis keeps running.
#[test]
fn a_panic_in_a_config_callback_fails_that_config_call_only() {
    if server_version().0 < (7, 0) {
        return;
    }
    let mut server = panic_test_server();
    let mut c = server.conn();
    let get = |c: &mut redis::Connection, name: &str| -> String {
        let v: Vec<String> = cmd("CONFIG")
            .arg("GET")
            .arg(format!("sessiongate.{name}"))
            .query(c)
            .unwrap();
        v[1].clone()
    };
    let set = |name: &str, value: &str| {
        cmd("CONFIG")
            .arg("SET")
            .arg(format!("sessiongate.{name}"))
            .arg(value)
            .clone()
    };
    for (name, value, was, fallback) in [
        ("max-payload-data-length", "5", "8000000", "0"),
        ("error-codes", "yes", "no", "no"),
    ] {
        let replies = pipeline(&mut c, &[panic_at("config-set", 1), set(name, value)]);
        assert_eq!(replies[0], Reply::Ok);
        assert_eq!(
            replies[1],
            Reply::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument 'sessiongate.{name}') - {INTERNAL}"
            )),
            "{name}"
        );
        assert_eq!(
            get(&mut c, name),
            was,
            "a panicking CONFIG SET changed {name}"
        );
        assert_eq!(one(&mut c, &panic_at("config-get", 1)), Reply::Ok);
        assert_eq!(get(&mut c, name), fallback, "{name}");
        assert_eq!(get(&mut c, name), was, "{name}");
        // Disarmed: the next CONFIG SET works.
        assert_eq!(one(&mut c, &set(name, value)), Reply::Ok);
        assert_eq!(get(&mut c, name), value);
    }
    assert!(server.alive(), "Redis died; log:\n{}", server.log());
    let t = start(&mut c, KEY, 60);
    assert_eq!(
        one(&mut c, &pset_cmd(KEY, &t, b"p", b"123456")),
        Reply::Error(
            "ERR <payload_data> length exceeds the maximum value allowed of 5".to_string()
        )
    );
}

/// A panic at the end of the module's load, everything registered (`panic-at-load`, a load
/// argument of the test build): MODULE LOAD fails, Redis keeps running, and a second load of
/// the same module works, so the failed one left no command or config behind.
#[test]
fn a_panic_while_loading_fails_the_load_and_redis_keeps_running() {
    let so = build_module_variant("panic-test");
    let mut server = Server::with(Options {
        args: if supports_enable_module_command() {
            vec!["--enable-module-command".into(), "yes".into()]
        } else {
            vec![]
        },
        with_module: false,
        ..Options::default()
    });
    let mut c = server.conn();
    let module_list =
        |c: &mut redis::Connection| -> redis::Value { cmd("MODULE").arg("LIST").query(c).unwrap() };
    // (Redis 8 and Valkey 9 list modules of their own.)
    let modules = module_list(&mut c);
    let load = |extra: &[&str]| {
        let mut m = cmd("MODULE");
        m.arg("LOAD").arg(so.display().to_string());
        for a in extra {
            m.arg(*a);
        }
        m
    };
    assert_eq!(
        one(&mut c, &load(&["panic-at-load"])),
        Reply::Error("ERR Error loading the extension. Please check the server logs.".into())
    );
    assert!(server.alive(), "Redis died; log:\n{}", server.log());
    ping(&mut c);
    assert_eq!(module_list(&mut c), modules, "a failed load left a module");
    assert_eq!(one(&mut c, &load(&["error-codes", "yes"])), Reply::Ok);
    let t = start(&mut c, KEY, 60);
    assert_eq!(
        one(&mut c, &pget_cmd(KEY, &t, b"p")),
        Reply::Error(format!("NOPAYLOAD {NO_PAYLOAD}"))
    );
}
