//! Owners (DESIGN §1b, §3) through replication, persistence and crashes: the index is written
//! as native commands in the same MULTI/EXEC as the sessions, so a replica or an AOF without
//! the module holds identical data (every key's DUMP and expiry), and neither a kill -9 (with
//! appendfsync always) nor a failover loses an index entry.

mod common;

use std::time::Duration;

use common::*;

const OWNERS: [&[u8]; 4] = [
    b"alice@example.com",
    b"{tenant-7}:bob",
    b"{tenant-7}:carol",
    b"\0\xffbinary-owner",
];
const OTHER_APP: &[u8] = b"another-application";

/// Every owner write: STARTFOR (capped too), payloads, EXPIRE, RENEW, END, the three REVOKEs,
/// and ids of sessions gone pruned; another application's sessions of the same owners beside.
/// Returns every token issued.
fn owner_workload(c: &mut redis::Connection) -> Vec<Vec<u8>> {
    let mut issued = vec![];
    for (i, owner) in OWNERS.iter().enumerate() {
        let mut mine = vec![];
        for j in 0..6 {
            let t: Vec<u8> = if j % 3 == 0 {
                cmd("SESSIONGATE.STARTFOR")
                    .arg(KEY)
                    .arg(owner)
                    .arg(1000 + j)
                    .arg(5000)
                    .query(c)
                    .unwrap()
            } else {
                start_for(c, KEY, owner, 1000 + j)
            };
            ok(c, "PSET", (KEY, &t, "device", format!("d{i}{j}")));
            issued.push(t.clone());
            mine.push(t);
        }
        issued.push(start_for(c, OTHER_APP, owner, 900));
        ok(c, "EXPIRE", (KEY, &mine[0], 4000));
        let renewed = renew(c, KEY, &mine[1], None);
        issued.push(renewed.clone());
        mine[1] = renewed;
        ok(c, "END", (KEY, &mine[2]));
        ok(c, "EXPIRE", (KEY, &mine[3], 0));
        // A session gone without the module knowing (as if expired), then pruned by STARTFOR.
        let (tag, id) = v2_parts(KEY, &mine[4]).unwrap();
        let _: () = cmd("DEL")
            .arg([b"sessiongate:{".as_slice(), &tag, b"}:", &id].concat())
            .query(c)
            .unwrap();
        issued.push(start_for(c, KEY, owner, 700));
        match i {
            0 => {
                let _: i64 = cmd("SESSIONGATE.REVOKE")
                    .arg(KEY)
                    .arg(owner)
                    .arg("EXCEPT")
                    .arg(&mine[0])
                    .query(c)
                    .unwrap();
            }
            1 => {
                let id = v2_parts(KEY, &mine[5]).unwrap().1;
                let _: i64 = cmd("SESSIONGATE.REVOKE")
                    .arg(KEY)
                    .arg(owner)
                    .arg(id)
                    .query(c)
                    .unwrap();
            }
            2 => {
                let _: i64 = cmd("SESSIONGATE.REVOKE")
                    .arg(KEY)
                    .arg(owner)
                    .query(c)
                    .unwrap();
            }
            _ => {}
        }
    }
    issued
}

/// SESSIONS of every owner under both applications, payload "device" included.
fn listings(c: &mut redis::Connection) -> Vec<Vec<Listed>> {
    OWNERS
        .iter()
        .flat_map(|o| [(KEY, *o), (OTHER_APP, *o)])
        .map(|(k, o)| sessions(c, k, o, &[b"device"]))
        .collect()
}

/// Indexes and sessions both present in the data.
fn assert_has_owner_data(d: &Dumped) {
    let indexes = d
        .iter()
        .filter(|(k, _, _)| k.windows(7).any(|w| w == b":owner:"))
        .count();
    assert_eq!(
        indexes, 7,
        "3 owners under KEY (one revoked whole), 4 under the other app"
    );
    assert_eq!(d.len(), 19, "sessions and indexes");
}

fn assert_no_secrets(bytes: &[u8], tokens: &[Vec<u8>], what: &str) {
    for secret in [
        KEY,
        OTHER_APP,
        b"alice@example.com",
        b"tenant-7}:bob",
        b"binary-owner",
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "{what} holds {}",
            String::from_utf8_lossy(secret)
        );
    }
    for t in tokens {
        let sig = &t[t.len() - 64..];
        assert!(
            !bytes.windows(64).any(|w| w == sig),
            "{what} holds a signature"
        );
    }
}

#[test]
fn a_replica_without_the_module_holds_identical_indexes_and_sessions() {
    let master = Server::with_args(&["--repl-diskless-sync-delay", "0"]);
    let plain = start_replica(&master, false);
    let with_module = start_replica(&master, true);
    let mut m = master.conn();
    let mut mon = plain.conn();
    let _: () = cmd("MONITOR").query(&mut mon).unwrap();
    let tokens = owner_workload(&mut m);
    let acked: i64 = cmd("WAIT").arg(2).arg(10_000).query(&mut m).unwrap();
    assert_eq!(acked, 2);
    let want = dump_all(&mut m);
    assert_has_owner_data(&want);
    assert_eq!(
        dump_all(&mut plain.conn()),
        want,
        "the replica without the module differs"
    );
    let mut r = with_module.conn();
    assert_eq!(dump_all(&mut r), want);
    // A replica with the module lists what the master lists (SESSIONS is read-only).
    assert_eq!(listings(&mut r), listings(&mut m));

    // The stream: native commands only, each STARTFOR's session and index writes in one
    // transaction, and no secret.
    let _: () = cmd("SET").arg("stream-end").arg(1).query(&mut m).unwrap();
    let mut stream = Vec::new();
    let mut lines = vec![];
    mon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        let line: String = redis::from_redis_value(&mon.recv_response().unwrap()).unwrap();
        stream.extend_from_slice(line.as_bytes());
        stream.push(b'\n');
        if line.contains("stream-end") {
            break;
        }
        lines.push(line.to_uppercase());
    }
    assert_no_secrets(&stream, &tokens, "the replication stream");
    let text = String::from_utf8_lossy(&stream).to_uppercase();
    assert!(
        !text.contains("SESSIONGATE."),
        "a module command was replicated"
    );
    for native in ["\"ZADD\"", "\"ZREM\"", "\"PEXPIREAT\"", "\"UNLINK\""] {
        assert!(text.contains(native), "{native} not replicated");
    }
    // Each ZADD sits in a MULTI/EXEC with the HSET of its session.
    let mut in_multi = false;
    let mut hset_in_multi = false;
    let mut zadds = 0;
    for l in &lines {
        if l.contains("\"MULTI\"") {
            (in_multi, hset_in_multi) = (true, false);
        } else if l.contains("\"EXEC\"") {
            in_multi = false;
        } else if l.contains("\"HSET\"") && in_multi {
            hset_in_multi = true;
        } else if l.contains("\"ZADD\"") {
            assert!(
                in_multi && hset_in_multi,
                "a ZADD outside its session's MULTI: {l}"
            );
            zadds += 1;
        }
    }
    // Per owner: 6 STARTFORs, the other application's, the RENEW and the STARTFOR that prunes.
    assert_eq!(zadds, 4 * 9);
}

#[test]
fn aof_after_kill_9_holds_every_index_entry() {
    let mut s = Server::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.conn();
    let tokens = owner_workload(&mut c);
    let before = dump_all(&mut c);
    let listed = listings(&mut c);
    assert_has_owner_data(&before);
    s.kill();
    s.restart();
    let mut c = s.conn();
    assert_eq!(dump_all(&mut c), before);
    assert_eq!(listings(&mut c), listed);
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
    assert_no_secrets(&aof, &tokens, "the AOF");
    // The same AOF loads on a server without the module, to the same data.
    let _: () = cmd("SHUTDOWN").arg("NOSAVE").query(&mut c).unwrap_or(());
    let plain = Server::with(Options {
        args: vec![
            "--appendonly".into(),
            "yes".into(),
            "--dir".into(),
            s.dir.display().to_string(),
        ],
        with_module: false,
        ..Options::default()
    });
    assert_eq!(dump_all(&mut plain.conn()), before);
}

#[test]
fn failover_to_a_replica_loses_no_index_entry() {
    let mut master = Server::with_args(&["--repl-diskless-sync-delay", "0"]);
    let replica = start_replica(&master, true);
    let mut m = master.conn();
    owner_workload(&mut m);
    let acked: i64 = cmd("WAIT").arg(1).arg(10_000).query(&mut m).unwrap();
    assert_eq!(acked, 1);
    let before = dump_all(&mut m);
    let listed = listings(&mut m);
    master.kill();
    let mut r = replica.conn();
    let _: () = cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    assert_eq!(dump_all(&mut r), before);
    assert_eq!(listings(&mut r), listed);
    // The promoted replica runs the owner commands on what it received.
    let live: usize = listed.iter().map(Vec::len).sum();
    let mut revoked = 0;
    for owner in OWNERS {
        for key in [KEY, OTHER_APP] {
            let n: i64 = cmd("SESSIONGATE.REVOKE")
                .arg(key)
                .arg(owner)
                .query(&mut r)
                .unwrap();
            revoked += n as usize;
        }
    }
    assert_eq!(revoked, live);
    assert!(
        keys(&mut r).is_empty(),
        "left after revoking everything: {:?}",
        keys(&mut r)
    );
}
