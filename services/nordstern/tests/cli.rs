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
