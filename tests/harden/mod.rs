//! Helpers shared by the hardening tests (tests/hardening_*.rs): raw pipelines that keep every
//! reply, INFO fields, a seeded RNG, the contract's error texts and the test-only module builds.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use redis::{ConnectionLike, Value};

use crate::common::*;

pub const OTHER_KEY: &[u8] = b"another-application";

/// The error texts of DESIGN §1 that a token command may answer outside cluster mode.
pub const CONTRACT_ERRORS: [&str; 13] = [
    "<sign_key> must have at least one character",
    "<token> must have at least one character",
    "<token> format is invalid",
    "<ttl> must be a valid integer that represents seconds",
    "the signature contained in <token> is invalid",
    "the session id contained in <token> does not exist",
    "the signature contained in <token> seems to be valid, but is different from the stored signature in the session",
    "<payload_name> must have at least one character",
    "<payload_name> length exceeds the maximum value allowed of 200",
    "<payload_data> must have at least one character",
    "<payload_data> length exceeds the maximum value allowed of 8000000",
    "the requested <payload_name> does not exist",
    // Index 12: not an error of the table, but the guard's answer to a caught panic.
    "ERR sessiongate internal error (the command may be partly applied)",
];
pub const NO_SESSION: &str = CONTRACT_ERRORS[5];
pub const NO_PAYLOAD: &str = CONTRACT_ERRORS[11];
pub const INTERNAL: &str = CONTRACT_ERRORS[12];

/// One reply, as the hardening tests classify it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok,
    Bulk(Vec<u8>),
    Error(String),
    Other(String),
}

pub fn classify(v: Value) -> Reply {
    match v {
        Value::Okay => Reply::Ok,
        Value::SimpleString(s) if s == "OK" => Reply::Ok,
        Value::BulkString(b) => Reply::Bulk(b),
        Value::ServerError(e) => Reply::Error(match e.details() {
            Some(d) => format!("{} {d}", e.code()),
            None => e.code().to_string(),
        }),
        other => Reply::Other(format!("{other:?}")),
    }
}

/// Sends `cmds` in one pipeline and returns every reply, errors included, in order.
pub fn pipeline(c: &mut redis::Connection, cmds: &[redis::Cmd]) -> Vec<Reply> {
    pipeline_values(c, cmds).into_iter().map(classify).collect()
}

/// `pipeline`, replies as the client parsed them (errors nested in arrays stay there).
pub fn pipeline_values(c: &mut redis::Connection, cmds: &[redis::Cmd]) -> Vec<Value> {
    if cmds.is_empty() {
        return vec![];
    }
    let mut p = redis::pipe();
    for command in cmds {
        p.add_command(command.clone());
    }
    c.req_packed_commands(&p.get_packed_pipeline(), 0, cmds.len())
        .unwrap_or_else(|e| panic!("pipeline of {} commands: {e}", cmds.len()))
}

/// One command, any reply.
pub fn one(c: &mut redis::Connection, command: &redis::Cmd) -> Reply {
    pipeline(c, std::slice::from_ref(command)).remove(0)
}

pub fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = cmd("INFO").arg(section).query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

pub fn info_int(c: &mut redis::Connection, section: &str, field: &str) -> i64 {
    info_field(c, section, field).parse().unwrap()
}

/// A seeded RNG: `$SESSIONGATE_SEED` if set, else a fresh seed; the seed is printed so a
/// failure can be replayed (`SESSIONGATE_SEED=<seed> cargo test --release --test <file>`).
pub fn rng(what: &str) -> StdRng {
    let seed = std::env::var("SESSIONGATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("{what}: seed {seed} (rerun with SESSIONGATE_SEED={seed})");
    StdRng::seed_from_u64(seed)
}

/// A count from the environment (for `make soak` and valgrind runs), else the default. A
/// value that is not a number, or below `floor`, fails the test: a run that did (almost)
/// nothing must not pass.
pub fn env_count(name: &str, default: usize, floor: usize) -> usize {
    let n = match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a count")),
        Err(_) => default,
    };
    assert!(n >= floor, "{name}={n} is below the floor of {floor}");
    n
}

pub fn pset_cmd(key: &[u8], token: &[u8], name: &[u8], data: &[u8]) -> redis::Cmd {
    let mut c = cmd("SESSIONGATE.PSET");
    c.arg(key).arg(token).arg(name).arg(data);
    c
}

pub fn pget_cmd(key: &[u8], token: &[u8], name: &[u8]) -> redis::Cmd {
    let mut c = cmd("SESSIONGATE.PGET");
    c.arg(key).arg(token).arg(name);
    c
}

pub fn end_cmd(key: &[u8], token: &[u8]) -> redis::Cmd {
    let mut c = cmd("SESSIONGATE.END");
    c.arg(key).arg(token);
    c
}

pub fn start_cmd(key: &[u8], ttl: i64) -> redis::Cmd {
    let mut c = cmd("SESSIONGATE.START");
    c.arg(key).arg(ttl);
    c
}

/// START with a max_lifetime.
pub fn start_capped_cmd(key: &[u8], ttl: i64, max_lifetime: i64) -> redis::Cmd {
    let mut c = start_cmd(key, ttl);
    c.arg(max_lifetime);
    c
}

pub fn pset(c: &mut redis::Connection, token: &[u8], name: &[u8], data: &[u8]) {
    let r = one(c, &pset_cmd(KEY, token, name, data));
    assert_eq!(r, Reply::Ok, "PSET");
}

pub fn pget_reply(c: &mut redis::Connection, token: &[u8], name: &[u8]) -> Reply {
    one(c, &pget_cmd(KEY, token, name))
}

/// Every session key holds a fingerprint in field "": no half session exists.
/// Returns the number of session keys.
pub fn assert_sessions_whole(c: &mut redis::Connection) -> usize {
    let ks = keys(c);
    for k in &ks {
        assert!(k.starts_with(b"sessiongate:{"), "stray key {k:?}");
        if k.windows(8).any(|w| w == b"}:owner:") {
            // An owner's index (DESIGN §1b): a sorted set.
            let kind: String = cmd("TYPE").arg(k).query(c).unwrap();
            assert!(kind == "zset" || kind == "none", "{kind}");
            continue;
        }
        let fp: Option<Vec<u8>> = cmd("HGET").arg(k).arg(b"").query(c).unwrap();
        // A session with a short TTL may expire between KEYS and HGET: gone whole is fine.
        let gone = fp.is_none() && cmd("EXISTS").arg(k).query::<i64>(c).unwrap() == 0;
        if gone {
            continue;
        }
        // 16 bytes, or 24 for a session with a max_lifetime; 24 more for an owned one.
        assert!(
            matches!(fp.map(|f| f.len()), Some(16 | 24 | 40 | 48)),
            "session {} has no fingerprint",
            String::from_utf8_lossy(k)
        );
    }
    ks.len()
}

pub fn ping(c: &mut redis::Connection) {
    let pong: String = cmd("PING").query(c).unwrap();
    assert_eq!(pong, "PONG");
}

/// The module built with the test-only cargo `features`, as a `.so` named after them. Where
/// `$SESSIONGATE_MODULE_VARIANTS` names a directory, the prebuilt copy there (scripts/build-dist.sh
/// makes one of each, for runs with neither cargo nor the sources). Otherwise built here: every
/// variant builds in one target directory, `target/test-variants`, so the dependencies are
/// compiled once for all; cargo rebuilds only the crate when the features change, and is not
/// run while the copy is newer than the sources.
pub fn build_module_variant(features: &str) -> PathBuf {
    let name = format!("libsessiongate-{}.so", features.replace([' ', ','], "+"));
    if let Ok(dir) = std::env::var("SESSIONGATE_MODULE_VARIANTS") {
        let so = PathBuf::from(dir).join(&name);
        assert!(
            so.is_file(),
            "{} is missing (SESSIONGATE_MODULE_VARIANTS)",
            so.display()
        );
        return so;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("test-variants");
    let so = target.join(&name);
    let copied = std::fs::metadata(&so).and_then(|m| m.modified());
    if copied.is_ok_and(|t| t >= newest_source()) {
        return so;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--release", "--features", features, "--target-dir"])
        .arg(&target)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {cargo} to build the {features} module ({e}); without cargo, set \
                 SESSIONGATE_MODULE_VARIANTS to a directory holding {name}"
            )
        });
    assert!(
        out.status.success(),
        "building the {features} module failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Copied under a new name, then renamed over the old copy: a server of another test may
    // still have the old one loaded.
    let tmp = target.join(format!(
        "{name}.{}.{:?}.tmp",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::copy(target.join("release").join("libsessiongate.so"), &tmp).unwrap();
    std::fs::rename(&tmp, &so).unwrap();
    so
}

pub fn wait_link_up(c: &mut redis::Connection) {
    wait_until("the replica link", Duration::from_secs(30), || {
        info_field(c, "replication", "master_link_status") == "up"
    });
}

/// Waits (bounded) until no BGSAVE or AOF rewrite runs or is scheduled.
pub fn wait_no_child(c: &mut redis::Connection) {
    wait_until(
        "background saves to finish",
        Duration::from_secs(60),
        || {
            let info: String = cmd("INFO").arg("persistence").query(c).unwrap();
            info.contains("rdb_bgsave_in_progress:0")
                && info.contains("aof_rewrite_in_progress:0")
                && !info.contains("aof_rewrite_scheduled:1")
        },
    );
}

/// `snapshot` restricted to session keys (other test data may be of other types).
pub fn session_snapshot(c: &mut redis::Connection) -> Snapshot {
    let mut ks: Vec<Vec<u8>> = cmd("KEYS").arg("sessiongate:*").query(c).unwrap();
    ks.sort();
    ks.into_iter()
        .map(|k| {
            let mut h: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(&k).query(c).unwrap();
            h.sort();
            let at: Option<i64> = cmd("PEXPIRETIME").arg(&k).query(c).ok();
            (k, h, at)
        })
        .collect()
}
