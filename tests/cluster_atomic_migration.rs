//! Valkey 9's atomic slot migration (`CLUSTER MIGRATESLOTS`, DESIGN §7) with the module loaded:
//! the server accepts it (the module declares `HANDLE_ATOMIC_SLOT_MIGRATION`), and sessions
//! keep working while their slots move under a client that reads and writes them.
//!
//! The target holds a migrating slot's keys before it owns the slot. Valkey's debug hook
//! `DEBUG SLOTMIGRATION PREVENT-PAUSE` keeps the migration in that state for as long as the test
//! needs to look at it. Servers without `CLUSTER MIGRATESLOTS` skip the test: it prints
//! `SKIPPED: <reason>` to stderr, which scripts/run-dist-tests.sh counts as a skip.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use redis::cluster::ClusterConnection;
use redis::Value;

/// How many slots move from A to B, and how many sessions A starts before the move.
const SLOTS_MOVED: u16 = 2000;
const SESSIONS: usize = 600;

fn has_migrateslots(server: &Server) -> bool {
    let v: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("CLUSTER|MIGRATESLOTS")
        .query(&mut server.conn())
        .unwrap();
    matches!(&v, Value::Array(a) if a.first().is_some_and(|x| *x != Value::Nil))
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every job of `CLUSTER GETSLOTMIGRATIONS` on this node, as field → value.
fn migrations(node: &Node) -> Vec<HashMap<String, String>> {
    let v: Value = cmd("CLUSTER")
        .arg("GETSLOTMIGRATIONS")
        .query(&mut node.conn())
        .unwrap();
    let Value::Array(jobs) = v else {
        panic!("GETSLOTMIGRATIONS: {v:?}")
    };
    jobs.iter()
        .map(|job| match job {
            Value::Array(kv) => kv.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect(),
            Value::Map(kv) => kv.iter().map(|(k, v)| (text(k), text(v))).collect(),
            other => panic!("a migration job: {other:?}"),
        })
        .collect()
}

/// Waits until the node's only migration job reaches `state`; a job that failed or was
/// cancelled fails the test with its message.
fn wait_state(cluster: &Cluster, node: &Node, state: &str) {
    cluster.wait(&format!("the migration to reach {state}"), || {
        let jobs = migrations(node);
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        let now = &jobs[0]["state"];
        assert!(
            now != "failed" && now != "cancelled",
            "migration {now}: {}",
            jobs[0]["message"]
        );
        now == state
    });
}

/// How often the node read `CLUSTER NODES` (INFO commandstats).
fn nodes_calls(node: &Node) -> u64 {
    node.info("commandstats")
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_cluster|nodes:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Keys per slot of `slots`, as the node's own slot tables count them.
fn count_keys(node: &Node, slots: &[u16]) -> i64 {
    let mut pipe = redis::pipe();
    for s in slots {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*s);
    }
    let counts: Vec<i64> = pipe.query(&mut node.conn()).unwrap();
    counts.iter().sum()
}

/// (key, fields without "seen", PEXPIRETIME) of every session in `slots`, read by name.
type Record = (Vec<(Vec<u8>, Vec<u8>)>, i64);

fn records(c: &mut redis::Connection, keys: &[Vec<u8>]) -> BTreeMap<Vec<u8>, Record> {
    keys.iter()
        .map(|k| {
            let mut h: Vec<(Vec<u8>, Vec<u8>)> = cmd("HGETALL").arg(k).query(c).unwrap();
            h.retain(|(f, _)| f != b"seen");
            h.sort();
            let at: i64 = cmd("PEXPIRETIME").arg(k).query(c).unwrap();
            (k.clone(), (h, at))
        })
        .collect()
}

fn pget_user(cc: &mut ClusterConnection, t: &[u8]) -> redis::RedisResult<Vec<u8>> {
    routed(cc, cmd("SESSIONGATE.PGET").arg(KEY).arg(t).arg("user"), t)
        .and_then(|v| redis::from_redis_value(&v))
}

fn pset(cc: &mut ClusterConnection, t: &[u8], name: &str, data: &[u8]) -> redis::RedisResult<()> {
    let v = routed(
        cc,
        cmd("SESSIONGATE.PSET").arg(KEY).arg(t).arg(name).arg(data),
        t,
    )?;
    assert_eq!(v, Value::Okay);
    Ok(())
}

/// What the live client saw: the last round it wrote into each session, and every error.
struct Seen {
    last: Vec<Option<u64>>,
    errors: Vec<String>,
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Reads and writes every session, pass after pass, until `stop` is set; then one more full
/// pass, so that every session is also read after the move.
fn live_client(cluster: &Cluster, tokens: &[Vec<u8>], stop: &AtomicBool, seen: &Mutex<Seen>) {
    let mut cc = cluster.client(false);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut round = 0u64;
    let mut last_pass = false;
    loop {
        for (i, t) in tokens.iter().enumerate() {
            match pget_user(&mut cc, t) {
                Ok(v) => assert_eq!(v, &t[3..19], "a session answered another's payload"),
                Err(e) => seen.lock().unwrap().errors.push(error_text(&e)),
            }
            match pset(&mut cc, t, "seen", round.to_string().as_bytes()) {
                Ok(()) => seen.lock().unwrap().last[i] = Some(round),
                Err(e) => seen.lock().unwrap().errors.push(error_text(&e)),
            }
        }
        round += 1;
        if last_pass {
            return;
        }
        last_pass = stop.load(Ordering::SeqCst);
        assert!(Instant::now() < deadline, "the live client never stopped");
    }
}

/// The module sets option bit 5 where it means HANDLE_ATOMIC_SLOT_MIGRATION (Valkey 9+) and
/// nowhere else, and says so in the log with the server it found.
#[test]
fn the_option_is_declared_only_where_bit_5_means_it() {
    let ((major, minor), valkey) = server_version();
    let server = Server::start();
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("(module options it knows: "))
        .unwrap_or_else(|| panic!("no module options line in the log:\n{log}"));
    let name = if valkey { "Valkey" } else { "Redis" };
    assert!(line.contains(&format!("{name} {major}.{minor}.")), "{line}");
    let declared = line.contains("declared atomic slot migration support");
    assert_eq!(declared, valkey && major >= 9, "{line}");
    assert_eq!(declared, has_migrateslots(&server), "{line}");
}

#[test]
fn migrateslots_moves_sessions_under_a_live_client() {
    if !has_migrateslots(&Server::start()) {
        let ((major, minor), valkey) = server_version();
        let name = if valkey { "Valkey" } else { "Redis" };
        let reason = format!(
            "{name} {major}.{minor} has no CLUSTER MIGRATESLOTS (atomic slot migration is Valkey 9.0+)"
        );
        eprintln!("SKIPPED: {reason}");
        return;
    }
    // The nodes trust their slot cache for 10 minutes: A's view of its slots is read before the
    // hand-over and never again by age, so the STARTs after the hand-over certainly meet a
    // stale cache (only the server's refusal of a moved slot has A read it again).
    let cluster = Cluster::with_args(
        0,
        0,
        &["--enable-debug-command", "yes"],
        &["cluster-cache-ms", "600000"],
    );
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut owned_by_a: Vec<u16> = a.owned_slots().into_iter().collect();
    owned_by_a.sort();
    let moving: Vec<u16> = owned_by_a[..SLOTS_MOVED as usize].to_vec();
    let (lo, hi) = (moving[0], moving[moving.len() - 1]);
    assert_eq!(hi - lo + 1, SLOTS_MOVED, "A's slots are not one range");
    let in_range = |t: &[u8]| (lo..=hi).contains(&slot_of(t));

    let mut ac = a.conn();
    let mut tokens: Vec<Vec<u8>> = (0..SESSIONS).map(|_| start(&mut ac, KEY, 600)).collect();
    {
        let mut cc = cluster.client(false);
        for t in &tokens {
            pset(&mut cc, t, "user", &t[3..19]).unwrap();
        }
    }
    let moving_sessions = tokens.iter().filter(|t| in_range(t)).count();
    assert!(moving_sessions > 100, "{moving_sessions}");

    // Hold the migration before its hand-over (every server with MIGRATESLOTS has the hook).
    let _: () = cmd("DEBUG")
        .arg("SLOTMIGRATION")
        .arg("PREVENT-PAUSE")
        .arg(1)
        .query(&mut ac)
        .unwrap_or_else(|e| panic!("DEBUG SLOTMIGRATION PREVENT-PAUSE: {}", error_text(&e)));

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen {
        last: vec![None; tokens.len()],
        errors: vec![],
    });
    let live_tokens = tokens.clone();
    let (cl, stop_ref, seen_ref) = (&cluster, &stop, &seen);
    let (before, born_in_hold, started_on_a_after) = std::thread::scope(|scope| {
        // Stops the live client on every exit path, a failed assertion included.
        let _stop = StopOnDrop(stop_ref);
        let live = scope.spawn(move || live_client(cl, &live_tokens, stop_ref, seen_ref));
        // The server accepts the migration with the module loaded.
        let reply: String = cmd("CLUSTER")
            .arg("MIGRATESLOTS")
            .arg("SLOTSRANGE")
            .arg(lo)
            .arg(hi)
            .arg("NODE")
            .arg(&b.id)
            .query(&mut ac)
            .unwrap_or_else(|e| panic!("MIGRATESLOTS refused: {}", error_text(&e)));
        assert_eq!(reply, "OK");

        let mut born = vec![];
        {
            wait_state(&cluster, a, "waiting-to-pause");
            // B holds the slots' keys ...
            cluster.wait("B to hold every key of the moving slots", || {
                count_keys(b, &moving) == count_keys(a, &moving)
            });
            assert_eq!(count_keys(b, &moving) as usize, moving_sessions);
            // ... but does not own them: it redirects them, and START on B never draws one.
            let owned_by_b = b.owned_slots();
            assert!(!owned_by_b.contains(&lo) && !owned_by_b.contains(&hi));
            let mut bc = b.conn();
            let t = tokens.iter().find(|t| in_range(t)).unwrap();
            let e = err(&mut bc, cmd("SESSIONGATE.PGET").arg(KEY).arg(t).arg("user"));
            assert!(e.starts_with(&format!("MOVED {} ", slot_of(t))), "{e}");
            for _ in 0..300 {
                let t = start(&mut bc, KEY, 600);
                assert!(
                    owned_by_b.contains(&slot_of(&t)),
                    "B issued slot {}, which it does not own",
                    slot_of(&t)
                );
                ok(&mut bc, "END", (KEY, &t));
            }
            // A keeps serving the slots and creating sessions in them, which reach B too.
            let mut cc = cluster.client(false);
            for _ in 0..100 {
                let t = start(&mut ac, KEY, 600);
                pset(&mut cc, &t, "user", &t[3..19]).unwrap();
                born.push(t);
            }
            cluster.wait("B to hold the keys of the sessions born there", || {
                count_keys(b, &moving) == count_keys(a, &moving)
            });
        }
        let keys: Vec<Vec<u8>> = moving.iter().flat_map(|&s| keys_in_slot(a, s)).collect();
        let before = records(&mut ac, &keys);
        let reads_before = nodes_calls(a);
        let _: () = cmd("DEBUG")
            .arg("SLOTMIGRATION")
            .arg("PREVENT-PAUSE")
            .arg(0)
            .query(&mut ac)
            .unwrap();
        wait_state(&cluster, a, "success");
        assert_eq!(
            nodes_calls(a),
            reads_before,
            "A read its slots during the hand-over: its cache is not the stale one"
        );
        // A's slot cache still lists the moved slots as its own: A never issues a slot it gave
        // away, because the server refuses each one it draws (and A reads its slots again).
        let mut after = vec![];
        for _ in 0..200 {
            let t = start(&mut ac, KEY, 600);
            assert!(
                !in_range(&t),
                "A issued slot {} after giving it away",
                slot_of(&t)
            );
            after.push(t);
        }
        assert!(
            nodes_calls(a) > reads_before,
            "no START met the stale cache (none drew a moved slot)"
        );
        for s in [lo, hi] {
            cluster.wait_owner(s, b);
        }
        stop.store(true, Ordering::SeqCst);
        live.join().unwrap();
        (before, born, after)
    });

    let seen = seen.into_inner().unwrap();
    eprintln!(
        "moved {} keys in {SLOTS_MOVED} slots ({} sessions born during the move); the live client wrote {} rounds",
        before.len(),
        born_in_hold.iter().filter(|t| in_range(t)).count(),
        seen.last.iter().flatten().min().map_or(0, |r| r + 1)
    );
    assert!(
        !seen.errors.iter().any(|e| e.contains("does not exist")),
        "a moving session was answered as lost: {:?}",
        seen.errors
    );
    assert!(
        seen.errors.is_empty(),
        "the live client met errors: {:?}",
        seen.errors
    );

    // Every key of the moved slots is on B, found by name, with its fields and expiry; A keeps
    // none (it drops them after the hand-over).
    let owners = slot_owners(&mut a.conn());
    assert!(moving.iter().all(|s| owners[s] == b.port()));
    let mut bc = b.conn();
    let names: Vec<Vec<u8>> = before.keys().cloned().collect();
    for k in &names {
        let n: i64 = cmd("EXISTS").arg(k).query(&mut bc).unwrap();
        assert_eq!(n, 1, "{} is not on B by name", String::from_utf8_lossy(k));
    }
    let after = records(&mut bc, &names);
    for (k, record) in &before {
        let name = String::from_utf8_lossy(k);
        assert_eq!(after.get(k), Some(record), "{name} changed on its way to B");
    }
    assert_eq!(count_keys(b, &moving) as usize, before.len());
    cluster.wait("A to drop the moved keys", || count_keys(a, &moving) == 0);

    // Every write of the live client is there: the moved sessions carry its last round.
    for (t, last) in tokens.iter().zip(&seen.last) {
        let last = last.expect("a session never written");
        let node = if in_range(t) { b } else { a };
        let v: Vec<u8> = cmd("SESSIONGATE.PGET")
            .arg(KEY)
            .arg(t)
            .arg("seen")
            .query(&mut node.conn())
            .unwrap();
        assert_eq!(v, last.to_string().as_bytes());
    }

    // Sessions born on A while the slots moved live on, wherever they ended up.
    tokens.extend(born_in_hold);
    tokens.extend(started_on_a_after);
    let mut cc = cluster.client(false);
    for t in &tokens {
        pset(&mut cc, t, "user", &t[3..19]).unwrap();
        assert_eq!(pget_user(&mut cc, t).unwrap(), &t[3..19]);
    }
    cluster.check();
}

/// An owner's index and sessions move with their slot in one migration: the target holds them
/// all before the hand-over, the source keeps serving and writing them (STARTFOR, REVOKE) until
/// then, and after it the target lists and revokes exactly what the source had.
#[test]
fn migrateslots_moves_an_owners_index_and_sessions_together() {
    if !has_migrateslots(&Server::start()) {
        eprintln!("skipped: no CLUSTER MIGRATESLOTS (atomic slot migration is Valkey 9.0+)");
        return;
    }
    let cluster = Cluster::with_node_args(0, 0, &["--enable-debug-command", "yes"]);
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let slot = *a.owned_slots().iter().next().unwrap();
    let owner = [b"{".as_slice(), &slot_tag(slot), b"}:alice"].concat();
    assert_eq!(key_slot(&owner), slot);
    let mut ac = a.conn();
    let sessions_of = |c: &mut redis::Connection| sessions(c, KEY, &owner, &[b"device"]);
    let mut tokens = vec![];
    for i in 0..5 {
        let t = start_for(&mut ac, KEY, &owner, 600);
        ok(&mut ac, "PSET", (KEY, &t, "device", format!("d{i}")));
        tokens.push(t);
    }
    let _: () = cmd("DEBUG")
        .arg("SLOTMIGRATION")
        .arg("PREVENT-PAUSE")
        .arg(1)
        .query(&mut ac)
        .unwrap();
    let reply: String = cmd("CLUSTER")
        .arg("MIGRATESLOTS")
        .arg("SLOTSRANGE")
        .arg(slot)
        .arg(slot)
        .arg("NODE")
        .arg(&b.id)
        .query(&mut ac)
        .unwrap_or_else(|e| panic!("MIGRATESLOTS refused: {}", error_text(&e)));
    assert_eq!(reply, "OK");
    wait_state(&cluster, a, "waiting-to-pause");
    cluster.wait("B to hold the owner's index and sessions", || {
        count_keys(b, &[slot]) == 6
    });
    // A still owns the slot: no owner command there is refused, and what they write reaches B.
    assert_eq!(sessions_of(&mut ac).len(), 5);
    tokens.push(start_for(&mut ac, KEY, &owner, 600));
    let id = v2_parts(KEY, &tokens[0]).unwrap().1;
    let n: i64 = cmd("SESSIONGATE.REVOKE")
        .arg(KEY)
        .arg(&owner)
        .arg(&id)
        .query(&mut ac)
        .unwrap();
    assert_eq!(n, 1);
    let on_a = sessions_of(&mut ac);
    assert_eq!(on_a.len(), 5);
    cluster.wait("B to follow A's owner writes", || {
        count_keys(b, &[slot]) == count_keys(a, &[slot])
    });
    let _: () = cmd("DEBUG")
        .arg("SLOTMIGRATION")
        .arg("PREVENT-PAUSE")
        .arg(0)
        .query(&mut ac)
        .unwrap();
    wait_state(&cluster, a, "success");
    cluster.wait_owner(slot, b);
    let mut bc = b.conn();
    assert_eq!(sessions_of(&mut bc), on_a);
    for (i, t) in tokens.iter().enumerate().take(5).skip(1) {
        let v = pget(&mut bc, (KEY, t, "device"));
        assert_eq!(v, format!("d{i}").into_bytes());
    }
    let left: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&tokens[5])
        .query(&mut bc)
        .unwrap();
    assert!(left > 0);
    let n: i64 = cmd("SESSIONGATE.REVOKE")
        .arg(KEY)
        .arg(&owner)
        .query(&mut bc)
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(count_keys(b, &[slot]), 0);
    cluster.wait("A to drop the moved keys", || count_keys(a, &[slot]) == 0);
    cluster.check();
}
