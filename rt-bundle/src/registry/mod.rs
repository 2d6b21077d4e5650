//! A pull-only client for the OCI distribution spec: manifests by tag or
//! digest, blobs (with Range for resuming), and the authentication a
//! registry asks for in its 401 answers. HTTPS always, except for
//! loopback registries or with `--insecure`.

pub mod auth;
pub mod authfile;

use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body};

use crate::digest::Digest;
use crate::image::{MANIFEST_TYPES, MAX_JSON};
use crate::reference::Reference;
use auth::{Challenge, Credentials};

const USER_AGENT: &str = concat!("rt-bundle/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: {source}")]
    Transport {
        url: String,
        source: Box<ureq::Error>,
    },
    #[error("{url}: HTTP {status}{message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: {what} not found in the registry (HTTP 404){message}")]
    NotFound {
        url: String,
        what: String,
        message: String,
    },
    #[error("{url}: authentication required; give --creds user:password or log in (auth.json)")]
    NeedCreds { url: String },
    #[error("{url}: access denied (HTTP {status}){message}")]
    Denied {
        url: String,
        status: u16,
        message: String,
    },
    #[error("token realm {realm}: {why}")]
    Token { realm: String, why: String },
    #[error("{url}: {source}")]
    Challenge { url: String, source: auth::Error },
    #[error("{url}: the registry sent no body digest and no {what}")]
    Missing { url: String, what: &'static str },
    #[error("{url}: more than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
}

impl Error {
    /// Whether trying again may help: network trouble, 5xx, 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { source, .. } => !matches!(**source, ureq::Error::BadUri(_)),
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub struct Options {
    pub insecure: bool,
    pub creds: Option<Credentials>,
}

pub struct Registry {
    agent: Agent,
    base: String,
    repository: String,
    insecure: bool,
    creds: Option<Credentials>,
    /// The Authorization header that worked last, reused for every request
    /// of the pull (a bearer token is fetched once, not per blob).
    authorization: Mutex<Option<String>>,
}

/// What a manifest GET returned.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// A blob response: `resumed` when the server honoured our Range.
pub struct BlobStream {
    pub body: Body,
    pub resumed: bool,
}

impl Registry {
    pub fn new(reference: &Reference, opts: Options) -> Registry {
        let host = reference.api_host();
        let scheme = if opts.insecure || is_loopback(host) {
            "http"
        } else {
            "https"
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .build();
        Registry {
            agent: config.new_agent(),
            base: format!("{scheme}://{host}/v2/{}", reference.repository),
            repository: reference.repository.clone(),
            insecure: opts.insecure,
            creds: opts.creds,
            authorization: Mutex::new(None),
        }
    }

    /// The digest a tag points at, from a HEAD (which registries do not
    /// count as a pull), or `None` if the registry does not say.
    pub fn head_manifest(&self, reference: &str) -> Result<Option<Digest>, Error> {
        let url = format!("{}/manifests/{reference}", self.base);
        let resp = self.send(&url, Request::Head)?;
        let resp = check(resp, &url, "manifest")?;
        Ok(header(&resp, "docker-content-digest").and_then(|d| d.parse().ok()))
    }

    pub fn get_manifest(&self, reference: &str) -> Result<Fetched, Error> {
        let url = format!("{}/manifests/{reference}", self.base);
        let resp = check(self.send(&url, Request::Manifest)?, &url, "manifest")?;
        let content_type = header(&resp, "content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
        let bytes = read_limited(resp, &url)?;
        Ok(Fetched {
            bytes,
            content_type,
        })
    }

    /// A small blob (an image config) read whole.
    pub fn get_small_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let url = format!("{}/blobs/{digest}", self.base);
        let resp = check(self.send(&url, Request::Blob(0))?, &url, "blob")?;
        read_limited(resp, &url)
    }

    /// A blob from byte `offset` on.
    pub fn get_blob(&self, digest: &Digest, offset: u64) -> Result<BlobStream, Error> {
        let url = format!("{}/blobs/{digest}", self.base);
        let resp = check(self.send(&url, Request::Blob(offset))?, &url, "blob")?;
        let resumed = offset > 0 && resp.status() == StatusCode::PARTIAL_CONTENT;
        Ok(BlobStream {
            body: resp.into_body(),
            resumed,
        })
    }

    /// Sends a request with the authorization we have; on a 401, answers
    /// the challenge and tries once more.
    fn send(&self, url: &str, req: Request) -> Result<Response<Body>, Error> {
        let current = self.authorization.lock().expect("not poisoned").clone();
        let resp = self.call(url, &req, current.as_deref())?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = header(&resp, "www-authenticate").ok_or_else(|| Error::Missing {
            url: url.to_string(),
            what: "WWW-Authenticate header in its 401",
        })?;
        let challenge = Challenge::parse(&challenge).map_err(|source| Error::Challenge {
            url: url.to_string(),
            source,
        })?;
        let authorization = self.answer(url, challenge)?;
        let resp = self.call(url, &req, Some(&authorization))?;
        if resp.status() == StatusCode::UNAUTHORIZED && self.creds.is_none() {
            return Err(Error::NeedCreds {
                url: url.to_string(),
            });
        }
        *self.authorization.lock().expect("not poisoned") = Some(authorization);
        Ok(resp)
    }

    fn call(
        &self,
        url: &str,
        req: &Request,
        authorization: Option<&str>,
    ) -> Result<Response<Body>, Error> {
        let transport = |source| Error::Transport {
            url: url.to_string(),
            source: Box::new(source),
        };
        let mut builder = match req {
            Request::Head => self
                .agent
                .head(url)
                .header("Accept", MANIFEST_TYPES.join(", ")),
            Request::Manifest => self
                .agent
                .get(url)
                .header("Accept", MANIFEST_TYPES.join(", ")),
            Request::Blob(0) => self.agent.get(url),
            Request::Blob(offset) => self
                .agent
                .get(url)
                .header("Range", format!("bytes={offset}-")),
            Request::Token => self.agent.get(url),
        };
        if let Some(a) = authorization {
            builder = builder.header("Authorization", a);
        }
        builder.call().map_err(transport)
    }

    /// The Authorization header that answers `challenge`.
    fn answer(&self, url: &str, challenge: Challenge) -> Result<String, Error> {
        match challenge {
            Challenge::Basic => match &self.creds {
                Some(c) => Ok(c.basic_header()),
                None => Err(Error::NeedCreds {
                    url: url.to_string(),
                }),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                self.fetch_token(&realm, service.as_deref(), &scope)
                    .map(|t| format!("Bearer {t}"))
            }
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, Error> {
        let token_err = |why: String| Error::Token {
            realm: realm.to_string(),
            why,
        };
        let realm_host = realm
            .strip_prefix("http://")
            .ok_or(())
            .map(|rest| rest.split(['/', '?']).next().unwrap_or(""));
        if let Ok(host) = realm_host
            && !self.insecure
            && !is_loopback(host)
        {
            return Err(token_err(
                "refusing a plain-HTTP token realm (use --insecure)".into(),
            ));
        }
        let url = auth::token_url(realm, service, scope);
        let basic = self.creds.as_ref().map(Credentials::basic_header);
        let resp = self.call(&url, &Request::Token, basic.as_deref())?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let why = if self.creds.is_some() {
                "credentials rejected"
            } else {
                "anonymous access refused; give --creds user:password or log in (auth.json)"
            };
            return Err(token_err(format!("HTTP {}: {why}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(token_err(format!("HTTP {}", status.as_u16())));
        }
        let bytes = read_limited(resp, &url)?;
        let parsed: auth::TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| token_err(format!("invalid JSON: {e}")))?;
        parsed
            .into_token()
            .ok_or_else(|| token_err("no token in the answer".into()))
    }
}

enum Request {
    Head,
    Manifest,
    Blob(u64),
    Token,
}

/// Loopback registries are spoken to over plain HTTP, as docker does.
fn is_loopback(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers().get(name)?.to_str().ok().map(str::to_string)
}

/// Turns error statuses into errors, with the registry's own message.
fn check(resp: Response<Body>, url: &str, what: &str) -> Result<Response<Body>, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let message = error_message(resp);
    let url = url.to_string();
    Err(match status {
        StatusCode::NOT_FOUND => Error::NotFound {
            url,
            what: what.to_string(),
            message,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Denied {
            url,
            status: status.as_u16(),
            message,
        },
        _ => Error::Status {
            url,
            status: status.as_u16(),
            message,
        },
    })
}

/// `: CODE: message` from a distribution-spec error body, if there is one.
fn error_message(mut resp: Response<Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorInfo>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorInfo {
        code: String,
        #[serde(default)]
        message: String,
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|i| format!(": {}: {}", i.code, i.message))
            .collect(),
        _ => String::new(),
    }
}

fn read_limited(mut resp: Response<Body>, url: &str) -> Result<Vec<u8>, Error> {
    resp.body_mut()
        .with_config()
        .limit(MAX_JSON)
        .read_to_vec()
        .map_err(|source| match source {
            ureq::Error::BodyExceedsLimit(_) => Error::TooLarge {
                url: url.to_string(),
                limit: MAX_JSON,
            },
            source => Error::Transport {
                url: url.to_string(),
                source: Box::new(source),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:1",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn https_unless_loopback_or_insecure() {
        let r = |s, insecure| {
            let reference = Reference::parse(s).unwrap();
            Registry::new(
                &reference,
                Options {
                    insecure,
                    creds: None,
                },
            )
            .base
        };
        assert_eq!(
            r("alpine", false),
            "https://registry-1.docker.io/v2/library/alpine"
        );
        assert_eq!(r("127.0.0.1:5000/x", false), "http://127.0.0.1:5000/v2/x");
        assert_eq!(r("reg.lan:5000/x", false), "https://reg.lan:5000/v2/x");
        assert_eq!(r("reg.lan:5000/x", true), "http://reg.lan:5000/v2/x");
    }
}
