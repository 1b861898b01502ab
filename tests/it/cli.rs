//! The command line's promises: exit 2 naming the key on bad configuration
//! or a missing secret, before serving; secrets never printed.

use std::process::Command;

use crate::helpers::Scratch;

/// Runs the binary with a clean environment plus `env`; (exit code, stdout+stderr).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stripe-mirror"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("STRIPE_API_BASE")
        .env_remove("STRIPE_MIRROR_LISTEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run stripe-mirror");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn missing_webhook_secret_exits_2_naming_the_key_before_serving() {
    let (code, text) = run(&["serve"], &[("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db")]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("STRIPE_WEBHOOK_SECRET"), "{text}");
    assert!(!text.contains("hunter2"), "the database password leaked: {text}");
}

#[test]
fn bad_config_file_exits_2_naming_the_key() {
    let scratch = Scratch::new("cli");
    let dir = &scratch.dir;
    let path = dir.join("config.toml");
    std::fs::write(&path, "[webhook]\ntolerance_secs = \"five minutes\"\n").unwrap();
    let (code, text) = run(&["--config", path.to_str().unwrap(), "migrate"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("`webhook.tolerance_secs`"), "{text}");
    std::fs::write(&path, "[log]\nformat = \"xml\"\n").unwrap();
    let (code, text) = run(&["--config", path.to_str().unwrap(), "migrate"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("log.format"), "{text}");
}

#[test]
fn check_config_redacts_secrets() {
    let (code, text) = run(
        &["check-config"],
        &[
            ("DATABASE_URL", "postgres://u:hunter2@localhost/db"),
            ("STRIPE_SECRET_KEY", "sk_test_supersecret"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_supersecret"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    for secret in ["hunter2", "sk_test_supersecret", "whsec_supersecret"] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
}

#[test]
fn usage_error_exits_2() {
    let (code, _) = run(&["no-such-command"], &[]);
    assert_eq!(code, 2);
}
