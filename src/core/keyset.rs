//! The gateway's key set: static keys plus a remote JWKS, as a state machine over an injected
//! clock. It decides, per token, whether its key is known, whether to fetch the JWKS, to wait
//! for a fetch in flight, or to give up with 503; the adapter carries out the fetch and reports
//! back. No promise is shared between requests: waiting is polling this state.
//!
//! Rules:
//! - A `kid` not in the keys while a fetch is in flight (the first one included) waits for it,
//!   up to the fetch's timeout, then is judged on the keys it brought.
//! - A `kid` absent from a set fetched successfully (and no refetch allowed) is unknown: 401.
//!   A refetch for an unknown `kid` starts at most once per cooldown.
//! - When no usable set can be had (the last fetch failed, timed out, was unreadable or over
//!   the cap), a key that could not be looked up is unavailable: 503 with Retry-After.
//! - After `max_age` a set is refreshed in the background while its keys keep serving; when
//!   refreshing keeps failing, its keys serve up to `stale_limit` after the last success.

use std::rc::Rc;

use super::verify::{find_key, PublicKey};

/// Timing of the remote JWKS.
#[derive(Clone, Copy, Debug)]
pub struct KeySetTiming {
    /// A fetch not finished after this is failed (and its waiters judged).
    pub timeout_ms: f64,
    /// Least time between two fetch starts for unknown `kid`s, and between retries after a
    /// failure while a set is held.
    pub cooldown_ms: f64,
    /// Least time between retries while no set has ever been fetched (a cold isolate must not
    /// hammer a JWKS endpoint that is down, nor stay keyless for a whole cooldown).
    pub cold_retry_ms: f64,
    /// Age after which a set is refreshed in the background.
    pub max_age_ms: f64,
    /// Age after which a set's keys stop serving when every refresh since has failed.
    pub stale_limit_ms: f64,
}

impl Default for KeySetTiming {
    fn default() -> Self {
        Self { timeout_ms: 5_000.0, cooldown_ms: 30_000.0, cold_retry_ms: 1_000.0, max_age_ms: 600_000.0, stale_limit_ms: 86_400_000.0 }
    }
}

/// A fetch the adapter must carry out and report with `fetched`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchTicket(u64);

/// What to do with a token's key.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyLookup {
    /// The key: verify with it.
    Found(Rc<PublicKey>),
    /// No such key, and the set is known to be current: 401.
    Unknown,
    /// Fetch the JWKS (this request drives the fetch), then look up again.
    Fetch(FetchTicket),
    /// A fetch is in flight: look up again after a short wait.
    Wait,
    /// No usable key set: 503, retry after this many seconds.
    Unavailable {
        /// Whole seconds, at least 1.
        retry_after_s: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Attempt {
    None,
    InFlight { id: u64, started_ms: f64 },
    Failed { ended_ms: f64 },
    Succeeded { started_ms: f64 },
}

/// The keys and the remote JWKS's state.
#[derive(Debug)]
pub struct KeySet {
    timing: KeySetTiming,
    static_keys: Vec<Rc<PublicKey>>,
    remote: bool,
    /// Static keys followed by the last fetched ones.
    keys: Vec<Rc<PublicKey>>,
    fetched_ms: Option<f64>,
    attempt: Attempt,
    next_id: u64,
}

impl KeySet {
    /// Static keys, and whether a remote JWKS backs them.
    pub fn new(static_keys: Vec<Rc<PublicKey>>, remote: bool, timing: KeySetTiming) -> Self {
        Self { timing, keys: static_keys.clone(), static_keys, remote, fetched_ms: None, attempt: Attempt::None, next_id: 0 }
    }

    /// Decides for a token naming `kid` (or none), on its first look.
    pub fn lookup(&mut self, kid: Option<&str>, now_ms: f64) -> KeyLookup {
        self.settle(now_ms);
        match self.judge(kid, now_ms) {
            KeyLookup::Unknown | KeyLookup::Unavailable { .. } if self.remote && self.wait_ms(now_ms) <= 0.0 => KeyLookup::Fetch(self.start(now_ms)),
            decision => decision,
        }
    }

    /// The key, when it is at hand now; no fetch is started (the hot path).
    pub fn peek(&mut self, kid: Option<&str>, now_ms: f64) -> Option<Rc<PublicKey>> {
        self.settle(now_ms);
        find_key(kid, &self.keys).cloned()
    }

    /// Whether a background refresh is due (`refresh_due` would start one).
    pub fn refresh_due_at(&mut self, now_ms: f64) -> bool {
        self.settle(now_ms);
        self.fetched_ms.is_some_and(|at| now_ms - at >= self.timing.max_age_ms) && self.wait_ms(now_ms) <= 0.0
    }

    /// Decides for a token that already waited for (or drove) a fetch: never starts another,
    /// so a request waits for at most one fetch.
    pub fn lookup_after_wait(&mut self, kid: Option<&str>, now_ms: f64) -> KeyLookup {
        self.settle(now_ms);
        self.judge(kid, now_ms)
    }

    fn judge(&self, kid: Option<&str>, now_ms: f64) -> KeyLookup {
        if let Some(key) = find_key(kid, &self.keys) {
            return KeyLookup::Found(key.clone());
        }
        match self.attempt {
            _ if !self.remote => KeyLookup::Unknown,
            Attempt::InFlight { .. } => KeyLookup::Wait,
            Attempt::Succeeded { .. } => KeyLookup::Unknown,
            Attempt::None | Attempt::Failed { .. } => KeyLookup::Unavailable { retry_after_s: seconds(self.wait_ms(now_ms)) },
        }
    }

    /// How long until a fetch may start (<= 0: now).
    fn wait_ms(&self, now_ms: f64) -> f64 {
        let gap = if self.fetched_ms.is_some() { self.timing.cooldown_ms } else { self.timing.cold_retry_ms.min(self.timing.cooldown_ms) };
        match self.attempt {
            Attempt::None => 0.0,
            Attempt::InFlight { .. } => f64::INFINITY,
            Attempt::Failed { ended_ms } => gap - (now_ms - ended_ms),
            Attempt::Succeeded { started_ms } => gap - (now_ms - started_ms),
        }
    }

    /// A background refresh to start, when the set is older than its max age and no fetch is
    /// in flight or was tried within the retry gap. Its keys keep serving meanwhile.
    pub fn refresh_due(&mut self, now_ms: f64) -> Option<FetchTicket> {
        self.settle(now_ms);
        self.refresh_due_at(now_ms).then(|| self.start(now_ms))
    }

    /// Reports a fetch: the keys it brought, or `None` when it failed (network, status, body,
    /// cap). Late reports of a superseded fetch still install keys they brought.
    pub fn fetched(&mut self, ticket: FetchTicket, keys: Option<Vec<Rc<PublicKey>>>, now_ms: f64) {
        let current = matches!(self.attempt, Attempt::InFlight { id, .. } if id == ticket.0);
        let started_ms = match self.attempt {
            Attempt::InFlight { started_ms, .. } => started_ms,
            _ => now_ms,
        };
        match keys {
            Some(keys) => {
                self.keys = self.static_keys.iter().cloned().chain(keys).collect();
                self.fetched_ms = Some(now_ms);
                if current || !matches!(self.attempt, Attempt::InFlight { .. }) {
                    self.attempt = Attempt::Succeeded { started_ms };
                }
            }
            None if current => self.attempt = Attempt::Failed { ended_ms: now_ms },
            None => {}
        }
    }

    /// The time a fetch may take, for the adapter's transport.
    pub fn timing(&self) -> KeySetTiming {
        self.timing
    }

    fn start(&mut self, now_ms: f64) -> FetchTicket {
        self.next_id += 1;
        self.attempt = Attempt::InFlight { id: self.next_id, started_ms: now_ms };
        FetchTicket(self.next_id)
    }

    /// Time passes: a fetch past its timeout has failed; keys past the stale limit stop serving.
    fn settle(&mut self, now_ms: f64) {
        if let Attempt::InFlight { started_ms, .. } = self.attempt {
            if now_ms - started_ms >= self.timing.timeout_ms {
                self.attempt = Attempt::Failed { ended_ms: started_ms + self.timing.timeout_ms };
            }
        }
        if self.fetched_ms.is_some_and(|at| now_ms - at >= self.timing.stale_limit_ms) {
            self.keys = self.static_keys.clone();
            self.fetched_ms = None;
        }
    }
}

fn seconds(ms: f64) -> u64 {
    (ms / 1000.0).ceil().clamp(1.0, 3600.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verify::Alg;

    fn key(kid: &str) -> Rc<PublicKey> {
        Rc::new(PublicKey { kid: Some(kid.into()), alg: Alg::Rs256, jwk: format!(r#"{{"kty":"RSA","n":"{kid}","e":"AQAB"}}"#) })
    }

    fn remote() -> KeySet {
        KeySet::new(Vec::new(), true, KeySetTiming::default())
    }

    fn ticket(l: KeyLookup) -> FetchTicket {
        match l {
            KeyLookup::Fetch(t) => t,
            other => panic!("expected a fetch, got {other:?}"),
        }
    }

    #[test]
    fn cold_start_one_fetch_everyone_waits_then_is_judged_on_its_keys() {
        let mut set = remote();
        let t = ticket(set.lookup(Some("k1"), 0.0));
        for i in 1..30 {
            assert_eq!(set.lookup(Some("k1"), f64::from(i)), KeyLookup::Wait, "request {i} waits for the first fetch");
        }
        assert_eq!(set.lookup(Some("k1"), 399.0), KeyLookup::Wait);
        set.fetched(t, Some(vec![key("k1"), key("k2")]), 400.0);
        assert_eq!(set.lookup(Some("k1"), 401.0), KeyLookup::Found(key("k1")));
        assert_eq!(set.lookup(Some("zz"), 402.0), KeyLookup::Unknown, "absent from a set just fetched: 401");
    }

    #[test]
    fn jwks_down_gives_unavailable_never_unknown() {
        let mut set = remote();
        let t = ticket(set.lookup(Some("k1"), 0.0));
        assert_eq!(set.lookup(Some("k1"), 10.0), KeyLookup::Wait);
        set.fetched(t, None, 20.0);
        assert_eq!(set.lookup_after_wait(Some("k1"), 30.0), KeyLookup::Unavailable { retry_after_s: 1 }, "the waiters' verdict");
        assert_eq!(set.lookup(Some("k1"), 500.0), KeyLookup::Unavailable { retry_after_s: 1 }, "newcomers too, until the retry gap");
        // A cold set retries after cold_retry_ms, not after the whole cooldown.
        let t = ticket(set.lookup(Some("k1"), 1_020.0));
        set.fetched(t, None, 1_030.0);
        assert!(matches!(set.lookup(None, 1_040.0), KeyLookup::Unavailable { .. }));
    }

    #[test]
    fn a_fetch_that_never_reports_times_out_and_its_waiters_get_unavailable() {
        let mut set = remote();
        let _lost = ticket(set.lookup(Some("k1"), 0.0));
        assert_eq!(set.lookup(Some("k1"), 4_999.0), KeyLookup::Wait);
        assert!(matches!(set.lookup_after_wait(Some("k1"), 5_000.0), KeyLookup::Unavailable { .. }), "timed out: 503, not a wait forever");
        assert!(matches!(set.lookup(Some("k1"), 5_500.0), KeyLookup::Unavailable { .. }));
        let t = ticket(set.lookup(Some("k1"), 6_000.0));
        set.fetched(t, Some(vec![key("k1")]), 6_100.0);
        assert!(matches!(set.lookup(Some("k1"), 6_200.0), KeyLookup::Found(_)));
    }

    #[test]
    fn unknown_kid_refetches_at_most_once_per_cooldown() {
        let mut set = remote();
        let t = ticket(set.lookup(Some("k1"), 0.0));
        set.fetched(t, Some(vec![key("k1")]), 10.0);
        assert_eq!(set.lookup(Some("new"), 100.0), KeyLookup::Unknown, "inside the cooldown");
        let t = ticket(set.lookup(Some("new"), 30_000.0));
        assert_eq!(set.lookup(Some("new"), 30_001.0), KeyLookup::Wait, "a rotation in flight: wait for it");
        assert!(matches!(set.lookup(Some("k1"), 30_002.0), KeyLookup::Found(_)), "known keys keep serving meanwhile");
        set.fetched(t, Some(vec![key("k1"), key("new")]), 30_100.0);
        assert!(matches!(set.lookup(Some("new"), 30_101.0), KeyLookup::Found(_)));
        assert_eq!(set.lookup(Some("junk"), 30_102.0), KeyLookup::Unknown);
        assert_eq!(set.lookup(Some("junk2"), 59_999.0), KeyLookup::Unknown, "junk kids cannot force fetches");
    }

    #[test]
    fn a_failed_refetch_for_an_unknown_kid_is_unavailable_known_keys_still_serve() {
        let mut set = remote();
        let t = ticket(set.lookup(Some("k1"), 0.0));
        set.fetched(t, Some(vec![key("k1")]), 10.0);
        let t = ticket(set.lookup(Some("new"), 40_000.0));
        set.fetched(t, None, 40_100.0);
        assert!(matches!(set.lookup(Some("new"), 40_200.0), KeyLookup::Unavailable { retry_after_s: 30 }));
        assert!(matches!(set.lookup(Some("k1"), 40_200.0), KeyLookup::Found(_)));
    }

    #[test]
    fn background_refresh_after_max_age_and_stale_keys_up_to_the_hard_limit() {
        let timing = KeySetTiming::default();
        let mut set = remote();
        let t = ticket(set.lookup(Some("k1"), 0.0));
        set.fetched(t, Some(vec![key("k1")]), 0.0);
        assert_eq!(set.refresh_due(timing.max_age_ms - 1.0), None);
        let t = set.refresh_due(timing.max_age_ms).expect("due");
        assert_eq!(set.refresh_due(timing.max_age_ms + 1.0), None, "one at a time");
        assert!(matches!(set.lookup(Some("k1"), timing.max_age_ms + 2.0), KeyLookup::Found(_)), "old keys serve during the refresh");
        set.fetched(t, None, timing.max_age_ms + 100.0);
        assert_eq!(set.refresh_due(timing.max_age_ms + 200.0), None, "a failed refresh waits a cooldown");
        let mut now = timing.max_age_ms + 200.0;
        while now < timing.stale_limit_ms - 1.0 {
            assert!(matches!(set.lookup(Some("k1"), now), KeyLookup::Found(_)), "stale keys serve at {now}");
            if let Some(t) = set.refresh_due(now) {
                set.fetched(t, None, now + 10.0);
            }
            now += 3_600_000.0;
        }
        assert!(!matches!(set.lookup(Some("k1"), timing.stale_limit_ms), KeyLookup::Found(_)), "past the hard limit");
    }

    #[test]
    fn static_keys_need_no_fetch_and_a_late_success_still_installs() {
        let mut only_static = KeySet::new(vec![key("s")], false, KeySetTiming::default());
        assert!(matches!(only_static.lookup(None, 0.0), KeyLookup::Found(_)), "the only key, no kid");
        assert_eq!(only_static.lookup(Some("x"), 0.0), KeyLookup::Unknown);
        let mut set = KeySet::new(vec![key("s")], true, KeySetTiming::default());
        assert!(matches!(set.lookup(Some("s"), 0.0), KeyLookup::Found(_)));
        let t = ticket(set.lookup(Some("r"), 0.0));
        assert!(matches!(set.lookup_after_wait(Some("r"), 5_000.0), KeyLookup::Unavailable { .. }));
        set.fetched(t, Some(vec![key("r")]), 5_500.0);
        assert!(matches!(set.lookup(Some("r"), 5_501.0), KeyLookup::Found(_)), "a late success installs its keys");
        assert!(matches!(set.lookup(Some("s"), 5_501.0), KeyLookup::Found(_)), "static keys stay");
    }
}
