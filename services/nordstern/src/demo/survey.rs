//! The demo company's quarterly NPS campaigns: past quarters recorded with the time of
//! each answer (as an import from a survey tool would), the running campaign sent as
//! invitations and answered by token as far as its answers have arrived.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{Duration, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use nordstern_proto::{
    common::v1 as common,
    survey::v1::{self as pb, survey_service_client::SurveyServiceClient},
};
use nordstern_runtime::wire::timestamp;

use super::{
    IN_FLIGHT, channel,
    company::{Company, NpsPlan, SURVEY_QUARTERS, survey_day},
    date,
};
use crate::{import::batches, terminal::Progress};

pub struct SurveyLoad {
    pub answers: usize,
    pub seconds: f64,
    /// Company statistics of the last 90 days.
    pub stats: pb::SurveyStats,
}

pub async fn load(
    server: &super::Server,
    company: &Company,
    account_ids: &[String],
    seed: u64,
) -> anyhow::Result<SurveyLoad> {
    let client = SurveyServiceClient::new(channel(server).await?);
    let mut campaigns = Vec::with_capacity(SURVEY_QUARTERS);
    for quarter in 0..SURVEY_QUARTERS {
        let sent = survey_day(company.today, quarter);
        let request = pb::CreateCampaignRequest {
            request_id: format!("demo-{seed}-nps-{quarter}"),
            campaign: Some(pb::Campaign {
                name: format!("NPS {}", sent.format("%B %Y")),
                kind: pb::SurveyKind::Nps as i32,
                touchpoint: pb::Touchpoint::Quarterly as i32,
                question_de: "Wie wahrscheinlich ist es, dass Sie uns einem Kollegen empfehlen?"
                    .to_owned(),
                question_en: "How likely are you to recommend us to a colleague?".to_owned(),
                ..pb::Campaign::default()
            }),
        };
        // After the accounts' burst the token's rate budget may be spent: wait it out.
        let campaign = super::patiently(&client, request, |mut client, request| async move {
            client.create_campaign(request).await
        })
        .await
        .context("creating the survey campaigns")?
        .into_inner()
        .campaign
        .unwrap_or_default();
        campaigns.push(campaign.campaign_id);
    }

    let current = SURVEY_QUARTERS - 1;
    let mut past = Vec::new();
    let mut running_answers: HashMap<String, NpsPlan> = HashMap::new();
    for (plan, account_id) in company.accounts.iter().zip(account_ids) {
        for answer in company.nps_answers(plan) {
            if answer.quarter == current {
                // The running campaign invited live accounts only.
                if plan.churned_on.is_none() {
                    running_answers.insert(answer.respondent.clone(), answer);
                }
            } else {
                past.push((account_id.clone(), answer));
            }
        }
    }
    let answers = past.len() + running_answers.len();
    let mut progress = Progress::new("survey answers", answers as u64);
    // The past quarters come as a survey tool's history would: in batches.
    let requests: Vec<((), pb::RecordResponseRequest)> = past
        .into_iter()
        .map(|(account_id, answer)| {
            let request = pb::RecordResponseRequest {
                idempotency_key: format!(
                    "demo-{seed}-nps-{}-{}",
                    answer.quarter, answer.respondent
                ),
                campaign_id: campaigns[answer.quarter].clone(),
                account_id,
                respondent_id: answer.respondent,
                score: Some(answer.score),
                responded_at: Some(timestamp(answered_at(answer.answered_on))),
                ..pb::RecordResponseRequest::default()
            };
            ((), request)
        })
        .collect();
    let mut refused = None;
    batches::send(
        &client,
        requests,
        |_, response: pb::BatchRecordResponsesResponse| {
            progress.advance(response.responses.len() as u64);
            refused = refused.take().or(response.refusals.into_iter().next());
        },
        |mut client, items| async move {
            let request = pb::BatchRecordResponsesRequest { items };
            client.batch_record_responses(request).await
        },
    )
    .await
    .context("recording past NPS answers")?;
    if let Some(refusal) = refused {
        anyhow::bail!(
            "a past NPS answer was refused: {} {}",
            refusal.field,
            refusal.reason
        );
    }

    // The running campaign went to two contacts of every live account; most answer
    // within two weeks, and those who have not yet keep an open invitation.
    let targets: Vec<pb::InvitationTarget> = company
        .accounts
        .iter()
        .zip(account_ids)
        .filter(|(plan, _)| plan.churned_on.is_none())
        .flat_map(|(plan, account_id)| {
            ["champion", "user"].map(|contact| pb::InvitationTarget {
                account_id: account_id.clone(),
                respondent_id: format!("{contact}@{}", plan.crm_id.to_lowercase()),
                language: if plan.index % 2 == 0 {
                    common::Language::German as i32
                } else {
                    common::Language::English as i32
                },
            })
        })
        .collect();
    for chunk in targets.chunks(1000) {
        let request = pb::CreateInvitationsRequest {
            campaign_id: campaigns[current].clone(),
            targets: chunk.to_vec(),
        };
        // Inviting again returns the existing invitations, so a refusal is retried.
        let invitations = super::patiently(&client, request, |mut client, request| async move {
            client.create_invitations(request).await
        })
        .await
        .context("inviting respondents")?
        .into_inner()
        .invitations;
        let mut submitted = futures::stream::iter(invitations.into_iter().filter_map(|inv| {
            let answer = running_answers.get(&inv.respondent_id)?;
            if inv.responded_at.is_some() {
                return None;
            }
            let client = client.clone();
            let request = pb::SubmitResponseRequest {
                token: inv.token,
                response_id: answer.response_id.to_string(),
                score: Some(answer.score),
                ..pb::SubmitResponseRequest::default()
            };
            Some(async move {
                super::patiently(&client, request, |mut client, request| async move {
                    client.submit_response(request).await
                })
                .await
                .context("answering invitations")
            })
        }))
        .buffer_unordered(IN_FLIGHT);
        while submitted.try_next().await?.is_some() {
            progress.advance(1);
        }
    }
    let seconds = progress.finish();

    let today = company.today;
    let request = pb::GetSurveyStatsRequest {
        scope: Some(common::Scope {
            scope: Some(common::scope::Scope::Company(true)),
        }),
        window: Some(common::Period {
            start_date: Some(date(today - Duration::days(89))),
            end_date: Some(date(today + Duration::days(1))),
        }),
    };
    let stats = super::patiently(&client, request, |mut client, request| async move {
        client.get_survey_stats(request).await
    })
    .await?
    .into_inner()
    .stats
    .unwrap_or_default();
    Ok(SurveyLoad {
        answers,
        seconds,
        stats,
    })
}

/// Mid-morning UTC of the day an answer was given.
fn answered_at(day: NaiveDate) -> chrono::DateTime<Utc> {
    day.and_hms_opt(10, 30, 0).unwrap_or_default().and_utc()
}
