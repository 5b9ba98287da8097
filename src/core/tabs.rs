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
#[path = "tabs_tests.rs"]
mod tests;
