//! AuthGateway's options: read, checked, and turned into the gateway's state.

use super::*;
use crate::core::dpop_check::ProofTiming;

const GATEWAY_OPTIONS: [&str; 26] = [
    "baseUrl",
    "protocol",
    "tokenUrl",
    "clientId",
    "scope",
    "clientSecret",
    "upstream",
    "keys",
    "algorithms",
    "issuer",
    "audience",
    "leewaySeconds",
    "cookies",
    "stripHeaders",
    "refreshTimeoutMs",
    "refreshCookieMaxAgeSeconds",
    "coordinator",
    "fetch",
    "headers",
    "jwksCooldownSeconds",
    "allowedOrigins",
    "dpop",
    "publicOrigin",
    "dpopMaxAgeSeconds",
    "dpopNonce",
    "dpopNonceSecret",
];
impl Gateway {
    pub(super) fn from_options(value: &JsValue) -> Result<Self, Error> {
        let options = OptionReader::new(value, "AuthGateway", &GATEWAY_OPTIONS)?;
        let timeout = options.number("refreshTimeoutMs")?.map(validate_timeout_ms).transpose()?.unwrap_or(5_000);
        let endpoint = Endpoint::from_options(&options)?;
        let transport = Transport { timeout_ms: timeout, ..endpoint.transport.clone() };
        let endpoint = Endpoint { protocol: endpoint.protocol, transport: transport.clone() };

        let upstream = match options.get("upstream")? {
            Some(v) if v.is_string() => Upstream::Origin(
                normalize_base_url(&v.as_string().unwrap_or_default())
                    .map_err(|_| Error::invalid_argument("upstream", "must be an http(s) URL or an object with fetch()"))?,
            ),
            Some(v) => Upstream::Binding(
                method(&v, "fetch")
                    .map(|f| f.bind0(&v))
                    .ok_or_else(|| Error::invalid_argument("upstream", "must be an http(s) URL or an object with fetch()"))?,
            ),
            None => return Err(Error::invalid_argument("upstream", "is required")),
        };

        let algorithms = read_algorithms(&options)?;
        let keys_value = options.get("keys")?.ok_or_else(|| Error::invalid_argument("keys", "is required"))?;
        let keys = OptionReader::nested(&keys_value, "keys", "keys.", &["hs256Secret", "jwks", "jwksUrl"])?;
        let secret = keys.string("hs256Secret")?;
        if secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(Error::invalid_argument("keys.hs256Secret", "must be at least 32 bytes"));
        }
        let hmac = secret.and_then(|s| HmacKey::new(s.as_bytes()));
        let static_keys = match keys.get("jwks")? {
            None => Vec::new(),
            Some(v) => {
                let text = v.as_string().or_else(|| js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string())).unwrap_or_default();
                parse_jwks(text.as_bytes(), &algorithms)?
            }
        };
        let jwks_url = keys.string("jwksUrl")?;
        if jwks_url.as_ref().is_some_and(|url| !url.starts_with("https://") && !url.starts_with("http://")) {
            return Err(Error::invalid_argument("keys.jwksUrl", "must be an http(s) URL"));
        }
        if algorithms.contains(&Alg::Hs256) && hmac.is_none() {
            return Err(Error::invalid_argument("algorithms", "HS256 needs keys.hs256Secret"));
        }
        if algorithms.iter().any(|a| *a != Alg::Hs256) && static_keys.is_empty() && jwks_url.is_none() {
            return Err(Error::invalid_argument("algorithms", "RS256/ES256/EdDSA need keys.jwks or keys.jwksUrl"));
        }
        let cooldown_s = options.number("jwksCooldownSeconds")?.unwrap_or(30.0);
        if !(0.0..=3600.0).contains(&cooldown_s) {
            return Err(Error::invalid_argument("jwksCooldownSeconds", "must be from 0 to 3600"));
        }
        let timing = KeySetTiming { cooldown_ms: cooldown_s * 1000.0, ..KeySetTiming::default() };
        let jwks = jwks_url.map(|url| {
            let transport = Transport { timeout_ms: timing.timeout_ms as u32, headers: Vec::new(), credentials: None, ..transport.clone() };
            (url, transport)
        });

        let cookies_value = options.get("cookies")?.unwrap_or(JsValue::UNDEFINED);
        let c = OptionReader::nested(&cookies_value, "cookies", "cookies.", &["accessToken", "refreshToken", "sameSite"])?;
        let cookies = CookieNames {
            access: c.string("accessToken")?.unwrap_or_else(|| "__Host-ida-at".into()),
            refresh: c.string("refreshToken")?.unwrap_or_else(|| "__Host-ida-rt".into()),
            same_site: c.one_of("sameSite", &SAME_SITE)?.unwrap_or_else(|| "Lax".into()),
        };
        for (name, value) in [("cookies.accessToken", &cookies.access), ("cookies.refreshToken", &cookies.refresh)] {
            if !valid_name(value) {
                return Err(Error::invalid_argument(name, "must be a valid cookie name"));
            }
        }
        if cookies.access == cookies.refresh {
            return Err(Error::invalid_argument("cookies", "the two cookie names must differ"));
        }

        let leeway_s = options.number("leewaySeconds")?.unwrap_or(30.0);
        if !(0.0..=3600.0).contains(&leeway_s) {
            return Err(Error::invalid_argument("leewaySeconds", "must be from 0 to 3600"));
        }
        let dpop = read_dpop(&options, leeway_s)?;
        let strip: Array = string_list(&options, "stripHeaders", "must be an array of header names")?
            .into_iter()
            .map(|h| JsValue::from_str(&h.to_ascii_lowercase()))
            .collect();
        // The proof is for the gateway: the origin gets the verified token only.
        if dpop.mode != Mode::Off {
            strip.push(&JsValue::from_str("dpop"));
        }
        let allowed_origins = string_list(&options, "allowedOrigins", "must be an array of origins (scheme://host[:port])")?;
        if allowed_origins.iter().any(|o| origin_of(o) != Some(o.as_str())) {
            return Err(Error::invalid_argument("allowedOrigins", "must be an array of origins (scheme://host[:port])"));
        }
        let refresh_max_age_s = options.number("refreshCookieMaxAgeSeconds")?.unwrap_or(30.0 * 86_400.0);
        if !(1.0..=400.0 * 86_400.0).contains(&refresh_max_age_s) {
            return Err(Error::invalid_argument("refreshCookieMaxAgeSeconds", "must be from 1 to 34560000 (400 days)"));
        }
        let coordinator = options.get("coordinator")?;
        if let Some(c) = &coordinator {
            if method(c, "idFromName").is_none() || method(c, "get").is_none() {
                return Err(Error::invalid_argument("coordinator", "must be a Durable Object namespace binding"));
            }
            // The object refreshes with its own global fetch: a fetch option would silently stop applying.
            if endpoint.transport.fetch.is_some() {
                return Err(Error::invalid_argument("fetch", "cannot be combined with coordinator (the Durable Object refreshes with its own fetch)"));
            }
        }
        let limits = FlightLimits {
            max_in_flight: MAX_IN_FLIGHT,
            max_results: MAX_RESULTS,
            result_ttl_ms: RESULT_TTL_MS,
            // Past every leader's own deadline (the refresh, or the coordinator's answer).
            flight_timeout_ms: f64::from(timeout) + f64::from(COORDINATOR_SLACK_MS) + 1_000.0,
        };
        Ok(Self {
            endpoint,
            keys: RefCell::new(KeySet::new(static_keys, jwks.is_some(), timing)),
            jwks,
            upstream,
            policy: Policy { algorithms, issuer: options.string("issuer")?, audience: options.string("audience")?, leeway_s },
            hmac,
            crypto: KeyCache::default(),
            cookies,
            strip,
            allowed_origins,
            refresh_max_age_s: refresh_max_age_s as u64,
            coordinator,
            flights: RefCell::new(Flights::new(limits)),
            refresh_calls: Cell::new(0),
            jwks_fetches: Cell::new(0),
            dpop,
        })
    }
}

fn read_dpop(options: &OptionReader, leeway_s: f64) -> Result<Dpop, Error> {
    let mode = match options.one_of("dpop", &["off", "allowed", "required"])?.as_deref() {
        Some("off") => Mode::Off,
        Some("required") => Mode::Required,
        _ => Mode::Allowed,
    };
    let public_origin = options.string("publicOrigin")?;
    if public_origin.as_deref().is_some_and(|o| origin_of(o) != Some(o)) {
        return Err(Error::invalid_argument("publicOrigin", "must be an origin (scheme://host[:port])"));
    }
    let max_age_s = options.number("dpopMaxAgeSeconds")?.unwrap_or(60.0);
    if !(1.0..=3600.0).contains(&max_age_s) {
        return Err(Error::invalid_argument("dpopMaxAgeSeconds", "must be from 1 to 3600"));
    }
    let nonce = options.boolean("dpopNonce")?.unwrap_or(false);
    let secret = options.string("dpopNonceSecret")?;
    if secret.as_ref().is_some_and(|s| s.len() < 32) {
        return Err(Error::invalid_argument("dpopNonceSecret", "must be at least 32 bytes"));
    }
    if secret.is_some() && !nonce {
        return Err(Error::invalid_argument("dpopNonceSecret", "is used only with dpopNonce: true"));
    }
    let timing = ProofTiming { max_age_ms: max_age_s * 1000.0, leeway_ms: leeway_s * 1000.0 };
    Ok(Dpop::new(mode, public_origin, timing, nonce, secret.as_deref().map(str::as_bytes)))
}

fn read_algorithms(options: &OptionReader) -> Result<Vec<Alg>, Error> {
    let bad = || Error::invalid_argument("algorithms", "must be a non-empty array of \"HS256\", \"RS256\", \"ES256\", \"EdDSA\"");
    let value = options.get("algorithms")?.ok_or_else(bad)?;
    if !Array::is_array(&value) {
        return Err(bad());
    }
    let algs: Vec<Alg> = Array::from(&value).iter().map(|a| a.as_string().and_then(|s| Alg::from_name(&s)).ok_or_else(bad)).collect::<Result<_, _>>()?;
    if algs.is_empty() {
        Err(bad())
    } else {
        Ok(algs)
    }
}

/// An optional array of strings.
fn string_list(options: &OptionReader, name: &str, problem: &str) -> Result<Vec<String>, Error> {
    match options.get(name)? {
        None => Ok(Vec::new()),
        Some(v) if Array::is_array(&v) => Array::from(&v).iter().map(|s| s.as_string().ok_or_else(|| Error::invalid_argument(name, problem))).collect(),
        Some(_) => Err(Error::invalid_argument(name, problem)),
    }
}
