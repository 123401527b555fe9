//! The HPVS secure build lab on the embedded default stack.
//!
//! Usage: `lab [--out DIR] [--production-notary]`. Outputs (trust dir, image layout,
//! registration file, unpacked root filesystem, mTLS files) are kept in DIR, a fresh directory
//! by default. `--production-notary` runs notary the way production does: notary-server on
//! PostgreSQL with a separate notary-signer over mutual TLS, instead of in memory.
//!
//! What runs: lab steps 1-4 with the workspace's crates against the real notary-server and
//! docker-registry (devstack), with the Go `notary` client as a witness. Step 5 (running and
//! reaching the workload) is not walked yet: the lab does not go through the appliance emulator
//! (hpvs-sim) so far; step 6 cleans up what the earlier steps created.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use devstack::{
    DEFAULT_PASSPHRASE, ListenerSecurity, NotaryCli, NotaryOptions, NotaryServer, ProductionNotary,
    Registry, RegistryOptions,
};
use examples::{detail, outln, stage};
use keymgmt::PrivateKey;
use keymgmt::keystore::KeyStore;
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client as NotaryClient, InitOptions};
use notary_client::transport::{Security, ServerConfig};
use notary_client::verify::TrustPinning;
use oci_push::{ImageRef, Layout, Platform, PullOptions, PushOptions, UnpackOptions};
use ssc_register::{KeyKind, OpenOptions, Registration, RootKey, Secret, SecretKey};

const REPOSITORY: &str = "hpvs-lab/bitcoin-wallet";
const TAG: &str = "v1";
const STAGES: usize = 6;

const DOCKERFILE: &str = "\
FROM scratch
ARG VERSION=1.0
LABEL org.opencontainers.image.title=\"electrum-wallet-demo\" org.opencontainers.image.version=\"${VERSION}\"
COPY wallet /app/
ENV WALLET_PORT=443
EXPOSE 443
WORKDIR /app
ENTRYPOINT [\"/app/start.sh\"]
";

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lab: error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("lab: error: {e}");
        let mut source = e.source();
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(1);
    }
}

type AnyResult<T> = Result<T, Box<dyn Error>>;

const USAGE: &str = "usage: lab [--out DIR] [--production-notary]";

/// The command line.
struct Args {
    out: PathBuf,
    production_notary: bool,
}

fn parse_args() -> AnyResult<Args> {
    let mut out = None;
    let mut production_notary = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().ok_or(USAGE)?),
            "--production-notary" => production_notary = true,
            _ => return Err(USAGE.into()),
        }
    }
    let out = match out {
        None => tempfile::Builder::new()
            .prefix("hpvs-lab-")
            .tempdir()?
            .keep(),
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            PathBuf::from(dir)
        }
    };
    Ok(Args {
        out,
        production_notary,
    })
}

/// The lab's notary: the embedded in-memory server, or the production topology.
enum LabNotary {
    Embedded(Box<NotaryServer>),
    Production(Box<ProductionNotary>),
}

impl LabNotary {
    fn start(production: bool) -> AnyResult<LabNotary> {
        let options = NotaryOptions::with_security(ListenerSecurity::Tls);
        Ok(if production {
            LabNotary::Production(Box::new(ProductionNotary::start(options)?))
        } else {
            LabNotary::Embedded(Box::new(NotaryServer::start(options)?))
        })
    }

    fn server(&self) -> &NotaryServer {
        match self {
            LabNotary::Embedded(server) => server,
            LabNotary::Production(production) => production.server(),
        }
    }
}

async fn run() -> AnyResult<()> {
    let Args {
        out,
        production_notary,
    } = parse_args()?;
    if production_notary {
        outln!(
            "HPVS secure build lab, on devstack with the production notary topology \
             (PostgreSQL, notary-signer)"
        );
    } else {
        outln!("HPVS secure build lab, on the embedded default stack (devstack)");
    }
    outln!(
        "Runs lab steps 1-4 and 6 with this workspace's crates against a real notary-server and\n\
         docker-registry on loopback. Not yet: step 5 (running and reaching the workload) and the\n\
         appliance API calls; the lab does not go through the appliance emulator (hpvs-sim) yet,\n\
         so step 4 performs the appliance's verification in this process."
    );
    outln!("Outputs are kept in {}", out.display());

    stage(
        1,
        STAGES,
        if production_notary {
            "set up: notary-server (HTTPS) on PostgreSQL with notary-signer (mutual TLS), \
             registry, SBS mutual-TLS material"
        } else {
            "set up: notary-server (HTTPS), registry, SBS mutual-TLS material"
        },
    );
    let lab_notary = LabNotary::start(production_notary)?;
    let notary = lab_notary.server();
    let registry = Registry::start(RegistryOptions::default())?;
    detail(format!("notary-server {}", notary.url()));
    if let LabNotary::Production(production) = &lab_notary {
        detail(format!(
            "notary-signer {} (holds the timestamp and snapshot keys)",
            production.signer().address()
        ));
        detail(format!(
            "PostgreSQL    127.0.0.1:{} (databases {} and {})",
            production.postgres().port(),
            production.server_database().name(),
            production.signer_database().name()
        ));
    }
    detail(format!("registry      {}", registry.url()));
    let material = MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback())?;
    let paths = material.write_pem_files(&out.join("sbs-mtls"))?;
    detail(format!(
        "SBS CA, server and client certificates in {}",
        paths.ca_cert.parent().unwrap_or(&out).display()
    ));
    for (name, value) in material.lab_env().vars() {
        let shown = if name == "SERVER_KEY" {
            "[secret, not shown]".to_owned()
        } else {
            format!("{}...", &value[..24.min(value.len())])
        };
        detail(format!("{name}={shown} ({} characters)", value.len()));
    }

    stage(
        2,
        STAGES,
        "secure build: reproducible image, push, Docker Content Trust signature",
    );
    let gun = format!("{}/{REPOSITORY}", registry.host());
    let trust_dir = out.join("trust");
    let passphrase = Fixed(Passphrase::new(DEFAULT_PASSPHRASE));
    let store = KeyStore::open(&trust_dir)?;
    let root_key = PrivateKey::generate_ecdsa();
    let root_id = store.add(&root_key, "root", None, &passphrase)?;
    detail(format!(
        "DCT root key {root_id} (init wraps it in a certificate for {gun})"
    ));

    let context = out.join("src");
    std::fs::create_dir_all(context.join("wallet"))?;
    std::fs::write(
        context.join("wallet/start.sh"),
        "#!/bin/sh\necho \"electrum wallet on :$WALLET_PORT\"\n",
    )?;
    std::fs::write(context.join("wallet/wallet.conf"), "network=testnet\n")?;
    let registry_client = oci_push::Client::new(oci_push::ClientOptions {
        security: oci_push::Security::InsecureHttp,
        ..Default::default()
    })?;
    let mut digests = Vec::new();
    for attempt in ["a", "b"] {
        let layout = Layout::create(out.join(format!("image-{attempt}")))?;
        let options = oci_push::dockerfile::BuildOptions {
            platform: Some(Platform::parse("linux/s390x")?),
            source_date_epoch: Some(1_700_000_000),
            ..Default::default()
        };
        let built =
            oci_push::dockerfile::build(None, &context, DOCKERFILE, &layout, TAG, &options).await?;
        digests.push((layout, built));
        // Touch the sources between the two builds: mtimes must not matter.
        std::fs::write(context.join("wallet/wallet.conf"), "network=testnet\n")?;
    }
    if digests[0].1.digest != digests[1].1.digest {
        return Err("the two builds of the same sources differ".into());
    }
    let (layout, built) = &digests[0];
    detail(format!(
        "built linux/s390x image {} twice: identical",
        built.digest
    ));
    let target = ImageRef::parse(&format!("{gun}:{TAG}"))?;
    let pushed = registry_client
        .push_layout(layout, Some(TAG), &target, &PushOptions::default())
        .await?;
    detail(format!(
        "pushed {target} ({} bytes of manifest)",
        pushed.size
    ));

    let notary_config = ServerConfig {
        url: notary.url().to_owned(),
        security: Security::Https,
        ca_pem: Some(std::fs::read(
            &notary
                .tls()
                .ok_or("notary-server has no TLS files")?
                .ca_cert,
        )?),
        ..Default::default()
    };
    let signer = NotaryClient::new(&trust_dir, &notary_config, passphrase)?;
    let repo = signer.repository(&gun)?;
    repo.init(&InitOptions {
        root_key: Some(root_id.clone()),
        snapshot: notary_client::repository::KeyHolder::Server,
    })
    .await?;
    repo.add_target(TAG, FileMeta::from(&pushed), &[])?;
    repo.publish().await?;
    detail(format!("signed {TAG} -> {} in {gun}", pushed.digest));
    let go = NotaryCli::new(notary)?;
    let go_lookup = go.run(&["lookup", &gun, TAG])?;
    if !go_lookup.contains(pushed.digest.hex()) {
        return Err(format!("the Go notary client sees another digest: {go_lookup}").into());
    }
    detail(format!(
        "witness: Go `notary lookup` from an empty trust dir: {}",
        go_lookup.trim()
    ));

    stage(
        3,
        STAGES,
        "register: a signed, encrypted repository registration file",
    );
    let vendor = SecretKey::generate(
        KeyKind::Ed25519,
        "HPVS lab vendor <vendor@hpvs-lab.example>",
        Secret::default(),
    )?;
    let appliance = SecretKey::generate(KeyKind::Ed25519, "HPVS lab appliance", Secret::default())?;
    // The root as the signer's client verified it after the publish: what the appliance pins.
    let trusted = repo.update().await?;
    let registration =
        Registration::builder(gun.clone(), RootKey::from_root_json(&trusted.root.bytes)?)
            .env_whitelist(["WALLET_NETWORK"])
            .build(&vendor.public_key())?;
    let sealed = ssc_register::seal::seal(&registration, &vendor, &appliance.public_key())?;
    let regfile = out.join(format!("yaml.{}.enc", REPOSITORY.replace('/', "-")));
    std::fs::write(&regfile, &sealed)?;
    detail(format!(
        "vendor key {} (Ed25519; the lab's RSA 4096 works the same)",
        vendor.fingerprint()
    ));
    detail(format!("registration file {}", regfile.display()));
    let opened = ssc_register::seal::open(
        sealed.as_bytes(),
        &appliance,
        &OpenOptions {
            expected_vendor: Some(&vendor.public_key()),
            registered: None,
        },
    )?;
    detail(format!(
        "appliance opened it: repository {}, signed by {}, pins DCT root key {}",
        opened.registration.repository_name,
        opened.signer_fingerprint,
        opened.registration.public_key_id
    ));

    stage(
        4,
        STAGES,
        "deploy: resolve the tag pinned to the registered root, pull by digest, verify, unpack",
    );
    let deployer_dir = tempfile::tempdir()?;
    let pinned = TrustPinning::default().pin_cert(&gun, opened.registration.public_key_id.clone());
    let deployer = NotaryClient::new(
        deployer_dir.path(),
        &notary_config,
        Fixed(Passphrase::new("unused")),
    )?
    .with_pinning(pinned);
    let resolved = deployer.repository(&gun)?.lookup(TAG).await?;
    let resolved_digest = oci_push::Digest::try_from(&resolved)?;
    if resolved_digest != pushed.digest {
        return Err(format!(
            "notary resolves {TAG} to {resolved_digest}, pushed {}",
            pushed.digest
        )
        .into());
    }
    detail(format!(
        "{TAG} resolves to {resolved_digest}, signed by {}",
        resolved.role
    ));
    let wrong_pin = TrustPinning::default().pin_cert(&gun, "0".repeat(64));
    let refused = NotaryClient::new(
        tempfile::tempdir()?.path(),
        &notary_config,
        Fixed(Passphrase::new("unused")),
    )?
    .with_pinning(wrong_pin)
    .repository(&gun)?
    .lookup(TAG)
    .await;
    match refused {
        Err(notary_client::Error::RootNotPinned { .. }) => {
            detail("a root other than the registered one is refused")
        }
        other => return Err(format!("a wrongly pinned deploy was not refused: {other:?}").into()),
    }
    let pulled_layout = Layout::create(out.join("deployed-image"))?;
    let by_digest = ImageRef::parse(&gun)?.pinned(resolved_digest);
    let manifest = registry_client
        .pull(&by_digest, &pulled_layout, TAG, &PullOptions::default())
        .await?;
    let rootfs = out.join("rootfs");
    let stats = oci_push::unpack_image(
        &pulled_layout,
        &manifest,
        &rootfs,
        &UnpackOptions::default(),
    )?;
    detail(format!(
        "pulled {by_digest}: every blob's size and digest verified"
    ));
    detail(format!(
        "unpacked {} entries ({} bytes) into {}",
        stats.entries,
        stats.bytes,
        rootfs.display()
    ));
    let mut files = BTreeMap::new();
    collect_files(&rootfs, &rootfs, &mut files)?;
    for (path, size) in &files {
        detail(format!("  /{path} ({size} bytes)"));
    }

    stage(
        5,
        STAGES,
        "access the workload: not yet (the lab does not go through hpvs-sim yet)",
    );

    stage(6, STAGES, "clean up");
    repo.delete_remote().await?;
    detail(format!("deleted the trust data of {gun} on notary-server"));
    detail(if production_notary {
        "stopping notary-server, notary-signer, PostgreSQL and the registry (their temporary \
         directories go with them)"
    } else {
        "stopping notary-server and the registry (their temporary directories go with them)"
    });
    drop(registry);
    drop(lab_notary);

    outln!("\nlab: done (steps 1-4 and 6; step 5 needs the appliance emulator).");
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) -> AnyResult<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root)?.display().to_string();
            out.insert(rel, entry.metadata()?.len());
        }
    }
    Ok(())
}
