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

use common::*;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

const NO_SLOTS: &str =
    "ERR this cluster node serves no hash slot: send SESSIONGATE.START to a primary that serves slots";
const NO_SESSION: &str = "the session id contained in <token> does not exist";
const TRY_AGAIN: &str =
    "TRYAGAIN the session's hash slot is being imported and the session has not arrived yet";

fn redis_cli() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_string())
}

/// A free loopback port whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair for a cluster node");
}

fn slot_of(token: &[u8]) -> u16 {
    crc16(token) % 16384
}

struct Node {
    server: Server,
    id: String,
}

impl Node {
    fn start() -> Node {
        let server = Server::with_ports(
            Options {
                args: [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                ..Options::default()
            },
            cluster_port,
        );
        let id: String = cmd("CLUSTER")
            .arg("MYID")
            .query(&mut server.conn())
            .unwrap();
        Node { server, id }
    }

    fn port(&self) -> u16 {
        self.server.port
    }

    fn conn(&self) -> redis::Connection {
        self.server.conn()
    }

    fn info(&self, section: &str) -> String {
        cmd("INFO").arg(section).query(&mut self.conn()).unwrap()
    }

    fn cluster_info(&self) -> String {
        cmd("CLUSTER").arg("INFO").query(&mut self.conn()).unwrap()
    }

    /// The slots this node owns, as CLUSTER SLOTS on this node tells.
    fn owned_slots(&self) -> HashSet<u16> {
        slot_owners(&mut self.conn())
            .into_iter()
            .filter(|(_, port)| *port == self.port())
            .map(|(slot, _)| slot)
            .collect()
    }
}

/// slot → port of its primary, from CLUSTER SLOTS.
fn slot_owners(c: &mut redis::Connection) -> BTreeMap<u16, u16> {
    let v: Value = cmd("CLUSTER").arg("SLOTS").query(c).unwrap();
    let mut owners = BTreeMap::new();
    let Value::Array(ranges) = v else {
        panic!("CLUSTER SLOTS: {v:?}")
    };
    for r in ranges {
        let Value::Array(r) = r else { panic!("{r:?}") };
        let int = |v: &Value| match v {
            Value::Int(n) => *n,
            _ => panic!("{v:?}"),
        };
        let (start, end) = (int(&r[0]), int(&r[1]));
        let Value::Array(master) = &r[2] else {
            panic!("{r:?}")
        };
        let port = int(&master[1]) as u16;
        for s in start..=end {
            owners.insert(s as u16, port);
        }
    }
    owners
}

fn keyslot(c: &mut redis::Connection, key: &[u8]) -> u16 {
    cmd("CLUSTER").arg("KEYSLOT").arg(key).query(c).unwrap()
}

struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    /// Three primaries sharing all slots (made by `redis-cli --cluster create`), then
    /// `replicas` replicas of the first primary and `empty` primaries without slots.
    fn new(replicas: usize, empty: usize) -> Cluster {
        let nodes: Vec<Node> = (0..3 + replicas + empty).map(|_| Node::start()).collect();
        let cluster = Cluster { nodes };
        let mut create = Command::new(redis_cli());
        create.arg("--cluster").arg("create");
        for n in &cluster.nodes[..3] {
            create.arg(format!("127.0.0.1:{}", n.port()));
        }
        let out = create
            .arg("--cluster-yes")
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let first = cluster.nodes[0].port();
        for n in &cluster.nodes[3..] {
            let _: () = cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(first)
                .query(&mut n.conn())
                .unwrap();
        }
        let total = cluster.nodes.len();
        cluster.wait("every node to know every other", || {
            cluster.nodes.iter().all(|n| {
                n.cluster_info()
                    .contains(&format!("cluster_known_nodes:{total}\r"))
            })
        });
        for n in &cluster.nodes[3..3 + replicas] {
            let primary = cluster.nodes[0].id.clone();
            cluster.wait("a replica to attach", || {
                cmd("CLUSTER")
                    .arg("REPLICATE")
                    .arg(&primary)
                    .query::<()>(&mut n.conn())
                    .is_ok()
            });
        }
        cluster.wait("cluster_state:ok and one slot map everywhere", || {
            let map = slot_owners(&mut cluster.nodes[0].conn());
            map.len() == 16384
                && cluster.nodes.iter().all(|n| {
                    n.cluster_info().contains("cluster_state:ok")
                        && slot_owners(&mut n.conn()) == map
                })
        });
        for n in &cluster.nodes[3..3 + replicas] {
            cluster.wait(
                "the replica to sync and show in every CLUSTER SLOTS",
                || {
                    n.info("replication").contains("master_link_status:up")
                        && cluster.nodes.iter().all(|m| {
                            let v: Value =
                                cmd("CLUSTER").arg("SLOTS").query(&mut m.conn()).unwrap();
                            format!("{v:?}").contains(&format!("int({})", n.port()))
                        })
                },
            );
        }
        cluster
    }

    fn wait(&self, what: &str, f: impl FnMut() -> bool) {
        wait_until(what, Duration::from_secs(30), f);
    }

    fn client(&self, read_from_replicas: bool) -> ClusterConnection {
        let urls: Vec<String> = self.nodes[..3].iter().map(|n| n.server.url()).collect();
        let mut b = ClusterClient::builder(urls)
            .retries(40)
            .min_retry_wait(5)
            .max_retry_wait(50)
            .retry_wait_formula(5, 2)
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(10));
        if read_from_replicas {
            b = b.read_from_replicas();
        }
        b.build().unwrap().get_connection().unwrap()
    }

    fn node_by_port(&self, port: u16) -> &Node {
        self.nodes.iter().find(|n| n.port() == port).unwrap()
    }

    /// Every node agrees that `slot` belongs to `owner`.
    fn wait_owner(&self, slot: u16, owner: &Node) {
        self.wait("every node to agree on a slot's owner", || {
            self.nodes
                .iter()
                .all(|n| slot_owners(&mut n.conn()).get(&slot) == Some(&owner.port()))
        });
    }

    /// `redis-cli --cluster check`: exit status 0, all slots covered, no error or warning.
    fn check(&self) {
        let out = Command::new(redis_cli())
            .arg("--cluster")
            .arg("check")
            .arg(format!("127.0.0.1:{}", self.nodes[0].port()))
            .output()
            .expect("run redis-cli --cluster check");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "cluster check failed:\n{text}");
        assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
        assert!(
            !text.contains("[ERR]") && !text.contains("[WARNING]"),
            "cluster check:\n{text}"
        );
    }
}

/// Migration steps of one slot, as `redis-cli --cluster reshard` does them.
fn begin_migration(slot: u16, from: &Node, to: &Node) {
    let _: () = cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(&from.id)
        .query(&mut to.conn())
        .unwrap();
    let _: () = cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&to.id)
        .query(&mut from.conn())
        .unwrap();
}

fn migrate_keys(from: &Node, to: &Node, keys: &[Vec<u8>]) {
    if keys.is_empty() {
        return;
    }
    let _: String = cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(to.port())
        .arg("")
        .arg(0)
        .arg(10000)
        .arg("KEYS")
        .arg(keys)
        .query(&mut from.conn())
        .unwrap();
}

fn keys_in_slot(node: &Node, slot: u16) -> Vec<Vec<u8>> {
    cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(100000)
        .query(&mut node.conn())
        .unwrap()
}

fn finish_migration(cluster: &Cluster, slot: u16, from: &Node, to: &Node) {
    migrate_keys(from, to, &keys_in_slot(from, slot));
    for n in [to, from].into_iter().chain(
        cluster
            .nodes
            .iter()
            .filter(|n| n.id != to.id && n.id != from.id),
    ) {
        let _: () = cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to.id)
            .query(&mut n.conn())
            .unwrap();
    }
    cluster.wait_owner(slot, to);
}

fn by_token(token: &[u8], addr: SlotAddr) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
        slot_of(token),
        addr,
    )))
}

/// A token command sent through the cluster client to the node of the token's slot.
fn routed(
    c: &mut ClusterConnection,
    command: &redis::Cmd,
    token: &[u8],
) -> redis::RedisResult<Value> {
    c.route_command(command, by_token(token, SlotAddr::Master))
}

fn pset(c: &mut ClusterConnection, token: &[u8], name: &str, data: &[u8]) {
    let v = routed(
        c,
        cmd("SESSIONGATE.PSET")
            .arg(KEY)
            .arg(token)
            .arg(name)
            .arg(data),
        token,
    )
    .unwrap();
    assert_eq!(v, Value::Okay);
}

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

/// How many error replies of this code the node sent (INFO errorstats).
fn error_count(node: &Node, code: &str) -> u64 {
    let prefix = format!("errorstat_{code}:");
    node.info("errorstats")
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split("count=").nth(1)?.trim().parse::<u64>().ok())
        .sum()
}

/// A counter of the module's `INFO sessiongate` on this node.
fn module_counter(node: &Node, name: &str) -> u64 {
    let prefix = format!("sessiongate_{name}:");
    node.info("sessiongate")
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no sessiongate_{name} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

/// Redirections this node answered.
fn redirections(node: &Node) -> u64 {
    error_count(node, "MOVED") + error_count(node, "ASK")
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

    // Give D four (empty) slots of A: START on D at once issues only tokens of those slots.
    let moved: Vec<u16> = a.owned_slots().into_iter().take(4).collect();
    for &s in &moved {
        begin_migration(s, a, d);
        finish_migration(&cluster, s, a, d);
    }
    let mut on_d: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    {
        let mut dc = d.conn();
        for _ in 0..160 {
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
