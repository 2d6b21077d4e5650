//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rt-bundle",
    version,
    about = "Make OCI runtime bundles for rt from registry images, OCI layouts and docker save archives"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Pull REF from its registry and make the bundle DIR (config.json and rootfs/)
    Pull(PullArgs),
    /// Make the bundle DIR from SRC: oci:LAYOUT[:TAG], docker-archive:FILE[:NAME:TAG],
    /// or a path (a directory is an OCI layout, a file a docker save archive)
    Unpack(UnpackArgs),
    /// List or prune the blob cache
    Cache(CacheArgs),
    /// Remove bundles made by rt-bundle
    Rm {
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
}

#[derive(Args)]
pub struct PullArgs {
    /// Image reference, as docker reads it: alpine, library/alpine:3.20,
    /// host:port/name:tag, name@sha256:...
    #[arg(value_name = "REF")]
    pub reference: String,
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// Registry credentials; default: the docker/podman auth.json files
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Read credentials from this auth.json instead of the default ones
    #[arg(long, value_name = "FILE", conflicts_with = "creds")]
    pub authfile: Option<PathBuf>,
    /// Talk plain HTTP to the registry (always done for localhost and 127.0.0.0/8)
    #[arg(long)]
    pub insecure: bool,
    /// Make the rootfs an overlay mount of layers unpacked once in the
    /// cache, with a private upper directory (root only)
    #[arg(long)]
    pub overlay: bool,
    /// Blob cache directory [default: /var/cache/rt-bundle for root,
    /// else $XDG_CACHE_HOME/rt-bundle]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

#[derive(Args)]
pub struct UnpackArgs {
    /// oci:LAYOUT[:TAG], docker-archive:FILE[:NAME:TAG], or a path
    #[arg(value_name = "SRC")]
    pub source: String,
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// What every bundle-making command takes.
#[derive(Args)]
pub struct BundleArgs {
    /// The bundle directory to create (absent or empty)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Command and arguments replacing the image's Cmd
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
    /// os/arch[/variant] to pick from a multi-platform image [default: this machine's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Make a rootless config (user namespace mapping the caller to root)
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args)]
pub struct CacheArgs {
    /// Blob cache directory [default: as for pull]
    #[arg(long, value_name = "DIR", global = true)]
    pub cache: Option<PathBuf>,
    #[command(subcommand)]
    pub action: CacheAction,
}

#[derive(Subcommand)]
pub enum CacheAction {
    /// List pulled images and the cache's size
    Ls,
    /// Remove blobs no pulled image needs, and abandoned downloads
    Prune {
        /// Remove everything, image records included
        #[arg(long)]
        all: bool,
    },
}
