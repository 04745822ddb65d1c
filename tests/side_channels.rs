//! No secret reaches anyone watching the server (DESIGN §5): while every command runs —
//! START (with and without a cap), RENEW (with and without a new sign key, and redirected in a
//! cluster), every token command and their errors, the owner commands (STARTFOR, SESSIONS,
//! REVOKE with EXCEPT <token>) and every token command on their v2 tokens — a subscriber to every keyspace and keyevent
//! channel (`notify-keyspace-events` with key misses), a MONITOR client, SLOWLOG (every command
//! logged), a client-side-caching observer in BCAST mode, and clients tracking in the default
//! mode with their invalidations redirected to it, see no token, no signature and no sign key.
//! START and RENEW add no keyspace miss and no key to any tracking table, and the only commands
//! the module runs itself (`INFO commandstats`) are its probes (`SETRANGE`, `SMOVE` on names of
//! the slot that carry no secret) and `CLUSTER NODES`/`SHARDS`. In standalone mode and in a 3-primary
//! cluster, on whatever server `REDIS_SERVER` names (Redis 7.0 and 8.2, Valkey 9.1 here).
//!
//! A token command's own token is its declared key: the server remembers it in the tracking
//! table of the client that sent it (if that client tracks in the default mode), as it does for
//! any key a client reads; that table only ever sends it back to that client (docs/security.md).
//! Those clients send START and RENEW only.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use redis::Value;

const SIGN_KEY: &[u8] = b"sg-canary-sign-key-7d1f";
const NEW_SIGN_KEY: &[u8] = b"sg-canary-new-key-93c2";
const WRONG_KEY: &[u8] = b"sg-canary-wrong-key-51aa";

/// A raw connection that keeps every byte the server sends it.
struct Watcher {
    stream: TcpStream,
    seen: Vec<u8>,
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n", a.len()).as_bytes());
        out.extend(*a);
        out.extend(b"\r\n");
    }
    out
}

impl Watcher {
    fn open(port: u16) -> Watcher {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Watcher {
            stream,
            seen: vec![],
        }
    }

    fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&resp(&args)).unwrap();
    }

    /// Reads until `marker` has arrived (bounded).
    fn read_until(&mut self, marker: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 65536];
        while !contains(&self.seen, marker) {
            assert!(
                Instant::now() < deadline,
                "never saw {:?}",
                String::from_utf8_lossy(marker)
            );
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the server closed a watcher"),
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("watcher: {e}"),
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every watcher of one server.
struct Watchers {
    port: u16,
    /// Keyspace and keyevent subscriber, BCAST tracking, and the target of the tracking
    /// clients' invalidations (RESP3: all on one connection).
    observer: Watcher,
    observer_id: i64,
    monitor: Watcher,
}

impl Watchers {
    fn start(port: u16) -> Watchers {
        let mut observer = Watcher::open(port);
        observer.send(&["CLIENT", "ID"]);
        observer.send(&["ECHO", "id-sent"]);
        observer.read_until(b"id-sent");
        observer.send(&["HELLO", "3"]);
        // The reply to CLIENT ID is the only integer before the echo.
        let text = String::from_utf8_lossy(&observer.seen).to_string();
        let observer_id: i64 = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix(':').and_then(|n| n.parse().ok()))
            .unwrap();
        observer.send(&["CLIENT", "TRACKING", "ON", "BCAST"]);
        observer.send(&["PSUBSCRIBE", "__key*__:*"]);
        observer.send(&["SUBSCRIBE", "__redis__:invalidate", "sg-sentinel"]);
        observer.send(&["PING", "observer-ready"]);
        observer.read_until(b"observer-ready");
        let mut monitor = Watcher::open(port);
        monitor.send(&["MONITOR"]);
        monitor.read_until(b"+OK");
        Watchers {
            port,
            observer,
            observer_id,
            monitor,
        }
    }

    /// A client tracking in the default mode, its invalidations sent to the observer.
    fn tracking_client(&self, server_url: &str) -> redis::Connection {
        let mut c = redis::Client::open(server_url)
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("REDIRECT")
            .arg(self.observer_id)
            .query(&mut c)
            .unwrap();
        c
    }

    /// Waits until everything the server sent before now has reached the watchers: a publish
    /// (to the subscriber and MONITOR) and a write of `sentinel_key` (a key this server owns,
    /// to the BCAST observer).
    fn drain(&mut self, c: &mut redis::Connection, sentinel_key: &str) {
        let marker = format!("end-{}", self.port);
        let _: i64 = cmd("PUBLISH")
            .arg("sg-sentinel")
            .arg(&marker)
            .query(c)
            .unwrap();
        let _: () = cmd("SET").arg(sentinel_key).arg(1).query(c).unwrap();
        self.observer.read_until(marker.as_bytes());
        self.observer.read_until(sentinel_key.as_bytes());
        self.monitor.read_until(marker.as_bytes());
    }
}

/// `INFO commandstats` as command → calls.
fn command_calls(c: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = cmd("INFO").arg("commandstats").query(c).unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

fn stat(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = cmd("INFO").arg("stats").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field}"))
        .trim()
        .parse()
        .unwrap()
}

/// What a server saw, for the checks at the end.
struct Before {
    calls: BTreeMap<String, u64>,
    misses: u64,
    tracked: u64,
}

fn before(c: &mut redis::Connection) -> Before {
    Before {
        calls: command_calls(c),
        misses: stat(c, "keyspace_misses"),
        tracked: stat(c, "tracking_total_keys"),
    }
}

/// The commands that ran on the server since `b`, minus those the test sent itself.
fn commands_since(c: &mut redis::Connection, b: &Before) -> Vec<String> {
    const TEST_OWN: &[&str] = &["info", "ping", "echo", "publish", "set", "cluster|slots"];
    command_calls(c)
        .into_iter()
        .filter(|(name, calls)| b.calls.get(name) != Some(calls))
        .map(|(name, _)| name)
        .filter(|name| !name.starts_with("sessiongate.") && !TEST_OWN.contains(&name.as_str()))
        .collect()
}

/// The module's own calls: its probe and the topology reads (cluster only).
fn assert_only_module_calls(ran: &[String], cluster: bool) {
    let allowed: &[&str] = if cluster {
        &[
            "setrange",
            "smove",
            "cluster|nodes",
            "cluster|shards",
            "cluster",
        ]
    } else {
        &[]
    };
    for name in ran {
        assert!(
            allowed.contains(&name.as_str()),
            "the module ran `{name}` (allowed: {allowed:?})"
        );
    }
}

/// Every secret the run handled: sign keys, tokens (issued and forged) and their signatures.
#[derive(Default)]
struct Secrets(Vec<Vec<u8>>);

impl Secrets {
    /// A token and its signature (after the last `.`, in v1 and v2 tokens alike).
    fn token(&mut self, t: &[u8]) {
        self.0.push(t.to_vec());
        let dot = t.iter().rposition(|&b| b == b'.').unwrap();
        self.0.push(t[dot + 1..].to_vec());
    }

    fn assert_absent(&self, what: &str, text: &[u8]) {
        for key in [SIGN_KEY, NEW_SIGN_KEY, WRONG_KEY] {
            assert!(!contains(text, key), "{what} shows a sign key");
        }
        for s in &self.0 {
            assert!(
                !contains(text, s),
                "{what} shows the secret {}",
                String::from_utf8_lossy(s)
            );
        }
    }
}

/// Every string of a reply, one after the other.
fn flatten(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::BulkString(b) => out.extend(b),
        Value::SimpleString(s) => out.extend(s.as_bytes()),
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        _ => {}
    }
    out.push(b'\n');
}

fn server_args() -> Vec<&'static str> {
    let events = if server_version().0 >= (7, 0) {
        "KEAmn"
    } else {
        "KEAm"
    };
    vec![
        "--notify-keyspace-events",
        events,
        "--slowlog-log-slower-than",
        "0",
        "--slowlog-max-len",
        "100000",
    ]
}

/// Every token command with its errors, on `c` (the node of the token's slot).
fn token_commands(c: &mut redis::Connection, t: &[u8], secrets: &mut Secrets) {
    let q = |c: &mut redis::Connection, command: &redis::Cmd| -> Value {
        command.query(c).unwrap_or_else(|e| panic!("{e}"))
    };
    q(
        c,
        cmd("SESSIONGATE.PSET")
            .arg(SIGN_KEY)
            .arg(t)
            .arg("user")
            .arg("u-1"),
    );
    q(c, cmd("SESSIONGATE.PGET").arg(SIGN_KEY).arg(t).arg("user"));
    q(c, cmd("SESSIONGATE.PGETALL").arg(SIGN_KEY).arg(t));
    q(c, cmd("SESSIONGATE.TTL").arg(SIGN_KEY).arg(t));
    q(c, cmd("SESSIONGATE.EXPIRE").arg(SIGN_KEY).arg(t).arg(500));
    let _ = err(
        c,
        cmd("SESSIONGATE.PGET").arg(SIGN_KEY).arg(t).arg("nothing"),
    );
    let _ = err(
        c,
        cmd("SESSIONGATE.PDEL").arg(SIGN_KEY).arg(t).arg("nothing"),
    );
    let _ = err(c, cmd("SESSIONGATE.PGET").arg(WRONG_KEY).arg(t).arg("user"));
    let _ = err(c, cmd("SESSIONGATE.TTL").arg(SIGN_KEY).arg(t).arg("extra"));
    // A token of the same id under another key, and one of a session that does not exist.
    let id = &t[3..19];
    let forged = format!(
        "v1.{}.{}",
        String::from_utf8_lossy(id),
        sign_hex(WRONG_KEY, id)
    );
    secrets.token(forged.as_bytes());
    let _ = err(
        c,
        cmd("SESSIONGATE.PGET")
            .arg(WRONG_KEY)
            .arg(&forged)
            .arg("user"),
    );
    q(c, cmd("SESSIONGATE.PDEL").arg(SIGN_KEY).arg(t).arg("user"));
}

fn run_and_check(nodes: &[&Server], cluster: bool) {
    let redacts = server_version().0 >= (7, 0);
    let mut watchers: Vec<Watchers> = nodes.iter().map(|s| Watchers::start(s.port)).collect();
    let mut plain: Vec<redis::Connection> = nodes.iter().map(|s| s.conn()).collect();
    let mut trackers: Vec<redis::Connection> = nodes
        .iter()
        .zip(&watchers)
        .map(|(s, w)| w.tracking_client(&s.url()))
        .collect();
    let ports: Vec<u16> = nodes.iter().map(|s| s.port).collect();
    let owner_of = |plain: &mut Vec<redis::Connection>, t: &[u8]| -> usize {
        if !cluster {
            return 0;
        }
        let owners = slot_owners(&mut plain[0]);
        let port = owners[&slot_of(t)];
        ports.iter().position(|p| *p == port).unwrap()
    };
    for c in plain.iter_mut() {
        let _: () = cmd("SLOWLOG").arg("RESET").query(c).unwrap();
    }
    let mut secrets = Secrets::default();

    // START and RENEW, from clients that track keys: no miss, no tracked key.
    let befores: Vec<Before> = plain.iter_mut().map(before).collect();
    let mut live: Vec<Vec<u8>> = vec![];
    for (i, c) in trackers.iter_mut().enumerate() {
        for round in 0..6 {
            let mut start = cmd("SESSIONGATE.START");
            start.arg(SIGN_KEY).arg(600);
            if round % 2 == 1 {
                start.arg(3600);
            }
            let t: Vec<u8> = start.query(c).unwrap();
            secrets.token(&t);
            assert_eq!(
                owner_of(&mut plain, &t),
                i,
                "START issued another node's slot"
            );
            let new_key = (round % 3 == 0).then_some(NEW_SIGN_KEY);
            let n = renew(c, SIGN_KEY, &t, new_key);
            secrets.token(&n);
            let n = match new_key {
                Some(k) => renew(c, k, &n, Some(SIGN_KEY)),
                None => n,
            };
            secrets.token(&n);
            live.push(n);
        }
        // Errors: a bad signature, a token of no session, a redirect.
        let _ = err(c, &renew_cmd(WRONG_KEY, &live[live.len() - 1], None));
        let never = format!(
            "v1.AAAAAAAAAAAAAAAA.{}",
            sign_hex(SIGN_KEY, b"AAAAAAAAAAAAAAAA")
        );
        secrets.token(never.as_bytes());
        let _ = err(c, &renew_cmd(SIGN_KEY, never.as_bytes(), None));
    }
    if cluster {
        // RENEW sent to a node that does not serve the token: MOVED, nothing leaks either.
        for t in live.clone() {
            let owner = owner_of(&mut plain, &t);
            let other = (owner + 1) % nodes.len();
            let e = err(&mut trackers[other], &renew_cmd(SIGN_KEY, &t, None));
            assert!(e.starts_with("MOVED "), "{e}");
        }
    }
    for (i, c) in plain.iter_mut().enumerate() {
        let b = &befores[i];
        assert_eq!(
            stat(c, "keyspace_misses"),
            b.misses,
            "START or RENEW counted a keyspace miss"
        );
        assert_eq!(
            stat(c, "tracking_total_keys"),
            b.tracked,
            "START or RENEW left a key in a tracking table"
        );
        let ran = commands_since(c, b);
        assert_only_module_calls(&ran, cluster);
        if cluster {
            assert!(ran.iter().any(|n| n == "setrange"), "no probe ran: {ran:?}");
        }
    }

    // Every token command, on the node of its slot.
    let befores: Vec<Before> = plain.iter_mut().map(before).collect();
    for t in &live {
        let i = owner_of(&mut plain, t);
        token_commands(&mut plain[i], t, &mut secrets);
    }
    for t in &live {
        let i = owner_of(&mut plain, t);
        ok(&mut plain[i], "END", (SIGN_KEY, t));
        let _ = err(&mut plain[i], cmd("SESSIONGATE.END").arg(SIGN_KEY).arg(t));
    }
    // The owner commands, each on the node of the owner's slot, and every token command on
    // their (v2) tokens.
    for owner in ["alice", "bob", "{carol}.x"] {
        let i = owner_of(&mut plain, owner.as_bytes());
        let c = &mut plain[i];
        let mut owned = vec![];
        for cap in [None, Some(3600)] {
            let mut startfor = cmd("SESSIONGATE.STARTFOR");
            startfor.arg(SIGN_KEY).arg(owner).arg(600);
            if let Some(cap) = cap {
                startfor.arg(cap);
            }
            let t: Vec<u8> = startfor.query(c).unwrap();
            secrets.token(&t);
            owned.push(t);
        }
        token_commands(c, &owned[0], &mut secrets);
        let renewed = renew(c, SIGN_KEY, &owned[1], None);
        secrets.token(&renewed);
        let listed: Value = cmd("SESSIONGATE.SESSIONS")
            .arg(SIGN_KEY)
            .arg(owner)
            .arg("user")
            .query(c)
            .unwrap();
        assert!(
            matches!(&listed, Value::Array(a) if a.len() == 2),
            "{listed:?}"
        );
        let _ = err(
            c,
            cmd("SESSIONGATE.REVOKE")
                .arg(SIGN_KEY)
                .arg("someone-else")
                .arg("EXCEPT")
                .arg(&renewed),
        );
        let _ = err(c, cmd("SESSIONGATE.SESSIONS").arg(WRONG_KEY).arg(""));
        let ended: i64 = cmd("SESSIONGATE.REVOKE")
            .arg(SIGN_KEY)
            .arg(owner)
            .arg("EXCEPT")
            .arg(&renewed)
            .query(c)
            .unwrap();
        assert_eq!(ended, 1);
        let ended: i64 = cmd("SESSIONGATE.REVOKE")
            .arg(SIGN_KEY)
            .arg(owner)
            .query(c)
            .unwrap();
        assert_eq!(ended, 1);
    }
    for (i, c) in plain.iter_mut().enumerate() {
        assert_only_module_calls(&commands_since(c, &befores[i]), cluster);
        assert!(!commands_since(c, &befores[i]).contains(&"exists".to_string()));
    }

    // Everything the watchers saw.
    for (i, w) in watchers.iter_mut().enumerate() {
        let sentinel = (0..)
            .map(|n| format!("sg-sentinel-key-{n}"))
            .find(|k| owner_of(&mut plain, k.as_bytes()) == i)
            .unwrap();
        w.drain(&mut plain[i], &sentinel);
        // The watchers work: they saw the module's commands and its keys' events.
        assert!(
            contains(&w.observer.seen, b"sessiongate:{"),
            "no keyspace event seen"
        );
        assert!(contains(&w.observer.seen, b"hset"), "no hset event seen");
        assert!(
            contains(&w.observer.seen, b"invalidate"),
            "no invalidation seen"
        );
        let monitored = w.monitor.seen.to_ascii_lowercase();
        assert!(
            contains(&monitored, b"sessiongate.renew"),
            "MONITOR saw nothing"
        );
        secrets.assert_absent(
            "the keyspace subscriber or a tracking observer",
            &w.observer.seen,
        );
        if redacts {
            secrets.assert_absent("MONITOR", &w.monitor.seen);
        }
    }
    for c in plain.iter_mut() {
        let log: Value = cmd("SLOWLOG").arg("GET").arg(1_000_000).query(c).unwrap();
        let mut text = vec![];
        flatten(&log, &mut text);
        assert!(
            contains(&text.to_ascii_lowercase(), b"sessiongate.start"),
            "SLOWLOG logged nothing"
        );
        if redacts {
            secrets.assert_absent("SLOWLOG", &text);
        }
    }
    if !redacts {
        let ((major, minor), _) = server_version();
        eprintln!(
            "(Redis {major}.{minor} has no argument redaction: MONITOR and SLOWLOG show sign keys \
             and tokens there, as docs/security.md says; the other watchers were checked)"
        );
    }
}

#[test]
fn standalone_watchers_see_no_secret() {
    let server = Server::with_args(&server_args());
    run_and_check(&[&server], false);
}

#[test]
fn cluster_watchers_see_no_secret() {
    let cluster = Cluster::with_node_args(0, 0, &server_args());
    let nodes: Vec<&Server> = cluster.nodes.iter().map(|n| &n.server).collect();
    run_and_check(&nodes, true);
}
