//! Native tests of `core/session.rs` (its `tests` module, kept in a file of its own).

use super::*;
use crate::core::token::tests::jwt;

const MIN: f64 = 60_000.0;
const T0: f64 = 1_700_000_000_000.0;

fn policy() -> ClientPolicy {
    ClientPolicy { margin_ms: MIN, retry: RetryPolicy::default(), auto_refresh: true }
}
fn at(iat_s: f64, exp_s: f64) -> String {
    jwt(r#"{"alg":"HS256"}"#, &format!(r#"{{"sub":"u","iat":{iat_s},"exp":{exp_s}}}"#))
}
fn tokens(access: Option<String>, refresh: Option<&str>) -> TokenSet {
    let decoded = access.as_deref().map(|a| token::decode(a).unwrap()).unwrap_or_default();
    TokenSet {
        access_token: access.map(AccessToken::new),
        refresh_token: refresh.map(RefreshToken::new),
        expires_at_ms: decoded.expires_at_ms,
        expiry_from_token: decoded.expires_at_ms.is_some(),
        issued_at_ms: decoded.issued_at_ms,
        claims: decoded.claims,
        ..TokenSet::default()
    }
}
/// Received at the end of the second `iat` names: the skew estimate is then exactly 0.
const RECEIVED: f64 = T0 + 1000.0;

/// A session whose 1-hour access token was issued at `T0` by a server whose clock agrees.
fn state_with_fresh_session() -> SessionState {
    let mut state = SessionState::new(policy(), 0.0);
    let seed = Session::seed("rt0", None, T0).unwrap();
    let s = seed.after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 3600.0)), Some("rt1")), None, RECEIVED);
    state.succeed(s);
    state
}
fn token_of(plan: Plan) -> Option<String> {
    match plan {
        Plan::Serve(t) => t.map(|t| t.expose().to_owned()),
        other => panic!("expected Serve, got {other:?}"),
    }
}

#[test]
fn serves_until_the_margin_then_refreshes() {
    let state = state_with_fresh_session();
    assert!(token_of(state.plan(&Demand::Token, T0 + 10.0 * MIN)).is_some());
    assert_eq!(state.plan(&Demand::Token, T0 + 59.5 * MIN), Plan::Refresh, "inside the 60 s margin");
    assert_eq!(state.plan(&Demand::Explicit, T0 + MIN), Plan::Refresh, "refresh() always asks");
    assert_eq!(state.due_at_ms(), Some(T0 + 60.0 * MIN - 1.2 * MIN));
    assert_eq!(state.tick(T0 + 58.0 * MIN), Plan::Serve(None));
    assert!(token_of(state.plan(&Demand::Token, T0 + 58.9 * MIN)).is_some(), "due, yet still served without waiting");
    assert_eq!(state.tick(T0 + 59.0 * MIN), Plan::Refresh);
}

#[test]
fn margin_is_capped_by_a_fifth_of_a_short_lifetime() {
    let mut state = SessionState::new(policy(), 0.0);
    let s = Session::seed("rt", None, T0).unwrap().after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 10.0)), None), None, RECEIVED);
    state.succeed(s);
    assert_eq!(state.due_at_ms(), Some(T0 + 10_000.0 - 2_400.0));
}

#[test]
fn jitter_spreads_tabs_over_a_quarter_margin_before_the_margin() {
    let mut a = state_with_fresh_session();
    a.jitter = 1.0;
    assert_eq!(a.due_at_ms(), Some(T0 + 60.0 * MIN - 1.45 * MIN));
}

#[test]
fn clock_skew_of_hours_still_refreshes_on_time() {
    // The client's clock is 3 hours behind: the server's `exp` looks 3h+1h away locally.
    let skew = 3.0 * 3600.0 * 1000.0;
    let local_now = T0 - skew;
    let for_date = |date: Option<f64>| {
        let mut state = SessionState::new(policy(), 0.0);
        let s = Session::seed("rt", None, local_now).unwrap();
        state.succeed(s.after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 3600.0)), None), date, local_now));
        state
    };
    for state in [for_date(Some(T0)), for_date(None)] {
        let due = state.due_at_ms().unwrap();
        assert!((due - (local_now + 58.8 * MIN)).abs() <= 1_000.0, "due {} s after receipt", (due - local_now) / 1000.0);
        assert!(state.plan(&Demand::Token, local_now + 30.0 * MIN) != Plan::Refresh);
        assert_eq!(state.plan(&Demand::Token, local_now + 59.9 * MIN), Plan::Refresh);
    }
    // Client clock 3 hours ahead: the token must not look expired forever (no storm).
    let ahead = T0 + skew;
    let mut state = SessionState::new(policy(), 0.0);
    let s = Session::seed("rt", None, ahead).unwrap();
    state.succeed(s.after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 3600.0)), None), None, ahead));
    assert!(token_of(state.plan(&Demand::Token, ahead + MIN)).is_some(), "fresh right after refresh");
}

#[test]
fn short_tokens_never_look_expired_on_arrival() {
    // A 1 s token received late in its issuing second: the estimate would leave it ~0 s.
    let s = Session::seed("rt", None, T0).unwrap().after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 1.0)), None), None, T0 + 999.0);
    assert!(s.local_expiry_ms().unwrap() >= T0 + 999.0 + 500.0, "keeps half its lifetime");
}

#[test]
fn expired_or_missing_access_token_is_due_at_once_and_no_expiry_never() {
    let mut state = SessionState::new(policy(), 0.0);
    state.replace(Some(Session::seed("rt", Some(&at(1.0, 2.0)), T0).unwrap()));
    assert_eq!(state.tick(T0), Plan::Refresh, "expired at start");
    state.replace(Some(Session::seed("rt", None, T0).unwrap()));
    assert_eq!(state.tick(T0), Plan::Refresh, "refresh token only");
    state.replace(Some(Session::seed("rt", Some("opaque"), T0).unwrap()));
    assert_eq!(state.due_at_ms(), None, "no expiry: on demand only");
    assert_eq!(token_of(state.plan(&Demand::Token, T0 + 1e9)).as_deref(), Some("opaque"));
    assert_eq!(state.plan(&Demand::Unauthorized(Some("opaque".into())), T0), Plan::Refresh);
}

#[test]
fn unauthorized_refreshes_only_the_token_that_was_refused() {
    let state = state_with_fresh_session();
    let current = token_of(state.plan(&Demand::Token, T0)).unwrap();
    assert_eq!(state.plan(&Demand::Unauthorized(Some(current.clone())), T0), Plan::Refresh);
    assert_eq!(token_of(state.plan(&Demand::Unauthorized(Some("older".into())), T0)), Some(current));
}

#[test]
fn failed_series_cools_down_but_keeps_serving_a_valid_token() {
    let mut state = state_with_fresh_session();
    let now = T0 + 59.5 * MIN;
    let err = Error { retry_after_ms: Some(60_000.0), ..Error::new(ErrorCode::ServerError, "down") };
    assert_eq!(state.fail(err.clone(), now), Failure::Kept);
    assert!(token_of(state.plan(&Demand::Token, now + 1.0)).is_some(), "still valid: served");
    assert_eq!(state.plan(&Demand::Explicit, now + 1.0), Plan::Fail(err.clone()), "refresh() fails at once");
    assert_eq!(state.tick(now + 1.0), Plan::Serve(None), "timers send nothing in the cooldown");
    assert_eq!(state.plan(&Demand::Token, T0 + 60.0 * MIN - 1_000.0), Plan::Fail(err.clone()), "a second from expiry: not worth sending");
    assert_eq!(state.plan(&Demand::Token, T0 + 60.0 * MIN + 1.0), Plan::Fail(err), "expired and cooling: the last error");
    assert_eq!(state.plan(&Demand::Token, now + 60_001.0), Plan::Refresh, "cooldown over");
    state.end_cooldown();
    assert_eq!(state.plan(&Demand::Explicit, now + 2.0), Plan::Refresh, "online ends it");
}

#[test]
fn retry_after_longer_than_the_cooldown_extends_it() {
    let mut state = state_with_fresh_session();
    let err = Error { retry_after_ms: Some(120_000.0), ..Error::new(ErrorCode::RateLimited, "slow down") };
    state.fail(err, T0);
    assert!(matches!(state.plan(&Demand::Explicit, T0 + 100_000.0), Plan::Fail(_)));
    assert_eq!(state.plan(&Demand::Explicit, T0 + 120_000.0), Plan::Refresh);
}

#[test]
fn an_absurd_retry_after_cools_down_for_at_most_max_cooldown() {
    let mut state = state_with_fresh_session();
    // `Retry-After: 99999999` (about 3 years) through the real header parser.
    let retry_after_ms = super::super::http_date::parse_retry_after("99999999", T0);
    assert_eq!(retry_after_ms, Some(99_999_999_000.0));
    let err = Error { retry_after_ms, ..Error::new(ErrorCode::RateLimited, "slow down") };
    state.fail(err, T0);
    assert!(matches!(state.plan(&Demand::Explicit, T0 + 599_999.0), Plan::Fail(_)), "still cooling");
    assert_eq!(state.plan(&Demand::Explicit, T0 + 600_000.0), Plan::Refresh, "cooldown over after maxCooldownMs");
}

#[test]
fn refused_refresh_token_ends_the_session_only_once_the_access_token_expires() {
    let mut state = state_with_fresh_session();
    let refused = Error::new(ErrorCode::InvalidRefreshToken, "no");
    assert_eq!(state.fail(refused.clone(), T0 + MIN), Failure::Refused);
    assert!(token_of(state.plan(&Demand::Token, T0 + 2.0 * MIN)).is_some());
    assert_eq!(state.plan(&Demand::Explicit, T0 + 2.0 * MIN), Plan::Fail(refused.clone()));
    assert_eq!(state.due_at_ms(), Some(T0 + 60.0 * MIN));
    assert_eq!(state.tick(T0 + 60.0 * MIN), Plan::End);
    assert_eq!(state.plan(&Demand::Token, T0 + 61.0 * MIN), Plan::End);

    let mut expired = SessionState::new(policy(), 0.0);
    expired.replace(Some(Session::seed("rt", None, T0).unwrap()));
    assert_eq!(expired.fail(refused, T0), Failure::End);
}

#[test]
fn rotation_keeps_the_old_refresh_token_when_none_comes_back() {
    let s = Session::seed("rt-old", None, T0).unwrap();
    assert_eq!(s.after_refresh(tokens(Some("at".into()), None), None, T0).refresh_token.expose(), "rt-old");
    assert_eq!(s.after_refresh(tokens(Some("at".into()), Some("rt-new")), None, T0).refresh_token.expose(), "rt-new");
    let cookie = s.after_refresh(TokenSet::default(), None, T0);
    assert!(cookie.cookie_mode);
    let mut state = SessionState::new(policy(), 0.0);
    state.succeed(cookie);
    assert_eq!(state.plan(&Demand::Token, T0), Plan::Serve(None));
    assert_eq!(state.due_at_ms(), None);
    assert_eq!(state.plan(&Demand::Unauthorized(None), T0), Plan::Refresh);
}

#[test]
fn newer_sessions_from_other_tabs_win() {
    let mut state = state_with_fresh_session();
    let mut theirs = state.session().unwrap().clone();
    theirs.refresh_token = RefreshToken::new("rt-from-tab-b");
    theirs.updated_at_ms += 5.0;
    state.fail(Error::new(ErrorCode::Network, "x"), T0);
    assert!(state.adopt(theirs.clone()));
    assert_eq!(state.plan(&Demand::Explicit, T0), Plan::Refresh, "a new refresh token ends the cooldown");
    let mut stale = theirs.clone();
    stale.refresh_token = RefreshToken::new("rt-stale");
    stale.updated_at_ms -= 10.0;
    assert!(!state.adopt(stale));
    assert!(!state.adopt(theirs), "same session: no change");
    assert_eq!(state.session().unwrap().refresh_token.expose(), "rt-from-tab-b");
}

#[test]
fn app_changes_start_a_new_epoch() {
    let mut state = state_with_fresh_session();
    let e = state.epoch();
    state.replace(None);
    assert_ne!(state.epoch(), e);
    assert_eq!(state.plan(&Demand::Token, T0), Plan::SignedOut);
}

#[test]
fn a_session_from_before_a_sign_out_never_comes_back() {
    let mut state = state_with_fresh_session();
    let refreshed_elsewhere = state.session().unwrap().clone();
    let signed_out_at = refreshed_elsewhere.updated_at_ms + 5.0;
    let e = state.epoch();
    assert!(state.end(signed_out_at));
    assert_ne!(state.epoch(), e);
    assert!(!state.adopt(refreshed_elsewhere.clone()), "a refresh answered before the sign-out, arriving after it");
    let same_ms = Session { updated_at_ms: signed_out_at, ..refreshed_elsewhere.clone() };
    assert!(!state.adopt(same_ms), "answered in the millisecond of the sign-out");
    let signed_in_again = Session::seed("rt-new", None, signed_out_at + 1.0).unwrap();
    assert!(state.adopt(signed_in_again.clone()));
    assert!(!state.end(signed_out_at), "a sign-in after the sign-out survives its late message");
    assert_eq!(state.session(), Some(&signed_in_again));
    assert!(!state.adopt(refreshed_elsewhere), "the later message did not lower the mark");
}

#[test]
fn records_round_trip_and_corruption_is_an_error() {
    let state = state_with_fresh_session();
    let s = state.session().unwrap();
    let back = Session::from_record(&s.to_record()).unwrap();
    assert_eq!(&back, s);
    assert!(!format!("{back:?}").contains("rt1"), "Debug stays redacted");
    let dpop = Session { token_type: Some("DPoP".into()), ..s.clone() };
    let back = Session::from_record(&dpop.to_record()).unwrap();
    assert!(back.is_dpop() && !s.is_dpop());
    assert_eq!(back, dpop);
    for bad in [
        "",
        "null",
        "{}",
        "[]",
        r#"{"v":2,"refreshToken":"x"}"#,
        r#"{"v":1,"refreshToken":""}"#,
        r#"{"v":1,"refreshToken":"x","accessToken":"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJ4In0.c2ln"}"#,
        r#"{"v":1,"refreshToken":7}"#,
    ] {
        assert_eq!(Session::from_record(bad).unwrap_err().code, ErrorCode::StorageError, "{bad}");
    }
}

#[test]
fn seeds_are_validated() {
    assert!(Session::seed("", None, T0).is_err());
    assert!(Session::seed("rt", Some(""), T0).is_err());
    let seed = || Session::seed("rt", None, T0).unwrap();
    assert!(seed().with_token_type(Some("dpop".into())).unwrap().is_dpop());
    assert!(!seed().with_token_type(Some("Bearer".into())).unwrap().is_dpop());
    assert!(!seed().with_token_type(None).unwrap().is_dpop());
    assert_eq!(seed().with_token_type(Some("MAC".into())).unwrap_err().code, ErrorCode::InvalidArgument);
    let bad_claims = jwt(r#"{"alg":"HS256"}"#, r#"{"exp":"soon"}"#);
    assert!(Session::seed("rt", Some(&bad_claims), T0).unwrap_err().message.starts_with("accessToken"));
}
