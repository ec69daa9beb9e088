//! Retries (issue 17, scenario 5): our service clients (what one role uses to call
//! another) retry only idempotent unary calls, only on UNAVAILABLE, at most 3 attempts
//! in all, and never after INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED or
//! FAILED_PRECONDITION. A proxy in front of the accounts service counts every attempt.

use nordstern_accounts::remote::RemoteAccounts;
use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::Role;
use nordstern_tests::{TestSuite, proxy::AccountsProxy};
use tonic::{Code, Request};

use crate::in_every_combination;
use crate::support::new_account;

in_every_combination!(clients_retry_only_what_is_safe_to_repeat);

async fn clients_retry_only_what_is_safe_to_repeat(suite: &TestSuite) {
    let (proxy, url) = AccountsProxy::start(suite.url(Role::Accounts)).await;
    let client = RemoteAccounts::connect(&url, &suite.config().grpc, &suite.security())
        .unwrap_or_else(|e| panic!("client: {e}"))
        .into_api();
    let retries = suite.config().grpc.client_retries;
    assert_eq!(retries, 2, "the default: three attempts in all");
    let get = |account_id: &str| {
        Request::new(pb::GetAccountRequest {
            account_id: account_id.to_owned(),
        })
    };
    let create = |request_id: &str| {
        let mut request = new_account("Wiederholt GmbH", 1_000_000);
        request.request_id = request_id.to_owned();
        Request::new(request)
    };

    // A read, while the service is unavailable: three attempts, then the caller hears it.
    proxy.inject(Code::Unavailable, None);
    let status = client
        .get_account(get("01a246cc-4e1d-721d-bae0-c1c0da7904d3"))
        .await;
    assert_eq!(status.err().map(|s| s.code()), Some(Code::Unavailable));
    assert_eq!(proxy.attempts("GetAccount"), 3);

    // A write without an idempotency key is tried once; with one, like a read.
    proxy.reset();
    let status = client.create_account(create("")).await;
    assert_eq!(status.err().map(|s| s.code()), Some(Code::Unavailable));
    assert_eq!(proxy.attempts("CreateAccount"), 1);
    proxy.reset();
    let status = client
        .create_account(create("01a246cc-0000-7000-8000-000000000001"))
        .await;
    assert_eq!(status.err().map(|s| s.code()), Some(Code::Unavailable));
    assert_eq!(proxy.attempts("CreateAccount"), 3);

    // Unavailable twice, then served: the third attempt answers, and the keyed write
    // is applied once.
    proxy.reset();
    proxy.inject(Code::Unavailable, Some(2));
    let created = client
        .create_account(create("01a246cc-0000-7000-8000-000000000002"))
        .await
        .unwrap_or_else(|s| panic!("third attempt: {s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(proxy.attempts("CreateAccount"), 3);

    // Answers that a repeat cannot change end the call at once.
    for code in [
        Code::InvalidArgument,
        Code::PermissionDenied,
        Code::FailedPrecondition,
    ] {
        proxy.reset();
        proxy.inject(code, None);
        let status = client.get_account(get(&created.account_id)).await;
        assert_eq!(status.err().map(|s| s.code()), Some(code));
        assert_eq!(proxy.attempts("GetAccount"), 1, "{code:?}");
    }
    proxy.pass_through();
    for (account_id, code) in [
        ("not-a-uuid", Code::InvalidArgument),
        ("01a246cc-4e1d-721d-bae0-c1c0da7904d3", Code::NotFound),
    ] {
        proxy.reset();
        let status = client.get_account(get(account_id)).await;
        assert_eq!(status.err().map(|s| s.code()), Some(code));
        assert_eq!(proxy.attempts("GetAccount"), 1, "{code:?}");
    }
    proxy.reset();
    let found = client
        .get_account(get(&created.account_id))
        .await
        .unwrap_or_else(|s| panic!("get: {s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(found.name, "Wiederholt GmbH");
    assert_eq!(proxy.attempts("GetAccount"), 1);
}
