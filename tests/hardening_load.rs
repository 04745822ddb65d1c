//! Load: many clients, each on its own connection in its own thread, mix all six commands on
//! one shared set of sessions. Each client owns one payload field in every stable session and
//! must always read back exactly what it last wrote there; the shared churn pool (sessions any
//! client may start, write, expire or end) may answer only "does not exist" or "payload does
//! not exist". At the end no payload is lost and every session is whole.

mod common;
mod harden;

use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use harden::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLIENTS: usize = 8;
const STABLE: usize = 20;

#[test]
fn concurrent_clients_mixing_all_commands_lose_no_payload() {
    let ops = env_count("SESSIONGATE_LOAD_OPS", 5000, 500);
    let seed = rand::RngCore::next_u64(&mut rng("concurrent load"));
    let s = Server::start();
    let mut c = s.conn();
    let stable: Vec<Vec<u8>> = (0..STABLE).map(|_| start(&mut c, KEY, 100_000)).collect();
    let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(
        (0..20).map(|_| start(&mut c, KEY, 100_000)).collect(),
    ));

    let handles: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let url = s.url();
            let stable = stable.clone();
            let pool = pool.clone();
            thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ me as u64);
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                    .unwrap();
                let field = format!("client-{me}").into_bytes();
                // What this client last wrote in each stable session (None: deleted).
                let mut mine: Vec<Option<Vec<u8>>> = vec![None; STABLE];
                let pick = |rng: &mut StdRng, pool: &Mutex<Vec<Vec<u8>>>| {
                    let p = pool.lock().unwrap();
                    p[rng.gen_range(0..p.len())].clone()
                };
                for n in 0..ops {
                    let si = rng.gen_range(0..STABLE);
                    let t = &stable[si];
                    match rng.gen_range(0..12) {
                        // Stable sessions: every reply is known exactly.
                        0..=2 => {
                            let data = format!("{me}:{n}:{}", "x".repeat(rng.gen_range(0..300)));
                            pset(&mut c, t, &field, data.as_bytes());
                            mine[si] = Some(data.into_bytes());
                        }
                        3..=5 => {
                            let want = match &mine[si] {
                                Some(d) => Reply::Bulk(d.clone()),
                                None => Reply::Error(NO_PAYLOAD.into()),
                            };
                            assert_eq!(
                                pget_reply(&mut c, t, &field),
                                want,
                                "client {me} lost a payload"
                            );
                        }
                        6 => {
                            let r =
                                one(&mut c, cmd("SESSIONGATE.PDEL").arg(KEY).arg(t).arg(&field));
                            let want = if mine[si].take().is_some() {
                                Reply::Ok
                            } else {
                                Reply::Error(NO_PAYLOAD.into())
                            };
                            assert_eq!(r, want);
                        }
                        7 => {
                            let r = one(
                                &mut c,
                                cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(t).arg(100_000),
                            );
                            assert_eq!(r, Reply::Ok);
                        }
                        // The churn pool: other clients may end any of these at any time.
                        8 => {
                            let nt = start(&mut c, KEY, 100_000);
                            let mut p = pool.lock().unwrap();
                            if p.len() < 60 {
                                p.push(nt);
                            } else {
                                let i = rng.gen_range(0..p.len());
                                p[i] = nt;
                            }
                        }
                        9 => {
                            let pt = pick(&mut rng, &pool);
                            let r = one(&mut c, &pset_cmd(KEY, &pt, b"shared", &[me as u8; 64]));
                            assert!(
                                r == Reply::Ok || r == Reply::Error(NO_SESSION.into()),
                                "{r:?}"
                            );
                            let r = pget_reply(&mut c, &pt, b"shared");
                            assert!(
                                matches!(&r, Reply::Bulk(d) if d.len() == 64)
                                    || r == Reply::Error(NO_SESSION.into())
                                    || r == Reply::Error(NO_PAYLOAD.into()),
                                "{r:?}"
                            );
                        }
                        10 => {
                            let pt = pick(&mut rng, &pool);
                            let r = one(
                                &mut c,
                                cmd("SESSIONGATE.PDEL").arg(KEY).arg(&pt).arg("shared"),
                            );
                            assert!(
                                r == Reply::Ok
                                    || r == Reply::Error(NO_SESSION.into())
                                    || r == Reply::Error(NO_PAYLOAD.into()),
                                "{r:?}"
                            );
                        }
                        _ => {
                            let pt = pick(&mut rng, &pool);
                            let r = if rng.gen_bool(0.5) {
                                one(&mut c, &end_cmd(KEY, &pt))
                            } else {
                                one(&mut c, cmd("SESSIONGATE.EXPIRE").arg(KEY).arg(&pt).arg(0))
                            };
                            assert!(
                                r == Reply::Ok || r == Reply::Error(NO_SESSION.into()),
                                "{r:?}"
                            );
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let finals: Vec<Vec<Option<Vec<u8>>>> = handles
        .into_iter()
        .map(|h| h.join().expect("a client failed"))
        .collect();

    // No payload lost: every stable session holds exactly each client's last write.
    for (si, t) in stable.iter().enumerate() {
        let k = session_key_of(&mut c, t);
        let mut h: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
            cmd("HGETALL").arg(&k).query(&mut c).unwrap();
        assert_eq!(h.remove(&b""[..]).map(|f| f.len()), Some(16));
        let want: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = finals
            .iter()
            .enumerate()
            .filter_map(|(me, m)| {
                m[si]
                    .clone()
                    .map(|d| (format!("client-{me}").into_bytes(), d))
            })
            .collect();
        assert_eq!(h, want, "stable session {si}");
    }
    let n = assert_sessions_whole(&mut c);
    ping(&mut c);
    println!("{CLIENTS} clients x {ops} operations; {n} sessions left, all whole");
}
