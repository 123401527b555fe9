//! The lab's Debian base image, `hpvs-lab/debian-python:bookworm`: a Debian root filesystem
//! with `python3` and `openssl`, made with `mmdebstrap` and wrapped into a one-layer OCI
//! image, cached outside the checkout.
//!
//! The sample application (`examples/lab-app/`) builds `FROM hpvs-lab/debian-python:bookworm`
//! on the Secure Build Server; the lab pushes this image to its registry (and signs it as the
//! base image vendor) before the build. No public registry is involved: the root filesystem
//! comes from the Debian mirror through `mmdebstrap`, and the image from this module.
//!
//! ```text
//! mmdebstrap --mode=root --variant=apt --include=python3,openssl SUITE rootfs.tar
//!   (SOURCE_DATE_EPOCH, no /dev, no docs) --> gzip (sha256 of the tar: the diff ID)
//!   --> OCI layout: layer, config, manifest tagged SUITE
//!   --> CACHE/.tmp-XXXX/ --verify--> rename to CACHE/debian-python-SUITE-ARCH-KEY/
//! ```
//!
//! A cache entry is keyed by suite, package list, Debian architecture, the
//! `SOURCE_DATE_EPOCH` and the recipe's version, and is verified before every use (the tag
//! resolves, the manifest, config and every layer hash to their digests, the config's
//! platform is the one asked for); an entry that fails is removed and made again. Entries
//! are made in a temporary directory beside them and renamed into place when complete, under
//! an exclusive lock on `CACHE/.lock`, so a killed run never leaves a half entry that a later
//! run would use; its temporary directory is removed by the next run.
//!
//! What it does not do: push or sign (the lab does, with `oci_push::Client::push_layout` and
//! `notary-client`), pin the Debian mirror's content (a later cold build may hold newer
//! packages, and so have another digest), or build for another architecture without
//! `qemu-user-static` (mmdebstrap's requirement).
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), examples::lab::base_image::BaseImageError> {
//! use examples::lab::base_image::{BaseImageOptions, prepare};
//!
//! let image = prepare(&BaseImageOptions::default()).await?;
//! let layout = oci_push::Layout::open(&image.layout_dir).expect("a verified layout");
//! assert_eq!(image.tag, "bookworm");
//! assert_eq!(layout.resolve(Some(&image.tag)).expect("tagged").digest, image.digest);
//! # Ok(()) }
//! ```

use std::io::{BufRead as _, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_push::{Descriptor, Digest, Layout, Platform, media_type};
use sha2::Digest as _;

/// The repository name the lab gives the image (the sample app's `FROM` line, without a
/// registry host).
pub const REPOSITORY: &str = "hpvs-lab/debian-python";

/// Where the cache lives when `HPVS_LAB_CACHE` is not set.
pub const DEFAULT_CACHE_DIR: &str = "/var/tmp/hpvs-lab-cache";

/// The environment variable that moves the cache.
pub const CACHE_DIR_ENV: &str = "HPVS_LAB_CACHE";

/// The default `SOURCE_DATE_EPOCH`: 2023-06-10T00:00:00Z, the day bookworm was released.
/// Every file's mtime is clamped to it and the image's `created` is it, so two builds
/// from the same mirror content give the same digest.
pub const DEFAULT_SOURCE_DATE_EPOCH: i64 = 1_686_355_200;

/// Bumped whenever the mmdebstrap arguments or the image assembly change, so that entries
/// of an older recipe are not taken for this one.
const RECIPE: u32 = 1;

/// Paths dpkg leaves out of the root filesystem: documentation, manual pages and
/// translations the app never reads (a third of the size). Copyright files stay.
const DPKG_OPTIONS: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
];

/// mmdebstrap copies the host's resolver configuration and host name into the root; a
/// runtime provides both, and leaving them would make the image differ between hosts.
const CUSTOMIZE_HOOK: &str = r#"rm -f "$1/etc/resolv.conf" "$1/etc/hostname""#;

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to build and where to cache it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseImageOptions {
    /// The cache directory (absolute); default `$HPVS_LAB_CACHE`, else
    /// [`DEFAULT_CACHE_DIR`]. Keep it outside the checkout: an entry is about 60 MB.
    pub cache_dir: PathBuf,
    /// The Debian suite, also the image's tag: `bookworm`.
    pub suite: String,
    /// The packages installed on top of the `apt` variant: `python3`, `openssl`.
    pub packages: Vec<String>,
    /// The image's platform (`linux/ARCH`); default this machine's. Another architecture
    /// needs `qemu-user-static` and binfmt support on the host.
    pub platform: Platform,
    /// Seconds since the epoch for file mtimes (clamped) and the image's `created`.
    pub source_date_epoch: i64,
}

impl Default for BaseImageOptions {
    /// Bookworm with `python3` and `openssl` for this machine, cached in `$HPVS_LAB_CACHE`
    /// or [`DEFAULT_CACHE_DIR`] (an empty `HPVS_LAB_CACHE` counts as unset).
    fn default() -> Self {
        let cache_dir = std::env::var_os(CACHE_DIR_ENV)
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR), PathBuf::from);
        BaseImageOptions {
            cache_dir,
            suite: "bookworm".to_owned(),
            packages: vec!["python3".to_owned(), "openssl".to_owned()],
            platform: Platform::host(),
            source_date_epoch: DEFAULT_SOURCE_DATE_EPOCH,
        }
    }
}

/// A verified base image in an OCI layout inside the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseImage {
    /// The OCI image layout (the cache entry's `oci/`); do not write into it.
    pub layout_dir: PathBuf,
    /// The tag of the image in the layout (the suite, `bookworm`).
    pub tag: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's descriptor (media type, digest, size).
    pub manifest: Descriptor,
    /// The image's platform.
    pub platform: Platform,
    /// The bytes of the config and layers (what a push uploads besides the manifest).
    pub blob_bytes: u64,
    /// Whether the image was made by this call (false: taken from the cache).
    pub made_now: bool,
    /// Why a cache entry for these options was discarded before the image was made again,
    /// when that happened.
    pub discarded_entry: Option<String>,
}

/// Why the base image could not be made or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BaseImageError {
    /// `mmdebstrap` is not installed.
    #[error("mmdebstrap is not installed: run scripts/install-peers.sh (it installs mmdebstrap)")]
    MmdebstrapMissing {
        /// The error of the attempt to start it.
        #[source]
        source: std::io::Error,
    },
    /// `mmdebstrap` ran and failed.
    #[error(
        "`{command}` failed ({status}); it needs root and the Debian mirror of apt's sources; \
         its last output:\n{output_tail}"
    )]
    MmdebstrapFailed {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines it wrote.
        output_tail: String,
    },
    /// An option is not usable.
    #[error("invalid base image option {option}: got {value:?}, expected {expected}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The platform has no Debian architecture this module knows.
    #[error(
        "no Debian architecture for platform {platform}: expected linux/amd64, linux/arm64, \
         linux/s390x, linux/ppc64le, linux/386, linux/arm/v7 or linux/riscv64"
    )]
    UnsupportedPlatform {
        /// The platform asked for.
        platform: String,
    },
    /// A file operation on the cache failed.
    #[error(
        "cannot {action} {path}: check that the cache directory is writable (or set HPVS_LAB_CACHE)"
    )]
    Cache {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the OCI image failed.
    #[error("cannot write the OCI image into {path}")]
    Image {
        /// The layout being written.
        path: PathBuf,
        /// The error of `oci_push` (boxed: it is large).
        #[source]
        source: Box<oci_push::Error>,
    },
    /// The image just made does not pass the verification cache entries get.
    #[error("the image just made in {path} does not verify: {reason}")]
    FreshImageInvalid {
        /// The layout.
        path: PathBuf,
        /// The failed check.
        reason: String,
    },
    /// The blocking task that builds the image ended without a result.
    #[error("the base image task did not finish (panicked or cancelled)")]
    TaskFailed,
}

impl BaseImageError {
    fn cache(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| BaseImageError::Cache {
            action,
            path,
            source,
        }
    }
}

/// Returns the cached (or freshly made) OCI layout and the tag inside it.
///
/// A cold run takes a minute or two (mmdebstrap downloads and installs about 40 MB of
/// packages, then the 170 MB root is compressed); a warm one verifies the entry (hashes
/// about 60 MB). Concurrent calls, in this process or others, wait for each other.
pub async fn prepare(options: &BaseImageOptions) -> Result<BaseImage, BaseImageError> {
    let options = options.clone();
    tokio::task::spawn_blocking(move || prepare_blocking(&options))
        .await
        .map_err(|_| BaseImageError::TaskFailed)?
}

/// What the options resolve to.
struct Plan {
    arch: &'static str,
    packages: Vec<String>,
    entry_name: String,
}

fn plan(options: &BaseImageOptions) -> Result<Plan, BaseImageError> {
    if !options.cache_dir.is_absolute() {
        return Err(BaseImageError::InvalidOption {
            option: "cache_dir",
            value: options.cache_dir.display().to_string(),
            expected: "an absolute path",
        });
    }
    let suite_ok = !options.suite.is_empty()
        && options
            .suite
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !suite_ok {
        return Err(BaseImageError::InvalidOption {
            option: "suite",
            value: options.suite.clone(),
            expected: "a Debian suite name such as bookworm",
        });
    }
    let mut packages = options.packages.clone();
    packages.sort();
    packages.dedup();
    // Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters,
    // starting with an alphanumeric character.
    let valid_package = |p: &String| {
        p.len() >= 2
            && p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
            })
    };
    if let Some(bad) = packages.iter().find(|p| !valid_package(p)) {
        return Err(BaseImageError::InvalidOption {
            option: "packages",
            value: bad.clone(),
            expected: "Debian package names (lower case letters, digits, + - .)",
        });
    }
    let arch = debian_architecture(&options.platform)?;
    let key_text = format!(
        "recipe={RECIPE}\nsuite={}\narch={arch}\npackages={}\nsource_date_epoch={}\n",
        options.suite,
        packages.join(","),
        options.source_date_epoch
    );
    let key = hex::encode(sha2::Sha256::digest(key_text.as_bytes()));
    let entry_name = format!("debian-python-{}-{arch}-{}", options.suite, &key[..16]);
    Ok(Plan {
        arch,
        packages,
        entry_name,
    })
}

/// The Debian architecture of `platform`.
fn debian_architecture(platform: &Platform) -> Result<&'static str, BaseImageError> {
    let arch = match (
        platform.os.as_str(),
        platform.architecture.as_str(),
        platform.variant.as_deref(),
    ) {
        ("linux", "amd64", None) => "amd64",
        ("linux", "arm64", None | Some("v8")) => "arm64",
        ("linux", "s390x", None) => "s390x",
        ("linux", "ppc64le", None) => "ppc64el",
        ("linux", "386", None) => "i386",
        ("linux", "arm", Some("v7")) => "armhf",
        ("linux", "riscv64", None) => "riscv64",
        _ => {
            return Err(BaseImageError::UnsupportedPlatform {
                platform: platform.to_string(),
            });
        }
    };
    Ok(arch)
}

fn prepare_blocking(options: &BaseImageOptions) -> Result<BaseImage, BaseImageError> {
    let plan = plan(options)?;
    let cache = &options.cache_dir;
    std::fs::create_dir_all(cache).map_err(BaseImageError::cache("create", cache))?;
    let lock_path = cache.join(".lock");
    let lock =
        std::fs::File::create(&lock_path).map_err(BaseImageError::cache("create", &lock_path))?;
    lock.lock()
        .map_err(BaseImageError::cache("lock", &lock_path))?;

    let entry = cache.join(&plan.entry_name);
    let mut discarded_entry = None;
    if entry.exists() {
        match verify_entry(&entry, options) {
            Ok(image) => return Ok(image),
            Err(reason) => {
                std::fs::remove_dir_all(&entry)
                    .map_err(BaseImageError::cache("remove the corrupt entry", &entry))?;
                discarded_entry = Some(format!("{}: {reason}", entry.display()));
            }
        }
    }
    remove_stale_temporaries(cache)?;

    let temporary = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(cache)
        .map_err(BaseImageError::cache(
            "create a temporary directory in",
            cache,
        ))?;
    let rootfs = temporary.path().join("rootfs.tar");
    run_mmdebstrap(options, &plan, temporary.path(), &rootfs)?;
    let layout_dir = temporary.path().join("oci");
    assemble(&rootfs, &layout_dir, options, &plan)?;
    std::fs::remove_file(&rootfs).map_err(BaseImageError::cache("remove", &rootfs))?;
    verify_entry(temporary.path(), options).map_err(|reason| {
        BaseImageError::FreshImageInvalid {
            path: layout_dir.clone(),
            reason,
        }
    })?;
    let record = serde_json::json!({
        "recipe": RECIPE,
        "suite": options.suite,
        "packages": plan.packages,
        "architecture": plan.arch,
        "source_date_epoch": options.source_date_epoch,
    });
    let record_path = temporary.path().join("entry.json");
    std::fs::write(&record_path, format!("{record:#}\n"))
        .map_err(BaseImageError::cache("write", &record_path))?;

    // From here the directory is complete: keep it (a failed rename leaves a .tmp- the
    // next run removes) and move it into place in one rename.
    let finished = temporary.keep();
    std::fs::rename(&finished, &entry).map_err(BaseImageError::cache("rename into", &entry))?;
    if let Ok(dir) = std::fs::File::open(cache) {
        // Best effort: the entry is verified before use whatever survives a crash.
        let _ = dir.sync_all();
    }
    let mut image =
        verify_entry(&entry, options).map_err(|reason| BaseImageError::FreshImageInvalid {
            path: entry.clone(),
            reason,
        })?;
    image.made_now = true;
    image.discarded_entry = discarded_entry;
    drop(lock);
    Ok(image)
}

/// Removes what killed runs left (`.tmp-*`); the caller holds the cache lock, so no live
/// run owns one.
fn remove_stale_temporaries(cache: &Path) -> Result<(), BaseImageError> {
    let entries = std::fs::read_dir(cache).map_err(BaseImageError::cache("read", cache))?;
    for entry in entries {
        let entry = entry.map_err(BaseImageError::cache("read", cache))?;
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .map_err(BaseImageError::cache("remove the stale temporary", &path))?;
        }
    }
    Ok(())
}

/// The mmdebstrap arguments for `plan`, writing the root filesystem as a tarball to `out`.
fn mmdebstrap_args(options: &BaseImageOptions, plan: &Plan, out: &Path) -> Vec<String> {
    let mut args = vec![
        "--mode=root".to_owned(),
        "--variant=apt".to_owned(),
        format!("--architectures={}", plan.arch),
        format!("--include={}", plan.packages.join(",")),
        "--format=tar".to_owned(),
        // No device nodes in the layer: runtimes mount /dev, and unpackers refuse them.
        "--skip=output/dev".to_owned(),
        format!("--customize-hook={CUSTOMIZE_HOOK}"),
    ];
    args.extend(DPKG_OPTIONS.iter().map(|o| format!("--dpkgopt={o}")));
    args.push(options.suite.clone());
    args.push(out.display().to_string());
    args
}

fn run_mmdebstrap(
    options: &BaseImageOptions,
    plan: &Plan,
    work: &Path,
    out: &Path,
) -> Result<(), BaseImageError> {
    let args = mmdebstrap_args(options, plan, out);
    let log_path = work.join("mmdebstrap.log");
    let log =
        std::fs::File::create(&log_path).map_err(BaseImageError::cache("create", &log_path))?;
    let log_err = log
        .try_clone()
        .map_err(BaseImageError::cache("open", &log_path))?;
    // TMPDIR inside the entry's temporary directory: mmdebstrap's chroot of a killed run is
    // then removed with it by the next run.
    let status = Command::new("mmdebstrap")
        .args(&args)
        .env("SOURCE_DATE_EPOCH", options.source_date_epoch.to_string())
        .env("TMPDIR", work)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BaseImageError::MmdebstrapMissing { source },
            _ => BaseImageError::Cache {
                action: "start mmdebstrap in",
                path: work.to_owned(),
                source,
            },
        })?;
    if status.success() && out.is_file() {
        return Ok(());
    }
    Err(BaseImageError::MmdebstrapFailed {
        command: format!("mmdebstrap {}", args.join(" ")),
        status: if status.success() {
            format!("exited 0 without writing {}", out.display())
        } else {
            status.to_string()
        },
        output_tail: tail(&log_path, 15),
    })
}

/// The last `lines` lines of the file at `path` (empty if unreadable).
fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let all: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Reads through to `inner`, hashing what passes (the layer's diff ID).
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes the image of `rootfs` (mmdebstrap's tarball, used as the layer as it is) into a
/// new layout at `layout_dir`, tagged with the suite.
fn assemble(
    rootfs: &Path,
    layout_dir: &Path,
    options: &BaseImageOptions,
    plan: &Plan,
) -> Result<Descriptor, BaseImageError> {
    let image_error = |source| BaseImageError::Image {
        path: layout_dir.to_owned(),
        source: Box::new(source),
    };
    let layout = Layout::create(layout_dir).map_err(image_error)?;
    let file = std::fs::File::open(rootfs).map_err(BaseImageError::cache("open", rootfs))?;
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .read(
            HashingReader {
                inner: std::io::BufReader::with_capacity(1 << 20, file),
                hasher: sha2::Sha256::new(),
            },
            flate2::Compression::new(6),
        );
    let layer = layout
        .write_blob(media_type::OCI_LAYER_GZIP, &mut gzip)
        .map_err(image_error)?;
    let diff_id = Digest::from_sha256(gzip.into_inner().hasher.finalize().into());

    let created = rfc3339(options.source_date_epoch);
    let mut config = serde_json::json!({
        "architecture": options.platform.architecture,
        "os": options.platform.os,
        "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": ["python3"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.as_str()]},
        "history": [{
            "created": created,
            "created_by": format!(
                "mmdebstrap --variant=apt --include={} {} (recipe {RECIPE})",
                plan.packages.join(","),
                options.suite
            ),
        }],
    });
    if let (Some(variant), Some(map)) = (&options.platform.variant, config.as_object_mut()) {
        map.insert("variant".to_owned(), variant.clone().into());
    }
    let config = layout
        .write_document(media_type::OCI_CONFIG, config.to_string().as_bytes())
        .map_err(image_error)?;
    let descriptor = |d: &Descriptor| serde_json::json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": descriptor(&config),
        "layers": [descriptor(&layer)],
    });
    let manifest = layout
        .write_document(media_type::OCI_MANIFEST, manifest.to_string().as_bytes())
        .map_err(image_error)?;
    layout
        .set_tag(&options.suite, &manifest)
        .map_err(image_error)?;
    Ok(manifest)
}

/// Checks the entry at `entry` (its `oci/` layout) the way every use does: the tag
/// resolves to an OCI manifest, the manifest, the config and every layer hash to their
/// digests, the config's platform is the one asked for and it has a diff ID per layer.
fn verify_entry(entry: &Path, options: &BaseImageOptions) -> Result<BaseImage, String> {
    let layout_dir = entry.join("oci");
    let chain = |e: oci_push::Error| registry_http::error_chain(&e);
    let layout = Layout::open(&layout_dir).map_err(chain)?;
    let manifest = layout.resolve(Some(&options.suite)).map_err(chain)?;
    if manifest.media_type != media_type::OCI_MANIFEST {
        return Err(format!(
            "the tag names a {}, expected an OCI image manifest",
            manifest.media_type
        ));
    }
    let document = |descriptor: &Descriptor| -> Result<serde_json::Value, String> {
        let bytes = layout.read_document(descriptor).map_err(chain)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not JSON: {e}", descriptor.digest))
    };
    let parsed = document(&manifest)?;
    let config = descriptor_of(&parsed["config"])?;
    let layers = parsed["layers"]
        .as_array()
        .ok_or("the manifest has no layers array")?
        .iter()
        .map(descriptor_of)
        .collect::<Result<Vec<_>, _>>()?;
    let config_json = document(&config)?;
    let (os, architecture) = (
        config_json["os"].as_str().unwrap_or_default(),
        config_json["architecture"].as_str().unwrap_or_default(),
    );
    if os != options.platform.os || architecture != options.platform.architecture {
        return Err(format!(
            "the image is for {os}/{architecture}, expected {}",
            options.platform
        ));
    }
    let diff_ids = config_json["rootfs"]["diff_ids"]
        .as_array()
        .map_or(0, Vec::len);
    if diff_ids != layers.len() {
        return Err(format!(
            "the config has {diff_ids} diff IDs for {} layers",
            layers.len()
        ));
    }
    let mut blob_bytes = config.size;
    for layer in &layers {
        layout.verify_blob(layer).map_err(chain)?;
        blob_bytes += layer.size;
    }
    Ok(BaseImage {
        layout_dir,
        tag: options.suite.clone(),
        digest: manifest.digest.clone(),
        manifest,
        platform: options.platform.clone(),
        blob_bytes,
        made_now: false,
        discarded_entry: None,
    })
}

fn descriptor_of(value: &serde_json::Value) -> Result<Descriptor, String> {
    let digest = value["digest"]
        .as_str()
        .ok_or("a descriptor has no digest")?;
    Ok(Descriptor {
        media_type: value["mediaType"]
            .as_str()
            .ok_or("a descriptor has no media type")?
            .to_owned(),
        digest: Digest::parse(digest).map_err(|e| registry_http::error_chain(&e))?,
        size: value["size"].as_u64().ok_or("a descriptor has no size")?,
    })
}

/// `seconds` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests;
