//! Bearer-token auth against the real docker-registry in token mode, with devstack's token
//! issuer: pushes need a push token, reads a pull token, bad credentials fail clearly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use devstack::{Anonymous, Registry, RegistryOptions, TokenIssuer, TokenUser};
use oci_push::{
    Client, ClientOptions, CredentialSource, Credentials, ImageBuilder, ImageRef, LayerBuilder,
    Layout, Platform, PullOptions, PushOptions, Security,
};

fn client(credentials: CredentialSource) -> Client {
    Client::new(ClientOptions {
        security: Security::InsecureHttp,
        credentials,
        ..Default::default()
    })
    .unwrap()
}

fn as_user(user: &str, password: &str) -> CredentialSource {
    CredentialSource::Static(Credentials::basic(user, password.to_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_with_registry_tokens() {
    let issuer = TokenIssuer::start(
        vec![
            TokenUser::admin("alice", "alice-pw"),
            TokenUser::reader("bob", "bob-pw"),
        ],
        Anonymous::Refused,
    )
    .unwrap();
    let registry = Registry::start_with_token_auth(RegistryOptions::default(), &issuer).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("hello.txt"), b"hello tokens\n").unwrap();
    let mut image = ImageBuilder::scratch(Platform::parse("linux/amd64").unwrap(), 0);
    let mut layer = LayerBuilder::new();
    layer.add_path(&context, "/data").unwrap();
    image.add_layer(&layout, &layer, "COPY . /data").unwrap();
    let built = image.finish(&layout, "v1").unwrap();

    let target = ImageRef::parse(&format!("{}/team/app:v1", registry.host())).unwrap();
    let pushed = client(as_user("alice", "alice-pw"))
        .push_layout(&layout, Some("v1"), &target, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(pushed.digest, built.digest);

    // A reader pulls (verifying every blob) but cannot push.
    let pulled = Layout::create(dir.path().join("pulled")).unwrap();
    let bob = client(as_user("bob", "bob-pw"));
    let manifest = bob
        .pull(&target, &pulled, "v1", &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(manifest.digest, built.digest);
    let other = ImageRef::parse(&format!("{}/team/other:v1", registry.host())).unwrap();
    assert!(
        bob.push_layout(&layout, Some("v1"), &other, &PushOptions::default())
            .await
            .is_err()
    );

    // Anonymous and wrong passwords are refused.
    assert!(
        client(CredentialSource::Anonymous)
            .resolve(&target)
            .await
            .is_err()
    );
    let err = client(as_user("alice", "wrong"))
        .resolve(&target)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("401") || message.to_lowercase().contains("auth"),
        "{message}"
    );
}
