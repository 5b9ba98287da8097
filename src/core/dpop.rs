//! DPoP (RFC 9449) rules shared by the client that makes proofs and the gateway that checks them.

/// The `htu` of a request: its URL without query and fragment, with the scheme and host in lower
/// case and a default port dropped (RFC 9449 section 4.3 compares after RFC 3986 section 6.2.2
/// and 6.2.3 normalization), and an empty path written as `/`. `None` for anything that is not
/// an absolute http(s) URL, or that has userinfo (a proof is never made for one).
pub fn htu(url: &str) -> Option<String> {
    let url = url.split(['#', '?']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    if authority.is_empty() || authority.contains('@') || url.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::htu;

    #[test]
    fn htu_drops_query_fragment_and_default_port_and_lowers_scheme_and_host() {
        assert_eq!(htu("https://Server.Example.com/token?x=1#f").as_deref(), Some("https://server.example.com/token"));
        assert_eq!(htu("HTTPS://a.example:443/p/Q").as_deref(), Some("https://a.example/p/Q"));
        assert_eq!(htu("http://a.example:80").as_deref(), Some("http://a.example/"));
        assert_eq!(htu("http://localhost:8080/api/v1/auth/refresh").as_deref(), Some("http://localhost:8080/api/v1/auth/refresh"));
        assert_eq!(htu("http://a.example:8443/#x").as_deref(), Some("http://a.example:8443/"));
    }

    #[test]
    fn htu_refuses_what_is_not_an_absolute_http_url() {
        for url in ["/relative", "ftp://a.example/", "https://", "https://user:pw@a.example/", "https://a.example/a b", "javascript:x"] {
            assert_eq!(htu(url), None, "{url}");
        }
    }
}
