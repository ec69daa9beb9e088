//! The README's screenshots of the board, taken from a running demo in headless Chromium.
//! A tool, not a check: it runs only when asked (`--ignored`), never in CI.

use std::time::Duration;

use nordstern_tests::webdriver::Browser;

/// The README's screenshots, from a running demo: `cargo run --release -p nordstern --
/// demo` in one terminal, then `cargo test -p nordstern-tests --test
/// board_screenshots -- --ignored` (`NORDSTERN_BOARD_URL`, `NORDSTERN_BOARD_TOKEN_FILE` to point elsewhere).
/// Writes `docs/board-portfolio.png` and `docs/board-account.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running demo"]
async fn board_screenshots() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let base =
        std::env::var("NORDSTERN_BOARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let token_file = std::env::var("NORDSTERN_BOARD_TOKEN_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("data/admin.token"));
    let token = std::fs::read_to_string(&token_file)
        .unwrap_or_else(|e| panic!("{}: {e}", token_file.display()));
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap_or_else(|e| panic!("{e}"));
    let browser = Browser::start("en-US").await;
    let long = Duration::from_secs(30);
    browser.go(&format!("{base}/signin")).await;
    browser
        .type_into(
            &browser.wait_for("input[name=token]", long).await,
            token.trim(),
        )
        .await;
    browser
        .click(&browser.wait_for("form.signin button", long).await)
        .await;
    browser.wait_for("table#portfolio tbody tr", long).await;
    std::fs::write(docs.join("board-portfolio.png"), browser.screenshot().await)
        .unwrap_or_else(|e| panic!("{e}"));
    browser
        .click(
            &browser
                .wait_for("table#portfolio tbody tr th a", long)
                .await,
        )
        .await;
    browser.wait_for("table.components", long).await;
    browser.resize(1400, 2300).await;
    std::fs::write(docs.join("board-account.png"), browser.screenshot().await)
        .unwrap_or_else(|e| panic!("{e}"));
    browser.quit().await;
}
