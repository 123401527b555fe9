use hpvs_api::wire::Filesystem;

use super::*;

fn server(state: ServerState, reason: Option<&str>) -> VirtualServer {
    VirtualServer {
        name: "sbserver_00".into(),
        repo: "SecureDockerBuild".into(),
        tag: "1.2.7.5".into(),
        digest: Some("sha256:abc".into()),
        cpu: 2,
        ram: 2048,
        state,
        reason: reason.map(str::to_owned),
        quotagroups: vec![
            Mount {
                quotagroup: "sb_user00".into(),
                mountid: "new".into(),
                mount: "/newroot".into(),
                filesystem: Filesystem::Ext4,
                size: 4 << 30,
                reset_root: true,
            },
            Mount {
                quotagroup: "sb_user00".into(),
                mountid: "data".into(),
                mount: "/data".into(),
                filesystem: Filesystem::Ext4,
                size: 4 << 30,
                reset_root: false,
            },
        ],
        env_names: vec!["CLIENT_CA".into()],
        ports: vec![PortMapping {
            containerport: 443,
            protocol: Protocol::Tcp,
            hostport: 30000,
        }],
        created_at: "2024-05-01T10:00:00Z".into(),
        started_at: Some("2024-05-01T10:00:05Z".into()),
    }
}

#[test]
fn a_running_virtual_server() {
    assert_eq!(
        virtual_server(&server(ServerState::Running, None)).to_string(),
        "\
+-------------+---------------------------------------------------+
| PROPERTIES  | VALUES                                            |
+-------------+---------------------------------------------------+
| Name        | sbserver_00                                       |
| CPU         | 2                                                 |
| Memory      | 2048                                              |
| State       | running                                           |
| Status      | Up since 2024-05-01T10:00:05Z                     |
| Networks    | -                                                 |
| Ports       | 30000->443/tcp                                    |
| Quotagroups | sb_user00/new on /newroot (ext4, 4GB, reset_root) |
|             | sb_user00/data on /data (ext4, 4GB)               |
| Repository  | SecureDockerBuild:1.2.7.5                         |
| Image       | sha256:abc                                        |
+-------------+---------------------------------------------------+"
    );
}

#[test]
fn the_status_says_why_a_server_failed_or_what_it_is_doing() {
    let failed = server(ServerState::Failed, Some("pinned root mismatch"));
    assert_eq!(status(&failed), "pinned root mismatch");
    let creating = server(ServerState::Creating, Some("pulling"));
    assert_eq!(status(&creating), "Creating: pulling");
    assert_eq!(status(&server(ServerState::Stopped, None)), "Stopped");
    let mut fresh = server(ServerState::Running, None);
    fresh.started_at = None;
    assert_eq!(status(&fresh), "Up");
    assert_eq!(
        virtual_servers(&[failed]).to_string(),
        "\
+-------------+-------------------+---------+--------+----------------------+----------------+
| NAME        | REPOSITORY        | TAG     | STATE  | STATUS               | PORTS          |
+-------------+-------------------+---------+--------+----------------------+----------------+
| sbserver_00 | SecureDockerBuild | 1.2.7.5 | failed | pinned root mismatch | 30000->443/tcp |
+-------------+-------------------+---------+--------+----------------------+----------------+"
    );
}

#[test]
fn a_new_quotagroup_as_the_lab_shows_it() {
    let quota = Quotagroup {
        name: "sb_user00".into(),
        size: 40 << 30,
        filesystem: Filesystem::Btrfs,
        passthrough: false,
        pool_id: "pool-1".into(),
        containers: vec![],
        available: 40 << 30,
    };
    assert_eq!(
        quotagroup(&quota).to_string(),
        "\
+-------------+-----------+
| PROPERTIES  | VALUES    |
+-------------+-----------+
| Name        | sb_user00 |
| Filesystem  | btrfs     |
| Passthrough | false     |
| PoolID      | pool-1    |
| Size        | 40GB      |
| Containers  | -         |
| Available   | 40GB      |
+-------------+-----------+"
    );
    let mut used = quota;
    used.containers = vec!["a".into(), "b".into()];
    used.available = 32 << 30;
    assert_eq!(
        quotagroups(&[used]).to_string(),
        "\
+-----------+------------+-------------+--------+------+------------+-----------+
| NAME      | FILESYSTEM | PASSTHROUGH | POOLID | SIZE | CONTAINERS | AVAILABLE |
+-----------+------------+-------------+--------+------+------------+-----------+
| sb_user00 | btrfs      | false       | pool-1 | 40GB | a, b       | 32GB      |
+-----------+------------+-------------+--------+------+------------+-----------+"
    );
}

#[test]
fn a_registry_shows_whether_a_password_is_stored_never_which() {
    let stored = Registry {
        name: "r".into(),
        url: "docker.io".into(),
        dct: "https://notary.docker.io".into(),
        user: "u".into(),
        has_password: true,
    };
    assert_eq!(
        registry(&stored).to_string(),
        "\
+------------+--------------------------+
| PROPERTIES | VALUES                   |
+------------+--------------------------+
| Name       | r                        |
| URL        | docker.io                |
| DCT        | https://notary.docker.io |
| User       | u                        |
| Password   | (stored)                 |
+------------+--------------------------+"
    );
    let anonymous = Registry {
        user: String::new(),
        has_password: false,
        ..stored
    };
    assert_eq!(
        registries(&[anonymous]).to_string(),
        "\
+------+-----------+--------------------------+------+----------+
| NAME | URL       | DCT                      | USER | PASSWORD |
+------+-----------+--------------------------+------+----------+
| r    | docker.io | https://notary.docker.io | -    | -        |
+------+-----------+--------------------------+------+----------+"
    );
}

#[test]
fn repositories_images_and_what_a_forced_delete_took() {
    let repo = Repository {
        id: "wallet".into(),
        repository_name: "127.0.0.1:5000/vendor/wallet".into(),
        root_key_id: "ab12".into(),
        vendor_fingerprint: "F00D".into(),
        envs_whitelist: vec![],
        cap_add: vec!["ALL".into()],
        runtime: "runc".into(),
        servers: vec!["w1".into()],
    };
    assert_eq!(
        repositories(&[repo]).to_string(),
        "\
+--------+------------------------------+---------+---------+
| ID     | REPOSITORY NAME              | RUNTIME | SERVERS |
+--------+------------------------------+---------+---------+
| wallet | 127.0.0.1:5000/vendor/wallet | runc    | w1      |
+--------+------------------------------+---------+---------+"
    );
    let image = Image {
        digest: "sha256:abc".into(),
        repo: "wallet".into(),
        repository_name: "127.0.0.1:5000/vendor/wallet".into(),
        size: 3 << 20,
        servers: vec![],
    };
    assert_eq!(
        images(&[image]).to_string(),
        "\
+------------+------------+------------------------------+------+---------+
| DIGEST     | REPOSITORY | IMAGE                        | SIZE | SERVERS |
+------------+------------+------------------------------+------+---------+
| sha256:abc | wallet     | 127.0.0.1:5000/vendor/wallet | 3MB  | -       |
+------------+------------+------------------------------+------+---------+"
    );
    let deleted = RepositoryDeleted {
        id: "wallet".into(),
        servers: vec!["w1".into()],
        images: vec!["sha256:abc".into()],
    };
    assert_eq!(
        repository_deleted(&deleted),
        [
            "Deleted repository wallet",
            "Deleted virtual server w1",
            "Deleted image sha256:abc"
        ]
    );
}
