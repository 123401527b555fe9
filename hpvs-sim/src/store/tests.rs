use hpvs_api::wire::{Filesystem, Mount, PortMapping, Protocol, ServerState, VirtualServer};

use super::*;

fn registry(name: &str) -> RegistryRow {
    RegistryRow {
        registry: Registry {
            name: name.to_owned(),
            url: "127.0.0.1:5000".to_owned(),
            dct: "https://127.0.0.1:4443".to_owned(),
            user: "u".to_owned(),
            has_password: true,
        },
        password_sealed: Some(vec![1, 2, 3]),
    }
}

fn repository(id: &str, registry: &str) -> RepositoryRow {
    RepositoryRow {
        repository: Repository {
            id: id.to_owned(),
            repository_name: "127.0.0.1:5000/app".to_owned(),
            root_key_id: "ab".repeat(32),
            vendor_fingerprint: "F".repeat(40),
            envs_whitelist: vec!["LOG_LEVEL".to_owned()],
            cap_add: vec![],
            runtime: "runc".to_owned(),
            servers: vec![],
        },
        registry: Some(registry.to_owned()),
        registration_sealed: Some(vec![9]),
    }
}

fn group(name: &str, size: u64) -> Quotagroup {
    Quotagroup {
        name: name.to_owned(),
        size,
        filesystem: Filesystem::Btrfs,
        passthrough: false,
        pool_id: "pool-1".to_owned(),
        containers: vec![],
        available: size,
    }
}

fn server(name: &str, mounts: &[(&str, u64)], hostports: &[u16]) -> NewServerRow {
    NewServerRow {
        server: VirtualServer {
            name: name.to_owned(),
            repo: "app".to_owned(),
            tag: "latest".to_owned(),
            digest: None,
            cpu: 1,
            ram: 256,
            state: ServerState::Creating,
            reason: None,
            quotagroups: mounts
                .iter()
                .enumerate()
                .map(|(i, (quotagroup, size))| Mount {
                    quotagroup: (*quotagroup).to_owned(),
                    mountid: format!("m{i}"),
                    mount: format!("/m{i}"),
                    filesystem: Filesystem::Ext4,
                    size: *size,
                    reset_root: false,
                })
                .collect(),
            env_names: vec![],
            ports: hostports
                .iter()
                .map(|&hostport| PortMapping {
                    containerport: 80,
                    protocol: Protocol::Tcp,
                    hostport,
                })
                .collect(),
            created_at: "2026-12-06T00:00:00Z".to_owned(),
            started_at: None,
        },
        env_sealed: vec![7],
    }
}

fn fixture() -> Store {
    let store = Store::in_memory().unwrap();
    store.add_registry(&registry("r")).unwrap();
    store
        .put_repository(&repository("app", "r"), false)
        .unwrap();
    store.add_quotagroup(&group("q", 100 << 20)).unwrap();
    store
}

#[test]
fn names_are_unique_and_missing_ones_are_not_found() {
    let store = fixture();
    assert!(matches!(
        store.add_registry(&registry("r")),
        Err(ApplianceError::Exists {
            kind: "registry",
            ..
        })
    ));
    assert!(matches!(
        store.put_repository(&repository("app", "r"), false),
        Err(ApplianceError::Exists { .. })
    ));
    assert!(matches!(
        store.registry("nope"),
        Err(ApplianceError::NotFound {
            kind: "registry",
            ..
        })
    ));
    assert!(matches!(
        store.put_repository(&repository("other", "r"), true),
        Err(ApplianceError::NotFound { .. })
    ));
    assert_eq!(
        store.registry("r").unwrap().password_sealed,
        Some(vec![1, 2, 3])
    );
}

#[test]
fn a_registry_in_use_and_a_quotagroup_with_mounts_cannot_be_deleted() {
    let store = fixture();
    match store.delete_registry("r") {
        Err(ApplianceError::InUse { holders, .. }) => assert_eq!(holders, ["app"]),
        other => panic!("expected InUse, got {other:?}"),
    }
    store
        .add_server(&server("s1", &[("q", 10 << 20)], &[]))
        .unwrap();
    match store.delete_quotagroup("q") {
        Err(ApplianceError::InUse { holders, .. }) => assert_eq!(holders, ["s1"]),
        other => panic!("expected InUse, got {other:?}"),
    }
    match store.delete_repository("app") {
        Err(ApplianceError::InUse { holders, .. }) => assert_eq!(holders, ["s1"]),
        other => panic!("expected InUse, got {other:?}"),
    }
    store.delete_server("s1").unwrap();
    store.delete_quotagroup("q").unwrap();
    store.delete_repository("app").unwrap();
    store.delete_registry("r").unwrap();
}

#[test]
fn mounts_beyond_the_quotagroup_are_refused_and_nothing_is_recorded() {
    let store = fixture();
    store
        .add_server(&server("s1", &[("q", 60 << 20)], &[]))
        .unwrap();
    match store.add_server(&server("s2", &[("q", 30 << 20), ("q", 20 << 20)], &[])) {
        Err(ApplianceError::QuotaExceeded {
            quotagroup,
            requested,
            available,
        }) => {
            assert_eq!(quotagroup, "q");
            assert_eq!(requested, 50 << 20);
            assert_eq!(available, 40 << 20);
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert!(store.server("s2").is_err());
    let q = store.quotagroup("q").unwrap();
    assert_eq!(q.available, 40 << 20);
    assert_eq!(q.containers, ["s1"]);
}

#[test]
fn a_host_port_belongs_to_one_server() {
    let store = fixture();
    store.add_server(&server("s1", &[], &[30000])).unwrap();
    match store.add_server(&server("s2", &[], &[30001, 30000])) {
        Err(ApplianceError::PortTaken { port, holder }) => {
            assert_eq!(port, 30000);
            assert_eq!(holder, "server s1");
        }
        other => panic!("expected PortTaken, got {other:?}"),
    }
    assert!(store.server("s2").is_err());
    store.delete_server("s1").unwrap();
    store
        .add_server(&server("s2", &[], &[30001, 30000]))
        .unwrap();
    assert_eq!(store.server("s2").unwrap().server.ports.len(), 2);
}

#[test]
fn server_state_digest_and_images_round_trip() {
    let store = fixture();
    store
        .add_server(&server("s1", &[("q", 1 << 20)], &[30000]))
        .unwrap();
    store
        .set_server_state(
            "s1",
            ServerState::Running,
            None,
            Some("sha256:aa"),
            Some("t"),
        )
        .unwrap();
    store
        .put_image(&hpvs_api::wire::Image {
            digest: "sha256:aa".to_owned(),
            repo: "app".to_owned(),
            repository_name: "127.0.0.1:5000/app".to_owned(),
            size: 42,
            servers: vec![],
        })
        .unwrap();
    let row = store.server("s1").unwrap().server;
    assert_eq!(row.state, ServerState::Running);
    assert_eq!(row.digest.as_deref(), Some("sha256:aa"));
    assert_eq!(row.quotagroups[0].size, 1 << 20);
    assert_eq!(store.images().unwrap()[0].servers, ["s1"]);
    assert!(matches!(
        store.delete_image("sha256:aa"),
        Err(ApplianceError::InUse { .. })
    ));
    store.delete_server("s1").unwrap();
    assert_eq!(store.delete_repository("app").unwrap(), ["sha256:aa"]);
}

#[test]
fn the_database_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let store = Store::open(&path).unwrap();
        store.add_quotagroup(&group("q", 5)).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.quotagroup("q").unwrap().size, 5);
}
