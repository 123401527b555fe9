//! The HPVS secure build lab on the embedded default stack.
//!
//! Usage: `lab [--out DIR]`. Outputs (trust dir, certificates, mTLS files) are kept in DIR,
//! a fresh directory by default, so that they can be inspected afterwards.

use std::error::Error;
use std::path::{Path, PathBuf};

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer, Transport};
use examples::{detail, stage};
use keymgmt::keystore::KeyStore;
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use keymgmt::passphrase::{Fixed, Passphrase};
use keymgmt::{PrivateKey, x509};

const GUN: &str = "registry.example.com/hpvs-lab/bitcoin-wallet";
const STAGES: usize = 5;

fn main() {
    if let Err(e) = run() {
        eprintln!("lab: error: {e}");
        let mut source = e.source();
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(1);
    }
}

fn output_dir() -> Result<PathBuf, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(tempfile::Builder::new()
            .prefix("hpvs-lab-")
            .tempdir()?
            .keep()),
        (Some("--out"), Some(dir)) => {
            std::fs::create_dir_all(&dir)?;
            Ok(PathBuf::from(dir))
        }
        _ => Err("usage: lab [--out DIR]".into()),
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let out = output_dir()?;
    println!("HPVS secure build lab, on the embedded default stack (devstack)");
    println!(
        "What runs today: the key set-up of lab steps 1-2 (DCT keys, root certificate, Secure Build\n\
         Server mTLS material) end to end with the real notary-server and Go notary client.\n\
         Not yet: secure build, registration, deploy, access and clean-up (they need notary-client,\n\
         oci-push, ssc-register, hpvs-api and the appliance emulator, which are still to come)."
    );
    println!("Outputs are kept in {}", out.display());

    stage(1, STAGES, "notary-server over HTTPS with a devstack CA");
    let server = NotaryServer::start(NotaryOptions::with_transport(Transport::Tls))?;
    detail(format!("listening at {}", server.url()));

    stage(2, STAGES, format!("DCT keys for {GUN} made by keymgmt"));
    let trust_dir = out.join("trust");
    let store = KeyStore::open(&trust_dir)?;
    let passphrase = Fixed(Passphrase::new(DEFAULT_PASSPHRASE));
    let root_key = PrivateKey::generate_ecdsa();
    store.add(&root_key, "root", None, &passphrase)?;
    let root_cert = x509::generate_root_certificate(GUN, &root_key)?;
    let cert_path = out.join("root.crt");
    std::fs::write(&cert_path, root_cert.public_bytes())?;
    let targets_key = PrivateKey::generate_ecdsa();
    let targets_id = store.add(&targets_key, "targets", Some(GUN), &passphrase)?;
    let targets_pem = out.join("targets-key.pem");
    std::fs::write(&targets_pem, store.export_pem(&targets_id)?)?;
    detail(format!("trust dir        {}", trust_dir.display()));
    detail(format!(
        "root key         {} (file private/{}.key)",
        root_key.key_id(),
        root_key.key_id()
    ));
    detail(format!(
        "root certificate {} ({})",
        root_cert.key_id(),
        cert_path.display()
    ));
    detail(format!("targets key      {targets_id}"));

    stage(
        3,
        STAGES,
        "the Go notary client publishes with exactly these keys",
    );
    let go = NotaryCli::with_trust_dir(&server, &trust_dir)?;
    go.run(&["init", GUN, "--rootcert", path_str(&cert_path)?, "-p"])?;
    detail("notary init --rootcert root.crt -p: accepted by notary-server");
    go.run(&[
        "key",
        "rotate",
        GUN,
        "targets",
        "-k",
        path_str(&targets_pem)?,
    ])?;
    detail("notary key rotate targets -k targets-key.pem: targets role now uses our key");
    let payload = out.join("build-manifest.json");
    std::fs::write(&payload, b"{\"lab\":\"hpvs secure build\"}\n")?;
    go.run(&["add", GUN, "v1", path_str(&payload)?, "-p"])?;
    detail("notary add v1 -p: signed with our targets key and published");

    stage(
        4,
        STAGES,
        "verified from an empty trust dir (trust on first use)",
    );
    let fresh = NotaryCli::new(&server)?;
    let listing = fresh.run(&["list", GUN])?;
    for line in listing.lines() {
        detail(line);
    }
    let root_json = std::fs::read_to_string(
        fresh
            .trust_dir()
            .join("tuf")
            .join(GUN)
            .join("metadata/root.json"),
    )?;
    for (what, id) in [
        ("root certificate", root_cert.key_id()),
        ("targets key", targets_key.key_id()),
    ] {
        if !root_json.contains(id.as_str()) {
            return Err(format!("the verified root.json does not list our {what} {id}").into());
        }
        detail(format!("root.json lists our {what} {id}"));
    }

    stage(5, STAGES, "mutual-TLS material for the Secure Build Server");
    let material = MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback())?;
    let paths = material.write_pem_files(&out.join("sbs-mtls"))?;
    detail(format!("CA {}", paths.ca_cert.display()));
    detail(format!(
        "server {} + {}",
        paths.server_cert.display(),
        paths.server_key.display()
    ));
    detail(format!(
        "client {} + {}",
        paths.client_cert.display(),
        paths.client_key.display()
    ));
    for (name, value) in material.lab_env().vars() {
        let shown = if name == "SERVER_KEY" {
            "[secret, not shown]".to_owned()
        } else {
            format!("{}...", &value[..24.min(value.len())])
        };
        detail(format!("{name}={shown} ({} characters)", value.len()));
    }

    println!("\nlab: done (key set-up path); later lab steps are not implemented yet.");
    Ok(())
}

fn path_str(path: &Path) -> Result<&str, Box<dyn Error>> {
    path.to_str()
        .ok_or_else(|| format!("path is not UTF-8: {}", path.display()).into())
}
