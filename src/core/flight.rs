//! Single flight for the gateway's refreshes, over an injected clock: requests carrying the same
//! refresh token share one refresh, and late requests still carrying a just-rotated token get
//! the same successful result for a while. Keyed by the SHA-256 of the refresh token, never
//! the token itself. Followers poll (Workers forbid awaiting another request's promise).
//!
//! What junk cannot do: a refresh that failed (refused, or never reached the auth server) is
//! handed only to the requests that were waiting for it and never takes a place among
//! successes, so never-seen refresh tokens cannot displace a real result. Successes are kept
//! for their whole window, bounded with least-recently-used eviction; in-flight refreshes are
//! bounded too, and are never evicted: when that table is full a new refresh is refused as
//! busy (503) rather than sent unshared. While a flight is open nobody else sends its token:
//! if its leader vanishes or runs past the timeout, its followers are answered "try again"
//! (503), never by sending the same token a second time.

use std::collections::{BTreeMap, HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// The SHA-256 of a refresh token.
pub type FlightKey = [u8; 32];

/// Names a refresh token without holding it.
pub fn flight_key(refresh_token: &str) -> FlightKey {
    Sha256::digest(refresh_token.as_bytes()).into()
}

/// Bounds and times of the table.
#[derive(Clone, Copy, Debug)]
pub struct FlightLimits {
    /// Refreshes in flight at once; beyond it new ones are busy.
    pub max_in_flight: usize,
    /// Successful results kept; beyond it the least recently used goes.
    pub max_results: usize,
    /// How long a success answers late requests.
    pub result_ttl_ms: f64,
    /// A flight not finished after this is abandoned: a follower takes over.
    pub flight_timeout_ms: f64,
}

/// A request's place in a flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    key: FlightKey,
    id: u64,
}

/// What a request does on arrival.
#[derive(Clone, Debug, PartialEq)]
pub enum Join<T> {
    /// Refresh, then `finish` (or `abandon`).
    Lead(Ticket),
    /// Another request is refreshing: `poll` after a short wait.
    Follow(Ticket),
    /// A recent success for this token.
    Done(T),
    /// Too many refreshes in flight: try again shortly (503).
    Busy,
}

/// What a follower finds.
#[derive(Clone, Debug, PartialEq)]
pub enum Poll<T, E> {
    /// Still in flight.
    Pending,
    /// The flight's outcome.
    Ready(Result<T, E>),
    /// The leader vanished, or ran past the flight's timeout, without an outcome. The token may
    /// have reached the auth server, so the follower does not send it again: it answers "try
    /// again shortly" (503), and a later request leads a new flight.
    Gone,
}

struct Flight {
    id: u64,
    followers: u32,
}

struct Failure<E> {
    error: E,
    waiting: u32,
}

struct Success<T> {
    value: T,
    at_ms: f64,
    stamp: u64,
}

/// The table.
pub struct Flights<T, E> {
    limits: FlightLimits,
    in_flight: HashMap<FlightKey, Flight>,
    starts: VecDeque<(f64, FlightKey, u64)>,
    failures: HashMap<u64, Failure<E>>,
    failure_times: VecDeque<(f64, u64)>,
    results: HashMap<FlightKey, Success<T>>,
    /// Successes by last use (`Success::stamp`), least recent first.
    recency: BTreeMap<u64, FlightKey>,
    /// Successes by time stored.
    stored: VecDeque<(f64, FlightKey)>,
    next: u64,
}

impl<T: Clone, E: Clone> Flights<T, E> {
    /// An empty table.
    pub fn new(limits: FlightLimits) -> Self {
        Self {
            limits,
            in_flight: HashMap::new(),
            starts: VecDeque::new(),
            failures: HashMap::new(),
            failure_times: VecDeque::new(),
            results: HashMap::new(),
            recency: BTreeMap::new(),
            stored: VecDeque::new(),
            next: 0,
        }
    }

    /// A request carrying the token `key` arrives.
    pub fn join(&mut self, key: FlightKey, now_ms: f64) -> Join<T> {
        self.expire(now_ms);
        if let Some(value) = self.result(&key) {
            return Join::Done(value);
        }
        if let Some(flight) = self.in_flight.get_mut(&key) {
            flight.followers += 1;
            return Join::Follow(Ticket { key, id: flight.id });
        }
        self.lead(key, now_ms).map_or(Join::Busy, Join::Lead)
    }

    /// A follower looks again. Its ticket moves to a flight that replaced a vanished one.
    pub fn poll(&mut self, ticket: &mut Ticket, now_ms: f64) -> Poll<T, E> {
        self.expire(now_ms);
        if let Some(failure) = self.failures.get_mut(&ticket.id) {
            failure.waiting = failure.waiting.saturating_sub(1);
            let error = failure.error.clone();
            if failure.waiting == 0 {
                self.failures.remove(&ticket.id);
            }
            return Poll::Ready(Err(error));
        }
        if let Some(value) = self.result(&ticket.key) {
            return Poll::Ready(Ok(value));
        }
        if let Some(flight) = self.in_flight.get_mut(&ticket.key) {
            if flight.id != ticket.id {
                flight.followers += 1;
                ticket.id = flight.id;
            }
            return Poll::Pending;
        }
        Poll::Gone
    }

    /// The leader's outcome. A success answers later requests for `result_ttl_ms`; a failure
    /// only the requests waiting now.
    pub fn finish(&mut self, ticket: Ticket, outcome: Result<T, E>, now_ms: f64) {
        let flight = self.take(ticket);
        match outcome {
            Ok(value) => self.store(ticket.key, value, now_ms),
            Err(error) => {
                if let Some(waiting) = flight.map(|f| f.followers).filter(|n| *n > 0) {
                    self.failures.insert(ticket.id, Failure { error, waiting });
                    self.failure_times.push_back((now_ms, ticket.id));
                }
            }
        }
    }

    /// The leader went away without an outcome (its request was cancelled): its followers are
    /// told at once, and the next request leads anew.
    pub fn abandon(&mut self, ticket: Ticket) {
        self.take(ticket);
    }

    /// Refreshes in flight and successes held (for tests and metrics).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.in_flight.len(), self.results.len(), self.failures.len())
    }

    fn lead(&mut self, key: FlightKey, now_ms: f64) -> Option<Ticket> {
        if self.in_flight.len() >= self.limits.max_in_flight {
            return None;
        }
        self.next += 1;
        let id = self.next;
        self.in_flight.insert(key, Flight { id, followers: 0 });
        self.starts.push_back((now_ms, key, id));
        Some(Ticket { key, id })
    }

    fn take(&mut self, ticket: Ticket) -> Option<Flight> {
        match self.in_flight.get(&ticket.key) {
            Some(f) if f.id == ticket.id => self.in_flight.remove(&ticket.key),
            _ => None,
        }
    }

    fn result(&mut self, key: &FlightKey) -> Option<T> {
        self.next += 1;
        let stamp = self.next;
        let success = self.results.get_mut(key)?;
        self.recency.remove(&success.stamp);
        self.recency.insert(stamp, *key);
        success.stamp = stamp;
        Some(success.value.clone())
    }

    fn store(&mut self, key: FlightKey, value: T, now_ms: f64) {
        self.next += 1;
        if let Some(old) = self.results.insert(key, Success { value, at_ms: now_ms, stamp: self.next }) {
            self.recency.remove(&old.stamp);
        }
        self.recency.insert(self.next, key);
        self.stored.push_back((now_ms, key));
        while self.results.len() > self.limits.max_results {
            let Some((_, oldest)) = self.recency.pop_first() else { break };
            self.results.remove(&oldest);
        }
    }

    /// Drops what time has ended, oldest first (each queue is in time order): flights past their
    /// timeout (abandoned), failures nobody collected, successes past their window.
    fn expire(&mut self, now_ms: f64) {
        let timeout = self.limits.flight_timeout_ms;
        while let Some(&(started_ms, key, id)) = self.starts.front() {
            let current = self.in_flight.get(&key).is_some_and(|f| f.id == id);
            if current && now_ms - started_ms < timeout {
                break;
            }
            self.starts.pop_front();
            if current {
                self.in_flight.remove(&key);
            }
        }
        while let Some(&(at_ms, id)) = self.failure_times.front() {
            if now_ms - at_ms < timeout {
                break;
            }
            self.failure_times.pop_front();
            self.failures.remove(&id);
        }
        while let Some(&(at_ms, key)) = self.stored.front() {
            if now_ms - at_ms < self.limits.result_ttl_ms {
                break;
            }
            self.stored.pop_front();
            if let Some(stamp) = self.results.get(&key).filter(|s| s.at_ms == at_ms).map(|s| s.stamp) {
                self.results.remove(&key);
                self.recency.remove(&stamp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FlightLimits = FlightLimits { max_in_flight: 100, max_results: 50, result_ttl_ms: 30_000.0, flight_timeout_ms: 6_000.0 };

    type Table = Flights<&'static str, &'static str>;

    fn lead(j: Join<&'static str>) -> Ticket {
        match j {
            Join::Lead(t) => t,
            other => panic!("expected to lead, got {other:?}"),
        }
    }

    fn follow(j: Join<&'static str>) -> Ticket {
        match j {
            Join::Follow(t) => t,
            other => panic!("expected to follow, got {other:?}"),
        }
    }

    #[test]
    fn keyed_by_sha256_never_the_token() {
        assert_eq!(flight_key("abc")[..4], [0xba, 0x78, 0x16, 0xbf], "SHA-256 (FIPS 180-2 test vector)");
        assert_ne!(flight_key("rt_secret"), flight_key("rt_secreT"));
    }

    #[test]
    fn one_refresh_for_many_and_late_requests_get_the_success() {
        let mut t = Table::new(LIMITS);
        let key = flight_key("rt");
        let leader = lead(t.join(key, 0.0));
        let mut followers: Vec<Ticket> = (0..99).map(|i| follow(t.join(key, f64::from(i)))).collect();
        assert_eq!(t.poll(&mut followers[0], 100.0), Poll::Pending);
        t.finish(leader, Ok("new tokens"), 200.0);
        for f in &mut followers {
            assert_eq!(t.poll(f, 210.0), Poll::Ready(Ok("new tokens")));
        }
        assert_eq!(t.join(key, 29_000.0), Join::Done("new tokens"), "a late request with the rotated token");
        assert!(matches!(t.join(key, 30_200.0), Join::Lead(_)), "after the window");
    }

    #[test]
    fn a_failure_reaches_only_its_waiters_and_is_not_kept() {
        let mut t = Table::new(LIMITS);
        let key = flight_key("bad");
        let leader = lead(t.join(key, 0.0));
        let mut a = follow(t.join(key, 1.0));
        let mut b = follow(t.join(key, 2.0));
        t.finish(leader, Err("refused"), 10.0);
        assert_eq!(t.poll(&mut a, 20.0), Poll::Ready(Err("refused")));
        assert_eq!(t.poll(&mut b, 20.0), Poll::Ready(Err("refused")));
        assert_eq!(t.sizes(), (0, 0, 0), "nothing kept once collected");
        assert!(matches!(t.join(key, 30.0), Join::Lead(_)), "a later request is not answered from a stored failure");
        let lone = flight_key("lone");
        let l = lead(t.join(lone, 40.0));
        t.finish(l, Err("refused"), 50.0);
        assert_eq!(t.sizes().2, 0, "a failure nobody waits for is not stored at all");
    }

    #[test]
    fn junk_cannot_displace_a_real_success() {
        let mut t = Table::new(LIMITS);
        let real = flight_key("real");
        let l = lead(t.join(real, 0.0));
        t.finish(l, Ok("real tokens"), 1.0);
        for i in 0..5_000u32 {
            let junk = flight_key(&format!("junk-{i}"));
            let now = 2.0 + f64::from(i);
            let l = lead(t.join(junk, now));
            t.finish(l, Err("refused"), now);
        }
        assert_eq!(t.join(real, 20_000.0), Join::Done("real tokens"));
        assert_eq!(t.sizes(), (0, 1, 0), "no junk is held");
    }

    #[test]
    fn successes_are_bounded_least_recently_used_first() {
        let mut t = Table::new(LIMITS);
        let keys: Vec<FlightKey> = (0..=LIMITS.max_results).map(|i| flight_key(&i.to_string())).collect();
        for (i, key) in keys.iter().enumerate() {
            let l = lead(t.join(*key, i as f64));
            t.finish(l, Ok("v"), i as f64);
            if i == 5 {
                assert_eq!(t.join(keys[0], 6.0), Join::Done("v"), "use the first: it is now recent");
            }
        }
        assert_eq!(t.sizes().1, LIMITS.max_results);
        assert_eq!(t.join(keys[0], 100.0), Join::Done("v"), "recently used: kept");
        assert!(matches!(t.join(keys[1], 100.0), Join::Lead(_)), "least recently used: evicted");
    }

    #[test]
    fn a_full_in_flight_table_is_busy_and_never_evicts_a_flight() {
        let mut t = Table::new(FlightLimits { max_in_flight: 3, ..LIMITS });
        let real = flight_key("real");
        let leader = lead(t.join(real, 0.0));
        for i in 0..2 {
            lead(t.join(flight_key(&format!("j{i}")), 1.0));
        }
        assert_eq!(t.join(flight_key("j9"), 2.0), Join::Busy);
        let mut f = follow(t.join(real, 3.0));
        t.finish(leader, Ok("ok"), 4.0);
        assert_eq!(t.poll(&mut f, 5.0), Poll::Ready(Ok("ok")));
    }

    #[test]
    fn a_vanished_leader_sends_its_followers_away_and_nobody_resends_meanwhile() {
        let mut t = Table::new(LIMITS);
        let key = flight_key("rt");
        let leader = lead(t.join(key, 0.0));
        let mut a = follow(t.join(key, 1.0));
        let mut b = follow(t.join(key, 1.0));
        t.abandon(leader);
        assert_eq!(t.poll(&mut a, 10.0), Poll::Gone, "not a second send of the same token");
        assert_eq!(t.poll(&mut b, 10.0), Poll::Gone);
        let next = lead(t.join(key, 20.0));
        let mut c = follow(t.join(key, 21.0));
        assert_eq!(t.poll(&mut c, 22.0), Poll::Pending, "a later request leads a new flight, the rest follow it");
        t.finish(next, Err("down"), 30.0);
        assert_eq!(t.poll(&mut c, 31.0), Poll::Ready(Err("down")));
        t.finish(leader, Ok("too late"), 32.0);
        assert_eq!(t.join(key, 33.0), Join::Done("too late"), "a success is kept even from a replaced flight");
    }

    #[test]
    fn a_leader_that_never_reports_times_out() {
        let mut t = Table::new(LIMITS);
        let key = flight_key("rt");
        lead(t.join(key, 0.0));
        let mut f = follow(t.join(key, 1.0));
        assert_eq!(t.poll(&mut f, 5_999.0), Poll::Pending);
        assert_eq!(t.poll(&mut f, 6_000.0), Poll::Gone, "timed out: the follower does not resend");
        assert!(matches!(t.join(key, 6_001.0), Join::Lead(_)), "a later request leads");
        let lone = flight_key("x");
        let l = lead(t.join(lone, 7_000.0));
        let _waiter = follow(t.join(lone, 7_001.0));
        t.finish(l, Err("e"), 7_002.0);
        assert_eq!(t.sizes().2, 1);
        t.join(flight_key("y"), 13_002.0);
        assert_eq!(t.sizes().2, 0, "an uncollected failure expires");
    }
}
