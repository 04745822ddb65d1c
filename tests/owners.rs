//! Owners (DESIGN §1b) on one server: STARTFOR, SESSIONS and REVOKE, every reply and error and
//! their order; v2 tokens on every token command; RENEW of an owned session; the owner's index
//! (its key, members, expiry, pruning) and the owned meta field; INFO, command metadata and
//! redaction. Replication, persistence and crashes: owners_durability.rs; clusters:
//! cluster_owners.rs.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use redis::Value;

const OTHER_APP: &[u8] = b"another-application";
const EMPTY_OWNER: &str = "<owner> must have at least one character";
const EMPTY_SIGN_KEY: &str = "<sign_key> must have at least one character";
const EMPTY_TOKEN: &str = "<token> must have at least one character";
const TOKEN_FORMAT: &str = "<token> format is invalid";
const BAD_TTL: &str = "<ttl> must be a valid integer that represents seconds";
const BAD_CAP: &str = "<max_lifetime> must be a positive integer that represents seconds";
const BAD_SIG: &str = "the signature contained in <token> is invalid";
const NO_SESSION: &str = "the session id contained in <token> does not exist";
const FOREIGN: &str = "the signature contained in <token> seems to be valid, but is different from the stored signature in the session";
const WRONG_OWNER: &str = "the session id contained in <token> is not owned by <owner>";
const ID_FORMAT: &str = "<id> format is invalid";
const SYNTAX: &str = "ERR syntax error: EXCEPT takes exactly one <token> and no <id>";
const EMPTY_NAME: &str = "<payload_name> must have at least one character";
const LONG_NAME: &str = "<payload_name> length exceeds the maximum value allowed of 200";
const OWNED_NEW_KEY: &str = "<new_sign_key> cannot be given for an owned session";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn arity(name: &str) -> String {
    format!(
        "ERR wrong number of arguments for '{}' command",
        arity_error_name(name)
    )
}

fn revoke(c: &mut redis::Connection, key: &[u8], owner: &[u8], rest: &[&[u8]]) -> i64 {
    cmd("SESSIONGATE.REVOKE")
        .arg(key)
        .arg(owner)
        .arg(rest)
        .query(c)
        .unwrap_or_else(|e| panic!("SESSIONGATE.REVOKE: {e}"))
}

fn revoke_cmd(key: &[u8], owner: &[u8], rest: &[&[u8]]) -> redis::Cmd {
    let mut c = cmd("SESSIONGATE.REVOKE");
    c.arg(key).arg(owner).arg(rest);
    c
}

/// The key of an owned session, from its token.
fn owned_key(t: &[u8]) -> Vec<u8> {
    let (tag, id) = v2_parts(KEY, t).expect("an owned token of KEY");
    [b"sessiongate:{".as_slice(), &tag, b"}:", &id].concat()
}

fn ids(listed: &[Listed]) -> Vec<Vec<u8>> {
    listed.iter().map(|e| e.0.clone()).collect()
}

fn id_of(t: &[u8]) -> Vec<u8> {
    v2_parts(KEY, t)
        .or_else(|| v2_parts(OTHER_APP, t))
        .map(|(_, id)| id)
        .unwrap_or_else(|| t[3..19].to_vec())
}

/// The index's members (ids) with their scores (creation ms), oldest first.
fn index_members(c: &mut redis::Connection, key: &[u8], owner: &[u8]) -> Vec<(Vec<u8>, i64)> {
    cmd("ZRANGE")
        .arg(index_key(key, owner))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(c)
        .unwrap()
}

/// The index's ids in SESSIONS' order: newest first, and for one millisecond the greater id.
fn newest_first(c: &mut redis::Connection, key: &[u8], owner: &[u8]) -> Vec<Vec<u8>> {
    let mut members = index_members(c, key, owner);
    members.sort_by(|a, b| (b.1, &b.0).cmp(&(a.1, &a.0)));
    members.into_iter().map(|m| m.0).collect()
}

/// PEXPIRETIME where the server has it, else the time left (ms) added to now.
fn ends_at(c: &mut redis::Connection, key: &[u8]) -> i64 {
    pexpiretime(c, key).unwrap_or_else(|| {
        let left: i64 = cmd("PTTL").arg(key).query(c).unwrap();
        if left < 0 {
            left
        } else {
            now_ms() + left
        }
    })
}

/// Ends within `slack` ms of each other (PEXPIRETIME is exact; PTTL read twice is not).
fn same_end(a: i64, b: i64) -> bool {
    let slack = if server_version().0 >= (7, 0) { 0 } else { 50 };
    (a - b).abs() <= slack
}

#[test]
fn startfor_stores_an_owned_session_in_the_owners_slot() {
    let s = Server::start();
    let mut c = s.conn();
    for owner in [&b"alice"[..], b"{user}:1", b"\0\xff binary owner", b"x"] {
        let before = now_ms();
        let t = start_for(&mut c, KEY, owner, 600);
        let after = now_ms();
        let (tag, id) = v2_parts(KEY, &t).unwrap_or_else(|| {
            panic!("not an owned token of KEY: {}", String::from_utf8_lossy(&t))
        });
        assert_eq!(
            tag,
            slot_tag(key_slot(owner)),
            "the token's tag is the owner's slot's"
        );
        assert_eq!(
            key_slot(&t),
            key_slot(owner),
            "clients route the token to that slot"
        );
        assert_eq!(t.len(), 87 + tag.len());
        let session_key = [b"sessiongate:{".as_slice(), &tag, b"}:", &id].concat();
        let meta: Vec<u8> = cmd("HGET").arg(&session_key).arg("").query(&mut c).unwrap();
        assert_eq!(meta.len(), 40);
        assert_eq!(&meta[..16], fingerprint(KEY));
        assert_eq!(&meta[16..32], owner_digest(KEY, owner));
        let created = i64::from_be_bytes(meta[32..].try_into().unwrap());
        assert!((before..=after).contains(&created), "{created}");
        assert_eq!(
            index_members(&mut c, KEY, owner),
            vec![(id.clone(), created)]
        );
        let idx = index_key(KEY, owner);
        assert!(same_end(
            ends_at(&mut c, &idx),
            ends_at(&mut c, &session_key)
        ));
        let listed = sessions(&mut c, KEY, owner, &[]);
        assert_eq!(listed, vec![(id, created / 1000, 600, vec![])]);
        // Nothing of the owner or the sign key is stored, anywhere.
        for k in keys(&mut c) {
            let dump: Vec<u8> = cmd("DUMP").arg(&k).query(&mut c).unwrap();
            for secret in [owner, KEY] {
                assert!(!k.windows(secret.len()).any(|w| w == secret) || secret == b"x");
                assert!(!dump.windows(secret.len()).any(|w| w == secret) || secret == b"x");
            }
        }
    }
    // With a cap: 48 bytes, the deadline in the middle; the expiry never passes the cap.
    let before = now_ms();
    let t = cmd("SESSIONGATE.STARTFOR")
        .arg(KEY)
        .arg("carol")
        .arg(600)
        .arg(60)
        .query::<Vec<u8>>(&mut c)
        .unwrap();
    let (tag, id) = v2_parts(KEY, &t).unwrap();
    let session_key = [b"sessiongate:{".as_slice(), &tag, b"}:", &id].concat();
    let meta: Vec<u8> = cmd("HGET").arg(&session_key).arg("").query(&mut c).unwrap();
    assert_eq!(meta.len(), 48);
    let deadline = i64::from_be_bytes(meta[16..24].try_into().unwrap());
    assert!((before + 60_000..=now_ms() + 60_000).contains(&deadline));
    assert_eq!(&meta[24..40], owner_digest(KEY, b"carol"));
    let ttl: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(ttl, 60);
    // ttl 0: a token of the right shape, and nothing stored.
    let n = keys(&mut c).len();
    let t0 = start_for(&mut c, KEY, b"dave", 0);
    assert!(v2_parts(KEY, &t0).is_some());
    assert_eq!(keys(&mut c).len(), n);
    assert_eq!(sessions(&mut c, KEY, b"dave", &[]), vec![]);
}

#[test]
fn sessions_lists_newest_first_with_payloads_and_only_this_owner_and_application() {
    let s = Server::start();
    let mut c = s.conn();
    let mut tokens = vec![];
    for (i, ttl) in [300, 900, 600].iter().enumerate() {
        let t = start_for(&mut c, KEY, b"alice", *ttl);
        ok(&mut c, "PSET", (KEY, &t, "device", format!("device-{i}")));
        tokens.push(t);
        std::thread::sleep(Duration::from_millis(2));
    }
    ok(&mut c, "PSET", (KEY, &tokens[1], b"bin\0", b"\xff\0"));
    // Sessions that must never show: another owner (same slot too), another application's
    // session of the same owner, an unowned session.
    let bob = start_for(&mut c, KEY, b"bob", 300);
    let same_slot = start_for(&mut c, KEY, b"{alice}", 300);
    let other_app = start_for(&mut c, OTHER_APP, b"alice", 300);
    let _unowned = start(&mut c, KEY, 300);

    let listed = sessions(&mut c, KEY, b"alice", &[b"device", b"bin\0", b"absent"]);
    let want: Vec<Vec<u8>> = tokens.iter().rev().map(|t| id_of(t)).collect();
    assert_eq!(ids(&listed), want, "newest first");
    let members = index_members(&mut c, KEY, b"alice");
    for (e, (i, ttl)) in listed.iter().zip([(2, 600), (1, 900), (0, 300)]) {
        let created = members.iter().find(|(m, _)| *m == e.0).unwrap().1;
        assert_eq!(e.1, created / 1000);
        assert_eq!(e.2, ttl);
        let device = format!("device-{i}").into_bytes();
        let bin = (i == 1).then(|| b"\xff\0".to_vec());
        assert_eq!(e.3, vec![Some(device), bin, None]);
    }
    assert_eq!(ids(&sessions(&mut c, KEY, b"bob", &[])), vec![id_of(&bob)]);
    assert_eq!(
        ids(&sessions(&mut c, KEY, b"{alice}", &[])),
        vec![id_of(&same_slot)]
    );
    assert_eq!(
        ids(&sessions(&mut c, OTHER_APP, b"alice", &[])),
        vec![id_of(&other_app)]
    );
    assert_eq!(sessions(&mut c, b"third-app", b"alice", &[]), vec![]);
    assert_eq!(sessions(&mut c, KEY, b"nobody", &[]), vec![]);

    // RESP3: the same entries, a null for the absent payload.
    if server_version().0 >= (7, 0) {
        let mut c3 = redis::Client::open(format!("{}?protocol=resp3", s.url()))
            .unwrap()
            .get_connection()
            .unwrap();
        let v: Value = cmd("SESSIONGATE.SESSIONS")
            .arg(KEY)
            .arg("alice")
            .arg("absent")
            .query(&mut c3)
            .unwrap();
        let Value::Array(entries) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(entries.len(), 3);
        assert!(
            matches!(&entries[0], Value::Array(f) if f[3] == Value::Nil),
            "{v:?}"
        );
    }
}

#[test]
fn owner_commands_refuse_bad_input_exactly_and_change_nothing() {
    let s = Server::start();
    let mut c = s.conn();
    let alice = start_for(&mut c, KEY, b"alice", 600);
    let bob = start_for(&mut c, KEY, b"bob", 600);
    // Two owners of one slot, and another application's session in alice's slot with a token
    // of alice's slot: each reaches a session of alice's slot that is not hers.
    let sibling = start_for(&mut c, KEY, b"{alice}x", 600);
    let unowned = start(&mut c, KEY, 600);
    let ended = start_for(&mut c, KEY, b"alice", 600);
    ok(&mut c, "END", (KEY, &ended));
    let (tag, alice_id) = v2_parts(KEY, &alice).unwrap();
    let foreign = v2_token(OTHER_APP, &tag, &alice_id);
    let other_tag = v2_token(KEY, b"zzz", &alice_id); // not slot zzz's own tag
    assert_ne!(slot_tag(key_slot(b"zzz")), b"zzz");
    let before = dump_all(&mut c);

    let cases: Vec<(redis::Cmd, String)> = vec![
        // Arity.
        (
            cmd("SESSIONGATE.STARTFOR").arg(KEY).arg("o").clone(),
            arity("SESSIONGATE.STARTFOR"),
        ),
        (
            cmd("SESSIONGATE.STARTFOR")
                .arg(KEY)
                .arg("o")
                .arg(1)
                .arg(2)
                .arg(3)
                .clone(),
            arity("SESSIONGATE.STARTFOR"),
        ),
        (
            cmd("SESSIONGATE.SESSIONS").arg(KEY).clone(),
            arity("SESSIONGATE.SESSIONS"),
        ),
        (
            cmd("SESSIONGATE.REVOKE").arg(KEY).clone(),
            arity("SESSIONGATE.REVOKE"),
        ),
        // Each argument's own shape, in argument order.
        (
            cmd("SESSIONGATE.STARTFOR").arg("").arg("").arg("x").clone(),
            EMPTY_SIGN_KEY.into(),
        ),
        (
            cmd("SESSIONGATE.STARTFOR")
                .arg(KEY)
                .arg("")
                .arg("x")
                .clone(),
            EMPTY_OWNER.into(),
        ),
        (
            cmd("SESSIONGATE.STARTFOR")
                .arg(KEY)
                .arg("o")
                .arg("-1")
                .arg("0")
                .clone(),
            BAD_TTL.into(),
        ),
        (
            cmd("SESSIONGATE.STARTFOR")
                .arg(KEY)
                .arg("o")
                .arg(60)
                .arg("0")
                .clone(),
            BAD_CAP.into(),
        ),
        (
            cmd("SESSIONGATE.STARTFOR")
                .arg(KEY)
                .arg("o")
                .arg(60)
                .arg("9223372036854775807")
                .clone(),
            BAD_CAP.into(),
        ),
        (
            cmd("SESSIONGATE.SESSIONS").arg("").arg("").arg("").clone(),
            EMPTY_SIGN_KEY.into(),
        ),
        (
            cmd("SESSIONGATE.SESSIONS").arg(KEY).arg("").arg("").clone(),
            EMPTY_OWNER.into(),
        ),
        (
            cmd("SESSIONGATE.SESSIONS")
                .arg(KEY)
                .arg("alice")
                .arg("a")
                .arg("")
                .clone(),
            EMPTY_NAME.into(),
        ),
        (
            cmd("SESSIONGATE.SESSIONS")
                .arg(KEY)
                .arg("alice")
                .arg(vec![b'n'; 201])
                .clone(),
            LONG_NAME.into(),
        ),
        (revoke_cmd(b"", b"", &[b"EXCEPT"]), EMPTY_SIGN_KEY.into()),
        (revoke_cmd(KEY, b"", &[b"EXCEPT"]), EMPTY_OWNER.into()),
        (revoke_cmd(KEY, b"alice", &[b"EXCEPT"]), SYNTAX.into()),
        (
            revoke_cmd(KEY, b"alice", &[b"except", &alice, b"x"]),
            SYNTAX.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[&alice_id, b"EXCEPT", &alice]),
            SYNTAX.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"short", b"EXCEPT"]),
            SYNTAX.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[&alice_id, b"short"]),
            ID_FORMAT.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"0123456789abcde-"]),
            ID_FORMAT.into(),
        ),
        (revoke_cmd(KEY, b"alice", &[&alice]), ID_FORMAT.into()),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", b""]),
            EMPTY_TOKEN.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", b"v2.{x}"]),
            TOKEN_FORMAT.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &other_tag]),
            TOKEN_FORMAT.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &alice.to_ascii_uppercase()]),
            TOKEN_FORMAT.into(),
        ),
        // The signature, then the session.
        (
            revoke_cmd(b"wrong", b"alice", &[b"EXCEPT", &alice]),
            BAD_SIG.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &unowned]),
            WRONG_OWNER.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &bob]),
            WRONG_OWNER.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &sibling]),
            WRONG_OWNER.into(),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &ended]),
            NO_SESSION.into(),
        ),
        (
            revoke_cmd(OTHER_APP, b"alice", &[b"EXCEPT", &foreign]),
            FOREIGN.into(),
        ),
    ];
    for (command, want) in &cases {
        assert_eq!(
            &err(&mut c, command),
            want,
            "{:?}",
            command.args_iter().count()
        );
    }
    assert_eq!(key_slot(&sibling), key_slot(b"alice"));
    assert_eq!(
        dump_all(&mut c),
        before,
        "a refused owner command changed data"
    );
}

#[test]
fn revoke_ends_all_all_but_one_or_the_ids_given() {
    let s = Server::start();
    let mut c = s.conn();
    let alice: Vec<Vec<u8>> = (0..5)
        .map(|_| start_for(&mut c, KEY, b"alice", 600))
        .collect();
    let bob = start_for(&mut c, KEY, b"bob", 600);
    let alice_other_app = start_for(&mut c, OTHER_APP, b"alice", 600);
    let unowned = start(&mut c, KEY, 600);

    // Ids: only alice's are ended; others', unknown and repeated ones are ignored.
    let a0 = id_of(&alice[0]);
    let a1 = id_of(&alice[1]);
    let n = revoke(
        &mut c,
        KEY,
        b"alice",
        &[
            &a0,
            &a1,
            &a0,
            &id_of(&bob),
            &id_of(&alice_other_app),
            &unowned[3..19],
            b"AAAAAAAAAAAAAAAA",
        ],
    );
    assert_eq!(n, 2);
    for t in &alice[..2] {
        assert_eq!(
            err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(t)),
            NO_SESSION
        );
    }
    let mut left: Vec<Vec<u8>> = alice[2..].iter().map(|t| id_of(t)).collect();
    left.sort();
    let mut members = newest_first(&mut c, KEY, b"alice");
    assert_eq!(ids(&sessions(&mut c, KEY, b"alice", &[])), members);
    members.sort();
    assert_eq!(members, left);

    // EXCEPT: all but that one; the index ends with it.
    ok(&mut c, "EXPIRE", (KEY, &alice[3], 1000));
    let n = revoke(&mut c, KEY, b"alice", &[b"except", &alice[2]]);
    assert_eq!(n, 2);
    assert_eq!(
        ids(&sessions(&mut c, KEY, b"alice", &[])),
        vec![id_of(&alice[2])]
    );
    let idx = index_key(KEY, b"alice");
    let session_key = owned_key(&alice[2]);
    assert!(same_end(
        ends_at(&mut c, &idx),
        ends_at(&mut c, &session_key)
    ));
    assert_eq!(revoke(&mut c, KEY, b"alice", &[b"EXCEPT", &alice[2]]), 0);

    // No option: every one; the index goes with the last.
    let more = start_for(&mut c, KEY, b"alice", 600);
    assert_eq!(revoke(&mut c, KEY, b"alice", &[]), 2);
    for t in [&alice[2], &more] {
        assert_eq!(
            err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(t)),
            NO_SESSION
        );
    }
    assert_eq!(sessions(&mut c, KEY, b"alice", &[]), vec![]);
    let exists: i64 = cmd("EXISTS").arg(&idx).query(&mut c).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(revoke(&mut c, KEY, b"alice", &[]), 0);
    assert_eq!(revoke(&mut c, KEY, b"nobody", &[&a0]), 0);

    // Other owners and applications are untouched.
    assert_eq!(ids(&sessions(&mut c, KEY, b"bob", &[])), vec![id_of(&bob)]);
    assert_eq!(
        ids(&sessions(&mut c, OTHER_APP, b"alice", &[])),
        vec![id_of(&alice_other_app)]
    );
    let left: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&unowned)
        .query(&mut c)
        .unwrap();
    assert!(left > 0);
}

#[test]
fn owned_tokens_work_with_every_token_command_and_only_for_owned_sessions() {
    let s = Server::start();
    let mut c = s.conn();
    let t = start_for(&mut c, KEY, b"alice", 600);
    ok(&mut c, "PSET", (KEY, &t, "user", "alice"));
    ok(&mut c, "PSET", (KEY, &t, "tmp", "x"));
    assert_eq!(pget(&mut c, (KEY, &t, "user")), b"alice");
    ok(&mut c, "PDEL", (KEY, &t, "tmp"));
    let all: Vec<Vec<u8>> = cmd("SESSIONGATE.PGETALL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(all, [b"user".to_vec(), b"alice".to_vec()]);
    let ttl: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&t)
        .query(&mut c)
        .unwrap();
    assert_eq!(ttl, 600);
    // A v2 token under another key, altered, or with a tag not its slot's.
    let (tag, id) = v2_parts(KEY, &t).unwrap();
    let mut flipped = t.clone();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let mut other_id = id.clone();
    other_id[0] = if other_id[0] == b'a' { b'b' } else { b'a' };
    for (key, tok, want) in [
        (b"wrong".as_slice(), t.clone(), BAD_SIG),
        (KEY, flipped, BAD_SIG),
        (OTHER_APP, v2_token(OTHER_APP, &tag, &id), FOREIGN),
        (KEY, v2_token(KEY, &tag, &other_id), NO_SESSION),
        (KEY, v2_token(KEY, b"zzz", &id), TOKEN_FORMAT),
        (KEY, [&t[..], b"0"].concat(), TOKEN_FORMAT),
    ] {
        assert_eq!(
            err(
                &mut c,
                cmd("SESSIONGATE.PGET").arg(key).arg(&tok).arg("user")
            ),
            want
        );
        assert_eq!(err(&mut c, cmd("SESSIONGATE.END").arg(key).arg(&tok)), want);
    }
    // The token shape and the stored session must agree: a v1 token never opens an owned
    // session, a v2 token never an unowned one, even where the key names match (planted).
    let v1 = format!("v1.{}.{}", String::from_utf8_lossy(&id), sign_hex(KEY, &id));
    let v1_key = [
        b"sessiongate:{".as_slice(),
        &slot_tag(crc16(v1.as_bytes()) & 16383),
        b"}:",
        &id,
    ]
    .concat();
    let owned_meta: Vec<u8> = cmd("HGET")
        .arg(owned_key(&t))
        .arg("")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("HSET")
        .arg(&v1_key)
        .arg("")
        .arg(&owned_meta)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&v1)),
        NO_SESSION
    );
    let u = start(&mut c, KEY, 600);
    let uid = u[3..19].to_vec();
    let utag = slot_tag(crc16(&u) & 16383);
    let as_v2 = v2_token(KEY, &utag, &uid);
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&as_v2)),
        NO_SESSION
    );
    let _: () = cmd("DEL").arg(&v1_key).query(&mut c).unwrap();

    // END takes the id off the index; the last one takes the index with it.
    let t2 = start_for(&mut c, KEY, b"alice", 600);
    ok(&mut c, "END", (KEY, &t));
    assert_eq!(index_members(&mut c, KEY, b"alice").len(), 1);
    ok(&mut c, "EXPIRE", (KEY, &t2, 0));
    let exists: i64 = cmd("EXISTS")
        .arg(index_key(KEY, b"alice"))
        .query(&mut c)
        .unwrap();
    assert_eq!(exists, 0);
    // A START-ed session has no owner: listing shows nothing of it.
    assert_eq!(sessions(&mut c, KEY, b"alice", &[]), vec![]);
}

#[test]
fn the_index_lasts_as_long_as_its_latest_session() {
    let s = Server::start();
    let mut c = s.conn();
    let idx = index_key(KEY, b"alice");
    let short = start_for(&mut c, KEY, b"alice", 100);
    let short_key = owned_key(&short);
    assert!(same_end(ends_at(&mut c, &idx), ends_at(&mut c, &short_key)));
    let long = start_for(&mut c, KEY, b"alice", 900);
    let long_key = owned_key(&long);
    assert!(same_end(ends_at(&mut c, &idx), ends_at(&mut c, &long_key)));
    // EXPIRE raises it, never lowers it.
    ok(&mut c, "EXPIRE", (KEY, &short, 5000));
    assert!(same_end(ends_at(&mut c, &idx), ends_at(&mut c, &short_key)));
    let raised = ends_at(&mut c, &idx);
    ok(&mut c, "EXPIRE", (KEY, &short, 50));
    assert_eq!(ends_at(&mut c, &idx), raised);
    // STARTFOR only raises it too (it reads no session's end but its own).
    let third = start_for(&mut c, KEY, b"alice", 300);
    assert_eq!(ends_at(&mut c, &idx), raised);
    // REVOKE, which looks at every session, sets it to exactly the latest end left.
    assert_eq!(revoke(&mut c, KEY, b"alice", &[b"0000000000000000"]), 0);
    assert!(same_end(ends_at(&mut c, &idx), ends_at(&mut c, &long_key)));
    // A session made persistent by hand: the index is kept without an end.
    let _: () = cmd("PERSIST").arg(&long_key).query(&mut c).unwrap();
    assert_eq!(revoke(&mut c, KEY, b"alice", &[b"0000000000000000"]), 0);
    assert_eq!(ends_at(&mut c, &idx), -1);
    let _ = third;

    // An index lost by hand comes back with the next write that keeps its session.
    let _: () = cmd("DEL").arg(&idx).query(&mut c).unwrap();
    ok(&mut c, "EXPIRE", (KEY, &short, 700));
    let members = index_members(&mut c, KEY, b"alice");
    let meta: Vec<u8> = cmd("HGET").arg(&short_key).arg("").query(&mut c).unwrap();
    let created = i64::from_be_bytes(meta[32..40].try_into().unwrap());
    assert_eq!(members, vec![(id_of(&short), created)]);
    assert!(same_end(ends_at(&mut c, &idx), ends_at(&mut c, &short_key)));
}

#[test]
fn ids_of_sessions_gone_are_skipped_by_sessions_and_pruned_by_the_writing_commands() {
    let s = Server::start();
    let mut c = s.conn();
    let tokens: Vec<Vec<u8>> = (0..4)
        .map(|_| start_for(&mut c, KEY, b"alice", 600))
        .collect();
    // One expires (its key's own expiry, as Redis runs it), one is deleted by hand.
    let (k0, k1) = (owned_key(&tokens[0]), owned_key(&tokens[1]));
    let _: () = cmd("PEXPIRE").arg(&k0).arg(1).query(&mut c).unwrap();
    let _: () = cmd("DEL").arg(&k1).query(&mut c).unwrap();
    wait_until("the session to expire", Duration::from_secs(10), || {
        cmd("EXISTS").arg(&k0).query::<i64>(&mut c).unwrap() == 0
    });
    let live: Vec<Vec<u8>> = newest_first(&mut c, KEY, b"alice")
        .into_iter()
        .filter(|id| tokens[2..].iter().any(|t| id_of(t) == *id))
        .collect();
    assert_eq!(live.len(), 2);
    // SESSIONS skips them and writes nothing.
    let idx = index_key(KEY, b"alice");
    let dump_before: Vec<u8> = cmd("DUMP").arg(&idx).query(&mut c).unwrap();
    assert_eq!(ids(&sessions(&mut c, KEY, b"alice", &[])), live);
    let dump_after: Vec<u8> = cmd("DUMP").arg(&idx).query(&mut c).unwrap();
    assert_eq!(dump_before, dump_after);
    assert_eq!(index_members(&mut c, KEY, b"alice").len(), 4);
    // STARTFOR prunes them.
    let t = start_for(&mut c, KEY, b"alice", 600);
    let members: Vec<Vec<u8>> = index_members(&mut c, KEY, b"alice")
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(members.len(), 3);
    assert!(members.contains(&id_of(&t)));
    // REVOKE of ids prunes too.
    let _: () = cmd("DEL").arg(owned_key(&tokens[2])).query(&mut c).unwrap();
    // A member that is no id at all (not written by the module) goes as well.
    let _: () = cmd("ZADD")
        .arg(&idx)
        .arg(1)
        .arg("not an id")
        .query(&mut c)
        .unwrap();
    assert_eq!(revoke(&mut c, KEY, b"alice", &[&id_of(&t)]), 1);
    assert_eq!(
        index_members(&mut c, KEY, b"alice"),
        vec![(id_of(&tokens[3]), index_members(&mut c, KEY, b"alice")[0].1)]
    );
    // Every id gone: the STARTFOR that prunes them all lists only its own session.
    let last = index_members(&mut c, KEY, b"alice");
    for (id, _) in &last {
        let (tag, _) = v2_parts(KEY, &tokens[3]).unwrap();
        let k = [b"sessiongate:{".as_slice(), &tag, b"}:", id].concat();
        let _: () = cmd("DEL").arg(k).query(&mut c).unwrap();
    }
    let fresh = start_for(&mut c, KEY, b"alice", 600);
    let members: Vec<Vec<u8>> = index_members(&mut c, KEY, b"alice")
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(members, vec![id_of(&fresh)]);
    assert!(same_end(
        ends_at(&mut c, &idx),
        ends_at(&mut c, &owned_key(&fresh))
    ));
}

/// STARTFOR looks at the owner's 4 oldest ids only (a login stays O(log n)): it takes off the
/// ids of sessions gone among them, never the ones behind, which REVOKE takes off.
#[test]
fn startfor_prunes_among_the_four_oldest_ids_only() {
    let s = Server::start();
    let mut c = s.conn();
    let tokens: Vec<Vec<u8>> = (0..7)
        .map(|_| {
            let t = start_for(&mut c, KEY, b"bob", 600);
            std::thread::sleep(Duration::from_millis(2)); // distinct creation times: a clear order
            t
        })
        .collect();
    let members = |c: &mut redis::Connection| -> Vec<Vec<u8>> {
        let mut m: Vec<(Vec<u8>, i64)> = index_members(c, KEY, b"bob");
        m.sort_by_key(|(_, created)| *created);
        m.into_iter().map(|(id, _)| id).collect()
    };
    // Gone: the 2nd and the 6th oldest (by hand, as an expiry would).
    for i in [1, 5] {
        let _: () = cmd("DEL").arg(owned_key(&tokens[i])).query(&mut c).unwrap();
    }
    let t = start_for(&mut c, KEY, b"bob", 600);
    std::thread::sleep(Duration::from_millis(2)); // t2 below is created after t, never with it
    let want: Vec<Vec<u8>> = [0, 2, 3, 4, 5, 6]
        .iter()
        .map(|&i| id_of(&tokens[i]))
        .chain([id_of(&t)])
        .collect();
    assert_eq!(members(&mut c), want, "the 2nd went, the 6th stays");
    // REVOKE looks at every id.
    assert_eq!(revoke(&mut c, KEY, b"bob", &[b"0000000000000000"]), 0);
    let want: Vec<Vec<u8>> = [0, 2, 3, 4, 6]
        .iter()
        .map(|&i| id_of(&tokens[i]))
        .chain([id_of(&t)])
        .collect();
    assert_eq!(members(&mut c), want);
    // The four oldest gone: one STARTFOR takes all four off.
    for i in [0, 2, 3, 4] {
        let _: () = cmd("DEL").arg(owned_key(&tokens[i])).query(&mut c).unwrap();
    }
    let t2 = start_for(&mut c, KEY, b"bob", 600);
    assert_eq!(
        members(&mut c),
        vec![id_of(&tokens[6]), id_of(&t), id_of(&t2)]
    );
}

#[test]
fn renew_of_an_owned_session_keeps_owner_slot_creation_payloads_expiry_and_cap() {
    let s = Server::start();
    let mut c = s.conn();
    let t = cmd("SESSIONGATE.STARTFOR")
        .arg(KEY)
        .arg("alice")
        .arg(600)
        .arg(3600)
        .query::<Vec<u8>>(&mut c)
        .unwrap();
    let other = start_for(&mut c, KEY, b"alice", 900);
    ok(&mut c, "PSET", (KEY, &t, "user", "alice"));
    ok(&mut c, "PSET", (KEY, &t, b"bin\0", b"\xff"));
    let (tag, id) = v2_parts(KEY, &t).unwrap();
    let old_key = [b"sessiongate:{".as_slice(), &tag, b"}:", &id].concat();
    let old_meta: Vec<u8> = cmd("HGET").arg(&old_key).arg("").query(&mut c).unwrap();
    let old_end = ends_at(&mut c, &old_key);
    let before_index = index_members(&mut c, KEY, b"alice");

    assert_eq!(
        err(&mut c, &renew_cmd(KEY, &t, Some(b"new-key"))),
        OWNED_NEW_KEY
    );
    assert_eq!(
        err(&mut c, &renew_cmd(KEY, &t, Some(b""))),
        "<new_sign_key> must have at least one character"
    );
    assert_eq!(index_members(&mut c, KEY, b"alice"), before_index);

    let n = renew(&mut c, KEY, &t, None);
    let (new_tag, new_id) = v2_parts(KEY, &n).expect("an owned token");
    assert_eq!(new_tag, tag, "same slot");
    assert_ne!(new_id, id);
    let new_key = [b"sessiongate:{".as_slice(), &tag, b"}:", &new_id].concat();
    let new_meta: Vec<u8> = cmd("HGET").arg(&new_key).arg("").query(&mut c).unwrap();
    assert_eq!(
        new_meta, old_meta,
        "fingerprint, cap, owner and creation time kept"
    );
    assert!(same_end(ends_at(&mut c, &new_key), old_end));
    assert_eq!(pget(&mut c, (KEY, &n, b"bin\0")), b"\xff");
    assert_eq!(
        err(&mut c, cmd("SESSIONGATE.TTL").arg(KEY).arg(&t)),
        NO_SESSION
    );
    let created = i64::from_be_bytes(old_meta[40..48].try_into().unwrap());
    let other_created = before_index
        .iter()
        .find(|m| m.0 == id_of(&other))
        .unwrap()
        .1;
    let mut want = vec![(new_id.clone(), created), (id_of(&other), other_created)];
    want.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    assert_eq!(index_members(&mut c, KEY, b"alice"), want);
    let listed = sessions(&mut c, KEY, b"alice", &[b"user"]);
    assert_eq!(ids(&listed), newest_first(&mut c, KEY, b"alice"));
    let renewed = listed.iter().find(|e| e.0 == new_id).unwrap();
    assert_eq!(
        renewed.1,
        created / 1000,
        "the renewed one keeps its creation time"
    );
    assert_eq!(renewed.3, vec![Some(b"alice".to_vec())]);
    // EXPIRE keeps obeying the cap.
    ok(&mut c, "EXPIRE", (KEY, &n, 100_000));
    let ttl: i64 = cmd("SESSIONGATE.TTL")
        .arg(KEY)
        .arg(&n)
        .query(&mut c)
        .unwrap();
    assert!(ttl <= 3600, "{ttl}");
}

#[test]
fn info_metadata_and_redaction_of_the_owner_commands() {
    let ((major, _), valkey) = server_version();
    let s = Server::start();
    let mut c = s.conn();
    let stat = |c: &mut redis::Connection, name: &str| -> u64 {
        let info: String = cmd("INFO").arg("sessiongate").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("sessiongate_{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    let t = start_for(&mut c, KEY, b"alice", 60);
    start_for(&mut c, KEY, b"alice", 60);
    start_for(&mut c, KEY, b"bob", 60);
    start(&mut c, KEY, 60);
    assert_eq!(stat(&mut c, "owned_sessions_started"), 3);
    assert_eq!(stat(&mut c, "sessions_started"), 4);
    assert_eq!(revoke(&mut c, KEY, b"alice", &[b"EXCEPT", &t]), 1);
    assert_eq!(revoke(&mut c, KEY, b"alice", &[]), 1);
    assert_eq!(stat(&mut c, "sessions_revoked"), 2);
    assert_eq!(stat(&mut c, "sessions_ended"), 0);
    err(&mut c, &revoke_cmd(KEY, b"alice", &[b"x"]));
    err(&mut c, cmd("SESSIONGATE.STARTFOR").arg(KEY).arg("").arg(1));
    assert_eq!(stat(&mut c, "rejected_arguments"), 2);

    // The owner is the declared key (first = last = 2, step 1), on every server.
    for (name, args) in [
        ("SESSIONGATE.STARTFOR", vec!["k", "the-owner", "60"]),
        ("SESSIONGATE.SESSIONS", vec!["k", "the-owner", "p1", "p2"]),
        (
            "SESSIONGATE.REVOKE",
            vec!["k", "the-owner", "EXCEPT", "tok"],
        ),
    ] {
        let keys: Vec<Vec<u8>> = cmd("COMMAND")
            .arg("GETKEYS")
            .arg(name)
            .arg(&args)
            .query(&mut c)
            .unwrap();
        assert_eq!(keys, vec![b"the-owner".to_vec()], "{name}");
    }
    let info: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("sessiongate.startfor")
        .arg("sessiongate.sessions")
        .arg("sessiongate.revoke")
        .query(&mut c)
        .unwrap();
    let Value::Array(entries) = info else {
        panic!()
    };
    let text: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    // Arity as COMMAND INFO shows it where the server takes command metadata (7.0+).
    let documented = valkey || major >= 7;
    for (t, flags, arity) in [
        (&text[0], &["write", "denyoom"][..], "int(-4)"),
        (&text[1], &["readonly"], "int(-3)"),
        (&text[2], &["write"], "int(-3)"),
    ] {
        assert!(flags.iter().all(|f| t.contains(f)), "{t}");
        assert!(!documented || t.contains(arity), "{t}");
    }
    if documented {
        let docs: Value = cmd("COMMAND")
            .arg("DOCS")
            .arg("sessiongate.revoke")
            .arg("sessiongate.sessions")
            .query(&mut c)
            .unwrap();
        let d = format!("{docs:?}");
        for want in [
            "owner",
            "EXCEPT",
            "oneof",
            "multiple",
            "payload_name",
            "summary",
        ] {
            assert!(d.contains(want), "{want} missing from {d}");
        }
    }

    // MONITOR and SLOWLOG show the sign key and the EXCEPT token redacted (7.0+, Valkey).
    if major < 7 && !valkey {
        return;
    }
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let mut mon = s.conn();
    let _: () = cmd("MONITOR").query(&mut mon).unwrap();
    let kept = start_for(&mut c, b"secret-sign-key", b"carol", 60);
    let _: Value = cmd("SESSIONGATE.SESSIONS")
        .arg("secret-sign-key")
        .arg("carol")
        .query(&mut c)
        .unwrap();
    revoke(&mut c, b"secret-sign-key", b"carol", &[b"EXCEPT", &kept]);
    let _: () = cmd("SET").arg("monitor-end").arg(1).query(&mut c).unwrap();
    let mut seen = String::new();
    mon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while !seen.contains("monitor-end") {
        let line: String = redis::from_redis_value(&mon.recv_response().unwrap()).unwrap();
        seen.push_str(&line);
        seen.push('\n');
    }
    let slowlog: Value = cmd("SLOWLOG").arg("GET").arg(100).query(&mut c).unwrap();
    let slowlog = format!("{slowlog:?}");
    let sig = String::from_utf8_lossy(&kept[kept.len() - 64..]).to_string();
    for (what, text) in [("MONITOR", &seen), ("SLOWLOG", &slowlog)] {
        assert!(
            !text.contains("secret-sign-key"),
            "{what} shows the sign key:\n{text}"
        );
        assert!(
            !text.contains(&sig),
            "{what} shows the EXCEPT token:\n{text}"
        );
        assert!(text.contains("carol"), "{what} hides the owner:\n{text}");
    }
}

#[test]
fn owner_errors_carry_their_codes_when_error_codes_are_on() {
    let s = Server::with(Options {
        module_args: vec!["error-codes".into(), "yes".into()],
        ..Options::default()
    });
    let mut c = s.conn();
    let alice = start_for(&mut c, KEY, b"alice", 600);
    let bob = start_for(&mut c, KEY, b"bob", 600);
    for (command, want) in [
        (
            cmd("SESSIONGATE.STARTFOR").arg(KEY).arg("").arg(60).clone(),
            format!("ERR {EMPTY_OWNER}"),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", &bob]),
            format!("WRONGOWNER {WRONG_OWNER}"),
        ),
        (
            revoke_cmd(KEY, b"alice", &[b"short"]),
            format!("ERR {ID_FORMAT}"),
        ),
        (revoke_cmd(KEY, b"alice", &[b"EXCEPT"]), SYNTAX.to_string()),
        (
            revoke_cmd(KEY, b"alice", &[b"EXCEPT", b"bad"]),
            format!("BADTOKEN {TOKEN_FORMAT}"),
        ),
        (
            renew_cmd(KEY, &alice, Some(b"new-key")),
            format!("ERR {OWNED_NEW_KEY}"),
        ),
    ] {
        assert_eq!(err(&mut c, &command), want);
    }
    let stats: String = cmd("INFO").arg("errorstats").query(&mut c).unwrap();
    assert!(stats.contains("errorstat_WRONGOWNER:count=1"), "{stats}");
    assert_eq!(
        ids(&sessions(&mut c, KEY, b"alice", &[])),
        vec![id_of(&alice)]
    );
}
