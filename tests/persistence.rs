//! Replication and persistence (DESIGN §3): writes reach replicas and the AOF as native
//! commands, with the master's absolute expiry, and never carry a sign key or a token.

mod common;

use std::time::Duration;

use common::*;

/// The key some sessions are renewed into (a key rotation).
const NEW_KEY: &[u8] = b"rotated-sign-key";

/// The tokens of a workload: the live ones, and every one ever issued.
struct Tokens {
    live: Vec<Vec<u8>>,
    issued: Vec<Vec<u8>>,
}

/// Starts sessions (some capped) and runs every kind of write on them, RENEW into the same
/// key and into another key and back included.
fn workload(c: &mut redis::Connection) -> Tokens {
    let mut tokens = Tokens {
        live: vec![],
        issued: vec![],
    };
    for i in 0..60u32 {
        let mut t = if i % 3 == 0 {
            start_capped(c, KEY, 1000 + i as i64, 3000)
        } else {
            start(c, KEY, 1000 + i as i64)
        };
        ok(c, "PSET", (KEY, &t, "user", format!("u{i}")));
        ok(c, "PSET", (KEY, &t, b"bin\0\xff", vec![i as u8; 300]));
        if i % 5 == 0 {
            tokens.issued.push(t.clone());
            t = renew(c, KEY, &t, None);
        } else if i % 5 == 1 {
            tokens.issued.push(t.clone());
            let n = renew(c, KEY, &t, Some(NEW_KEY));
            tokens.issued.push(n.clone());
            t = renew(c, NEW_KEY, &n, Some(KEY));
        }
        tokens.issued.push(t.clone());
        match i % 4 {
            0 => {
                ok(c, "PDEL", (KEY, &t, "user"));
            }
            1 => {
                ok(c, "EXPIRE", (KEY, &t, 5000));
            }
            2 => {
                ok(c, "END", (KEY, &t));
                continue;
            }
            _ => {
                ok(c, "EXPIRE", (KEY, &t, 0));
                continue;
            }
        }
        tokens.live.push(t);
    }
    tokens
}

fn assert_no_secrets(bytes: &[u8], tokens: &[Vec<u8>], what: &str) {
    let hay = String::from_utf8_lossy(bytes);
    assert!(!hay.contains("qwerty"), "{what} holds the sign key");
    assert!(
        !hay.contains(std::str::from_utf8(NEW_KEY).unwrap()),
        "{what} holds the new sign key"
    );
    assert!(
        !hay.to_lowercase().contains("sessiongate."),
        "{what} holds a module command"
    );
    for t in tokens {
        assert!(
            !hay.contains(std::str::from_utf8(&t[20..]).unwrap()),
            "{what} holds a signature"
        );
    }
}

#[test]
fn replica_without_the_module_ends_with_identical_sessions() {
    let master = Server::with_args(&["--repl-diskless-sync-delay", "0"]);
    let replica = start_replica(&master, false);
    let mut m = master.conn();
    let mut r = replica.conn();
    let tokens = workload(&mut m);
    let acked: i64 = cmd("WAIT").arg(1).arg(10_000).query(&mut m).unwrap();
    assert_eq!(acked, 1);
    let ms = snapshot(&mut m);
    assert_eq!(ms.len(), 30);
    assert_eq!(tokens.live.len(), 30);
    assert_eq!(snapshot(&mut r), ms, "replica differs from master");
    assert!(ms.iter().all(|(_, _, at)| at.map_or(true, |at| at > 0)));
    let aof_free_master_log = master.log();
    assert!(!aof_free_master_log.contains("qwerty"));
}

#[test]
fn replica_sees_native_commands_only() {
    let master = Server::with_args(&["--repl-diskless-sync-delay", "0"]);
    let replica = start_replica(&master, false);
    let mut mon = replica.conn();
    let _: () = cmd("MONITOR").query(&mut mon).unwrap();
    let mut m = master.conn();
    let tokens = workload(&mut m);
    let _: i64 = cmd("WAIT").arg(1).arg(10_000).query(&mut m).unwrap();
    let _: () = cmd("SET")
        .arg("sentinel-end")
        .arg("1")
        .query(&mut m)
        .unwrap();
    let mut seen = Vec::new();
    mon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        let line: String =
            redis::FromRedisValue::from_redis_value(&mon.recv_response().unwrap()).unwrap();
        seen.extend_from_slice(line.as_bytes());
        seen.push(b'\n');
        if line.contains("sentinel-end") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&seen).to_uppercase();
    for native in ["\"HSET\"", "\"HDEL\"", "\"PEXPIREAT\"", "\"UNLINK\""] {
        assert!(text.contains(native), "{native} not replicated:\n{text}");
    }
    assert!(!text.contains("\"EXPIRE\""), "relative expiry replicated");
    assert_no_secrets(&seen, &tokens.issued, "the replication stream");
}

#[test]
fn aof_restart_keeps_every_session_and_no_secret() {
    let mut s = Server::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.conn();
    let tokens = workload(&mut c);
    let before = snapshot(&mut c);
    s.kill();
    s.restart();
    let mut c = s.conn();
    assert_eq!(snapshot(&mut c), before);
    for t in &tokens.live {
        let _ = pget(&mut c, (KEY, t, b"bin\0\xff"));
    }
    let mut aof = Vec::new();
    let mut stack = vec![s.dir.clone()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if p.to_string_lossy().contains("appendonly") {
            aof.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(!aof.is_empty(), "no AOF written");
    assert_no_secrets(&aof, &tokens.issued, "the AOF");
    // A rewrite keeps them too.
    let _: () = cmd("BGREWRITEAOF").query(&mut c).unwrap_or(());
    wait_until("the AOF rewrite", Duration::from_secs(20), || {
        let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
        info.contains("aof_rewrite_in_progress:0") && !info.contains("aof_rewrite_scheduled:1")
    });
    s.restart();
    let mut c = s.conn();
    assert_eq!(snapshot(&mut c), before);
}

#[test]
fn rdb_restart_keeps_every_session() {
    let mut s = Server::start();
    let mut c = s.conn();
    let tokens = workload(&mut c);
    let before = snapshot(&mut c);
    let _: () = cmd("SAVE").query(&mut c).unwrap();
    s.restart();
    let mut c = s.conn();
    assert_eq!(snapshot(&mut c), before);
    for t in &tokens.live {
        let _ = pget(&mut c, (KEY, t, b"bin\0\xff"));
    }
    let rdb = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    assert_no_secrets(&rdb, &tokens.issued, "the RDB file");
}
