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

#[test]
fn ttl_reports_seconds_left_like_redis_ttl() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start(&mut c, KEY, 100);
    let ttl: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(ttl, 100);
    let k = session_key_of(&mut c, &t);
    let native: i64 = cmd("TTL").arg(&k).query(&mut c).unwrap();
    assert_eq!(ttl, native);
    ok(&mut c, "EXPIRE", (KEY, &t, 5));
    let ttl: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(ttl, 5);
    // Made persistent behind the module's back: -1, as TTL says.
    let _: () = cmd("PERSIST").arg(&k).query(&mut c).unwrap();
    let ttl: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(ttl, -1);

    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY)),
        format!(
            "ERR wrong number of arguments for '{}' command",
            arity_error_name("SESSIONGATE.TTL")
        )
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg("").arg(&t)),
        "<sign_key> must have at least one character"
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg("")),
        "<token> must have at least one character"
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg("v1.x")),
        "<token> format is invalid"
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg("x").arg(&t)),
        "the signature contained in <token> is invalid"
    );
    ok(&mut c, "END", (KEY, &t));
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&t)),
        "the session id contained in <token> does not exist"
    );
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

    // RESP3: a map, like HGETALL's, where the server speaks RESP3 (6.0+).
    let client = redis::Client::open(format!("{}?protocol=resp3", s.url())).unwrap();
    let mut c3 = client.get_connection().unwrap();
    let v: Value = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c3)
        .unwrap();
    let hv: Value = cmd("HGETALL").arg(&k).query(&mut c3).unwrap();
    let ((major, _), _) = server_version();
    if major >= 7 {
        let Value::Map(pairs) = v else {
            panic!("RESP3 PGETALL is not a map: {v:?}")
        };
        assert!(matches!(hv, Value::Map(_)));
        assert_eq!(pairs.len(), 3);
        for (n, d) in payloads {
            assert!(pairs.contains(&(Value::BulkString(n.to_vec()), Value::BulkString(d.to_vec()))));
        }
    }
    let empty_session = start(&mut c, KEY, 100);
    let v: Value = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&empty_session)
        .query(&mut c3)
        .unwrap();
    assert!(
        matches!(&v, Value::Map(m) if m.is_empty()) || v == Value::Array(vec![]),
        "{v:?}"
    );
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGETALL").arg("other").arg(&t)),
        "the signature contained in <token> is invalid"
    );
}

#[test]
fn info_counts_what_happened() {
    let s = Server::start();
    let mut c = s.conn();
    let zero = info_stats(&mut c);
    assert!(zero.keys().any(|k| k.ends_with("started")), "{zero:?}");
    assert!(zero.values().all(|v| *v == 0), "{zero:?}");
    let t = start(&mut c, KEY, 100);
    let t2 = start(&mut c, KEY, 100);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    let _ = pget(&mut c, (KEY, &t, "p"));
    ok(&mut c, "PDEL", (KEY, &t, "p"));
    ok(&mut c, "EXPIRE", (KEY, &t, 50));
    ok(&mut c, "END", (KEY, &t));
    ok(&mut c, "EXPIRE", (KEY, &t2, 0));
    // Rejections of each kind.
    err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg("bad").arg("p"));
    err(
        &mut c,
        cmd("SESSIONGATE.PGET").arg("wrong").arg(&t).arg("p"),
    );
    err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("p"));
    err(&mut c, cmd("SESSIONGATE.START").arg(KEY).arg("x"));
    let id = std::str::from_utf8(&t[3..19]).unwrap();
    let live = start(&mut c, KEY, 100);
    let live_id = std::str::from_utf8(&live[3..19]).unwrap();
    let forge = |k: &str| {
        format!(
            "v1.{live_id}.{}",
            sign_hex(k.as_bytes(), live_id.as_bytes())
        )
    };
    let other = (0..)
        .map(|i| format!("o{i}"))
        .find(|k| crc16(forge(k).as_bytes()) & 16383 == crc16(&live) & 16383)
        .unwrap();
    err(
        &mut c,
        cmd("SESSIONGATE.PGET")
            .arg(&other)
            .arg(forge(&other))
            .arg("p"),
    );
    let _ = id;

    let st = info_stats(&mut c);
    let get = |k: &str| st[&format!("sessiongate_{k}")];
    assert_eq!(get("sessions_started"), 3);
    assert_eq!(get("sessions_ended"), 2);
    assert_eq!(get("payload_sets"), 1);
    assert_eq!(get("payload_gets"), 1);
    assert_eq!(get("payload_deletes"), 1);
    assert_eq!(get("expiries_set"), 2);
    assert_eq!(get("rejected_format"), 1);
    assert_eq!(get("rejected_signature"), 1);
    assert_eq!(get("rejected_session_missing"), 1);
    assert_eq!(get("rejected_foreign_key"), 1);
    assert_eq!(get("rejected_arguments"), 1);
    assert_eq!(st.keys().filter(|k| k.contains("reject")).count(), 6);
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
    for bad in [
        vec!["max-payload-data-length", "0"],
        vec!["no-such-setting", "1"],
        vec!["max-payload-name-length"],
    ] {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("sessiongate-badargs-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let mut cmdline = std::process::Command::new(server_binary());
        cmdline
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--logfile",
            ])
            .arg(&log);
        cmdline.arg("--loadmodule").arg(module_path()).args(&bad);
        let mut child = cmdline.spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("server with bad load arguments {bad:?} kept running");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(!status.success());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(text.contains("sessiongate"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn config_set_changes_limits_and_texts_where_the_server_has_module_configs() {
    let ((major, _), _) = server_version();
    let s = Server::start();
    let mut c = s.conn();
    if major < 7 {
        assert!(s.log().contains("no module configs"));
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
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("sessiongate.max-payload-data-length")
        .arg(4)
        .query(&mut c)
        .unwrap();
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
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("sessiongate.max-payload-name-length")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("nn")),
        "<payload_name> length exceeds the maximum value allowed of 1"
    );
    // Validated: positive and bounded.
    for bad in ["0", "-1", "x", "9999999999"] {
        assert!(cmd("CONFIG")
            .arg("SET")
            .arg("sessiongate.max-payload-data-length")
            .arg(bad)
            .query::<()>(&mut c)
            .is_err());
    }
    let v: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("sessiongate.max-payload-data-length")
        .query(&mut c)
        .unwrap();
    assert_eq!(v[1], "4");
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
