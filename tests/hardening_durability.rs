//! Durability under faults. A writer thread runs session scripts (START, PSET, overwrite, PDEL,
//! EXPIRE, END) one acknowledged command at a time and records what was acknowledged; then:
//! - kill -9 with `appendonly yes` + `appendfsync always`: after restart the whole state is
//!   what was acknowledged: every write, each session's expiry, and no session that was not
//!   (only the one command in flight at the kill may go either way);
//! - BGSAVE and BGREWRITEAOF during the load: the AOF (rewritten) restores the final state
//!   exactly, and the RDB holds every session finished before BGSAVE was sent;
//! - a replica with the module, promoted with REPLICAOF NO ONE after its master is killed,
//!   serves every session that WAIT said it had.

mod common;
mod harden;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use harden::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Debug)]
enum Op {
    Start,
    Pset(Vec<u8>, Vec<u8>),
    Pdel(Vec<u8>),
    Expire,
    End,
}

const START_TTL_MS: i64 = 3_600_000;
const EXPIRE_TTL_MS: i64 = 7_200_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[derive(Clone, Debug, Default)]
struct SessionState {
    payloads: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The absolute expiry (unix ms) lies in this range: the server set it between the send
    /// and the acknowledgement of the START or EXPIRE.
    expiry: (i64, i64),
    ended: bool,
    /// Its whole script was acknowledged: nothing touches it any more.
    complete: bool,
}

#[derive(Clone, Debug, Default)]
struct Model {
    sessions: Vec<(Vec<u8>, SessionState)>,
    /// The command sent but not acknowledged when the connection broke: (session index, op);
    /// the index is None for a START.
    pending: Option<(Option<usize>, Op)>,
    /// When the pending command was sent (unix ms).
    pending_since: i64,
    acked: usize,
}

fn script(rng: &mut StdRng, i: usize) -> Vec<Op> {
    let mut data = || -> Vec<u8> { (0..rng.gen_range(1..300)).map(|_| rng.gen()).collect() };
    let mut ops = vec![
        Op::Start,
        Op::Pset(b"a".to_vec(), data()),
        Op::Pset(b"b\0\xff".to_vec(), data()),
        Op::Pset(b"a".to_vec(), data()),
        Op::Pset(b"c".to_vec(), data()),
        Op::Pdel(b"c".to_vec()),
    ];
    if i % 3 == 0 {
        ops.push(Op::Expire);
    }
    if i % 4 == 0 {
        ops.push(Op::End);
    }
    ops
}

struct Load {
    model: Arc<Mutex<Model>>,
    /// The model as of the last `WAIT 1` (sent on the writer's own connection, as WAIT
    /// counts only that connection's writes) that a replica confirmed.
    certified: Arc<Mutex<Model>>,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<()>,
}

/// Runs session scripts against `url` until `stop` is set or the connection fails; with
/// `wait_every`, sends `WAIT 1` after every that many sessions.
fn start_load(url: String, seed: u64, wait_every: Option<usize>) -> Load {
    let model = Arc::new(Mutex::new(Model::default()));
    let certified = Arc::new(Mutex::new(Model::default()));
    let cert = certified.clone();
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (m, a, s) = (model.clone(), acked.clone(), stop.clone());
    let handle = thread::spawn(move || {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut i = 0;
        while !s.load(Ordering::Relaxed) {
            let mut idx = None;
            for op in script(&mut rng, i) {
                let tok = idx.map(|x: usize| m.lock().unwrap().sessions[x].0.clone());
                let command = match (&op, &tok) {
                    (Op::Start, _) => start_cmd(KEY, 3600),
                    (Op::Pset(n, d), Some(t)) => pset_cmd(KEY, t, n, d),
                    (Op::Pdel(n), Some(t)) => {
                        cmd("SESSIONGATE.PDEL").arg(KEY).arg(t).arg(n).clone()
                    }
                    (Op::Expire, Some(t)) => {
                        cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(t).arg(7200).clone()
                    }
                    (Op::End, Some(t)) => end_cmd(KEY, t),
                    _ => unreachable!(),
                };
                let sent = now_ms();
                {
                    let mut model = m.lock().unwrap();
                    model.pending = Some((idx, op.clone()));
                    model.pending_since = sent;
                }
                let reply = match command.query::<redis::Value>(&mut c) {
                    Ok(v) => classify(v),
                    Err(e) if e.is_io_error() || e.is_connection_dropped() => return,
                    Err(e) => Reply::Error(error_text(&e)),
                };
                let acked = now_ms();
                let mut model = m.lock().unwrap();
                model.pending = None;
                match (op, reply) {
                    (Op::Start, Reply::Bulk(t)) => {
                        let st = SessionState {
                            expiry: (sent + START_TTL_MS, acked + START_TTL_MS),
                            ..SessionState::default()
                        };
                        model.sessions.push((t, st));
                        idx = Some(model.sessions.len() - 1);
                    }
                    (Op::Pset(n, d), Reply::Ok) => {
                        model.sessions[idx.unwrap()].1.payloads.insert(n, d);
                    }
                    (Op::Pdel(n), Reply::Ok) => {
                        model.sessions[idx.unwrap()].1.payloads.remove(&n);
                    }
                    (Op::Expire, Reply::Ok) => {
                        model.sessions[idx.unwrap()].1.expiry =
                            (sent + EXPIRE_TTL_MS, acked + EXPIRE_TTL_MS);
                    }
                    (Op::End, Reply::Ok) => model.sessions[idx.unwrap()].1.ended = true,
                    (op, r) => panic!("{op:?}: {r:?}"),
                }
                model.acked += 1;
                a.fetch_add(1, Ordering::Relaxed);
            }
            let snapshot = {
                let mut model = m.lock().unwrap();
                let last = model.sessions.len() - 1;
                model.sessions[last].1.complete = true;
                model.clone()
            };
            i += 1;
            if wait_every.is_some_and(|k| i % k == 0) {
                match cmd("WAIT").arg(1).arg(10_000).query::<i64>(&mut c) {
                    Ok(n) if n >= 1 => *cert.lock().unwrap() = snapshot,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }
    });
    Load {
        model,
        certified,
        acked,
        stop,
        handle,
    }
}

impl Load {
    fn wait_acked(&self, n: usize) {
        wait_until(
            &format!("{n} acknowledged writes"),
            Duration::from_secs(120),
            || self.acked.load(Ordering::Relaxed) >= n || self.handle.is_finished(),
        );
        assert!(!self.handle.is_finished(), "the writer stopped early");
    }

    fn snapshot(&self) -> Model {
        self.model.lock().unwrap().clone()
    }

    fn certified(&self) -> Model {
        self.certified.lock().unwrap().clone()
    }

    /// Stops the writer (or lets it notice the dead server) and returns what it acknowledged.
    fn finish(self) -> Model {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("the writer panicked");
        Arc::try_unwrap(self.model).unwrap().into_inner().unwrap()
    }
}

/// The range the absolute expiry (unix ms) of `key` lies in: exact with PEXPIRETIME (7.0+),
/// else from PTTL and the clock around it.
fn expiry_of(c: &mut redis::Connection, key: &[u8]) -> (i64, i64) {
    if let Some(at) = pexpiretime(c, key) {
        return (at, at);
    }
    let before = now_ms();
    let pttl: i64 = cmd("PTTL").arg(key).query(c).unwrap();
    assert!(pttl > 0, "no expiry: {pttl}");
    (before + pttl - 1, now_ms() + pttl + 1)
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Checks the server against the model: each checked session's payloads and expiry exactly
/// (the one command in flight may go either way). `only_complete`: check only sessions whose
/// script was finished (a point-in-time copy may hold any prefix of the others), and allow
/// sessions the model does not have (started after the copy's model was taken); otherwise the
/// server must hold nothing else, bar the session of an unacknowledged START (with no
/// payload). Returns how many sessions were checked.
fn verify(c: &mut redis::Connection, model: &Model, only_complete: bool) -> usize {
    let by_id: HashMap<Vec<u8>, Vec<u8>> = keys(c)
        .into_iter()
        .map(|k| (k[k.len() - 16..].to_vec(), k))
        .collect();
    let mut checked = 0;
    let mut reads = vec![];
    for (i, (tok, st)) in model.sessions.iter().enumerate() {
        if only_complete && !st.complete {
            continue;
        }
        let pending = match &model.pending {
            Some((Some(p), op)) if *p == i => Some(op),
            _ => None,
        };
        let key = by_id.get(&tok[3..19]);
        if st.ended {
            assert!(key.is_none(), "session {i} was ended, yet is back");
            checked += 1;
            continue;
        }
        let Some(key) = key else {
            assert!(
                matches!(pending, Some(Op::End)),
                "session {i} lost (acknowledged, never ended)"
            );
            continue;
        };
        let mut h: BTreeMap<Vec<u8>, Vec<u8>> = cmd("HGETALL").arg(key).query(c).unwrap();
        assert_eq!(
            h.remove(&b""[..]).map(|f| f.len()),
            Some(16),
            "no fingerprint"
        );
        let mut want = st.payloads.clone();
        // The one command in flight at the crash may or may not have been applied.
        match pending {
            Some(Op::Pset(n, d)) if h.get(n) == Some(d) => {
                want.insert(n.clone(), d.clone());
            }
            Some(Op::Pdel(n)) if !h.contains_key(n) => {
                want.remove(n);
            }
            _ => {}
        }
        assert_eq!(h, want, "session {i} differs from what was acknowledged");
        let at = expiry_of(c, key);
        let in_flight_expire = (
            model.pending_since + EXPIRE_TTL_MS,
            now_ms() + EXPIRE_TTL_MS,
        );
        assert!(
            overlaps(at, st.expiry)
                || (matches!(pending, Some(Op::Expire)) && overlaps(at, in_flight_expire)),
            "session {i} expires at {at:?}, acknowledged {:?}",
            st.expiry
        );
        // And the module itself serves it.
        if let Some((n, d)) = want.iter().next() {
            reads.push((pget_cmd(KEY, tok, n), d.clone()));
        }
        checked += 1;
    }
    if !only_complete {
        let known: std::collections::HashSet<&[u8]> =
            model.sessions.iter().map(|(t, _)| &t[3..19]).collect();
        let extra: Vec<&Vec<u8>> = by_id
            .iter()
            .filter(|(id, _)| !known.contains(id.as_slice()))
            .map(|(_, k)| k)
            .collect();
        let unacked_start = matches!(model.pending, Some((None, Op::Start)));
        assert!(
            extra.is_empty() || (unacked_start && extra.len() == 1),
            "{} session(s) nobody acknowledged: {:?}",
            extra.len(),
            extra
                .iter()
                .map(|k| String::from_utf8_lossy(k))
                .collect::<Vec<_>>()
        );
        for k in extra {
            let fields: Vec<Vec<u8>> = cmd("HKEYS").arg(k).query(c).unwrap();
            assert_eq!(
                fields,
                vec![Vec::<u8>::new()],
                "the unacknowledged START's session"
            );
        }
    }
    let (cmds, datas): (Vec<_>, Vec<_>) = reads.into_iter().unzip();
    for (r, d) in pipeline(c, &cmds).into_iter().zip(datas) {
        assert_eq!(r, Reply::Bulk(d));
    }
    assert_sessions_whole(c);
    checked
}

fn seed(what: &str) -> u64 {
    rand::RngCore::next_u64(&mut rng(what))
}

#[test]
fn kill_9_with_appendfsync_always_loses_no_acknowledged_write() {
    let mut s = Server::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let load = start_load(s.url(), seed("kill -9 writer"), None);
    load.wait_acked(3000);
    s.kill();
    let model = load.finish();
    s.restart();
    let mut c = s.conn();
    let n = verify(&mut c, &model, false);
    println!(
        "kill -9 after {} acknowledged writes: {n} sessions checked, in flight: {:?}",
        model.acked,
        model.pending.as_ref().map(|p| &p.1)
    );
    assert!(n >= 300);
}

#[test]
fn bgsave_and_bgrewriteaof_during_writes_keep_every_session() {
    let mut s = Server::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.conn();
    wait_no_child(&mut c);
    let load = start_load(s.url(), seed("bgsave/bgrewriteaof writer"), None);
    load.wait_acked(1000);
    let at_bgsave = load.snapshot();
    let r: String = cmd("BGSAVE").query(&mut c).unwrap();
    assert!(r.contains("started"), "{r}");
    load.wait_acked(at_bgsave.acked + 1000);
    wait_no_child(&mut c);
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    let rdb_copy = std::env::temp_dir().join(format!(
        "sessiongate-test-rdb-{}-{}",
        std::process::id(),
        s.port
    ));
    let _ = std::fs::remove_dir_all(&rdb_copy);
    std::fs::create_dir_all(&rdb_copy).unwrap();
    std::fs::copy(s.dir.join("dump.rdb"), rdb_copy.join("dump.rdb")).unwrap();

    let before_rewrite = load.snapshot().acked;
    let r: String = cmd("BGREWRITEAOF").query(&mut c).unwrap();
    assert!(r.contains("rewriting"), "{r}");
    load.wait_acked(before_rewrite + 1000);
    wait_no_child(&mut c);
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
    load.wait_acked(load.snapshot().acked + 500);
    let model = load.finish();

    // The rewritten AOF (plus what followed it) restores the final state exactly.
    s.kill();
    s.restart();
    let mut c = s.conn();
    let n = verify(&mut c, &model, false);
    assert!(n >= 300);

    // The RDB holds every session whose script was done before BGSAVE was sent.
    let r = Server::with_args(&["--dir", rdb_copy.to_str().unwrap()]);
    let mut rc = r.conn();
    let m = verify(&mut rc, &at_bgsave, true);
    println!(
        "{} writes; AOF: {n} sessions exact; RDB: {m} sessions finished before BGSAVE exact",
        model.acked
    );
    assert!(m >= 100);
    drop(r);
    let _ = std::fs::remove_dir_all(&rdb_copy);
}

#[test]
fn promoted_replica_serves_every_session_it_acknowledged() {
    let mut master = Server::with_args(&["--repl-diskless-sync-delay", "0"]);
    let replica = Server::with(Options {
        args: vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ],
        ..Options::default()
    });
    let mut r = replica.conn();
    wait_link_up(&mut r);
    let load = start_load(master.url(), seed("replica writer"), Some(10));
    wait_until(
        "WAIT to confirm 1500 writes",
        Duration::from_secs(120),
        || load.certified().acked >= 1500 || load.handle.is_finished(),
    );
    // Let the writer run on past the last WAIT, so the kill hits unconfirmed writes too.
    load.wait_acked(load.certified().acked + 200);
    master.kill();
    let certified = load.certified();
    let acked = load.finish().acked;
    assert!(certified.acked >= 1500, "WAIT never confirmed the replica");

    let _: () = cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    assert_eq!(info_field(&mut r, "replication", "role"), "master");
    // Every session finished before the last confirmed WAIT is there, exactly.
    let n = verify(&mut r, &certified, true);
    println!(
        "replica promoted: {n} sessions certified by WAIT ({} of {acked} acknowledged writes) \
         all served",
        certified.acked
    );
    assert!(n >= 100);
    // The promoted replica takes writes through the module.
    let (t, st) = certified
        .sessions
        .iter()
        .find(|(_, s)| s.complete && !s.ended)
        .unwrap();
    let (name, data) = st.payloads.iter().next().unwrap();
    assert_eq!(pget_reply(&mut r, t, name), Reply::Bulk(data.clone()));
    pset(&mut r, t, b"after-failover", b"yes");
    let t2 = start(&mut r, KEY, 60);
    pset(&mut r, &t2, b"new", b"session");
    assert_eq!(
        pget_reply(&mut r, &t2, b"new"),
        Reply::Bulk(b"session".to_vec())
    );
}
