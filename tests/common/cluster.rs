//! Real Redis Clusters on loopback for the cluster tests: nodes with the module, a cluster made
//! by `redis-cli --cluster create`, a cluster client, and token routing.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

use super::*;

pub fn redis_cli() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_string())
}

/// A free loopback port whose cluster bus port (port + 10000) is free too.
pub fn cluster_port() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// The slot of a token: v1 tokens hash whole, a v2 token by its hash tag.
pub fn slot_of(token: &[u8]) -> u16 {
    key_slot(token)
}

pub struct Node {
    pub server: Server,
    pub id: String,
}

impl Node {
    pub fn start() -> Node {
        Node::start_with(&[])
    }

    /// A node started with `extra` server arguments.
    pub fn start_with(extra: &[&str]) -> Node {
        Node::start_with_module_args(extra, &[])
    }

    /// A node started with `extra` server arguments and the module's `module_args`.
    pub fn start_with_module_args(extra: &[&str], module_args: &[&str]) -> Node {
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
                .chain(extra)
                .map(|s| s.to_string())
                .collect(),
                module_args: module_args.iter().map(|s| s.to_string()).collect(),
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

    pub fn port(&self) -> u16 {
        self.server.port
    }

    pub fn conn(&self) -> redis::Connection {
        self.server.conn()
    }

    pub fn info(&self, section: &str) -> String {
        cmd("INFO").arg(section).query(&mut self.conn()).unwrap()
    }

    pub fn cluster_info(&self) -> String {
        cmd("CLUSTER").arg("INFO").query(&mut self.conn()).unwrap()
    }

    /// The slots this node owns, as CLUSTER SLOTS on this node tells.
    pub fn owned_slots(&self) -> HashSet<u16> {
        slot_owners(&mut self.conn())
            .into_iter()
            .filter(|(_, port)| *port == self.port())
            .map(|(slot, _)| slot)
            .collect()
    }
}

/// slot → port of its primary, from CLUSTER SLOTS.
pub fn slot_owners(c: &mut redis::Connection) -> BTreeMap<u16, u16> {
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

pub fn keyslot(c: &mut redis::Connection, key: &[u8]) -> u16 {
    cmd("CLUSTER").arg("KEYSLOT").arg(key).query(c).unwrap()
}

pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Three primaries sharing all slots (made by `redis-cli --cluster create`), then
    /// `replicas` replicas of the first primary and `empty` primaries without slots.
    pub fn new(replicas: usize, empty: usize) -> Cluster {
        Cluster::with_node_args(replicas, empty, &[])
    }

    /// Like `new`, every node started with `extra` server arguments.
    pub fn with_node_args(replicas: usize, empty: usize, extra: &[&str]) -> Cluster {
        Cluster::with_args(replicas, empty, extra, &[])
    }

    /// Like `new`, every node started with `extra` server arguments and `module_args`.
    pub fn with_args(
        replicas: usize,
        empty: usize,
        extra: &[&str],
        module_args: &[&str],
    ) -> Cluster {
        let nodes: Vec<Node> = (0..3 + replicas + empty)
            .map(|_| Node::start_with_module_args(extra, module_args))
            .collect();
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

    pub fn wait(&self, what: &str, f: impl FnMut() -> bool) {
        wait_until(what, Duration::from_secs(30), f);
    }

    pub fn client(&self, read_from_replicas: bool) -> ClusterConnection {
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

    pub fn node_by_port(&self, port: u16) -> &Node {
        self.nodes.iter().find(|n| n.port() == port).unwrap()
    }

    /// Every node agrees that `slot` belongs to `owner`.
    pub fn wait_owner(&self, slot: u16, owner: &Node) {
        self.wait("every node to agree on a slot's owner", || {
            self.nodes
                .iter()
                .all(|n| slot_owners(&mut n.conn()).get(&slot) == Some(&owner.port()))
        });
    }

    /// Every key on every node is found by name (`EXISTS` on that node) and counted by
    /// `CLUSTER COUNTKEYSINSLOT` in its own slot: none was filed under another slot's table
    /// (DESIGN §7). Returns the number of keys on the primaries.
    pub fn assert_keys_filed(&self) -> usize {
        let mut on_primaries = 0;
        for n in &self.nodes {
            let mut c = n.conn();
            let _: () = cmd("READONLY").query(&mut c).unwrap();
            let ks = keys(&mut c);
            if ks.is_empty() {
                continue;
            }
            let mut p = redis::pipe();
            for k in &ks {
                // ASKING: a key that arrived in a slot being imported is found too.
                p.cmd("ASKING").ignore();
                p.cmd("EXISTS").arg(k).cmd("CLUSTER").arg("KEYSLOT").arg(k);
            }
            let found: Vec<(i64, u16)> = p.query(&mut c).unwrap();
            let mut per_slot: BTreeMap<u16, i64> = BTreeMap::new();
            for (k, (exists, slot)) in ks.iter().zip(&found) {
                assert_eq!(
                    *exists,
                    1,
                    "node {}: {} is listed by KEYS but not found by name",
                    n.port(),
                    String::from_utf8_lossy(k)
                );
                *per_slot.entry(*slot).or_default() += 1;
            }
            let mut p = redis::pipe();
            for slot in per_slot.keys() {
                p.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*slot);
            }
            let counts: Vec<i64> = p.query(&mut c).unwrap();
            for ((slot, want), got) in per_slot.iter().zip(counts) {
                assert_eq!(
                    got,
                    *want,
                    "node {}: CLUSTER COUNTKEYSINSLOT {slot}",
                    n.port()
                );
            }
            let role: Vec<Value> = cmd("ROLE").query(&mut c).unwrap();
            if role[0] == Value::BulkString(b"master".to_vec()) {
                on_primaries += ks.len();
            }
        }
        on_primaries
    }

    /// `redis-cli --cluster check`: exit status 0, all slots covered, no error or warning.
    pub fn check(&self) {
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

pub fn keys_in_slot(node: &Node, slot: u16) -> Vec<Vec<u8>> {
    cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(100000)
        .query(&mut node.conn())
        .unwrap()
}

pub fn by_token(token: &[u8], addr: SlotAddr) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
        slot_of(token),
        addr,
    )))
}

/// A token command sent through the cluster client to the node of the token's slot.
pub fn routed(
    c: &mut ClusterConnection,
    command: &redis::Cmd,
    token: &[u8],
) -> redis::RedisResult<Value> {
    c.route_command(command, by_token(token, SlotAddr::Master))
}

pub const NO_SESSION: &str = "the session id contained in <token> does not exist";
pub const TRY_AGAIN: &str =
    "TRYAGAIN the session's hash slot is being imported and the session has not arrived yet";

/// Migration steps of one slot, as `redis-cli --cluster reshard` does them.
pub fn begin_migration(slot: u16, from: &Node, to: &Node) {
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

pub fn migrate_keys(from: &Node, to: &Node, keys: &[Vec<u8>]) {
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

pub fn finish_migration(cluster: &Cluster, slot: u16, from: &Node, to: &Node) {
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

pub fn pset(c: &mut ClusterConnection, token: &[u8], name: &str, data: &[u8]) {
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

/// How many error replies of this code the node sent (INFO errorstats).
pub fn error_count(node: &Node, code: &str) -> u64 {
    let prefix = format!("errorstat_{code}:");
    node.info("errorstats")
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split("count=").nth(1)?.trim().parse::<u64>().ok())
        .sum()
}

/// A counter of the module's `INFO sessiongate` on this node.
pub fn module_counter(node: &Node, name: &str) -> u64 {
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
pub fn redirections(node: &Node) -> u64 {
    error_count(node, "MOVED") + error_count(node, "ASK")
}
