//! The cross-tab refresh protocol: which tab may send a refresh token, when to read storage
//! again, and when to stop waiting for another tab. No I/O and no clock: `now` is an input and
//! the adapter (src/js/client/tabs.rs) carries the steps out with Web Locks, BroadcastChannel,
//! storage and timers.
//!
//! The rules, in order (see [`Tabs::step`]):
//! 1. A token another tab has sent (it said so on the channel, or left a marker in storage
//!    before its request) is never sent again. While that tab is alive (it repeats its claim
//!    every [`HEARTBEAT_MS`] during its request) or its result may still be on the way
//!    ([`SETTLE_MS`] after we learned of the send), we wait for the result. After that, a tab
//!    that gets the Web Lock knows the sender let go of it without a result: the sender is gone
//!    (closed, crashed), nothing live will finish its refresh, and the lock holder takes over.
//!    A tab that cannot get the lock (the sender froze or stalls holding it), or has no Web
//!    Locks, refuses the refresh without a request: the token may be spent, and the sender may
//!    still come back (a frozen tab thaws) and hand its result over.
//! 2. With Web Locks, the tab holding the lock sends; a tab that cannot get the lock by
//!    [`Tabs::wait_until`] (about a second after the holder last spoke) gives up this refresh
//!    without sending. The lock is held around one request only, bounded by its timeout, and
//!    [`LOCK_LINGER_MS`] after the result is stored (the next holder's view of storage may lag).
//! 3. Without Web Locks (the lockless fallback): a tab announces a claim and listens
//!    [`LISTEN_MS`]; a lower tab id heard meanwhile wins; a claim heard before ours makes us wait
//!    for its result (at most [`PEER_WAIT_MS`] after it last spoke) and then claim again.
//!
//! Every wait ends: it is bounded by the moment another tab last spoke plus [`PEER_WAIT_MS`]
//! (or [`SETTLE_MS`]), so a frozen, closed or stalled tab costs the others about a second plus
//! the time its request was still visibly running.

use super::json::{Json, ObjectWriter};

/// How long after another tab last spoke (a claim, a heartbeat) we still wait for its result.
pub const PEER_WAIT_MS: f64 = 1_000.0;
/// How often the tab sending a refresh says it is still alive.
pub const HEARTBEAT_MS: f64 = 250.0;
/// How long the result of a send we learned of may take to reach us through storage or the
/// channel (both are delivered asynchronously) before the token counts as spent.
pub const SETTLE_MS: f64 = 1_000.0;
/// How long the sender keeps the lock after storing its result: a tab that gets the lock next
/// reads storage, and its view of storage may lag (localStorage reaches other tabs
/// asynchronously); the result then has the request's time plus this to arrive.
pub const LOCK_LINGER_MS: f64 = 100.0;
/// The lockless claim's listening window: longer than the channel delays seen while a new tab
/// loads (60-85 ms).
pub const LISTEN_MS: f64 = 150.0;

/// A short fingerprint of a refresh token (FNV-1a, kept to 53 bits so that JSON carries it as
/// a number exactly): names the token in messages and markers without carrying it. Not a
/// secret-keeping hash: it sits beside the token itself.
pub fn fingerprint(token: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash & ((1 << 53) - 1)
}

/// "Tab `tab` sent the token with this fingerprint at `at_ms`": written to shared storage just
/// before the request, so that a tab reading storage later knows the token may be spent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marker {
    /// The token's [`fingerprint`].
    pub token: u64,
    /// The sending tab's id.
    pub tab: f64,
    /// When it sent (its clock).
    pub at_ms: f64,
}

impl Marker {
    /// The stored text.
    pub fn to_record(&self) -> String {
        let mut w = ObjectWriter::default();
        w.integer("token", self.token as f64).integer("tab", self.tab).integer("at", self.at_ms);
        w.finish()
    }

    /// None for anything that is not a marker (a corrupt one is ignored, not trusted).
    pub fn from_record(text: &str) -> Option<Marker> {
        let json = Json::parse(text.as_bytes())?;
        let token = json.get("token")?.as_f64().filter(|t| t.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(t))? as u64;
        let tab = json.get("tab")?.as_f64()?;
        let at_ms = json.get("at")?.as_f64()?;
        Some(Marker { token, tab, at_ms })
    }
}

/// What another tab said on the channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Heard<'a> {
    /// It claims a refresh (the lockless announcement, or a heartbeat during its request).
    Claiming,
    /// It is sending a token: the marker it also wrote to storage (a retry is a new marker).
    Sending(&'a Marker),
    /// Its refresh is over: a session or a sign-out follows (or came first).
    Done,
    /// The server answered its request for the token with this fingerprint with an error: the
    /// token was not used up, and another tab may send it.
    Unspent(u64),
}

/// How this tab competes for the right to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Claim {
    /// It holds the Web Lock.
    Locked,
    /// It could not get the Web Lock by [`Tabs::wait_until`].
    LockTimedOut,
    /// There are no Web Locks here: announce and listen.
    Lockless,
}

/// What to do next about one refresh.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Send now (after writing the marker and announcing the send).
    Send,
    /// Announce a claim, then ask again at this moment (or when a message arrives).
    Listen(f64),
    /// Another tab is at it: read storage again when a message arrives or at this moment,
    /// then ask again.
    Wait(f64),
    /// The token was sent by a tab that has not handed its result over: refuse this refresh.
    /// `first` is true the first time for a token (report it once).
    Spent {
        /// The first refusal for this token.
        first: bool,
    },
    /// The lock stayed taken by a tab that no longer speaks: refuse this refresh (nothing sent).
    GiveUp,
}

#[derive(Clone, Copy, Debug)]
struct SentElsewhere {
    marker: Marker,
    learned_at_ms: f64,
}

#[derive(Clone, Copy, Debug)]
struct Listening {
    token: u64,
    until_ms: f64,
    lost: bool,
}

/// One tab's view of the others.
#[derive(Debug)]
pub struct Tabs {
    id: f64,
    /// Another tab claimed or is sending; we wait for it until then.
    peer_alive_until_ms: f64,
    sent_elsewhere: Option<SentElsewhere>,
    listening: Option<Listening>,
    /// The spent token already reported.
    reported_spent: Option<u64>,
    /// The last send of another tab that no longer holds anyone back (it declared the token
    /// unspent, or it vanished and we took over): its marker, still in storage, is ignored.
    released: Option<Marker>,
}

impl Tabs {
    /// A tab with this id: random, so that ties are rare and every tab breaks them the same way;
    /// a whole number (markers store it as one).
    pub fn new(id: f64) -> Self {
        Tabs { id, peer_alive_until_ms: 0.0, sent_elsewhere: None, listening: None, reported_spent: None, released: None }
    }

    /// This tab's id.
    pub fn id(&self) -> f64 {
        self.id
    }

    /// Another tab spoke.
    pub fn heard(&mut self, from: f64, what: Heard, now_ms: f64) {
        if from == self.id {
            return;
        }
        match what {
            Heard::Claiming => {
                self.peer_alive_until_ms = self.peer_alive_until_ms.max(now_ms + PEER_WAIT_MS);
                if let Some(l) = &mut self.listening {
                    // Simultaneous claims: the lower id goes ahead. A claim heard after our
                    // window is over is a tab that did not hear ours yet: it will yield to us.
                    if now_ms <= l.until_ms && from < self.id {
                        l.lost = true;
                    }
                }
            }
            Heard::Sending(marker) => {
                self.peer_alive_until_ms = self.peer_alive_until_ms.max(now_ms + PEER_WAIT_MS);
                self.learn_sent(marker, now_ms);
                if let Some(l) = &mut self.listening {
                    if l.token == marker.token {
                        l.lost = true;
                    }
                }
            }
            Heard::Done => self.peer_alive_until_ms = 0.0,
            Heard::Unspent(token) => {
                self.peer_alive_until_ms = 0.0;
                if self.sent_elsewhere.as_ref().is_some_and(|s| s.marker.token == token && s.marker.tab == from) {
                    self.released = self.sent_elsewhere.take().map(|s| s.marker);
                }
            }
        }
    }

    /// A send by another tab: the same marker again (from storage, or its message after its
    /// marker) keeps the moment we first learned of it; a new one (a retry) starts over.
    fn learn_sent(&mut self, marker: &Marker, now_ms: f64) {
        // Same sender, same token, not later (its clock): the same send, or an older one read late.
        let known =
            self.sent_elsewhere.as_ref().is_some_and(|s| s.marker.token == marker.token && s.marker.tab == marker.tab && marker.at_ms <= s.marker.at_ms);
        if marker.tab != self.id && !known && self.released.as_ref() != Some(marker) {
            self.sent_elsewhere = Some(SentElsewhere { marker: *marker, learned_at_ms: now_ms });
        }
    }

    /// The moment a tab waiting for the lock gives up: about a second after it started or after
    /// the holder last spoke, whichever is later.
    pub fn wait_until(&self, started_ms: f64) -> f64 {
        (started_ms + PEER_WAIT_MS).max(self.peer_alive_until_ms)
    }

    /// Whether another tab is known to be at a refresh right now.
    pub fn peer_busy(&self, now_ms: f64) -> bool {
        self.peer_alive_until_ms > now_ms
    }

    /// Decides about sending the token fingerprinted `ours`, given the marker storage holds now
    /// (None when storage is not shared, or holds none) and how this tab competes.
    pub fn step(&mut self, now_ms: f64, ours: u64, stored: Option<&Marker>, claim: Claim) -> Step {
        if let Some(m) = stored {
            self.learn_sent(m, now_ms);
        }
        if let Some(sent) = self.sent_elsewhere.filter(|s| s.marker.token == ours) {
            self.listening = None;
            if self.peer_busy(now_ms) {
                return Step::Wait(self.peer_alive_until_ms);
            }
            let settled = sent.learned_at_ms + SETTLE_MS;
            if now_ms < settled {
                return Step::Wait(settled);
            }
            if claim == Claim::Locked {
                // The sender let go of the lock without handing a result over, a second ago:
                // it is gone (closed, crashed, navigated away) and no live tab will finish its
                // refresh. We hold the lock and have read storage again: we take over.
                self.sent_elsewhere = None;
                self.released = Some(sent.marker);
                return Step::Send;
            }
            let first = self.reported_spent != Some(ours);
            self.reported_spent = Some(ours);
            return Step::Spent { first };
        }
        match claim {
            Claim::Locked => Step::Send,
            Claim::LockTimedOut => Step::GiveUp,
            Claim::Lockless => {
                let listening = self.listening.filter(|l| l.token == ours);
                match listening {
                    Some(l) if l.lost && self.peer_busy(now_ms) => Step::Wait(self.peer_alive_until_ms),
                    Some(l) if !l.lost && now_ms < l.until_ms => Step::Listen(l.until_ms),
                    Some(l) if !l.lost => {
                        self.listening = None;
                        Step::Send
                    }
                    // Not claiming yet, or the winner went quiet: claim (again), unless another
                    // tab is busy, whose result we wait for first.
                    _ if self.peer_busy(now_ms) => {
                        self.listening = None;
                        Step::Wait(self.peer_alive_until_ms)
                    }
                    _ => {
                        let until_ms = now_ms + LISTEN_MS;
                        self.listening = Some(Listening { token: ours, until_ms, lost: false });
                        Step::Listen(until_ms)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
