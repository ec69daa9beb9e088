//! The client commands: `account 360`, `portfolio`, `risk` and `ticket route`, each one
//! call (or a few) to a running suite, written as terminal tables or as proto3 JSON.

use std::io::Write;

use nordstern_proto::{
    accounts::v1::{self as accounts, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
    gateway::v1::{self as gateway, gateway_service_client::GatewayServiceClient},
    scoring::v1::{self as scoring, scoring_service_client::ScoringServiceClient},
};

use crate::{
    client::{Channel, csms_by_email, describe, json},
    terminal::{Output, Table, date, enum_name, format_money, percent},
};

/// `nordstern health`: SERVING exits 0, anything else 1.
pub async fn health(
    channel: Channel,
    service: &str,
    out: &mut dyn Write,
) -> anyhow::Result<std::process::ExitCode> {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let status = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|status| describe(&status))?
        .into_inner()
        .status;
    let status = ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown);
    writeln!(out, "{}", status.as_str_name())?;
    Ok(if status == ServingStatus::Serving {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

fn component_name(component: i32) -> String {
    scoring::HealthComponent::try_from(component).map_or_else(
        |_| component.to_string(),
        |c| enum_name(c.as_str_name(), "HEALTH_COMPONENT_").to_lowercase(),
    )
}

/// The account's strongest churn drivers, e.g. `usage_trend +0.84, nps +0.40`.
fn drivers(health: &scoring::HealthScore, count: usize) -> String {
    let text: Vec<String> = health
        .churn
        .iter()
        .flat_map(|c| &c.top_drivers)
        .filter(|d| d.contribution > 0.0)
        .take(count)
        .map(|d| format!("{} {:+.2}", d.feature, d.contribution))
        .collect();
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.join(", ")
    }
}

/// Daily values as a one-line chart.
fn sparkline(values: &[i64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| BARS[((v.max(0) * 7 + max / 2) / max) as usize])
        .collect()
}

pub async fn account_360(
    channel: Channel,
    account_id: &str,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let view = GatewayServiceClient::new(channel)
        .get_customer360(gateway::GetCustomer360Request {
            account_id: account_id.to_owned(),
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    if output == Output::Json {
        return json(out, &view, "nordstern.gateway.v1.GetCustomer360Response");
    }
    let account = view.account.clone().unwrap_or_default();
    let health = view.health.as_ref();
    writeln!(
        out,
        "{}  ({}, {}, tier {})",
        output.strong(&account.name),
        account.crm_id,
        enum_name(
            common::Segment::try_from(account.segment).map_or("", |s| s.as_str_name()),
            "SEGMENT_"
        ),
        enum_name(
            common::Tier::try_from(account.tier).map_or("", |t| t.as_str_name()),
            "TIER_"
        ),
    )?;
    writeln!(
        out,
        "  account {} · ARR {} · renewal {} · stage {} · CSM {}",
        account.account_id,
        format_money(account.arr.as_ref()),
        date(account.renewal_date.as_ref()),
        enum_name(
            common::LifecycleStage::try_from(account.lifecycle_stage)
                .map_or("", |s| s.as_str_name()),
            "LIFECYCLE_STAGE_"
        ),
        view.csm
            .as_ref()
            .map_or("none".to_owned(), |c| format!("{} <{}>", c.name, c.email)),
    )?;
    match health {
        Some(h) => writeln!(
            out,
            "  health {} {:.0}/100 · churn {} · ARR at risk {} · drivers: {}",
            output.light(h.color),
            h.score,
            percent(h.churn.as_ref().map(|c| c.probability)),
            format_money(h.arr_at_risk.as_ref()),
            drivers(h, 3)
        )?,
        None => writeln!(out, "  health: not scored yet")?,
    }
    if let Some(h) = health {
        let mut table = Table::new(&["COMPONENT", ">VALUE", ">WEIGHT", ">POINTS"]);
        for component in &h.components {
            table.row(vec![
                component_name(component.component),
                component
                    .value
                    .map_or("-".to_owned(), |v| format!("{v:.0}")),
                format!("{:.2}", component.normalized_weight),
                if component.used {
                    format!("{:.1}", component.contribution)
                } else {
                    "-".to_owned()
                },
            ]);
        }
        writeln!(out)?;
        table.write(out)?;
    }
    if let Some(usage) = &view.usage {
        let series: Vec<i64> = view.usage_series.iter().map(|p| p.value).collect();
        writeln!(
            out,
            "\nusage (90 days)  daily users {}",
            if series.is_empty() {
                "-".to_owned()
            } else {
                sparkline(&series)
            }
        )?;
        writeln!(
            out,
            "  30-day trend {} · features used {}/{} · integration {}",
            usage.usage_trend.map_or("-".to_owned(), |t| format!(
                "{:.0} % of the prior average",
                t * 100.0
            )),
            usage.purchased_features_used,
            usage.purchased_features_total,
            if usage.integration_live {
                "live".to_owned()
            } else {
                usage
                    .last_integration_sync_on
                    .as_ref()
                    .map_or("never set up".to_owned(), |d| {
                        format!("stale (last sync {})", date(Some(d)))
                    })
            }
        )?;
    }
    if let Some(stats) = &view.survey_stats {
        let nps = stats.nps.unwrap_or_default();
        writeln!(
            out,
            "surveys (90 days)  NPS {} from {} respondents ({} promoters, {} passives, {} detractors; {} NPS answers, {} answers of every kind)",
            nps.nps.map_or("-".to_owned(), |v| format!("{v:.0}")),
            nps.respondent_count,
            nps.promoters,
            nps.passives,
            nps.detractors,
            nps.answer_count,
            stats.response_count
        )?;
    }
    for comment in &view.latest_comments {
        writeln!(out, "  “{}” ({})", comment.comment, comment.score)?;
    }
    if !view.open_alerts.is_empty() {
        writeln!(out, "\nopen alerts")?;
        let mut table = Table::new(&["TYPE", "RAISED", "REASON"]);
        for alert in &view.open_alerts {
            table.row(vec![
                enum_name(
                    scoring::AlertType::try_from(alert.alert_type).map_or("", |t| t.as_str_name()),
                    "ALERT_TYPE_",
                ),
                alert.raised_at.as_ref().map_or("-".to_owned(), |t| {
                    chrono::DateTime::from_timestamp(t.seconds, 0)
                        .map_or("-".to_owned(), |t| t.date_naive().to_string())
                }),
                alert.reason.clone(),
            ]);
        }
        table.write(out)?;
    }
    if !view.upsell_opportunities.is_empty() {
        writeln!(out, "\nupsell")?;
        let mut table = Table::new(&["MODULE", ">LIKELIHOOD", ">LIST PRICE", ">EXPECTED"]);
        for offer in &view.upsell_opportunities {
            table.row(vec![
                offer.module_key.clone(),
                percent(Some(offer.likelihood)),
                format_money(offer.list_price.as_ref()),
                format_money(offer.expected_value.as_ref()),
            ]);
        }
        table.write(out)?;
    }
    if !view.contract_events.is_empty() {
        writeln!(out, "\ncontract events (newest first)")?;
        let mut table = Table::new(&["EFFECTIVE", "KIND", ">ARR CHANGE"]);
        for event in view.contract_events.iter().take(8) {
            table.row(vec![
                date(event.effective_date.as_ref()),
                enum_name(
                    accounts::ContractEventKind::try_from(event.kind)
                        .map_or("", |k| k.as_str_name()),
                    "CONTRACT_EVENT_KIND_",
                ),
                format_money(event.arr_change.as_ref()),
            ]);
        }
        table.write(out)?;
    }
    if !view.missing_sections.is_empty() {
        let names: Vec<String> = view
            .missing_sections
            .iter()
            .map(|s| {
                enum_name(
                    gateway::Section::try_from(*s).map_or("", |s| s.as_str_name()),
                    "SECTION_",
                )
            })
            .collect();
        writeln!(
            out,
            "\nincomplete: {} did not answer in time",
            names.join(", ")
        )?;
    }
    Ok(())
}

/// A CSM by id, or by e-mail when the argument has an `@`.
async fn csm_id(channel: &Channel, csm: &str) -> anyhow::Result<String> {
    if !csm.contains('@') {
        return Ok(csm.to_owned());
    }
    let mut client = AccountsServiceClient::new(channel.clone());
    csms_by_email(&mut client)
        .await?
        .remove(&csm.to_lowercase())
        .ok_or_else(|| anyhow::anyhow!("no CSM has the e-mail {csm}"))
}

pub async fn portfolio(
    channel: Channel,
    csm: &str,
    limit: usize,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let csm_id = csm_id(&channel, csm).await?;
    let view = GatewayServiceClient::new(channel)
        .get_portfolio(gateway::GetPortfolioRequest {
            csm_id,
            period: None,
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    if output == Output::Json {
        return json(out, &view, "nordstern.gateway.v1.GetPortfolioResponse");
    }
    let csm = view.csm.clone().unwrap_or_default();
    writeln!(
        out,
        "{} <{}>  {} accounts · ARR {} · {} open alerts",
        output.strong(&csm.name),
        csm.email,
        view.accounts.len(),
        format_money(csm.portfolio_arr.as_ref()),
        view.open_alert_total
    )?;
    let tiers: Vec<String> = view
        .tier_mix
        .iter()
        .map(|t| {
            format!(
                "{} {} ({})",
                enum_name(
                    common::Tier::try_from(t.tier).map_or("", |t| t.as_str_name()),
                    "TIER_"
                ),
                t.account_count,
                format_money(t.arr.as_ref())
            )
        })
        .collect();
    writeln!(out, "  tiers: {}", tiers.join(" · "))?;
    if let Some(revenue) = &view.revenue {
        writeln!(
            out,
            "  year to date: NRR {} · GRR {} · quota attainment {} ({} of a {} target on a {} book handed over)",
            percent(revenue.net_revenue_retention),
            percent(revenue.gross_revenue_retention),
            percent(revenue.quota_attainment),
            format_money(revenue.quota_result_arr.as_ref()),
            format_money(revenue.quota_target.as_ref()),
            format_money(revenue.quota_baseline_arr.as_ref())
        )?;
    }
    let mut table = Table::new(&[
        "ACCOUNT", "NAME", "HEALTH", ">SCORE", ">CHURN", ">ARR", ">AT RISK", "RENEWAL", ">ALERTS",
    ]);
    for row in view.accounts.iter().take(limit) {
        table.row(vec![
            row.account_id.clone(),
            row.name.clone(),
            output.light(row.color),
            row.health_score
                .map_or("-".to_owned(), |s| format!("{s:.0}")),
            percent(row.churn_probability),
            format_money(row.arr.as_ref()),
            format_money(row.arr_at_risk.as_ref()),
            date(row.renewal_date.as_ref()),
            row.open_alert_count.to_string(),
        ]);
    }
    writeln!(
        out,
        "\nby ARR at risk ({} of {})",
        view.accounts.len().min(limit),
        view.accounts.len()
    )?;
    table.write(out)?;
    if !view.upsell_opportunities.is_empty() {
        writeln!(out, "\nupsell (by expected value)")?;
        let mut table = Table::new(&["ACCOUNT", "MODULE", ">LIKELIHOOD", ">EXPECTED"]);
        for offer in view.upsell_opportunities.iter().take(5) {
            table.row(vec![
                offer.account_id.clone(),
                offer.module_key.clone(),
                percent(Some(offer.likelihood)),
                format_money(offer.expected_value.as_ref()),
            ]);
        }
        table.write(out)?;
    }
    Ok(())
}

/// The company's accounts by ARR at risk (ARR × churn probability), highest first.
pub async fn risk(
    channel: Channel,
    limit: usize,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let page_size = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
    let at_risk = ScoringServiceClient::new(channel.clone())
        .list_at_risk_accounts(scoring::ListAtRiskAccountsRequest {
            page_size,
            ..Default::default()
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    if output == Output::Json {
        return json(
            out,
            &at_risk,
            "nordstern.scoring.v1.ListAtRiskAccountsResponse",
        );
    }
    let names: std::collections::HashMap<String, String> = AccountsServiceClient::new(channel)
        .batch_get_accounts(accounts::BatchGetAccountsRequest {
            account_ids: at_risk
                .health_scores
                .iter()
                .map(|s| s.account_id.clone())
                .collect(),
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner()
        .accounts
        .into_iter()
        .map(|a| (a.account_id, a.name))
        .collect();
    let mut table = Table::new(&[
        ">#", "ACCOUNT", "NAME", "HEALTH", ">SCORE", ">CHURN", ">ARR", ">AT RISK", "DRIVERS",
    ]);
    for (rank, score) in at_risk.health_scores.iter().enumerate() {
        table.row(vec![
            (rank + 1).to_string(),
            score.account_id.clone(),
            names.get(&score.account_id).cloned().unwrap_or_default(),
            output.light(score.color),
            format!("{:.0}", score.score),
            percent(score.churn.as_ref().map(|c| c.probability)),
            format_money(score.arr.as_ref()),
            format_money(score.arr_at_risk.as_ref()),
            drivers(score, 2),
        ]);
    }
    if table.is_empty() {
        writeln!(out, "no scored accounts yet")?;
        return Ok(());
    }
    table.write(out)?;
    Ok(())
}

pub struct TicketArgs<'a> {
    pub account_id: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// A retry with the same key gets the first answer; empty makes a fresh key.
    pub idempotency_key: &'a str,
}

pub async fn route_ticket(
    channel: Channel,
    ticket: &TicketArgs<'_>,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let key = if ticket.idempotency_key.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        ticket.idempotency_key.to_owned()
    };
    let routed = GatewayServiceClient::new(channel)
        .route_ticket(gateway::RouteTicketRequest {
            idempotency_key: key,
            account_id: ticket.account_id.to_owned(),
            subject: ticket.subject.to_owned(),
            body: ticket.body.to_owned(),
            ..Default::default()
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    if output == Output::Json {
        return json(out, &routed, "nordstern.gateway.v1.RouteTicketResponse");
    }
    let name = |value: &str, prefix: &str| enum_name(value, prefix);
    let priority = name(
        gateway::TicketPriority::try_from(routed.priority).map_or("", |p| p.as_str_name()),
        "TICKET_PRIORITY_",
    );
    let priority = if priority == "HIGH" {
        output.alarm(&priority)
    } else {
        priority
    };
    writeln!(out, "ticket {}", routed.ticket_id)?;
    writeln!(
        out,
        "  → {}{} · {} · priority {} · confidence {:.2} · language {}",
        output.strong(&name(
            gateway::TicketDestination::try_from(routed.destination)
                .map_or("", |d| d.as_str_name()),
            "TICKET_DESTINATION_",
        )),
        if routed.assignee_csm_id.is_empty() {
            String::new()
        } else {
            format!(" {}", routed.assignee_csm_id)
        },
        name(
            gateway::TicketCategory::try_from(routed.category).map_or("", |c| c.as_str_name()),
            "TICKET_CATEGORY_",
        ),
        priority,
        routed.confidence,
        name(
            common::Language::try_from(routed.language).map_or("", |l| l.as_str_name()),
            "LANGUAGE_",
        ),
    )?;
    writeln!(out, "  why: {}", routed.reason)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_highest_value() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), "▁▂▃▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}
