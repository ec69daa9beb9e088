//! Where a subscription's URL may lead. Only http and https; and no internal address
//! (loopback, private, link-local, …) unless configuration allows the host by name or
//! address. The check runs when a subscription is made and again on every attempt, on
//! the addresses the name resolves to then, and the attempt connects to the address it
//! checked, so a DNS answer that changes cannot smuggle a request inside.

use std::net::{IpAddr, SocketAddr};

use http::Uri;
use nordstern_domain::webhook::is_public;

/// A checked URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// The URL's parts, or why it cannot be a webhook target.
pub fn parse(url: &str) -> Result<Target, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| "is not a URL such as https://example.com/hooks".to_owned())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("must start with https:// or http://".to_owned()),
    };
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| "has no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("must not carry a user name or password".to_owned());
    }
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    Ok(Target {
        https,
        host,
        port,
        path,
    })
}

/// The addresses `target` may be reached at, or why none may.
pub async fn resolve(target: &Target, allowed_hosts: &[String]) -> Result<Vec<SocketAddr>, String> {
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|error| format!("{} does not resolve: {error}", target.host))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("{} does not resolve", target.host));
    }
    let allowed = |ip: IpAddr| {
        allowed_hosts
            .iter()
            .any(|host| host.eq_ignore_ascii_case(&target.host) || host.parse() == Ok(ip))
    };
    match addresses
        .iter()
        .find(|address| !is_public(address.ip()) && !allowed(address.ip()))
    {
        Some(internal) => Err(format!(
            "{} is an internal address ({}); allow the host in webhooks.allowed_hosts to reach it",
            target.host,
            internal.ip()
        )),
        None => Ok(addresses),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_odd_ones_refused() {
        let target =
            parse("https://hooks.example.com/in/abc?x=1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            target,
            Target {
                https: true,
                host: "hooks.example.com".into(),
                port: 443,
                path: "/in/abc?x=1".into()
            }
        );
        assert_eq!(
            parse("http://127.0.0.1:9000").map(|t| (t.port, t.path)),
            Ok((9000, "/".into()))
        );
        for bad in [
            "ftp://x/y",
            "hooks.example.com/in",
            "https://user:pw@x.com/",
            "not a url",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn internal_addresses_need_the_allowlist() {
        let loopback = parse("http://127.0.0.1:9000/hook").unwrap_or_else(|e| panic!("{e}"));
        let refused = resolve(&loopback, &[]).await.err().unwrap_or_default();
        assert!(refused.contains("internal address"), "{refused}");
        assert!(resolve(&loopback, &["127.0.0.1".to_owned()]).await.is_ok());
        let metadata = parse("http://169.254.169.254/latest").unwrap_or_else(|e| panic!("{e}"));
        assert!(resolve(&metadata, &["127.0.0.1".to_owned()]).await.is_err());
        let localhost = parse("http://localhost:9000/").unwrap_or_else(|e| panic!("{e}"));
        assert!(resolve(&localhost, &[]).await.is_err());
        assert!(resolve(&localhost, &["localhost".to_owned()]).await.is_ok());
    }
}
