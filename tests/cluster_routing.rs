//! RENEW routed as Redis routes a command whose key is the token (DESIGN §4), checked against
//! the server itself: what RENEW answers on a node is what `GET <token>` answers there —
//! `MOVED`/`ASK` naming the endpoint Redis names (ip, hostname or `?`), `CLUSTERDOWN` — except
//! where the design says TRYAGAIN (a session that may be in transit). Under a live reshard
//! every RENEW ends in exactly one new valid token, and a node reads the topology again only
//! when it changes, not once per miss (`INFO commandstats`, `cluster|nodes`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use common::cluster::*;
use common::*;
use redis::cluster::ClusterConnection;
use redis::Value;

/// How often the node ran `CLUSTER NODES` (Redis 7.0+; 6.2 counts no subcommands).
fn nodes_calls(node: &Node) -> u64 {
    node.info("commandstats")
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_cluster|nodes:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

fn pget_user(cc: &mut ClusterConnection, t: &[u8]) -> redis::RedisResult<Vec<u8>> {
    routed(cc, cmd("SESSIONGATE.PGET").arg(KEY).arg(t).arg("user"), t)
        .and_then(|v| redis::from_redis_value(&v))
}

/// Runs `f` until it answers anything but an error of a session in transit (TRYAGAIN, or the
/// ASK/MOVED a client's exhausted retries leave), for at most 30 s; the error text otherwise.
fn retry_in_transit<T>(mut f: impl FnMut() -> redis::RedisResult<T>) -> Result<T, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) => {
                let text = error_text(&e);
                let transient = ["TRYAGAIN", "ASK ", "MOVED "]
                    .iter()
                    .any(|code| text.starts_with(code));
                if !transient || std::time::Instant::now() > deadline {
                    return Err(text);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A token of `slot` with a valid signature whose session never existed.
fn never_started(slot: u16, n: usize) -> Vec<u8> {
    (0u64..)
        .map(|i| {
            let id = format!("N{:0>15}", i * 7919 + n as u64 * 104_729);
            format!("v1.{id}.{}", sign_hex(KEY, id.as_bytes())).into_bytes()
        })
        .find(|t| slot_of(t) == slot)
        .unwrap()
}

/// The name of the session of `token`.
fn session_name(node: &Node, token: &[u8]) -> Option<Vec<u8>> {
    let id = &token[3..19];
    keys(&mut node.conn()).into_iter().find(|k| k.ends_with(id))
}

#[test]
fn renew_under_a_live_reshard_ends_in_one_token_each() {
    // A cache trusted for 10 minutes: the nodes read the topology only when the server
    // contradicts them, so the count of reads below depends on no clock, and every answer is
    // made on a view that may be stale.
    let cluster = Cluster::with_args(0, 1, &[], &["cluster-cache-ms", "600000"]);
    let (a, b, d) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[3]);

    // D serves three of A's slots; its sessions fill them.
    let given: Vec<u16> = a.owned_slots().into_iter().take(3).collect();
    for &s in &given {
        begin_migration(s, a, d);
        finish_migration(&cluster, s, a, d);
    }
    let mut tokens: Vec<Vec<u8>> = vec![];
    {
        let mut dc = d.conn();
        let mut cc = cluster.client(false);
        cluster.wait("D to start sessions in its slots", || {
            match cmd("SESSIONGATE.START")
                .arg(KEY)
                .arg(600)
                .query::<Vec<u8>>(&mut dc)
            {
                Ok(t) => {
                    pset(&mut cc, &t, "user", &t[3..19]);
                    tokens.push(t);
                    true
                }
                Err(_) => false,
            }
        });
        for _ in 1..90 {
            let t = start(&mut dc, KEY, 600);
            assert!(given.contains(&slot_of(&t)));
            pset(&mut cc, &t, "user", &t[3..19]);
            tokens.push(t);
        }
    }
    let mut by_slot: BTreeMap<u16, usize> = BTreeMap::new();
    for t in &tokens {
        *by_slot.entry(slot_of(t)).or_default() += 1;
    }
    // The two fullest slots move to B while a client renews every session, pass after pass;
    // the third stays on D (RENEW there needs a stable slot to draw the new id in).
    let mut order: Vec<u16> = given.clone();
    order.sort_by_key(|s| std::cmp::Reverse(by_slot.get(s).copied().unwrap_or(0)));
    let (moving, staying) = (&order[..2], order[2]);
    let identities: BTreeSet<Vec<u8>> = tokens.iter().map(|t| t[3..19].to_vec()).collect();

    let current = Mutex::new(tokens.clone());
    let retired = Mutex::new(Vec::<Vec<u8>>::new());
    let errors = Mutex::new(Vec::<String>::new());
    let stop = AtomicBool::new(false);
    let (renewed, nodes_before, calls_during_misses) = std::thread::scope(|scope| {
        let renewer = scope.spawn(|| {
            let mut cc = cluster.client(false);
            let mut renewed = 0u64;
            let mut last_pass = false;
            loop {
                for (i, original) in tokens.iter().enumerate() {
                    let t = current.lock().unwrap()[i].clone();
                    // Routed by the token's slot, or (every third) by the sign key, as a
                    // cluster client routes a keyless command: then MOVED leads it.
                    // A session in transit (its key not yet moved) answers TRYAGAIN, and the
                    // client's own retries may run out: the application retries (an error
                    // changed nothing), as docs/clients.md shows.
                    let n: Vec<u8> = match retry_in_transit(|| {
                        let reply = if i % 3 == 0 {
                            renew_cmd(KEY, &t, None).query::<Value>(&mut cc)
                        } else {
                            routed(&mut cc, &renew_cmd(KEY, &t, None), &t)
                        };
                        reply.and_then(|v| redis::from_redis_value(&v))
                    }) {
                        Ok(n) => n,
                        Err(e) => {
                            errors.lock().unwrap().push(format!("RENEW: {e}"));
                            continue;
                        }
                    };
                    match retry_in_transit(|| pget_user(&mut cc, &n)) {
                        Ok(user) if user == original[3..19] => {}
                        other => errors
                            .lock()
                            .unwrap()
                            .push(format!("the renewed session reads {other:?}")),
                    }
                    current.lock().unwrap()[i] = n;
                    retired.lock().unwrap().push(t);
                    renewed += 1;
                }
                if last_pass {
                    return renewed;
                }
                last_pass = stop.load(Ordering::SeqCst);
            }
        });
        let mut calls_during_misses = 0;
        let nodes_before: Vec<u64> = cluster.nodes.iter().map(nodes_calls).collect();
        let source_tryagain = error_count(d, "TRYAGAIN");
        for (round, &s) in moving.iter().enumerate() {
            begin_migration(s, d, b);
            // Key by key, with the client renewing in between.
            let mut moved_keys = 0;
            loop {
                let ks = keys_in_slot(d, s);
                let Some(k) = ks.first() else { break };
                migrate_keys(d, b, std::slice::from_ref(k));
                moved_keys += 1;
                std::thread::sleep(Duration::from_millis(15));
                if round == 0 && moved_keys == 3 {
                    // Misses sent on by ASK: the importing node answers each TRYAGAIN from its
                    // cache, reading the topology at most once (old code: once per miss).
                    let before = nodes_calls(b);
                    let mut bc = b.conn();
                    for n in 0..50 {
                        let t = never_started(s, n);
                        let ask = err(
                            &mut d.conn(),
                            cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("u"),
                        );
                        assert!(ask.starts_with(&format!("ASK {s} ")), "{ask}");
                        let _: () = cmd("ASKING").query(&mut bc).unwrap();
                        let e = err(&mut bc, cmd("SESSIONGATE.PGET").arg(KEY).arg(&t).arg("u"));
                        assert_eq!(e, TRY_AGAIN);
                    }
                    calls_during_misses = nodes_calls(b) - before;
                }
            }
            finish_migration(&cluster, s, d, b);
        }
        stop.store(true, Ordering::SeqCst);
        let renewed = renewer.join().unwrap();
        // The source never asks a client to retry it: a session that left is asked for at the
        // target (old code answered TRYAGAIN there until the migration ended).
        assert_eq!(
            error_count(d, "TRYAGAIN"),
            source_tryagain,
            "the source answered TRYAGAIN"
        );
        (renewed, nodes_before, calls_during_misses)
    });
    let nodes_after: Vec<u64> = cluster.nodes.iter().map(nodes_calls).collect();
    let errors = errors.into_inner().unwrap();
    assert!(
        errors.is_empty(),
        "{} failures, the first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    // Redis 6.2 counts every CLUSTER command together, the cluster client's CLUSTER SLOTS
    // included: the count means something from 7.0 on.
    if server_version().0 >= (7, 0) {
        assert!(
            calls_during_misses <= 1,
            "50 misses read CLUSTER NODES {calls_during_misses} times"
        );
    } else {
        eprintln!("(Redis 6.2 counts no CLUSTER subcommands: the reads were not counted)");
    }
    let reads: Vec<u64> = nodes_after
        .iter()
        .zip(&nodes_before)
        .map(|(x, y)| x - y)
        .collect();
    eprintln!(
        "{renewed} renewals over {} sessions while slots {moving:?} moved ({:?} stayed); \
         CLUSTER NODES reads per node during the reshard: {reads:?}",
        tokens.len(),
        staying
    );
    assert!(renewed >= 2 * tokens.len() as u64, "{renewed}");
    // Reads of the topology follow its changes (two slots, each IMPORTING, MIGRATING, then
    // NODE on every node), not the thousands of commands.
    if server_version().0 >= (7, 0) {
        for (n, r) in reads.iter().enumerate() {
            assert!(*r <= 12, "node {n} read CLUSTER NODES {r} times: {reads:?}");
        }
    }

    // Every session is there exactly once, under its last token; no retired token's session
    // is left anywhere.
    let current = current.into_inner().unwrap();
    let mut cc = cluster.client(false);
    let mut seen = BTreeSet::new();
    for t in &current {
        let user = pget_user(&mut cc, t).unwrap();
        assert!(seen.insert(user.clone()), "two live tokens for one session");
    }
    assert_eq!(seen, identities, "a session was lost");
    assert_eq!(
        cluster.assert_keys_filed(),
        tokens.len(),
        "a session was doubled"
    );
    let retired = retired.into_inner().unwrap();
    for t in &retired {
        for n in &cluster.nodes {
            assert_eq!(
                session_name(n, t),
                None,
                "a renewed session's old key stayed"
            );
        }
    }
    cluster.check();
}

#[test]
fn a_missing_session_does_not_exist_as_soon_as_its_slot_is_imported() {
    // B trusts its cache for 10 minutes: once it has seen the slot being imported, only the
    // server can tell it the import is over.
    let cluster = Cluster::with_args(0, 0, &[], &["cluster-cache-ms", "600000"]);
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let t = start(&mut a.conn(), KEY, 600);
    let s = slot_of(&t);
    let nobody = never_started(s, 0);
    let get = |tok: &[u8]| {
        cmd("SESSIONGATE.PGET")
            .arg(KEY)
            .arg(tok)
            .arg("user")
            .clone()
    };
    begin_migration(s, a, b);
    let mut bc = b.conn();
    let _: () = cmd("ASKING").query(&mut bc).unwrap();
    assert_eq!(err(&mut bc, &get(&nobody)), TRY_AGAIN, "may be in transit");
    finish_migration(&cluster, s, a, b);
    // Now B owns the slot; its cache still says it imports it.
    assert_eq!(err(&mut bc, &get(&nobody)), NO_SESSION);
    assert_eq!(err(&mut bc, &renew_cmd(KEY, &nobody, None)), NO_SESSION);
    assert_eq!(
        err(&mut bc, &get(&t)),
        "the requested <payload_name> does not exist",
        "the moved session is there"
    );
}

#[test]
fn redirections_name_the_endpoint_redis_names() {
    let cluster = Cluster::new(0, 0);
    let primaries = &cluster.nodes[..3];
    let owners = slot_owners(&mut primaries[0].conn());
    // A token per primary, sent to another one.
    let mut cases: Vec<(usize, Vec<u8>)> = vec![];
    for (i, n) in primaries.iter().enumerate() {
        let t = start(&mut n.conn(), KEY, 600);
        assert_eq!(owners[&slot_of(&t)], n.port());
        cases.push(((i + 1) % 3, t));
    }
    let check = |what: &str, expect: &dyn Fn(&str) -> bool| {
        cluster.wait(
            &format!("RENEW's redirections to match GET's ({what})"),
            || {
                cases.iter().all(|(i, t)| {
                    let mut c = primaries[*i].conn();
                    let redis_says = err(&mut c, cmd("GET").arg(t));
                    assert!(redis_says.starts_with("MOVED "), "{what}: {redis_says}");
                    expect(&redis_says) && err(&mut c, &renew_cmd(KEY, t, None)) == redis_says
                })
            },
        );
    };
    check("ip", &|e| {
        e.starts_with("MOVED ") && e.contains(" 127.0.0.1:")
    });

    if server_version().0 < (7, 0) {
        eprintln!("(Redis 6.2 has no cluster-announce-hostname: endpoints are ips there)");
        return;
    }
    for (i, n) in primaries.iter().enumerate() {
        let _: () = cmd("CONFIG")
            .arg("SET")
            .arg("cluster-announce-hostname")
            .arg(format!("node-{i}.sessiongate.example"))
            .query(&mut n.conn())
            .unwrap();
    }
    let set_type = |kind: &str| {
        for n in primaries {
            let _: () = cmd("CONFIG")
                .arg("SET")
                .arg("cluster-preferred-endpoint-type")
                .arg(kind)
                .query(&mut n.conn())
                .unwrap();
        }
    };
    set_type("hostname");
    check("hostname", &|e| e.contains(".sessiongate.example:"));
    set_type("unknown-endpoint");
    // `?` on later servers, nothing on Redis 7.0 (`MOVED 3296 :7001`).
    check("unknown-endpoint", &|e| {
        e.contains(" ?:") || e.contains(" :")
    });

    // ASK names the target's endpoint too.
    set_type("hostname");
    let (from, t) = (&cases[0].1, &cases[0].1);
    let source = cluster.node_by_port(owners[&slot_of(from)]);
    let target = primaries
        .iter()
        .find(|n| n.port() != source.port())
        .unwrap();
    begin_migration(slot_of(t), source, target);
    let k = session_key_of(&mut source.conn(), t);
    migrate_keys(source, target, &[k]);
    cluster.wait("RENEW's ASK to match GET's", || {
        let mut c = source.conn();
        let redis_says = err(&mut c, cmd("GET").arg(t));
        assert!(redis_says.starts_with("ASK "), "{redis_says}");
        let renew_says = err(&mut c, &renew_cmd(KEY, t, None));
        assert!(renew_says.starts_with("ASK "), "{renew_says}");
        renew_says == redis_says && redis_says.contains(".sessiongate.example:")
    });
}

#[test]
fn a_slot_nobody_serves_and_a_cluster_that_is_down() {
    let cluster = Cluster::new(0, 0);
    let primaries = &cluster.nodes[..3];
    let a = &primaries[0];
    let t = start(&mut a.conn(), KEY, 600);
    let s = slot_of(&t);
    let other = start(&mut a.conn(), KEY, 600);

    // Nobody serves the token's slot: RENEW answers as GET does, on every node.
    ok(&mut a.conn(), "END", (KEY, &t));
    for n in primaries {
        let _: () = cmd("CLUSTER")
            .arg("DELSLOTS")
            .arg(s)
            .query(&mut n.conn())
            .unwrap();
    }
    cluster.wait("every node to see the slot unserved", || {
        primaries
            .iter()
            .all(|n| err(&mut n.conn(), cmd("GET").arg(&t)) == "CLUSTERDOWN Hash slot not served")
    });
    for n in primaries {
        let mut c = n.conn();
        cluster.wait("RENEW to see the slot unserved", || {
            err(&mut c, &renew_cmd(KEY, &t, None)) == "CLUSTERDOWN Hash slot not served"
        });
    }

    // So the cluster is down (a slot uncovered, full coverage required): START and RENEW
    // answer as a write does.
    let key_here = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| a.owned_slots().contains(&(crc16(k.as_bytes()) % 16384)))
        .unwrap();
    let mut ac = a.conn();
    cluster.wait("the cluster to be down", || {
        a.cluster_info().contains("cluster_state:fail")
    });
    let write_says = err(&mut ac, cmd("SET").arg(&key_here).arg(1));
    assert_eq!(write_says, "CLUSTERDOWN The cluster is down");
    assert_eq!(
        err(&mut ac, cmd("SESSIONGATE.START").arg(KEY).arg(60)),
        write_says
    );
    assert_eq!(err(&mut ac, &renew_cmd(KEY, &other, None)), write_says);
    // Reads allowed while down: writes get the read-only wording.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("cluster-allow-reads-when-down")
        .arg("yes")
        .query(&mut ac)
        .unwrap();
    let write_says = err(&mut ac, cmd("SET").arg(&key_here).arg(1));
    assert_eq!(
        write_says,
        "CLUSTERDOWN The cluster is down and only accepts read commands"
    );
    assert_eq!(
        err(&mut ac, cmd("SESSIONGATE.START").arg(KEY).arg(60)),
        write_says
    );
    assert_eq!(err(&mut ac, &renew_cmd(KEY, &other, None)), write_says);
    let v: Vec<u8> = cmd("SESSIONGATE.PGET")
        .arg(KEY)
        .arg(&other)
        .arg("x")
        .query(&mut ac)
        .map(|_: Value| vec![])
        .unwrap_or_else(|e| error_text(&e).into_bytes());
    assert_eq!(
        v, b"the requested <payload_name> does not exist",
        "reads still work"
    );
}

/// A CA and a certificate for 127.0.0.1 made with the `openssl` command, in `dir`; `None`
/// without openssl.
fn make_certificates(dir: &std::path::Path) -> Option<[String; 3]> {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let made = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=sessiongate-test-ca",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "node.key",
        "-out",
        "node.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let path = |f: &str| dir.join(f).display().to_string();
    made.then(|| [path("node.crt"), path("node.key"), path("ca.crt")])
}

/// Whether the server under test was built with TLS: started with a TLS port, it comes up.
fn server_has_tls(certs: &[String; 3]) -> bool {
    let dir = std::env::temp_dir().join(format!("sessiongate-tls-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port().to_string();
    let mut child = std::process::Command::new(server_binary())
        .args(["--port", "0", "--tls-port", &port, "--save", ""])
        .args(["--tls-cert-file", &certs[0], "--tls-key-file", &certs[1]])
        .args([
            "--tls-ca-cert-file",
            &certs[2],
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let up = loop {
        if let Ok(Some(_)) = child.try_wait() {
            break false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_ok() {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    up
}

/// The error redis-cli prints for a command sent over TLS to `port`.
fn tls_error(port: u16, ca: &str, args: &[&[u8]]) -> String {
    let mut c = std::process::Command::new(redis_cli());
    c.args(["--tls", "--cacert", ca, "-p", &port.to_string()]);
    for a in args {
        c.arg(std::str::from_utf8(a).unwrap());
    }
    let out = c.output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn tls_clients_are_sent_to_the_tls_port() {
    let dir = std::env::temp_dir().join(format!("sessiongate-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(certs) = make_certificates(&dir) else {
        eprintln!("SKIPPED: no openssl command to make test certificates with");
        return;
    };
    if !server_has_tls(&certs) {
        let ((major, minor), valkey) = server_version();
        let name = if valkey { "Valkey" } else { "Redis" };
        eprintln!("SKIPPED: this {name} {major}.{minor} was built without TLS");
        return;
    }
    // A TLS cluster whose nodes keep a plaintext port too: Redis sends a TLS client to a
    // node's TLS port and a plaintext client to its plaintext port.
    let tls_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes: Vec<Server> = tls_ports
        .iter()
        .map(|tls_port| {
            let args: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &free_port().to_string(),
                "--tls-port",
                &tls_port.to_string(),
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
                "--tls-auth-clients",
                "no",
                "--tls-cert-file",
                &certs[0],
                "--tls-key-file",
                &certs[1],
                "--tls-ca-cert-file",
                &certs[2],
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            Server::with(Options {
                args,
                ..Options::default()
            })
        })
        .collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (n, (a, b)) in nodes.iter().zip(ranges) {
        let _: () = cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(a)
            .arg(b)
            .query(&mut n.conn())
            .unwrap();
    }
    for n in &nodes[1..] {
        let bus: u16 = cmd("CONFIG")
            .arg("GET")
            .arg("cluster-port")
            .query::<(String, u16)>(&mut n.conn())
            .unwrap()
            .1;
        let tls_port = tls_ports[nodes.iter().position(|m| m.port == n.port).unwrap()];
        let _: () = cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(tls_port)
            .arg(bus)
            .query(&mut nodes[0].conn())
            .unwrap();
    }
    wait_until("the TLS cluster", Duration::from_secs(30), || {
        nodes.iter().all(|n| {
            let info: String = cmd("CLUSTER").arg("INFO").query(&mut n.conn()).unwrap();
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3\r")
        })
    });
    for (i, owner) in nodes.iter().enumerate() {
        let t = start(&mut owner.conn(), KEY, 600);
        let other = (i + 1) % 3;
        let slot = slot_of(&t);
        // Plaintext: the owner's plaintext port, as GET says.
        let mut c = nodes[other].conn();
        let plain = format!("MOVED {slot} 127.0.0.1:{}", owner.port);
        wait_until(
            "RENEW's MOVED for a plaintext client",
            Duration::from_secs(30),
            || {
                err(&mut c, cmd("GET").arg(&t)) == plain
                    && err(&mut c, &renew_cmd(KEY, &t, None)) == plain
            },
        );
        // TLS: the owner's TLS port, as GET says.
        let tls = format!("MOVED {slot} 127.0.0.1:{}", tls_ports[i]);
        let over_tls = |args: &[&[u8]]| tls_error(tls_ports[other], &certs[2], args);
        assert_eq!(over_tls(&[b"GET", &t]), tls);
        assert_eq!(over_tls(&[b"SESSIONGATE.RENEW", KEY, &t]), tls);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
