//! The account 360: health components with their weights and points, churn drivers in
//! words, usage, score history and NPS charts, the contract timeline, survey comments,
//! open alerts to work, upsell ideas, and the sections a backend did not answer.

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use chrono::{Datelike, NaiveDate, Utc};
use maud::{Markup, html};
use nordstern_domain::{
    health::{
        HealthColor,
        trend::{Computation, daily_last},
    },
    scope::Scope,
};
use nordstern_proto::{
    common::v1::{self as common, scope},
    gateway::v1::{self as gateway_pb, Section},
    scoring::v1 as scoring_pb,
    survey::v1 as survey_pb,
    usage::v1 as usage_pb,
};
use nordstern_runtime::bridge::ProtoEnum;

use crate::{
    Board, charts, format,
    i18n::Lang,
    layout::{self, Frame, Nav},
    session::{PageError, Viewer},
    words,
};
use nordstern_runtime::wire::date_to_proto;

use super::alerts::alert_actions;

/// Days of the usage and score charts.
const CHART_DAYS: u64 = 90;
/// Quarters of the NPS chart, this one included.
const NPS_QUARTERS: usize = 4;

pub async fn page(
    State(board): State<Board>,
    headers: HeaderMap,
    Path(account_id): Path<String>,
) -> Response {
    board
        .clone()
        .page(
            &headers,
            "GET /accounts/{account_id}",
            |viewer| async move {
                render(&board, &viewer, &account_id)
                    .await
                    .map(IntoResponse::into_response)
            },
        )
        .await
}

fn account_scope(account_id: &str) -> common::Scope {
    common::Scope {
        scope: Some(scope::Scope::AccountId(account_id.to_owned())),
    }
}

fn period(start: NaiveDate, end: NaiveDate) -> common::Period {
    common::Period {
        start_date: Some(date_to_proto(start)),
        end_date: Some(date_to_proto(end)),
    }
}

/// The first day of the quarter `back` quarters before the one holding `day`.
fn quarter_start(day: NaiveDate, back: usize) -> NaiveDate {
    let index = day.year() * 4 + (i32::try_from(day.month0()).unwrap_or_default() / 3)
        - i32::try_from(back).unwrap_or_default();
    let (year, quarter) = (index.div_euclid(4), index.rem_euclid(4));
    NaiveDate::from_ymd_opt(year, u32::try_from(quarter * 3 + 1).unwrap_or(1), 1).unwrap_or(day)
}

fn quarter_name(start: NaiveDate) -> String {
    format!("Q{} {}", start.month0() / 3 + 1, start.year())
}

async fn render(board: &Board, viewer: &Viewer, account_id: &str) -> Result<Markup, PageError> {
    let lang = viewer.lang;
    let calls = &board.calls;
    let today = Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    let first_day = today - chrono::Days::new(CHART_DAYS - 1);
    let view = async {
        calls
            .gateway()
            .get_customer360(calls.request(gateway_pb::GetCustomer360Request {
                account_id: account_id.to_owned(),
            }))
            .await
            .map(tonic::Response::into_inner)
    };
    let logins = async {
        calls
            .usage()
            .get_usage_timeseries(calls.request(usage_pb::GetUsageTimeseriesRequest {
                account_id: account_id.to_owned(),
                metric: usage_pb::UsageMetric::Logins as i32,
                granularity: usage_pb::Granularity::Day as i32,
                period: Some(period(first_day, tomorrow)),
                feature_key: String::new(),
            }))
            .await
            .map(|r| r.into_inner().points)
    };
    let quarters: Vec<NaiveDate> = (0..NPS_QUARTERS)
        .rev()
        .map(|back| quarter_start(today, back))
        .collect();
    let nps = futures::future::join_all(quarters.iter().map(|start| {
        let end = quarter_start(*start + chrono::Days::new(100), 0);
        async move {
            calls
                .survey()
                .get_survey_stats(calls.request(survey_pb::GetSurveyStatsRequest {
                    scope: Some(account_scope(account_id)),
                    window: Some(period(*start, end.min(tomorrow))),
                }))
                .await
                .ok()
                .and_then(|r| r.into_inner().stats)
                .and_then(|s| s.nps)
                .and_then(|n| n.nps)
        }
    }));
    let (view, logins, nps) = tokio::join!(view, logins, nps);
    let view = view?;
    let account = view.account.clone().unwrap_or_default();
    if !viewer.may(Scope::AccountsRead) && viewer.own_csm() != Some(account.csm_id.as_str()) {
        return Err(PageError::Forbidden(
            lang.t(
                "This account is not in your portfolio; other accounts need the scope accounts:read.",
                "Dieser Account ist nicht in Ihrem Portfolio; andere Accounts brauchen den Scope accounts:read.",
            )
            .to_owned(),
        ));
    }
    let mut missing: Vec<String> = view
        .missing_sections
        .iter()
        .filter_map(|s| Section::try_from(*s).ok())
        .map(|s| section_name(lang, s).to_owned())
        .collect();
    let logins = logins.unwrap_or_else(|_| {
        missing.push(lang.t("logins", "Logins").to_owned());
        Vec::new()
    });
    let health = view.health.as_ref();
    let (color, score) = health.map_or((0, None), |h| (h.color, Some(h.score)));
    let title = account.name.clone();
    let here = format!("/accounts/{account_id}");
    let csm_line = view
        .csm
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| lang.t("no CSM", "kein CSM").to_owned());
    let content = html! {
        div.headline data-account=(account.account_id) {
            span.health { (layout::health_badge(lang, color, score)) }
            span { "ARR " (format::money(lang, account.arr.as_ref())) }
            span { "Tier " (words::tier(account.tier)) }
            span { (words::segment(lang, account.segment)) }
            span { (lang.t("Renewal", "Verlängerung")) " " (format::date(lang, account.renewal_date.as_ref())) }
            span { "CSM: " (csm_line) }
            @if let Some(churn) = health.and_then(|h| h.churn.as_ref()) {
                span.churn { (lang.t("Churn", "Churn")) " " (format::percent(lang, Some(churn.probability))) }
            }
        }
        (layout::missing_note(lang, &missing))
        div.grid {
            section aria-labelledby="h-components" {
                h2 #h-components { (lang.t("Health components", "Health-Komponenten")) }
                @if let Some(health) = health { (components(lang, health)) }
                @else { p.empty { (lang.t("No score yet.", "Noch kein Score.")) } }
            }
            section aria-labelledby="h-drivers" {
                h2 #h-drivers { (lang.t("Why this churn risk", "Warum dieses Churn-Risiko")) }
                @if let Some(churn) = health.and_then(|h| h.churn.as_ref()) {
                    ul.drivers {
                        @for driver in &churn.top_drivers {
                            li class=(if driver.contribution > 0.0 { "up" } else { "down" }) { (words::driver(lang, driver, view.usage.as_ref())) }
                        }
                    }
                } @else { p.empty { (lang.t("No churn prediction.", "Keine Churn-Prognose.")) } }
            }
        }
        section aria-labelledby="h-usage" {
            h2 #h-usage { (lang.t("Usage, last 90 days", "Nutzung, letzte 90 Tage")) }
            (usage_chart(lang, &view.usage_series, &logins, first_day, today))
        }
        div.grid {
            section aria-labelledby="h-history" {
                h2 #h-history { (lang.t("Health score history", "Verlauf des Health-Scores")) }
                (history_chart(lang, &view.health_history, first_day, today))
            }
            section aria-labelledby="h-nps" {
                h2 #h-nps { (lang.t("NPS by quarter", "NPS je Quartal")) }
                @let bars: Vec<(String, Option<f64>)> = quarters.iter().map(|q| quarter_name(*q)).zip(nps).collect();
                (charts::signed_bars(&bars, lang.t("NPS by quarter", "NPS je Quartal")))
                @if let Some(stats) = view.survey_stats.as_ref().and_then(|s| s.nps.as_ref()) {
                    p.hint { (lang.t("Last 90 days:", "Letzte 90 Tage:")) " " (stats.respondent_count) " " (lang.t("respondents", "Befragte")) " (" (stats.promoters) " " (lang.t("promoters", "Promotoren")) ", " (stats.passives) " " (lang.t("passives", "Passive")) ", " (stats.detractors) " " (lang.t("detractors", "Kritiker")) "), " (stats.answer_count) " " (lang.t("answers", "Antworten")) }
                }
            }
        }
        section #alerts aria-labelledby="h-alerts" {
            h2 #h-alerts { (lang.t("Open alerts", "Offene Warnungen")) }
            @if view.open_alerts.is_empty() { p.empty { (lang.t("No open alerts.", "Keine offenen Warnungen.")) } }
            @else {
                table.rows {
                    thead { tr { th scope="col" { (lang.t("Type", "Typ")) } th scope="col" { (lang.t("Reason", "Grund")) } th scope="col" { (lang.t("Raised", "Ausgelöst")) } th scope="col" { "Status" } th scope="col" { span.visually-hidden { (lang.t("Actions", "Aktionen")) } } } }
                    tbody {
                        @for alert in &view.open_alerts {
                            tr data-alert=(alert.alert_id) {
                                td { (words::alert_type(lang, alert.alert_type)) }
                                td { (alert.reason) }
                                td { (format::day_of(lang, alert.last_raised_at.as_ref().or(alert.raised_at.as_ref()))) }
                                td { (status_word(lang, alert.status)) }
                                td { (alert_actions(lang, viewer, alert, &here)) }
                            }
                        }
                    }
                }
            }
        }
        div.grid {
            section aria-labelledby="h-contracts" {
                h2 #h-contracts { (lang.t("Contract timeline", "Vertragsverlauf")) }
                ol.timeline {
                    @for event in &view.contract_events {
                        li {
                            span.when { (format::date(lang, event.effective_date.as_ref())) }
                            " " strong { (words::contract_event(lang, event.kind)) }
                            " " (format::money(lang, event.arr_change.as_ref()))
                            " → ARR " (format::money(lang, event.arr_after.as_ref()))
                        }
                    }
                }
            }
            section aria-labelledby="h-comments" {
                h2 #h-comments { (lang.t("Survey comments", "Kommentare aus Umfragen")) }
                @if view.latest_comments.is_empty() { p.empty { (lang.t("No comments.", "Keine Kommentare.")) } }
                @for response in &view.latest_comments {
                    blockquote {
                        p { (response.comment) }
                        footer { (format::day_of(lang, response.responded_at.as_ref())) " · " (lang.t("score", "Wert")) " " (response.score) }
                    }
                }
            }
        }
        section aria-labelledby="h-upsell" {
            h2 #h-upsell { (lang.t("Upsell ideas", "Upsell-Ideen")) }
            @if view.upsell_opportunities.is_empty() { p.empty { (lang.t("None: upsell is suggested only for green accounts with high adoption.", "Keine: Upsell nur für grüne Accounts mit hoher Nutzung.")) } }
            ul {
                @for idea in &view.upsell_opportunities {
                    li { strong { (idea.module_key) } " · " (format::money(lang, idea.expected_value.as_ref())) " · " (idea.reason) }
                }
            }
        }
    };
    Ok(layout::page(
        viewer,
        Frame {
            title: &title,
            nav: Nav::Account,
            here: &here,
            csm_query: None,
            live: Some(format!("/live?account={account_id}")),
        },
        content,
    ))
}

fn status_word(lang: Lang, status: i32) -> &'static str {
    match scoring_pb::AlertStatus::try_from(status).unwrap_or(scoring_pb::AlertStatus::Unspecified)
    {
        scoring_pb::AlertStatus::Open => lang.t("open", "offen"),
        scoring_pb::AlertStatus::Acknowledged => lang.t("acknowledged", "gesehen"),
        scoring_pb::AlertStatus::Resolved => lang.t("resolved", "erledigt"),
        scoring_pb::AlertStatus::Unspecified => "–",
    }
}

fn section_name(lang: Lang, section: Section) -> &'static str {
    match section {
        Section::Account => lang.t("account", "Account"),
        Section::Csm => "CSM",
        Section::ContractHistory => lang.t("contracts", "Verträge"),
        Section::Revenue => lang.t("revenue", "Umsatz"),
        Section::Health => lang.t("health", "Health"),
        Section::HealthHistory => lang.t("score history", "Score-Verlauf"),
        Section::UsageSummary => lang.t("usage", "Nutzung"),
        Section::UsageSeries => lang.t("daily users", "tägliche Nutzer"),
        Section::SurveyStats => lang.t("survey figures", "Umfragewerte"),
        Section::SurveyResponses => lang.t("survey comments", "Umfragekommentare"),
        Section::Alerts => lang.t("alerts", "Warnungen"),
        Section::Upsell => "upsell",
        Section::PortfolioAccounts => lang.t("accounts", "Accounts"),
        Section::TierMix => lang.t("tier mix", "Tier-Mix"),
        Section::Unspecified => "?",
    }
}

fn components(lang: Lang, health: &scoring_pb::HealthScore) -> Markup {
    html! {
        table.components {
            thead { tr {
                th scope="col" { (lang.t("Component", "Komponente")) }
                th scope="col" { (lang.t("Value", "Wert")) }
                th scope="col" { (lang.t("Weight", "Gewicht")) }
                th scope="col" { (lang.t("Points", "Punkte")) }
            } }
            tbody {
                @for component in &health.components {
                    tr class=(if component.used { "used" } else { "unused" }) {
                        th scope="row" { (words::component(lang, component.component)) }
                        td {
                            @if let Some(value) = component.value.filter(|_| component.used) {
                                span.bar role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(format!("{value:.0}")) {
                                    span.fill style=(format!("width: {:.0}%", value.clamp(0.0, 100.0))) {}
                                }
                                " " (format::number(lang, value, 0))
                            } @else {
                                span.unused { (lang.t("not used", "nicht verwendet")) }
                            }
                            @if !component.explanation.is_empty() {
                                span.explanation { (component.explanation) }
                            }
                        }
                        td.num { (format::percent(lang, Some(component.normalized_weight))) }
                        td.num { (format::number(lang, component.contribution, 1)) }
                    }
                }
            }
            tfoot { tr { th scope="row" { (lang.t("Score", "Score")) } td {} td {} td.num { (format::number(lang, health.score, 1)) } } }
        }
    }
}

fn usage_chart(
    lang: Lang,
    users: &[usage_pb::UsagePoint],
    logins: &[usage_pb::UsagePoint],
    first_day: NaiveDate,
    today: NaiveDate,
) -> Markup {
    let days = usize::try_from((today - first_day).num_days() + 1).unwrap_or_default();
    let daily = |points: &[usage_pb::UsagePoint]| {
        let mut values = vec![0.0; days];
        for point in points {
            if let Some(day) = format::from_proto_date(point.start_date.as_ref())
                && let Ok(index) = usize::try_from((day - first_day).num_days())
                && index < days
            {
                values[index] = point.value as f64;
            }
        }
        values
    };
    let series = [
        charts::Series {
            name: lang.t("daily users", "tägliche Nutzer"),
            class: "series-users",
            values: daily(users),
        },
        charts::Series {
            name: lang.t("logins", "Logins"),
            class: "series-logins",
            values: daily(logins),
        },
    ];
    charts::lines(
        &series,
        &format::date(lang, Some(&date_to_proto(first_day))),
        &format::date(lang, Some(&date_to_proto(today))),
        lang.t(
            "Daily users and logins over 90 days",
            "Tägliche Nutzer und Logins über 90 Tage",
        ),
    )
}

fn history_chart(
    lang: Lang,
    history: &[scoring_pb::HealthScoreHistoryEntry],
    first_day: NaiveDate,
    today: NaiveDate,
) -> Markup {
    let days = usize::try_from((today - first_day).num_days() + 1).unwrap_or_default();
    let daily = daily_last(history.iter().filter_map(|entry| {
        let at = entry.computed_at.as_ref()?;
        Some(Computation {
            computed_at_micros: at.seconds * 1_000_000 + i64::from(at.nanos) / 1_000,
            score: entry.score,
            color: HealthColor::from_i32(entry.color)?,
        })
    }));
    let points: Vec<(usize, f64)> = daily
        .iter()
        .filter_map(|d| {
            Some((
                usize::try_from((d.day - first_day).num_days()).ok()?,
                d.score,
            ))
        })
        .collect();
    if points.is_empty() {
        return html! { p.empty { (lang.t("No scores in the last 90 days.", "Keine Scores in den letzten 90 Tagen.")) } };
    }
    charts::score_history(
        &points,
        days,
        &format::date(lang, Some(&date_to_proto(first_day))),
        &format::date(lang, Some(&date_to_proto(today))),
        lang.t(
            "Health score over 90 days on its colour bands",
            "Health-Score über 90 Tage mit Farbbändern",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_step_back_across_years() {
        let day = NaiveDate::from_ymd_opt(2027, 2, 14).unwrap_or_default();
        let starts: Vec<String> = (0..4)
            .rev()
            .map(|back| quarter_name(quarter_start(day, back)))
            .collect();
        assert_eq!(starts, ["Q2 2026", "Q3 2026", "Q4 2026", "Q1 2027"]);
        assert_eq!(
            quarter_start(day, 0),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default()
        );
    }
}
