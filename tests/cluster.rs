//! Redis Cluster and read replicas (DESIGN §4), on real clusters built on loopback and driven by
//! a real cluster client (`redis` with its `cluster` feature).
//!
//! Token commands are routed by their token (argv[2]): `redis-rs` routes commands it does not
//! know by their first argument, so the tests route them with `route_command` and the token's
//! slot, as an application using that crate would.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use redis::cluster::ClusterConnection;
use redis::cluster_routing::SlotAddr;
use redis::Value;

const NO_SLOTS: &str =
    "ERR this cluster node serves no hash slot: send SESSIONGATE.START to a primary that serves slots";
fn pget(c: &mut ClusterConnection, token: &[u8], name: &str) -> redis::RedisResult<Vec<u8>> {
    routed(
        c,
        cmd("SESSIONGATE.PGET").arg(KEY).arg(token).arg(name),
        token,
    )
    .and_then(|v| redis::from_redis_value(&v))
}

fn start_err(c: &mut redis::Connection) -> String {
    err(c, cmd("SESSIONGATE.START").arg(KEY).arg(600))
}

#[test]
fn sessions_live_in_the_slots_of_the_node_that_started_them() {
    let cluster = Cluster::new(0, 0);
    let primaries = &cluster.nodes[..3];

    // START on every primary: the token's slot (CRC16, and CLUSTER KEYSLOT agrees) is one the
    // issuing node serves.
    let mut tokens = vec![];
    for node in primaries {
        let owned = node.owned_slots();
        assert!(owned.len() > 5000, "{}", owned.len());
        let mut c = node.conn();
        for _ in 0..100 {
            let t = start(&mut c, KEY, 600);
            let slot = slot_of(&t);
            assert_eq!(keyslot(&mut c, &t), slot);
            assert!(
                owned.contains(&slot),
                "node {} issued slot {slot}",
                node.port()
            );
            tokens.push(t);
        }
    }
    assert_eq!(cluster.assert_keys_filed(), tokens.len());

    // Hundreds of sessions driven through the cluster client, every command routed by token.
    let before: u64 = primaries.iter().map(redirections).sum();
    let mut cc = cluster.client(false);
    for node in primaries {
        let mut c = node.conn();
        for _ in 0..100 {
            tokens.push(start(&mut c, KEY, 600));
        }
    }
    for (i, t) in tokens.iter().enumerate() {
        pset(&mut cc, t, "user", format!("u{i}").as_bytes());
        pset(&mut cc, t, "cart", b"\x00\xffbinary");
    }
    assert_eq!(cluster.assert_keys_filed(), tokens.len());
    let mut live = vec![];
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(
            pget(&mut cc, t, "user").unwrap(),
            format!("u{i}").as_bytes()
        );
        let pdel = cmd("SESSIONGATE.PDEL").arg(KEY).arg(t).arg("cart").clone();
        assert_eq!(routed(&mut cc, &pdel, t).unwrap(), Value::Okay);
        let e = pget(&mut cc, t, "cart").unwrap_err();
        assert_eq!(
            error_text(&e),
            "the requested <payload_name> does not exist"
        );
        match i % 3 {
            0 => {
                let end = cmd("SESSIONGATE.END").arg(KEY).arg(t).clone();
                assert_eq!(routed(&mut cc, &end, t).unwrap(), Value::Okay);
                let e = pget(&mut cc, t, "user").unwrap_err();
                assert_eq!(error_text(&e), NO_SESSION);
            }
            1 => {
                let exp = cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(t).arg(5000).clone();
                assert_eq!(routed(&mut cc, &exp, t).unwrap(), Value::Okay);
                live.push((t.clone(), 5000));
            }
            _ => live.push((t.clone(), 600)),
        }
    }
    assert_eq!(cluster.assert_keys_filed(), live.len());
    let after: u64 = primaries.iter().map(redirections).sum();
    assert_eq!(after, before, "a token command was redirected (MOVED/ASK)");

    // Every session key lies in a slot its node owns, and the ones left are exactly the live
    // sessions, with their TTLs.
    let mut keys_seen = 0;
    for node in primaries {
        let owned = node.owned_slots();
        let mut c = node.conn();
        for k in keys(&mut c) {
            assert!(
                owned.contains(&keyslot(&mut c, &k)),
                "{k:?} on the wrong node"
            );
            keys_seen += 1;
        }
    }
    assert_eq!(keys_seen, live.len());
    for (t, ttl) in &live {
        let node = cluster.node_by_port(slot_owners(&mut primaries[0].conn())[&slot_of(t)]);
        let mut c = node.conn();
        let k = session_key_of(&mut c, t);
        assert_eq!(keyslot(&mut c, &k), slot_of(t));
        let left: i64 = cmd("TTL").arg(&k).query(&mut c).unwrap();
        assert!(left > ttl - 60 && left <= *ttl, "{left} vs {ttl}");
    }

    // A client that routes by the first argument (the sign key) still gets there, by MOVED;
    // the count of redirections moves then, so its standing still above meant something.
    let owners = slot_owners(&mut primaries[0].conn());
    let (elsewhere, _) = live
        .iter()
        .find(|(t, _)| owners[&slot_of(t)] != owners[&slot_of(KEY)])
        .unwrap();
    let v: Vec<u8> = cmd("SESSIONGATE.PGET")
        .arg(KEY)
        .arg(elsewhere)
        .arg("user")
        .query(&mut cc)
        .unwrap();
    assert!(v.starts_with(b"u"));
    let moved: u64 = primaries.iter().map(redirections).sum();
    assert!(
        moved > after,
        "MOVED is not counted: the check above proves nothing"
    );

    cluster.check();

    // A standalone data set moves into the cluster with `redis-cli --cluster import`: each key
    // lands in its slot tag's slot, which is its token's, so the old tokens keep working.
    let standalone = Server::start();
    let mut sc = standalone.conn();
    let old: Vec<Vec<u8>> = (0..50).map(|_| start(&mut sc, KEY, 600)).collect();
    for t in &old {
        let _: () = cmd("SESSIONGATE.PSET")
            .arg(KEY)
            .arg(t)
            .arg("user")
            .arg(&t[3..19])
            .query(&mut sc)
            .unwrap();
    }
    let out = Command::new(redis_cli())
        .args([
            "--cluster",
            "import",
            &format!("127.0.0.1:{}", primaries[0].port()),
        ])
        .args(["--cluster-from", &format!("127.0.0.1:{}", standalone.port)])
        .args(["--cluster-copy", "--cluster-replace"])
        .output()
        .expect("run redis-cli --cluster import");
    assert!(
        out.status.success(),
        "import failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for t in &old {
        assert_eq!(pget(&mut cc, t, "user").unwrap(), &t[3..19]);
        let exp = cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(t).arg(60).clone();
        assert_eq!(routed(&mut cc, &exp, t).unwrap(), Value::Okay);
    }
    assert_eq!(cluster.assert_keys_filed(), live.len() + old.len());
    cluster.check();
}

#[test]
fn resharding_keeps_sessions_and_start_follows_ownership() {
    let cluster = Cluster::new(0, 1);
    let (a, b, c, d) = (
        &cluster.nodes[0],
        &cluster.nodes[1],
        &cluster.nodes[2],
        &cluster.nodes[3],
    );
    let mut cc = cluster.client(false);

    // A primary holding no slot refuses START clearly.
    assert_eq!(start_err(&mut d.conn()), NO_SLOTS);

    // Give D four (empty) slots of A: START on D issues only tokens of those slots, as soon as
    // D reads its slots again (a node serving none does so at most every 100 ms).
    let moved: Vec<u16> = a.owned_slots().into_iter().take(4).collect();
    for &s in &moved {
        begin_migration(s, a, d);
        finish_migration(&cluster, s, a, d);
    }
    let mut on_d: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    {
        let mut dc = d.conn();
        let mut first = None;
        cluster.wait("D to use the slots it gained", || {
            let r = cmd("SESSIONGATE.START")
                .arg(KEY)
                .arg(600)
                .query::<Vec<u8>>(&mut dc);
            match r {
                Ok(t) => first = Some(t),
                Err(e) => assert_eq!(error_text(&e), NO_SLOTS),
            }
            first.is_some()
        });
        let first = first.unwrap();
        assert!(
            moved.contains(&slot_of(&first)),
            "D issued slot {}",
            slot_of(&first)
        );
        on_d.entry(slot_of(&first)).or_default().push(first);
        for _ in 1..160 {
            let t = start(&mut dc, KEY, 600);
            assert!(
                moved.contains(&slot_of(&t)),
                "D issued slot {}",
                slot_of(&t)
            );
            on_d.entry(slot_of(&t)).or_default().push(t);
        }
        let mut ac = a.conn();
        for _ in 0..100 {
            let t = start(&mut ac, KEY, 600);
            assert!(
                !moved.contains(&slot_of(&t)),
                "A issued a slot it gave away"
            );
        }
    }
    for ts in on_d.values() {
        for t in ts {
            pset(&mut cc, t, "user", &t[3..19]);
        }
    }
    assert_eq!(cluster.assert_keys_filed(), 260);

    // Hold the fullest slot half-migrated from D to B.
    let (&s1, _) = on_d.iter().max_by_key(|(_, ts)| ts.len()).unwrap();
    let in_s1 = on_d[&s1].clone();
    assert!(in_s1.len() >= 10, "{}", in_s1.len());
    begin_migration(s1, d, b);
    let (moved_first, stay): (Vec<_>, Vec<_>) =
        in_s1.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let moved_first: Vec<Vec<u8>> = moved_first.into_iter().map(|(_, t)| t.clone()).collect();
    let stay: Vec<Vec<u8>> = stay.into_iter().map(|(_, t)| t.clone()).collect();
    let moved_keys: Vec<Vec<u8>> = moved_first
        .iter()
        .map(|t| session_key_of(&mut d.conn(), t))
        .collect();
    migrate_keys(d, b, &moved_keys);
    assert_eq!(cluster.assert_keys_filed(), 260);

    // What the servers answer, command by command: the source sends every token of the slot
    // to the importing node (-ASK, as the token is never a key), which answers -TRYAGAIN for a
    // session that has not arrived and serves the ones that have.
    {
        let mut bc = b.conn();
        let mut dc = d.conn();
        let get = |t: &[u8]| cmd("SESSIONGATE.PGET").arg(KEY).arg(t).arg("user").clone();
        let counted = module_counter(b, "rejected_tryagain");
        for t in &stay {
            let _: () = cmd("ASKING").query(&mut bc).unwrap();
            assert_eq!(err(&mut bc, &get(t)), TRY_AGAIN);
            let e = err(&mut dc, &get(t));
            assert!(e.starts_with(&format!("ASK {s1} ")), "{e}");
        }
        assert_eq!(
            module_counter(b, "rejected_tryagain"),
            counted + stay.len() as u64,
            "INFO sessiongate counts each TRYAGAIN"
        );
        for t in &moved_first {
            let _: () = cmd("ASKING").query(&mut bc).unwrap();
            let v: Vec<u8> = get(t).query(&mut bc).unwrap();
            assert_eq!(v, &t[3..19]);
        }
        // While s1 migrates, START on D never issues it (the slot is no longer D's to fill).
        for _ in 0..100 {
            let t = start(&mut dc, KEY, 600);
            assert!(moved.contains(&slot_of(&t)) && slot_of(&t) != s1);
            ok(&mut dc, "END", (KEY, &t));
        }
    }
    assert_eq!(cluster.assert_keys_filed(), 260);

    // A cluster client reads every session of the slot while the rest of the migration
    // completes in the background: no live session ever answers "does not exist".
    let tryagain_before = error_count(b, "TRYAGAIN");
    let (go, wait_go) = mpsc::channel::<()>();
    let cl = &cluster;
    let surfaced = std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            wait_go.recv().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            finish_migration(cl, s1, d, b);
        });
        go.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut surfaced_tryagain = 0;
        for t in stay.iter().chain(moved_first.iter()) {
            loop {
                match pget(&mut cc, t, "user") {
                    Ok(v) => {
                        assert_eq!(v, &t[3..19]);
                        break;
                    }
                    Err(e) => {
                        let text = error_text(&e);
                        assert!(
                            !text.contains("does not exist"),
                            "a moving session was lost: {text}"
                        );
                        // The client gave up retrying before the migration ended; so would an
                        // application's retry loop.
                        assert!(text.contains("TRYAGAIN"), "{text}");
                        assert!(Instant::now() < deadline, "migration never completed");
                        surfaced_tryagain += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
        handle.join().unwrap();
        surfaced_tryagain
    });
    eprintln!("TRYAGAIN errors that outlasted the client's retries: {surfaced}");
    assert!(
        error_count(b, "TRYAGAIN") > tryagain_before,
        "the client never met a session in transit"
    );
    // Every TRYAGAIN the node answered was the module's, and counted.
    assert_eq!(
        module_counter(b, "rejected_tryagain"),
        error_count(b, "TRYAGAIN")
    );

    // After the move: every session of D's former slots works through the client, the moved
    // slot's sessions live on B, and START on D no longer issues s1.
    for ts in on_d.values() {
        for t in ts {
            assert_eq!(pget(&mut cc, t, "user").unwrap(), &t[3..19]);
            pset(&mut cc, t, "after", b"1");
        }
    }
    assert_eq!(cluster.assert_keys_filed(), 260);
    let on_b: HashSet<Vec<u8>> = keys_in_slot(b, s1).into_iter().collect();
    assert_eq!(on_b.len(), in_s1.len());
    assert!(keys_in_slot(d, s1).is_empty());
    {
        let mut dc = d.conn();
        for _ in 0..100 {
            let t = start(&mut dc, KEY, 600);
            assert!(moved.contains(&slot_of(&t)) && slot_of(&t) != s1);
            ok(&mut dc, "END", (KEY, &t));
        }
    }

    // Move D's last slots away with redis-cli's own resharding: the sessions follow, and D
    // is back to refusing START. (A primary that loses its last slot turns into a replica of
    // the node that took it, unless told not to where the server has that option.)
    let allow: redis::RedisResult<()> = cmd("CONFIG")
        .arg("SET")
        .arg("cluster-allow-replica-migration")
        .arg("no")
        .query(&mut d.conn());
    let stays_primary = allow.is_ok();
    let out = Command::new(redis_cli())
        .args(["--cluster", "reshard", &format!("127.0.0.1:{}", d.port())])
        .args(["--cluster-from", &d.id, "--cluster-to", &c.id])
        .args(["--cluster-slots", "3", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "reshard failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for &s in moved.iter().filter(|&&s| s != s1) {
        cluster.wait_owner(s, c);
    }
    let role: Vec<Value> = cmd("ROLE").query(&mut d.conn()).unwrap();
    if stays_primary {
        assert_eq!(role[0], Value::BulkString(b"master".to_vec()));
    }
    if role[0] == Value::BulkString(b"master".to_vec()) {
        assert_eq!(start_err(&mut d.conn()), NO_SLOTS);
    } else {
        assert!(start_err(&mut d.conn()).starts_with("READONLY "));
    }
    for ts in on_d.values() {
        for t in ts {
            assert_eq!(pget(&mut cc, t, "after").unwrap(), b"1");
        }
    }
    assert!(keys(&mut d.conn()).is_empty());
    assert_eq!(cluster.assert_keys_filed(), 260);
    cluster.check();
}

#[test]
fn replicas_serve_pget_and_refuse_writes() {
    let cluster = Cluster::new(1, 0);
    let (primary, replica) = (&cluster.nodes[0], &cluster.nodes[3]);
    let mut cc = cluster.client(true);
    let mut pc = primary.conn();
    let tokens: Vec<Vec<u8>> = (0..50).map(|_| start(&mut pc, KEY, 600)).collect();
    for t in &tokens {
        pset(&mut cc, t, "user", &t[3..19]);
    }
    let ended = tokens[0].clone();
    let _: () = cmd("SESSIONGATE.END")
        .arg(KEY)
        .arg(&ended)
        .query(&mut pc)
        .unwrap();
    let acked: i64 = cmd("WAIT").arg(1).arg(10000).query(&mut pc).unwrap();
    assert_eq!(acked, 1);
    assert_eq!(cluster.assert_keys_filed(), tokens.len() - 1);

    // A READONLY connection to the replica reads sessions; writes are refused as Redis refuses
    // them there (redirected to the primary), and a session that ended is simply gone.
    let mut rc = replica.conn();
    let get = |t: &[u8]| cmd("SESSIONGATE.PGET").arg(KEY).arg(t).arg("user").clone();
    let e = err(&mut rc, &get(&tokens[1]));
    assert!(e.starts_with("MOVED "), "without READONLY: {e}");
    let _: () = cmd("READONLY").query(&mut rc).unwrap();
    for t in &tokens[1..] {
        let v: Vec<u8> = get(t).query(&mut rc).unwrap();
        assert_eq!(v, &t[3..19]);
    }
    assert_eq!(err(&mut rc, &get(&ended)), NO_SESSION);
    let moved = format!("MOVED {} 127.0.0.1:{}", slot_of(&tokens[1]), primary.port());
    for w in [
        cmd("SESSIONGATE.PSET")
            .arg(KEY)
            .arg(&tokens[1])
            .arg("user")
            .arg("x")
            .clone(),
        cmd("SESSIONGATE.PDEL")
            .arg(KEY)
            .arg(&tokens[1])
            .arg("user")
            .clone(),
        cmd("SESSIONGATE.EXPIRE")
            .arg(KEY)
            .arg(&tokens[1])
            .arg(1)
            .clone(),
        cmd("SESSIONGATE.END").arg(KEY).arg(&tokens[1]).clone(),
    ] {
        assert_eq!(err(&mut rc, &w), moved);
    }
    let e = start_err(&mut rc);
    assert!(e.starts_with("READONLY "), "START on a replica: {e}");
    let e = err(&mut rc, cmd("SESSIONGATE.RENEW").arg(KEY).arg(&tokens[1]));
    assert!(e.starts_with("READONLY "), "RENEW on a replica: {e}");
    let v: Vec<u8> = get(&tokens[1]).query(&mut rc).unwrap();
    assert_eq!(v, &tokens[1][3..19], "a refused write changed the replica");

    // The cluster client reading from replicas: PGET is served by the replica itself.
    let served_before = pget_calls(replica);
    for t in &tokens[1..] {
        let v = cc
            .route_command(&get(t), by_token(t, SlotAddr::ReplicaRequired))
            .unwrap();
        assert_eq!(redis::from_redis_value::<Vec<u8>>(&v).unwrap(), &t[3..19]);
    }
    assert_eq!(pget_calls(replica) - served_before, tokens.len() as u64 - 1);
}

fn pget_calls(node: &Node) -> u64 {
    node.info("commandstats")
        .lines()
        .find(|l| l.starts_with("cmdstat_sessiongate.pget:"))
        .and_then(|l| l.split("calls=").nth(1)?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}
