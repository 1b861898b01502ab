//! `stripe-mirror endpoint create / check / list` against the simulator's
//! webhook endpoints API: what create makes (and does not make twice), where
//! the secret goes (and where it never goes), each problem check names.

use std::collections::BTreeSet;

use serde_json::Value;
use stripe_mirror::push::event::applied_event_types;

use crate::helpers::Scratch;

const URL: &str = "https://mirror.example.com/webhooks/stripe";
const PINNED: &str = "2026-08-26.dahlia";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

async fn sim() -> stripe_sim::Sim {
    stripe_sim::Sim::start(stripe_sim::SimConfig::default()).await.expect("simulator starts")
}

/// Runs the binary against `sim` (its key unless `env` sets another) with a
/// clean environment plus `env`. Async, so the simulator on this runtime
/// keeps answering while the command runs.
async fn mirror(sim: &stripe_sim::Sim, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stripe-mirror"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("STRIPE_MIRROR_LISTEN")
        .env_remove("RUST_LOG")
        .env("STRIPE_API_BASE", sim.base_url())
        .env("STRIPE_SECRET_KEY", sim.api_key());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run stripe-mirror");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An endpoint made straight through the simulator's API, as a person in
/// the Dashboard (or another tool) would; `extra` is more form fields.
async fn made_elsewhere(sim: &stripe_sim::Sim, url: &str, events: &[&str], extra: &str) -> Value {
    let mut form = format!("url={url}");
    for e in events {
        form.push_str(&format!("&enabled_events[]={e}"));
    }
    form.push_str(extra);
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/webhook_endpoints", sim.base_url()))
        .bearer_auth(sim.api_key())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("simulator answers");
    assert!(answer.status().is_success(), "{}", answer.status());
    let body = answer.bytes().await.expect("a body");
    serde_json::from_slice(&body).expect("an endpoint")
}

async fn disable(sim: &stripe_sim::Sim, id: &str) {
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/webhook_endpoints/{id}", sim.base_url()))
        .bearer_auth(sim.api_key())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("disabled=true")
        .send()
        .await
        .expect("simulator answers");
    assert!(answer.status().is_success(), "{}", answer.status());
}

fn at_url(sim: &stripe_sim::Sim, url: &str) -> Vec<stripe_sim::WebhookEndpoint> {
    sim.webhook_endpoints().into_iter().filter(|e| e.url == url).collect()
}

fn applied() -> BTreeSet<String> {
    applied_event_types().into_iter().map(str::to_string).collect()
}

#[tokio::test]
async fn create_writes_the_secret_to_a_0600_file_and_makes_the_endpoint_the_mirror_needs() {
    let sim = sim().await;
    let scratch = Scratch::new("endpoint-create");
    let path = scratch.dir.join("webhook_secret");
    let out = mirror(&sim, &["endpoint", "create", "--url", URL, "--secret-file", path.to_str().unwrap()], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());

    let eps = at_url(&sim, URL);
    assert_eq!(eps.len(), 1, "{eps:?}");
    let ep = &eps[0];
    assert_eq!(ep.api_version.as_deref(), Some(PINNED));
    assert_eq!(ep.enabled_events.iter().cloned().collect::<BTreeSet<_>>(), applied());
    assert_eq!(ep.metadata.get("managed_by").map(String::as_str), Some("stripe-mirror"));
    assert!(ep.description.is_some());
    assert_eq!(ep.status, "enabled");

    let written = std::fs::read_to_string(&path).expect("secret file");
    assert_eq!(written.trim(), ep.secrets[0], "the file holds the endpoint's signing secret");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    assert!(!out.text().contains(&ep.secrets[0]), "the secret was printed: {}", out.text());
    assert!(out.stdout.contains(&ep.id), "{}", out.stdout);
}

#[tokio::test]
async fn the_secret_never_appears_in_the_log_when_a_file_is_given() {
    let sim = sim().await;
    let scratch = Scratch::new("endpoint-log");
    let path = scratch.dir.join("webhook_secret");
    let args = ["endpoint", "create", "--url", URL, "--secret-file", path.to_str().unwrap()];
    for format in ["pretty", "json"] {
        let _ = std::fs::remove_file(&path);
        for ep in sim.webhook_endpoints() {
            sim.remove_webhook_endpoint(&ep.id).expect("remove");
        }
        let config = scratch.dir.join(format!("{format}.toml"));
        std::fs::write(&config, format!("[log]\nformat = \"{format}\"\nlevel = \"debug\"\n")).unwrap();
        let mut with_config = vec!["--config", config.to_str().unwrap()];
        with_config.extend(args);
        let out = mirror(&sim, &with_config, &[]).await;
        assert_eq!(out.code, 0, "{}", out.text());
        let secret = at_url(&sim, URL)[0].secrets[0].clone();
        assert!(!out.stderr.is_empty(), "debug logging wrote nothing, so this proves nothing");
        assert!(!out.stderr.contains(&secret), "the secret is in the {format} log: {}", out.stderr);
        assert!(!out.stdout.contains(&secret), "the secret was printed: {}", out.stdout);
    }
}

#[tokio::test]
async fn create_without_a_file_prints_the_secret_once_on_stdout() {
    let sim = sim().await;
    let out = mirror(&sim, &["endpoint", "create", "--url", URL], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    let secret = at_url(&sim, URL)[0].secrets[0].clone();
    assert_eq!(out.stdout.matches(&secret).count(), 1, "{}", out.stdout);
    assert!(!out.stderr.contains(&secret), "the secret is in the log: {}", out.stderr);
}

#[tokio::test]
async fn create_twice_for_one_url_makes_one_endpoint() {
    let sim = sim().await;
    let scratch = Scratch::new("endpoint-twice");
    let first = scratch.dir.join("first");
    let second = scratch.dir.join("second");
    let out = mirror(&sim, &["endpoint", "create", "--url", URL, "--secret-file", first.to_str().unwrap()], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    let out = mirror(&sim, &["endpoint", "create", "--url", URL, "--secret-file", second.to_str().unwrap()], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(at_url(&sim, URL).len(), 1);
    assert!(out.stdout.contains("already") && out.stdout.contains("nothing created"), "{}", out.stdout);
    assert!(!second.exists(), "no secret to write, yet a file was made");
}

#[tokio::test]
async fn create_without_url_exits_2() {
    let sim = sim().await;
    let out = mirror(&sim, &["endpoint", "create"], &[]).await;
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("--url"), "{}", out.stderr);
    assert!(sim.webhook_endpoints().is_empty());
}

#[tokio::test]
async fn create_refuses_to_overwrite_a_secret_file_and_creates_nothing() {
    let sim = sim().await;
    let scratch = Scratch::new("endpoint-exists");
    let path = scratch.dir.join("webhook_secret");
    std::fs::write(&path, "whsec_in_use\n").unwrap();
    let out = mirror(&sim, &["endpoint", "create", "--url", URL, "--secret-file", path.to_str().unwrap()], &[]).await;
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("--secret-file"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "whsec_in_use\n");
    assert!(sim.webhook_endpoints().is_empty(), "an endpoint whose secret went nowhere was created");
}

#[tokio::test]
async fn create_adds_the_missing_event_types_to_an_endpoint_at_the_pinned_version() {
    let sim = sim().await;
    let made =
        made_elsewhere(&sim, URL, &["customer.created", "charge.succeeded"], &format!("&api_version={PINNED}")).await;
    let out = mirror(&sim, &["endpoint", "create", "--url", URL], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    let eps = at_url(&sim, URL);
    assert_eq!(eps.len(), 1, "a second endpoint was made: {eps:?}");
    let events: BTreeSet<String> = eps[0].enabled_events.iter().cloned().collect();
    assert!(events.is_superset(&applied()), "{events:?}");
    assert!(events.contains("charge.succeeded"), "an event type someone chose was dropped");
    assert!(!out.stdout.contains("whsec_"), "{}", out.stdout);
    assert!(out.stdout.contains(made["id"].as_str().unwrap()), "{}", out.stdout);
}

#[tokio::test]
async fn create_makes_a_new_endpoint_beside_one_of_another_version_and_says_to_delete_it() {
    let sim = sim().await;
    let old = sim.add_webhook_endpoint(URL, vec!["whsec_old".into()]);
    let out = mirror(&sim, &["endpoint", "create", "--url", URL], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(at_url(&sim, URL).len(), 2);
    assert!(out.stdout.contains(&format!("then delete {}", old.id)), "{}", out.stdout);
    let check = mirror(&sim, &["endpoint", "check", "--url", URL], &[]).await;
    assert_eq!(check.code, 0, "{}", check.text());
    assert!(check.stdout.contains(&old.id), "the old endpoint is not mentioned: {}", check.stdout);
}

#[tokio::test]
async fn check_passes_on_the_endpoint_create_made_using_webhook_public_url() {
    let sim = sim().await;
    let out = mirror(&sim, &["endpoint", "create", "--url", URL], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    let scratch = Scratch::new("endpoint-check");
    let config = scratch.dir.join("config.toml");
    std::fs::write(&config, format!("[webhook]\npublic_url = \"{URL}\"\n")).unwrap();
    let out = mirror(&sim, &["--config", config.to_str().unwrap(), "endpoint", "check"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);
}

#[tokio::test]
async fn check_without_any_url_exits_2_naming_webhook_public_url() {
    let sim = sim().await;
    let scratch = Scratch::new("endpoint-nourl");
    let config = scratch.dir.join("config.toml");
    std::fs::write(&config, "").unwrap();
    let out = mirror(&sim, &["--config", config.to_str().unwrap(), "endpoint", "check"], &[]).await;
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("webhook.public_url"), "{}", out.stderr);
}

#[tokio::test]
async fn check_names_missing_event_types_and_another_api_version() {
    let sim = sim().await;
    let made = made_elsewhere(&sim, URL, &["customer.created"], "&api_version=2025-03-31.basil").await;
    let id = made["id"].as_str().unwrap();
    let out = mirror(&sim, &["endpoint", "check", "--url", URL], &[]).await;
    assert_eq!(out.code, 1, "{}", out.text());
    let problems: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("problem:")).collect();
    assert_eq!(problems.len(), 2, "{}", out.stdout);
    assert!(problems.iter().any(|p| p.contains(id) && p.contains("2025-03-31.basil") && p.contains("cannot change")));
    let missing = problems.iter().find(|p| p.contains("does not send")).expect("missing events named");
    assert!(missing.contains("invoice.paid") && missing.contains("customer.subscription.deleted"), "{missing}");
    assert!(!missing.contains("customer.created,"), "a sent type listed as missing: {missing}");
}

#[tokio::test]
async fn check_names_a_dashboard_endpoint_a_disabled_one_and_none() {
    let sim = sim().await;
    let out = mirror(&sim, &["endpoint", "check", "--url", URL], &[]).await;
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(out.stdout.contains("problem: no webhook endpoint for"), "{}", out.stdout);

    let dashboard = sim.add_webhook_endpoint(URL, vec!["whsec_x".into()]);
    let out = mirror(&sim, &["endpoint", "check", "--url", URL], &[]).await;
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(
        out.stdout.contains(&dashboard.id) && out.stdout.contains("account's default API version"),
        "{}",
        out.stdout
    );
    sim.remove_webhook_endpoint(&dashboard.id).expect("remove");

    let created = mirror(&sim, &["endpoint", "create", "--url", URL], &[]).await;
    assert_eq!(created.code, 0, "{}", created.text());
    let id = at_url(&sim, URL)[0].id.clone();
    disable(&sim, &id).await;
    let out = mirror(&sim, &["endpoint", "check", "--url", URL], &[]).await;
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(out.stdout.contains(&format!("problem: {id} is disabled")), "{}", out.stdout);
}

#[tokio::test]
async fn list_shows_which_endpoints_stripe_mirror_manages() {
    let sim = sim().await;
    let hand = sim.add_webhook_endpoint("https://other.example.com/hook", vec!["whsec_x".into()]);
    let out = mirror(&sim, &["endpoint", "create", "--url", URL], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    let managed = at_url(&sim, URL)[0].id.clone();
    let out = mirror(&sim, &["endpoint", "list"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.text());
    let line = |id: &str| out.stdout.lines().find(|l| l.starts_with(id)).unwrap_or_default().to_string();
    let mine = line(&managed);
    assert!(mine.contains("stripe-mirror") && mine.contains(PINNED) && mine.contains(URL), "{}", out.stdout);
    assert!(mine.contains(&applied().len().to_string()), "{mine}");
    let theirs = line(&hand.id);
    assert!(theirs.contains("account default") && !theirs.contains("stripe-mirror"), "{}", out.stdout);
    assert!(!out.stdout.contains("whsec_"), "{}", out.stdout);
}

#[tokio::test]
async fn a_rejected_key_exits_1_with_the_documented_message() {
    let sim = sim().await;
    for args in [&["endpoint", "list"][..], &["endpoint", "create", "--url", URL], &["endpoint", "check", "--url", URL]]
    {
        let out = mirror(&sim, args, &[("STRIPE_SECRET_KEY", "sk_test_wrong")]).await;
        assert_eq!(out.code, 1, "{args:?}: {}", out.text());
        assert!(out.stderr.contains("STRIPE_SECRET_KEY was rejected by Stripe"), "{}", out.stderr);
        assert!(!out.text().contains("sk_test_wrong"), "the key was printed: {}", out.text());
    }
    assert!(sim.webhook_endpoints().is_empty());
}

#[tokio::test]
async fn a_missing_key_exits_2_naming_stripe_secret_key() {
    let sim = sim().await;
    let out = mirror(&sim, &["endpoint", "list"], &[("STRIPE_SECRET_KEY", "")]).await;
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("STRIPE_SECRET_KEY"), "{}", out.stderr);
}

fn control(sim: &stripe_sim::Sim, key: &str) -> stripe_mirror::stripe::control::Control {
    let config = stripe_mirror::config::StripeConfig { api_base: sim.base_url(), ..Default::default() };
    stripe_mirror::stripe::control::Control::new(&config, &key.to_string().into()).expect("client")
}

#[tokio::test]
async fn the_account_is_the_one_the_key_belongs_to() {
    let sim = sim().await;
    let main = control(&sim, sim.api_key()).account().await.expect("account");
    assert_eq!(main.id, sim.account_id());
    sim.add_other_account_key("sk_test_other", "acct_1OtherAccount0000");
    let other = control(&sim, "sk_test_other").account().await.expect("account");
    assert_eq!(other.id, "acct_1OtherAccount0000");
}

#[tokio::test]
async fn a_restricted_key_may_not_read_the_account_and_a_wrong_key_is_rejected() {
    use stripe_mirror::stripe::control::ControlError;
    let sim = sim().await;
    sim.add_restricted_key("rk_test_restricted");
    let e = control(&sim, "rk_test_restricted").account().await.unwrap_err();
    assert!(matches!(e, ControlError::PermissionDenied { .. }), "{e:?}");
    assert!(!e.is_retryable());
    let e = control(&sim, "sk_test_wrong").account().await.unwrap_err();
    assert!(matches!(e, ControlError::Unauthorized), "{e:?}");
    assert_eq!(e.to_string(), "STRIPE_SECRET_KEY was rejected by Stripe");
}

#[tokio::test]
async fn a_key_without_the_webhook_endpoints_permission_is_told_so() {
    let sim = sim().await;
    sim.add_restricted_key("rk_test_readonly");
    sim.restrict_key("rk_test_readonly", &["/v1/webhook_endpoints"]).expect("restrict");
    let out = mirror(&sim, &["endpoint", "list"], &[("STRIPE_SECRET_KEY", "rk_test_readonly")]).await;
    assert_eq!(out.code, 1, "{}", out.text());
    assert!(out.stderr.contains("may not list webhook endpoints"), "{}", out.stderr);
}
