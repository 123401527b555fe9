//! Step 2: the Secure Build Server as a virtual server, the vendor's OpenPGP key, and the
//! build through `hpvs sb`: init, build, status, log, the signed manifest (verified in
//! process and with the lab's openssl commands as a witness) and the registration file.

use std::path::Path;
use std::process::Command;

use hpvs_api::{SbsClient, SbsConfig, Secret};

use super::error::{InStep as _, LabError, Step};
use super::{APP_REPOSITORY, BUILD_QUOTAGROUP, BUILD_SERVER, Lab, REGISTRY_NAME, REPOSITORY_ID};
use crate::{detail, stage};

const STEP: Step = Step::SecureBuild;
/// The build server's image tag (`BUILD_IMAGE_TAG`), as in the lab.
const SBS_TAG: &str = "1.2.7.5";
/// The vendor key's passphrase (the lab types it at `hpvs sb regfile`'s prompt).
const VENDOR_PASSPHRASE: &str = "hpvs-lab-vendor-passphrase";
const VENDOR_EMAIL: &str = "vendor@hpvs-lab.example";

/// The client of the lab's build server.
pub(super) fn sbs_client(lab: &Lab) -> Result<SbsClient, LabError> {
    let dir = lab.options.out.join("sbs-mtls");
    let read = |name: &str| std::fs::read(dir.join(name)).in_step(STEP, format!("read {name}"));
    let key = String::from_utf8_lossy(&read("client-key.pem")?).into_owned();
    SbsClient::new(SbsConfig {
        url: format!("https://127.0.0.1:{}", lab.made.sbs_port),
        ca_cert_pem: read("ca.pem")?,
        client_cert_pem: read("client.pem")?,
        client_key_pem: Secret::new(key),
    })
    .in_step(STEP, "configure the build server's client")
}

impl Lab {
    /// Step 2: the build server builds the application from the git host, pushes and signs
    /// it; its manifest verifies; the registration file is made.
    pub async fn secure_build(&mut self) -> Result<(), LabError> {
        stage(
            STEP.number(),
            6,
            "secure build: the build server clones, builds (buildah, verified base), pushes, \
             signs; manifest; registration file",
        );
        self.create_build_server().await?;
        self.make_vendor_key()?;
        self.write_sb_config()?;
        let env = self.sb_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config = self.made.sb_config.display().to_string();
        self.hpvs
            .run(STEP, &["sb", "init", "--config", &config], None, &env)?;
        self.hpvs
            .run(
                STEP,
                &["sb", "build", "--timeout", "10", "--config", &config],
                None,
                &env,
            )
            .map_err(|e| e.look_at(self.options.out.join("build.log")))
            .inspect_err(|_| {
                let _ = self.save_build_log(&config);
            })?;
        self.hpvs
            .run(STEP, &["sb", "status", "--config", &config], None, &[])?;
        let status = self
            .sbs_client()?
            .status()
            .await
            .in_step(STEP, "read the build status")?;
        self.made.build_name = status.build_name.clone().unwrap_or_default();
        self.made.image_tag = status.image_tag.clone().unwrap_or_default();
        if status.status != "success" || self.made.build_name.is_empty() {
            return Err(LabError::new(
                STEP,
                "check the build status",
                format!("the build server says {:?}", status.status),
            ));
        }
        self.save_build_log(&config)?;
        self.check_manifest(&config).await?;
        self.make_regfile(&config).await
    }

    /// `hpvs quotagroup create` and `hpvs vs create` of the `SecureDockerBuild` repository,
    /// with the mutual-TLS env.
    async fn create_build_server(&mut self) -> Result<(), LabError> {
        self.hpvs.run(
            STEP,
            &[
                "quotagroup",
                "create",
                "--name",
                BUILD_QUOTAGROUP,
                "--size",
                "3GB",
            ],
            None,
            &[],
        )?;
        self.made.sbs_port = super::free_port().in_step(STEP, "find a free port")?;
        let env_file = std::fs::read_to_string(self.options.out.join("sbs-mtls/sbs.env"))
            .in_step(STEP, "read the build server's env file")?;
        let mut args: Vec<String> = [
            "vs",
            "create",
            "--name",
            BUILD_SERVER,
            "--repo",
            "SecureDockerBuild",
            "--tag",
            SBS_TAG,
            "--cpu",
            "2",
            "--ram",
            "2048",
            "--quotagroup",
            &format!(
                "{{quotagroup = {BUILD_QUOTAGROUP}, mountid = new, mount = /newroot, \
                 filesystem = ext4, size = 64MB, reset_root = true}}"
            ),
            "--quotagroup",
            &format!(
                "{{quotagroup = {BUILD_QUOTAGROUP}, mountid = data, mount = /data, \
                 filesystem = ext4, size = 2GB}}"
            ),
            "--ports",
            &format!(
                "{{containerport = 443, protocol = tcp, hostport = {}}}",
                self.made.sbs_port
            ),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for line in env_file.lines().filter(|l| !l.is_empty()) {
            args.push("--env".to_owned());
            args.push(line.to_owned());
        }
        for fixed in [
            "EX_VOLUMES=/docker,/data",
            "ROOTFS_LOCK=y",
            "RUNQ_ROOTDISK=new",
        ] {
            args.push("--env".to_owned());
            args.push(fixed.to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.hpvs.run(STEP, &args, None, &[])?;
        let server = self
            .api
            .virtual_server(BUILD_SERVER)
            .await
            .in_step(STEP, "read the build server's state")?;
        detail(format!(
            "the build server is {:?} on https://127.0.0.1:{}",
            server.state, self.made.sbs_port
        ));
        Ok(())
    }

    /// The vendor's OpenPGP key, RSA 4096 with a passphrase, made by GnuPG as the lab makes
    /// it (`gpg --batch --generate-key`), exported armored for `signing_key` in
    /// `sb_config.yaml`.
    fn make_vendor_key(&mut self) -> Result<(), LabError> {
        let dir = self.options.out.join("vendor");
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).in_step(STEP, "create the vendor's GnuPG home")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
                .in_step(STEP, "make the GnuPG home private")?;
        }
        let params = format!(
            "Key-Type: RSA\nKey-Length: 4096\nKey-Usage: sign\nSubkey-Type: RSA\n\
             Subkey-Length: 4096\nSubkey-Usage: encrypt\nName-Real: HPVS lab vendor\n\
             Name-Email: {VENDOR_EMAIL}\nExpire-Date: 0\nPassphrase: {VENDOR_PASSPHRASE}\n\
             %commit\n"
        );
        let params_file = dir.join("key-params");
        std::fs::write(&params_file, params).in_step(STEP, "write the key parameters")?;
        let gpg = |args: &[&str]| -> Result<Vec<u8>, LabError> {
            let shown = format!("gpg {}", args.join(" "));
            let output = Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase"])
                .arg(VENDOR_PASSPHRASE)
                .args(args)
                .output()
                .in_step(
                    STEP,
                    format!("`{shown}` (install gnupg: scripts/install-peers.sh)"),
                )?;
            if !output.status.success() {
                return Err(LabError::new(
                    STEP,
                    format!("`{shown}`"),
                    String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                ));
            }
            Ok(output.stdout)
        };
        crate::outln!("  $ gpg --batch --generate-key key-params   # RSA 4096, with a passphrase");
        gpg(&["--generate-key", &params_file.display().to_string()])?;
        let public = gpg(&["--armor", "--export", VENDOR_EMAIL])?;
        let private = gpg(&["--armor", "--export-secret-keys", VENDOR_EMAIL])?;
        self.made.vendor_public = dir.join("vendor.pub");
        std::fs::write(&self.made.vendor_public, public).in_step(STEP, "write vendor.pub")?;
        keymgmt::fsutil::write_atomic(
            &dir.join("vendor.private"),
            &private,
            0o600,
            keymgmt::fsutil::Existing::Replace,
        )
        .in_step(STEP, "write vendor.private")?;
        self.made.vendor_passphrase = VENDOR_PASSPHRASE.to_owned();
        let fingerprint = gpg(&["--with-colons", "--fingerprint", VENDOR_EMAIL])?;
        let fingerprint = String::from_utf8_lossy(&fingerprint)
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_owned())
            })
            .unwrap_or_default();
        detail(format!(
            "vendor key {fingerprint} (RSA 4096) in {}",
            dir.display()
        ));
        Ok(())
    }

    /// The lab's `sb_config.yaml`, its paths relative to the output directory.
    fn write_sb_config(&mut self) -> Result<(), LabError> {
        let stack = self.stack();
        let git_url = stack.git.url(REPOSITORY_ID);
        let registry = format!("http://{}", stack.registry.host());
        let yaml = format!(
            "secure_build_workers:
  sbs:
    url: https://127.0.0.1
    port: {port}
    cert_path: sbs-mtls/client.pem
    key_path: sbs-mtls/client-key.pem
    ca_cert_path: sbs-mtls/ca.pem
  regfile:
    id: {REPOSITORY_ID}
  github:
    url: {git_url}
    branch: main
    ssh_private_key_path: github_key
    recurse_submodules: false
    dockerfile_path: Dockerfile
    docker_build_path: ./
  docker:
    push_server: {REGISTRY_NAME}
    base_server: {REGISTRY_NAME}
    pull_server: {REGISTRY_NAME}
    repo: {APP_REPOSITORY}
    image_tag_prefix: latest
    content_trust_base: true
  env:
    whitelist: []
  signing_key:
    private_key_path: vendor/vendor.private
    public_key_path: vendor/vendor.pub
",
            port = self.made.sbs_port,
        );
        self.made.sb_config = self.options.out.join("sb_config.yaml");
        std::fs::write(&self.made.sb_config, yaml).in_step(STEP, "write sb_config.yaml")?;
        detail(format!(
            "{} (push and base server: the registry entry {REGISTRY_NAME}, {registry}; source {git_url})",
            self.made.sb_config.display()
        ));
        Ok(())
    }

    /// The push credentials `hpvs sb` reads from the environment (the registry's URL and
    /// Notary URL come from the `hpvs registry` entry that `sb_config.yaml` names). The
    /// lab's registry takes anonymous pushes and ignores these; the build server masks the
    /// password in its log, so it must not be a word that appears elsewhere.
    fn sb_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SB_DOCKER_USER", "lab-pusher".to_owned()),
            (
                "SB_DOCKER_PASSWORD",
                "unused-by-the-lab-registry".to_owned(),
            ),
        ]
    }

    /// `hpvs sb log` into `<out>/build.log`, its last lines printed.
    fn save_build_log(&self, config: &str) -> Result<(), LabError> {
        let log = self
            .hpvs
            .capture(STEP, &["sb", "log", "--config", config])?;
        let path = self.options.out.join("build.log");
        std::fs::write(&path, &log).in_step(STEP, "write build.log")?;
        let lines: Vec<&str> = log.lines().collect();
        for line in &lines[lines.len().saturating_sub(6)..] {
            detail(format!("  {line}"));
        }
        detail(format!("({} lines in {})", lines.len(), path.display()));
        Ok(())
    }

    /// `hpvs sb manifest` and `pubkey`; the manifest verified in process and with openssl.
    async fn check_manifest(&mut self, config: &str) -> Result<(), LabError> {
        let name = self.made.build_name.clone();
        let out = self.options.out.display().to_string();
        let pubkey = self.options.out.join(format!("manifest.{name}.pub.pem"));
        self.hpvs.run(
            STEP,
            &[
                "sb", "manifest", "--name", &name, "--out", &out, "--config", config,
            ],
            None,
            &[],
        )?;
        self.hpvs.run(
            STEP,
            &[
                "sb",
                "pubkey",
                "--name",
                &name,
                "--out",
                &pubkey.display().to_string(),
                "--config",
                config,
            ],
            None,
            &[],
        )?;
        let archive = self.options.out.join(format!("manifest.{name}.sig.tbz"));
        let bytes = std::fs::read(&archive).in_step(STEP, "read the manifest")?;
        let public = std::fs::read_to_string(&pubkey).in_step(STEP, "read the manifest key")?;
        let verified =
            hpvs_api::manifest::verify(&bytes, &public).in_step(STEP, "verify the manifest")?;
        detail(format!(
            "manifest verified in process: {} files, commit {}, sha256 of the .tbz {}",
            verified.files.len(),
            verified.build_json["git_commit"].as_str().unwrap_or("?"),
            &verified.tbz_sha256_hex[..16]
        ));
        openssl_witness(&self.options.out, &name, &archive, &pubkey)?;
        Ok(())
    }

    /// `hpvs sb regfile`: the registration data sealed to the appliance, signed by the vendor.
    async fn make_regfile(&mut self, config: &str) -> Result<(), LabError> {
        let regfile = self.options.out.join(format!("yaml.{REPOSITORY_ID}.enc"));
        let passphrase = self.made.vendor_passphrase.clone();
        self.hpvs.run(
            STEP,
            &[
                "sb",
                "regfile",
                "--out",
                &regfile.display().to_string(),
                "--config",
                config,
            ],
            Some(&passphrase),
            &[],
        )?;
        let data = self
            .sbs_client()?
            .config_json()
            .await
            .in_step(STEP, "read the registration data")?;
        self.made.root_key_id = data.public_key_id.clone();
        self.made.regfile = regfile;
        detail(format!(
            "registration file {} for {} (DCT root {})",
            self.made.regfile.display(),
            data.repository_name,
            data.public_key_id
        ));
        Ok(())
    }
}

/// The lab's own check of the manifest, with openssl alone: unpack, hex to binary, hash the
/// `.tbz`, verify the signature over that hash.
fn openssl_witness(out: &Path, name: &str, archive: &Path, pubkey: &Path) -> Result<(), LabError> {
    let dir = out.join("manifest-check");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).in_step(STEP, "create manifest-check")?;
    // The lab's commands, with B standing for the long manifest name (`--force-local`: the
    // name holds the registry's `host:port`, which tar would take for a remote archive).
    let shell = "tar --force-local -xjf \"$B.sig.tbz\" && xxd -r -p \"$B.sig\" > \"$B.sig.bin\" && \
                 openssl dgst -sha256 -binary -out \"$B.tbz.sha256\" \"$B.tbz\" && \
                 openssl dgst -sha256 -verify \"$B.pub.pem\" -signature \"$B.sig.bin\" \
                 \"$B.tbz.sha256\"";
    std::fs::copy(archive, dir.join(format!("manifest.{name}.sig.tbz")))
        .and_then(|_| std::fs::copy(pubkey, dir.join(format!("manifest.{name}.pub.pem"))))
        .in_step(STEP, "copy the manifest into manifest-check")?;
    crate::outln!("  $ B=manifest.<build_name>   # in {}", dir.display());
    crate::outln!(
        "  $ {}",
        shell.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(shell)
        .env("B", format!("manifest.{name}"))
        .current_dir(&dir)
        .output()
        .in_step(STEP, "the openssl check of the manifest")?;
    let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || said != "Verified OK" {
        return Err(LabError::new(
            STEP,
            "the openssl check of the manifest (tar, xxd, openssl dgst)",
            format!("{said} {}", String::from_utf8_lossy(&output.stderr).trim()),
        )
        .look_at(dir));
    }
    detail(format!("witness: openssl says {said}"));
    Ok(())
}
