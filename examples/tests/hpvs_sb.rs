//! The `hpvs sb` binary against a real hpvs-sim (`devstack::HpvsSim`, the `hpvs-sim` binary
//! of this target directory: `cargo build -p hpvs-sim`), a `SecureDockerBuild` server made
//! with `hpvs vs create`, the devstack git host (sshd), notary-server (TLS) and
//! docker-registry: the lab's `sb_config.yaml` (its push server the name of an `hpvs
//! registry` entry), then `init`, `build --timeout 5`, `status`, `log`, `manifest`, `pubkey`
//! (verified with the lab's openssl commands), `regfile` (registered by the appliance),
//! `state export|import`, an `update` that would change `docker.repo` (refused before the
//! server is asked), and `clean`. Outcomes are checked on files, exit codes and the server's
//! own answers (through `hpvs_api::SbsClient`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[expect(dead_code, reason = "file_names serves the trust and regfile tests")]
mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{failed, succeeded};
use devstack::{
    GitHost, HpvsSim, HpvsSimOptions, ListenerSecurity, NotaryOptions, NotaryServer, Registry,
    RegistryOptions,
};
use hpvs_api::{SbsClient, SbsConfig};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use ssc_register::{KeyKind, Secret, SecretKey};

/// The `hpvs` binary run in `dir`, with the appliance's and the SB_* environment.
struct Cli<'a> {
    sim: &'a HpvsSim,
    dir: PathBuf,
}

impl Cli<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hpvs"))
            .args(args)
            .current_dir(&self.dir)
            .env("HPVS_URL", self.sim.url())
            .env("HPVS_TOKEN", self.sim.token())
            .env("HPVS_CACERT", self.sim.ca_cert())
            .env("SB_DOCKER_PASSWORD", "push-pw")
            .env_remove("SB_DOCKER_USER")
            .env_remove("SB_DCT_PUSH_SERVER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    fn sb(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all = vec!["sb"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "sb_config.yaml"]);
        self.run(&all, stdin)
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sh(dir: &Path, script: &str) -> String {
    let output = Command::new("sh")
        .args(["-e", "-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The git host with `wallet` (a RUN-less Dockerfile) pushed; its URL and the deploy key
/// file.
fn source(dir: &Path, host: &GitHost) -> (String, PathBuf) {
    let key = dir.join("github_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    host.authorize(&std::fs::read_to_string(key.with_extension("pub")).unwrap())
        .unwrap();
    let url = host.create_repository("wallet").unwrap();
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("app")).unwrap();
    std::fs::write(source.join("app/hello.txt"), "hello from the sbs\n").unwrap();
    std::fs::write(
        source.join("Dockerfile"),
        "FROM scratch\nCOPY app/ /app/\nCMD [\"/app/hello.txt\"]\n",
    )
    .unwrap();
    host.push_tree("wallet", &source, "wallet").unwrap();
    (url, key)
}

fn sb_config(port: u16, git_url: &str, repo: &str) -> String {
    format!(
        r#"secure_build_workers:
  sbs:
    url: "https://127.0.0.1"
    port: {port}
    cert_path: "sbs/client.pem"
    key_path: "sbs/client-key.pem"
    ca_cert_path: "sbs/ca.pem"
  regfile:
    id: "wallet"
  github:
    url: "{git_url}"
    branch: "main"
    ssh_private_key_path: "github_ed25519"
  docker:
    push_server: "lab"
    repo: "{repo}"
    image_tag_prefix: "latest"
    content_trust_base: false
  env:
    whitelist: ["GREETING"]
  signing_key:
    private_key_path: "vendor.priv"
"#
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_sb_commands_build_sign_export_and_refuse_a_changed_repo() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("lab");
    std::fs::create_dir_all(&work).unwrap();
    let notary = NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let notary_ca = std::fs::read(&notary.tls().unwrap().ca_cert).unwrap();
    let sim = HpvsSim::start(HpvsSimOptions {
        outbound_ca_pem: Some(notary_ca),
        ..HpvsSimOptions::default()
    })
    .unwrap();
    let git_host = GitHost::start().unwrap();
    let (git_url, _) = source(&work, &git_host);
    let cli = Cli {
        sim: &sim,
        dir: work.clone(),
    };

    // The registry entry the configuration names, and the build server, made as in the lab.
    let registry_url = format!("http://{}", registry.host());
    succeeded(cli.run(
        &[
            "registry",
            "add",
            "--name",
            "lab",
            "--dct",
            notary.url(),
            "--url",
            &registry_url,
            "--user",
            "pusher",
        ],
        Some("push-pw\n"),
    ));
    succeeded(cli.run(
        &[
            "quotagroup",
            "create",
            "--name",
            "sb_user00",
            "--size",
            "128MB",
        ],
        None,
    ));
    let material =
        MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback()).unwrap();
    let pem = material.write_pem_files(&work.join("sbs")).unwrap();
    let env = material.lab_env();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = format!("{{containerport = 443, protocol = tcp, hostport = {port}}}");
    let created = succeeded(cli.run(
        &[
            "vs", "create", "--name", "sbserver", "--repo", "SecureDockerBuild", "--tag",
            "1.2.7.5", "--cpu", "2", "--ram", "2048",
            "--quotagroup",
            "{quotagroup = sb_user00, mountid = new, mount = /newroot, filesystem = ext4, size = 32MB, reset_root=true}",
            "--quotagroup",
            "{quotagroup = sb_user00, mountid = data, mount = /data, filesystem = ext4, size = 64MB, reset_root=true}",
            &format!("--env=CLIENT_CA={}", env.client_ca),
            &format!("--env=CLIENT_CRT={}", env.client_crt),
            &format!("--env=SERVER_CRT={}", env.server_crt),
            &format!("--env=SERVER_KEY={}", env.server_key.as_str()),
            "--ports", &ports,
        ],
        None,
    ));
    assert!(created.contains("running"), "{created}");
    std::fs::write(
        work.join("sb_config.yaml"),
        sb_config(port, &git_url, "lab/wallet"),
    )
    .unwrap();
    let sbs = SbsClient::new(SbsConfig {
        url: format!("https://127.0.0.1:{port}"),
        ca_cert_pem: std::fs::read(&pem.ca_cert).unwrap(),
        client_cert_pem: std::fs::read(&pem.client_cert).unwrap(),
        client_key_pem: hpvs_api::Secret::new(std::fs::read_to_string(&pem.client_key).unwrap()),
    })
    .unwrap();

    // init: the SECRET and the init record, private, next to the configuration.
    let said = succeeded(cli.sb(&["init"], None));
    assert_eq!(said.trim(), "OK");
    assert_eq!(mode(&work.join(".sb_secret.wallet")), 0o600);
    assert_eq!(mode(&work.join(".sb_init.wallet.json")), 0o600);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join(".sb_init.wallet.json")).unwrap()).unwrap();
    assert_eq!(record["docker_repo"], "lab/wallet");

    // build: the async-start line, progress on stderr, the final table; the server agrees.
    let output = cli.sb(&["build", "--timeout", "5"], None);
    let progress = stderr(&output);
    let table = succeeded(output);
    assert!(table.starts_with("OK: async build started\n"), "{table}");
    assert!(table.contains("| success"), "{table}");
    assert!(progress.contains("status: "), "{progress}");
    let status = sbs.status().await.unwrap();
    assert_eq!(status.status, "success");
    let build_name = status.build_name.clone().unwrap();
    // The push server was the `lab` entry: the registry host names the build.
    assert!(
        build_name.starts_with(&registry.host().replace('/', ".")),
        "{build_name}"
    );
    assert!(table.contains(&build_name), "{table}");
    let shown = succeeded(cli.sb(&["status", "--json"], None));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["build_name"], build_name.as_str());
    let log = succeeded(cli.sb(&["log"], None));
    assert!(log.contains("completed a build"), "{log}");
    assert_eq!(log.trim_end(), sbs.log("build").await.unwrap().trim_end());

    // manifest and pubkey, verified with the lab's openssl commands.
    let manifests = work.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let written = succeeded(cli.sb(
        &["manifest", "--name", &build_name, "--out", "manifests"],
        None,
    ));
    let sig_tbz = format!("manifest.{build_name}.sig.tbz");
    assert_eq!(written.trim(), format!("manifests/{sig_tbz}"));
    succeeded(cli.sb(
        &[
            "pubkey",
            "--name",
            &build_name,
            "--out",
            "manifests/pub.pem",
        ],
        None,
    ));
    let verified = sh(
        &manifests,
        &format!(
            "tar --force-local -xjf '{sig_tbz}'
             xxd -r -p < 'manifest.{build_name}.sig' > sig.bin
             openssl dgst -sha256 -binary -out tbz.sha256 'manifest.{build_name}.tbz'
             openssl dgst -sha256 -verify pub.pem -signature sig.bin tbz.sha256"
        ),
    );
    assert_eq!(verified.trim(), "Verified OK");

    // regfile: the vendor key's passphrase on stdin; the appliance registers the file.
    let vendor = SecretKey::generate(
        KeyKind::Ed25519,
        "Vendor <v@example.com>",
        Secret::new("vendor-pw"),
    )
    .unwrap();
    std::fs::write(work.join("vendor.priv"), vendor.to_armored().unwrap()).unwrap();
    let refused = failed(cli.sb(&["regfile", "--out", "yaml.wallet.enc"], Some("wrong\n")));
    assert!(refused.starts_with("ERROR: "), "{refused}");
    assert!(!work.join("yaml.wallet.enc").exists());
    succeeded(cli.sb(
        &["regfile", "--out", "yaml.wallet.enc"],
        Some("vendor-pw\n"),
    ));
    let registered = succeeded(cli.run(
        &[
            "repository",
            "register",
            "--pgp",
            "yaml.wallet.enc",
            "--id",
            "wallet",
            "--json",
        ],
        None,
    ));
    let registered: serde_json::Value = serde_json::from_str(&registered).unwrap();
    assert_eq!(
        registered["repository_name"],
        format!("{}/lab/wallet", registry.host()),
        "{registered}"
    );

    // state export: private, the server's JSON; never over an existing file; import back.
    let exported = succeeded(cli.sb(&["state", "export", "--out", "state.json"], None));
    assert_eq!(exported.trim(), "state.json");
    assert_eq!(mode(&work.join("state.json")), 0o600);
    let image: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("state.json")).unwrap()).unwrap();
    assert!(
        image["name"].as_str().unwrap().starts_with("sbs-state."),
        "{image}"
    );
    assert!(!image["state"].as_str().unwrap().is_empty());
    let before = std::fs::read(work.join("state.json")).unwrap();
    let refused = failed(cli.sb(&["state", "export", "--out", "state.json"], None));
    assert!(
        refused.starts_with("ERROR: IO will not overwrite"),
        "{refused}"
    );
    assert_eq!(std::fs::read(work.join("state.json")).unwrap(), before);
    let default_named = succeeded(cli.sb(&["state", "export"], None));
    assert!(work.join(default_named.trim()).is_file(), "{default_named}");
    let said = succeeded(cli.sb(&["state", "import", "--file", "state.json"], None));
    assert_eq!(said.trim(), "OK");
    std::fs::write(work.join("other.secret"), "d3Jvbmc=").unwrap();
    let refused = failed(cli.sb(
        &[
            "state",
            "import",
            "--file",
            "state.json",
            "--secret-file",
            "other.secret",
        ],
        None,
    ));
    assert!(refused.starts_with("ERROR: 403 "), "{refused}");

    // update: a changed docker.repo is refused before the server is asked; as it was, OK.
    std::fs::write(
        work.join("sb_config.yaml"),
        sb_config(port, &git_url, "lab/other"),
    )
    .unwrap();
    let refused = failed(cli.sb(&["update"], None));
    assert!(
        refused.starts_with(
            "ERROR: CONFIG secure_build_workers.docker.repo may not change after init: \
             init sent \"lab/wallet\", the configuration now says \"lab/other\""
        ),
        "{refused}"
    );
    std::fs::write(
        work.join("sb_config.yaml"),
        sb_config(port, &git_url, "lab/wallet"),
    )
    .unwrap();
    assert_eq!(succeeded(cli.sb(&["update"], None)).trim(), "OK");

    // clean: the server forgets its builds.
    assert_eq!(succeeded(cli.sb(&["clean"], None)).trim(), "OK");
    let cleaned = sbs.status().await.unwrap();
    assert_eq!(cleaned.status, "restarted cicd");
    assert!(sbs.manifest(Some(&build_name)).await.is_err());

    succeeded(cli.run(&["vs", "delete", "--name", "sbserver"], None));
}
