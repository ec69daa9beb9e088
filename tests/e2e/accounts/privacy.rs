//! GDPR: export and erasure of an account, repeated erasure included.

use super::*;

in_every_combination!(erase_and_export);

async fn erase_and_export(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let csm = create_csm(&mut client, "Erin", 0).await;
    let mut request = new_account("Forget Me GmbH", 400_000);
    request.request_id = "forget-me".to_owned();
    if let Some(account) = request.account.as_mut() {
        account.csm_id = csm.csm_id.clone();
    }
    let account = client
        .create_account(request.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    client
        .record_contract_event(event(
            &account.account_id,
            pb::ContractEventKind::Expansion,
            1_000,
            date(2025, 2, 1),
            None,
            "forget-exp",
        ))
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let export = client
        .export_account(pb::ExportAccountRequest {
            account_id: account.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        export.account.map(|a| a.name),
        Some("Forget Me GmbH".to_owned())
    );
    assert_eq!(export.contract_events.len(), 2);
    assert_eq!(export.assignments.len(), 1);

    let erase = || {
        let mut client = client.clone();
        let account_id = account.account_id.clone();
        async move {
            let erased = client
                .erase_account(pb::EraseAccountRequest { account_id })
                .await
                .unwrap_or_else(|s| panic!("every erasure must succeed: {s}"))
                .into_inner();
            (
                erased.account_erased,
                erased.contract_events_erased,
                erased.assignments_erased,
            )
        }
    };
    assert_eq!(erase().await, (true, 2, 1));
    // GDPR tooling retries: a repeat succeeds and says nothing was left.
    assert_eq!(erase().await, (false, 0, 0));
    assert_code(
        client
            .get_account(pb::GetAccountRequest {
                account_id: account.account_id.clone(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        client
            .export_account(pb::ExportAccountRequest {
                account_id: account.account_id.clone(),
            })
            .await,
        Code::NotFound,
    );
    // The stored idempotent answer went too: the same request id now creates afresh.
    let again = client
        .create_account(request)
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_ne!(again.account_id, account.account_id);
}
