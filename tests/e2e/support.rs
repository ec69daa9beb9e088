//! Small builders shared by the scenarios.

use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
};
use nordstern_runtime::Role;
use nordstern_tests::Channel;
use nordstern_tests::TestSuite;
use tonic::{Code, Status};

pub type Accounts = AccountsServiceClient<Channel>;

pub async fn accounts(suite: &TestSuite) -> Accounts {
    AccountsServiceClient::new(suite.channel(Role::Accounts).await)
}

/// `count` accounts created with `BatchCreateAccounts`, 1,000 per call, named
/// `{prefix} {n}` with ARR growing with `n`; their ids in that order.
pub async fn create_accounts_in_bulk(
    client: &mut Accounts,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let numbers: Vec<usize> = (0..count).collect();
    let mut created = Vec::with_capacity(count);
    for chunk in numbers.chunks(1_000) {
        let items = chunk
            .iter()
            .map(|&n| pb::CreateAccountRequest {
                request_id: format!("{prefix}-{n}"),
                ..new_account(&format!("{prefix} {n:04}"), 100_000 + 1_000 * n as i64)
            })
            .collect();
        let response = client
            .batch_create_accounts(pb::BatchCreateAccountsRequest { items })
            .await
            .unwrap_or_else(|s| panic!("create: {s}"))
            .into_inner();
        assert_eq!(response.refused_count, 0, "{:?}", response.refusals.first());
        created.extend(
            response
                .accounts
                .into_iter()
                .filter_map(|a| a.account)
                .map(|a| a.account_id),
        );
    }
    assert_eq!(created.len(), count);
    created
}

pub fn date(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

pub fn eur(minor_units: i64) -> Option<common::Money> {
    Some(common::Money {
        minor_units,
        currency_code: "EUR".to_owned(),
    })
}

pub fn new_account(name: &str, arr: i64) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        request_id: String::new(),
        account: Some(pb::Account {
            name: name.to_owned(),
            segment: common::Segment::Sme as i32,
            start_date: date(2025, 1, 1),
            renewal_date: date(2026, 1, 1),
            ..pb::Account::default()
        }),
        initial_arr: eur(arr),
        assigned_at: None,
    }
}

pub async fn create_account(client: &mut Accounts, name: &str, arr: i64) -> pb::Account {
    client
        .create_account(new_account(name, arr))
        .await
        .unwrap_or_else(|status| panic!("create {name}: {status}"))
        .into_inner()
        .account
        .unwrap_or_default()
}

pub async fn create_csm(client: &mut Accounts, name: &str, capacity: i32) -> pb::Csm {
    client
        .create_csm(pb::CreateCsmRequest {
            request_id: String::new(),
            csm: Some(pb::Csm {
                name: name.to_owned(),
                email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
                capacity,
                ..pb::Csm::default()
            }),
        })
        .await
        .unwrap_or_else(|status| panic!("create CSM {name}: {status}"))
        .into_inner()
        .csm
        .unwrap_or_default()
}

pub fn event(
    account_id: &str,
    kind: pb::ContractEventKind,
    arr_change: i64,
    effective: Option<common::Date>,
    renewal: Option<common::Date>,
    key: &str,
) -> pb::RecordContractEventRequest {
    pb::RecordContractEventRequest {
        event: Some(pb::ContractEvent {
            account_id: account_id.to_owned(),
            kind: kind as i32,
            arr_change: eur(arr_change),
            effective_date: effective,
            renewal_date: renewal,
            idempotency_key: key.to_owned(),
            ..pb::ContractEvent::default()
        }),
    }
}

/// Asserts INVALID_ARGUMENT naming exactly these fields.
pub fn assert_invalid(result: Result<impl std::fmt::Debug, Status>, fields: &[&str]) {
    let status = match result {
        Ok(value) => panic!("expected INVALID_ARGUMENT for {fields:?}, got {value:?}"),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let mut named: Vec<String> = nordstern_runtime::status::field_violations(&status)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    named.sort();
    let mut expected: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(named, expected, "{status:?}");
}

pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            status
        }
    }
}

pub async fn account_count(client: &mut Accounts) -> usize {
    client
        .list_accounts(pb::ListAccountsRequest {
            page_size: 1000,
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|status| panic!("{status}"))
        .into_inner()
        .accounts
        .len()
}
