//! Registry authentication: the WWW-Authenticate challenge, basic
//! credentials, and the token flow of the registry token-auth spec (ask the
//! realm for a token for service and scope, then send it as a bearer).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid credentials {0:?}: want user:password")]
    Creds(String),
    #[error("unparsable WWW-Authenticate header {0:?}")]
    Challenge(String),
}

#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    /// `user:password`, as `--creds` and auth.json's `auth` give them.
    pub fn parse(s: &str) -> Result<Credentials, Error> {
        match s.split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Credentials {
                user: user.to_string(),
                password: password.to_string(),
            }),
            _ => Err(Error::Creds(s.chars().take_while(|c| *c != ':').collect())),
        }
    }

    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.user, self.password))
        )
    }
}

/// Never print a password, even in a debug dump.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <hidden>)", self.user)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Bearer realm="...",service="...",scope="..."` or
    /// `Basic realm="..."`.
    pub fn parse(header: &str) -> Result<Challenge, Error> {
        let bad = || Error::Challenge(header.to_string());
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(bad());
        }
        let mut params = parse_params(rest).ok_or_else(bad)?;
        Ok(Challenge::Bearer {
            realm: params.remove("realm").ok_or_else(bad)?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        })
    }
}

/// `key=value` or `key="quoted \"value\""` pairs separated by commas.
fn parse_params(s: &str) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// The token endpoint's answer: `token`, or OAuth's `access_token`.
#[derive(Deserialize)]
pub struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<String> {
        self.token.or(self.access_token).filter(|t| !t.is_empty())
    }
}

/// The token URL: the realm with service and scope as query parameters.
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    for (k, v) in [("service", service), ("scope", Some(scope))] {
        if let Some(v) = v {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&urlencode(v));
            sep = '&';
        }
    }
    url
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            }
        );
        let c = Challenge::parse(r#"bearer realm=http://x/t, scope="a:b\"c""#).unwrap();
        assert!(
            matches!(c, Challenge::Bearer { scope: Some(s), service: None, .. } if s == "a:b\"c")
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry""#).unwrap(),
            Challenge::Basic
        );
        assert!(Challenge::parse("Bearer service=x").is_err());
        assert!(Challenge::parse("Negotiate").is_err());
        assert!(Challenge::parse(r#"Bearer realm="unterminated"#).is_err());
    }

    #[test]
    fn token_urls() {
        assert_eq!(
            token_url("https://a/token", Some("reg istry"), "repository:x/y:pull"),
            "https://a/token?service=reg%20istry&scope=repository%3Ax%2Fy%3Apull"
        );
        assert_eq!(
            token_url("https://a/t?x=1", None, "s"),
            "https://a/t?x=1&scope=s"
        );
    }

    #[test]
    fn credentials() {
        let c = Credentials::parse("me:pa:ss").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("me", "pa:ss"));
        assert_eq!(c.basic_header(), "Basic bWU6cGE6c3M=");
        assert!(Credentials::parse("nopassword").is_err());
        assert!(Credentials::parse(":x").is_err());
        assert!(!format!("{c:?}").contains("pa:ss"));
    }
}
