//! Start-up refusals: a database without an explicit authentication choice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huddle::{AuthMode, Config, Huddle};

#[tokio::test]
async fn database_without_auth_refuses_to_start_naming_both_options() {
    let config = Config {
        database_url: Some("postgres://nobody@127.0.0.1:1/none".into()),
        ..Config::default()
    };
    let err = Huddle::builder(config)
        .install_metrics(false)
        .build()
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(err.contains("HUDDLE_JWT_SECRET"), "{err}");
    assert!(err.contains("HUDDLE_AUTH=none"), "{err}");
}

#[tokio::test]
async fn jwt_mode_without_a_key_refuses_to_start() {
    let config = Config {
        auth: Some(AuthMode::Jwt),
        ..Config::default()
    };
    let err = Huddle::builder(config).install_metrics(false).build().await;
    assert!(err.is_err());
}
