//! Fuzzing of every parser of untrusted input, driven by proptest (stable toolchain): the
//! state file loader, processing-failed objects (gzip, truncated, bad UTF-8), Firehose
//! error-log events, IAM policy parse + evaluate, `Retry-After`, and the TOML + environment
//! configuration (whose errors must never quote a secret). None may panic.
//!
//! `cargo test` runs a short deterministic pass (64 cases each). The long run:
//! `PROPTEST_CASES=100000 cargo test --test integration fuzz::`.
//!
//! (A long run once flagged `cannot read /nonexistent/S3CRET`: the *path* of a secret file is
//! quoted on purpose, to say which file is missing; the oracle's secret now lives only in
//! values.)

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use firehose_sentinel::alert::parse_retry_after;
use firehose_sentinel::config;
use firehose_sentinel::diagnose::checks::logging_errors;
use firehose_sentinel::diagnose::checks::s3_processing_failed::newest_record;
use firehose_sentinel::diagnose::policy::{
    evaluate, Context, Policy, PolicyKind, Principal, Request,
};
use firehose_sentinel::state::StateStore;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// JSON-ish text: real fragments of the shapes under test, shuffled and cut.
fn jsonish(fragments: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(fragments).prop_map(str::to_string),
            "[ -~]{0,12}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

const STATE: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"version\"",
    "1",
    "2",
    "99",
    "\"incidents\"",
    "\"outbox\"",
    "\"rejected\"",
    "\"s\"",
    "\"id\"",
    "\"stream\"",
    "\"started_at\"",
    "\"2026-11-26T03:00:00Z\"",
    "\"health\"",
    "\"failing\"",
    "\"seq\"",
    "\"firing_sent\"",
    "true",
    "null",
    "\"alert\"",
    "\"sink\"",
    "\"last_firing\"",
    "\"severity\"",
    "\"warning\"",
];
const POLICY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"Version\"",
    "\"2012-10-17\"",
    "\"Statement\"",
    "\"Effect\"",
    "\"Allow\"",
    "\"Deny\"",
    "\"Action\"",
    "\"NotAction\"",
    "\"s3:*\"",
    "\"*\"",
    "\"Resource\"",
    "\"NotResource\"",
    "\"arn:aws:s3:::b/*\"",
    "\"Principal\"",
    "\"NotPrincipal\"",
    "\"AWS\"",
    "\"Condition\"",
    "\"StringNotEquals\"",
    "\"ForAllValues:StringLike\"",
    "\"IpAddress\"",
    "\"aws:SourceIp\"",
    "\"10.0.0.0/8\"",
    "\"Null\"",
    "\"aws:PrincipalOrgID\"",
    "\"Bool\"",
    "\"NumericLessThan\"",
    "\"Sid\"",
    "\"${aws:username}\"",
    "\"?*\"",
];
const LOG: &[&str] = &[
    "{",
    "}",
    ",",
    ":",
    "\"errorCode\"",
    "\"S3.AccessDenied\"",
    "\"Lambda.\"",
    "\"errorMessage\"",
    "\"message\"",
    "\"deliveryStreamARN\"",
    "null",
    "1e400",
    "\"\\u0000\"",
];
const TOML: &[&str] = &[
    "[streams]\n",
    "names = [\"s\"]\n",
    "[aws]\n",
    "timeout = \"",
    "10s",
    "999999999999h",
    "\"\n",
    "[[alerts.webhook]]\n",
    "name = \"w\"\n",
    "url = \"",
    "https://u:S3CRET@x/h",
    "url_file = \"/nonexistent/secret-file\"\n",
    "secret = \"S3CRET\"\n",
    "[schedule]\n",
    "poll = \"",
    "0 */5 * * * *",
    "period_seconds = ",
    "-1",
    "60",
    "\n",
    "[[alerts.slack]]\n",
    "webhook_url = \"S3CRET\"\n",
    "headers = { a = \"S3CRET\u{7}\" }\n",
    "[server]\n",
    "auth_token = \"S3CRET\"\n",
    "=",
    "\"",
    "[",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fuzz_state_file_loader(text in jsonish(STATE)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, &text).unwrap();
        // Loads, moves aside, or refuses with a message naming the path: never panics.
        match StateStore::open(&path) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().contains("state.json"), "{e}"),
        }
    }

    #[test]
    fn fuzz_processing_failed_objects(
        text in jsonish(LOG),
        gzip in any::<bool>(),
        cut in 0usize..64,
        noise in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut bytes = text.into_bytes();
        bytes.extend(noise);
        if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            bytes = gz.finish().unwrap();
        }
        let keep = bytes.len().saturating_sub(cut);
        let _ = newest_record(&bytes[..keep]);
    }

    #[test]
    fn fuzz_error_log_events(text in jsonish(LOG)) {
        if let Some((code, _)) = logging_errors::parse(&text) {
            // Every parsed code maps (maybe to nothing) without panicking.
            let _ = logging_errors::implicated(&code);
        }
    }

    #[test]
    fn fuzz_policy_parse_and_evaluate(
        doc in jsonish(POLICY),
        action in prop::sample::select(vec!["s3:PutObject", "kms:Decrypt", "", "*"]),
        resource in prop::sample::select(vec!["arn:aws:s3:::b/x", "*", "", "arn:aws:kms:::key/k"]),
    ) {
        if let Ok(p) = Policy::parse(&doc) {
            let ctx = Context::new()
                .with("aws:SourceIp", "10.1.2.3")
                .with_unknown("aws:PrincipalOrgID");
            let who = Principal::role("arn:aws:iam::111122223333:role/r");
            for kind in [PolicyKind::Identity, PolicyKind::Resource] {
                let _ = evaluate(&[(&p, kind)], &Request::new(action, resource, &ctx).with_principal(&who));
            }
        }
    }

    #[test]
    fn fuzz_retry_after(v in prop_oneof![
        "[0-9]{0,30}",
        "[ -~]{0,40}",
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
    ]) {
        let _ = parse_retry_after(&v);
    }

    #[test]
    fn fuzz_config_never_quotes_a_secret(text in jsonish(TOML), env_value in "[ -~]{0,12}") {
        let env: HashMap<String, String> = [
            ("FIREHOSE_SENTINEL__AWS__TIMEOUT".to_string(), env_value),
        ].into();
        match config::load_from_str(&text, Path::new("fuzz.toml"), &env) {
            Ok(s) => prop_assert!(!s.redacted_json().contains("S3CRET")),
            Err(e) => prop_assert!(!e.to_string().contains("S3CRET"), "{e}"),
        }
    }
}
