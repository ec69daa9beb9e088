use super::*;

#[test]
fn defaults_are_valid() {
    assert_eq!(
        Config::default().validate(&[Role::Accounts]).ok(),
        Some(vec![Role::Accounts])
    );
}

#[test]
fn toml_overrides_defaults_and_unknown_keys_are_refused() {
    let config =
        Config::from_toml("services = \"accounts\"\n[grpc]\nlisten_addr = \"0.0.0.0:7000\"\n");
    let config = config.map_err(|e| e.to_string());
    assert_eq!(config.as_ref().map(|c| c.grpc.listen_addr.port()), Ok(7000));
    assert!(Config::from_toml("[grpc]\nlisten_adr = \"0.0.0.0:7000\"\n").is_err());
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let mut config = Config {
        services: "billing".to_owned(),
        database_url: Some("mysql://x".to_owned()),
        ..Config::default()
    };
    config.accounts.tier_a_share = 0.99;
    config.endpoints.usage = Some("not a url".to_owned());
    let problems = config
        .validate(&[Role::Accounts])
        .err()
        .map(|e| e.problems)
        .unwrap_or_default();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("services:")));
    assert!(problems.iter().any(|p| p.starts_with("endpoints.usage")));
}

#[test]
fn cli_overrides_win_over_file() {
    let dir = std::env::temp_dir().join(format!("nordstern-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let file = dir.join("nordstern.toml");
    std::fs::write(
        &file,
        "services = \"accounts\"\ndata_dir = \"/from/file\"\n",
    )
    .ok();
    let overrides = CliOverrides {
        data_dir: Some(PathBuf::from("/from/cli")),
        ..CliOverrides::default()
    };
    let config = Config::load(Some(&file), &overrides).map_err(|e| e.to_string());
    std::fs::remove_dir_all(&dir).ok();
    let config = config.unwrap_or_default();
    assert_eq!(config.data_dir, PathBuf::from("/from/cli"));
    assert_eq!(config.services, "accounts");
}
#[test]
fn redis_url_is_layered_and_checked_by_the_client() {
    let config =
        Config::from_toml("redis_url = \"redis://127.0.0.1:6380/2\"\n").map_err(|e| e.to_string());
    assert_eq!(
        config.as_ref().map(|c| c.redis_url.as_deref()),
        Ok(Some("redis://127.0.0.1:6380/2"))
    );
    assert!(
        config
            .map(|c| c.validate(&[Role::Accounts]).is_ok())
            .unwrap_or(false)
    );
    let overrides = CliOverrides {
        redis_url: Some("redis://from-cli:6379".to_owned()),
        ..CliOverrides::default()
    };
    let config = Config::load(None, &overrides).map_err(|e| e.to_string());
    assert_eq!(
        config.map(|c| c.redis_url),
        Ok(Some("redis://from-cli:6379".to_owned()))
    );
    for bad in [
        "http://127.0.0.1:6379",
        "rediss://127.0.0.1:6379",
        "not a url",
    ] {
        let config = Config {
            redis_url: Some(bad.to_owned()),
            ..Config::default()
        };
        let problems = config
            .validate(&[Role::Accounts])
            .err()
            .map(|e| e.problems)
            .unwrap_or_default();
        assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        assert!(problems[0].starts_with("redis_url: "), "{problems:?}");
    }
}

#[test]
fn debug_hides_passwords_in_urls() {
    let config = Config {
        database_url: Some("postgres://app:pg-secret@db:5432/nordstern".to_owned()),
        redis_url: Some("redis://:redis-secret@cache:6379/0".to_owned()),
        ..Config::default()
    };
    let debug = format!("{config:?}");
    assert!(!debug.contains("secret"), "{debug}");
    assert!(
        debug.contains("postgres://app:<redacted>@db:5432/nordstern"),
        "{debug}"
    );
    assert!(
        debug.contains("redis://:<redacted>@cache:6379/0"),
        "{debug}"
    );
    assert_eq!(redact_password("redis://cache:6379"), "redis://cache:6379");
    assert_eq!(redact_password("redis://user@cache"), "redis://user@cache");
    assert_eq!(redact_password("garbage:secret@x"), "<redacted>");
}

#[test]
fn the_track_mapping_of_the_readme_reads_and_bad_rules_are_named() {
    let config = Config::from_toml(
        r#"
[usage.track]
account_property = "accountId"
events = [
  { event = "Signed In",       kind = "login" },
  { event = "Report Exported", kind = "feature_used", feature = "reports" },
  { event = "Feature Used",    kind = "feature_used", feature_property = "feature" },
  { event = "Sync Completed",  kind = "integration_sync" },
  { event = "Ticket Opened",   kind = "ticket_opened", ticket_property = "ticketId" },
]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mapping = config.usage.track.mapping().unwrap_or_default();
    assert_eq!(
        mapping
            .map("Report Exported", |_| None)
            .map(|m| m.feature_key),
        Some("reports".to_owned())
    );
    let bad = TrackConfig {
        account_property: None,
        events: vec![TrackEventConfig {
            event: "Clicked".to_owned(),
            kind: "click".to_owned(),
            feature: None,
            feature_property: None,
            ticket_property: None,
        }],
    };
    let mut config = Config::default();
    config.usage.track = bad;
    config.usage.pseudonym_key = Some("k".repeat(32));
    let problems = config
        .validate(&[Role::Usage])
        .err()
        .map(|e| e.problems)
        .unwrap_or_default();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("usage.track.events[0].kind")),
        "{problems:?}"
    );
}
