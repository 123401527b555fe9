//! `oci`: push, pull, build, resolve and unpack images with `oci-push`.
//!
//! ```text
//! oci push [--insecure] LAYOUT_DIR[:TAG] REGISTRY/REPO:TAG     # last stdout line: sha256:<digest>
//! oci pull [--insecure] [--platform OS/ARCH[/VARIANT]] REF LAYOUT_DIR
//! oci build CONTEXT_DIR [-f DOCKERFILE] -t REF [--platform OS/ARCH] [--build-arg K=V]...
//!           [--insecure] (--push | --output LAYOUT_DIR)        # last stdout line: sha256:<digest>
//! oci digest [--insecure] REF
//! oci unpack LAYOUT_DIR[:TAG] ROOTFS_DIR
//! oci clean LAYOUT_DIR [--older-than SECONDS]                 # stale partial downloads
//! ```
//!
//! Credentials come from `--username` with the password in `$OCI_PASSWORD`, else from
//! docker's `config.json`. Progress goes to stderr: bars on a terminal, lines otherwise.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::{Args, Parser, Subcommand};
use examples::outln;
use oci_push::dockerfile::BuildOptions;
use oci_push::{
    BlobOutcome, Client, ClientOptions, CredentialSource, Credentials, Digest, DockerConfig,
    ImageRef, Layout, Platform, Progress, PullOptions, PushOptions, Secret, Security,
    UnpackOptions,
};

#[derive(Parser)]
#[command(
    name = "oci",
    about = "Push, pull, build and unpack OCI images without a daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Net {
    /// Talk plain HTTP (loopback or test registries only).
    #[arg(long)]
    insecure: bool,
    /// Extra CA certificate (PEM) to trust.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// User name; the password is read from $OCI_PASSWORD.
    #[arg(long)]
    username: Option<String>,
    /// Blobs transferred at the same time.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Push an image from an OCI layout.
    Push {
        #[command(flatten)]
        net: Net,
        /// Layout directory, optionally followed by :TAG
        source: String,
        /// REGISTRY/REPO:TAG
        target: String,
        /// Repository of the same registry to mount blobs from.
        #[arg(long)]
        mount_from: Option<String>,
    },
    /// Pull an image into an OCI layout, verifying every blob.
    Pull {
        #[command(flatten)]
        net: Net,
        /// Image reference: REGISTRY/REPO with :TAG and/or @DIGEST
        reference: String,
        /// The layout directory (created when missing).
        layout: PathBuf,
        /// Only this platform's image of a multi-platform index (e.g. linux/s390x); the
        /// image manifest is tagged, and its digest printed. Default: every platform.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
    /// Build an image from a Dockerfile, reproducibly.
    Build {
        #[command(flatten)]
        net: Net,
        /// The build context (its `.dockerignore` applies to COPY and ADD).
        context: PathBuf,
        /// The Dockerfile (default CONTEXT_DIR/Dockerfile).
        #[arg(short = 'f', long = "file")]
        dockerfile: Option<PathBuf>,
        /// The image reference to tag (and push to).
        #[arg(short = 't', long = "tag")]
        tag: String,
        /// Target platform, OS/ARCH[/VARIANT] (default: this machine's).
        #[arg(long)]
        platform: Option<String>,
        /// Build argument K=V (repeatable).
        #[arg(long = "build-arg", value_name = "K=V")]
        build_args: Vec<String>,
        /// Label K=V (repeatable), e.g. org.opencontainers.image.revision=abc123.
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        /// Layer compression: gzip, zstd or none.
        #[arg(long, default_value = "gzip")]
        compression: String,
        /// Push the result to the registry of --tag.
        #[arg(long, conflicts_with = "output", required_unless_present = "output")]
        push: bool,
        /// Write the result into this OCI layout.
        #[arg(long, value_name = "LAYOUT_DIR")]
        output: Option<PathBuf>,
    },
    /// Print the manifest digest of a reference.
    Digest {
        #[command(flatten)]
        net: Net,
        /// Image reference: REGISTRY/REPO with :TAG and/or @DIGEST
        reference: String,
    },
    /// Unpack an image from a layout into a root filesystem, safely.
    Unpack {
        /// Layout directory, optionally followed by :TAG
        source: String,
        /// The root filesystem directory (created when missing).
        rootfs: PathBuf,
    },
    /// Remove what interrupted pulls and writes left in a layout (partial downloads no pull
    /// is writing), when older than --older-than.
    Clean {
        /// Layout directory.
        layout: PathBuf,
        /// Age in seconds beyond which a leftover file goes (default one day; a later pull
        /// would have resumed from a partial download).
        #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
        older_than: u64,
    },
}

type BoxError = Box<dyn std::error::Error>;

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("oci: error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("oci: error: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Push {
            net,
            source,
            target,
            mount_from,
        } => {
            let (dir, tag) = split_layout(&source);
            let layout = Layout::open(dir)?;
            let target = ImageRef::parse(&target)?;
            let options = PushOptions {
                mount_from,
                progress: progress(),
            };
            let pushed = client(&net)?
                .push_layout(&layout, tag.as_deref(), &target, &options)
                .await?;
            eprintln!("pushed {target} ({} bytes manifest)", pushed.size);
            outln!("{}", pushed.digest);
        }
        Command::Pull {
            net,
            reference,
            layout,
            platform,
        } => {
            let reference = ImageRef::parse(&reference)?;
            let layout = Layout::create(layout)?;
            let tag = reference.tag_or_latest();
            let options = PullOptions {
                progress: pull_progress(),
            };
            let client = client(&net)?;
            let pulled = match platform {
                Some(platform) => {
                    let platform = Platform::parse(&platform)?;
                    client
                        .pull_platform(&reference, &platform, &layout, tag, &options)
                        .await?
                }
                None => client.pull(&reference, &layout, tag, &options).await?,
            };
            outln!("{}", pulled.digest);
        }
        Command::Build {
            net,
            context,
            dockerfile,
            tag,
            platform,
            build_args,
            labels,
            compression,
            push,
            output,
        } => {
            let reference = ImageRef::parse(&tag)?;
            let dockerfile = dockerfile.unwrap_or_else(|| context.join("Dockerfile"));
            let text = std::fs::read_to_string(&dockerfile)
                .map_err(|e| format!("cannot read {}: {e}", dockerfile.display()))?;
            let options = BuildOptions {
                platform: platform.as_deref().map(Platform::parse).transpose()?,
                build_args: pairs(&build_args, "--build-arg")?,
                labels: pairs(&labels, "--label")?,
                compression: compression.parse()?,
                source_date_epoch: None,
            };
            let scratch;
            let layout_dir = match &output {
                Some(dir) => dir.clone(),
                None => {
                    scratch = tempfile::tempdir()?;
                    scratch.path().to_owned()
                }
            };
            let layout = Layout::create(&layout_dir)?;
            let client = client(&net)?;
            let layout_tag = reference.tag_or_latest();
            let built = oci_push::dockerfile::build(
                Some(&client),
                &context,
                &text,
                &layout,
                layout_tag,
                &options,
            )
            .await?;
            if push {
                let options = PushOptions {
                    progress: progress(),
                    ..PushOptions::default()
                };
                let pushed = client
                    .push_layout(&layout, Some(layout_tag), &reference, &options)
                    .await?;
                eprintln!("pushed {reference}");
                outln!("{}", pushed.digest);
            } else {
                eprintln!("built {} into {}", layout_tag, layout_dir.display());
                outln!("{}", built.digest);
            }
        }
        Command::Digest { net, reference } => {
            let reference = ImageRef::parse(&reference)?;
            outln!("{}", client(&net)?.resolve(&reference).await?.digest);
        }
        Command::Unpack { source, rootfs } => {
            let (dir, tag) = split_layout(&source);
            let layout = Layout::open(dir)?;
            let manifest = layout.resolve(tag.as_deref())?;
            let manifest = layout.select_platform(&manifest, &Platform::host())?;
            let stats =
                oci_push::unpack_image(&layout, &manifest, &rootfs, &UnpackOptions::default())?;
            outln!(
                "unpacked {} entries, {} bytes, {} whiteouts into {}",
                stats.entries,
                stats.bytes,
                stats.whiteouts,
                rootfs.display()
            );
            if stats.owners_dropped > 0 || stats.setid_bits_dropped > 0 {
                eprintln!(
                    "warning: not running as root: {} entries keep the unpacking user instead \
                     of the layer's owner, {} lost their setuid/setgid bit",
                    stats.owners_dropped, stats.setid_bits_dropped
                );
            }
        }
        Command::Clean { layout, older_than } => {
            let removed = Layout::open(&layout)?
                .remove_stale_files(std::time::Duration::from_secs(older_than))?;
            outln!("removed {removed} stale file(s) from {}", layout.display());
        }
    }
    Ok(())
}

/// `DIR[:TAG]`: the tag is what follows the last `:` when it holds no `/`.
fn split_layout(text: &str) -> (PathBuf, Option<String>) {
    match text.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() && !tag.is_empty() => {
            (PathBuf::from(dir), Some(tag.to_owned()))
        }
        _ => (PathBuf::from(text), None),
    }
}

fn pairs(items: &[String], flag: &str) -> Result<BTreeMap<String, String>, BoxError> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("{flag} {item:?} is not K=V").into())
        })
        .collect()
}

fn read(path: &Path) -> Result<String, BoxError> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

fn client(net: &Net) -> Result<Client, BoxError> {
    let credentials = match &net.username {
        Some(user) => {
            let password = std::env::var("OCI_PASSWORD")
                .map_err(|_| "--username needs the password in $OCI_PASSWORD")?;
            CredentialSource::Static(Credentials::basic(user.clone(), Secret::new(password)))
        }
        None => CredentialSource::DockerConfig(DockerConfig::load_default()?),
    };
    let identity = match (&net.client_cert, &net.client_key) {
        (Some(cert), Some(key)) => Some(Secret::new(format!("{}{}", read(cert)?, read(key)?))),
        _ => None,
    };
    Ok(Client::new(ClientOptions {
        security: if net.insecure {
            Security::InsecureHttp
        } else {
            Security::Https
        },
        ca_certificates_pem: net
            .ca_cert
            .as_deref()
            .map(read)
            .transpose()?
            .into_iter()
            .collect(),
        client_identity_pem: identity,
        credentials,
        parallelism: net.parallel,
        ..ClientOptions::default()
    })?)
}

fn progress() -> Arc<dyn Progress> {
    progress_for(false)
}

/// Progress of a pull: a blob already in the layout was hashed again ("present").
fn pull_progress() -> Arc<dyn Progress> {
    progress_for(true)
}

fn progress_for(pull: bool) -> Arc<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Arc::new(Bars::default())
    } else {
        Arc::new(Lines { pull })
    }
}

/// Plain lines, one per finished blob.
struct Lines {
    pull: bool,
}

impl Progress for Lines {
    fn blob_retry(&self, digest: &Digest, offset: u64) {
        eprintln!("retry   {} from byte {offset}", short(digest));
    }
    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let what = match outcome {
            BlobOutcome::Uploaded => "uploaded",
            // A pull hashes a blob the layout has; a push finds it in the registry.
            BlobOutcome::Skipped if self.pull => "present",
            BlobOutcome::Skipped => "exists",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Downloaded => "verified",
            _ => "done",
        };
        eprintln!("{what:8} {}", short(digest));
    }
}

/// One indicatif bar per blob.
#[derive(Default)]
struct Bars {
    multi: indicatif::MultiProgress,
    bars: Mutex<HashMap<Digest, indicatif::ProgressBar>>,
}

impl Progress for Bars {
    fn blob_started(&self, digest: &Digest, size: u64) {
        let bar = self.multi.add(indicatif::ProgressBar::new(size));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(short(digest));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(digest.clone(), bar);
        }
    }
    fn blob_bytes(&self, digest: &Digest, bytes: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(digest).cloned()) {
            bar.inc(bytes);
        }
    }
    fn blob_retry(&self, digest: &Digest, offset: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(digest).cloned()) {
            bar.set_position(offset);
        }
    }
    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let bar = self.bars.lock().ok().and_then(|mut b| b.remove(digest));
        match bar {
            Some(bar) => bar.finish_with_message(format!("{outcome:?}")),
            None => {
                let _ = self.multi.println(format!("{outcome:?} {}", short(digest)));
            }
        }
    }
}

fn short(digest: &Digest) -> String {
    digest.hex().chars().take(12).collect()
}
