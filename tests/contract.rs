//! The public contract of DESIGN §1 and the storage of §2, against a real server.

mod common;

use common::*;
use redis::Value;

const WRONG_ARITY: [(&str, usize); 8] = [
    ("SESSIONGATE.START", 3),
    ("SESSIONGATE.EXPIRE", 4),
    ("SESSIONGATE.PSET", 5),
    ("SESSIONGATE.PGET", 4),
    ("SESSIONGATE.PDEL", 4),
    ("SESSIONGATE.END", 3),
    ("SESSIONGATE.TTL", 3),
    ("SESSIONGATE.PGETALL", 3),
];

#[test]
fn full_session_lifecycle() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    assert!(token_shape_ok(&t), "{}", String::from_utf8_lossy(&t));
    // The signature is HMAC-SHA256 of the id under the caller's key (not under anything the
    // server may have put in its place, such as a redacted argument).
    assert_eq!(
        std::str::from_utf8(&t[20..]).unwrap(),
        sign_hex(KEY, &t[3..19])
    );

    ok(&mut c, "PSET", (KEY, &t, "user", r#"{"name":"John Doe"}"#));
    let got = pget(&mut c, (KEY, &t, "user"));
    assert_eq!(got, br#"{"name":"John Doe"}"#);
    // Overwrite.
    ok(&mut c, "PSET", (KEY, &t, "user", "v2"));
    let got = pget(&mut c, (KEY, &t, "user"));
    assert_eq!(got, b"v2");

    ok(&mut c, "EXPIRE", (KEY, &t, 1000));
    ok(&mut c, "PDEL", (KEY, &t, "user"));
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("user")),
        "the requested <payload_name> does not exist"
    );
    ok(&mut c, "END", (KEY, &t));
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("user")),
        "the session id contained in <token> does not exist"
    );
    assert!(keys(&mut c).is_empty());
}

#[test]
fn tokens_are_distinct_and_well_formed() {
    let s = Server::start();
    let mut c = s.conn();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..500 {
        let t = start(&mut c, KEY, 60);
        assert!(token_shape_ok(&t));
        assert!(seen.insert(t));
    }
    assert_eq!(keys(&mut c).len(), 500);
}

#[test]
fn every_error_of_the_table() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 300);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let before = snapshot(&mut c);

    for (name, arity) in WRONG_ARITY {
        for n in [0, 1, arity - 1, arity + 1] {
            if n + 1 == arity {
                continue;
            }
            let mut command = cmd(name);
            for _ in 0..n {
                command.arg("x");
            }
            assert_eq!(
                err(&mut c, &command),
                format!(
                    "ERR wrong number of arguments for '{}' command",
                    arity_error_name(name)
                ),
                "{name} with {n} arguments"
            );
        }
    }
    // Command names are case-insensitive; the reply names the command as Redis knows it
    // (as sent on 6.x, whose RedisModule_WrongArity echoes the client's spelling).
    assert_eq!(
        err(&mut c, cmd("SessionGate.Start").arg("k")),
        format!(
            "ERR wrong number of arguments for '{}' command",
            arity_error_name("SessionGate.Start")
        )
    );

    let cases: Vec<(redis::Cmd, &str)> = vec![
        (
            cmd("SESSIONGATE.START").arg("").arg(10).clone(),
            "<sign_key> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.START").arg(KEY).arg("abc").clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.START").arg(KEY).arg(-1).clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.START").arg(KEY).arg("1.5").clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.START")
                .arg(KEY)
                .arg("9223372036854775807")
                .clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.START")
                .arg(KEY)
                .arg("99999999999999999999")
                .clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.EXPIRE").arg("").arg(&t).arg(10).clone(),
            "<sign_key> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.EXPIRE").arg(KEY).arg("").arg(10).clone(),
            "<token> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.EXPIRE")
                .arg(KEY)
                .arg("v1.abc")
                .arg(10)
                .clone(),
            "<token> format is invalid",
        ),
        (
            cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(&t).arg("-5").clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(&t).arg("").clone(),
            "<ttl> must be a valid integer that represents seconds",
        ),
        (
            cmd("SESSIONGATE.EXPIRE")
                .arg("other")
                .arg(&t)
                .arg(10)
                .clone(),
            "the signature contained in <token> is invalid",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg("")
                .arg(&t)
                .arg("p")
                .arg("d")
                .clone(),
            "<sign_key> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg("")
                .arg("p")
                .arg("d")
                .clone(),
            "<token> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(t.to_ascii_uppercase())
                .arg("p")
                .arg("d")
                .clone(),
            "<token> format is invalid",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&t)
                .arg("")
                .arg("d")
                .clone(),
            "<payload_name> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&t)
                .arg(vec![b'n'; 201])
                .arg("d")
                .clone(),
            "<payload_name> length exceeds the maximum value allowed of 200",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&t)
                .arg("p")
                .arg("")
                .clone(),
            "<payload_data> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&t)
                .arg("p")
                .arg(vec![b'd'; 8_000_001])
                .clone(),
            "<payload_data> length exceeds the maximum value allowed of 8000000",
        ),
        (
            cmd("SESSIONGATE.PSET")
                .arg("other")
                .arg(&t)
                .arg("p")
                .arg("d")
                .clone(),
            "the signature contained in <token> is invalid",
        ),
        (
            cmd("SESSIONGATE.PGET").arg("").arg(&t).arg("p").clone(),
            "<sign_key> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PGET").arg(KEY).arg("").arg("p").clone(),
            "<token> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PGET")
                .arg(KEY)
                .arg(format!("{}x", String::from_utf8_lossy(&t)))
                .arg("p")
                .clone(),
            "<token> format is invalid",
        ),
        (
            cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("").clone(),
            "<payload_name> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PGET")
                .arg(KEY)
                .arg(&t)
                .arg(vec![b'n'; 201])
                .clone(),
            "<payload_name> length exceeds the maximum value allowed of 200",
        ),
        (
            cmd("SESSIONGATE.PGET")
                .arg("other")
                .arg(&t)
                .arg("p")
                .clone(),
            "the signature contained in <token> is invalid",
        ),
        (
            cmd("SESSIONGATE.PGET")
                .arg(KEY)
                .arg(&t)
                .arg("missing")
                .clone(),
            "the requested <payload_name> does not exist",
        ),
        (
            cmd("SESSIONGATE.PDEL").arg("").arg(&t).arg("p").clone(),
            "<sign_key> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PDEL").arg(KEY).arg("").arg("p").clone(),
            "<token> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PDEL")
                .arg(KEY)
                .arg("garbage")
                .arg("p")
                .clone(),
            "<token> format is invalid",
        ),
        (
            cmd("SESSIONGATE.PDEL").arg(KEY).arg(&t).arg("").clone(),
            "<payload_name> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.PDEL")
                .arg(KEY)
                .arg(&t)
                .arg(vec![b'n'; 201])
                .clone(),
            "<payload_name> length exceeds the maximum value allowed of 200",
        ),
        (
            cmd("SESSIONGATE.PDEL")
                .arg("other")
                .arg(&t)
                .arg("p")
                .clone(),
            "the signature contained in <token> is invalid",
        ),
        (
            cmd("SESSIONGATE.PDEL")
                .arg(KEY)
                .arg(&t)
                .arg("missing")
                .clone(),
            "the requested <payload_name> does not exist",
        ),
        (
            cmd("SESSIONGATE.END").arg("").arg(&t).clone(),
            "<sign_key> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.END").arg(KEY).arg("").clone(),
            "<token> must have at least one character",
        ),
        (
            cmd("SESSIONGATE.END").arg(KEY).arg(&t[..83]).clone(),
            "<token> format is invalid",
        ),
        (
            cmd("SESSIONGATE.END").arg("other").arg(&t).clone(),
            "the signature contained in <token> is invalid",
        ),
    ];
    for (command, want) in &cases {
        assert_eq!(
            &err(&mut c, command),
            want,
            "{:?}",
            command.args_iter().count()
        );
    }
    // None of the refused commands changed anything.
    assert_eq!(snapshot(&mut c), before);

    // A well-signed token for a session that does not exist, on every token command.
    let ghost_id = b"ABCDEFGHabcdefgh";
    let ghost = format!(
        "v1.{}.{}",
        std::str::from_utf8(ghost_id).unwrap(),
        sign_hex(KEY, ghost_id)
    );
    let missing = "the session id contained in <token> does not exist";
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(&ghost).arg(5)
        ),
        missing
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&ghost)
                .arg("p")
                .arg("d")
        ),
        missing
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PGET").arg(KEY).arg(&ghost).arg("p")
        ),
        missing
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PDEL").arg(KEY).arg(&ghost).arg("p")
        ),
        missing
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.END").arg(KEY).arg(&ghost)),
        missing
    );
    assert_eq!(snapshot(&mut c), before);
}

#[test]
fn checks_run_in_argument_order_and_signature_before_session() {
    let s = Server::start();
    let mut c = s.conn();
    // Several bad arguments at once: the first in argument order wins.
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET").arg("").arg("").arg("").arg("")
        ),
        "<sign_key> must have at least one character"
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET").arg(KEY).arg("bad").arg("").arg("")
        ),
        "<token> format is invalid"
    );
    let t = start(&mut c, KEY, 100);
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET").arg(KEY).arg(&t).arg("").arg("")
        ),
        "<payload_name> must have at least one character"
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET")
                .arg("wrong")
                .arg(&t)
                .arg("n")
                .arg("")
        ),
        "<payload_data> must have at least one character"
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.EXPIRE").arg("wrong").arg(&t).arg("x")
        ),
        "<ttl> must be a valid integer that represents seconds"
    );
    // A bad signature is reported before a missing session.
    ok(&mut c, "END", (KEY, &t));
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PGET").arg("wrong").arg(&t).arg("n")
        ),
        "the signature contained in <token> is invalid"
    );
}

#[test]
fn another_applications_key_is_refused_even_when_it_signs_the_id() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, b"app-a", 300);
    ok(&mut c, "PSET", ("app-a", &t, "p", "secret"));
    let before = snapshot(&mut c);
    let id = std::str::from_utf8(&t[3..19]).unwrap();
    let forge = |key: &str| format!("v1.{id}.{}", sign_hex(key.as_bytes(), id.as_bytes()));

    // Usually another key's token for the same id hashes to another slot, so to another key.
    let forged = forge("app-b");
    let missing = "the session id contained in <token> does not exist";
    if crc16(forged.as_bytes()) & 16383 != crc16(&t) & 16383 {
        assert_eq!(
            err(
                &mut c,
                cmd("SESSIONGATE.PGET").arg("app-b").arg(&forged).arg("p")
            ),
            missing
        );
        assert_eq!(
            err(&mut c, cmd("SESSIONGATE.END").arg("app-b").arg(&forged)),
            missing
        );
    }

    // An application key whose token for this id lands in the very same slot: it reaches the
    // session, and the fingerprint turns it away.
    let other = (0..)
        .map(|i| format!("app-b-{i}"))
        .find(|k| crc16(forge(k).as_bytes()) & 16383 == crc16(&t) & 16383)
        .unwrap();
    let forged = forge(&other);
    let foreign = "the signature contained in <token> seems to be valid, but is different from the stored signature in the session";
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PGET").arg(&other).arg(&forged).arg("p")
        ),
        foreign
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET")
                .arg(&other)
                .arg(&forged)
                .arg("p")
                .arg("x")
        ),
        foreign
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PDEL").arg(&other).arg(&forged).arg("p")
        ),
        foreign
    );
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.EXPIRE").arg(&other).arg(&forged).arg(1)
        ),
        foreign
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.END").arg(&other).arg(&forged)),
        foreign
    );
    assert_eq!(snapshot(&mut c), before);
    let got = pget(&mut c, ("app-a", &t, "p"));
    assert_eq!(got, b"secret");
}

#[test]
fn binary_safe_arguments() {
    let s = Server::start();
    let mut c = s.conn();
    let key: &[u8] = b"k\0\xff\xfe key";
    let t = start(&mut c, key, 300);
    let names: [&[u8]; 4] = [b"\0", b"a\0b", b"\xff\xfe\x00\x01", &[0xC3u8; 200]];
    for (i, name) in names.iter().enumerate() {
        let data = [&b"\0\xff"[..], &i.to_le_bytes(), b"\r\n-ERR"].concat();
        ok(&mut c, "PSET", (key, &t, *name, &data));
        let got = pget(&mut c, (key, &t, *name));
        assert_eq!(got, data);
    }
    let big: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    ok(&mut c, "PSET", (key, &t, "big", &big));
    let got = pget(&mut c, (key, &t, "big"));
    assert!(got == big, "8,000,000-byte payload came back changed");
    ok(&mut c, "PDEL", (key, &t, names[1]));
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PGET").arg(key).arg(&t).arg(names[1])
        ),
        "the requested <payload_name> does not exist"
    );
    // The other key bytes do not verify.
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PGET")
                .arg(b"k\0\xff\xfe keY")
                .arg(&t)
                .arg(names[0])
        ),
        "the signature contained in <token> is invalid"
    );
    // A token with a NUL or 0xff byte in it is malformed, not a crash.
    let mut bad = t.clone();
    bad[5] = 0;
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(key).arg(&bad).arg("x")),
        "<token> format is invalid"
    );
    bad[5] = 0xff;
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(key).arg(&bad).arg("x")),
        "<token> format is invalid"
    );
}

#[test]
fn ttl_semantics() {
    let s = Server::start();
    let mut c = s.conn();
    // ttl 0: a well-formed token, nothing stored.
    let t0 = start(&mut c, KEY, 0);
    assert!(token_shape_ok(&t0));
    assert!(keys(&mut c).is_empty());
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t0).arg("p")),
        "the session id contained in <token> does not exist"
    );

    let t = start(&mut c, KEY, 100);
    let k = session_key_of(&mut c, &t);
    let pttl: i64 = cmd("PTTL").arg(&k).query(&mut c).unwrap();
    assert!((98_000..=100_000).contains(&pttl), "{pttl}");
    let at1 = pexpiretime(&mut c, &k);

    // PSET and PDEL keep the TTL.
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    ok(&mut c, "PDEL", (KEY, &t, "p"));
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let pttl: i64 = cmd("PTTL").arg(&k).query(&mut c).unwrap();
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
    // The exact check needs PEXPIRETIME (7.0+); 6.x has only the PTTL bounds above.
    if let (Some(at1), Some(at2)) = (at1, pexpiretime(&mut c, &k)) {
        assert!(at1 > 0);
        assert_eq!(at1, at2, "PSET/PDEL must not move the expiry");
    }

    // EXPIRE replaces it, up and down.
    ok(&mut c, "EXPIRE", (KEY, &t, 5000));
    let ttl: i64 = cmd("TTL").arg(&k).query(&mut c).unwrap();
    assert!((4990..=5000).contains(&ttl), "{ttl}");
    ok(&mut c, "EXPIRE", (KEY, &t, 7));
    let ttl: i64 = cmd("TTL").arg(&k).query(&mut c).unwrap();
    assert!((5..=7).contains(&ttl), "{ttl}");

    // EXPIRE 0 ends the session at once.
    ok(&mut c, "EXPIRE", (KEY, &t, 0));
    assert!(keys(&mut c).is_empty());
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("p")),
        "the session id contained in <token> does not exist"
    );

    // A session really expires.
    let t = start(&mut c, KEY, 1);
    wait_until(
        "the session to expire",
        std::time::Duration::from_secs(5),
        || {
            err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("p"))
                == "the session id contained in <token> does not exist"
        },
    );
}

#[test]
fn storage_is_one_plain_hash_without_tokens_or_signatures() {
    let s = Server::start();
    let mut c = s.conn();
    let mut tokens = vec![];
    for i in 0..20 {
        let t = start(&mut c, KEY, 300);
        ok(&mut c, "PSET", (KEY, &t, "n", format!("data{i}")));
        tokens.push(t);
    }
    let fingerprint = {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
        m.update(b"sessiongate key fingerprint");
        m.finalize().into_bytes()[..16].to_vec()
    };
    let all = keys(&mut c);
    assert_eq!(all.len(), 20);
    let mut everything = Vec::new();
    for t in &tokens {
        let k = session_key_of(&mut c, t);
        let ks = String::from_utf8(k.clone()).unwrap();
        // sessiongate:{<tag>}:<id>, its slot that of the whole token.
        let id = std::str::from_utf8(&t[3..19]).unwrap();
        assert!(
            ks.starts_with("sessiongate:{") && ks.ends_with(&format!("}}:{id}")),
            "{ks}"
        );
        let tag = &ks["sessiongate:{".len()..ks.len() - id.len() - 2];
        assert!(!tag.is_empty() && tag.len() <= 3);
        assert_eq!(crc16(tag.as_bytes()) & 16383, crc16(t) & 16383);
        let kind: String = cmd("TYPE").arg(&k).query(&mut c).unwrap();
        assert_eq!(kind, "hash");
        let h: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(&k).query(&mut c).unwrap();
        assert_eq!(h.len(), 2);
        assert!(h.contains(&(b"".to_vec(), fingerprint.clone())));
        for (f, v) in h {
            everything.extend(f);
            everything.extend(v);
        }
        everything.extend(k);
    }
    let dumped = String::from_utf8_lossy(&everything).to_string();
    for t in &tokens {
        let sig = std::str::from_utf8(&t[20..]).unwrap();
        assert!(!dumped.contains(sig), "a signature is stored");
        assert!(
            !dumped.contains(std::str::from_utf8(t).unwrap()),
            "a token is stored"
        );
        let raw_sig = hex::decode(sig).unwrap();
        assert!(
            !everything.windows(32).any(|w| w == raw_sig.as_slice()),
            "a raw signature is stored"
        );
    }
}

#[test]
fn keyspace_notifications_and_plain_data_commands() {
    let s = Server::with_args(&["--notify-keyspace-events", "KEA"]);
    let mut c = s.conn();
    let mut sub_conn = s.conn();
    let mut sub = sub_conn.as_pubsub();
    sub.psubscribe("__keyspace@0__:sessiongate:*").unwrap();
    sub.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let t = start(&mut c, KEY, 300);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    ok(&mut c, "PDEL", (KEY, &t, "p"));
    ok(&mut c, "EXPIRE", (KEY, &t, 50));
    ok(&mut c, "END", (KEY, &t));
    let t2 = start(&mut c, KEY, 1);
    let mut events = vec![];
    while events.len() < 8 {
        let m = sub.get_message().expect("keyspace event");
        events.push(m.get_payload::<String>().unwrap());
    }
    assert_eq!(
        events,
        ["hset", "expire", "hset", "hdel", "expire", "del", "hset", "expire"]
    );
    let m = sub.get_message().expect("the expired event");
    assert_eq!(m.get_payload::<String>().unwrap(), "expired");
    assert!(m
        .get_channel_name()
        .ends_with(std::str::from_utf8(&t2[3..19]).unwrap()));
}

#[test]
fn sign_key_and_token_are_redacted_from_monitor_and_slowlog() {
    let ((major, _), _) = server_version();
    // Every command enters the slowlog.
    let s = Server::with_args(&["--slowlog-log-slower-than", "0"]);
    let mut c = s.conn();
    let mut mon = s.conn();
    let _: () = cmd("MONITOR").query(&mut mon).unwrap();
    let t: Vec<u8> = cmd("SESSIONGATE.START")
        .arg("very-secret-key")
        .arg(10)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PGET")
                .arg("very-secret-key")
                .arg(&t)
                .arg("p")
        ),
        "the requested <payload_name> does not exist"
    );
    // The arguments of each slowlog entry (id, time, duration, arguments, ...), oldest first.
    let entries: Vec<Value> = cmd("SLOWLOG").arg("GET").arg(100).query(&mut c).unwrap();
    let mut logged: Vec<Vec<Vec<u8>>> = entries
        .iter()
        .map(|e| match e {
            Value::Array(fields) => redis::from_redis_value(&fields[3]).unwrap(),
            other => panic!("slowlog entry {other:?}"),
        })
        .filter(|args: &Vec<Vec<u8>>| args[0].to_ascii_uppercase().starts_with(b"SESSIONGATE."))
        .collect();
    logged.reverse();
    let key_shown: &[u8] = if major >= 7 {
        b"(redacted)"
    } else {
        b"very-secret-key"
    };
    // A token is a bearer credential: hidden like the sign key.
    let token_shown: &[u8] = if major >= 7 { b"(redacted)" } else { &t };
    let want: Vec<Vec<Vec<u8>>> = vec![
        vec![
            b"SESSIONGATE.START".to_vec(),
            key_shown.to_vec(),
            b"10".to_vec(),
        ],
        vec![
            b"SESSIONGATE.PGET".to_vec(),
            key_shown.to_vec(),
            token_shown.to_vec(),
            b"p".to_vec(),
        ],
    ];
    assert_eq!(logged, want, "the module's slowlog entries");

    let mut monitor_lines = vec![];
    while monitor_lines.len() < 2 {
        let line: String =
            redis::FromRedisValue::from_redis_value(&mon.recv_response().unwrap()).unwrap();
        if line.to_uppercase().contains("SESSIONGATE.") {
            monitor_lines.push(line);
        }
    }
    for line in &monitor_lines {
        if major >= 7 {
            assert!(!line.contains("very-secret-key"), "{line}");
            assert!(!line.contains(std::str::from_utf8(&t).unwrap()), "{line}");
            assert!(line.contains("\"(redacted)\""), "{line}");
        } else {
            assert!(line.contains("\"very-secret-key\""), "{line}");
        }
    }
    if major < 7 {
        assert!(
            s.log().contains("cannot redact"),
            "6.x logs that it cannot redact"
        );
    }
}
