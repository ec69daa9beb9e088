//! The binary's contract with scripts: a bad configuration is refused before any port is
//! bound, with every problem named and exit code 64.

use std::process::Command;

#[test]
fn bad_configuration_exits_64_naming_every_problem() {
    let output = Command::new(env!("CARGO_BIN_EXE_nordstern"))
        .args([
            "serve",
            "--services",
            "billing",
            "--database-url",
            "mysql://nope",
        ])
        .env_remove("NORDSTERN_CONFIG")
        .output()
        .unwrap_or_else(|error| panic!("cannot run nordstern: {error}"));
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("services:"), "{stderr}");
    assert!(stderr.contains("database_url:"), "{stderr}");
}

#[test]
fn help_explains_every_serve_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_nordstern"))
        .args(["serve", "--help"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run nordstern: {error}"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config",
        "--services",
        "--listen",
        "--data-dir",
        "--database-url",
        "--redis-url",
        "--otlp-endpoint",
        "--log",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn a_service_without_its_dependencies_is_refused_before_binding() {
    let output = Command::new(env!("CARGO_BIN_EXE_nordstern"))
        .args(["serve", "--services", "survey", "--listen", "127.0.0.1:0"])
        .env_remove("NORDSTERN_CONFIG")
        .env_remove("NORDSTERN_ENDPOINTS__ACCOUNTS")
        .output()
        .unwrap_or_else(|error| panic!("cannot run nordstern: {error}"));
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("endpoints.accounts"), "{stderr}");
}

fn nordstern(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nordstern"));
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NORDSTERN_") {
            command.env_remove(name);
        }
    }
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run nordstern: {error}"))
}

/// `token create`, `list` and `revoke` work on the store of a data directory with no
/// server running, as an operator bootstraps the first admin token.
#[test]
fn tokens_are_created_listed_and_revoked_without_a_server() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().to_str().unwrap_or_default();
    let created = nordstern(&[
        "token",
        "create",
        "--name",
        "crm sync",
        "--scope",
        "scores:read",
        "--expires-in",
        "90d",
        "--data-dir",
        data,
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(secret.starts_with("nst_") && secret.len() == 76, "{secret}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("shown only now"));

    let json = nordstern(&[
        "token",
        "create",
        "--name",
        "pipeline",
        "--scope",
        "usage:write",
        "--json",
        "--data-dir",
        data,
    ]);
    let value: serde_json::Value =
        serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        value["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("nst_"))
    );
    assert_eq!(value["scopes"], serde_json::json!(["usage:write"]));
    let pipeline_id = value["tokenId"].as_str().unwrap_or_default().to_owned();

    let listed = nordstern(&["token", "list", "--data-dir", data]);
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        table.contains("crm sync") && table.contains("pipeline"),
        "{table}"
    );
    assert!(
        !table.contains(&secret),
        "a listing shows a secret: {table}"
    );

    let revoked = nordstern(&["token", "revoke", &pipeline_id, "--data-dir", data]);
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("revoked"));
    let again = nordstern(&["token", "revoke", &pipeline_id, "--data-dir", data]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already revoked"));
    let live = nordstern(&["token", "list", "--data-dir", data]);
    assert!(!String::from_utf8_lossy(&live.stdout).contains("pipeline"));
    let all = nordstern(&["token", "list", "--all", "--data-dir", data]);
    assert!(String::from_utf8_lossy(&all.stdout).contains("pipeline"));

    let bad = nordstern(&[
        "token",
        "create",
        "--name",
        "x",
        "--scope",
        "scores:delete",
        "--data-dir",
        data,
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("scopes[0]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
