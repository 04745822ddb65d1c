//! Starts real servers for the integration tests: a free loopback port, the freshly built
//! module, a private directory, and a bounded wait that fails with the server's log.
#![allow(dead_code)]

pub mod cluster;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const KEY: &[u8] = b"qwerty";

/// The server binary under test: `$REDIS_SERVER`, else `redis-server` from PATH.
pub fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// (major, minor) of the server under test, and whether it is Valkey (asked once per process).
pub fn server_version() -> ((u32, u32), bool) {
    static VERSION: std::sync::OnceLock<((u32, u32), bool)> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new(server_binary())
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", server_binary()));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let v = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("v="))
            .unwrap_or_else(|| panic!("no version in {text:?}"));
        let mut nums = v.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
        let version = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
        (version, text.to_lowercase().contains("valkey"))
    })
}

/// Redis 7.0+ and Valkey refuse `MODULE LOAD` at run time unless told otherwise; 6.x does not
/// know the option.
pub fn supports_enable_module_command() -> bool {
    server_version().0 >= (7, 0)
}

/// The command name a wrong-arity reply carries: `RedisModule_WrongArity` names the command as
/// Redis knows it (lower case) on 7.0+ and Valkey, but as the client sent it on 6.x.
pub fn arity_error_name(sent: &str) -> String {
    if server_version().0 >= (7, 0) {
        sent.to_lowercase()
    } else {
        sent.to_string()
    }
}

/// `PEXPIRETIME` of a key, or None on servers without the command (before 7.0).
pub fn pexpiretime(c: &mut redis::Connection, key: &[u8]) -> Option<i64> {
    if server_version().0 < (7, 0) {
        return None;
    }
    Some(cmd("PEXPIRETIME").arg(key).query(c).unwrap())
}

pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("SESSIONGATE_MODULE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/libsessiongate.so
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let so = dir.join("libsessiongate.so");
    assert_fresh(&so);
    so
}

/// The module must be newer than every source file, or the tests would test old code.
fn assert_fresh(so: &Path) {
    let built = std::fs::metadata(so)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run `make test`", so.display()));
    assert!(
        built >= newest_source(),
        "{} is older than the sources: build it first (`make test` does)",
        so.display()
    );
}

/// When the module's sources (src/ and Cargo.toml) last changed.
pub fn newest_source() -> SystemTime {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![root.join("src"), root.join("Cargo.toml")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                stack.push(e.path());
            }
        } else if let Ok(m) = std::fs::metadata(&p).and_then(|m| m.modified()) {
            newest = newest.max(m);
        }
    }
    newest
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
    args: Vec<String>,
}

pub struct Options {
    pub args: Vec<String>,
    pub module_args: Vec<String>,
    pub with_module: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: vec![],
            module_args: vec![],
            with_module: true,
        }
    }
}

impl Server {
    pub fn start() -> Server {
        Server::with(Options::default())
    }

    pub fn with_args(args: &[&str]) -> Server {
        Server::with(Options {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        })
    }

    pub fn with(opts: Options) -> Server {
        Server::with_ports(opts, free_port)
    }

    /// Like `with`, on a port the caller chose.
    pub fn with_port(opts: Options, port: u16) -> Server {
        Server::with_ports(opts, move || port)
    }

    /// Like `with`, on ports from `next_port` (a cluster node also needs port + 10000). A free
    /// port is only free until someone binds it: tests run in parallel, in several processes,
    /// so when the server finds its port (or its cluster bus port) taken, it is started again
    /// on the next port.
    pub fn with_ports(opts: Options, mut next_port: impl FnMut() -> u16) -> Server {
        const ATTEMPTS: usize = 20;
        for attempt in 1..=ATTEMPTS {
            let port = next_port();
            let dir = std::env::temp_dir()
                .join(format!("sessiongate-test-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.display().to_string(),
                "--save".into(),
                "".into(),
                "--logfile".into(),
                "server.log".into(),
            ];
            if opts.with_module {
                args.push("--loadmodule".into());
                args.push(module_path().display().to_string());
                args.extend(opts.module_args.iter().cloned());
            }
            args.extend(opts.args.iter().cloned());
            let mut s = Server {
                port,
                dir,
                child: spawn(&args),
                args,
            };
            match s.wait_ready() {
                Ok(()) => return s,
                Err(log) if port_taken(&log) && attempt < ATTEMPTS => continue,
                Err(log) => panic!("{log}"),
            }
        }
        unreachable!()
    }

    /// Ok once the server this struct started answers PING (another process's server on the
    /// same port does not count); Err with the reason and the log if it exits or times out.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid = self.child.id().to_string();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "server exited at start ({status}); log:\n{}",
                    self.log()
                ));
            }
            if server_pid(self.port).as_deref() == Some(pid.as_str()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("server not ready after 20 s; log:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        client.get_connection_with_timeout(Duration::from_secs(5))
    }

    pub fn conn(&self) -> redis::Connection {
        let c = self
            .try_conn()
            .unwrap_or_else(|e| panic!("connect: {e}; log:\n{}", self.log()));
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same server again (same port, directory and arguments), after `kill`. If
    /// something else took the port meanwhile (a test probing for a free port holds it only an
    /// instant), it tries again a few times.
    pub fn restart(&mut self) {
        for attempt in 1..=20 {
            self.kill();
            self.child = spawn(&self.args);
            match self.wait_ready() {
                Ok(()) => return,
                Err(log) if port_taken(&log) && attempt < 20 => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(log) => panic!("restart: {log}"),
            }
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The `process_id` of the server answering on `port`, if one answers PING (so it is not
/// loading its data either) and INFO within a second. A raw RESP exchange with timeouts on
/// every step: whatever holds the port (another test's server, or a listener that never
/// answers) cannot make the caller wait.
fn server_pid(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(1))).ok()?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.len() >= 7 && !reply.starts_with(b"+PONG\r\n") {
            return None;
        }
        let text = String::from_utf8_lossy(&reply);
        // A whole line: "process_id:<pid>\r\n".
        if let Some(pid) = text.split('\n').find_map(|l| l.strip_prefix("process_id:")) {
            if pid.ends_with('\r') {
                return Some(pid.trim().to_string());
            }
        }
    }
    None
}

/// Whether a server's start-up log says its port (or cluster bus port) was taken.
fn port_taken(log: &str) -> bool {
    log.contains("Address already in use")
}

fn spawn(args: &[String]) -> Child {
    Command::new(server_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_binary()))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts a server whose module load must fail with `module_args`; its log once it exited
/// (bounded wait: a server that keeps running fails the test).
pub fn failed_load_log(module_args: &[&str]) -> String {
    let port = free_port();
    let dir =
        std::env::temp_dir().join(format!("sessiongate-badargs-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let mut child = Command::new(server_binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--logfile")
        .arg(&log)
        .arg("--loadmodule")
        .arg(module_path())
        .args(module_args)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server with bad load arguments {module_args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{module_args:?}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

/// The full text of an error reply, as the server sent it after the leading `-`.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => format!("{e}"),
    }
}

pub fn cmd(name: &str) -> redis::Cmd {
    redis::cmd(name)
}

/// Runs a command that must fail, and returns its error text.
pub fn err(c: &mut redis::Connection, command: &redis::Cmd) -> String {
    match command.query::<redis::Value>(c) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => error_text(&e),
    }
}

pub fn start(c: &mut redis::Connection, key: &[u8], ttl: i64) -> Vec<u8> {
    cmd("SESSIONGATE.START").arg(key).arg(ttl).query(c).unwrap()
}

/// Every key of the server's current database.
pub fn keys(c: &mut redis::Connection) -> Vec<Vec<u8>> {
    cmd("KEYS").arg("*").query(c).unwrap()
}

pub fn session_key_of(c: &mut redis::Connection, token: &[u8]) -> Vec<u8> {
    let id = &token[3..19];
    keys(c)
        .into_iter()
        .find(|k| k.ends_with(id))
        .unwrap_or_else(|| panic!("no key for {}", String::from_utf8_lossy(token)))
}

/// HMAC-SHA256 hex signature, for forging tokens under other keys.
pub fn sign_hex(key: &[u8], id: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(id);
    hex::encode(m.finalize().into_bytes())
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CRC16-XMODEM, bit by bit: an implementation independent of the module's table.
/// (The test binaries must not link the module crate: its allocator only works inside Redis.)
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

pub type Snapshot = Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>, Option<i64>)>;

/// Every key with its sorted fields and absolute expiry (None where the server lacks
/// PEXPIRETIME, i.e. before 7.0).
pub fn snapshot(c: &mut redis::Connection) -> Snapshot {
    let mut ks = keys(c);
    ks.sort();
    ks.into_iter()
        .map(|k| {
            let mut h: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(&k).query(c).unwrap();
            h.sort();
            let at = pexpiretime(c, &k);
            (k, h, at)
        })
        .collect()
}

/// Runs `SESSIONGATE.<name>` with `args` and checks it answered `OK`.
pub fn ok(c: &mut redis::Connection, name: &str, args: impl redis::ToRedisArgs) {
    let reply: String = cmd(&format!("SESSIONGATE.{name}"))
        .arg(args)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.{name}: {e}"));
    assert_eq!(reply, "OK", "SESSIONGATE.{name}");
}

/// `SESSIONGATE.PGET` with `args`; the payload.
pub fn pget(c: &mut redis::Connection, args: impl redis::ToRedisArgs) -> Vec<u8> {
    cmd("SESSIONGATE.PGET")
        .arg(args)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.PGET: {e}"))
}

/// A server replicating `master` (without the module unless `with_module`), its link up.
pub fn start_replica(master: &Server, with_module: bool) -> Server {
    let replica = Server::with(Options {
        args: vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ],
        with_module,
        ..Options::default()
    });
    let mut r = replica.conn();
    wait_until("the replica link", Duration::from_secs(20), || {
        let info: String = cmd("INFO").arg("replication").query(&mut r).unwrap();
        info.contains("master_link_status:up")
    });
    replica
}

/// `^v1\.[0-9a-zA-Z]{16}\.[0-9a-f]{64}$`, the token shape of the contract.
pub fn token_shape_ok(t: &[u8]) -> bool {
    t.len() == 84
        && t.starts_with(b"v1.")
        && t[3..19].iter().all(u8::is_ascii_alphanumeric)
        && t[19] == b'.'
        && t[20..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// Another application's sign key, and its token for the id of `t`, whose hash slot is `t`'s:
/// the only way another application reaches `t`'s session (any other forged token names
/// another key, so its session "does not exist"), for the "seems to be valid" error.
pub fn foreign_token(t: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let id = &t[3..19];
    let slot = crc16(t) & 16383;
    (0..)
        .map(|i| {
            let key = format!("foreign-{i}").into_bytes();
            let tok = [b"v1.".as_slice(), id, b".", sign_hex(&key, id).as_bytes()].concat();
            (key, tok)
        })
        .find(|(_, tok)| crc16(tok) & 16383 == slot)
        .unwrap()
}

/// `SESSIONGATE.START <key> <ttl> <max_lifetime>`: the token of a capped session.
pub fn start_capped(c: &mut redis::Connection, key: &[u8], ttl: i64, max_lifetime: i64) -> Vec<u8> {
    cmd("SESSIONGATE.START")
        .arg(key)
        .arg(ttl)
        .arg(max_lifetime)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.START with a cap: {e}"))
}

/// The command `SESSIONGATE.RENEW <key> <token> [<new_key>]`.
pub fn renew_cmd(key: &[u8], token: &[u8], new_key: Option<&[u8]>) -> redis::Cmd {
    let mut c = cmd("SESSIONGATE.RENEW");
    c.arg(key).arg(token);
    if let Some(k) = new_key {
        c.arg(k);
    }
    c
}

/// `SESSIONGATE.RENEW <key> <token> [<new_key>]`: the new token.
pub fn renew(
    c: &mut redis::Connection,
    key: &[u8],
    token: &[u8],
    new_key: Option<&[u8]>,
) -> Vec<u8> {
    renew_cmd(key, token, new_key)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.RENEW: {e}"))
}

/// The 16-byte fingerprint of `key` that a session stores in its field "".
pub fn fingerprint(key: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(b"sessiongate key fingerprint");
    m.finalize().into_bytes()[..16].to_vec()
}

/// The slot tag of `slot` (DESIGN §2's rule, computed independently of the module: the first
/// string over `0-9A-Za-z`, by length then bytes, of that slot).
pub fn slot_tag(slot: u16) -> Vec<u8> {
    static TAGS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut tags = vec![Vec::new(); 16384];
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..3 {
            strings = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
                .collect();
            for s in &strings {
                let slot = (crc16(s) & 16383) as usize;
                if tags[slot].is_empty() {
                    tags[slot] = s.clone();
                }
            }
        }
        tags
    });
    tags[slot as usize].clone()
}

/// The hash slot of a key, hash tags included (as `CLUSTER KEYSLOT`).
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) & 16383
}

/// An owned session's token `v2.{<tag>}.<id>.<sig>`, signed with `key`.
pub fn v2_token(key: &[u8], tag: &[u8], id: &[u8]) -> Vec<u8> {
    let head = [b"v2.{".as_slice(), tag, b"}.", id].concat();
    let sig = sign_hex(key, &head);
    [head.as_slice(), b".", sig.as_bytes()].concat()
}

/// `(tag, id)` of a token of the v2 shape whose tag is its slot's, signed with `key`.
pub fn v2_parts(key: &[u8], t: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = t.strip_prefix(b"v2.{")?;
    let close = rest.iter().position(|&b| b == b'}')?;
    let tag = rest[..close].to_vec();
    let id = rest.get(close + 2..close + 18)?.to_vec();
    let well_formed = (1..=3).contains(&tag.len())
        && tag.iter().all(u8::is_ascii_alphanumeric)
        && id.iter().all(u8::is_ascii_alphanumeric)
        && slot_tag(crc16(&tag) & 16383) == tag;
    (well_formed && v2_token(key, &tag, &id) == t).then_some((tag, id))
}

/// The owner digest of `owner` under `key`: what names its index and marks its sessions.
pub fn owner_digest(key: &[u8], owner: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(b"sessiongate owner:");
    m.update(owner);
    m.finalize().into_bytes()[..16].to_vec()
}

/// The name of the index of `owner` under `key`.
pub fn index_key(key: &[u8], owner: &[u8]) -> Vec<u8> {
    let tag = slot_tag(key_slot(owner));
    [
        b"sessiongate:{".as_slice(),
        &tag,
        b"}:owner:",
        hex::encode(owner_digest(key, owner)).as_bytes(),
    ]
    .concat()
}

/// `SESSIONGATE.STARTFOR <key> <owner> <ttl>`: the token.
pub fn start_for(c: &mut redis::Connection, key: &[u8], owner: &[u8], ttl: i64) -> Vec<u8> {
    cmd("SESSIONGATE.STARTFOR")
        .arg(key)
        .arg(owner)
        .arg(ttl)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.STARTFOR: {e}"))
}

/// One entry of SESSIONS: id, created (Unix s), ttl (s), the payloads asked for.
pub type Listed = (Vec<u8>, i64, i64, Vec<Option<Vec<u8>>>);

/// `SESSIONGATE.SESSIONS <key> <owner> <names...>`, each entry parsed.
pub fn sessions(
    c: &mut redis::Connection,
    key: &[u8],
    owner: &[u8],
    names: &[&[u8]],
) -> Vec<Listed> {
    let v: redis::Value = cmd("SESSIONGATE.SESSIONS")
        .arg(key)
        .arg(owner)
        .arg(names)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.SESSIONS: {e}"));
    parse_sessions(&v)
}

pub fn parse_sessions(v: &redis::Value) -> Vec<Listed> {
    use redis::Value;
    let Value::Array(entries) = v else {
        panic!("SESSIONS answered {v:?}")
    };
    entries
        .iter()
        .map(|e| match e {
            Value::Array(f) if f.len() >= 3 => {
                let (Value::BulkString(id), Value::Int(created), Value::Int(ttl)) =
                    (&f[0], &f[1], &f[2])
                else {
                    panic!("an entry of SESSIONS: {e:?}")
                };
                let payloads = f[3..]
                    .iter()
                    .map(|p| match p {
                        Value::BulkString(d) => Some(d.clone()),
                        Value::Nil => None,
                        other => panic!("a payload in SESSIONS: {other:?}"),
                    })
                    .collect();
                (id.clone(), *created, *ttl, payloads)
            }
            other => panic!("an entry of SESSIONS: {other:?}"),
        })
        .collect()
}

/// Every key of the current database with its DUMP and absolute expiry (PEXPIRETIME; before
/// 7.0, whether it has one): equal on two servers when they hold the same data.
pub type Dumped = Vec<(Vec<u8>, Vec<u8>, i64)>;

pub fn dump_all(c: &mut redis::Connection) -> Dumped {
    let mut ks = keys(c);
    ks.sort();
    ks.into_iter()
        .map(|k| {
            let dump: Vec<u8> = cmd("DUMP").arg(&k).query(c).unwrap();
            let at = pexpiretime(c, &k).unwrap_or_else(|| {
                let ttl: i64 = cmd("PTTL").arg(&k).query(c).unwrap();
                ttl.signum()
            });
            (k, dump, at)
        })
        .collect()
}
