use super::*;
use crate::runtime::volume::Filesystem;

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nweb:x:100:101::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/group"), "root:x:0:\nweb:x:101:\n").unwrap();
    dir
}

fn image() -> ImageConfig {
    ImageConfig {
        entrypoint: Some(vec!["/bin/busybox".into()]),
        cmd: Some(vec!["httpd".into(), "-f".into()]),
        env: Some(vec!["PATH=/bin".into(), "MODE=image".into()]),
        working_dir: Some("/srv".into()),
        user: None,
        exposed_ports: None,
    }
}

fn settings() -> ServerSettings {
    ServerSettings {
        name: "web-1".parse().unwrap(),
        env: vec![
            ("MODE".into(), "server".into()),
            ("EXTRA".into(), "1".into()),
        ],
        cpus: 2,
        ram_mib: 256,
        cap_add: vec!["NET_ADMIN".into()],
        mounts: vec![QuotaMount {
            mount_id: "data".parse().unwrap(),
            mount: "/data".into(),
            filesystem: Filesystem::Ext4,
            size: 8 << 20,
            reset_root: false,
        }],
    }
}

fn placement(limits: Limits) -> Placement {
    Placement {
        network_namespace: "/run/netns/hpvs-test-web-1".into(),
        cgroups_path: "/hpvs-test-web-1".into(),
        mount_sources: vec!["/state/servers/web-1/volumes/data".into()],
        limits,
    }
}

#[test]
fn the_process_is_the_images_with_the_servers_env() {
    let root = rootfs();
    let spec = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::Apply),
    )
    .unwrap();
    assert_eq!(spec.process.args, ["/bin/busybox", "httpd", "-f"]);
    assert_eq!(spec.process.env, ["PATH=/bin", "MODE=server", "EXTRA=1"]);
    assert_eq!(spec.process.cwd, "/srv");
    assert_eq!((spec.process.user.uid, spec.process.user.gid), (0, 0));
    assert_eq!(spec.hostname, "web-1");
    assert_eq!(spec.root.path, root.path().display().to_string());
    assert!(!spec.process.terminal);
}

#[test]
fn the_container_gets_its_own_namespaces_and_joins_our_network_one() {
    let root = rootfs();
    let spec = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::Apply),
    )
    .unwrap();
    let kinds: Vec<(&str, Option<&str>)> = (spec.linux.namespaces.iter())
        .map(|ns| (ns.kind.as_str(), ns.path.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("pid", None),
            ("ipc", None),
            ("uts", None),
            ("mount", None),
            ("cgroup", None),
            ("network", Some("/run/netns/hpvs-test-web-1")),
        ]
    );
    assert!(spec.linux.masked_paths.contains(&"/proc/kcore".to_owned()));
    assert!(spec.linux.readonly_paths.contains(&"/proc/sys".to_owned()));
}

#[test]
fn the_only_host_path_is_the_volume_bind_mount() {
    let root = rootfs();
    let spec = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::Apply),
    )
    .unwrap();
    let binds: Vec<&spec::Mount> = spec.mounts.iter().filter(|m| m.kind == "bind").collect();
    assert_eq!(binds.len(), 1);
    assert_eq!(binds[0].destination, "/data");
    assert_eq!(binds[0].source, "/state/servers/web-1/volumes/data");
    assert!(
        (spec.mounts.iter())
            .filter(|m| m.kind != "bind")
            .all(|m| !m.source.starts_with('/')),
        "kernel filesystems only besides the bind: {:?}",
        spec.mounts
    );
}

#[test]
fn limits_are_written_or_left_out() {
    let root = rootfs();
    let applied = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::Apply),
    )
    .unwrap();
    assert_eq!(applied.linux.resources.memory.unwrap().limit, 256 << 20);
    let cpu = applied.linux.resources.cpu.unwrap();
    assert_eq!((cpu.quota, cpu.period), (200_000, 100_000));
    let recorded = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::RecordOnly),
    )
    .unwrap();
    assert_eq!(recorded.linux.resources.memory, None);
    assert_eq!(recorded.linux.resources.cpu, None);
    assert!(!recorded.linux.resources.devices[0].allow);
}

#[test]
fn root_holds_the_default_caps_plus_added_and_others_only_bound() {
    let root = rootfs();
    let as_root = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::Apply),
    )
    .unwrap();
    let caps = &as_root.process.capabilities;
    assert!(caps.effective.contains(&"CAP_NET_ADMIN".to_owned()));
    assert_eq!(caps.effective, caps.bounding);
    let web = ImageConfig {
        user: Some("web".into()),
        ..image()
    };
    let as_web = generate(root.path(), &web, &settings(), &placement(Limits::Apply)).unwrap();
    assert_eq!(
        (as_web.process.user.uid, as_web.process.user.gid),
        (100, 101)
    );
    assert!(as_web.process.capabilities.effective.is_empty());
    assert_eq!(as_web.process.capabilities.bounding.len(), 15);
}

#[test]
fn path_is_added_only_when_missing() {
    let env = merge_env(&["A=1".into()], &[("B".into(), "x=y".into())]);
    assert_eq!(env[0], DEFAULT_PATH);
    assert_eq!(&env[1..], ["A=1", "B=x=y"]);
    let kept = merge_env(&[], &[("PATH".into(), "/opt".into())]);
    assert_eq!(kept, ["PATH=/opt"]);
}

#[test]
fn settings_are_checked_before_anything_else() {
    let root = rootfs();
    let mut bad_env = settings();
    bad_env.env.push(("A=B".into(), "1".into()));
    assert!(matches!(
        generate(root.path(), &image(), &bad_env, &placement(Limits::Apply)),
        Err(RuntimeError::InvalidEnvName { name }) if name == "A=B"
    ));
    for path in ["data", "/", "/a/../b", "/proc/x", "/dev"] {
        let mut bad_mount = settings();
        bad_mount.mounts[0].mount = path.into();
        assert!(
            matches!(
                bad_mount.validate(),
                Err(RuntimeError::InvalidMountPath { .. })
            ),
            "{path}"
        );
    }
    let mut twice = settings();
    let mut second = twice.mounts[0].clone();
    second.mount = "/other".into();
    twice.mounts.push(second);
    assert!(matches!(
        twice.validate(),
        Err(RuntimeError::DuplicateMount { value }) if value == "data"
    ));
}

#[test]
fn a_user_missing_from_the_rootfs_or_a_relative_rootfs_is_refused() {
    let root = rootfs();
    let ghost = ImageConfig {
        user: Some("ghost".into()),
        ..image()
    };
    assert!(matches!(
        generate(root.path(), &ghost, &settings(), &placement(Limits::Apply)),
        Err(RuntimeError::UserNotFound { user, .. }) if user == "ghost"
    ));
    assert!(matches!(
        generate(
            Path::new("relative/rootfs"),
            &image(),
            &settings(),
            &placement(Limits::Apply)
        ),
        Err(RuntimeError::InvalidRootfs { .. })
    ));
}

#[test]
fn the_config_serialises_with_runc_field_names() {
    let root = rootfs();
    let spec = generate(
        root.path(),
        &image(),
        &settings(),
        &placement(Limits::Apply),
    )
    .unwrap();
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["ociVersion"], "1.0.2");
    assert_eq!(json["linux"]["cgroupsPath"], "/hpvs-test-web-1");
    assert_eq!(json["process"]["noNewPrivileges"], false);
    assert_eq!(json["mounts"][0]["type"], "proc");
    assert!(json["process"]["user"].get("additionalGids").is_none());
    let back: Spec = serde_json::from_value(json).unwrap();
    assert_eq!(back, spec);
}
