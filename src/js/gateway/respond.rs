//! What goes back: the forwarded request, the session cookies, the answer to the client.

use super::*;

impl Gateway {
    /// Set-Cookie values for a refreshed session: Max-Age from the access token's expiry, and
    /// from the refresh token's own `exp` when it is a JWT (else the configured default).
    pub(super) fn session_cookies(&self, tokens: &TokenSet, old_refresh: &str) -> Vec<String> {
        let until = until_s(now());
        let refresh = tokens.refresh_token.as_ref().map_or(old_refresh, |t| t.expose());
        let access = tokens.access_token.as_ref().map_or("", |t| t.expose());
        vec![session_cookie(&self.cookies.access, access, &self.cookies.same_site, tokens.expires_at_ms.map_or(300, until)), self.refresh_cookie(refresh)]
    }

    /// The refresh cookie alone: Max-Age from the token's own `exp` when it is a JWT.
    pub(super) fn refresh_cookie(&self, refresh: &str) -> String {
        let max_age = token::decode(refresh).ok().and_then(|d| d.expires_at_ms).map_or(self.refresh_max_age_s, until_s(now()));
        session_cookie(&self.cookies.refresh, refresh, &self.cookies.same_site, max_age)
    }

    /// The request to forward: a fresh Authorization, the client's identity headers and the
    /// gateway's cookies removed, the URL moved to the origin. Built in one JS call.
    pub(super) fn forward(
        &self,
        request: &Request,
        token: &str,
        claims: VerifiedClaims,
        status: Status,
        set_cookies: Vec<String>,
        presented: &Presented,
    ) -> Outcome {
        let (cookie_header, bearer) = (presented.cookie_header.as_str(), presented.bearer && matches!(status, Status::Authenticated));
        let own = [self.cookies.access.as_str(), self.cookies.refresh.as_str()];
        let cookie = if own.iter().any(|name| cookie_header.contains(name)) {
            strip_cookies(cookie_header, &own).map_or(JsValue::NULL, |rest| JsValue::from_str(&rest))
        } else {
            JsValue::UNDEFINED
        };
        let origin = match &self.upstream {
            Upstream::Origin(origin) => Some(origin.as_str()),
            Upstream::Binding(_) => None,
        };
        let authorization = (!bearer).then(|| ["Bearer ", token].concat());
        match forward_request(request, origin, authorization.as_deref(), &cookie, &self.strip) {
            Ok(forwarded) => Outcome { status, claims: Some(claims), request: Some(forwarded), set_cookies, dpop: None },
            Err(_) => Outcome::only(Status::Unavailable { retry_after_s: 5 }, set_cookies),
        }
    }

    pub(super) async fn respond(&self, outcome: Outcome) -> Result<Response, JsValue> {
        let response = match (&outcome.status, &outcome.request) {
            (Status::Authenticated | Status::Refreshed, Some(forwarded)) => {
                let pending = match &self.upstream {
                    Upstream::Binding(f) => f.call1(&JsValue::UNDEFINED, forwarded).map(|p| Promise::resolve(&p)),
                    Upstream::Origin(_) => match &self.endpoint.transport.fetch {
                        Some(f) => f.call1(&JsValue::UNDEFINED, forwarded).map(|p| Promise::resolve(&p)),
                        None => global_fetch(forwarded, &JsValue::UNDEFINED),
                    },
                };
                let answered = match pending {
                    Ok(pending) => JsFuture::from(pending).await.ok().and_then(|r| r.dyn_into::<Response>().ok()),
                    Err(_) => None,
                };
                match answered {
                    // A copy, so its headers can be changed; a response that cannot be copied
                    // (a 101 WebSocket upgrade) goes back as it is, without our cookies.
                    Some(r) => match Response::new_with_opt_readable_stream_and_init(r.body().as_ref(), r.unchecked_ref()) {
                        Ok(copy) => copy,
                        Err(_) => return Ok(r),
                    },
                    None => error_response(502, "bad_gateway", "the origin could not be reached", &[])?,
                }
            }
            (Status::Unavailable { retry_after_s }, _) => {
                let mut seconds = String::new();
                push_decimal(&mut seconds, *retry_after_s as i64);
                error_response(503, "temporarily_unavailable", "authentication is temporarily unavailable", &[("Retry-After", &seconds)])?
            }
            (Status::Forbidden, _) => error_response(403, "forbidden", "cross-site requests with cookie credentials are refused", &[])?,
            (Status::Unauthenticated { token_presented: false }, _) => {
                error_response(401, "invalid_request", "authentication is required", &[("WWW-Authenticate", &outcome.challenge())])?
            }
            (Status::DpopRefused(_) | Status::Unauthenticated { token_presented: true }, _) | (_, None) => {
                error_response(401, "invalid_token", INVALID_TOKEN, &[("WWW-Authenticate", &outcome.challenge())])?
            }
        };
        if let Some(nonce) = outcome.dpop_nonce() {
            response.headers().set("DPoP-Nonce", nonce)?;
        }
        for cookie in &outcome.set_cookies {
            response.headers().append("Set-Cookie", cookie)?;
        }
        Ok(response)
    }
}

/// The description of every 401 for a presented token: a refusal says nothing of its reason.
const INVALID_TOKEN: &str = "the access token is missing, expired or invalid";

/// Whole seconds from `now_ms` until a time in ms (0 when past): a cookie's Max-Age.
fn until_s(now_ms: f64) -> impl Fn(f64) -> u64 {
    move |at_ms| ((at_ms - now_ms) / 1000.0).max(0.0).floor() as u64
}

fn error_response(status: u16, error: &str, description: &str, extra: &[(&str, &str)]) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    for (k, v) in extra {
        headers.set(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    let body = ObjectWriter::default().string("error", error).string("error_description", description).finish();
    Response::new_with_opt_str_and_init(Some(&body), &init)
}
