//! Pulling an image from a registry into the cache: the manifest (through
//! the index for our platform), the config and the layers, each checked
//! against its digest before the cache keeps it. Layers are fetched a few
//! at a time; an interrupted download is resumed with a Range request.

use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::cache::{self, Cache, Partial, Record};
use crate::digest::{self, Digest, Hasher};
use crate::image::{self, Descriptor, ImageConfig, Manifest, Parsed};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{self, Registry};

/// Downloads at once: enough to hide latency, few enough not to be rude.
const PARALLEL: usize = 3;
const RETRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Cache(#[from] cache::Error),
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error(transparent)]
    Digest(#[from] digest::Error),
    #[error("blob {digest}: reading from the registry: {source}")]
    Read { digest: Digest, source: io::Error },
    #[error("blob {digest}: writing {path}: {source}")]
    Write {
        digest: Digest,
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("blob {digest}: the registry sent more than the {size} bytes its descriptor says")]
    TooLong { digest: Digest, size: u64 },
    #[error("blob {digest}: the connection ended after {got} of {size} bytes")]
    Short { digest: Digest, got: u64, size: u64 },
    #[error("{reference} is for {image}, not {wanted}")]
    Platform {
        reference: String,
        image: String,
        wanted: String,
    },
    #[error("stopped: another download failed")]
    Cancelled,
}

impl Error {
    fn is_transient(&self) -> bool {
        match self {
            Error::Registry(e) => e.is_transient(),
            Error::Read { .. } | Error::Short { .. } => true,
            _ => false,
        }
    }
}

/// A resolved image: what to record in the cache, the platform's manifest
/// and its config.
pub struct Resolved {
    pub record: Record,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

/// Finds the manifest and config for `platform`. With `strict`
/// (`--platform` given), a single-platform image for another platform is
/// an error; otherwise only a warning, as docker does.
pub fn resolve(
    reg: &Registry,
    cache: &Cache,
    reference: &Reference,
    platform: &Platform,
    strict: bool,
) -> Result<Resolved, Error> {
    let (top, bytes, content_type) = top_manifest(reg, cache, reference)?;
    let what = reference.to_string();
    let (manifest_digest, manifest) =
        match image::parse_manifest(&what, content_type.as_deref(), &bytes)? {
            Parsed::Image(m) => (top.clone(), m),
            Parsed::Index(index) => {
                let desc = index.select(&what, platform)?;
                let bytes = json_blob(cache, &desc.digest, || {
                    retry(|| Ok(reg.get_manifest(&desc.digest.to_string())?.bytes))
                })?;
                let child = format!("{what} ({platform} manifest {})", desc.digest);
                match image::parse_manifest(&child, Some(&desc.media_type), &bytes)? {
                    Parsed::Image(m) => (desc.digest.clone(), m),
                    Parsed::Index(_) => {
                        return Err(image::Error::MediaType {
                            what: child,
                            media_type: "a nested index".into(),
                        }
                        .into());
                    }
                }
            }
        };
    manifest.check_layers(&what)?;
    let config_digest = &manifest.config.digest;
    let bytes = json_blob(cache, config_digest, || {
        retry(|| Ok(reg.get_small_blob(config_digest)?))
    })?;
    let config = ImageConfig::parse(&format!("{what} config {config_digest}"), &bytes)?;
    config.check_layers(
        &format!("{what} config {config_digest}"),
        manifest.layers.len(),
    )?;
    let image_platform = config.platform();
    if !platform.matches(&image_platform) {
        let err = Error::Platform {
            reference: what.clone(),
            image: image_platform.to_string(),
            wanted: platform.to_string(),
        };
        if strict {
            return Err(err);
        }
        eprintln!("rt-bundle: warning: {err}");
    }
    Ok(Resolved {
        record: Record {
            reference: what,
            platform: platform.to_string(),
            top,
            manifest: manifest_digest,
        },
        manifest,
        config,
    })
}

/// The manifest or index the reference names. By digest, or by a tag whose
/// current digest (from a HEAD) is cached, nothing is downloaded.
fn top_manifest(
    reg: &Registry,
    cache: &Cache,
    reference: &Reference,
) -> Result<(Digest, Vec<u8>, Option<String>), Error> {
    let known = match &reference.digest {
        Some(d) => Some(d.clone()),
        None => retry(|| Ok(reg.head_manifest(&reference.manifest_reference())?))?,
    };
    if let Some(d) = &known
        && cache.has(d)
    {
        return Ok((d.clone(), cache.read_json(d)?, None));
    }
    let fetched = retry(|| Ok(reg.get_manifest(&reference.manifest_reference())?))?;
    let what = format!("manifest of {reference}");
    let digest = match known {
        Some(d) => {
            d.verify(&what, &fetched.bytes)?;
            d
        }
        None => Digest::sha256_of(&fetched.bytes),
    };
    cache.put(&digest, &fetched.bytes)?;
    Ok((digest, fetched.bytes, fetched.content_type))
}

/// A manifest or config from the cache, or fetched, checked and cached.
fn json_blob(
    cache: &Cache,
    d: &Digest,
    fetch: impl FnOnce() -> Result<Vec<u8>, Error>,
) -> Result<Vec<u8>, Error> {
    if cache.has(d) {
        return Ok(cache.read_json(d)?);
    }
    let bytes = fetch()?;
    cache.put(d, &bytes)?;
    Ok(bytes)
}

/// Runs `f` again after a pause while it fails in a way that may pass.
fn retry<T>(mut f: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let mut backoff = FIRST_BACKOFF;
    for _ in 0..RETRIES {
        match f() {
            Err(e) if e.is_transient() => {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            other => return other,
        }
    }
    f()
}

/// Downloads the layers missing from the cache, `PARALLEL` at a time. The
/// first failure stops the others; the error reported is the first layer's.
pub fn fetch_layers(reg: &Registry, cache: &Cache, layers: &[Descriptor]) -> Result<(), Error> {
    let missing: Vec<&Descriptor> = layers.iter().filter(|l| !cache.has(&l.digest)).collect();
    let progress = Progress::default();
    for l in &missing {
        progress.expect(l.size);
    }
    let next = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let errors: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    progress.show_while(|| {
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(missing.len()) {
                s.spawn(|| {
                    while !cancel.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(layer) = missing.get(i) else { break };
                        if let Err(e) = fetch_blob(reg, cache, layer, &progress, &cancel) {
                            cancel.store(true, Ordering::Relaxed);
                            errors.lock().expect("not poisoned").push((i, e));
                        }
                    }
                });
            }
        })
    });
    let mut errors = errors.into_inner().expect("not poisoned");
    errors.sort_by_key(|(i, e)| (matches!(e, Error::Cancelled), *i));
    match errors.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

fn fetch_blob(
    reg: &Registry,
    cache: &Cache,
    desc: &Descriptor,
    progress: &Progress,
    cancel: &AtomicBool,
) -> Result<(), Error> {
    let mut partial = cache.partial(&desc.digest)?;
    // Another pull may have finished it while we waited for the lock.
    if cache.has(&desc.digest) {
        progress.add(desc.size);
        progress.blob_done();
        return Ok(());
    }
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match download(reg, &mut partial, desc, progress, cancel) {
            Ok(actual) => {
                partial.commit(actual)?;
                progress.blob_done();
                return Ok(());
            }
            Err(e) if e.is_transient() && attempt < RETRIES => {
                attempt += 1;
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            Err(e @ (Error::TooLong { .. } | Error::Digest(_))) => {
                partial.discard();
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt: continues the partial download where it stopped and
/// returns the digest of the whole blob.
fn download(
    reg: &Registry,
    partial: &mut Partial<'_>,
    desc: &Descriptor,
    progress: &Progress,
    cancel: &AtomicBool,
) -> Result<Digest, Error> {
    let digest = &desc.digest;
    let (mut have, mut hasher) = partial.resume()?;
    if have >= desc.size && have > 0 {
        // Left complete by a run that died before committing it, or junk.
        let done = hasher.clone().finish();
        if done == *digest && have == desc.size {
            return Ok(done);
        }
        partial.restart()?;
        (have, hasher) = (0, Hasher::new(digest.algorithm()));
    }
    let stream = reg.get_blob(digest, have)?;
    if have > 0 && !stream.resumed {
        partial.restart()?;
        (have, hasher) = (0, Hasher::new(digest.algorithm()));
    }
    progress.add(have);
    let mut result = copy_body(
        stream.body.into_reader(),
        partial,
        desc,
        &mut have,
        &mut hasher,
        progress,
        cancel,
    );
    if result.is_ok() && have < desc.size {
        result = Err(Error::Short {
            digest: digest.clone(),
            got: have,
            size: desc.size,
        });
    }
    if result.is_err() {
        // The next attempt counts what it resumes from again.
        progress.sub(have);
    }
    result?;
    Ok(hasher.finish())
}

fn copy_body(
    mut body: impl Read,
    partial: &mut Partial<'_>,
    desc: &Descriptor,
    have: &mut u64,
    hasher: &mut Hasher,
    progress: &Progress,
    cancel: &AtomicBool,
) -> Result<(), Error> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Read {
                    digest: desc.digest.clone(),
                    source,
                });
            }
        };
        if *have + n as u64 > desc.size {
            return Err(Error::TooLong {
                digest: desc.digest.clone(),
                size: desc.size,
            });
        }
        let path = partial.path().to_path_buf();
        partial
            .file()
            .write_all(&buf[..n])
            .map_err(|source| Error::Write {
                digest: desc.digest.clone(),
                path,
                source,
            })?;
        hasher.update(&buf[..n]);
        *have += n as u64;
        progress.add(n as u64);
    }
}
