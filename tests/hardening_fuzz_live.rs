//! Hostile input against a live server, every reply predicted exactly. Tens of thousands of
//! random commands (random arity, random bytes, mutated real tokens, extreme integers, other
//! applications' keys) run against a model of the server's sessions: each live session's sign
//! key, payloads and expiry (ended, expired and never-stored sessions are simply absent). For
//! each command the model predicts the reply: the exact error in the design's order of checks,
//! or OK, a token signed with the caller's key, the payload's bytes, PGETALL's pairs, TTL's
//! seconds. Only time is uncertain: a session whose expiry falls while its pipeline runs may
//! answer either way, and the model follows the server. So a lost, crossed, changed or
//! resurrected session fails, and at the end the server holds exactly the model's sessions.
//! The server must stay up, and sessions of an application the commands never name, intact.
//!
//! All nine commands, START's optional cap and RENEW's optional new key included. Another
//! command: its name and argument kinds in COMMANDS, its success in `Model::success`.

mod common;
mod harden;

use std::collections::{BTreeMap, HashMap};

use common::*;
use harden::*;
use rand::rngs::StdRng;
use rand::Rng;
use redis::Value;

/// A sign key the random commands never use, for sessions that must come through untouched.
const SENTINEL_KEY: &[u8] = b"sentinel-application";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Key,
    Token,
    Ttl,
    Name,
    Data,
    /// START's max_lifetime.
    Cap,
    /// RENEW's new_sign_key.
    NewKey,
}
use Kind::*;

/// Every command sent: its name, the kinds of the arguments after the name, and how many of
/// them it requires (the rest are optional).
const COMMANDS: [(&str, &[Kind], usize); 9] = [
    ("SESSIONGATE.START", &[Key, Ttl, Cap], 2),
    ("SESSIONGATE.EXPIRE", &[Key, Token, Ttl], 3),
    ("SESSIONGATE.PSET", &[Key, Token, Name, Data], 4),
    ("SESSIONGATE.PGET", &[Key, Token, Name], 3),
    ("SESSIONGATE.PDEL", &[Key, Token, Name], 3),
    ("SESSIONGATE.END", &[Key, Token], 2),
    ("SESSIONGATE.TTL", &[Key, Token], 2),
    ("SESSIONGATE.PGETALL", &[Key, Token], 2),
    ("SESSIONGATE.RENEW", &[Key, Token, NewKey], 2),
];
const START: usize = 0;
const EXPIRE: usize = 1;
const PSET: usize = 2;
const PGET: usize = 3;
const PDEL: usize = 4;
const END: usize = 5;
const TTL: usize = 6;
const PGETALL: usize = 7;
const RENEW: usize = 8;

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
    /// live token's: the only way to reach another application's session.
    foreign: Vec<(Vec<u8>, Vec<u8>)>,
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
            0..=3 => format!("p{}", self.rng.gen_range(0..2)).into_bytes(),
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
            Cap => match self.rng.gen_range(0..4) {
                0 => self.ttl(),
                _ => self.rng.gen_range(1..200_000u64).to_string().into_bytes(),
            },
            NewKey => self.key(),
        }
    }

    /// A random command: (command index, name as sent, arguments after the name).
    fn command(&mut self) -> (usize, String, Vec<Vec<u8>>) {
        let ci = self.rng.gen_range(0..COMMANDS.len());
        let name: String = COMMANDS[ci]
            .0
            .chars()
            .map(|c| {
                if self.rng.gen_bool(0.1) {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        let (_, shape, required) = COMMANDS[ci];
        let argc = if self.rng.gen_bool(0.75) {
            self.rng.gen_range(required..=shape.len())
        } else {
            self.rng.gen_range(0..=7)
        };
        let well_formed = (required..=shape.len()).contains(&argc);
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
        // Some well-formed commands on live sessions, so that successes (a PGET of a payload
        // set before, say) come often enough at any seed.
        if ci != START && well_formed && !self.live.is_empty() && self.rng.gen_bool(0.1) {
            args[0] = KEY.to_vec();
            args[1] = self.live[self.rng.gen_range(0..self.live.len())].clone();
            for (i, k) in shape.iter().enumerate().take(argc).skip(2) {
                args[i] = match k {
                    Name => format!("p{}", self.rng.gen_range(0..2)).into_bytes(),
                    Data => random_bytes(&mut self.rng, 100)
                        .into_iter()
                        .chain([1])
                        .collect(),
                    Ttl => self.rng.gen_range(1..100_000u64).to_string().into_bytes(),
                    NewKey if self.rng.gen_bool(0.7) => KEY.to_vec(),
                    NewKey => OTHER_KEY.to_vec(),
                    _ => unreachable!(),
                };
            }
        }
        if ci != START && well_formed && self.rng.gen_bool(0.03) {
            let (key, tok) = self.foreign[self.rng.gen_range(0..self.foreign.len())].clone();
            args[0] = key;
            args[1] = tok;
        }
        (ci, name, args)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A live session as the model knows it.
#[derive(Clone, Debug)]
struct Session {
    key: Vec<u8>,
    token: Vec<u8>,
    payloads: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The absolute expiry (unix ms) lies in this range: the server set it while the pipeline
    /// holding the START or EXPIRE ran.
    expiry: (i64, i64),
    /// The cap (START's max_lifetime): no expiry may pass it.
    deadline: Option<(i64, i64)>,
}

/// Sessions live on the server, by the hash slot of their token and their id (what names the
/// key): a token with the same id in another slot names another (absent) session.
type Id = (u16, Vec<u8>);

fn id_of(token: &[u8]) -> Id {
    (crc16(token) & 16383, token[3..19].to_vec())
}

/// The reply the model expects.
#[derive(Clone, Debug, PartialEq)]
enum Want {
    Error(String),
    Ok,
    /// A token of the shape of the contract, signed with this key.
    TokenOf(Vec<u8>),
    Bulk(Vec<u8>),
    Pairs(BTreeMap<Vec<u8>, Vec<u8>>),
    /// TTL's seconds, within this range (the clock runs).
    Seconds(i64, i64),
}

/// What an accepted reply does to the model.
#[derive(Clone, Debug)]
enum Effect {
    None,
    /// START with a ttl: the returned token's session, with this key, expiry and cap.
    Start(Vec<u8>, (i64, i64), Option<(i64, i64)>),
    /// RENEW: the session moves to the returned token, under this key.
    Renew(Id, Vec<u8>),
    Set(Id, Vec<u8>, Vec<u8>),
    Del(Id, Vec<u8>),
    Expiry(Id, (i64, i64)),
    Remove(Id),
}

/// One way the server may answer, and what that answer means.
#[derive(Clone, Debug)]
struct Outcome {
    want: Want,
    effect: Effect,
}

fn fails(text: &str) -> Vec<Outcome> {
    vec![Outcome {
        want: Want::Error(text.to_string()),
        effect: Effect::None,
    }]
}

enum TtlClass {
    Invalid,
    Valid(i64),
    /// Valid or too large, depending on the server's clock within the window.
    Either(i64),
}

/// A ttl as the contract reads it: `0` or digits without a leading zero, small enough that
/// now + ttl in milliseconds fits an i64 (now: anywhere in the window).
fn ttl_class(t: &[u8], window: (i64, i64)) -> TtlClass {
    let canonical = !t.is_empty()
        && t.iter().all(u8::is_ascii_digit)
        && (t == b"0" || t[0] != b'0')
        && t.len() <= 20;
    if !canonical {
        return TtlClass::Invalid;
    }
    let v: u128 = std::str::from_utf8(t).unwrap().parse().unwrap();
    if v > i64::MAX as u128 {
        return TtlClass::Invalid;
    }
    let v = v as i64;
    let fits = |now: i64| {
        v.checked_mul(1000)
            .and_then(|ms| ms.checked_add(now))
            .is_some()
    };
    match (fits(window.0), fits(window.1)) {
        (true, true) => TtlClass::Valid(v),
        (false, false) => TtlClass::Invalid,
        _ => TtlClass::Either(v),
    }
}

const INVALID_CAP: &str = "<max_lifetime> must be a positive integer that represents seconds";
const EMPTY_NEW_KEY: &str = "<new_sign_key> must have at least one character";

/// An expiry range held under a cap: min(expiry, deadline), bound by bound.
fn capped(expiry: (i64, i64), deadline: Option<(i64, i64)>) -> (i64, i64) {
    match deadline {
        Some(d) => (expiry.0.min(d.0), expiry.1.min(d.1)),
        None => expiry,
    }
}

fn expiry_after(ttl: i64, window: (i64, i64)) -> (i64, i64) {
    (
        window.0.saturating_add(ttl * 1000),
        window.1.saturating_add(ttl * 1000),
    )
}

#[derive(Default)]
struct Model {
    sessions: HashMap<Id, Session>,
    /// Tokens of sessions that ended or expired, for the generator.
    gone: Vec<Vec<u8>>,
}

impl Model {
    /// Every reply the server may give to `name args` while the clock is within `window`.
    fn outcomes(
        &self,
        ci: usize,
        name: &str,
        args: &[Vec<u8>],
        window: (i64, i64),
    ) -> Vec<Outcome> {
        let (_, shape, required) = COMMANDS[ci];
        if !(required..=shape.len()).contains(&args.len()) {
            return fails(&format!(
                "ERR wrong number of arguments for '{}' command",
                arity_error_name(name)
            ));
        }
        // Each argument's own shape, in argument order. A value that is valid or too large
        // depending on the clock adds its error as another possible reply.
        let mut ttl = None;
        let mut cap = None;
        let mut may_fail = vec![];
        for (k, a) in shape.iter().zip(args) {
            let error = match k {
                Key if a.is_empty() => Some(CONTRACT_ERRORS[0]),
                Token if a.is_empty() => Some(CONTRACT_ERRORS[1]),
                Token if !token_shape_ok(a) => Some(CONTRACT_ERRORS[2]),
                Ttl => match ttl_class(a, window) {
                    TtlClass::Invalid => Some(CONTRACT_ERRORS[3]),
                    TtlClass::Valid(v) => {
                        ttl = Some(v);
                        None
                    }
                    TtlClass::Either(v) => {
                        ttl = Some(v);
                        may_fail.push(CONTRACT_ERRORS[3]);
                        None
                    }
                },
                Cap => match ttl_class(a, window) {
                    TtlClass::Valid(0) | TtlClass::Either(0) | TtlClass::Invalid => {
                        Some(INVALID_CAP)
                    }
                    TtlClass::Valid(v) => {
                        cap = Some(v);
                        None
                    }
                    TtlClass::Either(v) => {
                        cap = Some(v);
                        may_fail.push(INVALID_CAP);
                        None
                    }
                },
                NewKey if a.is_empty() => Some(EMPTY_NEW_KEY),
                Name if a.is_empty() => Some(CONTRACT_ERRORS[7]),
                Name if a.len() > 200 => Some(CONTRACT_ERRORS[8]),
                Data if a.is_empty() => Some(CONTRACT_ERRORS[9]),
                Data if a.len() > 8_000_000 => Some(CONTRACT_ERRORS[10]),
                _ => None,
            };
            if let Some(e) = error {
                may_fail.insert(0, e);
                return may_fail.into_iter().flat_map(fails).collect();
            }
        }
        let mut all = self.checked(ci, args, ttl, cap, window);
        all.extend(may_fail.into_iter().flat_map(fails));
        all
    }

    /// The replies once every argument has its shape: the signature, the session, the action.
    fn checked(
        &self,
        ci: usize,
        args: &[Vec<u8>],
        ttl: Option<i64>,
        cap: Option<i64>,
        window: (i64, i64),
    ) -> Vec<Outcome> {
        let key = &args[0];
        if ci == START {
            let ttl = ttl.unwrap();
            let deadline = cap.map(|c| expiry_after(c, window));
            let effect = if ttl == 0 {
                Effect::None
            } else {
                Effect::Start(
                    key.clone(),
                    capped(expiry_after(ttl, window), deadline),
                    deadline,
                )
            };
            return vec![Outcome {
                want: Want::TokenOf(key.clone()),
                effect,
            }];
        }
        let token = &args[1];
        if sign_hex(key, &token[3..19]).as_bytes() != &token[20..] {
            return fails(CONTRACT_ERRORS[4]);
        }
        let id = id_of(token);
        let Some(s) = self.sessions.get(&id) else {
            return fails(CONTRACT_ERRORS[5]);
        };
        // Redis expires a key once its time has passed: for certain if that was before the
        // pipeline started, not at all if after it ended, else either.
        let mut all = vec![];
        if s.expiry.1 >= window.0 {
            all.push(if &s.key != key {
                Outcome {
                    want: Want::Error(CONTRACT_ERRORS[6].into()),
                    effect: Effect::None,
                }
            } else {
                Model::success(ci, s, id.clone(), args, ttl, window)
            });
        }
        if s.expiry.0 < window.1 {
            all.push(Outcome {
                want: Want::Error(CONTRACT_ERRORS[5].into()),
                effect: Effect::Remove(id),
            });
        }
        all
    }

    /// A token command on a live session of the caller's key.
    fn success(
        ci: usize,
        s: &Session,
        id: Id,
        args: &[Vec<u8>],
        ttl: Option<i64>,
        window: (i64, i64),
    ) -> Outcome {
        let ok = |effect| Outcome {
            want: Want::Ok,
            effect,
        };
        let no_payload = || Outcome {
            want: Want::Error(CONTRACT_ERRORS[11].into()),
            effect: Effect::None,
        };
        match ci {
            EXPIRE => match ttl.unwrap() {
                0 => ok(Effect::Remove(id)),
                t => ok(Effect::Expiry(
                    id,
                    capped(expiry_after(t, window), s.deadline),
                )),
            },
            RENEW => {
                let new_key = args.get(2).unwrap_or(&args[0]).clone();
                Outcome {
                    want: Want::TokenOf(new_key.clone()),
                    effect: Effect::Renew(id, new_key),
                }
            }
            PSET => ok(Effect::Set(id, args[2].clone(), args[3].clone())),
            PGET => match s.payloads.get(&args[2]) {
                Some(d) => Outcome {
                    want: Want::Bulk(d.clone()),
                    effect: Effect::None,
                },
                None => no_payload(),
            },
            PDEL if s.payloads.contains_key(&args[2]) => ok(Effect::Del(id, args[2].clone())),
            PDEL => no_payload(),
            END => ok(Effect::Remove(id)),
            TTL => {
                // Seconds left, rounded as Redis' TTL: (ms + 500) / 1000.
                let secs = |ms: i64| (ms as i128 + 500).div_euclid(1000) as i64;
                Outcome {
                    want: Want::Seconds(
                        secs((s.expiry.0 - window.1).max(0)),
                        secs(s.expiry.1 - window.0),
                    ),
                    effect: Effect::None,
                }
            }
            PGETALL => Outcome {
                want: Want::Pairs(s.payloads.clone()),
                effect: Effect::None,
            },
            _ => unreachable!("command {ci}"),
        }
    }

    /// Whether `reply` is the one `want` predicts.
    fn matches(want: &Want, reply: &Value) -> bool {
        match (want, reply) {
            (Want::Error(text), Value::ServerError(e)) => {
                let got = match e.details() {
                    Some(d) => format!("{} {d}", e.code()),
                    None => e.code().to_string(),
                };
                &got == text
            }
            (Want::Ok, Value::Okay) => true,
            (Want::Ok, Value::SimpleString(s)) => s == "OK",
            (Want::TokenOf(key), Value::BulkString(t)) => {
                token_shape_ok(t) && sign_hex(key, &t[3..19]).as_bytes() == &t[20..]
            }
            (Want::Bulk(d), Value::BulkString(b)) => d == b,
            (Want::Pairs(p), Value::Array(flat)) => {
                let mut got = BTreeMap::new();
                for pair in flat.chunks(2) {
                    match pair {
                        [Value::BulkString(n), Value::BulkString(d)] => {
                            if got.insert(n.clone(), d.clone()).is_some() {
                                return false;
                            }
                        }
                        _ => return false,
                    }
                }
                &got == p
            }
            (Want::Seconds(lo, hi), Value::Int(n)) => (*lo..=*hi).contains(n),
            _ => false,
        }
    }

    fn apply(&mut self, effect: Effect, reply: &Value) {
        match effect {
            Effect::None => {}
            Effect::Start(key, expiry, deadline) => {
                let Value::BulkString(token) = reply else {
                    unreachable!()
                };
                let s = Session {
                    key,
                    token: token.clone(),
                    payloads: BTreeMap::new(),
                    expiry,
                    deadline,
                };
                let old = self.sessions.insert(id_of(token), s);
                assert!(old.is_none(), "START returned the token of a live session");
            }
            Effect::Renew(id, key) => {
                let Value::BulkString(token) = reply else {
                    unreachable!()
                };
                let old = self.sessions.remove(&id).unwrap();
                self.gone.push(old.token.clone());
                let moved = Session {
                    key,
                    token: token.clone(),
                    ..old
                };
                let clash = self.sessions.insert(id_of(token), moved);
                assert!(
                    clash.is_none(),
                    "RENEW returned the token of a live session"
                );
            }
            Effect::Set(id, n, d) => {
                self.sessions.get_mut(&id).unwrap().payloads.insert(n, d);
            }
            Effect::Del(id, n) => {
                self.sessions.get_mut(&id).unwrap().payloads.remove(&n);
            }
            Effect::Expiry(id, e) => self.sessions.get_mut(&id).unwrap().expiry = e,
            Effect::Remove(id) => {
                let s = self.sessions.remove(&id).unwrap();
                self.gone.push(s.token);
            }
        }
    }
}

/// Checks each reply of a pipeline sent within `window` against the model, in order, and
/// applies it; returns a label per reply, for the coverage count.
fn check_batch(
    model: &mut Model,
    batch: &[(usize, String, Vec<Vec<u8>>)],
    replies: &[Value],
    window: (i64, i64),
) -> Vec<String> {
    assert_eq!(replies.len(), batch.len());
    let mut labels = vec![];
    for ((ci, name, args), reply) in batch.iter().zip(replies) {
        let outcomes = model.outcomes(*ci, name, args, window);
        let Some(o) = outcomes.iter().find(|o| Model::matches(&o.want, reply)) else {
            panic!(
                "{name} with {} args {:?}: got {}, expected one of {:?}",
                args.len(),
                args.iter()
                    .map(|a| String::from_utf8_lossy(&a[..a.len().min(100)]).to_string())
                    .collect::<Vec<_>>(),
                shorten(&format!("{reply:?}")),
                outcomes
                    .iter()
                    .map(|o| shorten(&format!("{:?}", o.want)))
                    .collect::<Vec<_>>()
            )
        };
        labels.push(match &o.want {
            Want::Error(e) => e.clone(),
            _ => format!("{} success", COMMANDS[*ci].0),
        });
        model.apply(o.effect.clone(), reply);
    }
    labels
}

fn shorten(s: &str) -> String {
    s.chars().take(300).collect()
}

#[test]
fn random_commands_get_the_replies_a_model_predicts_and_the_server_stays_up() {
    let total = env_count("SESSIONGATE_FUZZ_COMMANDS", 40_000, 10_000);
    let mut f = Fuzzer {
        rng: rng("random live commands"),
        live: vec![],
        dead: vec![],
        foreign: vec![],
    };
    let mut model = Model::default();
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
    let initial: Vec<(usize, String, Vec<Vec<u8>>)> = (0..50)
        .map(|i| {
            let mut args = vec![KEY.to_vec(), b"100000".to_vec()];
            if i % 2 == 0 {
                args.push(b"200000".to_vec());
            }
            (START, COMMANDS[START].0.to_string(), args)
        })
        .collect();
    run_batch(&mut c, &mut model, &initial);
    f.live = model.sessions.values().map(|s| s.token.clone()).collect();
    f.live.sort();
    f.foreign = f.live[..10].iter().map(|t| foreign_token(t)).collect();

    let mut sent = 0;
    let mut counts = BTreeMap::<String, usize>::new();
    while sent < total {
        let batch: Vec<(usize, String, Vec<Vec<u8>>)> =
            (0..500.min(total - sent)).map(|_| f.command()).collect();
        for label in run_batch(&mut c, &mut model, &batch) {
            *counts.entry(label).or_default() += 1;
        }
        sent += batch.len();
        // The generator draws real tokens from the model: live ones, and some that are gone.
        f.live = model.sessions.values().map(|s| s.token.clone()).collect();
        f.live.sort();
        f.live.truncate(300);
        let gone = model.gone.len();
        f.dead = model.gone[gone.saturating_sub(500)..].to_vec();
    }

    assert!(server.alive(), "the server died; log:\n{}", server.log());
    ping(&mut c);
    for (t, data) in &sentinels {
        let r = one(&mut c, &pget_cmd(SENTINEL_KEY, t, b"user"));
        assert_eq!(r, Reply::Bulk(data.clone()), "a sentinel session changed");
    }
    assert_sessions_whole(&mut c);
    let checked = assert_holds_exactly(&mut c, &model, &sentinels);
    // The module still works normally afterwards.
    let t = start(&mut c, KEY, 60);
    pset(&mut c, &t, b"after", b"fuzz");
    assert_eq!(
        pget_reply(&mut c, &t, b"after"),
        Reply::Bulk(b"fuzz".to_vec())
    );
    println!("{sent} random commands, {checked} sessions left; replies by kind:");
    for (label, n) in &counts {
        println!("  {n:>7}  {label}");
    }
    // The mix reached every branch that matters (guards against a generator that only ever
    // produces arity errors).
    let mut must: Vec<String> = COMMANDS
        .iter()
        .map(|(name, _, _)| format!("{name} success"))
        .collect();
    must.push(INVALID_CAP.to_string());
    must.push(EMPTY_NEW_KEY.to_string());
    // Not CONTRACT_ERRORS[10] (data over 8,000,000 bytes): each such payload costs 8 MB, so
    // the generator draws few and some seeds reach none; contract.rs checks it exactly.
    for i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11] {
        must.push(CONTRACT_ERRORS[i].to_string());
    }
    for m in &must {
        assert!(counts.get(m).copied().unwrap_or(0) > 0, "never saw {m:?}");
    }
    assert!(!counts.contains_key(INTERNAL), "a handler panicked");
}

/// Sends `batch` in one pipeline and checks every reply against the model.
fn run_batch(
    c: &mut redis::Connection,
    model: &mut Model,
    batch: &[(usize, String, Vec<Vec<u8>>)],
) -> Vec<String> {
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
    let before = now_ms();
    let replies = pipeline_values(c, &cmds);
    let window = (before, now_ms());
    check_batch(model, batch, &replies, window)
}

/// The server holds exactly the model's sessions (those whose expiry may have passed may be
/// gone), each with exactly its payloads; returns how many were checked.
fn assert_holds_exactly(
    c: &mut redis::Connection,
    model: &Model,
    sentinels: &[(Vec<u8>, Vec<u8>)],
) -> usize {
    let before = now_ms();
    let on_server: Vec<Vec<u8>> = keys(c);
    let mut values = vec![];
    let sessions: Vec<&Session> = model.sessions.values().collect();
    let cmds: Vec<redis::Cmd> = sessions
        .iter()
        .map(|s| {
            let mut command = cmd("SESSIONGATE.PGETALL");
            command.arg(&s.key).arg(&s.token);
            command
        })
        .collect();
    for chunk in cmds.chunks(200) {
        values.extend(pipeline_values(c, chunk));
    }
    let window = (before, now_ms());
    let mut expected_ids: std::collections::HashSet<Vec<u8>> =
        sentinels.iter().map(|(t, _)| t[3..19].to_vec()).collect();
    let mut checked = 0;
    for (s, v) in sessions.iter().zip(&values) {
        let alive = Model::matches(&Want::Pairs(s.payloads.clone()), v);
        let may_have_expired = s.expiry.0 < window.1;
        assert!(
            alive || (may_have_expired && Model::matches(&Want::Error(NO_SESSION.into()), v)),
            "session {} holds {} instead of {:?}",
            String::from_utf8_lossy(&s.token),
            shorten(&format!("{v:?}")),
            s.payloads.keys().collect::<Vec<_>>()
        );
        if alive {
            expected_ids.insert(s.token[3..19].to_vec());
            checked += 1;
        } else if let Some(k) = on_server.iter().find(|k| k.ends_with(&s.token[3..19])) {
            // Expired just now: gone whole (Redis deletes expired keys on access).
            let exists: i64 = cmd("EXISTS").arg(k).query(c).unwrap();
            assert_eq!(exists, 0);
        }
    }
    for k in on_server {
        let id = k[k.len() - 16..].to_vec();
        let exists: i64 = cmd("EXISTS").arg(&k).query(c).unwrap();
        assert!(
            exists == 0 || expected_ids.contains(&id),
            "the server holds a session the model does not: {}",
            String::from_utf8_lossy(&k)
        );
    }
    checked
}
