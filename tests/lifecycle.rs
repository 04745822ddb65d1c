//! Session lifecycle (DESIGN §1a) on a standalone server: RENEW and START's max_lifetime, every
//! reply and error exactly, what is stored, and the metadata around them.

mod common;

use std::time::Duration;

use common::*;
use redis::Value;

const NEW_KEY: &[u8] = b"rotated-sign-key";
const BAD_SIG: &str = "the signature contained in <token> is invalid";
const NO_SESSION: &str = "the session id contained in <token> does not exist";
const FOREIGN: &str = "the signature contained in <token> seems to be valid, but is different from the stored signature in the session";
const BAD_MAX_LIFETIME: &str = "<max_lifetime> must be a positive integer that represents seconds";
const EMPTY_NEW_KEY: &str = "<new_sign_key> must have at least one character";

fn arity_error(sent: &str) -> String {
    format!(
        "ERR wrong number of arguments for '{}' command",
        arity_error_name(sent)
    )
}

/// The field "" of the session of `token`.
fn meta(c: &mut redis::Connection, token: &[u8]) -> Vec<u8> {
    let k = session_key_of(c, token);
    cmd("HGET").arg(k).arg("").query(c).unwrap()
}

fn deadline_of(meta: &[u8]) -> i64 {
    assert_eq!(meta.len(), 24, "a capped session's field \"\"");
    i64::from_be_bytes(meta[16..].try_into().unwrap())
}

/// The server's clock, in Unix ms.
fn server_ms(c: &mut redis::Connection) -> i64 {
    let (s, us): (i64, i64) = cmd("TIME").query(c).unwrap();
    s * 1000 + us / 1000
}

/// A key's absolute expiry in Unix ms (-1: none): PEXPIRETIME where the server has it, else
/// PTTL plus the server's clock read in the same transaction (exact to a millisecond or two).
fn expiry_ms(c: &mut redis::Connection, key: &[u8]) -> i64 {
    if let Some(at) = pexpiretime(c, key) {
        return at;
    }
    let (pttl, (s, us)): (i64, (i64, i64)) = redis::pipe()
        .atomic()
        .cmd("PTTL")
        .arg(key)
        .cmd("TIME")
        .query(c)
        .unwrap();
    if pttl < 0 {
        pttl
    } else {
        s * 1000 + us / 1000 + pttl
    }
}

fn token_expiry(c: &mut redis::Connection, token: &[u8]) -> i64 {
    let k = session_key_of(c, token);
    expiry_ms(c, &k)
}

fn assert_same_expiry(a: i64, b: i64) {
    let exact = server_version().0 >= (7, 0);
    if exact || a < 0 || b < 0 {
        assert_eq!(a, b, "absolute expiry");
    } else {
        assert!((a - b).abs() <= 2, "absolute expiry {a} vs {b}");
    }
}

/// A sign key whose token for `token`'s id lands in the same slot, so reaches the same key.
fn colliding_foreign_token(token: &[u8]) -> (String, String) {
    let id = std::str::from_utf8(&token[3..19]).unwrap();
    let forge = |key: &str| format!("v1.{id}.{}", sign_hex(key.as_bytes(), id.as_bytes()));
    let other = (0..)
        .map(|i| format!("other-app-{i}"))
        .find(|k| crc16(forge(k).as_bytes()) & 16383 == crc16(token) & 16383)
        .unwrap();
    let forged = forge(&other);
    (other, forged)
}

#[test]
fn renew_errors_come_in_order_and_change_nothing() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let capped = start_capped(&mut c, KEY, 300, 600);
    let ended = start(&mut c, KEY, 300);
    ok(&mut c, "END", (KEY, &ended));
    let (other, forged) = colliding_foreign_token(&t);
    let before = snapshot(&mut c);

    for n in [0, 1, 4, 5, 9] {
        let mut command = cmd("SESSIONGATE.RENEW");
        for _ in 0..n {
            command.arg(KEY);
        }
        assert_eq!(
            err(&mut c, &command),
            arity_error("SESSIONGATE.RENEW"),
            "{n} arguments"
        );
    }
    assert_eq!(
        err(&mut c, cmd("SessionGate.Renew").arg(KEY)),
        arity_error("SessionGate.Renew")
    );

    let k = |s: &str| s.as_bytes().to_vec();
    // (sign_key, token, new_sign_key, reply)
    type Case<'a> = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, &'a str);
    let cases: Vec<Case> = vec![
        // Each argument's shape, in argument order.
        (
            k(""),
            k(""),
            Some(k("")),
            "<sign_key> must have at least one character",
        ),
        (
            k(""),
            t.clone(),
            None,
            "<sign_key> must have at least one character",
        ),
        (
            KEY.to_vec(),
            k(""),
            Some(k("")),
            "<token> must have at least one character",
        ),
        (
            KEY.to_vec(),
            k("bad"),
            Some(k("")),
            "<token> format is invalid",
        ),
        (
            KEY.to_vec(),
            t[..83].to_vec(),
            None,
            "<token> format is invalid",
        ),
        (KEY.to_vec(), t.clone(), Some(k("")), EMPTY_NEW_KEY),
        (k("wrong"), ended.clone(), Some(k("")), EMPTY_NEW_KEY),
        // Then the signature, with either form.
        (k("wrong"), t.clone(), None, BAD_SIG),
        (k("wrong"), t.clone(), Some(NEW_KEY.to_vec()), BAD_SIG),
        (
            NEW_KEY.to_vec(),
            capped.clone(),
            Some(KEY.to_vec()),
            BAD_SIG,
        ),
        (k("wrong"), ended.clone(), None, BAD_SIG),
        // Then the session.
        (KEY.to_vec(), ended.clone(), None, NO_SESSION),
        (
            KEY.to_vec(),
            ended.clone(),
            Some(NEW_KEY.to_vec()),
            NO_SESSION,
        ),
        (k(&other), k(&forged), None, FOREIGN),
        (k(&other), k(&forged), Some(KEY.to_vec()), FOREIGN),
    ];
    for (key, token, new_key, want) in &cases {
        assert_eq!(
            err(&mut c, &renew_cmd(key, token, new_key.as_deref())),
            *want,
            "RENEW {:?} {:?} {:?}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(token),
            new_key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).to_string())
        );
    }
    assert_eq!(snapshot(&mut c), before, "a refused RENEW changed the data");
    assert_eq!(pget(&mut c, (KEY, &t, "p")), b"d");
}

#[test]
fn renew_copies_every_payload_byte_for_byte_and_the_old_token_is_gone() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    let big: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let payloads: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"user".to_vec(), br#"{"name":"John Doe"}"#.to_vec()),
        (b"\0".to_vec(), b"\0\0\0".to_vec()),
        (b"a\0b".to_vec(), b"\xff\xfe\r\n-ERR not an error".to_vec()),
        (vec![0xC3; 200], vec![0x80]),
        (b"big".to_vec(), big.clone()),
    ];
    for (name, data) in &payloads {
        ok(&mut c, "PSET", (KEY, &t, name, data));
    }
    let old_key = session_key_of(&mut c, &t);
    let mut old_hash: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(&old_key).query(&mut c).unwrap();
    old_hash.sort();

    let n = renew(&mut c, KEY, &t, None);
    assert!(token_shape_ok(&n), "{}", String::from_utf8_lossy(&n));
    assert_ne!(&n[3..19], &t[3..19], "a new id");
    assert_eq!(
        std::str::from_utf8(&n[20..]).unwrap(),
        sign_hex(KEY, &n[3..19])
    );
    let new_key = session_key_of(&mut c, &n);
    assert_eq!(
        keys(&mut c),
        vec![new_key.clone()],
        "the old key is deleted"
    );
    let mut new_hash: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(&new_key).query(&mut c).unwrap();
    new_hash.sort();
    assert!(new_hash == old_hash, "the hash differs after RENEW");
    assert_eq!(meta(&mut c, &n), fingerprint(KEY));
    for (name, data) in &payloads {
        assert!(pget(&mut c, (KEY, &n, name)) == *data, "payload {name:?}");
    }
    let mut all: Vec<(Vec<u8>, Vec<u8>)> = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&n)
        .query(&mut c)
        .unwrap();
    all.sort();
    let mut want = payloads.clone();
    want.sort();
    assert!(all == want, "PGETALL differs");

    for command in [
        cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("user").clone(),
        cmd("SESSIONGATE.TTL").arg(KEY).arg(&t).clone(),
        renew_cmd(KEY, &t, None),
        renew_cmd(KEY, &t, Some(NEW_KEY)),
    ] {
        assert_eq!(err(&mut c, &command), NO_SESSION);
    }
    // A session without payloads renews too.
    let empty = start(&mut c, KEY, 300);
    let renewed = renew(&mut c, KEY, &empty, None);
    let got: Vec<(Vec<u8>, Vec<u8>)> = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&renewed)
        .query(&mut c)
        .unwrap();
    assert!(got.is_empty());
    assert_eq!(keys(&mut c).len(), 2);
}

#[test]
fn renew_into_a_new_sign_key_and_back() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    ok(&mut c, "PSET", (KEY, &t, "user", "u1"));

    let n = renew(&mut c, KEY, &t, Some(NEW_KEY));
    assert_eq!(
        std::str::from_utf8(&n[20..]).unwrap(),
        sign_hex(NEW_KEY, &n[3..19])
    );
    assert_eq!(meta(&mut c, &n), fingerprint(NEW_KEY));
    assert_eq!(pget(&mut c, (NEW_KEY, &n, "user")), b"u1");
    // The new token verifies only with the new key; the old one is gone (with its own key;
    // with the new key its signature fails first, as any other key's token does).
    let get = |key: &[u8], tok: &[u8]| {
        cmd("SESSIONGATE.PGET")
            .arg(key)
            .arg(tok)
            .arg("user")
            .clone()
    };
    assert_eq!(err(&mut c, &get(KEY, &n)), BAD_SIG);
    assert_eq!(err(&mut c, &get(KEY, &t)), NO_SESSION);
    assert_eq!(err(&mut c, &get(NEW_KEY, &t)), BAD_SIG);
    ok(&mut c, "PSET", (NEW_KEY, &n, "role", "admin"));

    let back = renew(&mut c, NEW_KEY, &n, Some(KEY));
    assert_eq!(meta(&mut c, &back), fingerprint(KEY));
    assert_eq!(pget(&mut c, (KEY, &back, "user")), b"u1");
    assert_eq!(pget(&mut c, (KEY, &back, "role")), b"admin");
    assert_eq!(err(&mut c, &get(NEW_KEY, &back)), BAD_SIG);
    assert_eq!(err(&mut c, &get(NEW_KEY, &n)), NO_SESSION);
    // Renewing into the same key by name is the same as without a new key.
    let same = renew(&mut c, KEY, &back, Some(KEY));
    assert_eq!(pget(&mut c, (KEY, &same, "user")), b"u1");
    assert_eq!(keys(&mut c).len(), 1);
}

#[test]
fn renew_keeps_the_absolute_expiry_and_the_cap() {
    let s = Server::start();
    let mut c = s.conn();

    // Uncapped: same absolute expiry, a 16-byte field "".
    let t = start(&mut c, KEY, 5000);
    let at = token_expiry(&mut c, &t);
    let n = renew(&mut c, KEY, &t, None);
    assert_same_expiry(token_expiry(&mut c, &n), at);
    assert_eq!(meta(&mut c, &n).len(), 16);

    // Capped: the deadline is carried, and EXPIRE after RENEW is still capped by it.
    let t = start_capped(&mut c, KEY, 1000, 3600);
    let m = meta(&mut c, &t);
    let deadline = deadline_of(&m);
    let at = token_expiry(&mut c, &t);
    assert!(at < deadline);
    let n = renew(&mut c, KEY, &t, Some(NEW_KEY));
    let nk = session_key_of(&mut c, &n);
    assert_same_expiry(expiry_ms(&mut c, &nk), at);
    assert_eq!(meta(&mut c, &n)[..16], fingerprint(NEW_KEY)[..]);
    assert_eq!(deadline_of(&meta(&mut c, &n)), deadline);
    ok(&mut c, "EXPIRE", (NEW_KEY, &n, 100_000));
    assert_same_expiry(expiry_ms(&mut c, &nk), deadline);
    let n2 = renew(&mut c, NEW_KEY, &n, None);
    assert_same_expiry(token_expiry(&mut c, &n2), deadline);
    assert_eq!(deadline_of(&meta(&mut c, &n2)), deadline);
    let left: i64 = cmd("SESSIONGATE.TTL")
        .arg(NEW_KEY)
        .arg(&n2)
        .query(&mut c)
        .unwrap();
    assert!((1..=3600).contains(&left), "TTL {left}");

    // A key someone made persistent renews into a persistent key.
    let t = start(&mut c, KEY, 300);
    let _: i64 = cmd("PERSIST")
        .arg(session_key_of(&mut c, &t))
        .query(&mut c)
        .unwrap();
    let n = renew(&mut c, KEY, &t, None);
    let pttl: i64 = cmd("PTTL")
        .arg(session_key_of(&mut c, &n))
        .query(&mut c)
        .unwrap();
    assert_eq!(pttl, -1);
    let left: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&n)
        .query(&mut c)
        .unwrap();
    assert_eq!(left, -1);
}

#[test]
fn renew_applies_the_cap_again_and_ends_a_session_past_it() {
    let s = Server::start();
    let mut c = s.conn();

    // A capped session made persistent, or given a later end, natively: RENEW gives it its
    // deadline back.
    for native in [&["PERSIST"][..], &["PEXPIRE", "999999999"]] {
        let t = start_capped(&mut c, KEY, 600, 3600);
        let deadline = deadline_of(&meta(&mut c, &t));
        let k = session_key_of(&mut c, &t);
        let _: i64 = cmd(native[0])
            .arg(&k)
            .arg(&native[1..])
            .query(&mut c)
            .unwrap();
        let n = renew(&mut c, KEY, &t, None);
        assert_same_expiry(token_expiry(&mut c, &n), deadline);
        assert_eq!(deadline_of(&meta(&mut c, &n)), deadline);
        let left: i64 = cmd("SESSIONGATE.TTL")
            .arg(KEY)
            .arg(&n)
            .query(&mut c)
            .unwrap();
        assert!((3590..=3600).contains(&left), "{native:?}: TTL {left}");
    }

    // A session past its deadline ends: RENEW answers "does not exist", as every later
    // command does, and the key is gone. (Its deadline is written back natively, as anyone
    // with HSET can.)
    let ended_before = info_counter(&mut c, "sessions_ended");
    for native in [&["PERSIST"][..], &["PEXPIRE", "999999999"]] {
        let t = start_capped(&mut c, KEY, 600, 3600);
        let k = session_key_of(&mut c, &t);
        let past = server_ms(&mut c) - 1;
        let m = [&fingerprint(KEY)[..], &past.to_be_bytes()].concat();
        let _: i64 = cmd("HSET").arg(&k).arg("").arg(&m).query(&mut c).unwrap();
        let _: i64 = cmd(native[0])
            .arg(&k)
            .arg(&native[1..])
            .query(&mut c)
            .unwrap();
        assert_eq!(err(&mut c, &renew_cmd(KEY, &t, None)), NO_SESSION);
        assert_eq!(err(&mut c, &renew_cmd(KEY, &t, Some(NEW_KEY))), NO_SESSION);
        assert!(
            keys(&mut c).iter().all(|x| *x != k),
            "{native:?}: the key stays"
        );
        assert_eq!(
            err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&t)),
            NO_SESSION
        );
    }
    assert_eq!(info_counter(&mut c, "sessions_ended"), ended_before + 2);
    assert_eq!(
        info_counter(&mut c, "sessions_renewed"),
        2,
        "only the renewals above"
    );
}

fn info_counter(c: &mut redis::Connection, name: &str) -> u64 {
    let info: String = cmd("INFO").arg("sessiongate").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("sessiongate_{name}:")))
        .unwrap_or_else(|| panic!("no {name}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn max_lifetime_caps_start_and_every_expire() {
    let s = Server::start();
    let mut c = s.conn();
    let before = server_ms(&mut c);
    let t = start_capped(&mut c, KEY, 1000, 60);
    let after = server_ms(&mut c);
    assert!(token_shape_ok(&t));
    let m = meta(&mut c, &t);
    assert_eq!(m[..16], fingerprint(KEY)[..]);
    let deadline = deadline_of(&m);
    assert!(
        (before + 60_000..=after + 60_000).contains(&deadline),
        "deadline {deadline}, START between {before} and {after}"
    );
    let k = session_key_of(&mut c, &t);
    assert_same_expiry(expiry_ms(&mut c, &k), deadline);
    let left: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert!(
        (1..=60).contains(&left),
        "TTL shows the capped time: {left}"
    );

    // EXPIRE answers OK and never goes past the deadline; a shorter one applies.
    ok(&mut c, "EXPIRE", (KEY, &t, 5000));
    assert_same_expiry(expiry_ms(&mut c, &k), deadline);
    let before = server_ms(&mut c);
    ok(&mut c, "EXPIRE", (KEY, &t, 10));
    let at = expiry_ms(&mut c, &k);
    assert!(at < deadline && at >= before + 10_000 - 2, "{at}");
    ok(&mut c, "EXPIRE", (KEY, &t, 0));
    assert!(keys(&mut c).is_empty(), "EXPIRE 0 ends a capped session");

    // A ttl shorter than the cap; ttl 0 still stores nothing.
    let t = start_capped(&mut c, KEY, 10, 3600);
    let at = token_expiry(&mut c, &t);
    assert!(at < deadline_of(&meta(&mut c, &t)));
    let t0 = start_capped(&mut c, KEY, 0, 60);
    assert!(token_shape_ok(&t0));
    assert_eq!(keys(&mut c).len(), 1);
    // Without the fourth argument the field holds exactly the fingerprint, as before.
    let plain = start(&mut c, KEY, 300);
    assert_eq!(meta(&mut c, &plain), fingerprint(KEY));

    // A field "" written by hand: 24 bytes cap EXPIRE, any other length is another
    // application's (or nobody's) session.
    let pk = session_key_of(&mut c, &plain);
    let soon = server_ms(&mut c) + 30_000;
    let hand = [fingerprint(KEY), soon.to_be_bytes().to_vec()].concat();
    let _: i64 = cmd("HSET")
        .arg(&pk)
        .arg("")
        .arg(&hand)
        .query(&mut c)
        .unwrap();
    ok(&mut c, "EXPIRE", (KEY, &plain, 5000));
    assert_same_expiry(expiry_ms(&mut c, &pk), soon);
    let bad = [fingerprint(KEY), b"1234".to_vec()].concat();
    let _: i64 = cmd("HSET")
        .arg(&pk)
        .arg("")
        .arg(&bad)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&plain)),
        FOREIGN
    );
}

#[test]
fn start_errors_with_max_lifetime_come_in_order_and_change_nothing() {
    let s = Server::start();
    let mut c = s.conn();
    let _ = start(&mut c, KEY, 300);
    let _ = start_capped(&mut c, KEY, 300, 600);
    let before = snapshot(&mut c);
    for bad in [
        "0",
        "-1",
        "",
        "abc",
        "1.5",
        "+1",
        "01",
        " 1",
        "1e3",
        "9223372036854775807",
        "9223372036854775",
        "9223372036854775808",
    ] {
        assert_eq!(
            err(&mut c, cmd("SESSIONGATE.START").arg(KEY).arg(300).arg(bad)),
            BAD_MAX_LIFETIME,
            "max_lifetime {bad:?}"
        );
    }
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.START").arg(KEY).arg(0).arg(0)),
        BAD_MAX_LIFETIME
    );
    // Checked after the sign key and the ttl.
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.START").arg("").arg("x").arg(0)),
        "<sign_key> must have at least one character"
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.START").arg(KEY).arg("x").arg(0)),
        "<ttl> must be a valid integer that represents seconds"
    );
    for n in [0, 1, 4, 5] {
        let mut command = cmd("SESSIONGATE.START");
        for _ in 0..n {
            command.arg(1);
        }
        assert_eq!(
            err(&mut c, &command),
            arity_error("SESSIONGATE.START"),
            "{n} arguments"
        );
    }
    assert_eq!(snapshot(&mut c), before);
}

#[test]
fn transactions_and_scripts_outside_cluster_mode_keep_working() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let (started, renewed): (Vec<u8>, Vec<u8>) = redis::pipe()
        .atomic()
        .cmd("SESSIONGATE.START")
        .arg(KEY)
        .arg(300)
        .arg(600)
        .cmd("SESSIONGATE.RENEW")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert!(token_shape_ok(&started));
    assert_eq!(pget(&mut c, (KEY, &renewed, "p")), b"d");
    let from_script: Vec<u8> = cmd("EVAL")
        .arg("return redis.call('SESSIONGATE.RENEW', ARGV[1], ARGV[2], ARGV[3])")
        .arg(0)
        .arg(KEY)
        .arg(&renewed)
        .arg(NEW_KEY)
        .query(&mut c)
        .unwrap();
    assert_eq!(pget(&mut c, (NEW_KEY, &from_script, "p")), b"d");
    assert_eq!(keys(&mut c).len(), 2);
}

#[test]
fn renew_notifies_as_the_native_commands_and_counts_in_info() {
    let s = Server::with_args(&["--notify-keyspace-events", "KEA"]);
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let persistent = start(&mut c, KEY, 300);
    let _: i64 = cmd("PERSIST")
        .arg(session_key_of(&mut c, &persistent))
        .query(&mut c)
        .unwrap();
    let mut sub_conn = s.conn();
    let mut sub = sub_conn.as_pubsub();
    sub.psubscribe("__keyevent@0__:*").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let old_key = session_key_of(&mut c, &t);
    let n = renew(&mut c, KEY, &t, None);
    let new_key = session_key_of(&mut c, &n);
    let old_p = session_key_of(&mut c, &persistent);
    let p2 = renew(&mut c, KEY, &persistent, None);
    let new_p = session_key_of(&mut c, &p2);
    let mut events = vec![];
    for _ in 0..5 {
        let m = sub.get_message().expect("a keyevent");
        let event = m.get_channel_name().rsplit(':').next().unwrap().to_string();
        events.push((event, m.get_payload::<Vec<u8>>().unwrap()));
    }
    let e = |name: &str, key: &[u8]| (name.to_string(), key.to_vec());
    assert_eq!(
        events,
        [
            e("hset", &new_key),
            e("expire", &new_key),
            e("del", &old_key),
            e("hset", &new_p),
            e("del", &old_p),
        ]
    );

    let info: String = cmd("INFO").arg("sessiongate").query(&mut c).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("sessiongate_{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(field("sessions_renewed"), 2);
    assert_eq!(field("sessions_started"), 2, "RENEW starts no session");
    assert_eq!(field("sessions_ended"), 0, "RENEW ends no session");
    let _ = err(&mut c, &renew_cmd(KEY, &t, None));
    let _ = err(&mut c, &renew_cmd(KEY, &n, Some(b"")));
    let _ = err(&mut c, &renew_cmd(b"wrong", &n, None));
    let _ = err(&mut c, cmd("SESSIONGATE.START").arg(KEY).arg(1).arg(0));
    let info: String = cmd("INFO").arg("sessiongate").query(&mut c).unwrap();
    let get = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("sessiongate_{name}:")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(get("sessions_renewed"), 2);
    assert_eq!(get("rejected_session_missing"), 1);
    assert_eq!(get("rejected_arguments"), 2);
    assert_eq!(get("rejected_signature"), 1);
}

#[test]
fn renew_hides_both_sign_keys_and_the_token_from_monitor_and_slowlog() {
    let ((major, _), _) = server_version();
    let s = Server::with_args(&["--slowlog-log-slower-than", "0"]);
    let mut c = s.conn();
    let t = start(&mut c, b"first-secret", 300);
    let mut mon = s.conn();
    let _: () = cmd("MONITOR").query(&mut mon).unwrap_or(());
    mon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _: () = cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let n = renew(&mut c, b"first-secret", &t, Some(b"second-secret"));
    let _ = err(
        &mut c,
        cmd("SESSIONGATE.RENEW")
            .arg("third-secret")
            .arg(&n)
            .arg("fourth-secret")
            .arg("extra"),
    );
    let _ = err(
        &mut c,
        cmd("SESSIONGATE.START").arg("fifth-secret").arg(1).arg(0),
    );
    let _: () = cmd("SET").arg("sentinel-end").arg(1).query(&mut c).unwrap();
    let mut seen = String::new();
    loop {
        let line: String =
            redis::FromRedisValue::from_redis_value(&mon.recv_response().unwrap()).unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("sentinel-end") {
            break;
        }
    }
    let slowlog: Value = cmd("SLOWLOG").arg("GET").arg(100).query(&mut c).unwrap();
    let slowlog = format!("{slowlog:?}");
    if major >= 7 {
        for text in [&seen, &slowlog] {
            assert!(!text.contains("secret"), "{text}");
            for tok in [&t, &n] {
                assert!(!text.contains(std::str::from_utf8(tok).unwrap()), "{text}");
            }
        }
        // Both RENEWs: sign key, token, new sign key; START: its sign key.
        assert_eq!(seen.matches("redacted").count(), 7, "{seen}");
        // The max_lifetime argument is not a secret.
        assert!(seen.contains("\"0\""), "{seen}");
    } else {
        assert!(s.log().contains("cannot redact"));
    }
}

#[test]
fn command_metadata_of_renew_and_start() {
    let s = Server::start();
    let mut c = s.conn();
    let info: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("sessiongate.renew")
        .arg("sessiongate.start")
        .query(&mut c)
        .unwrap();
    let Value::Array(entries) = info else {
        panic!("{info:?}")
    };
    let renew_info = format!("{:?}", entries[0]);
    let flags = |entry: &Value| -> Vec<String> {
        let Value::Array(e) = entry else {
            panic!("{entry:?}")
        };
        let Value::Array(f) = &e[2] else {
            panic!("{entry:?}")
        };
        f.iter()
            .map(|v| redis::from_redis_value::<String>(v).unwrap())
            .collect()
    };
    let mut renew_flags = flags(&entries[0]);
    renew_flags.retain(|f| f != "module");
    renew_flags.sort();
    assert_eq!(renew_flags, ["denyoom", "write"], "{renew_info}");
    let Value::Array(r) = &entries[0] else {
        unreachable!()
    };
    // Keyless: first key, last key and step are 0.
    assert_eq!(
        r[3..6],
        [Value::Int(0), Value::Int(0), Value::Int(0)],
        "{renew_info}"
    );
    let (version, valkey) = server_version();
    if valkey || version >= (7, 2) {
        assert!(
            renew_info.contains("@write") && renew_info.contains("@hash"),
            "{renew_info}"
        );
    }
    if version >= (7, 0) {
        assert_eq!(r[1], Value::Int(-3), "arity");
        for (name, optional) in [
            ("sessiongate.renew", "new_sign_key"),
            ("sessiongate.start", "max_lifetime"),
        ] {
            let docs: Value = cmd("COMMAND").arg("DOCS").arg(name).query(&mut c).unwrap();
            let d = format!("{docs:?}");
            assert!(d.contains(optional) && d.contains("optional"), "{d}");
        }
        let docs: Value = cmd("COMMAND")
            .arg("DOCS")
            .arg("sessiongate.renew")
            .query(&mut c)
            .unwrap();
        assert!(format!("{docs:?}").contains("cluster"), "{docs:?}");
    }
}
