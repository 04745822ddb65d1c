//! The commands and knobs of issue 6: TTL, PGETALL, INFO, CONFIG, load arguments, command
//! metadata and ACL categories.

mod common;

use common::*;
use redis::Value;

fn info_stats(c: &mut redis::Connection) -> std::collections::HashMap<String, u64> {
    let text: String = cmd("INFO").arg("sessiongate").query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

const SIGN_KEY_EMPTY: &str = "<sign_key> must have at least one character";
const TOKEN_EMPTY: &str = "<token> must have at least one character";
const TOKEN_FORMAT: &str = "<token> format is invalid";
const BAD_SIGNATURE: &str = "the signature contained in <token> is invalid";
const NO_SESSION: &str = "the session id contained in <token> does not exist";
const FOREIGN: &str = "the signature contained in <token> seems to be valid, but is different from the stored signature in the session";

fn session_ttl(c: &mut redis::Connection, t: &[u8]) -> i64 {
    cmd("SESSIONGATE.TTL").arg(KEY).arg(t).query(c).unwrap()
}

/// Every error a `<sign_key> <token>` command (TTL, PGETALL) can answer outside a cluster,
/// each exact, and none of them changes anything.
fn assert_token_command_errors(c: &mut redis::Connection, name: &str) {
    let t = start(c, KEY, 100);
    ok(c, "PSET", (KEY, &t, "p", "d"));
    let ended = start(c, KEY, 100);
    ok(c, "END", (KEY, &ended));
    let (foreign_key, foreign) = foreign_token(&t);
    let mut bad_sig = t.clone();
    bad_sig[83] = if bad_sig[83] == b'0' { b'1' } else { b'0' };
    let arity = format!(
        "ERR wrong number of arguments for '{}' command",
        arity_error_name(name)
    );
    let k = KEY.to_vec();
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (vec![], &arity),
        (vec![k.clone()], &arity),
        (vec![k.clone(), t.clone(), b"x".to_vec()], &arity),
        (vec![vec![], t.clone()], SIGN_KEY_EMPTY),
        (vec![vec![], b"bad".to_vec()], SIGN_KEY_EMPTY),
        (vec![k.clone(), vec![]], TOKEN_EMPTY),
        (vec![k.clone(), b"v1.x".to_vec()], TOKEN_FORMAT),
        (vec![k.clone(), t.to_ascii_uppercase()], TOKEN_FORMAT),
        (vec![k.clone(), [&t[..], b"0"].concat()], TOKEN_FORMAT),
        (vec![b"x".to_vec(), t.clone()], BAD_SIGNATURE),
        (vec![k.clone(), bad_sig], BAD_SIGNATURE),
        (vec![b"x".to_vec(), ended.clone()], BAD_SIGNATURE),
        (vec![k.clone(), ended], NO_SESSION),
        (vec![foreign_key, foreign], FOREIGN),
    ];
    let before = snapshot(c);
    for (args, want) in &cases {
        let mut command = cmd(name);
        for a in args {
            command.arg(a);
        }
        assert_eq!(&err(c, &command), want, "{name} {args:?}");
    }
    assert_eq!(snapshot(c), before, "a refused {name} changed something");
    ok(c, "END", (KEY, &t));
}

#[test]
fn ttl_reports_seconds_left_like_redis_ttl() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 100);
    // Bounds, not equality: the clock runs between START and TTL (rounded as Redis rounds).
    let ttl = session_ttl(&mut c, &t);
    assert!((95..=100).contains(&ttl), "{ttl}");
    let k = session_key_of(&mut c, &t);
    let native: i64 = cmd("TTL").arg(&k).query(&mut c).unwrap();
    assert!(
        (ttl - 1..=ttl).contains(&native),
        "TTL {native}, SESSIONGATE.TTL {ttl}"
    );
    ok(&mut c, "EXPIRE", (KEY, &t, 5));
    let ttl = session_ttl(&mut c, &t);
    assert!((1..=5).contains(&ttl), "{ttl}");
    ok(&mut c, "EXPIRE", (KEY, &t, 100_000));
    let ttl = session_ttl(&mut c, &t);
    assert!((99_995..=100_000).contains(&ttl), "{ttl}");
    // Made persistent behind the module's back: -1, as TTL says.
    let _: () = cmd("PERSIST").arg(&k).query(&mut c).unwrap();
    assert_eq!(session_ttl(&mut c, &t), -1);
    ok(&mut c, "END", (KEY, &t));
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&t)),
        NO_SESSION
    );
    assert_token_command_errors(&mut c, "SESSIONGATE.TTL");
}

#[test]
fn pgetall_answers_as_hgetall_in_resp2_and_resp3() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 100);
    let empty: Value = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(empty, Value::Array(vec![]));
    let payloads: [(&[u8], &[u8]); 3] = [
        (b"user", b"{\"n\":1}"),
        (b"a\0b", b"\xff\x00"),
        (b"cart", b"3 items"),
    ];
    for (n, d) in payloads {
        ok(&mut c, "PSET", (KEY, &t, n, d));
    }
    let k = session_key_of(&mut c, &t);
    // RESP2: a flat name/data array, the fingerprint field left out.
    let flat: Vec<Vec<u8>> = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(flat.len(), 6);
    let mut got: Vec<(Vec<u8>, Vec<u8>)> = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    got.sort();
    let mut native: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(&k).query(&mut c).unwrap();
    native.retain(|(f, _)| !f.is_empty());
    native.sort();
    assert_eq!(got, native);
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = payloads
        .iter()
        .map(|(n, d)| (n.to_vec(), d.to_vec()))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // RESP3: a map, like HGETALL's, where the server has map replies for modules (7.0+, and
    // Valkey); Redis 6.2 speaks RESP3 but its module API has no map reply: a flat array there.
    let client = redis::Client::open(format!("{}?protocol=resp3", s.url())).unwrap();
    let mut c3 = client.get_connection().unwrap();
    let v: Value = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c3)
        .unwrap();
    let hv: Value = cmd("HGETALL").arg(&k).query(&mut c3).unwrap();
    assert!(matches!(hv, Value::Map(_)), "{hv:?}");
    let ((major, _), _) = server_version();
    let maps = major >= 7;
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(pairs) if maps => pairs,
        Value::Array(flat) if !maps => {
            assert_eq!(flat.len(), 6);
            flat.chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect()
        }
        other => panic!("RESP3 PGETALL on {major}.x: {other:?}"),
    };
    assert_eq!(pairs.len(), 3);
    for (n, d) in payloads {
        assert!(pairs.contains(&(Value::BulkString(n.to_vec()), Value::BulkString(d.to_vec()))));
    }
    let empty_session = start(&mut c, KEY, 100);
    let v: Value = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&empty_session)
        .query(&mut c3)
        .unwrap();
    let want = if maps {
        Value::Map(vec![])
    } else {
        Value::Array(vec![])
    };
    assert_eq!(v, want, "an empty session's RESP3 PGETALL on {major}.x");
    assert_token_command_errors(&mut c, "SESSIONGATE.PGETALL");
}

/// Every counter of INFO sessiongate, in order.
const COUNTERS: [&str; 15] = [
    "sessions_started",
    "sessions_ended",
    "sessions_renewed",
    "expiries_set",
    "payload_sets",
    "payload_gets",
    "payload_deletes",
    "rejected_arguments",
    "rejected_format",
    "rejected_signature",
    "rejected_foreign_key",
    "rejected_session_missing",
    "rejected_tryagain",
    "owned_sessions_started",
    "sessions_revoked",
];

#[test]
fn info_counts_what_happened() {
    let s = Server::start();
    let mut c = s.conn();
    let zero = info_stats(&mut c);
    let want_zero: std::collections::HashMap<String, u64> = COUNTERS
        .iter()
        .map(|n| (format!("sessiongate_{n}"), 0))
        .collect();
    assert_eq!(zero, want_zero);
    let t = start(&mut c, KEY, 100);
    let t2 = start(&mut c, KEY, 100);
    let t2 = renew(&mut c, KEY, &t2, None);
    let live = start(&mut c, KEY, 100);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    assert_eq!(pget(&mut c, (KEY, &t, "p")), b"d");
    let all: Vec<Vec<u8>> = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(all, [b"p".to_vec(), b"d".to_vec()]);
    session_ttl(&mut c, &t);
    ok(&mut c, "PDEL", (KEY, &t, "p"));
    ok(&mut c, "EXPIRE", (KEY, &t, 50));
    ok(&mut c, "END", (KEY, &t));
    ok(&mut c, "EXPIRE", (KEY, &t2, 0));
    // Refusals: each kind on PGET, TTL and PGETALL; a missing payload and a wrong arity count
    // as no rejection.
    let (foreign_key, foreign) = foreign_token(&live);
    for name in ["SESSIONGATE.PGET", "SESSIONGATE.TTL", "SESSIONGATE.PGETALL"] {
        let with = |key: &[u8], token: &[u8]| {
            let mut command = cmd(name);
            command.arg(key).arg(token);
            if name == "SESSIONGATE.PGET" {
                command.arg("p");
            }
            command
        };
        assert_eq!(err(&mut c, &with(KEY, b"bad")), TOKEN_FORMAT);
        assert_eq!(err(&mut c, &with(b"wrong", &live)), BAD_SIGNATURE);
        assert_eq!(err(&mut c, &with(KEY, &t)), NO_SESSION);
        assert_eq!(err(&mut c, &with(&foreign_key, &foreign)), FOREIGN);
    }
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg("").arg(&live)),
        SIGN_KEY_EMPTY
    );
    err(&mut c, cmd("SESSIONGATE.START").arg(KEY).arg("x"));
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&live).arg("p")),
        "the requested <payload_name> does not exist"
    );
    err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY));

    let st = info_stats(&mut c);
    let want: std::collections::HashMap<String, u64> = COUNTERS
        .iter()
        .zip([3, 2, 1, 2, 1, 2, 1, 2, 3, 3, 3, 3, 0, 0, 0])
        .map(|(n, v)| (format!("sessiongate_{n}"), v))
        .collect();
    assert_eq!(st, want);
}

#[test]
fn load_arguments_set_the_limits_and_the_error_texts() {
    let s = Server::with(Options {
        module_args: [
            "max-payload-data-length",
            "10",
            "max-payload-name-length",
            "3",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    });
    let mut c = s.conn();
    let t = start(&mut c, KEY, 100);
    ok(&mut c, "PSET", (KEY, &t, "abc", "0123456789"));
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&t)
                .arg("abc")
                .arg("0123456789x")
        ),
        "<payload_data> length exceeds the maximum value allowed of 10"
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("abcd")),
        "<payload_name> length exceeds the maximum value allowed of 3"
    );
}

#[test]
fn bad_load_arguments_fail_the_load_with_a_log_line() {
    for (bad, message) in [
        (
            &["max-payload-data-length", "0"][..],
            "sessiongate: 'max-payload-data-length' must be an integer from 1 to 536870912",
        ),
        (
            &["max-payload-name-length", "x"][..],
            "sessiongate: 'max-payload-name-length' must be an integer from 1 to 65536",
        ),
        (
            &["no-such-setting", "1"][..],
            "sessiongate: unknown load argument 'no-such-setting'",
        ),
        (
            &["max-payload-name-length"][..],
            "sessiongate: load arguments come in pairs: <name> <value>",
        ),
    ] {
        // The module's own line (Redis' "Module ... failed to load" names the .so path, which
        // holds "sessiongate" too).
        let text = failed_load_log(bad);
        assert!(
            text.contains(message),
            "{bad:?}: no {message:?} in:\n{text}"
        );
    }
}

#[test]
fn config_set_changes_limits_and_texts_where_the_server_has_module_configs() {
    let ((major, _), _) = server_version();
    let s = Server::start();
    let mut c = s.conn();
    let config_set = |c: &mut redis::Connection, name: &str, value: &str| {
        cmd("CONFIG")
            .arg("SET")
            .arg(format!("sessiongate.{name}"))
            .arg(value)
            .query::<()>(c)
            .map_err(|e| error_text(&e))
    };
    if major < 7 {
        assert!(s.log().contains("no module configs"));
        assert_eq!(
            config_set(&mut c, "max-payload-data-length", "4"),
            Err("ERR Unsupported CONFIG parameter: sessiongate.max-payload-data-length".into())
        );
        return;
    }
    let got: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("sessiongate.*")
        .query(&mut c)
        .unwrap();
    assert!(
        got.windows(2)
            .any(|w| w == ["sessiongate.max-payload-name-length", "200"]),
        "{got:?}"
    );
    assert!(
        got.windows(2)
            .any(|w| w == ["sessiongate.max-payload-data-length", "8000000"]),
        "{got:?}"
    );
    let t = start(&mut c, KEY, 100);
    config_set(&mut c, "max-payload-data-length", "4").unwrap();
    assert_eq!(
        err(
            &mut c,
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&t)
                .arg("n")
                .arg("12345")
        ),
        "<payload_data> length exceeds the maximum value allowed of 4"
    );
    config_set(&mut c, "max-payload-name-length", "1").unwrap();
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("nn")),
        "<payload_name> length exceeds the maximum value allowed of 1"
    );
    // Validated by the server against the bounds the module registered, for both limits.
    for (name, max) in [
        ("max-payload-data-length", 536_870_912),
        ("max-payload-name-length", 65_536),
    ] {
        let failed = |why: &str| {
            Err(format!(
                "ERR CONFIG SET failed (possibly related to argument 'sessiongate.{name}') - {why}"
            ))
        };
        let range = format!("argument must be between 1 and {max} inclusive");
        let over = (max + 1).to_string();
        for (bad, why) in [
            ("0", range.as_str()),
            ("-1", &range),
            (&over, &range),
            ("9999999999", &range),
            ("x", "argument couldn't be parsed into an integer"),
            ("", "argument couldn't be parsed into an integer"),
        ] {
            assert_eq!(config_set(&mut c, name, bad), failed(why), "{name} {bad:?}");
        }
    }
    for (name, still) in [
        ("max-payload-data-length", "4"),
        ("max-payload-name-length", "1"),
    ] {
        let v: Vec<String> = cmd("CONFIG")
            .arg("GET")
            .arg(format!("sessiongate.{name}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(v[1], still, "a refused CONFIG SET changed {name}");
    }
}

#[test]
fn command_metadata_and_acl_categories() {
    let ((major, _), _) = server_version();
    let s = Server::start();
    let mut c = s.conn();
    let info: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("sessiongate.pget")
        .arg("sessiongate.pset")
        .arg("sessiongate.start")
        .query(&mut c)
        .unwrap();
    let text = format!("{info:?}");
    // Name, arity, flags, first key, last key, step.
    let Value::Array(entries) = info else {
        panic!("{text}")
    };
    let pget_info = format!("{:?}", entries[0]);
    assert!(
        pget_info.contains("readonly") && pget_info.contains("fast"),
        "{pget_info}"
    );
    let pset = format!("{:?}", entries[1]);
    assert!(pset.contains("write") && pset.contains("denyoom"), "{pset}");
    // Redis 7.0 gives module commands no ACL categories and has no call to set them.
    let (version, valkey) = server_version();
    let categories = valkey || version >= (7, 2);
    if categories {
        assert!(
            pget_info.contains("@read") && pget_info.contains("@hash"),
            "{pget_info}"
        );
        assert!(pset.contains("@write"), "{pset}");
    }
    let keys: Vec<Vec<u8>> = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("SESSIONGATE.PGET")
        .arg("k")
        .arg("the-token")
        .arg("p")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec![b"the-token".to_vec()]);
    if major >= 7 {
        assert!(pget_info.contains("int(4)"), "arity: {pget_info}");
        let docs: Value = cmd("COMMAND")
            .arg("DOCS")
            .arg("sessiongate.pset")
            .query(&mut c)
            .unwrap();
        let d = format!("{docs:?}");
        for want in [
            "summary",
            "payload_name",
            "payload_data",
            "sign_key",
            "token",
        ] {
            assert!(d.contains(want), "{want} missing from {d}");
        }
    }

    // ACL: a reader may PGET and TTL, not PSET or START (by category where the server has
    // module categories, else by command name).
    let t = start(&mut c, KEY, 100);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let rules: &[&str] = if categories {
        &["+@read"]
    } else {
        &["+sessiongate.pget", "+sessiongate.ttl"]
    };
    let _: () = cmd("ACL")
        .arg("SETUSER")
        .arg("reader")
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg(rules)
        .query(&mut c)
        .unwrap();
    let mut r = s.conn();
    let _: () = cmd("AUTH").arg("reader").arg("pw").query(&mut r).unwrap();
    let got = pget(&mut r, (KEY, &t, "p"));
    assert_eq!(got, b"d");
    let _: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut r)
        .unwrap();
    assert!(err(
        &mut r,
        cmd("SESSIONGATE.PSET").arg(KEY).arg(&t).arg("p").arg("x")
    )
    .starts_with("NOPERM"));
    assert!(err(&mut r, cmd("SESSIONGATE.START").arg(KEY).arg(5)).starts_with("NOPERM"));
}
