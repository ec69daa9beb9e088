//! The renewals of the next 90 days, week by week, each account with its colour and ARR.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Utc};
use maud::{Markup, html};
use nordstern_proto::{
    common::v1::{HealthColor, Money},
    gateway::v1::PortfolioAccount,
};

use super::{book_picker, csm_portfolio};
use crate::{
    Board, format,
    layout::{self, Frame, Nav},
    session::{PageError, Viewer},
};
use nordstern_runtime::wire::date_to_proto;

/// How far ahead the page looks.
const HORIZON_DAYS: i64 = 90;

query_page!(page, "GET /renewals", render);

/// The Monday of `day`'s ISO week.
fn week_of(day: NaiveDate) -> NaiveDate {
    day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// Rows renewing from `today` to `today + HORIZON_DAYS`, by week (Monday), soonest first.
fn by_week(
    rows: &[PortfolioAccount],
    today: NaiveDate,
) -> BTreeMap<NaiveDate, Vec<&PortfolioAccount>> {
    let mut weeks: BTreeMap<NaiveDate, Vec<&PortfolioAccount>> = BTreeMap::new();
    for row in rows {
        let Some(renewal) = format::from_proto_date(row.renewal_date.as_ref()) else {
            continue;
        };
        let ahead = (renewal - today).num_days();
        if (0..=HORIZON_DAYS).contains(&ahead) {
            weeks.entry(week_of(renewal)).or_default().push(row);
        }
    }
    for rows in weeks.values_mut() {
        rows.sort_by_key(|row| format::from_proto_date(row.renewal_date.as_ref()));
    }
    weeks
}

fn total(rows: &[&PortfolioAccount], keep: impl Fn(&PortfolioAccount) -> bool) -> Money {
    Money {
        minor_units: rows
            .iter()
            .filter(|r| keep(r))
            .filter_map(|r| r.arr.as_ref())
            .map(|m| m.minor_units)
            .sum(),
        currency_code: rows
            .iter()
            .find_map(|r| r.arr.as_ref())
            .map(|m| m.currency_code.clone())
            .unwrap_or_default(),
    }
}

async fn render(board: &Board, viewer: &Viewer, query: Option<&str>) -> Result<Markup, PageError> {
    let lang = viewer.lang;
    let (book, csm_id, portfolio) = csm_portfolio(&board.calls, viewer, query).await?;
    let today = Utc::now().date_naive();
    let weeks = by_week(&portfolio.accounts, today);
    let here = format!("/renewals?{}", query.unwrap_or_default());
    let content = html! {
        (book_picker(&board.calls, viewer, &book, "/renewals", false).await)
        @if weeks.is_empty() { p.empty { (lang.t("No renewals in the next 90 days.", "Keine Verlängerungen in den nächsten 90 Tagen.")) } }
        @for (monday, rows) in &weeks {
            section.week aria-label=(format!("{} {}", lang.t("Week of", "Woche ab"), format::date(lang, Some(&date_to_proto(*monday))))) {
                h2 {
                    (lang.t("Week", "KW")) " " (monday.iso_week().week()) " · " (format::date(lang, Some(&date_to_proto(*monday))))
                    span.sub {
                        " · ARR " (format::money(lang, Some(&total(rows, |_| true))))
                        " · " (lang.t("not green", "nicht grün")) " " (format::money(lang, Some(&total(rows, |r| r.color != HealthColor::Green as i32))))
                    }
                }
                table.rows {
                    thead { tr {
                        th scope="col" { (lang.t("Renewal", "Verlängerung")) }
                        th scope="col" { (lang.t("Account", "Account")) }
                        th scope="col" { (lang.t("Health", "Health")) }
                        th scope="col" { "ARR" }
                        th scope="col" { (lang.t("Churn", "Churn")) }
                    } }
                    tbody {
                        @for row in rows {
                            tr data-account=(row.account_id) {
                                td { (format::date(lang, row.renewal_date.as_ref())) }
                                th scope="row" { a href=(format!("/accounts/{}", row.account_id)) { (row.name) } }
                                td.health { (layout::health_badge(lang, row.color, row.health_score)) }
                                td.num { (format::money(lang, row.arr.as_ref())) }
                                td.num { (format::percent(lang, row.churn_probability)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        viewer,
        Frame {
            title: lang.t("Renewals, next 90 days", "Verlängerungen, nächste 90 Tage"),
            nav: Nav::Renewals,
            here: &here,
            csm_query: Some(&book.query()),
            live: Some(format!("/live?csm={csm_id}")),
        },
        content,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_proto::common::v1::Date;

    fn renewing(name: &str, day: NaiveDate) -> PortfolioAccount {
        PortfolioAccount {
            name: name.into(),
            renewal_date: Some(date_to_proto(day)),
            ..PortfolioAccount::default()
        }
    }

    #[test]
    fn renewals_group_by_iso_week_within_ninety_days() {
        let today = NaiveDate::from_ymd_opt(2027, 1, 6).unwrap_or_default(); // a Wednesday
        let rows = vec![
            renewing(
                "this week",
                NaiveDate::from_ymd_opt(2027, 1, 8).unwrap_or_default(),
            ),
            renewing(
                "also this week",
                NaiveDate::from_ymd_opt(2027, 1, 6).unwrap_or_default(),
            ),
            renewing(
                "next week",
                NaiveDate::from_ymd_opt(2027, 1, 11).unwrap_or_default(),
            ),
            renewing(
                "past",
                NaiveDate::from_ymd_opt(2027, 1, 5).unwrap_or_default(),
            ),
            renewing(
                "too far",
                NaiveDate::from_ymd_opt(2027, 4, 7).unwrap_or_default(),
            ),
            PortfolioAccount {
                name: "no date".into(),
                renewal_date: Some(Date::default()),
                ..PortfolioAccount::default()
            },
        ];
        let weeks = by_week(&rows, today);
        let names: Vec<Vec<&str>> = weeks
            .values()
            .map(|rows| rows.iter().map(|r| r.name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            [vec!["also this week", "this week"], vec!["next week"]]
        );
        assert_eq!(
            weeks.keys().next().copied(),
            NaiveDate::from_ymd_opt(2027, 1, 4)
        );
    }
}
