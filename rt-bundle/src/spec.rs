//! config.json from the image config, per image-spec conversion.md, on top
//! of rt's defaults (runc's `spec`): the command, environment, working
//! directory and user from the image, its labels and implicit fields as
//! annotations.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::image::ImageConfig;
use crate::user;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the image has no Entrypoint or Cmd; give a command after DIR")]
    NoCommand,
    #[error(transparent)]
    User(#[from] user::Error),
}

pub struct Options {
    pub rootless: bool,
    /// Arguments given after DIR: they replace the image's Cmd.
    pub args: Vec<String>,
}

/// The runtime config for an image whose rootfs is unpacked at `rootfs`.
pub fn generate(image: &ImageConfig, rootfs: &Path, opts: &Options) -> Result<Value, Error> {
    let mut spec = if opts.rootless {
        rt::defaults::rootless()
    } else {
        rt::defaults::default_spec()
    };
    let cfg = image.config.clone().unwrap_or_default();
    let mut args = cfg.entrypoint.clone().unwrap_or_default();
    if opts.args.is_empty() {
        args.extend(cfg.cmd.clone().unwrap_or_default());
    } else {
        args.extend(opts.args.iter().cloned());
    }
    if args.is_empty() {
        return Err(Error::NoCommand);
    }
    let user = user::resolve(rootfs, cfg.user.as_deref().unwrap_or(""))?;
    let process = &mut spec["process"];
    // rt has no terminal support yet, and a pulled image is not
    // interactive by default.
    process["terminal"] = json!(false);
    process["args"] = json!(args);
    process["env"] = json!(environment(
        cfg.env.unwrap_or_default(),
        user.home.as_deref()
    ));
    process["cwd"] = json!(working_dir(cfg.working_dir.as_deref()));
    let mut u = json!({"uid": user.uid, "gid": user.gid});
    if !user.additional_gids.is_empty() {
        u["additionalGids"] = json!(user.additional_gids);
    }
    process["user"] = u;
    // The rootfs is this bundle's own copy: let the container write to it,
    // as docker does.
    spec["root"]["readonly"] = json!(false);
    spec["annotations"] = json!(annotations(image));
    Ok(spec)
}

/// The image's variables, plus PATH and HOME when it does not set them
/// (conversion.md allows additions, never changes).
fn environment(mut env: Vec<String>, home: Option<&str>) -> Vec<String> {
    let has = |env: &[String], key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    if !has(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", home.unwrap_or("/")));
    }
    env
}

/// Docker takes a relative WorkingDir from /.
fn working_dir(dir: Option<&str>) -> String {
    match dir {
        None | Some("") => "/".to_string(),
        Some(d) if d.starts_with('/') => d.to_string(),
        Some(d) => format!("/{d}"),
    }
}

/// The implicit annotations of conversion.md, then the labels, which win.
fn annotations(image: &ImageConfig) -> BTreeMap<String, String> {
    let cfg = image.config.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.insert(format!("org.opencontainers.image.{key}"), v);
        }
    };
    put("os", Some(image.os.clone()));
    put("architecture", Some(image.architecture.clone()));
    put("variant", image.variant.clone());
    put("os.version", image.os_version.clone());
    put(
        "os.features",
        image.os_features.as_ref().map(|f| f.join(",")),
    );
    put("author", image.author.clone());
    put("created", image.created.clone());
    put("stopSignal", cfg.stop_signal.clone());
    put(
        "exposedPorts",
        cfg.exposed_ports
            .as_ref()
            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(",")),
    );
    out.extend(cfg.labels.unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn config(json: &str) -> ImageConfig {
        ImageConfig::parse("test", json.as_bytes()).unwrap()
    }

    fn generate_in(cfg: &ImageConfig, args: &[&str]) -> Result<Value, Error> {
        let t = TempDir::new("spec");
        std::fs::create_dir(t.0.join("etc")).unwrap();
        std::fs::write(
            t.0.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:7:8::/srv:/bin/sh\n",
        )
        .unwrap();
        let opts = Options {
            rootless: false,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        generate(cfg, &t.0, &opts)
    }

    #[test]
    fn from_image_config() {
        let cfg = config(
            r#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
                "config":{"Entrypoint":["/bin/tini","--"],"Cmd":["serve","-v"],
                          "Env":["FOO=bar","PATH=/app/bin"],"WorkingDir":"app","User":"app",
                          "Labels":{"x.y":"z","org.opencontainers.image.os":"mine"},
                          "StopSignal":"SIGQUIT","ExposedPorts":{"80/tcp":{},"53/udp":{}}},
                "rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let spec = generate_in(&cfg, &[]).unwrap();
        let p = &spec["process"];
        assert_eq!(p["args"], json!(["/bin/tini", "--", "serve", "-v"]));
        assert_eq!(p["env"], json!(["FOO=bar", "PATH=/app/bin", "HOME=/srv"]));
        assert_eq!(p["cwd"], "/app");
        assert_eq!(p["user"], json!({"uid": 7, "gid": 8}));
        assert_eq!(p["terminal"], false);
        let a = &spec["annotations"];
        assert_eq!(a["org.opencontainers.image.stopSignal"], "SIGQUIT");
        assert_eq!(a["org.opencontainers.image.os"], "mine");
        assert_eq!(a["org.opencontainers.image.architecture"], "amd64");
        assert_eq!(a["org.opencontainers.image.exposedPorts"], "53/udp,80/tcp");
        assert_eq!(a["x.y"], "z");
        assert_eq!(spec["root"], json!({"path": "rootfs", "readonly": false}));

        let spec = generate_in(&cfg, &["sh", "-c", "true"]).unwrap();
        assert_eq!(
            spec["process"]["args"],
            json!(["/bin/tini", "--", "sh", "-c", "true"])
        );
    }

    #[test]
    fn defaults_and_errors() {
        let cfg = config(r#"{"config":{"Cmd":["sh"]},"rootfs":{"diff_ids":[]}}"#);
        let spec = generate_in(&cfg, &[]).unwrap();
        assert_eq!(spec["process"]["env"], json!([DEFAULT_PATH, "HOME=/root"]));
        assert_eq!(spec["process"]["cwd"], "/");
        assert_eq!(spec["process"]["user"], json!({"uid": 0, "gid": 0}));
        let empty = config(r#"{"rootfs":{"diff_ids":[]}}"#);
        assert!(matches!(generate_in(&empty, &[]), Err(Error::NoCommand)));
        assert!(generate_in(&empty, &["ls"]).is_ok());
    }
}
