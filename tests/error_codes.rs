//! Opt-in error codes (DESIGN §1 "Error codes"): every error of every command, exact, with
//! `error-codes no` (the default: the C module's sentences) and `yes` (a code word, then the
//! same sentence); the load argument on every server, `CONFIG SET/GET` where the server has
//! module configs, and `INFO errorstats` counting by code.

mod common;

use std::collections::BTreeMap;

use common::*;
use redis::ConnectionLike;

const OTHER: &[u8] = b"another-application";

/// One refused command: what it sends, its code, and the sentence of the C contract.
struct Case {
    command: redis::Cmd,
    code: &'static str,
    sentence: String,
}

impl Case {
    /// The reply with error codes `on`: replies that start with a code keep it, the others get
    /// theirs before the sentence.
    fn reply(&self, on: bool) -> String {
        if on && !self.sentence.starts_with(&format!("{} ", self.code)) {
            format!("{} {}", self.code, self.sentence)
        } else {
            self.sentence.clone()
        }
    }
}

fn case(code: &'static str, sentence: &str, name: &str, args: &[&[u8]]) -> Case {
    let mut command = cmd(name);
    for a in args {
        command.arg(*a);
    }
    Case {
        command,
        code,
        sentence: sentence.to_string(),
    }
}

const SIGN_KEY_EMPTY: &str = "<sign_key> must have at least one character";
const TOKEN_EMPTY: &str = "<token> must have at least one character";
const TOKEN_FORMAT: &str = "<token> format is invalid";
const TTL: &str = "<ttl> must be a valid integer that represents seconds";
const BAD_SIG: &str = "the signature contained in <token> is invalid";
const NO_SESSION: &str = "the session id contained in <token> does not exist";
const WRONG_APP: &str = "the signature contained in <token> seems to be valid, but is different from the stored signature in the session";
const NAME_EMPTY: &str = "<payload_name> must have at least one character";
const NAME_LONG: &str = "<payload_name> length exceeds the maximum value allowed of 200";
const DATA_EMPTY: &str = "<payload_data> must have at least one character";
const DATA_LONG: &str = "<payload_data> length exceeds the maximum value allowed of 8000000";
const NO_PAYLOAD: &str = "the requested <payload_name> does not exist";
const NEW_KEY_EMPTY: &str = "<new_sign_key> must have at least one character";
const MAX_LIFETIME: &str = "<max_lifetime> must be a positive integer that represents seconds";

/// Every error each command can answer outside cluster mode (see `Sessions`).
fn cases(s: &Sessions) -> Vec<Case> {
    let (k, t, ghost) = (KEY, &s.t[..], &s.ghost[..]);
    let bad = &t[..83];
    let long_name = vec![b'n'; 201];
    let long_data = vec![b'd'; 8_000_001];
    let mut all = vec![
        case("ERR", SIGN_KEY_EMPTY, "SESSIONGATE.START", &[b"", b"10"]),
        case("ERR", TTL, "SESSIONGATE.START", &[k, b"-1"]),
        case("ERR", MAX_LIFETIME, "SESSIONGATE.START", &[k, b"10", b"0"]),
        case("ERR", TTL, "SESSIONGATE.EXPIRE", &[k, t, b"x"]),
        case("ERR", NAME_EMPTY, "SESSIONGATE.PSET", &[k, t, b"", b"d"]),
        case(
            "ERR",
            NAME_LONG,
            "SESSIONGATE.PSET",
            &[k, t, &long_name, b"d"],
        ),
        case("ERR", DATA_EMPTY, "SESSIONGATE.PSET", &[k, t, b"p", b""]),
        case(
            "ERR",
            DATA_LONG,
            "SESSIONGATE.PSET",
            &[k, t, b"p", &long_data],
        ),
        case("ERR", NEW_KEY_EMPTY, "SESSIONGATE.RENEW", &[k, t, b""]),
    ];
    for name in ["PGET", "PDEL"] {
        let name = format!("SESSIONGATE.{name}");
        all.push(case("ERR", NAME_EMPTY, &name, &[k, t, b""]));
        all.push(case("ERR", NAME_LONG, &name, &[k, t, &long_name]));
        all.push(case("NOPAYLOAD", NO_PAYLOAD, &name, &[k, t, b"missing"]));
    }
    // What every token command (and RENEW) answers about its sign key and token.
    let extra: [(&str, &[&[u8]]); 8] = [
        ("EXPIRE", &[b"10"]),
        ("PSET", &[b"p", b"d"]),
        ("PGET", &[b"p"]),
        ("PDEL", &[b"p"]),
        ("END", &[]),
        ("TTL", &[]),
        ("PGETALL", &[]),
        ("RENEW", &[]),
    ];
    for (name, rest) in extra {
        let name = format!("SESSIONGATE.{name}");
        fn with<'a>(key: &'a [u8], token: &'a [u8], rest: &[&'a [u8]]) -> Vec<&'a [u8]> {
            [&[key, token][..], rest].concat()
        }
        all.push(case("ERR", SIGN_KEY_EMPTY, &name, &with(b"", t, rest)));
        all.push(case("BADTOKEN", TOKEN_EMPTY, &name, &with(k, b"", rest)));
        all.push(case("BADTOKEN", TOKEN_FORMAT, &name, &with(k, bad, rest)));
        all.push(case("BADSIG", BAD_SIG, &name, &with(OTHER, t, rest)));
        all.push(case("NOSESSION", NO_SESSION, &name, &with(k, ghost, rest)));
        all.push(case(
            "WRONGAPP",
            WRONG_APP,
            &name,
            &with(&s.foreign_key, &s.foreign, rest),
        ));
    }
    // Arity: Redis' own reply, the same with codes on.
    for (name, args) in [
        ("START", 1),
        ("RENEW", 4),
        ("EXPIRE", 2),
        ("PSET", 3),
        ("PGET", 2),
        ("PDEL", 4),
        ("END", 1),
        ("TTL", 3),
        ("PGETALL", 1),
    ] {
        let name = format!("SESSIONGATE.{name}");
        let sentence = format!(
            "ERR wrong number of arguments for '{}' command",
            arity_error_name(&name)
        );
        all.push(case("ERR", &sentence, &name, &vec![&b"x"[..]; args]));
    }
    all
}

/// `t`: a live session of `KEY` with a payload "p"; `ghost`: well signed, no session;
/// `foreign`: `t`'s id signed by `foreign_key`, in `t`'s slot, so it reaches `t`'s session,
/// which that key does not own.
struct Sessions {
    t: Vec<u8>,
    ghost: Vec<u8>,
    foreign_key: Vec<u8>,
    foreign: Vec<u8>,
}

fn sessions(c: &mut redis::Connection) -> Sessions {
    let t = start(c, KEY, 300);
    ok(c, "PSET", (KEY, &t, "p", "d"));
    let (foreign_key, foreign) = foreign_token(&t);
    let ghost_id = b"ABCDEFGHabcdefgh";
    let ghost = format!(
        "v1.{}.{}",
        std::str::from_utf8(ghost_id).unwrap(),
        sign_hex(KEY, ghost_id)
    );
    Sessions {
        t,
        ghost: ghost.into_bytes(),
        foreign_key,
        foreign,
    }
}

/// Sends every case and checks each exact reply; nothing may change.
fn check_all(c: &mut redis::Connection, s: &Sessions, on: bool) -> BTreeMap<String, u64> {
    let before = snapshot(c);
    let mut counts = BTreeMap::new();
    for k in cases(s) {
        assert_eq!(
            err(c, &k.command),
            k.reply(on),
            "codes {}",
            if on { "on" } else { "off" }
        );
        *counts.entry(k.code.to_string()).or_insert(0) += 1;
    }
    assert_eq!(snapshot(c), before, "a refused command changed something");
    counts
}

/// `INFO errorstats` as code -> count.
fn errorstats(c: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = cmd("INFO").arg("errorstats").query(c).unwrap();
    info.lines()
        .filter_map(|l| l.strip_prefix("errorstat_"))
        .map(|l| {
            let (code, rest) = l.split_once(':').unwrap();
            let n = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("count="))
                .unwrap()
                .parse()
                .unwrap();
            (code.to_string(), n)
        })
        .collect()
}

fn config_set(c: &mut redis::Connection, value: &str) -> Result<(), String> {
    cmd("CONFIG")
        .arg("SET")
        .arg("sessiongate.error-codes")
        .arg(value)
        .query::<()>(c)
        .map_err(|e| error_text(&e))
}

fn config_get(c: &mut redis::Connection) -> String {
    let v: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("sessiongate.error-codes")
        .query(c)
        .unwrap();
    assert_eq!(v.len(), 2, "{v:?}");
    v[1].clone()
}

#[test]
fn every_error_of_every_command_with_error_codes_off_and_on() {
    // Off: the default, the C module's sentences byte for byte.
    let off = Server::start();
    let mut c = off.conn();
    let s = sessions(&mut c);
    check_all(&mut c, &s, false);
    let stats = errorstats(&mut c);
    assert!(
        !stats.contains_key("NOSESSION") && stats.contains_key("the"),
        "{stats:?}"
    );

    // On, by load argument (every server, Redis 6.2 included): each reply starts with its
    // code, and INFO errorstats counts by code.
    let on = Server::with(Options {
        module_args: vec!["error-codes".into(), "yes".into()],
        ..Options::default()
    });
    let mut c = on.conn();
    let s = sessions(&mut c);
    // (The client's own handshake may have been refused already: CLIENT SETINFO before 7.2.)
    let before = errorstats(&mut c);
    let sent = check_all(&mut c, &s, true);
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        [
            "BADSIG",
            "BADTOKEN",
            "ERR",
            "NOPAYLOAD",
            "NOSESSION",
            "WRONGAPP"
        ]
    );
    let counted: BTreeMap<String, u64> = errorstats(&mut c)
        .into_iter()
        .map(|(code, n)| (code.clone(), n - before.get(&code).unwrap_or(&0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(counted, sent, "INFO errorstats by code");

    // Successful replies are the same either way.
    let t = start(&mut c, KEY, 60);
    ok(&mut c, "PSET", (KEY, &t, "p", "d"));
    assert_eq!(pget(&mut c, (KEY, &t, "p")), b"d");
    ok(&mut c, "END", (KEY, &t));
}

#[test]
fn config_set_switches_error_codes_where_the_server_has_module_configs() {
    let s = Server::start();
    let mut c = s.conn();
    let ses = sessions(&mut c);
    let pget_ghost = cmd("SESSIONGATE.PGET")
        .arg(KEY)
        .arg(&ses.ghost)
        .arg("p")
        .clone();
    if server_version().0 < (7, 0) {
        assert_eq!(
            config_set(&mut c, "yes"),
            Err("ERR Unsupported CONFIG parameter: sessiongate.error-codes".into())
        );
        assert_eq!(err(&mut c, &pget_ghost), NO_SESSION);
        return;
    }
    assert_eq!(config_get(&mut c), "no");
    config_set(&mut c, "yes").unwrap();
    assert_eq!(config_get(&mut c), "yes");
    check_all(&mut c, &ses, true);
    config_set(&mut c, "NO").unwrap();
    assert_eq!(config_get(&mut c), "no");
    check_all(&mut c, &ses, false);
    // Refused exactly, and the setting stays as it was.
    for (now, bad) in [("no", "maybe"), ("no", ""), ("yes", "1"), ("yes", "on")] {
        config_set(&mut c, now).unwrap();
        assert_eq!(
            config_set(&mut c, bad),
            Err("ERR CONFIG SET failed (possibly related to argument 'sessiongate.error-codes') - argument must be 'yes' or 'no'".to_string()),
            "{bad:?}"
        );
        assert_eq!(config_get(&mut c), now, "a refused CONFIG SET changed it");
    }

    // The load argument is the module config's start value.
    let on = Server::with(Options {
        module_args: vec!["error-codes".into(), "YES".into()],
        ..Options::default()
    });
    assert_eq!(config_get(&mut on.conn()), "yes");
}

#[test]
fn a_bad_error_codes_load_argument_fails_the_load_with_a_log_line() {
    for bad in ["1", "maybe"] {
        let text = failed_load_log(&["error-codes", bad]);
        assert!(
            text.contains("sessiongate: 'error-codes' must be yes or no"),
            "{bad:?}: {text}"
        );
    }
}

/// The cluster-mode refusals start with a code of their own (ERR, CLUSTERDOWN): unchanged with
/// error codes on. One node, serving half the slots.
#[test]
fn cluster_refusals_keep_their_own_codes() {
    let node = common::cluster::Node::start_with_module_args(
        &["--cluster-require-full-coverage", "no"],
        &["error-codes", "yes"],
    );
    let mut c = node.conn();
    assert_eq!(
        err(&mut c, &cmd("SESSIONGATE.START").arg(KEY).arg(60).clone()),
        "ERR this cluster node serves no hash slot: send SESSIONGATE.START to a primary that serves slots"
    );
    let mut add = cmd("CLUSTER");
    add.arg("ADDSLOTS");
    for slot in 0..8192 {
        add.arg(slot);
    }
    add.query::<()>(&mut c).unwrap();
    let mut t = vec![];
    wait_until(
        "START on the node's new slots",
        std::time::Duration::from_secs(20),
        || match cmd("SESSIONGATE.START")
            .arg(KEY)
            .arg(60)
            .query::<Vec<u8>>(&mut c)
        {
            Ok(tok) => {
                t = tok;
                true
            }
            Err(_) => false,
        },
    );
    // A well-signed token of a slot nobody serves.
    let unserved = (0u32..)
        .map(|i| {
            let id = format!("{i:0>16}");
            format!("v1.{id}.{}", sign_hex(KEY, id.as_bytes())).into_bytes()
        })
        .find(|tok| crc16(tok) % 16384 >= 8192)
        .unwrap();
    assert_eq!(
        err(&mut c, &renew_cmd(KEY, &unserved, None)),
        "CLUSTERDOWN Hash slot not served"
    );
    for (command, name) in [
        (cmd("SESSIONGATE.START").arg(KEY).arg(60).clone(), "START"),
        (renew_cmd(KEY, &t, None), "RENEW"),
    ] {
        let mut p = redis::pipe();
        p.cmd("MULTI").add_command(command).cmd("EXEC");
        let replies = c
            .req_packed_commands(&p.get_packed_pipeline(), 0, 3)
            .unwrap();
        let redis::Value::Array(replies) = &replies[2] else {
            panic!("{name}: EXEC answered {replies:?}")
        };
        let text = match &replies[..] {
            [redis::Value::ServerError(e)] => {
                format!("{} {}", e.code(), e.details().unwrap_or_default())
            }
            other => panic!("{name} in MULTI: {other:?}"),
        };
        assert_eq!(
            text,
            format!("ERR SESSIONGATE.{name} cannot run inside MULTI/EXEC in cluster mode")
        );
    }
    // The node's own refusal of a token command in an unserved slot is Redis' reply.
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&unserved)),
        "CLUSTERDOWN Hash slot not served"
    );
}
