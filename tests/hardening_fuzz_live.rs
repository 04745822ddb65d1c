//! Hostile input against a live server: tens of thousands of random commands (random arity,
//! random bytes, mutated real tokens, extreme integers) must each get a well-formed reply — the
//! reply an independent oracle predicts for every shape error, and otherwise OK, a bulk string
//! or one of the exact error texts of the contract — and the server must stay up with the
//! sessions it was not asked to touch intact.

mod common;
mod harden;

use common::*;
use harden::*;
use rand::rngs::StdRng;
use rand::Rng;

/// A sign key the random commands never use, for sessions that must come through untouched.
const SENTINEL_KEY: &[u8] = b"sentinel-application";

const NAMES: [&str; 6] = [
    "SESSIONGATE.START",
    "SESSIONGATE.EXPIRE",
    "SESSIONGATE.PSET",
    "SESSIONGATE.PGET",
    "SESSIONGATE.PDEL",
    "SESSIONGATE.END",
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Key,
    Token,
    Ttl,
    Name,
    Data,
}
use Kind::*;

/// The arguments of each command after its name.
const SHAPES: [&[Kind]; 6] = [
    &[Key, Ttl],
    &[Key, Token, Ttl],
    &[Key, Token, Name, Data],
    &[Key, Token, Name],
    &[Key, Token, Name],
    &[Key, Token],
];

const EXTREME_INTEGERS: [&str; 28] = [
    "0",
    "1",
    "5",
    "3600",
    "-1",
    "-0",
    "+1",
    "01",
    "00",
    " 1",
    "1 ",
    "1.5",
    "1e3",
    "0x10",
    "2147483648",
    "4294967296",
    "9223372036854775",
    "9223372036854776",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "99999999999999999999999999",
    "",
    "\0",
    "1\0",
    "\u{ff11}",
    "NaN",
];

struct Fuzzer {
    rng: StdRng,
    live: Vec<Vec<u8>>,
    dead: Vec<Vec<u8>>,
    /// (another application's key, its token for the id of a live session) whose slot is the
    /// live token's: the only way to reach another application's session (any other forged
    /// token names another key, so its session "does not exist").
    foreign: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A sign key whose token for the id of `t` lands in the same hash slot as `t`.
fn colliding_foreign_key(t: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let id = &t[3..19];
    let slot = crc16(t) & 16383;
    (0..)
        .map(|i| {
            let key = format!("foreign-{i}").into_bytes();
            let tok = [b"v1.".as_slice(), id, b".", sign_hex(&key, id).as_bytes()].concat();
            (key, tok)
        })
        .find(|(_, tok)| crc16(tok) & 16383 == slot)
        .unwrap()
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n)
        .map(|_| match rng.gen_range(0..4) {
            0 => 0,
            1 => 0xff,
            _ => rng.gen(),
        })
        .collect()
}

impl Fuzzer {
    fn key(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..10) {
            0..=5 => KEY.to_vec(),
            6 => OTHER_KEY.to_vec(),
            7 => vec![],
            _ => random_bytes(&mut self.rng, 64),
        }
    }

    fn real_token(&mut self) -> Vec<u8> {
        if self.live.is_empty() || self.rng.gen_bool(0.2) {
            if let Some(t) = self.pick_dead() {
                return t;
            }
        }
        if self.live.is_empty() {
            return b"v1.abcdefghijklmnop.40e494757241a7b4dd348fa60fd085121014c9e4fd16cdc17adc8f7475adfa21".to_vec();
        }
        self.live[self.rng.gen_range(0..self.live.len())].clone()
    }

    fn pick_dead(&mut self) -> Option<Vec<u8>> {
        if self.dead.is_empty() {
            None
        } else {
            Some(self.dead[self.rng.gen_range(0..self.dead.len())].clone())
        }
    }

    fn token(&mut self) -> Vec<u8> {
        let mut t = self.real_token();
        match self.rng.gen_range(0..20) {
            0..=7 => t,
            8 => vec![],
            9 => random_bytes(&mut self.rng, 120),
            10 => {
                // The same id signed by another key.
                let id = t[3..19].to_vec();
                let sig = sign_hex(OTHER_KEY, &id);
                [b"v1.".as_slice(), &id, b".", sig.as_bytes()].concat()
            }
            11 => {
                // A shape-preserving change: the signature no longer verifies.
                let pos = self.rng.gen_range(20..t.len());
                t[pos] = if t[pos] == b'0' { b'1' } else { b'0' };
                t
            }
            12 => {
                let pos = self.rng.gen_range(3..19);
                t[pos] = if t[pos] == b'a' { b'Z' } else { b'a' };
                t
            }
            13 => {
                let pos = self.rng.gen_range(0..t.len());
                t[pos] = self.rng.gen();
                t
            }
            14 => {
                let n = self.rng.gen_range(0..t.len());
                t.truncate(n);
                t
            }
            15 => {
                t.extend(random_bytes(&mut self.rng, 8));
                t.push(b'0');
                t
            }
            16 => t.to_ascii_uppercase(),
            17 => {
                t[2] = b'2';
                t
            }
            18 => {
                // Braces: a hash tag inside the token must not confuse anything.
                t[5] = b'{';
                t[9] = b'}';
                t
            }
            _ => {
                let other = self.real_token();
                t[3..19].copy_from_slice(&other[3..19]);
                t
            }
        }
    }

    fn ttl(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..10) {
            0..=5 => EXTREME_INTEGERS[self.rng.gen_range(0..EXTREME_INTEGERS.len())]
                .as_bytes()
                .to_vec(),
            6 | 7 => self.rng.gen_range(1..100_000u64).to_string().into_bytes(),
            8 => self.rng.gen::<u64>().to_string().into_bytes(),
            _ => random_bytes(&mut self.rng, 24),
        }
    }

    fn name(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..10) {
            0..=3 => format!("p{}", self.rng.gen_range(0..5)).into_bytes(),
            4 => vec![],
            5 => vec![b'n'; 200],
            6 => vec![b'n'; 201],
            7 => vec![0xff; self.rng.gen_range(1..1000)],
            _ => random_bytes(&mut self.rng, 220),
        }
    }

    fn data(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..2000) {
            0..=2 => vec![b'd'; 8_000_000],
            3..=5 => vec![b'd'; 8_000_001],
            6..=200 => vec![],
            201..=400 => vec![0u8; 1],
            _ => random_bytes(&mut self.rng, 2000),
        }
    }

    fn arg(&mut self, k: Kind) -> Vec<u8> {
        match k {
            Key => self.key(),
            Token => self.token(),
            Ttl => self.ttl(),
            Name => self.name(),
            Data => self.data(),
        }
    }

    /// A random command: (command index, name as sent, arguments after the name).
    fn command(&mut self) -> (usize, String, Vec<Vec<u8>>) {
        let ci = self.rng.gen_range(0..NAMES.len());
        let name: String = NAMES[ci]
            .chars()
            .map(|c| {
                if self.rng.gen_bool(0.1) {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        let shape = SHAPES[ci];
        let argc = if self.rng.gen_bool(0.75) {
            shape.len()
        } else {
            self.rng.gen_range(0..=7)
        };
        let kinds = [Key, Token, Ttl, Name, Data];
        let mut args: Vec<Vec<u8>> = (0..argc)
            .map(|i| {
                let k = shape
                    .get(i)
                    .copied()
                    .unwrap_or_else(|| kinds[self.rng.gen_range(0..kinds.len())]);
                self.arg(k)
            })
            .collect();
        if ci != 0 && argc == shape.len() && self.rng.gen_bool(0.03) {
            let (key, tok) = self.foreign[self.rng.gen_range(0..self.foreign.len())].clone();
            args[0] = key;
            args[1] = tok;
        }
        (ci, name, args)
    }
}

/// What the oracle allows as the reply.
struct Expect {
    exact_error: Option<String>,
    errors: Vec<&'static str>,
}

/// Ok(true): a valid ttl for sure; Ok(false): valid or too large depending on the clock;
/// Err: invalid for sure.
fn ttl_class(t: &[u8]) -> Result<bool, ()> {
    let canonical = !t.is_empty()
        && t.iter().all(u8::is_ascii_digit)
        && (t == b"0" || t[0] != b'0')
        && t.len() <= 20;
    if !canonical {
        return Err(());
    }
    let v: u128 = std::str::from_utf8(t).unwrap().parse().unwrap();
    let limit = i64::MAX as u128 / 1000;
    if v > limit {
        Err(())
    } else {
        // now (ms) is far below 10^13 for the next two centuries.
        Ok(v <= limit - 10_000_000_000)
    }
}

fn expect(ci: usize, name: &str, args: &[Vec<u8>]) -> Expect {
    let exact = |s: &str| Expect {
        exact_error: Some(s.to_string()),
        errors: vec![],
    };
    if args.len() != SHAPES[ci].len() {
        return exact(&format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_lowercase()
        ));
    }
    let mut errors = vec![];
    for (k, a) in SHAPES[ci].iter().zip(args) {
        let shape_error = match k {
            Key if a.is_empty() => Some(CONTRACT_ERRORS[0]),
            Token if a.is_empty() => Some(CONTRACT_ERRORS[1]),
            Token if !token_shape_ok(a) => Some(CONTRACT_ERRORS[2]),
            Ttl => match ttl_class(a) {
                Err(()) => Some(CONTRACT_ERRORS[3]),
                Ok(true) => None,
                Ok(false) => {
                    errors.push(CONTRACT_ERRORS[3]);
                    None
                }
            },
            Name if a.is_empty() => Some(CONTRACT_ERRORS[7]),
            Name if a.len() > 200 => Some(CONTRACT_ERRORS[8]),
            Data if a.is_empty() => Some(CONTRACT_ERRORS[9]),
            Data if a.len() > 8_000_000 => Some(CONTRACT_ERRORS[10]),
            _ => None,
        };
        if let Some(e) = shape_error {
            if errors.is_empty() {
                return exact(e);
            }
            // An ambiguous ttl came first: either its error or this one.
            errors.push(e);
            return Expect {
                exact_error: None,
                errors,
            };
        }
    }
    if ci != 0 {
        errors.extend([CONTRACT_ERRORS[4], CONTRACT_ERRORS[5], CONTRACT_ERRORS[6]]);
    }
    if ci == 3 || ci == 4 {
        errors.push(CONTRACT_ERRORS[11]);
    }
    Expect {
        exact_error: None,
        errors,
    }
}

#[test]
fn random_commands_get_well_formed_replies_and_the_server_stays_up() {
    let total = env_count("SESSIONGATE_FUZZ_COMMANDS", 40_000);
    let mut f = Fuzzer {
        rng: rng("random live commands"),
        live: vec![],
        dead: vec![],
        foreign: vec![],
    };
    let mut server = Server::start();
    let mut c = server.conn();

    // Sessions of an application the random commands never name: they must come through.
    let mut sentinels = vec![];
    for i in 0..20u8 {
        let t = start(&mut c, SENTINEL_KEY, 100_000);
        let r = one(&mut c, &pset_cmd(SENTINEL_KEY, &t, b"user", &[i; 50]));
        assert_eq!(r, Reply::Ok);
        sentinels.push((t, vec![i; 50]));
    }
    for _ in 0..50 {
        f.live.push(start(&mut c, KEY, 100_000));
    }
    f.foreign = f.live[..10]
        .iter()
        .map(|t| colliding_foreign_key(t))
        .collect();

    let mut sent = 0;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    while sent < total {
        let batch: Vec<(usize, String, Vec<Vec<u8>>)> =
            (0..500.min(total - sent)).map(|_| f.command()).collect();
        let cmds: Vec<redis::Cmd> = batch
            .iter()
            .map(|(_, name, args)| {
                let mut command = cmd(name);
                for a in args {
                    command.arg(a);
                }
                command
            })
            .collect();
        let replies = pipeline(&mut c, &cmds);
        assert_eq!(replies.len(), batch.len());
        for ((ci, name, args), reply) in batch.iter().zip(replies) {
            let e = expect(*ci, name, args);
            let what = || {
                format!(
                    "{name} with {} args {:?}",
                    args.len(),
                    args.iter()
                        .map(|a| String::from_utf8_lossy(&a[..a.len().min(100)]).to_string())
                        .collect::<Vec<_>>()
                )
            };
            let label = match &reply {
                Reply::Error(text) => {
                    if let Some(x) = &e.exact_error {
                        assert!(
                            text.eq_ignore_ascii_case(x),
                            "{}: got {text:?}, expected {x:?}",
                            what()
                        );
                    } else {
                        assert!(
                            e.errors.contains(&text.as_str()),
                            "{}: unexpected error {text:?}",
                            what()
                        );
                    }
                    text.clone()
                }
                Reply::Ok | Reply::Bulk(_) => {
                    assert!(
                        e.exact_error.is_none(),
                        "{}: succeeded, expected {:?}",
                        what(),
                        e.exact_error
                    );
                    match (*ci, &reply) {
                        (0, Reply::Bulk(t)) => {
                            assert!(token_shape_ok(t), "START returned {t:?}");
                            if args[1] != b"0" && args[0] == KEY {
                                if f.live.len() < 300 {
                                    f.live.push(t.clone());
                                }
                            } else {
                                f.dead.push(t.clone());
                            }
                        }
                        (3, Reply::Bulk(_)) => {}
                        (1 | 2 | 4 | 5, Reply::Ok) => {
                            let ended = *ci == 5 || (*ci == 1 && args[2] == b"0");
                            if ended {
                                f.live.retain(|t| t != &args[1]);
                                f.dead.push(args[1].clone());
                            }
                        }
                        _ => panic!("{}: reply of the wrong type {reply:?}", what()),
                    }
                    format!("{} success", NAMES[*ci])
                }
                Reply::Other(v) => panic!("{}: malformed reply {v}", what()),
            };
            *counts.entry(label).or_default() += 1;
        }
        sent += batch.len();
        if f.dead.len() > 1000 {
            f.dead.drain(..500);
        }
    }

    assert!(server.alive(), "the server died; log:\n{}", server.log());
    ping(&mut c);
    for (t, data) in &sentinels {
        let r = one(&mut c, &pget_cmd(SENTINEL_KEY, t, b"user"));
        assert_eq!(r, Reply::Bulk(data.clone()), "a sentinel session changed");
    }
    assert_sessions_whole(&mut c);
    // The module still works normally afterwards.
    let t = start(&mut c, KEY, 60);
    pset(&mut c, &t, b"after", b"fuzz");
    assert_eq!(
        pget_reply(&mut c, &t, b"after"),
        Reply::Bulk(b"fuzz".to_vec())
    );
    println!("{sent} random commands; replies by kind:");
    for (label, n) in &counts {
        println!("  {n:>7}  {label}");
    }
    // The mix reached every branch that matters (guards against a generator that only ever
    // produces arity errors).
    for must in [
        "SESSIONGATE.START success",
        "SESSIONGATE.PSET success",
        "SESSIONGATE.PGET success",
        "SESSIONGATE.END success",
        CONTRACT_ERRORS[2],
        CONTRACT_ERRORS[3],
        CONTRACT_ERRORS[4],
        CONTRACT_ERRORS[5],
        CONTRACT_ERRORS[6],
        // Not CONTRACT_ERRORS[10] (data over 8,000,000 bytes): each such payload costs 8 MB, so
        // the generator draws few and some seeds reach none; contract.rs checks it exactly.
        CONTRACT_ERRORS[9],
    ] {
        assert!(
            counts.get(must).copied().unwrap_or(0) > 0,
            "never saw {must:?}"
        );
    }
    assert!(!counts.contains_key(INTERNAL), "a handler panicked");
}
