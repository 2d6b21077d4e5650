//! Registry authentication: basic auth (htpasswd) with --creds and auth
//! files, and the bearer token flow against our own token server.

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::common::layer::{Compression, Layer};
use crate::common::oci::{Image, Layout};
use crate::common::registry::{Auth, Registry, htpasswd, push};
use crate::common::token::{self, TokenServer};
use crate::common::*;

/// Pushes a small image to `repos` through an open registry on `storage`,
/// which the authenticating registries then serve.
fn seed(t: &TempDir, repos: &[&str]) {
    let open = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let image = Image::new(json!({"Cmd": ["/hello"]})).layer(
        Layer::new().file("hello", b"hi", 0o755).tar(),
        Compression::Gzip,
    );
    let w = layout.image(&image);
    layout.tag("v1", &w.manifest);
    for repo in repos {
        push(
            &layout.dir,
            "v1",
            &format!("{}/{repo}:v1", open.host),
            false,
            false,
        );
    }
}

#[test]
fn basic_auth_from_creds_and_auth_files() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("basic");
    seed(&t, &["test/locked"]);
    let passwd = t.path("htpasswd");
    htpasswd(&passwd, "bob", "hunter2");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::Htpasswd(passwd));
    let reference = format!("{}/test/locked:v1", registry.host);
    let cache = t.path("cache");
    let pull = |dir: &str, extra: &[&str], env: &[(&str, &str)]| {
        let dir = t.path(dir);
        let mut args = vec!["pull", "--cache", cache.to_str().unwrap()];
        args.extend(extra);
        let dir_str = dir.to_str().unwrap().to_string();
        args.extend([reference.as_str(), dir_str.as_str()]);
        (rt_bundle_env(&t.0, &args, env), dir)
    };

    let (out, dir) = pull("anonymous", &[], &[]);
    fails_with(&out, "authentication required; give --creds");
    nothing_left(&dir);
    let (out, dir) = pull("wrong", &["--creds", "bob:wrong"], &[]);
    fails_with(&out, "access denied (HTTP 401)");
    nothing_left(&dir);
    let (out, dir) = pull("creds", &["--creds", "bob:hunter2"], &[]);
    ok(&out);
    assert_eq!(fs::read(dir.join("rootfs/hello")).unwrap(), b"hi");

    let auth = json!({"auths": {registry.host.clone(): {"auth": STANDARD.encode("bob:hunter2")}}});
    let authfile = t.path("auth.json");
    fs::write(&authfile, auth.to_string()).unwrap();
    let (out, _) = pull("authfile", &["--authfile", authfile.to_str().unwrap()], &[]);
    ok(&out);
    let (out, _) = pull(
        "env",
        &[],
        &[("REGISTRY_AUTH_FILE", authfile.to_str().unwrap())],
    );
    ok(&out);
    // docker's own file, found through HOME.
    fs::create_dir_all(t.path(".docker")).unwrap();
    fs::copy(&authfile, t.path(".docker/config.json")).unwrap();
    let (out, _) = pull("docker-config", &[], &[]);
    ok(&out);

    let (out, dir) = pull("bad-creds", &["--creds", "bob"], &[]);
    fails_with(&out, "--creds: invalid credentials \"bob\"");
    nothing_left(&dir);
}

#[test]
fn bearer_tokens_from_the_token_server() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("token");
    seed(&t, &["test/public", "private/app"]);
    let tokens = TokenServer::start(&t.0);
    let registry = Registry::start(
        &t.0,
        &t.path("storage"),
        Auth::Token {
            realm: tokens.realm.clone(),
            service: token::SERVICE.into(),
            issuer: token::ISSUER.into(),
            cert: tokens.cert.clone(),
        },
    );
    let cache = t.path("cache");
    let pull = |repo: &str, dir: &str, extra: &[&str]| {
        let dir = t.path(dir);
        let reference = format!("{}/{repo}:v1", registry.host);
        let mut args = vec!["pull", "--cache", cache.to_str().unwrap()];
        args.extend(extra);
        let dir_str = dir.to_str().unwrap().to_string();
        args.extend([reference.as_str(), dir_str.as_str()]);
        (rt_bundle(&t.0, &args), dir)
    };

    let (out, dir) = pull("test/public", "public", &[]);
    ok(&out);
    assert_eq!(fs::read(dir.join("rootfs/hello")).unwrap(), b"hi");
    // One token for the whole pull: manifest, config and layer.
    let asked = tokens.requests.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains(&format!("service={}", token::SERVICE)),
        "{asked:?}"
    );
    assert!(
        asked[0].contains("scope=repository%3Atest%2Fpublic%3Apull"),
        "{asked:?}"
    );

    let (out, dir) = pull("private/app", "private-anon", &[]);
    fails_with(&out, "anonymous access refused");
    nothing_left(&dir);
    let (out, dir) = pull("private/app", "private-wrong", &["--creds", "alice:nope"]);
    fails_with(&out, "credentials rejected");
    nothing_left(&dir);
    let before = tokens.count();
    let creds = format!("{}:{}", token::USER, token::PASSWORD);
    let (out, dir) = pull("private/app", "private", &["--creds", &creds]);
    ok(&out);
    assert_eq!(fs::read(dir.join("rootfs/hello")).unwrap(), b"hi");
    assert_eq!(tokens.count(), before + 1);
}
