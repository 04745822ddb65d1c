//! The test harness's own guarantees: a server start never collides with another test's
//! server (ports are retried, and only the server a test started counts as its own), and a
//! count knob below its floor fails instead of running (almost) nothing.

mod common;
mod harden;

use std::net::TcpListener;

use common::*;
use harden::*;

/// Ports from `first`, then free ones.
fn ports_from(first: Vec<u16>) -> impl FnMut() -> u16 {
    let mut queue = first.into_iter();
    move || queue.next().unwrap_or_else(free_port)
}

#[test]
fn a_taken_port_is_retried_on_another() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    let s = Server::with_ports(Options::default(), ports_from(vec![taken, taken]));
    assert_ne!(s.port, taken);
    let mut c = s.conn();
    let t = start(&mut c, KEY, 60);
    assert!(token_shape_ok(&t));
    drop(held);
}

#[test]
fn another_tests_server_on_the_same_port_is_not_taken_for_ours() {
    let theirs = Server::start();
    let mut tc = theirs.conn();
    let _: () = cmd("SET")
        .arg("owner")
        .arg("theirs")
        .query(&mut tc)
        .unwrap();
    let ours = Server::with_ports(Options::default(), ports_from(vec![theirs.port]));
    assert_ne!(ours.port, theirs.port);
    let mut oc = ours.conn();
    let owner: Option<String> = cmd("GET").arg("owner").query(&mut oc).unwrap();
    assert_eq!(owner, None, "connected to the other test's server");
}

#[test]
fn a_count_below_its_floor_fails() {
    // Variables of this test only (the process's environment is shared by its tests).
    assert_eq!(env_count("SESSIONGATE_HARNESS_UNSET", 7, 5), 7);
    std::env::set_var("SESSIONGATE_HARNESS_OK", "5");
    assert_eq!(env_count("SESSIONGATE_HARNESS_OK", 7, 5), 5);
    for (name, value) in [
        ("SESSIONGATE_HARNESS_ZERO", "0"),
        ("SESSIONGATE_HARNESS_LOW", "4"),
        ("SESSIONGATE_HARNESS_TEXT", "many"),
        ("SESSIONGATE_HARNESS_EMPTY", ""),
    ] {
        std::env::set_var(name, value);
        let r = std::panic::catch_unwind(|| env_count(name, 7, 5));
        assert!(r.is_err(), "{name}={value:?} was accepted");
    }
}
