//! Addresses on the command line and in configuration files: an IP
//! address and port (`127.0.0.1:3863`, `[::1]:3863`) or a host name and
//! port (`localhost:3863`, `pr1.example.net:9901`), resolved once when the
//! command starts (the first address the resolver gives).

use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};

/// Clap value parser for `HOST:PORT`.
pub fn parse(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !s.contains(':') {
        return Err(format!(
            "{s:?} has no port: write HOST:PORT, e.g. localhost:3863"
        ));
    }
    let mut found = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {s:?}: {e}"))?;
    found
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// Serde: one `HOST:PORT` string.
pub fn de_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Serde: a list of `HOST:PORT` strings.
pub fn de_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse(s).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_host_names_parse() {
        assert_eq!(
            parse("127.0.0.1:3863"),
            Ok("127.0.0.1:3863".parse().unwrap())
        );
        assert_eq!(parse("[::1]:9901"), Ok("[::1]:9901".parse().unwrap()));
        let local = parse("localhost:3863").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 3863, "{local}");
        assert!(parse("localhost").unwrap_err().contains("no port"));
        assert!(
            parse("no-such-host.invalid:1")
                .unwrap_err()
                .contains("cannot resolve")
        );
    }
}
