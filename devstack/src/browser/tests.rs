//! Unit tests of the WebDriver answer parsing, host rules and error messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn w3c_error_is_rejected_with_code_and_message() {
    let body = br#"{"value":{"error":"invalid argument","message":"bad url","stacktrace":""}}"#;
    match parse_answer(
        "POST /session/1/url",
        reqwest::StatusCode::BAD_REQUEST,
        body,
    ) {
        Err(WebDriverError::Rejected {
            command,
            error,
            message,
        }) => {
            assert_eq!(command, "POST /session/1/url");
            assert_eq!(error, "invalid argument");
            assert_eq!(message, "bad url");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn answers_without_json_or_value_are_malformed() {
    let ok = reqwest::StatusCode::OK;
    assert!(matches!(
        parse_answer("GET /status", ok, b"<html>"),
        Err(WebDriverError::Malformed { .. })
    ));
    assert!(matches!(
        parse_answer("GET /status", ok, br#"{"ready":true}"#),
        Err(WebDriverError::Malformed { .. })
    ));
    assert!(matches!(
        parse_answer(
            "GET /status",
            reqwest::StatusCode::NOT_FOUND,
            br#"{"value":1}"#
        ),
        Err(WebDriverError::Malformed { .. })
    ));
    assert_eq!(
        parse_answer("GET /x", ok, br#"{"value":"a"}"#).unwrap(),
        json!("a")
    );
}

#[test]
fn screenshot_must_start_with_the_png_signature() {
    assert!(check_png(&PNG_SIGNATURE).is_ok());
    match check_png(b"GIF89a") {
        Err(WebDriverError::ScreenshotNotPng { head }) => assert_eq!(head, b"GIF89a"),
        other => panic!("expected ScreenshotNotPng, got {other:?}"),
    }
}

#[test]
fn host_rules_become_one_flag_and_injection_is_refused() {
    let options = SessionOptions {
        host_rules: vec![
            ("workload.example".to_owned(), "127.0.0.1".to_owned()),
            ("*.lab.example".to_owned(), "::1".to_owned()),
        ],
    };
    assert_eq!(
        options.host_resolver_flag().unwrap().as_deref(),
        Some("--host-resolver-rules=MAP workload.example 127.0.0.1, MAP *.lab.example ::1")
    );
    assert_eq!(
        SessionOptions::default().host_resolver_flag().unwrap(),
        None
    );
    for (host, address) in [
        ("a.example, MAP * 10.0.0.1", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("a.example", "127.0.0.1, MAP * 10.0.0.1"),
        ("a.example", "localhost"),
    ] {
        let options = SessionOptions {
            host_rules: vec![(host.to_owned(), address.to_owned())],
        };
        assert!(
            matches!(options.host_resolver_flag(), Err(Error::InvalidName { .. })),
            "{host:?} -> {address:?} must be refused"
        );
    }
}

#[test]
fn every_error_formats_in_lower_case_with_its_values() {
    let errors = [
        WebDriverError::Rejected {
            command: "POST /session".into(),
            error: "session not created".into(),
            message: "chrome failed to start".into(),
        },
        WebDriverError::NoSuchElement {
            selector: "#missing".into(),
            url: "http://127.0.0.1:1/".into(),
        },
        WebDriverError::WaitTimedOut {
            selector: "#missing".into(),
            url: "http://127.0.0.1:1/".into(),
            timeout: Duration::from_millis(300),
        },
        WebDriverError::Unreachable {
            command: "GET /status".into(),
            reason: "connection refused".into(),
        },
        WebDriverError::Malformed {
            command: "GET /status".into(),
            reason: "no value".into(),
        },
        WebDriverError::ScreenshotNotPng {
            head: b"GIF".to_vec(),
        },
    ];
    let expected = [
        "session not created",
        "\"#missing\" on http://127.0.0.1:1/",
        "within 300ms",
        "connection refused",
        "no value",
        "[47, 49, 46]",
    ];
    for (error, part) in errors.into_iter().zip(expected) {
        let text = Error::from(error).to_string();
        assert!(text.contains(part), "{text:?} lacks {part:?}");
        assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
    }
}
