//! A cluster node's view of the hash slots (pure): the slots it serves, imports and migrates,
//! the primary serving each other slot, and each node's client endpoints; and, on that view,
//! what Redis would answer for a command whose key is a token of a given slot.
//!
//! The view is read from `CLUSTER NODES` (the node's own `myself` line is the only place that
//! shows the slots it imports and migrates) and `CLUSTER SHARDS` (Redis 7.0+, Valkey: each
//! node's preferred endpoint, as `cluster-preferred-endpoint-type` makes it, and its plaintext
//! and TLS ports). Where SHARDS is missing (Redis 6.2) a node's endpoint is the ip of its
//! `CLUSTER NODES` line.

use crate::errors::{Endpoint, Error};
use crate::slot::SLOTS;

const WORDS: usize = SLOTS / 64;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SlotSet([u64; WORDS]);

impl SlotSet {
    pub fn new() -> SlotSet {
        SlotSet([0; WORDS])
    }

    pub fn insert(&mut self, slot: u16) {
        let s = slot as usize;
        if s < SLOTS {
            self.0[s / 64] |= 1 << (s % 64);
        }
    }

    pub fn remove(&mut self, slot: u16) {
        let s = slot as usize;
        if s < SLOTS {
            self.0[s / 64] &= !(1 << (s % 64));
        }
    }

    pub fn contains(&self, slot: u16) -> bool {
        let s = slot as usize;
        s < SLOTS && self.0[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet::new()
    }
}

/// A cluster node as clients reach it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Node {
    pub id: Vec<u8>,
    /// What Redis names in its redirections to this node: its ip, hostname or `?`.
    pub endpoint: Vec<u8>,
    /// The plaintext and the TLS client port; 0 where the node has none.
    pub port: u16,
    pub tls_port: u16,
}

impl Node {
    /// The endpoint Redis names to a client of this kind (as `clusterRedirectClient` does): a
    /// TLS client gets the TLS port, a plaintext client the plaintext one, each the other where
    /// the node has only that one. `tls_client` is asked only when the node has both. `None`
    /// for a node without an address.
    pub fn endpoint_for(&self, tls_client: &dyn Fn() -> bool) -> Option<Endpoint> {
        let port = match (self.port, self.tls_port) {
            (0, 0) => return None,
            (p, 0) | (0, p) => p,
            (p, _) if p == self.tls_port => p,
            (p, t) => {
                if tls_client() {
                    t
                } else {
                    p
                }
            }
        };
        Endpoint::new(&self.endpoint, port)
    }
}

/// The state of one slot from this node's point of view.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SlotState {
    /// Served here and not migrating.
    Stable,
    /// Served here and migrating to the node of that index in `View::nodes` (if known).
    Migrating(Option<usize>),
    /// Being imported here.
    Importing,
    /// Served by the primary of that index.
    Elsewhere(usize),
    /// Served by no node.
    Unserved,
}

/// What the server said when asked to run a write on a name of the slot that carries no
/// secret (the probe, see cluster.rs): the answer Redis gives a keyed command before it runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Probe {
    /// The command would run here: the slot is served here and stable, or imported here and the
    /// client sent ASKING.
    Served,
    /// It would be redirected: the slot is served elsewhere or by nobody, migrating from here,
    /// or imported here without ASKING.
    Refused,
    /// The cluster is down.
    Down,
    /// The cluster is down and serves reads only.
    DownReadOnly,
}

/// A decision on a view.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Decision {
    /// Look the session up here.
    Here,
    /// Answer this.
    Answer(Error),
    /// The view contradicts the server: read the topology again before deciding.
    Stale,
}

/// This node's view of the cluster.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct View {
    /// Served here and not migrating away: START may create sessions there.
    pub stable: SlotSet,
    pub importing: SlotSet,
    pub migrating: SlotSet,
    /// Migrating slots with the index of their target in `nodes`.
    targets: Vec<(u16, Option<usize>)>,
    /// (first, last, index in `nodes`) of the ranges other primaries serve.
    elsewhere: Vec<(u16, u16, usize)>,
    pub nodes: Vec<Node>,
}

impl View {
    pub fn state(&self, slot: u16) -> SlotState {
        if self.importing.contains(slot) {
            SlotState::Importing
        } else if self.migrating.contains(slot) {
            let to = self.targets.iter().find(|(s, _)| *s == slot);
            SlotState::Migrating(to.and_then(|(_, n)| *n))
        } else if self.stable.contains(slot) {
            SlotState::Stable
        } else {
            match self.owner(slot) {
                Some(n) => SlotState::Elsewhere(n),
                None => SlotState::Unserved,
            }
        }
    }

    /// The index of the other primary serving `slot`, if one does.
    fn owner(&self, slot: u16) -> Option<usize> {
        self.elsewhere
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, n)| *n)
    }

    fn redirect(&self, node: usize, tls_client: &dyn Fn() -> bool) -> Option<Endpoint> {
        self.nodes.get(node)?.endpoint_for(tls_client)
    }

    /// RENEW of a token of `slot`, which declares no key: whether to look the session up here
    /// or what to answer, as Redis routes a command whose key is the token. `probe` is what
    /// the server answered for a name of the slot (which never exists).
    pub fn route(&self, slot: u16, probe: Probe, tls_client: &dyn Fn() -> bool) -> Decision {
        let state = self.state(slot);
        match probe {
            Probe::Down => Decision::Answer(Error::ClusterDown),
            Probe::DownReadOnly => Decision::Answer(Error::ClusterDownReadOnly),
            Probe::Served => match state {
                SlotState::Stable | SlotState::Importing | SlotState::Migrating(_) => {
                    Decision::Here
                }
                SlotState::Elsewhere(_) | SlotState::Unserved => Decision::Stale,
            },
            // Redis runs a keyed command in a migrating slot when its key is here (the session,
            // for RENEW): `missing` answers ASK when it is not.
            Probe::Refused => match state {
                SlotState::Migrating(_) => Decision::Here,
                // Importing without ASKING: Redis sends the client to the slot's owner.
                SlotState::Importing => self.moved(slot, self.owner(slot), tls_client),
                SlotState::Elsewhere(n) => self.moved(slot, Some(n), tls_client),
                SlotState::Unserved => Decision::Answer(Error::SlotNotServed),
                SlotState::Stable => Decision::Stale,
            },
        }
    }

    fn moved(&self, slot: u16, owner: Option<usize>, tls_client: &dyn Fn() -> bool) -> Decision {
        match owner.and_then(|n| self.redirect(n, tls_client)) {
            Some(to) => Decision::Answer(Error::Moved { slot, to }),
            None => Decision::Answer(Error::SlotNotServed),
        }
    }

    /// The answer for a token of `slot` whose session is not on this node, when the command
    /// ran here (the server routed it here, or RENEW's `route` said so).
    pub fn missing(&self, slot: u16, tls_client: &dyn Fn() -> bool) -> Decision {
        match self.state(slot) {
            SlotState::Stable => Decision::Answer(Error::NoSession),
            // It may be in transit: cluster clients retry TRYAGAIN.
            SlotState::Importing => Decision::Answer(Error::TryAgain),
            SlotState::Migrating(to) => match to.and_then(|n| self.redirect(n, tls_client)) {
                Some(to) => Decision::Answer(Error::Ask { slot, to }),
                None => Decision::Answer(Error::TryAgain),
            },
            SlotState::Elsewhere(_) | SlotState::Unserved => Decision::Stale,
        }
    }

    /// Whether `slot` is being imported or migrated; `None` when the view says this node has
    /// nothing to do with the slot (a command of it ran here, so the view is stale).
    pub fn in_transit(&self, slot: u16) -> Option<bool> {
        match self.state(slot) {
            SlotState::Importing | SlotState::Migrating(_) => Some(true),
            SlotState::Stable => Some(false),
            SlotState::Elsewhere(_) | SlotState::Unserved => None,
        }
    }

    /// Takes the endpoints and ports of `CLUSTER SHARDS` for the nodes it lists.
    pub fn apply_shards(&mut self, shard_nodes: &[ShardNode]) {
        for s in shard_nodes {
            if let Some(n) = self.nodes.iter_mut().find(|n| n.id == s.id) {
                n.endpoint.clone_from(&s.endpoint);
                n.port = s.port;
                n.tls_port = s.tls_port;
            }
        }
    }
}

/// Parses the text of `CLUSTER NODES`; `None` when no line is flagged `myself`.
///
/// A line is `<id> <addr> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`, where a
/// slot is `N`, `N-M`, `[N->-<id>]` (migrating to) or `[N-<-<id>]` (importing from), and
/// `<addr>` is `<ip>:<port>@<bus port>[,<hostname>]`. Anything malformed is skipped, never
/// trusted.
pub fn parse_nodes(text: &[u8]) -> Option<View> {
    let mut view = View::default();
    let mut found_myself = false;
    let mut my_targets: Vec<(u16, &[u8])> = vec![];
    let mut ranges: Vec<(u16, u16, &[u8])> = vec![];
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line
            .split(|&b| b == b' ')
            .map(|f| f.strip_suffix(b"\r").unwrap_or(f));
        let (Some(id), Some(addr), Some(flags)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id.is_empty() {
            continue;
        }
        let (ip, port) = parse_addr(addr).unwrap_or((&[][..], 0));
        view.nodes.push(Node {
            id: id.to_vec(),
            endpoint: ip.to_vec(),
            port,
            tls_port: 0,
        });
        let slots = fields.skip(5);
        if flags.split(|&b| b == b',').any(|f| f == b"myself") {
            found_myself = true;
            parse_my_slots(slots, &mut view, &mut my_targets);
        } else {
            for field in slots {
                if let Some((a, b)) = parse_range(field) {
                    ranges.push((a, b, id));
                }
            }
        }
    }
    let index = |view: &View, id: &[u8]| view.nodes.iter().position(|n| n.id == id);
    view.targets = my_targets
        .iter()
        .map(|(slot, id)| (*slot, index(&view, id)))
        .collect();
    view.elsewhere = ranges
        .iter()
        .filter_map(|(a, b, id)| Some((*a, *b, index(&view, id)?)))
        .collect();
    found_myself.then_some(view)
}

fn parse_my_slots<'a>(
    fields: impl Iterator<Item = &'a [u8]>,
    view: &mut View,
    targets: &mut Vec<(u16, &'a [u8])>,
) {
    let mut owned = SlotSet::new();
    for field in fields {
        if let Some(inner) = field.strip_prefix(b"[").and_then(|f| f.strip_suffix(b"]")) {
            if let Some((slot, to)) = split_once(inner, b"->-") {
                if let Some(s) = parse_slot(slot) {
                    view.migrating.insert(s);
                    targets.push((s, to));
                }
            } else if let Some((slot, _)) = split_once(inner, b"-<-") {
                if let Some(s) = parse_slot(slot) {
                    view.importing.insert(s);
                }
            }
        } else if let Some((a, b)) = parse_range(field) {
            for s in a..=b {
                owned.insert(s);
            }
        }
    }
    for (w, m) in owned.0.iter_mut().zip(view.migrating.0.iter()) {
        *w &= !m;
    }
    view.stable = owned;
}

/// `N` or `N-M` (N ≤ M) as an inclusive range.
fn parse_range(field: &[u8]) -> Option<(u16, u16)> {
    match split_once(field, b"-") {
        Some((a, b)) => {
            let (a, b) = (parse_slot(a)?, parse_slot(b)?);
            (a <= b).then_some((a, b))
        }
        None => parse_slot(field).map(|s| (s, s)),
    }
}

/// The ip and client port of `<ip>:<port>@<bus port>[,<hostname>]`.
fn parse_addr(field: &[u8]) -> Option<(&[u8], u16)> {
    let ip_port = field.split(|&b| b == b'@').next()?;
    let at = ip_port.iter().rposition(|&b| b == b':')?;
    let ip = &ip_port[..at];
    let port: u16 = std::str::from_utf8(&ip_port[at + 1..]).ok()?.parse().ok()?;
    (!ip.is_empty() && port != 0).then_some((ip, port))
}

fn split_once<'a>(s: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = s.windows(sep.len()).position(|w| w == sep)?;
    Some((&s[..at], &s[at + sep.len()..]))
}

fn parse_slot(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    (n < SLOTS as u32).then_some(n as u16)
}

/// A reply of the server, as much of it as the view needs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Reply {
    Bulk(Vec<u8>),
    Int(i64),
    Array(Vec<Reply>),
    Other,
}

/// One node of `CLUSTER SHARDS`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ShardNode {
    pub id: Vec<u8>,
    pub endpoint: Vec<u8>,
    pub port: u16,
    pub tls_port: u16,
}

/// The nodes of a `CLUSTER SHARDS` reply (RESP2: each shard and each node a flat array of
/// name, value pairs). Nodes without an id or endpoint are left out.
pub fn parse_shards(reply: &Reply) -> Vec<ShardNode> {
    let mut out = vec![];
    let Reply::Array(shards) = reply else {
        return out;
    };
    for shard in shards {
        let Some(Reply::Array(nodes)) = field(shard, b"nodes") else {
            continue;
        };
        for node in nodes {
            let bulk = |name| match field(node, name) {
                Some(Reply::Bulk(b)) => Some(b.clone()),
                _ => None,
            };
            let port = |name| match field(node, name) {
                Some(Reply::Int(p)) => u16::try_from(*p).unwrap_or(0),
                _ => 0,
            };
            if let (Some(id), Some(endpoint)) = (bulk(b"id"), bulk(b"endpoint")) {
                out.push(ShardNode {
                    id,
                    endpoint,
                    port: port(b"port"),
                    tls_port: port(b"tls-port"),
                });
            }
        }
    }
    out
}

/// The value after `name` in a flat array of name, value pairs.
fn field<'a>(map: &'a Reply, name: &[u8]) -> Option<&'a Reply> {
    let Reply::Array(items) = map else {
        return None;
    };
    items
        .chunks_exact(2)
        .find(|kv| matches!(&kv[0], Reply::Bulk(k) if k == name))
        .map(|kv| &kv[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [93->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [6000-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] 16000 bogus 9-x 20000 [9000-<-] 
";

    fn endpoint(s: &str) -> Endpoint {
        let (host, port) = s.rsplit_once(':').unwrap();
        Endpoint::new(host.as_bytes(), port.parse().unwrap()).unwrap()
    }

    fn moved(slot: u16, to: &str) -> Decision {
        Decision::Answer(Error::Moved {
            slot,
            to: endpoint(to),
        })
    }

    fn ask(slot: u16, to: &str) -> Decision {
        Decision::Answer(Error::Ask {
            slot,
            to: endpoint(to),
        })
    }

    #[test]
    fn parses_the_myself_line() {
        let v = parse_nodes(NODES.as_bytes()).unwrap();
        assert!(v.stable.contains(0) && v.stable.contains(5460) && v.stable.contains(16000));
        assert!(!v.stable.contains(93), "a migrating slot is not stable");
        assert!(!v.stable.contains(5461) && !v.stable.contains(6000));
        assert_eq!(v.stable.len(), 5461 - 1 + 1);
        assert!(v.importing.contains(6000) && v.importing.contains(9000));
        assert_eq!(v.importing.len(), 2);
        assert!(v.migrating.contains(93) && v.migrating.len() == 1);
        assert_eq!(v.state(93), SlotState::Migrating(Some(2)));
        assert_eq!(v.state(6000), SlotState::Importing);
        assert_eq!(v.state(0), SlotState::Stable);
    }

    #[test]
    fn knows_which_primary_serves_the_other_slots() {
        let v = parse_nodes(NODES.as_bytes()).unwrap();
        let at = |slot| match v.state(slot) {
            SlotState::Elsewhere(n) => {
                Some(v.nodes[n].endpoint_for(&|| false).unwrap().to_string())
            }
            _ => None,
        };
        assert_eq!(at(5461).as_deref(), Some("127.0.0.1:30002"));
        assert_eq!(at(10922).as_deref(), Some("127.0.0.1:30002"));
        assert_eq!(at(10923).as_deref(), Some("127.0.0.1:30003"));
        assert_eq!(at(16383).as_deref(), Some("127.0.0.1:30003"));
        assert_eq!(at(0), None, "served here");
        let v6 = "a [::1]:1@2 myself,master - 0 0 1 connected 0\n\
                  b ::1:7001@17001,host.example master - 0 0 2 connected 1-100 200\n\
                  c :0@0 master,noaddr - 0 0 3 connected 300\n\
                  d 10.0.0.9:7003@17003 master - 0 0 4 connected 400-399 x-1 [500->-a]\n";
        let v = parse_nodes(v6.as_bytes()).unwrap();
        let routed = |slot| v.route(slot, Probe::Refused, &|| false);
        assert_eq!(routed(1), moved(1, "::1:7001"));
        assert_eq!(routed(100), moved(100, "::1:7001"));
        assert_eq!(routed(200), moved(200, "::1:7001"));
        assert_eq!(routed(101), Decision::Answer(Error::SlotNotServed));
        assert_eq!(
            routed(300),
            Decision::Answer(Error::SlotNotServed),
            "a node without an address redirects nowhere"
        );
        for slot in [399, 400, 500] {
            assert_eq!(routed(slot), Decision::Answer(Error::SlotNotServed));
        }
    }

    #[test]
    fn renew_is_routed_as_redis_routes_a_key_of_the_slot() {
        let v = parse_nodes(NODES.as_bytes()).unwrap();
        let route = |slot, probe| v.route(slot, probe, &|| false);
        // Served here: look the session up; a missing one does not exist.
        assert_eq!(route(0, Probe::Served), Decision::Here);
        assert_eq!(v.missing(0, &|| false), Decision::Answer(Error::NoSession));
        // Migrating from here: look up; a session that left is asked for at the target.
        assert_eq!(route(93, Probe::Refused), Decision::Here);
        assert_eq!(v.missing(93, &|| false), ask(93, "127.0.0.1:30003"));
        // Importing: with ASKING (the probe passed) look up, TRYAGAIN while in transit;
        // without, MOVED to the owner.
        assert_eq!(route(6000, Probe::Served), Decision::Here);
        assert_eq!(
            v.missing(6000, &|| false),
            Decision::Answer(Error::TryAgain)
        );
        assert_eq!(route(6000, Probe::Refused), moved(6000, "127.0.0.1:30002"));
        // Elsewhere, or nowhere.
        assert_eq!(
            route(10923, Probe::Refused),
            moved(10923, "127.0.0.1:30003")
        );
        let unserved = parse_nodes(b"a 1.2.3.4:5@6 myself,master - 0 0 1 connected 0-99\n");
        assert_eq!(
            unserved.unwrap().route(100, Probe::Refused, &|| false),
            Decision::Answer(Error::SlotNotServed)
        );
        // The cluster is down, whatever the view says.
        for slot in [0, 93, 6000, 10923] {
            assert_eq!(
                route(slot, Probe::Down),
                Decision::Answer(Error::ClusterDown)
            );
            assert_eq!(
                route(slot, Probe::DownReadOnly),
                Decision::Answer(Error::ClusterDownReadOnly)
            );
        }
        // The server and the view disagree: read the topology again.
        assert_eq!(route(0, Probe::Refused), Decision::Stale);
        assert_eq!(route(10923, Probe::Served), Decision::Stale);
        assert_eq!(v.missing(10923, &|| false), Decision::Stale);
        assert_eq!(v.in_transit(10923), None);
        assert_eq!(
            (v.in_transit(93), v.in_transit(6000), v.in_transit(0)),
            (Some(true), Some(true), Some(false))
        );
    }

    #[test]
    fn endpoints_and_ports_come_from_shards() {
        let mut v = parse_nodes(NODES.as_bytes()).unwrap();
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let node = |id: &str, endpoint: &str, ports: &[(&str, i64)]| {
            let mut kv = vec![bulk("id"), bulk(id), bulk("endpoint"), bulk(endpoint)];
            for (name, p) in ports {
                kv.extend([bulk(name), Reply::Int(*p)]);
            }
            kv.extend([bulk("role"), bulk("master"), bulk("health"), bulk("online")]);
            Reply::Array(kv)
        };
        let shards = Reply::Array(vec![
            Reply::Array(vec![
                bulk("slots"),
                Reply::Array(vec![Reply::Int(5461), Reply::Int(10922)]),
                bulk("nodes"),
                Reply::Array(vec![node(
                    "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1",
                    "node-b.example",
                    &[("port", 7411), ("tls-port", 8411)],
                )]),
            ]),
            Reply::Array(vec![
                bulk("nodes"),
                Reply::Array(vec![
                    node(
                        "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f",
                        "?",
                        &[("tls-port", 8412)],
                    ),
                    Reply::Other,
                    Reply::Array(vec![bulk("id"), bulk("x")]),
                ]),
            ]),
            Reply::Int(3),
        ]);
        let parsed = parse_shards(&shards);
        assert_eq!(parsed.len(), 2);
        v.apply_shards(&parsed);
        assert_eq!(
            v.route(6000, Probe::Refused, &|| false),
            moved(6000, "node-b.example:7411")
        );
        assert_eq!(
            v.route(6000, Probe::Refused, &|| true),
            moved(6000, "node-b.example:8411")
        );
        // A node with a TLS port only: plaintext clients get it too (as Redis does).
        assert_eq!(v.missing(93, &|| false), ask(93, "?:8412"));
        assert_eq!(v.missing(93, &|| true), ask(93, "?:8412"));
        assert_eq!(parse_shards(&Reply::Other), vec![]);
    }

    #[test]
    fn port_choice_follows_the_client() {
        let n = |port, tls_port| Node {
            id: b"x".to_vec(),
            endpoint: b"h".to_vec(),
            port,
            tls_port,
        };
        let at = |node: Node, tls: bool| node.endpoint_for(&|| tls).map(|e| e.to_string());
        assert_eq!(at(n(7000, 0), false).as_deref(), Some("h:7000"));
        assert_eq!(at(n(7000, 0), true).as_deref(), Some("h:7000"));
        assert_eq!(at(n(7000, 8000), false).as_deref(), Some("h:7000"));
        assert_eq!(at(n(7000, 8000), true).as_deref(), Some("h:8000"));
        assert_eq!(at(n(0, 8000), false).as_deref(), Some("h:8000"));
        assert_eq!(at(n(0, 0), true), None);
    }

    #[test]
    fn replica_or_missing_myself() {
        let replica = "abc 127.0.0.1:1@2 myself,slave def 0 0 1 connected\n";
        let v = parse_nodes(replica.as_bytes()).unwrap();
        assert!(v.stable.is_empty() && v.importing.is_empty() && v.elsewhere.is_empty());
        assert_eq!(
            parse_nodes(b"abc 127.0.0.1:1@2 master - 0 0 1 connected 0-16383"),
            None
        );
        assert_eq!(parse_nodes(b""), None);
        assert_eq!(parse_nodes(b"\n\n myself"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            &b"a b myself c d e f g 16384 99999999 -1 1-0 [5->-] [->-x] [] [ ] - --"[..],
            b"a b myself,master c d e f g 3-2 [16383-<-x]\r\n",
            b"a b myself c d e f g \xff\x00 0-16383",
        ] {
            let _ = parse_nodes(text);
        }
        let v = parse_nodes(b"a b myself,master c d e f g 3-2 [16383-<-x]\r\n").unwrap();
        assert!(v.stable.is_empty(), "a reversed range owns nothing");
        assert!(v.importing.contains(16383));
        let v = parse_nodes(b"a b myself c d e f g \xff\x00 0-16383").unwrap();
        assert_eq!(v.stable.len(), SLOTS);
        let v = parse_nodes(b"a b myself c d e f g [5->-nobody]").unwrap();
        assert_eq!(v.missing(5, &|| false), Decision::Answer(Error::TryAgain));
    }

    #[test]
    fn slot_set_bounds() {
        let mut s = SlotSet::new();
        s.insert(16383);
        s.insert(16384);
        assert!(s.contains(16383) && !s.contains(16384) && s.len() == 1);
        s.remove(16383);
        assert!(s.is_empty());
    }
}
