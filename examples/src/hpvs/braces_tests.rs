use hpvs_api::wire::Filesystem;

use super::*;

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn env_as_bash_leaves_it_after_brace_expansion() {
    // `--env={EX_VOLUMES="/docker,/data",ROOTFS_LOCK=y,RUNQ_ROOTDISK_X=new}` in bash.
    let parsed = parse_env(&strings(&[
        "EX_VOLUMES=/docker,/data",
        "ROOTFS_LOCK=y",
        "CLIENT_CA=LS0tLS1CRUdJTi==",
    ]))
    .unwrap();
    assert_eq!(
        parsed,
        env(&[
            ("EX_VOLUMES", "/docker,/data"),
            ("ROOTFS_LOCK", "y"),
            ("CLIENT_CA", "LS0tLS1CRUdJTi=="),
        ])
    );
}

#[test]
fn env_as_a_literal_brace_list_with_quoted_commas() {
    let parsed = parse_env(&strings(&[
        r#"{EX_VOLUMES="/docker,/data", ROOTFS_LOCK = y,EMPTY=,Q="say \"hi\", \\o/"}"#,
    ]))
    .unwrap();
    assert_eq!(
        parsed,
        env(&[
            ("EX_VOLUMES", "/docker,/data"),
            ("ROOTFS_LOCK", "y"),
            ("EMPTY", ""),
            ("Q", r#"say "hi", \o/"#),
        ])
    );
    // A single entry in braces (bash leaves it literal), and a bare quoted value.
    assert_eq!(parse_env(&strings(&["{A=1}"])).unwrap(), env(&[("A", "1")]));
    assert_eq!(
        parse_env(&strings(&[r#"B="x,y""#])).unwrap(),
        env(&[("B", "x,y")])
    );
    assert!(parse_env(&strings(&["{}"])).unwrap().is_empty());
    // A bare value is taken as the shell left it: quotes, braces and commas included.
    assert_eq!(
        parse_env(&strings(&[r#"CONFIG={"a":1,"b":[2]}"#])).unwrap(),
        env(&[("CONFIG", r#"{"a":1,"b":[2]}"#)])
    );
}

#[test]
fn bad_env_names_the_offending_text() {
    let cases: [(&[&str], &str, &str); 8] = [
        (&["{A=1,B=2"], "{A=1,B=2", "missing the closing }"),
        (&["=1"], "=1", "invalid key \"\""),
        (
            &[r#"{A="1,B=2}"#],
            r#"{A="1,B=2}"#,
            "an unterminated double quote",
        ),
        (&["{A=1,,B=2}"], "{A=1,,B=2}", "an empty entry"),
        (&["{A=1,B}"], "{A=1,B}", "expected KEY=VALUE, got \"B\""),
        (&["NOVALUE"], "NOVALUE", "expected KEY=VALUE"),
        (&["A=1", "{B=2,A=3}"], "{B=2,A=3}", "A is given twice"),
        (&["{MY-VAR=1}"], "{MY-VAR=1}", "invalid key \"MY-VAR\""),
    ];
    for (values, text, reason) in cases {
        let err = parse_env(&strings(values)).unwrap_err();
        assert_eq!(err.option, "--env");
        assert_eq!(err.text, text);
        assert!(err.reason.contains(reason), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid --env {text:?}: "))
        );
    }
    let err = parse_env(&strings(&["1A=x"])).unwrap_err();
    assert!(err.reason.contains("cannot start with a digit"), "{err}");
    let err = parse_env(&strings(&[r#"{A=x"y",B=1}"#])).unwrap_err();
    assert!(err.reason.contains("double quote inside"), "{err}");
    let err = parse_pairs("--ports", "containerport = 1}").unwrap_err();
    assert!(err.reason.contains("missing the opening {"), "{err}");
}

#[test]
fn the_labs_quotagroup_mounts() {
    let mount = parse_mount(
        "{quotagroup = sb_user00, mountid = new, mount = /newroot, filesystem = ext4, size = 4GB, reset_root=true}",
    )
    .unwrap();
    assert_eq!(
        mount,
        Mount {
            quotagroup: "sb_user00".into(),
            mountid: "new".into(),
            mount: "/newroot".into(),
            filesystem: Filesystem::Ext4,
            size: 4 << 30,
            reset_root: true,
        }
    );
    let mount =
        parse_mount("{quotagroup=w,mountid=data,mount=/data,filesystem=btrfs,size=512MB}").unwrap();
    assert!(!mount.reset_root);
    assert_eq!(
        (mount.filesystem, mount.size),
        (Filesystem::Btrfs, 512 << 20)
    );
}

#[test]
fn bad_mounts_name_the_text_and_the_field() {
    let full = "quotagroup = q, mountid = new, mount = /newroot, filesystem = ext4";
    let cases = [
        (
            format!("{{{full}, size = 4 parsecs}}"),
            "invalid size \"4 parsecs\"",
        ),
        (format!("{{{full}}}"), "size is missing"),
        (
            "{quotagroup = q, mountid = new, mount = newroot, filesystem = ext4, size = 1GB}"
                .to_owned(),
            "mount must be an absolute path",
        ),
        (
            format!("{{{full}, size = 1GB, reset_root = maybe}}"),
            "reset_root must be true or false, got \"maybe\"",
        ),
        (
            format!("{{{full}, size = 1GB, colour = blue}}"),
            "unknown key \"colour\"",
        ),
        (
            "{quotagroup = q, mountid = new, mount = /n, filesystem = zfs, size = 1GB}".to_owned(),
            "invalid filesystem \"zfs\"",
        ),
        (format!("{{{full}, size = }}"), "size is empty"),
    ];
    for (text, reason) in cases {
        let err = parse_mount(&text).unwrap_err();
        assert_eq!(
            (err.option, err.text.as_str()),
            ("--quotagroup", text.as_str())
        );
        assert!(err.reason.contains(reason), "{err}");
    }
}

#[test]
fn the_labs_port_mappings() {
    let port = parse_port("{containerport = 443, protocol = tcp, hostport = 30000}").unwrap();
    assert_eq!(
        port,
        PortMapping {
            containerport: 443,
            protocol: Protocol::Tcp,
            hostport: 30000
        }
    );
    assert_eq!(
        parse_port("{containerport=80,hostport=8080}")
            .unwrap()
            .hostport,
        8080
    );
    let cases = [
        (
            "{containerport = 443, protocol = udp, hostport = 1}",
            "protocol must be tcp",
        ),
        (
            "{containerport = 443, hostport = 70000}",
            "hostport must be a port 1-65535",
        ),
        (
            "{containerport = 0, hostport = 1}",
            "containerport must be a port",
        ),
        ("{containerport = 443}", "hostport is missing"),
    ];
    for (text, reason) in cases {
        let err = parse_port(text).unwrap_err();
        assert_eq!((err.option, err.text.as_str()), ("--ports", text));
        assert!(err.reason.contains(reason), "{err}");
    }
}
