//! Owners in Redis Cluster (DESIGN §1b, §7): the owner commands are routed by the owner like any
//! key command, and everything they and the owned token commands write stays in the owner's
//! slot, so they run in MULTI/EXEC and scripts, and on servers with per-slot tables every key
//! is found by name in its own slot. While the owner's slot moves by SETSLOT + MIGRATE, an
//! owner command that would see only part of the owner's data answers TRYAGAIN and prunes
//! nothing. (Valkey 9's atomic migration: cluster_atomic_migration.rs.)

mod common;

use std::collections::BTreeMap;

use common::cluster::*;
use common::*;
use redis::cluster::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

const OWNER_MOVING: &str = "TRYAGAIN the owner's hash slot is being migrated and not all of the owner's sessions are on this node";

fn by_owner(owner: &[u8]) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
        key_slot(owner),
        SlotAddr::Master,
    )))
}

fn owner_cmd(name: &str, owner: &[u8], rest: &[&[u8]]) -> redis::Cmd {
    let mut c = cmd(name);
    c.arg(KEY).arg(owner).arg(rest);
    c
}

/// An owner command sent through the cluster client to the primary of the owner's slot.
fn to_owner(cc: &mut ClusterConnection, name: &str, owner: &[u8], rest: &[&[u8]]) -> Value {
    cc.route_command(&owner_cmd(name, owner, rest), by_owner(owner))
        .unwrap_or_else(|e| panic!("{name}: {}", error_text(&e)))
}

fn bulk(v: Value) -> Vec<u8> {
    redis::from_redis_value(&v).unwrap()
}

fn listed_ids(v: &Value) -> Vec<Vec<u8>> {
    parse_sessions(v).into_iter().map(|e| e.0).collect()
}

fn index_len(node: &Node, owner: &[u8]) -> i64 {
    let mut p = redis::pipe();
    p.cmd("ASKING")
        .ignore()
        .cmd("ZCARD")
        .arg(index_key(KEY, owner));
    let (n,): (i64,) = p.query(&mut node.conn()).unwrap();
    n
}

/// `MULTI`, `cmds`, `EXEC` on one connection; EXEC's replies.
fn transaction(c: &mut redis::Connection, cmds: &[redis::Cmd]) -> Vec<Value> {
    use redis::ConnectionLike;
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

#[test]
fn owner_commands_stay_in_the_owners_slot_in_transactions_scripts_and_on_replicas() {
    let cluster = Cluster::new(1, 0);
    let primaries = &cluster.nodes[..3];
    let mut cc = cluster.client(false);
    let before: u64 = primaries.iter().map(redirections).sum();
    let owners: Vec<Vec<u8>> = (0..12).map(|i| format!("user-{i}").into_bytes()).collect();
    let mut tokens: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for owner in &owners {
        for _ in 0..3 {
            let t = bulk(to_owner(&mut cc, "SESSIONGATE.STARTFOR", owner, &[b"600"]));
            assert_eq!(key_slot(&t), key_slot(owner));
            pset(&mut cc, &t, "user", owner);
            tokens.entry(owner.clone()).or_default().push(t);
        }
        // RENEW, routed by the old token: the new one stays in the owner's slot.
        let old = tokens.get_mut(owner).unwrap().remove(0);
        let v = routed(&mut cc, &renew_cmd(KEY, &old, None), &old).unwrap();
        let n = bulk(v);
        assert_eq!(key_slot(&n), key_slot(owner));
        tokens.get_mut(owner).unwrap().push(n);
        let v = to_owner(&mut cc, "SESSIONGATE.SESSIONS", owner, &[b"user"]);
        assert_eq!(parse_sessions(&v).len(), 3);
        assert!(parse_sessions(&v)
            .iter()
            .all(|e| e.3 == vec![Some(owner.clone())]));
    }
    let spread: std::collections::HashSet<u16> = owners
        .iter()
        .map(|o| slot_owners(&mut primaries[0].conn())[&key_slot(o)])
        .collect();
    assert_eq!(spread.len(), 3, "the owners cover every primary");
    let after: u64 = primaries.iter().map(redirections).sum();
    assert_eq!(
        after, before,
        "an owner or owned token command was redirected"
    );
    assert_eq!(
        cluster.assert_keys_filed(),
        12 * 4,
        "3 sessions and an index per owner"
    );

    // A transaction on the owner's primary: owner commands and the owned tokens' commands
    // (all of one slot), none refused.
    let owner = owners[0].clone();
    let owners_node =
        cluster.node_by_port(slot_owners(&mut primaries[0].conn())[&key_slot(&owner)]);
    let mut c = owners_node.conn();
    let keep = tokens[&owner][0].clone();
    let r = transaction(
        &mut c,
        &[
            owner_cmd("SESSIONGATE.STARTFOR", &owner, &[b"600"]),
            owner_cmd("SESSIONGATE.STARTFOR", &owner, &[b"600", b"3600"]),
            cmd("SESSIONGATE.PSET")
                .arg(KEY)
                .arg(&keep)
                .arg("k")
                .arg("v")
                .clone(),
            owner_cmd("SESSIONGATE.SESSIONS", &owner, &[]),
            owner_cmd("SESSIONGATE.REVOKE", &owner, &[b"EXCEPT", &keep]),
            owner_cmd("SESSIONGATE.SESSIONS", &owner, &[b"k"]),
        ],
    );
    assert!(v2_parts(KEY, &bulk(r[0].clone())).is_some(), "{r:?}");
    assert!(v2_parts(KEY, &bulk(r[1].clone())).is_some(), "{r:?}");
    assert_eq!(r[2], Value::Okay);
    assert_eq!(parse_sessions(&r[3]).len(), 5);
    assert_eq!(r[4], Value::Int(4));
    let left = parse_sessions(&r[5]);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].3, vec![Some(b"v".to_vec())]);
    assert_eq!(cluster.assert_keys_filed(), 12 * 4 - 2);

    // A script that declares the owner: STARTFOR, SESSIONS, REVOKE.
    let script = "local t = redis.call('SESSIONGATE.STARTFOR', ARGV[1], KEYS[1], 600) \
        local n = #redis.call('SESSIONGATE.SESSIONS', ARGV[1], KEYS[1]) \
        local r = redis.call('SESSIONGATE.REVOKE', ARGV[1], KEYS[1], 'EXCEPT', t) \
        return {t, n, r}";
    for owner in &owners[1..4] {
        let node = cluster.node_by_port(slot_owners(&mut primaries[0].conn())[&key_slot(owner)]);
        let v: Vec<Value> = cmd("EVAL")
            .arg(script)
            .arg(1)
            .arg(owner)
            .arg(KEY)
            .query(&mut node.conn())
            .unwrap();
        let t = bulk(v[0].clone());
        assert_eq!(key_slot(&t), key_slot(owner));
        assert_eq!((&v[1], &v[2]), (&Value::Int(4), &Value::Int(3)));
    }
    assert_eq!(cluster.assert_keys_filed(), 12 * 4 - 2 - 3 * 2);

    // The replica of the first primary lists what its primary lists.
    let replica = &cluster.nodes[3];
    let mine: Vec<&Vec<u8>> = owners
        .iter()
        .filter(|o| primaries[0].owned_slots().contains(&key_slot(o)))
        .collect();
    assert!(!mine.is_empty());
    let _: i64 = cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(&mut primaries[0].conn())
        .unwrap();
    let mut rc = replica.conn();
    let _: () = cmd("READONLY").query(&mut rc).unwrap();
    for owner in mine {
        let on_replica: Value = owner_cmd("SESSIONGATE.SESSIONS", owner, &[b"user"])
            .query(&mut rc)
            .unwrap();
        let on_primary = to_owner(&mut cc, "SESSIONGATE.SESSIONS", owner, &[b"user"]);
        assert_eq!(parse_sessions(&on_replica), parse_sessions(&on_primary));
        assert!(err(&mut rc, &owner_cmd("SESSIONGATE.REVOKE", owner, &[])).starts_with("MOVED"));
    }
    cluster.check();
}

#[test]
fn an_owners_slot_moving_by_setslot_and_migrate_answers_tryagain_and_prunes_nothing() {
    let cluster = Cluster::new(0, 0);
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut cc = cluster.client(false);
    // Two owners of one slot of A (a hash tag), with sessions and payloads.
    let slot = *a.owned_slots().iter().next().unwrap();
    let tag = String::from_utf8(slot_tag(slot)).unwrap();
    let owner = format!("{{{tag}}}:alice").into_bytes();
    let sibling = format!("{{{tag}}}:bob").into_bytes();
    assert_eq!((key_slot(&owner), key_slot(&sibling)), (slot, slot));
    let mut tokens = vec![];
    for i in 0..6 {
        let t = bulk(to_owner(&mut cc, "SESSIONGATE.STARTFOR", &owner, &[b"600"]));
        pset(&mut cc, &t, "n", i.to_string().as_bytes());
        tokens.push(t);
    }
    let sib = bulk(to_owner(
        &mut cc,
        "SESSIONGATE.STARTFOR",
        &sibling,
        &[b"600"],
    ));
    let before = to_owner(&mut cc, "SESSIONGATE.SESSIONS", &owner, &[b"n"]);
    assert_eq!(parse_sessions(&before).len(), 6);

    begin_migration(slot, a, b);
    // The source sends owner commands on (the owner is never a key there) ...
    let mut ac = a.conn();
    for name in [
        "SESSIONGATE.STARTFOR",
        "SESSIONGATE.SESSIONS",
        "SESSIONGATE.REVOKE",
    ] {
        let rest: &[&[u8]] = if name == "SESSIONGATE.STARTFOR" {
            &[b"60"]
        } else {
            &[]
        };
        let e = err(&mut ac, &owner_cmd(name, &owner, rest));
        assert!(e.starts_with(&format!("ASK {slot} ")), "{name}: {e}");
    }
    // ... and the target, holding nothing yet, answers TRYAGAIN.
    let asking = |node: &Node, command: redis::Cmd| -> Result<Value, String> {
        let mut p = redis::pipe();
        p.cmd("ASKING").ignore().add_command(command);
        p.query::<(Value,)>(&mut node.conn())
            .map(|(v,)| v)
            .map_err(|e| error_text(&e))
    };
    for (name, rest) in [
        ("SESSIONGATE.STARTFOR", &[&b"60"[..]][..]),
        ("SESSIONGATE.SESSIONS", &[]),
        ("SESSIONGATE.REVOKE", &[]),
        ("SESSIONGATE.REVOKE", &[b"EXCEPT", &tokens[0]]),
    ] {
        let e = asking(b, owner_cmd(name, &owner, rest)).unwrap_err();
        let want = if rest.len() == 2 {
            TRY_AGAIN
        } else {
            OWNER_MOVING
        };
        assert_eq!(e, want, "{name}");
    }

    // Half the sessions move, not the index: the target still sees only part.
    let key_of = |t: &[u8]| {
        let (tag, id) = v2_parts(KEY, t).unwrap();
        [b"sessiongate:{".as_slice(), &tag, b"}:", &id].concat()
    };
    let moved: Vec<Vec<u8>> = tokens[..3].iter().map(|t| key_of(t)).collect();
    migrate_keys(a, b, &moved);
    let except: [&[u8]; 2] = [b"EXCEPT", &tokens[0]];
    for (name, rest) in [
        ("SESSIONGATE.SESSIONS", &[][..]),
        ("SESSIONGATE.REVOKE", &[]),
        ("SESSIONGATE.REVOKE", &except),
    ] {
        assert_eq!(
            asking(b, owner_cmd(name, &owner, rest)).unwrap_err(),
            OWNER_MOVING,
            "{name}"
        );
    }
    // A moved session answers its token commands there; one that would have to raise the
    // index (not there yet) answers TRYAGAIN; END needs no index.
    let v = routed(
        &mut cc,
        cmd("SESSIONGATE.PGET").arg(KEY).arg(&tokens[0]).arg("n"),
        &tokens[0],
    )
    .unwrap();
    assert_eq!(bulk(v), b"0");
    let expire = cmd("SESSIONGATE.EXPIRE")
        .arg(KEY)
        .arg(&tokens[1])
        .arg(900)
        .clone();
    assert_eq!(asking(b, expire).unwrap_err(), OWNER_MOVING);
    let v = routed(
        &mut cc,
        cmd("SESSIONGATE.END").arg(KEY).arg(&tokens[2]),
        &tokens[2],
    )
    .unwrap();
    assert_eq!(v, Value::Okay);

    // The index moves, one session stays behind: still part, and nothing pruned.
    migrate_keys(
        a,
        b,
        &[
            index_key(KEY, &owner),
            key_of(&tokens[3]),
            key_of(&tokens[4]),
        ],
    );
    assert_eq!(index_len(b, &owner), 6);
    for (name, rest) in [
        ("SESSIONGATE.SESSIONS", &[][..]),
        ("SESSIONGATE.REVOKE", &[]),
        ("SESSIONGATE.STARTFOR", &[b"60".as_slice()]),
    ] {
        assert_eq!(
            asking(b, owner_cmd(name, &owner, rest)).unwrap_err(),
            OWNER_MOVING,
            "{name}"
        );
    }
    assert_eq!(
        index_len(b, &owner),
        6,
        "an owner command pruned in transit"
    );
    // RENEW of an owned session in transit creates nothing there.
    let e = asking(b, renew_cmd(KEY, &tokens[3], None)).unwrap_err();
    assert_eq!(e, OWNER_MOVING);
    // The sibling owner's data is all still on A: its commands are sent on to B, which has
    // nothing of it.
    assert_eq!(
        asking(b, owner_cmd("SESSIONGATE.SESSIONS", &sibling, &[])).unwrap_err(),
        OWNER_MOVING
    );

    finish_migration(&cluster, slot, a, b);
    // B serves the slot: the whole owner, the ended session's id pruned by the next writer.
    let v = to_owner(&mut cc, "SESSIONGATE.SESSIONS", &owner, &[b"n"]);
    let want: Vec<Vec<u8>> = listed_ids(&before)
        .into_iter()
        .filter(|id| *id != v2_parts(KEY, &tokens[2]).unwrap().1)
        .collect();
    assert_eq!(listed_ids(&v), want);
    assert_eq!(index_len(b, &owner), 6);
    let n = to_owner(
        &mut cc,
        "SESSIONGATE.REVOKE",
        &owner,
        &[b"EXCEPT", &tokens[5]],
    );
    assert_eq!(n, Value::Int(4));
    assert_eq!(index_len(b, &owner), 1);
    let v = to_owner(&mut cc, "SESSIONGATE.SESSIONS", &sibling, &[]);
    assert_eq!(listed_ids(&v), vec![v2_parts(KEY, &sib).unwrap().1]);
    assert_eq!(cluster.assert_keys_filed(), 1 + 1 + 1 + 1);
    cluster.check();
}
