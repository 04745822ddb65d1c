//! RENEW and START in Redis Cluster (DESIGN §4, §7): RENEW keeps each session on its node and
//! does Redis' routing itself (MOVED, TRYAGAIN); START and RENEW refuse to run inside
//! MULTI/EXEC; scripts that declare a key may call them. After each step every key must be
//! found by name and counted in its own slot, which servers with per-slot tables (Redis 7.4+,
//! Valkey 8+) get wrong for a key written under another key's slot.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::cluster::*;
use common::*;
use redis::{ConnectionLike, Value};

const NEW_KEY: &[u8] = b"rotated-sign-key";
const BAD_SIG: &str = "the signature contained in <token> is invalid";
const START_IN_MULTI: &str = "ERR SESSIONGATE.START cannot run inside MULTI/EXEC in cluster mode";
const RENEW_IN_MULTI: &str = "ERR SESSIONGATE.RENEW cannot run inside MULTI/EXEC in cluster mode";

fn moved(token: &[u8], to: &Node) -> String {
    format!("MOVED {} 127.0.0.1:{}", slot_of(token), to.port())
}

/// `common::snapshot` of every node, where keys that arrived in a slot being imported are read
/// too (after `ASKING`).
fn cluster_snapshot(cluster: &Cluster) -> Vec<Snapshot> {
    let exact = server_version().0 >= (7, 0);
    cluster
        .nodes
        .iter()
        .map(|n| {
            let mut c = n.conn();
            let mut ks = keys(&mut c);
            ks.sort();
            ks.into_iter()
                .map(|k| {
                    let mut p = redis::pipe();
                    p.cmd("ASKING").ignore().cmd("HGETALL").arg(&k);
                    let (mut h,): (Vec<(Vec<u8>, Vec<u8>)>,) = p.query(&mut c).unwrap();
                    h.sort();
                    let at = exact.then(|| {
                        let mut p = redis::pipe();
                        p.cmd("ASKING").ignore().cmd("PEXPIRETIME").arg(&k);
                        p.query::<(i64,)>(&mut c).unwrap().0
                    });
                    (k, h, at)
                })
                .collect()
        })
        .collect()
}

/// `MULTI`, `cmds`, `EXEC` on one connection; EXEC's replies, errors included.
fn transaction(c: &mut redis::Connection, cmds: &[redis::Cmd]) -> Vec<Value> {
    let mut p = redis::pipe();
    p.cmd("MULTI");
    for command in cmds {
        p.add_command(command.clone());
    }
    p.cmd("EXEC");
    let replies = c
        .req_packed_commands(&p.get_packed_pipeline(), 0, cmds.len() + 2)
        .unwrap();
    match replies.last() {
        Some(Value::Array(r)) => r.clone(),
        other => panic!("EXEC answered {other:?} (all replies: {replies:?})"),
    }
}

fn error_of(v: &Value) -> String {
    match v {
        Value::ServerError(e) => match e.details() {
            Some(d) => format!("{} {d}", e.code()),
            None => e.code().to_string(),
        },
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn renew_keeps_each_session_on_its_node_and_routable_by_the_new_token() {
    let cluster = Cluster::new(0, 0);
    let primaries = &cluster.nodes[..3];
    let mut cc = cluster.client(false);
    let before: u64 = primaries.iter().map(redirections).sum();

    // token -> (its sign key, the user payload)
    let mut live: HashMap<Vec<u8>, (&[u8], Vec<u8>)> = HashMap::new();
    for node in primaries {
        let owned = node.owned_slots();
        let mut c = node.conn();
        for i in 0..24 {
            let t = if i % 2 == 0 {
                start(&mut c, KEY, 600)
            } else {
                start_capped(&mut c, KEY, 600, 3600)
            };
            let user = t[3..19].to_vec();
            pset(&mut cc, &t, "user", &user);
            pset(&mut cc, &t, "bin", b"\0\xff\r\n");
            // On the node itself, or through the cluster client routed by the old token; into
            // the same sign key or a new one.
            let new_key = (i % 3 == 0).then_some(NEW_KEY);
            let n: Vec<u8> = if i % 4 < 2 {
                renew(&mut c, KEY, &t, new_key)
            } else {
                let v = routed(&mut cc, &renew_cmd(KEY, &t, new_key), &t).unwrap();
                redis::from_redis_value(&v).unwrap()
            };
            assert!(token_shape_ok(&n));
            assert!(
                owned.contains(&slot_of(&n)),
                "node {} renewed into slot {}",
                node.port(),
                slot_of(&n)
            );
            let key = new_key.unwrap_or(KEY);
            let mut get = |tok: &[u8], name: &str| {
                routed(
                    &mut cc,
                    cmd("SESSIONGATE.PGET").arg(key).arg(tok).arg(name),
                    tok,
                )
            };
            let v = get(&n, "user").unwrap();
            assert_eq!(redis::from_redis_value::<Vec<u8>>(&v).unwrap(), user);
            let v = get(&n, "bin").unwrap();
            assert_eq!(
                redis::from_redis_value::<Vec<u8>>(&v).unwrap(),
                b"\0\xff\r\n"
            );
            let gone = routed(
                &mut cc,
                cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("user"),
                &t,
            )
            .unwrap_err();
            assert_eq!(error_text(&gone), NO_SESSION);
            live.insert(n, (key, user));
        }
    }
    let after: u64 = primaries.iter().map(redirections).sum();
    assert_eq!(after, before, "a RENEW or token command was redirected");
    assert_eq!(cluster.assert_keys_filed(), live.len());

    // RENEW sent to a node that does not serve the token's slot: the MOVED Redis would send,
    // and nothing changes. The order of checks holds: a bad signature is answered first, and
    // a session that does not exist anywhere is still redirected.
    let owners = slot_owners(&mut primaries[0].conn());
    let snap = cluster_snapshot(&cluster);
    for (t, (key, _)) in &live {
        let owner = cluster.node_by_port(owners[&slot_of(t)]);
        for other in primaries.iter().filter(|n| n.port() != owner.port()) {
            let mut oc = other.conn();
            assert_eq!(err(&mut oc, &renew_cmd(key, t, None)), moved(t, owner));
            assert_eq!(err(&mut oc, &renew_cmd(key, t, Some(KEY))), moved(t, owner));
            assert_eq!(err(&mut oc, &renew_cmd(b"wrong", t, None)), BAD_SIG);
        }
    }
    let never = format!("v1.AAAAAAAAAAAAAAAA.{}", sign_hex(KEY, b"AAAAAAAAAAAAAAAA"));
    let owner = cluster.node_by_port(owners[&slot_of(never.as_bytes())]);
    for n in primaries {
        let e = err(&mut n.conn(), &renew_cmd(KEY, never.as_bytes(), None));
        if n.port() == owner.port() {
            assert_eq!(e, NO_SESSION);
        } else {
            assert_eq!(e, moved(never.as_bytes(), owner));
        }
    }
    assert_eq!(
        cluster_snapshot(&cluster),
        snap,
        "a redirected RENEW changed data"
    );

    // A cluster client that routes RENEW by its first argument (the sign key) follows the
    // MOVED and gets the new token.
    let moved_before: u64 = primaries.iter().map(redirections).sum();
    let mut renewed = HashMap::new();
    for (t, (key, user)) in live.drain() {
        let n: Vec<u8> = renew_cmd(key, &t, None).query(&mut cc).unwrap();
        renewed.insert(n, (key, user));
    }
    assert!(
        primaries.iter().map(redirections).sum::<u64>() > moved_before,
        "no RENEW was redirected: the check proves nothing"
    );
    for (n, (key, user)) in &renewed {
        let v = routed(
            &mut cc,
            cmd("SESSIONGATE.PGET").arg(*key).arg(n).arg("user"),
            n,
        )
        .unwrap();
        assert_eq!(redis::from_redis_value::<Vec<u8>>(&v).unwrap(), *user);
    }
    assert_eq!(cluster.assert_keys_filed(), renewed.len());
    cluster.check();
}

#[test]
fn renew_in_a_migrating_slot_redirects_as_redis_does_and_loses_nothing() {
    let cluster = Cluster::new(0, 1);
    let (a, b, d) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[3]);
    let mut cc = cluster.client(false);

    // D serves two slots of A; START on D fills them.
    let given: Vec<u16> = a.owned_slots().into_iter().take(2).collect();
    for &s in &given {
        begin_migration(s, a, d);
        finish_migration(&cluster, s, a, d);
    }
    let mut by_slot: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    {
        let mut dc = d.conn();
        for _ in 0..40 {
            let t = start(&mut dc, KEY, 600);
            pset(&mut cc, &t, "user", &t[3..19]);
            by_slot.entry(slot_of(&t)).or_default().push(t);
        }
    }
    let (&s1, in_s1) = by_slot.iter().max_by_key(|(_, ts)| ts.len()).unwrap();
    let in_s1 = in_s1.clone();
    assert!(in_s1.len() >= 8, "{}", in_s1.len());
    let s2 = *given.iter().find(|&&s| s != s1).unwrap();

    // Half of s1's sessions go over to B; the slot stays migrating.
    begin_migration(s1, d, b);
    let (gone, stay): (Vec<_>, Vec<_>) = in_s1
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let gone: Vec<Vec<u8>> = gone.into_iter().map(|(_, t)| t).collect();
    let stay: Vec<Vec<u8>> = stay.into_iter().map(|(_, t)| t).collect();
    let gone_keys: Vec<Vec<u8>> = gone
        .iter()
        .map(|t| session_key_of(&mut d.conn(), t))
        .collect();
    migrate_keys(d, b, &gone_keys);
    assert_eq!(cluster.assert_keys_filed(), 40);

    // Where the session is not, RENEW answers what Redis answers for a command whose key is
    // the token (GET <token> on the same node): ASK from the source, MOVED to the source from
    // the importing node without ASKING; after ASKING there, TRYAGAIN (it may be in transit).
    // Nothing changes.
    let snap = cluster_snapshot(&cluster);
    let (mut bc, mut dc) = (b.conn(), d.conn());
    for t in &gone {
        let redis_says = err(&mut dc, cmd("GET").arg(t));
        assert!(
            redis_says.starts_with(&format!("ASK {s1} ")),
            "{redis_says}"
        );
        assert_eq!(err(&mut dc, &renew_cmd(KEY, t, None)), redis_says);
        assert_eq!(err(&mut dc, &renew_cmd(KEY, t, Some(NEW_KEY))), redis_says);
    }
    for t in &stay {
        let redis_says = err(&mut bc, cmd("GET").arg(t));
        assert_eq!(redis_says, moved(t, d));
        assert_eq!(err(&mut bc, &renew_cmd(KEY, t, None)), redis_says);
        let _: () = cmd("ASKING").query(&mut bc).unwrap();
        assert_eq!(err(&mut bc, &renew_cmd(KEY, t, Some(NEW_KEY))), TRY_AGAIN);
    }
    assert_eq!(
        cluster_snapshot(&cluster),
        snap,
        "a refused RENEW changed data"
    );

    // Where the session is, RENEW works, into a stable slot of that node: on D only s2 (s1 is
    // leaving), on B one of its own.
    let mut live: Vec<Vec<u8>> = by_slot
        .iter()
        .filter(|(s, _)| **s != s1)
        .flat_map(|(_, ts)| ts.clone())
        .collect();
    let b_owned = b.owned_slots();
    for (i, t) in stay.iter().enumerate() {
        if i % 2 == 0 {
            let n = renew(&mut dc, KEY, t, None);
            assert_eq!(slot_of(&n), s2);
            live.push(n);
        } else {
            live.push(t.clone());
        }
    }
    for (i, t) in gone.iter().enumerate() {
        if i % 2 == 0 {
            // The importing node runs a command of the slot only after ASKING, even for a key
            // it holds; without, Redis (and RENEW) send the client to the source.
            assert_eq!(err(&mut bc, &renew_cmd(KEY, t, None)), moved(t, d));
            let _: () = cmd("ASKING").query(&mut bc).unwrap();
            let n = renew(&mut bc, KEY, t, None);
            assert!(b_owned.contains(&slot_of(&n)) && slot_of(&n) != s1);
            live.push(n);
        } else {
            live.push(t.clone());
        }
    }
    assert_eq!(cluster.assert_keys_filed(), 40);

    // The migration ends: D now redirects RENEW of s1 to B, and every session is there once.
    // D trusts its cached view for up to a second (cluster-cache-ms): until it reads the
    // topology again it still sends the client to B with ASK, then, as Redis, with MOVED.
    finish_migration(&cluster, s1, d, b);
    let left_in_s1: Vec<&Vec<u8>> = live.iter().filter(|t| slot_of(t) == s1).collect();
    assert!(!left_in_s1.is_empty());
    cluster.wait("D to redirect RENEW of the moved slot with MOVED", || {
        let e = err(&mut dc, &renew_cmd(KEY, left_in_s1[0], None));
        let ask = moved(left_in_s1[0], b).replacen("MOVED", "ASK", 1);
        assert!(e == ask || e == moved(left_in_s1[0], b), "{e}");
        e.starts_with("MOVED")
    });
    for t in &left_in_s1 {
        assert_eq!(err(&mut dc, &renew_cmd(KEY, t, None)), moved(t, b));
        assert_eq!(err(&mut dc, cmd("GET").arg(*t)), moved(t, b));
    }
    let t = left_in_s1[0].clone();
    let v = routed(&mut cc, &renew_cmd(KEY, &t, None), &t).unwrap();
    let n: Vec<u8> = redis::from_redis_value(&v).unwrap();
    live.retain(|x| *x != t);
    live.push(n);
    assert_eq!(live.len(), 40);
    for t in &live {
        let v = routed(
            &mut cc,
            cmd("SESSIONGATE.PGET").arg(KEY).arg(t).arg("user"),
            t,
        )
        .unwrap();
        assert_eq!(redis::from_redis_value::<Vec<u8>>(&v).unwrap().len(), 16);
    }
    assert_eq!(
        cluster.assert_keys_filed(),
        40,
        "a session was lost or duplicated"
    );
    cluster.check();
}

#[test]
fn start_and_renew_refuse_to_run_inside_multi_exec() {
    let cluster = Cluster::new(0, 0);
    let node = &cluster.nodes[0];
    let mut c = node.conn();
    let t = start(&mut c, KEY, 600);
    ok(&mut c, "PSET", (KEY, &t, "user", "u"));
    let snap = cluster_snapshot(&cluster);

    // A transaction that reads a session, then starts and renews one.
    let r = transaction(
        &mut c,
        &[
            cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("user").clone(),
            cmd("SESSIONGATE.START").arg(KEY).arg(300).clone(),
            cmd("SESSIONGATE.START").arg(KEY).arg(300).arg(600).clone(),
            renew_cmd(KEY, &t, None),
            renew_cmd(KEY, &t, Some(NEW_KEY)),
        ],
    );
    assert_eq!(r[0], Value::BulkString(b"u".to_vec()));
    assert_eq!(error_of(&r[1]), START_IN_MULTI);
    assert_eq!(error_of(&r[2]), START_IN_MULTI);
    assert_eq!(error_of(&r[3]), RENEW_IN_MULTI);
    assert_eq!(error_of(&r[4]), RENEW_IN_MULTI);
    // Keyless transactions too, and the refusal comes before any argument check.
    let r = transaction(
        &mut c,
        &[
            cmd("SESSIONGATE.START").arg("").arg("x").clone(),
            renew_cmd(KEY, b"bad", None),
        ],
    );
    assert_eq!(error_of(&r[0]), START_IN_MULTI);
    assert_eq!(error_of(&r[1]), RENEW_IN_MULTI);
    assert_eq!(cluster_snapshot(&cluster), snap);

    // A login written as one transaction: the old session ends, the new one is refused.
    let r = transaction(
        &mut c,
        &[
            cmd("SESSIONGATE.END").arg(KEY).arg(&t).clone(),
            cmd("SESSIONGATE.START").arg(KEY).arg(300).clone(),
        ],
    );
    assert_eq!(r[0], Value::Okay);
    assert_eq!(error_of(&r[1]), START_IN_MULTI);
    assert_eq!(cluster.assert_keys_filed(), 0);

    // Outside the transaction both work on the same connection.
    let t = start(&mut c, KEY, 600);
    let n = renew(&mut c, KEY, &t, None);
    assert!(token_shape_ok(&n));
    assert_eq!(cluster.assert_keys_filed(), 1);
}

#[test]
fn scripts_that_declare_a_key_may_start_and_renew() {
    let cluster = Cluster::new(0, 0);
    let primaries = &cluster.nodes[..3];
    let mut cc = cluster.client(false);
    let functions = server_version().0 >= (7, 0);
    let library = "#!lua name=sessiongate_test\n\
        redis.register_function('sg_start', function(keys, args) \
          return redis.call('SESSIONGATE.START', args[1], args[2], args[3]) end)\n\
        redis.register_function('sg_renew', function(keys, args) \
          return redis.call('SESSIONGATE.RENEW', args[1], keys[1]) end)";
    let start_script = "redis.call('GET', KEYS[1]); \
        return redis.call('SESSIONGATE.START', ARGV[1], ARGV[2], ARGV[3])";
    let renew_script = "return redis.call('SESSIONGATE.RENEW', ARGV[1], KEYS[1])";
    let mut live = vec![];
    for node in primaries {
        let owned = node.owned_slots();
        let mut c = node.conn();
        if functions {
            let _: String = cmd("FUNCTION")
                .arg("LOAD")
                .arg(library)
                .query(&mut c)
                .unwrap();
        }
        // Keys of slots this node serves, for the scripts to declare.
        let declared: Vec<String> = (0..)
            .map(|i| format!("declared-{i}"))
            .filter(|k| owned.contains(&(crc16(k.as_bytes()) % 16384)))
            .take(4)
            .collect();
        for k in &declared {
            let t: Vec<u8> = cmd("EVAL")
                .arg(start_script)
                .arg(1)
                .arg(k)
                .arg(KEY)
                .arg(600)
                .arg(3600)
                .query(&mut c)
                .unwrap();
            assert!(owned.contains(&slot_of(&t)));
            let n: Vec<u8> = cmd("EVAL")
                .arg(renew_script)
                .arg(1)
                .arg(&t)
                .arg(KEY)
                .query(&mut c)
                .unwrap();
            assert!(owned.contains(&slot_of(&n)));
            live.push(n);
            if functions {
                let t: Vec<u8> = cmd("FCALL")
                    .arg("sg_start")
                    .arg(1)
                    .arg(k)
                    .arg(KEY)
                    .arg(600)
                    .arg(3600)
                    .query(&mut c)
                    .unwrap();
                let n: Vec<u8> = cmd("FCALL")
                    .arg("sg_renew")
                    .arg(1)
                    .arg(&t)
                    .arg(KEY)
                    .query(&mut c)
                    .unwrap();
                live.push(n);
            }
        }
    }
    assert_eq!(cluster.assert_keys_filed(), live.len());
    for t in &live {
        let v = routed(&mut cc, cmd("SESSIONGATE.TTL").arg(KEY).arg(t), t).unwrap();
        let left: i64 = redis::from_redis_value(&v).unwrap();
        assert!((1..=600).contains(&left), "{left}");
    }
}

#[test]
fn scripts_that_declare_no_key_start_and_renew_and_none_runs_inside_multi() {
    let cluster = Cluster::new(0, 0);
    let primaries = &cluster.nodes[..3];
    let mut cc = cluster.client(false);
    let start_script = "return redis.call('SESSIONGATE.START', ARGV[1], ARGV[2])";
    let renew_script = "return redis.call('SESSIONGATE.RENEW', ARGV[1], ARGV[2])";
    let eval = |script: &str, args: &[&[u8]]| {
        let mut e = cmd("EVAL");
        e.arg(script).arg(0);
        for a in args {
            e.arg(*a);
        }
        e
    };
    let mut live = vec![];
    for node in primaries {
        let owned = node.owned_slots();
        let mut c = node.conn();
        for _ in 0..4 {
            let t: Vec<u8> = eval(start_script, &[KEY, b"600"]).query(&mut c).unwrap();
            assert!(owned.contains(&slot_of(&t)));
            let n: Vec<u8> = eval(renew_script, &[KEY, &t]).query(&mut c).unwrap();
            assert!(owned.contains(&slot_of(&n)));
            live.push(n);
        }
        // The same scripts inside MULTI/EXEC are refused (the transaction would file the new
        // key under another slot's table on a per-slot-table server), and change nothing.
        let keys_before = cluster.assert_keys_filed();
        let old = live.last().unwrap().clone();
        let r = transaction(
            &mut c,
            &[
                eval(start_script, &[KEY, b"600"]),
                eval(renew_script, &[KEY, &old]),
            ],
        );
        assert!(error_of(&r[0]).contains(START_IN_MULTI), "{:?}", r[0]);
        assert!(error_of(&r[1]).contains(RENEW_IN_MULTI), "{:?}", r[1]);
        assert_eq!(cluster.assert_keys_filed(), keys_before);
    }
    // Every new key is found by name and counted in its own slot, and every session works.
    assert_eq!(cluster.assert_keys_filed(), live.len());
    for t in &live {
        let v = routed(&mut cc, cmd("SESSIONGATE.TTL").arg(KEY).arg(t), t).unwrap();
        let left: i64 = redis::from_redis_value(&v).unwrap();
        assert!((1..=600).contains(&left), "{left}");
    }
}
