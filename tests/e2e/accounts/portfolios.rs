//! Handoffs, capacity and balanced portfolios, for the whole company and for a team.

use super::*;

in_every_combination!(
    handoff_capacity_and_portfolio_balance,
    a_team_balance_leaves_the_other_books_alone,
);

async fn handoff_capacity_and_portfolio_balance(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let alice = create_csm(&mut client, "Alice", 0).await;
    let bob = create_csm(&mut client, "Bob", 0).await;
    let carol = create_csm(&mut client, "Carol", 1).await;
    let mut ids = Vec::new();
    for index in 0..30_i64 {
        // Roughly log-normal: a few large accounts, many small ones.
        let arr = 10_000 + (index * index * index) * 150;
        ids.push(
            create_account(&mut client, &format!("Customer {index:02}"), arr)
                .await
                .account_id,
        );
    }
    // Handoff and capacity.
    let handed = client
        .assign_account(pb::AssignAccountRequest {
            account_id: ids[0].clone(),
            csm_id: carol.csm_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(handed.previous_csm_id, "");
    assert_code(
        client
            .assign_account(pb::AssignAccountRequest {
                account_id: ids[1].clone(),
                csm_id: carol.csm_id.clone(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    let moved = client
        .assign_account(pb::AssignAccountRequest {
            account_id: ids[0].clone(),
            csm_id: alice.csm_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(moved.previous_csm_id, carol.csm_id);

    // Balance over Alice and Bob (Carol's capacity of 1 would be exceeded).
    assert_code(
        client
            .plan_portfolio_balance(pb::PlanPortfolioBalanceRequest::default())
            .await,
        Code::FailedPrecondition,
    );
    let pair = vec![alice.csm_id.clone(), bob.csm_id.clone()];
    let plan = client
        .plan_portfolio_balance(pb::PlanPortfolioBalanceRequest {
            csm_ids: pair.clone(),
            sticky: false,
            include_unassigned: true,
            ..pb::PlanPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .plan
        .unwrap_or_default();
    assert_eq!(plan.account_count, 30);
    assert_eq!(plan.portfolios.len(), 2);
    let (a, b) = (&plan.portfolios[0], &plan.portfolios[1]);
    assert!((a.tier_a_count - b.tier_a_count).abs() <= 1);
    assert!((a.tier_b_count - b.tier_b_count).abs() <= 1);
    assert!((a.tier_c_count - b.tier_c_count).abs() <= 1);
    assert!(
        plan.arr_max_min_ratio < 1.2,
        "ratio {}",
        plan.arr_max_min_ratio
    );
    // A plan is a dry run.
    assert_eq!(
        client
            .list_accounts(pb::ListAccountsRequest {
                unassigned_only: true,
                page_size: 100,
                ..pb::ListAccountsRequest::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner()
            .accounts
            .len(),
        29
    );
    let applied = client
        .apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest {
            csm_ids: pair.clone(),
            sticky: false,
            include_unassigned: true,
            ..pb::ApplyPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .plan
        .unwrap_or_default();
    assert!(applied.moves.len() >= 29);
    let bob_now = client
        .get_csm(pb::GetCsmRequest {
            csm_id: bob.csm_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .csm
        .unwrap_or_default();
    assert_eq!(
        bob_now.account_count,
        b.tier_a_count + b.tier_b_count + b.tier_c_count
    );
    // After applying, a sticky plan keeps everything where it is.
    let sticky = client
        .plan_portfolio_balance(pb::PlanPortfolioBalanceRequest {
            csm_ids: pair,
            sticky: true,
            include_unassigned: true,
            ..pb::PlanPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .plan
        .unwrap_or_default();
    assert_eq!(sticky.moves.len(), 0);
    let export = client
        .export_account(pb::ExportAccountRequest {
            account_id: ids[0].clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(
        export.assignments.len() >= 2,
        "handoffs are kept in the history"
    );
    assert!(export.assignments[0].unassigned_at.is_some());
}

/// Ann holds 6 accounts, Ben none, Dora 4, and 2 are unassigned. Balancing Ann and Ben
/// spreads Ann's book over the two of them, and nothing else unless asked.
async fn a_team_balance_leaves_the_other_books_alone(suite: &TestSuite) {
    let mut client = accounts(suite).await;
    let ann = create_csm(&mut client, "Ann", 0).await;
    let ben = create_csm(&mut client, "Ben", 0).await;
    let dora = create_csm(&mut client, "Dora", 0).await;
    for index in 0..12_i64 {
        let account = create_account(
            &mut client,
            &format!("Team {index:02}"),
            20_000 + index * 7_000,
        )
        .await
        .account_id;
        let owner = match index {
            0..6 => Some(&ann),
            6..10 => Some(&dora),
            _ => None,
        };
        if let Some(csm) = owner {
            client
                .assign_account(pb::AssignAccountRequest {
                    account_id: account.clone(),
                    csm_id: csm.csm_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("{s}"));
        }
    }
    let team = vec![ann.csm_id.clone(), ben.csm_id.clone()];
    let plan = |include_unassigned: bool, whole_company: bool| pb::PlanPortfolioBalanceRequest {
        csm_ids: team.clone(),
        sticky: false,
        include_unassigned,
        whole_company,
    };
    let mut planned = Vec::new();
    for (include_unassigned, whole_company) in [(false, false), (true, false), (false, true)] {
        let plan = client
            .plan_portfolio_balance(plan(include_unassigned, whole_company))
            .await
            .unwrap_or_else(|s| panic!("{s}"))
            .into_inner()
            .plan
            .unwrap_or_default();
        planned.push(plan);
    }
    let counts: Vec<i32> = planned.iter().map(|p| p.account_count).collect();
    assert_eq!(
        counts,
        [6, 8, 12],
        "the team's book, with the queue, the company"
    );
    let team_only = &planned[0];
    assert!(
        team_only
            .moves
            .iter()
            .all(|m| m.from_csm_id == ann.csm_id && m.to_csm_id == ben.csm_id),
        "{:?}",
        team_only.moves
    );
    assert!(team_only.csms_not_named_losing_accounts.is_empty());
    assert!(planned[1].csms_not_named_losing_accounts.is_empty());
    // Taking Dora's accounts is said, and only done when asked for.
    assert_eq!(
        planned[2].csms_not_named_losing_accounts,
        std::slice::from_ref(&dora.csm_id)
    );

    client
        .apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest {
            csm_ids: team.clone(),
            ..pb::ApplyPortfolioBalanceRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let book = |csm: &pb::Csm| {
        let mut client = client.clone();
        let csm_id = csm.csm_id.clone();
        async move {
            client
                .get_csm(pb::GetCsmRequest { csm_id })
                .await
                .unwrap_or_else(|s| panic!("{s}"))
                .into_inner()
                .csm
                .unwrap_or_default()
                .account_count
        }
    };
    assert_eq!(
        (book(&ann).await, book(&ben).await, book(&dora).await),
        (3, 3, 4),
        "Ann's six are shared, Dora keeps hers"
    );
    let unassigned = client
        .list_accounts(pb::ListAccountsRequest {
            unassigned_only: true,
            page_size: 100,
            ..pb::ListAccountsRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .accounts;
    assert_eq!(unassigned.len(), 2, "the queue waits until it is asked for");
}
