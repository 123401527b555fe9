//! The SBS protocol layer end to end over mutual TLS, with certificates made by the real
//! `openssl` exactly as the lab makes them (the client's as X.509 v1), driven by reqwest
//! and by `curl` sending what `build.py` sends (`-d '""'`, `Content-Type: application/json`).
//!
//! The build is a test [`BuildPipeline`] that reports the steps, writes a key under `keys/`
//! and returns a fake manifest and registration data: the real pipeline is tested on its
//! own (`sbs_pipeline`); here the protocol around it is under test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "sbs_protocol/lab.rs"]
mod lab;
#[path = "sbs_protocol/mtls.rs"]
mod mtls;

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use lab::{
    BASE_PASSWORD, FakePipeline, GITHUB_KEY, Lab, PUSH_PASSWORD, SECRET, build_to_the_end, call,
    init_body, start, wait_status,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_reports_each_status_in_order_and_refuses_a_second_one() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let running = start(
        &lab,
        state.path(),
        FakePipeline {
            gate: Some(gate.clone()),
            fail: false,
        },
    )
    .await;
    let addr = running.addr;
    assert_eq!(
        call(&lab, addr, "POST", "/image", Some(&init_body())).await,
        (200, json!({"status": "OK"}))
    );
    assert_eq!(call(&lab, addr, "PUT", "/image", None).await.0, 200);
    let first = wait_status(&lab, addr, "cleaned up").await;
    assert_eq!(
        first,
        json!({"status": "cleaned up", "build_image_tag": "1.3.0.9"})
    );
    let (code, refused) = call(&lab, addr, "PUT", "/image", None).await;
    assert_eq!(code, 409);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("a build is running"),
        "{refused}"
    );
    assert_eq!(call(&lab, addr, "DELETE", "/image", None).await.0, 409);
    assert_eq!(
        call(&lab, addr, "POST", "/image", Some(&init_body()))
            .await
            .0,
        409
    );
    for expected in ["github cloned", "image built", "image pushed"] {
        gate.add_permits(1);
        let status = wait_status(&lab, addr, expected).await;
        assert!(status.get("build_name").is_none(), "{status}");
    }
    gate.add_permits(1);
    let done = wait_status(&lab, addr, "success").await;
    let name = done["build_name"].as_str().unwrap().to_owned();
    assert_eq!(
        done,
        json!({
            "status": "success", "build_name": name, "image_tag": "latest-abc1234",
            "build_image_tag": "1.3.0.9", "manifest_key_gen": "soft_crypto",
            "manifest_public_key": format!("manifest.{name}-public.pem"), "root_ssh_enabled": false,
        })
    );
    let (_, log) = call(&lab, addr, "GET", "/log/build", None).await;
    let log = log["log"].as_str().unwrap().to_owned();
    let messages: Vec<&str> = log
        .lines()
        .map(|l| {
            assert_eq!(&l[23..42], "  root       INFO  ", "{l}");
            &l[44..]
        })
        .collect();
    let steps: Vec<&str> = messages
        .iter()
        .copied()
        .filter(|m| ["cleaned up", "github cloned", "image built", "image pushed"].contains(m))
        .collect();
    assert_eq!(
        steps,
        ["cleaned up", "github cloned", "image built", "image pushed"]
    );
    assert_eq!(messages.last(), Some(&"completed a build"));

    // The answers after a build: 201s, manifest and key by name and as the latest.
    let (code, digest) = call(&lab, addr, "GET", "/imagedigest", None).await;
    assert_eq!(
        (code, digest),
        (
            201,
            json!(format!(
                "registry.example/user/app@sha256:{}",
                "ab".repeat(32)
            ))
        )
    );
    let (code, config) = call(&lab, addr, "GET", "/config-json", None).await;
    assert_eq!(
        (code, &config["repository_name"]),
        (201, &json!("registry.example/user/app"))
    );
    let by_name = json!({"BUILD_NAME": name});
    for body in [None, Some(&by_name)] {
        let (code, manifest) = call(&lab, addr, "GET", "/manifest", body).await;
        assert_eq!(
            (code, &manifest["manifest_name"]),
            (200, &json!(format!("manifest.{name}")))
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(manifest["encoded_manifest"].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes, format!("fake manifest of {name}").into_bytes());
        let (code, key) = call(&lab, addr, "GET", "/publickey", body).await;
        assert_eq!((code, &key["build_name"]), (200, &json!(name)));
        assert!(
            key["public_key_pem"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
    }
    let (code, unknown) = call(
        &lab,
        addr,
        "GET",
        "/manifest",
        Some(&json!({"BUILD_NAME": "../params.json"})),
    )
    .await;
    assert_eq!(code, 404, "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pipeline_gives_the_spec_status_and_its_reason_in_the_log() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let running = start(
        &lab,
        state.path(),
        FakePipeline {
            gate: None,
            fail: true,
        },
    )
    .await;
    let addr = running.addr;
    call(&lab, addr, "POST", "/image", Some(&init_body())).await;
    assert_eq!(call(&lab, addr, "PUT", "/image", None).await.0, 200);
    let status = wait_status(
        &lab,
        addr,
        "exiting due to a non-zero return value: 2, cmd: buildah bud",
    )
    .await;
    assert_eq!(
        status,
        json!({"status": "exiting due to a non-zero return value: 2, cmd: buildah bud", "build_image_tag": "1.3.0.9"})
    );
    let (_, log) = call(&lab, addr, "GET", "/log/build", None).await;
    let log = log["log"].as_str().unwrap();
    let last = log.lines().last().unwrap();
    assert!(
        last.ends_with("ERROR   buildah bud: no FROM in the Dockerfile (pulled with ********)"),
        "{log}"
    );
    assert!(!log.contains("completed a build"));
    assert_eq!(call(&lab, addr, "GET", "/manifest", None).await.0, 404);
    // The failed build is over: another may start.
    assert_eq!(call(&lab, addr, "PUT", "/image", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_out_of_turn_and_malformed_bodies_are_json_4xx() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let running = start(&lab, state.path(), FakePipeline::default()).await;
    let addr = running.addr;
    let refused = |code: u16, answer: &Value, expected: &str| {
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{code} {answer}"
        );
    };
    let (code, a) = call(&lab, addr, "PUT", "/image", None).await;
    assert_eq!(code, 409);
    refused(code, &a, "POST /image with the init parameters first");
    for (method, path, body, expected_code, expected) in [
        ("POST", "/image", None, 400, "needs a JSON object"),
        (
            "POST",
            "/image",
            Some(json!({"COS_API_KEY_ID": "x"})),
            400,
            "unknown parameter COS_API_KEY_ID",
        ),
        (
            "GET",
            "/image",
            Some(json!({"x": 1})),
            400,
            "takes no parameters",
        ),
        ("GET", "/nowhere", None, 404, "no endpoint GET /nowhere"),
        ("GET", "/log/other", None, 404, "no log named \"other\""),
        ("GET", "/manifest", None, 404, "no build has succeeded"),
        ("GET", "/config-json", None, 404, "no build has succeeded"),
        ("GET", "/state-image", None, 409, "not initialised"),
        (
            "PATCH",
            "/image",
            Some(json!({"GITHUB_BRANCH": "x"})),
            409,
            "not initialised",
        ),
    ] {
        let (code, answer) = call(&lab, addr, method, path, body.as_ref()).await;
        assert_eq!(code, expected_code, "{method} {path}: {answer}");
        refused(code, &answer, expected);
    }
    call(&lab, addr, "POST", "/image", Some(&init_body())).await;
    let (code, a) = call(
        &lab,
        addr,
        "PATCH",
        "/image",
        Some(&json!({"DOCKER_REPO": "other/app"})),
    )
    .await;
    assert_eq!(code, 409);
    refused(
        code,
        &a,
        "DOCKER_REPO may not change: got \"other/app\", the server builds \"user/app\"",
    );
    let (code, a) = call(
        &lab,
        addr,
        "PATCH",
        "/image",
        Some(&json!({"SECRET": "d3Jvbmc="})),
    )
    .await;
    assert_eq!(code, 403);
    refused(code, &a, "SECRET differs");
    assert_eq!(
        call(
            &lab,
            addr,
            "PATCH",
            "/image",
            Some(&json!({"GITHUB_BRANCH": "dev"}))
        )
        .await
        .0,
        200
    );
    // An empty body works as well as `""` (reqwest sends none).
    let url = format!("https://127.0.0.1:{}/image", addr.port());
    let answer = lab.reqwest(Some("client")).get(&url).send().await.unwrap();
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"status": "", "build_image_tag": "1.3.0.9"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_any_answer_or_the_log() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let running = start(&lab, state.path(), FakePipeline::default()).await;
    let addr = running.addr;
    let mut answers = Vec::new();
    answers.push(
        call(&lab, addr, "POST", "/image", Some(&init_body()))
            .await
            .1,
    );
    answers.push(
        call(
            &lab,
            addr,
            "PATCH",
            "/image",
            Some(&json!({"DOCKER_REPO": "x/y"})),
        )
        .await
        .1,
    );
    answers.push(
        call(
            &lab,
            addr,
            "PATCH",
            "/image",
            Some(&json!({"SECRET": "wrong"})),
        )
        .await
        .1,
    );
    answers.push(
        call(
            &lab,
            addr,
            "POST",
            "/state-image",
            Some(&json!({"secret": "wrong", "state": "AAAA"})),
        )
        .await
        .1,
    );
    answers.push(build_to_the_end(&lab, addr).await);
    for (method, path) in [
        ("GET", "/image"),
        ("GET", "/log/build"),
        ("GET", "/manifest"),
        ("GET", "/publickey"),
        ("GET", "/config-json"),
        ("GET", "/imagedigest"),
        ("GET", "/state-image"),
    ] {
        answers.push(call(&lab, addr, method, path, None).await.1);
    }
    let log = std::fs::read_to_string(state.path().join("logs/build.log")).unwrap();
    assert!(log.contains("logging in as pusher with ********"), "{log}");
    let everything = format!("{}\n{log}", serde_json::to_string(&answers).unwrap());
    let key_line = GITHUB_KEY.lines().nth(1).unwrap();
    for secret in [PUSH_PASSWORD, SECRET, BASE_PASSWORD, key_line] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    let params = std::fs::metadata(state.path().join("params.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&params.permissions()) & 0o777,
        0o600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_server_on_the_same_directory_answers_the_same() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let first = start(&lab, state.path(), FakePipeline::default()).await;
    call(&lab, first.addr, "POST", "/image", Some(&init_body())).await;
    let status = build_to_the_end(&lab, first.addr).await;
    let lab_ref = &lab;
    let answers = |addr| async move {
        let mut all = Vec::new();
        for path in ["/image", "/manifest", "/config-json", "/imagedigest"] {
            all.push(call(lab_ref, addr, "GET", path, None).await);
        }
        all
    };
    let before = answers(first.addr).await;
    drop(first);
    let second = start(&lab, state.path(), FakePipeline::default()).await;
    assert_eq!(answers(second.addr).await, before);
    assert_eq!(before[0].1, status);
    let key = std::fs::read(state.path().join("keys/root.key")).unwrap();

    // DELETE clears builds and logs, keeps parameters and keys, across a restart too.
    assert_eq!(
        call(&lab, second.addr, "DELETE", "/image", None).await,
        (200, json!({"status": "OK"}))
    );
    let cleaned = json!({"status": "restarted cicd", "build_image_tag": "1.3.0.9"});
    assert_eq!(
        call(&lab, second.addr, "GET", "/image", None).await.1,
        cleaned
    );
    assert_eq!(
        call(&lab, second.addr, "GET", "/manifest", None).await.0,
        404
    );
    assert_eq!(
        call(&lab, second.addr, "GET", "/log/build", None).await.1,
        json!({"log": ""})
    );
    drop(second);
    let third = start(&lab, state.path(), FakePipeline::default()).await;
    assert_eq!(
        call(&lab, third.addr, "GET", "/image", None).await.1,
        cleaned
    );
    let rebuilt = build_to_the_end(&lab, third.addr).await;
    assert_eq!(rebuilt["status"], "success");
    assert_eq!(
        std::fs::read(state.path().join("keys/root.key")).unwrap(),
        key
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_the_restart_interrupted_is_failed() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(1));
    let first = start(
        &lab,
        state.path(),
        FakePipeline {
            gate: Some(gate),
            fail: false,
        },
    )
    .await;
    call(&lab, first.addr, "POST", "/image", Some(&init_body())).await;
    call(&lab, first.addr, "PUT", "/image", None).await;
    wait_status(&lab, first.addr, "github cloned").await;
    // The process "restarts": a new server opens the directory the hung build left.
    let second = start(&lab, state.path(), FakePipeline::default()).await;
    let expected =
        "exiting due to a non-zero return value: 1, cmd: interrupted after \"github cloned\"";
    assert_eq!(
        call(&lab, second.addr, "GET", "/image", None).await.1["status"],
        expected
    );
    let (_, log) = call(&lab, second.addr, "GET", "/log/build", None).await;
    assert!(
        log["log"]
            .as_str()
            .unwrap()
            .contains("the build did not finish"),
        "{log}"
    );
    assert_eq!(
        build_to_the_end(&lab, second.addr).await["status"],
        "success"
    );
    assert!(first.server.is_building());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_image_restores_keys_and_params_and_refuses_a_wrong_secret_or_tampering() {
    let lab = Lab::make();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(&lab, dir_a.path(), FakePipeline::default()).await;
    call(&lab, a.addr, "POST", "/image", Some(&init_body())).await;
    build_to_the_end(&lab, a.addr).await;
    let (_, config_a) = call(&lab, a.addr, "GET", "/config-json", None).await;
    let (code, image) = call(&lab, a.addr, "GET", "/state-image", None).await;
    assert_eq!(code, 200);
    assert!(
        image["name"]
            .as_str()
            .unwrap()
            .starts_with("sbs-state.user.app."),
        "{image}"
    );
    assert!(
        image["name"]
            .as_str()
            .unwrap()
            .contains(image["export_tag"].as_str().unwrap())
    );
    let state = image["state"].as_str().unwrap();

    let b = start(&lab, dir_b.path(), FakePipeline::default()).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(state).unwrap();
    let middle = bytes.len() - 20;
    bytes[middle] ^= 1;
    let tampered = b64.encode(bytes);
    for (secret, state, code, expected) in [
        ("d3Jvbmc=", state, 403, "exported under another SECRET"),
        (
            SECRET,
            tampered.as_str(),
            422,
            "altered after export: payload",
        ),
        (SECRET, "bm90IGFuIGltYWdl", 400, "malformed"),
    ] {
        let body = json!({"secret": secret, "state": state});
        let (got, answer) = call(&lab, b.addr, "POST", "/state-image", Some(&body)).await;
        assert_eq!(got, code, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{answer}"
        );
        // Nothing changed on the refusing server.
        assert_eq!(
            call(&lab, b.addr, "GET", "/image", None).await.1,
            json!({"status": ""})
        );
        assert_eq!(
            std::fs::read_dir(dir_b.path().join("keys"))
                .unwrap()
                .count(),
            0
        );
        assert!(!dir_b.path().join("params.json").exists());
    }
    let body = json!({"secret": SECRET, "state": state});
    assert_eq!(
        call(&lab, b.addr, "POST", "/state-image", Some(&body)).await,
        (200, json!({"status": "OK"}))
    );
    assert_eq!(
        std::fs::read(dir_b.path().join("keys/root.key")).unwrap(),
        std::fs::read(dir_a.path().join("keys/root.key")).unwrap()
    );
    assert_eq!(
        call(&lab, b.addr, "GET", "/image", None).await.1,
        json!({"status": "", "build_image_tag": "1.3.0.9"})
    );
    // The next build on B uses A's key: the registration names the same key id.
    build_to_the_end(&lab, b.addr).await;
    let (_, config_b) = call(&lab, b.addr, "GET", "/config-json", None).await;
    assert_eq!(config_b["public_key_id"], config_a["public_key_id"]);
}
