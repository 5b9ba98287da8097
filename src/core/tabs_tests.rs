//! Native tests of `core/tabs.rs` (its `tests` module, kept in a file of its own).

use super::*;

const A: u64 = 0xaaaa;
const B: u64 = 0xbbbb;

fn marker(token: u64, tab: f64, at_ms: f64) -> Marker {
    Marker { token, tab, at_ms }
}

/// Drives a lockless tab from `now` until it sends or stops waiting, feeding `inbox` (time,
/// from, message) as the clock passes each item. Returns the final step and its time.
fn run(tab: &mut Tabs, mut now: f64, ours: u64, inbox: &[(f64, f64, Heard)], stored: Option<&Marker>) -> (Step, f64) {
    let mut next = 0;
    loop {
        while next < inbox.len() && inbox[next].0 <= now {
            tab.heard(inbox[next].1, inbox[next].2, inbox[next].0);
            next += 1;
        }
        match tab.step(now, ours, stored, Claim::Lockless) {
            Step::Listen(t) | Step::Wait(t) => {
                assert!(t > now, "a wait moves time forward");
                // Woken by the next message or by the deadline, whichever comes first.
                now = inbox.get(next).map_or(t, |m| m.0.min(t));
            }
            other => return (other, now),
        }
        assert!(now < 60_000.0, "never waits for ever");
    }
}

#[test]
fn fingerprints_differ_and_fit_a_json_number() {
    assert_ne!(fingerprint("rt-1"), fingerprint("rt-2"));
    assert!(fingerprint("rt-1") < 1 << 53);
    // The FNV-1a 64 reference value, truncated.
    assert_eq!(fingerprint("a"), 0xaf63dc4c8601ec8c & ((1 << 53) - 1));
    let m = marker(fingerprint("secret-token"), 7.0, 1.0);
    assert!(!m.to_record().contains("secret"));
    assert_eq!(Marker::from_record(&m.to_record()), Some(m));
}

#[test]
fn markers_round_trip_and_junk_is_ignored() {
    let m = marker(A, 4_503_599_627_370_497.0, 1_700_000_000_123.0);
    assert_eq!(Marker::from_record(&m.to_record()), Some(m));
    assert_eq!(Marker::from_record("{\"token\":1}"), None);
    assert_eq!(Marker::from_record("nope"), None);
}

#[test]
fn a_lone_tab_listens_once_then_sends() {
    // A brand-new tab that has heard from nobody still listens before its first send.
    let mut t = Tabs::new(0.5);
    assert_eq!(t.step(0.0, A, None, Claim::Lockless), Step::Listen(LISTEN_MS));
    assert_eq!(t.step(LISTEN_MS, A, None, Claim::Lockless), Step::Send);
}

#[test]
fn simultaneous_claims_go_to_the_lower_id() {
    let (mut low, mut high) = (Tabs::new(0.1), Tabs::new(0.9));
    let claims_low = [(10.0, 0.9, Heard::Claiming)];
    let sent = marker(A, 0.1, 300.0);
    let claims_high = [(10.0, 0.1, Heard::Claiming), (300.0, 0.1, Heard::Sending(&sent)), (400.0, 0.1, Heard::Done)];
    assert_eq!(run(&mut low, 0.0, A, &claims_low, None).0, Step::Send);
    // The higher tab waits, learns the token was sent, and refuses to send it: it adopts
    // the winner's session (the adapter's re-read) instead; here nothing arrives.
    let (step, at) = run(&mut high, 0.0, A, &claims_high, None);
    assert_eq!(step, Step::Spent { first: true });
    assert!(at >= 300.0 + SETTLE_MS - 1.0);
}

#[test]
fn a_claim_delayed_by_hundreds_of_ms_still_meets_the_marker() {
    // The lower tab's claim reaches us 400 ms late (after our window), but it sent first and
    // left its marker in storage: the re-read before sending catches it.
    let mut t = Tabs::new(0.9);
    assert_eq!(t.step(0.0, A, None, Claim::Lockless), Step::Listen(LISTEN_MS));
    let stored = marker(A, 0.1, 50.0);
    assert_eq!(t.step(LISTEN_MS, A, Some(&stored), Claim::Lockless), Step::Wait(LISTEN_MS + SETTLE_MS));
    t.heard(0.1, Heard::Claiming, 400.0);
    assert_eq!(t.step(400.0, A, Some(&stored), Claim::Lockless), Step::Wait(1_400.0));
}

#[test]
fn a_tab_that_claimed_and_vanished_before_sending_is_taken_over_after_a_second() {
    // It claimed at 0 and was closed (or froze) before sending: no marker, no more words.
    let mut t = Tabs::new(0.9);
    let inbox = [(0.0, 0.1, Heard::Claiming)];
    let (step, at) = run(&mut t, 5.0, A, &inbox, None);
    assert_eq!(step, Step::Send);
    // Waited the second, then claimed again (listened) before sending.
    assert!((at - (PEER_WAIT_MS + LISTEN_MS)).abs() < 1e-6, "{at}");
}

#[test]
fn two_survivors_of_a_vanished_claim_claim_again_and_only_one_sends() {
    let (mut b, mut c) = (Tabs::new(0.5), Tabs::new(0.7));
    for t in [&mut b, &mut c] {
        t.heard(0.1, Heard::Claiming, 0.0);
    }
    // Both wait for the vanished tab, then both claim at 1000 and hear each other.
    assert_eq!(b.step(10.0, A, None, Claim::Lockless), Step::Wait(PEER_WAIT_MS));
    assert_eq!(c.step(12.0, A, None, Claim::Lockless), Step::Wait(PEER_WAIT_MS));
    assert_eq!(b.step(1_000.0, A, None, Claim::Lockless), Step::Listen(1_000.0 + LISTEN_MS));
    assert_eq!(c.step(1_001.0, A, None, Claim::Lockless), Step::Listen(1_001.0 + LISTEN_MS));
    b.heard(0.7, Heard::Claiming, 1_020.0);
    c.heard(0.5, Heard::Claiming, 1_020.0);
    assert_eq!(b.step(1_000.0 + LISTEN_MS, A, None, Claim::Lockless), Step::Send);
    assert!(matches!(c.step(1_001.0 + LISTEN_MS, A, None, Claim::Lockless), Step::Wait(_)));
}

#[test]
fn a_token_sent_by_a_frozen_tab_is_never_sent_again() {
    // The sender froze mid-request: its heartbeats stop. We wait about a second after its
    // last one, then refuse, at once from then on, and report it once.
    let mut t = Tabs::new(0.9);
    let sent = marker(A, 0.1, 0.0);
    let inbox = [(0.0, 0.1, Heard::Sending(&sent)), (250.0, 0.1, Heard::Claiming), (500.0, 0.1, Heard::Claiming)];
    let (step, at) = run(&mut t, 100.0, A, &inbox, Some(&marker(A, 0.1, 0.0)));
    assert_eq!(step, Step::Spent { first: true });
    assert!((at - (500.0 + PEER_WAIT_MS)).abs() < 1e-6, "{at}");
    assert_eq!(t.step(9_000.0, A, None, Claim::Lockless), Step::Spent { first: false });
    assert_eq!(t.step(9_000.0, A, None, Claim::LockTimedOut), Step::Spent { first: false });
    // When it thaws and hands over B, B is ours and sendable.
    t.heard(0.1, Heard::Done, 20_000.0);
    assert_eq!(t.step(20_000.0, B, None, Claim::Locked), Step::Send);
}

#[test]
fn a_live_sender_is_waited_for_as_long_as_its_request_runs() {
    // Heartbeats every 250 ms for 5 s: a slow server, not a vanished tab.
    let mut t = Tabs::new(0.9);
    let sent = marker(A, 0.1, 0.0);
    let mut inbox = vec![(0.0, 0.1, Heard::Sending(&sent))];
    for i in 1..=20 {
        inbox.push((f64::from(i) * HEARTBEAT_MS, 0.1, Heard::Claiming));
    }
    inbox.push((5_010.0, 0.1, Heard::Done));
    let (step, at) = run(&mut t, 1.0, A, &inbox, None);
    // Done came; the session did not (the adapter would have adopted it): the result is
    // given SETTLE_MS from when we learned of the send, long past, so the token is spent.
    assert_eq!(step, Step::Spent { first: true });
    assert!((at - 5_010.0).abs() < 1e-6, "{at}");
}

#[test]
fn a_late_result_is_waited_for_when_the_lock_comes_free() {
    // With locks: the holder sent A and released; its session has not reached our storage
    // view yet. We hold the lock now and wait SETTLE_MS for it rather than send A.
    let mut t = Tabs::new(0.9);
    let stored = marker(A, 0.1, 0.0);
    assert_eq!(t.step(100.0, A, Some(&stored), Claim::Locked), Step::Wait(100.0 + SETTLE_MS));
    // The result arrives: storage now holds B (the adapter adopted it); B is sendable.
    assert_eq!(t.step(300.0, B, Some(&stored), Claim::Locked), Step::Send);
}

#[test]
fn a_sender_closed_mid_request_is_taken_over_by_the_next_lock_holder() {
    // It released the lock (the browser does that when a tab closes) and never reported:
    // after SETTLE_MS, the tab holding the lock sends; its stale marker does not stop it.
    let mut t = Tabs::new(0.9);
    let stored = marker(A, 0.1, 0.0);
    assert_eq!(t.step(100.0, A, Some(&stored), Claim::Locked), Step::Wait(100.0 + SETTLE_MS));
    assert_eq!(t.step(100.0 + SETTLE_MS, A, Some(&stored), Claim::Locked), Step::Send);
    assert_eq!(t.step(100.0 + SETTLE_MS + 5.0, A, Some(&stored), Claim::Locked), Step::Send);
    // Without the lock it would have been refused.
    let mut u = Tabs::new(0.8);
    assert_eq!(u.step(0.0, A, Some(&stored), Claim::LockTimedOut), Step::Wait(SETTLE_MS));
    assert_eq!(u.step(SETTLE_MS, A, Some(&stored), Claim::LockTimedOut), Step::Spent { first: true });
}

#[test]
fn a_token_the_server_refused_with_an_error_may_be_sent_by_the_next_tab() {
    let mut t = Tabs::new(0.9);
    t.heard(0.1, Heard::Sending(&marker(A, 0.1, 0.0)), 0.0);
    assert_eq!(t.step(10.0, A, None, Claim::Locked), Step::Wait(PEER_WAIT_MS));
    t.heard(0.1, Heard::Unspent(A), 200.0);
    // A stale marker in storage (written before the send) does not bring it back: the
    // sender removes it before saying so, but a re-read may still return it.
    assert_eq!(t.step(210.0, A, Some(&marker(A, 0.1, 0.0)), Claim::Locked), Step::Send);
    // A marker for it from another tab does.
    assert_eq!(t.step(220.0, A, Some(&marker(A, 0.2, 215.0)), Claim::Locked), Step::Wait(220.0 + SETTLE_MS));
}

#[test]
fn a_retry_by_the_sender_is_a_new_send() {
    // The sender's first request got no answer; it retries 900 ms later (a new marker):
    // the second counts from then, so nobody takes over while the retry runs.
    let mut t = Tabs::new(0.9);
    let first = marker(A, 0.1, 0.0);
    let retry = marker(A, 0.1, 900.0);
    t.heard(0.1, Heard::Sending(&first), 0.0);
    t.heard(0.1, Heard::Sending(&retry), 900.0);
    // Its stale first marker, read after the retry, changes nothing.
    assert_eq!(t.step(1_500.0, A, Some(&first), Claim::Locked), Step::Wait(1_900.0));
    assert_eq!(t.step(1_900.0, A, Some(&retry), Claim::Locked), Step::Send);
}

#[test]
fn own_marker_does_not_stop_own_retry() {
    let mut t = Tabs::new(0.1);
    assert_eq!(t.step(0.0, A, Some(&marker(A, 0.1, 0.0)), Claim::Locked), Step::Send);
}

#[test]
fn a_lock_held_by_a_silent_tab_means_giving_up_after_a_second() {
    let mut t = Tabs::new(0.9);
    assert_eq!(t.wait_until(0.0), PEER_WAIT_MS);
    t.heard(0.1, Heard::Claiming, 700.0);
    assert_eq!(t.wait_until(0.0), 700.0 + PEER_WAIT_MS);
    assert_eq!(t.step(1_700.0, A, None, Claim::LockTimedOut), Step::GiveUp);
}

#[test]
fn own_messages_are_ignored() {
    let mut t = Tabs::new(0.3);
    t.heard(0.3, Heard::Sending(&marker(A, 0.3, 0.0)), 0.0);
    assert!(!t.peer_busy(1.0));
    assert_eq!(t.step(1.0, A, None, Claim::Locked), Step::Send);
}

/// Every interleaving of three lockless tabs' claims, with per-message delays from 0 to
/// 100 ms (under the listening window): exactly one sends; the others never send A.
#[test]
fn three_lockless_tabs_with_delays_send_once() {
    let ids = [0.2, 0.5, 0.8];
    for start in [[0.0, 0.0, 0.0], [0.0, 30.0, 60.0], [60.0, 0.0, 30.0], [5.0, 5.0, 0.0]] {
        for delay in [0.0, 20.0, 70.0, 100.0] {
            let mut tabs: Vec<Tabs> = ids.iter().map(|&i| Tabs::new(i)).collect();
            let mut sent = Vec::new();
            let mut marker_at: Option<(f64, f64)> = None;
            let mut now = 0.0;
            let mut pending: Vec<(f64, usize, f64, Option<Marker>)> = Vec::new(); // (deliver at, to, from, sending?)
            let mut wake = start;
            let mut finished = [false; 3];
            while now < 10_000.0 && finished.iter().any(|f| !f) {
                pending.sort_by(|a, b| a.0.total_cmp(&b.0));
                while pending.first().is_some_and(|p| p.0 <= now) {
                    let (at, to, from, sending) = pending.remove(0);
                    tabs[to].heard(from, sending.as_ref().map_or(Heard::Claiming, Heard::Sending), at);
                }
                for i in 0..3 {
                    if finished[i] || wake[i] > now {
                        continue;
                    }
                    let stored = marker_at.filter(|m| m.0 <= now).map(|m| marker(A, m.1, m.0));
                    match tabs[i].step(now, A, stored.as_ref(), Claim::Lockless) {
                        Step::Listen(t) => {
                            for j in (0..3).filter(|&j| j != i) {
                                pending.push((now + delay, j, ids[i], None));
                            }
                            wake[i] = t;
                        }
                        Step::Wait(t) => wake[i] = t,
                        Step::Send => {
                            sent.push(i);
                            finished[i] = true;
                            // Marker (seen by others 1 ms later) and the announcement.
                            marker_at = Some((now + 1.0, ids[i]));
                            for j in (0..3).filter(|&j| j != i) {
                                pending.push((now + delay, j, ids[i], Some(marker(A, ids[i], now))));
                            }
                        }
                        Step::Spent { .. } | Step::GiveUp => finished[i] = true,
                    }
                }
                now += 1.0;
            }
            assert_eq!(sent.len(), 1, "start {start:?} delay {delay}: senders {sent:?}");
            assert!(finished.iter().all(|f| *f), "every tab came to an end");
        }
    }
}

// ---- A simulated browser: Web Locks, lagging storage, delayed messages, vanishing tabs ----

#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    /// Every tab behaves.
    None,
    /// Tab 0 vanishes (closed: the browser releases its lock) right after it gets the lock.
    GoneWithLock,
    /// Tab 0 vanishes after writing its marker and announcing, before its request leaves.
    GoneAfterMarker,
    /// Tab 0 freezes this long right after its request reached the server, holding the lock.
    Frozen(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Doing {
    Idle(f64),
    Polling { started: f64, next: f64 },
    Waiting { started: f64, until: f64 },
    Requesting { version: u32, done_at: f64, beat_at: f64 },
    Finished,
    Gone,
}

#[derive(Clone, Debug)]
enum Msg {
    Claiming,
    Sending(Marker),
    Session(u32),
}

fn fp(version: u32) -> u64 {
    u64::from(version) + 100
}

/// Runs tabs that all want to refresh (at `starts`), with every message delayed `delay` ms,
/// every storage read seeing the state of `lag` ms ago, requests taking `request` ms.
/// Returns (sends, reuse, the moment the last live tab finished).
fn simulate(starts: &[f64], delay: f64, lag: f64, request: f64, victim: Victim) -> (usize, bool, f64) {
    let ids: Vec<f64> = (0..starts.len()).map(|i| (i + 1) as f64).collect();
    let mut tabs: Vec<Tabs> = ids.iter().map(|&i| Tabs::new(i)).collect();
    let mut doing: Vec<Doing> = starts.iter().map(|&s| Doing::Idle(s)).collect();
    let mut own = vec![0u32; starts.len()];
    let mut lock: Option<usize> = None;
    // Storage history: (written at, version, marker).
    let mut writes: Vec<(f64, u32, Option<Marker>)> = vec![(f64::NEG_INFINITY, 0, None)];
    let mut inbox: Vec<(f64, usize, f64, Msg)> = Vec::new();
    let (mut server, mut sends, mut reuse, mut last_done) = (0u32, 0, false, 0.0);
    let mut frozen_until = f64::NEG_INFINITY;
    let mut linger_until: Option<f64> = None;
    let mut now = 0.0;
    while now < 30_000.0 {
        if linger_until.is_some_and(|t| now >= t) {
            lock = None;
            linger_until = None;
        }
        // Deliver the messages that are due.
        let (due, later): (Vec<_>, Vec<_>) = inbox.drain(..).partition(|m| m.0 <= now);
        inbox = later;
        for (_, to, from, msg) in due {
            if doing[to] == Doing::Gone || (to == 0 && now < frozen_until) {
                if to == 0 && now < frozen_until {
                    inbox.push((frozen_until, to, from, msg));
                }
                continue;
            }
            match msg {
                Msg::Claiming => tabs[to].heard(from, Heard::Claiming, now),
                Msg::Sending(m) => tabs[to].heard(from, Heard::Sending(&m), now),
                Msg::Session(v) => {
                    tabs[to].heard(from, Heard::Done, now);
                    own[to] = own[to].max(v);
                }
            }
        }
        let post = |inbox: &mut Vec<(f64, usize, f64, Msg)>, from: usize, msg: Msg| {
            for to in (0..ids.len()).filter(|&t| t != from) {
                inbox.push((now + delay, to, ids[from], msg.clone()));
            }
        };
        for i in 0..ids.len() {
            if i == 0 && now < frozen_until {
                continue;
            }
            let seen = writes.iter().rev().find(|w| w.0 <= now - lag).cloned().unwrap_or((0.0, 0, None));
            match doing[i] {
                Doing::Idle(at) if now >= at => doing[i] = Doing::Polling { started: now, next: now },
                Doing::Waiting { started, until } if now >= until => doing[i] = Doing::Polling { started, next: now },
                Doing::Polling { started, next } if now >= next => {
                    let free = lock.is_none();
                    if !free && now < tabs[i].wait_until(started) {
                        doing[i] = Doing::Polling { started, next: now + 40.0 };
                        continue;
                    }
                    if free {
                        lock = Some(i);
                    }
                    own[i] = own[i].max(seen.1);
                    // Superseded: a newer session than the one this tab set out to refresh.
                    if own[i] > 0 {
                        if lock == Some(i) {
                            lock = None;
                        }
                        doing[i] = Doing::Finished;
                        last_done = now;
                        continue;
                    }
                    let claim = if free { Claim::Locked } else { Claim::LockTimedOut };
                    match tabs[i].step(now, fp(own[i]), seen.2.as_ref(), claim) {
                        Step::Send => {
                            if i == 0 && victim == Victim::GoneWithLock {
                                lock = None;
                                doing[i] = Doing::Gone;
                                continue;
                            }
                            let marker = Marker { token: fp(own[i]), tab: ids[i], at_ms: now };
                            writes.push((now, seen.1.max(own[i]), Some(marker)));
                            post(&mut inbox, i, Msg::Sending(marker));
                            if i == 0 && victim == Victim::GoneAfterMarker {
                                lock = None;
                                doing[i] = Doing::Gone;
                                continue;
                            }
                            sends += 1;
                            reuse |= own[i] != server;
                            server = own[i] + 1;
                            if let (0, Victim::Frozen(ms)) = (i, victim) {
                                frozen_until = now + ms;
                            }
                            doing[i] = Doing::Requesting { version: own[i], done_at: now + request, beat_at: now + HEARTBEAT_MS };
                        }
                        Step::Wait(until) => {
                            if lock == Some(i) {
                                lock = None;
                            }
                            doing[i] = Doing::Waiting { started, until };
                        }
                        Step::Listen(_) => unreachable!("a locked tab does not listen"),
                        Step::Spent { .. } | Step::GiveUp => {
                            if lock == Some(i) {
                                lock = None;
                            }
                            doing[i] = Doing::Finished;
                            last_done = now;
                        }
                    }
                }
                Doing::Requesting { version, done_at, beat_at } => {
                    if now >= done_at {
                        writes.push((now, version + 1, None));
                        own[i] = version + 1;
                        post(&mut inbox, i, Msg::Session(version + 1));
                        linger_until = Some(now + LOCK_LINGER_MS);
                        doing[i] = Doing::Finished;
                        last_done = now;
                    } else if now >= beat_at {
                        post(&mut inbox, i, Msg::Claiming);
                        doing[i] = Doing::Requesting { version, done_at, beat_at: now + HEARTBEAT_MS };
                    }
                }
                _ => {}
            }
        }
        let settled = doing.iter().all(|d| matches!(d, Doing::Finished | Doing::Gone)) && inbox.is_empty() && now >= frozen_until && linger_until.is_none();
        if settled {
            break;
        }
        now += 1.0;
    }
    assert!(now < 30_000.0, "never settles: {doing:?}");
    // Every live tab ends on the server's token (the result reached it, or it sent it).
    for (i, d) in doing.iter().enumerate() {
        if *d != Doing::Gone {
            assert_eq!(own[i], server, "tab {i} ends on the newest token");
        }
    }
    (sends, reuse, last_done)
}

#[test]
fn with_locks_no_token_is_sent_twice_whatever_the_delays_and_vanishing_tabs() {
    let starts: [&[f64]; 4] = [&[0.0, 0.0, 0.0], &[0.0, 10.0, 25.0], &[30.0, 0.0, 5.0], &[0.0, 0.0, 0.0, 0.0]];
    let victims = [Victim::None, Victim::GoneWithLock, Victim::GoneAfterMarker, Victim::Frozen(500.0), Victim::Frozen(3_000.0)];
    // (request ms, storage lag ms): the lag stays under the request's own time plus the
    // lock's linger (beyond that, with messages as late, a stale read could resend).
    for (request, lag) in [(5.0, 0.0), (5.0, 3.0), (5.0, 90.0), (30.0, 20.0), (300.0, 350.0)] {
        for delay in [0.0, 80.0, 400.0] {
            for starts in starts {
                for victim in victims {
                    let case = format!("request {request} lag {lag} delay {delay} starts {starts:?} victim {victim:?}");
                    let (sends, reuse, last) = simulate(starts, delay, lag, request, victim);
                    assert!(!reuse, "a token was sent twice: {case}");
                    assert_eq!(sends, 1, "one request: {case}");
                    // Bounded: about a second per vanished or frozen sender, plus requests.
                    let frozen = if let Victim::Frozen(ms) = victim { ms } else { 0.0 };
                    let bound = starts.iter().cloned().fold(0.0, f64::max) + frozen + PEER_WAIT_MS + SETTLE_MS + 2.0 * (request + delay) + 200.0;
                    assert!(last <= bound, "took {last} ms (bound {bound}): {case}");
                }
            }
        }
    }
}
