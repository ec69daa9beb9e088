//! The CSM's board: over plain HTTP in every combination (who sees which book, sign-in,
//! both languages, working an alert, form posts from elsewhere refused), and in real
//! headless Chromium (sign in, the 360's charts, a colour turning red on an open board
//! without a reload, an alert leaving the queue, the language switch).

use std::time::{Duration, Instant};

use nordstern_auth::tokens::NewToken;
use nordstern_proto::scoring::v1 as scoring_pb;
use nordstern_tests::{
    Backend, TestSuite, Topology,
    http::{self, HttpResponse},
    webdriver::Browser,
};

use crate::in_every_combination;
use crate::scoring::{NewAccount, create, recompute_all, scoring, steady_usage};
use crate::support::{accounts, create_csm};

in_every_combination!(the_board_shows_each_viewer_their_book);

fn cookie(token: &str) -> String {
    format!("nordstern_token={token}")
}

async fn get(suite: &TestSuite, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http::send(suite.http_addr(), "GET", path, headers, "", "").await
}

async fn post_form(
    suite: &TestSuite,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    http::send(
        suite.http_addr(),
        "POST",
        path,
        headers,
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

/// Signs in with `token` once the servers have loaded it (tokens made in the store are
/// picked up within `auth.refresh_interval_ms`); the session cookie's header value.
async fn sign_in(suite: &TestSuite, token: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = post_form(suite, "/signin", &[], &format!("token={token}")).await;
        if response.status == 303 {
            let set = response.header("set-cookie").unwrap_or_default().to_owned();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Strict"),
                "{set}"
            );
            assert_eq!(response.header("location"), Some("/"));
            return cookie(token);
        }
        assert!(
            Instant::now() < deadline,
            "sign-in: {} {}",
            response.status,
            response.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Company {
    anna_csm: String,
    ben_csm: String,
    mine: String,
    theirs: String,
    orphan: String,
}

async fn company(suite: &TestSuite) -> Company {
    let mut client = accounts(suite).await;
    let anna = create_csm(&mut client, "Anna Schmidt", 50).await;
    let ben = create_csm(&mut client, "Ben Ohl", 50).await;
    let mine = create(
        &mut client,
        NewAccount {
            name: "Nordlicht GmbH",
            csm_id: &anna.csm_id,
            renewal_in_days: 30,
            ..NewAccount::default()
        },
    )
    .await;
    let theirs = create(
        &mut client,
        NewAccount {
            name: "Fremde AG",
            csm_id: &ben.csm_id,
            ..NewAccount::default()
        },
    )
    .await;
    let orphan = create(
        &mut client,
        NewAccount {
            name: "Ohne CSM KG",
            start_days_ago: 2,
            ..NewAccount::default()
        },
    )
    .await;
    steady_usage(suite, &mine, &[]).await;
    recompute_all(&mut scoring(suite).await).await;
    Company {
        anna_csm: anna.csm_id,
        ben_csm: ben.csm_id,
        mine,
        theirs,
        orphan,
    }
}

async fn csm_token(suite: &TestSuite, csm_id: &str, scopes: &[&str]) -> String {
    suite
        .create_token_with(NewToken {
            name: "anna on the board".to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            csm_id: csm_id.to_owned(),
            ..NewToken::default()
        })
        .await
}

fn shows_a_colour_word(body: &str) -> bool {
    ["GREEN", "YELLOW", "RED"]
        .iter()
        .any(|word| body.contains(&format!("<span class=\"word\">{word}</span>")))
}

async fn the_board_shows_each_viewer_their_book(suite: &TestSuite) {
    let company = company(suite).await;

    // No token, a wrong token: the sign-in page, never data.
    for headers in [vec![], vec![("Cookie", "nordstern_token=nst_0000")]] {
        let page = get(suite, "/", &headers).await;
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains("name=\"token\""), "{}", page.body);
        assert!(!page.body.contains("Nordlicht"));
    }
    let wrong = post_form(suite, "/signin", &[], "token=nst_wrong").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("role=\"alert\""));

    // A token tied to Anna, without accounts:read: her book, and only hers.
    let anna = csm_token(suite, &company.anna_csm, &["scores:read", "alerts:write"]).await;
    let anna = sign_in(suite, &anna).await;
    let as_anna = [
        ("Cookie", anna.as_str()),
        ("Accept-Language", "en-GB,en;q=0.9"),
    ];
    let board = get(suite, "/", &as_anna).await;
    assert_eq!(board.status, 200, "{}", board.body);
    assert!(board.body.contains("Nordlicht GmbH") && !board.body.contains("Fremde AG"));
    assert!(shows_a_colour_word(&board.body), "{}", board.body);
    assert!(board.body.contains("class=\"sparkline\""));
    assert!(board.body.contains("Quota attainment"));
    for refused in [
        format!("/?csm={}", company.ben_csm),
        "/risk?csm=all".to_owned(),
        format!("/accounts/{}", company.theirs),
    ] {
        let page = get(suite, &refused, &as_anna).await;
        assert_eq!(page.status, 403, "{refused}: {}", page.body);
        assert!(!page.body.contains("Fremde AG"));
    }
    let account = get(suite, &format!("/accounts/{}", company.mine), &as_anna).await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(account.body.contains("Health components"));
    assert!(
        account.body.matches("role=\"img\"").count() >= 3,
        "{}",
        account.body
    );
    let risk = get(suite, "/risk", &as_anna).await;
    assert!(risk.body.contains("Nordlicht GmbH") && !risk.body.contains("Fremde AG"));
    let renewals = get(suite, "/renewals", &as_anna).await;
    assert!(
        renewals.body.contains("Nordlicht GmbH"),
        "{}",
        renewals.body
    );

    // German from the browser's preference.
    let german = get(
        suite,
        "/",
        &[
            ("Cookie", anna.as_str()),
            ("Accept-Language", "de-DE,de;q=0.9"),
        ],
    )
    .await;
    assert!(german.body.contains("<html lang=\"de\">") && german.body.contains("Offene Warnungen"));
    assert!(["GRÜN", "GELB", "ROT"].iter().any(|w| {
        german
            .body
            .contains(&format!("<span class=\"word\">{w}</span>"))
    }));

    // An administrator sees the company's queue and works an alert from it.
    let admin = sign_in(suite, suite.admin_token()).await;
    let as_admin = [("Cookie", admin.as_str())];
    let queue = get(suite, "/alerts?csm=all", &as_admin).await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.body.contains("Ohne CSM KG"), "{}", queue.body);
    let alert = scoring(suite)
        .await
        .list_alerts(scoring_pb::ListAlertsRequest {
            account_id: company.orphan.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("alerts: {s}"))
        .into_inner()
        .alerts
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no alert for the account without CSM"));
    let action = format!("/alerts/{}/acknowledge", alert.alert_id);
    // Anna may work alerts, but only her book's.
    let not_hers = post_form(suite, &action, &[("Cookie", anna.as_str())], "back=/alerts").await;
    assert_eq!(not_hers.status, 403, "{}", not_hers.body);
    let forged = post_form(
        suite,
        &action,
        &[
            ("Cookie", admin.as_str()),
            ("Origin", "https://evil.example"),
        ],
        "back=/alerts",
    )
    .await;
    assert_eq!(forged.status, 403);
    let done = post_form(
        suite,
        &action,
        &[("Cookie", admin.as_str())],
        "back=%2Falerts%3Fcsm%3Dall",
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), Some("/alerts?csm=all"));
    let after = get(suite, "/alerts?csm=all", &as_admin).await;
    let (queue_part, acknowledged_part) = after
        .body
        .split_once("id=\"acknowledged\"")
        .unwrap_or_else(|| panic!("no acknowledged table: {}", after.body));
    let marker = format!("data-alert=\"{}\"", alert.alert_id);
    assert!(!queue_part.contains(&marker) && acknowledged_part.contains(&marker));

    let out = post_form(suite, "/signout", &[("Cookie", admin.as_str())], "").await;
    assert_eq!(out.status, 303);
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
}

/// The board in headless Chromium, on SQLite in one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_in_a_browser() {
    let suite = TestSuite::start_with(Backend::Sqlite, Topology::OneServer, |config| {
        config.auth.refresh_interval_ms = 100;
    })
    .await;
    let company = company(&suite).await;
    let token = csm_token(
        &suite,
        &company.anna_csm,
        &["scores:read", "alerts:write", "scores:write"],
    )
    .await;
    // The token is loaded within the refresh interval.
    sign_in(&suite, &token).await;
    let base = format!("http://{}", suite.http_addr());
    let browser = Browser::start("en-US").await;
    let long = Duration::from_secs(20);

    // No token: the sign-in page; a wrong one: the sign-in page again, no data.
    browser.go(&format!("{base}/")).await;
    let field = browser.wait_for("input[name=token]", long).await;
    browser.type_into(&field, "nst_not_a_real_token").await;
    browser
        .click(&browser.wait_for("form.signin button", long).await)
        .await;
    browser.wait_for("p.error[role=alert]", long).await;
    assert!(!browser.source().await.contains("Nordlicht"));

    // Sign in: the portfolio, with the traffic light in words.
    let field = browser.wait_for("input[name=token]", long).await;
    browser.type_into(&field, &token).await;
    browser
        .click(&browser.wait_for("form.signin button", long).await)
        .await;
    let row = format!("tr[data-account=\"{}\"]", company.mine);
    browser.wait_for(&row, long).await;
    let word = browser
        .text(&browser.wait_for(&format!("{row} .badge .word"), long).await)
        .await;
    assert!(["GREEN", "YELLOW"].contains(&word.as_str()), "{word}");

    // The 360: charts and components.
    browser
        .click(&browser.wait_for(&format!("{row} th a"), long).await)
        .await;
    browser.wait_for("table.components", long).await;
    assert!(browser.find_all("figure.chart svg").await.len() >= 3);
    assert_eq!(browser.find_all("table.components tbody tr").await.len(), 9);

    // Live: the account turns red while the board is open, and the row follows within
    // 2 s without a reload.
    browser.go(&format!("{base}/")).await;
    browser.wait_for("body[data-live-ready=true]", long).await;
    browser
        .execute("window.stillTheSamePage = true; return true;")
        .await;
    let mut scores = scoring(&suite).await;
    for (green, yellow) in [(1.0, 0.5), (99.0, 98.0)] {
        scores
            .update_scoring_config(crate::webhooks::thresholds(green, yellow))
            .await
            .unwrap_or_else(|s| panic!("thresholds: {s}"));
    }
    let changed = Instant::now();
    scores
        .recompute_health_score(scoring_pb::RecomputeHealthScoreRequest {
            account_id: company.mine.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("recompute: {s}"));
    browser
        .wait_for(
            &format!("{row} .badge[data-color=red]"),
            Duration::from_secs(2),
        )
        .await;
    let took = changed.elapsed();
    assert!(took <= Duration::from_secs(2), "{took:?}");
    assert_eq!(
        browser
            .execute("return window.stillTheSamePage === true;")
            .await,
        serde_json::json!(true)
    );
    assert_eq!(
        browser
            .text(&browser.wait_for(&format!("{row} .badge .word"), long).await)
            .await,
        "RED"
    );

    // The colour drop raised an alert: acknowledge it, and it leaves the queue.
    browser.go(&format!("{base}/alerts")).await;
    let queued = format!("#queue tr[data-account=\"{}\"]", company.mine);
    browser.wait_for(&queued, long).await;
    let before = browser.find_all(&queued).await.len();
    browser
        .click(
            &browser
                .wait_for(&format!("{queued} button[data-action=acknowledge]"), long)
                .await,
        )
        .await;
    let deadline = Instant::now() + long;
    while browser.find_all(&queued).await.len() >= before {
        assert!(Instant::now() < deadline, "the alert stayed in the queue");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The language switch.
    browser.click(&browser.wait_for("a.lang", long).await).await;
    browser.wait_for("html[lang=de]", long).await;
    assert_eq!(
        browser.text(&browser.wait_for("main h1", long).await).await,
        "Warteschlange der Warnungen"
    );

    browser.quit().await;
    suite.stop().await;
}
