//! The portfolio board: one row per account of a CSM's book, by ARR at risk, with the
//! tier mix and the year's retention and quota above it.

use std::cmp::Ordering;

use chrono::Utc;
use maud::{Markup, html};
use nordstern_proto::{
    common::v1::{HealthColor, Segment, Tier},
    gateway::v1::{self as gateway_pb, PortfolioAccount, Section},
    scoring::v1 as scoring_pb,
};
use nordstern_runtime::wire::MAX_BATCH;

use super::{Book, book_picker, csm_portfolio, query_pairs};
use crate::{
    Board, charts, format,
    i18n::Lang,
    layout::{self, Frame, Nav},
    session::{PageError, Viewer},
    words,
};

/// Days of the sparklines.
const TREND_DAYS: usize = 90;

query_page!(page, "GET /", render);

/// The filters and order of the rows, from the query string.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct View {
    pub color: Option<HealthColor>,
    pub tier: Option<Tier>,
    pub segment: Option<Segment>,
    /// Renewal within this many days from today.
    pub renewal_days: Option<i64>,
    pub sort: SortKey,
    /// Against the key's natural direction (`dir=rev`).
    pub reversed: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub enum SortKey {
    #[default]
    ArrAtRisk,
    Arr,
    Score,
    Churn,
    Renewal,
    Name,
    Alerts,
}

impl SortKey {
    const ALL: [(SortKey, &'static str); 7] = [
        (SortKey::ArrAtRisk, "risk"),
        (SortKey::Arr, "arr"),
        (SortKey::Score, "score"),
        (SortKey::Churn, "churn"),
        (SortKey::Renewal, "renewal"),
        (SortKey::Name, "name"),
        (SortKey::Alerts, "alerts"),
    ];

    fn parse(text: &str) -> Option<SortKey> {
        SortKey::ALL
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(key, _)| *key)
    }

    fn name(self) -> &'static str {
        SortKey::ALL
            .iter()
            .find(|(key, _)| *key == self)
            .map_or("risk", |(_, name)| name)
    }
}

impl View {
    pub fn parse(pairs: &std::collections::HashMap<String, String>) -> View {
        let get = |key: &str| pairs.get(key).map(String::as_str);
        View {
            color: get("color").and_then(|c| {
                HealthColor::from_str_name(&format!("HEALTH_COLOR_{}", c.to_ascii_uppercase()))
            }),
            tier: get("tier")
                .and_then(|t| Tier::from_str_name(&format!("TIER_{}", t.to_ascii_uppercase()))),
            segment: get("segment").and_then(|s| {
                Segment::from_str_name(&format!("SEGMENT_{}", s.to_ascii_uppercase()))
            }),
            renewal_days: get("renewal")
                .and_then(|d| d.parse().ok())
                .filter(|d| (1..=3_650).contains(d)),
            sort: get("sort").and_then(SortKey::parse).unwrap_or_default(),
            reversed: get("dir") == Some("rev"),
        }
    }

    fn keeps(&self, row: &PortfolioAccount, today: chrono::NaiveDate) -> bool {
        self.color.is_none_or(|c| row.color == c as i32)
            && self.tier.is_none_or(|t| row.tier == t as i32)
            && self.segment.is_none_or(|s| row.segment == s as i32)
            && self.renewal_days.is_none_or(|days| {
                format::from_proto_date(row.renewal_date.as_ref())
                    .is_some_and(|renewal| renewal >= today && (renewal - today).num_days() <= days)
            })
    }

    /// Orders rows by the chosen key in its natural direction (largest money, churn and
    /// alert count first; lowest score, soonest renewal and A first), or the reverse;
    /// ties keep the portfolio's order by ARR at risk.
    fn order(&self, rows: &mut [PortfolioAccount]) {
        if self.sort == SortKey::ArrAtRisk && !self.reversed {
            return;
        }
        let money = |m: &Option<nordstern_proto::common::v1::Money>| {
            m.as_ref().map_or(0, |m| m.minor_units)
        };
        let key = self.sort;
        rows.sort_by(|a, b| {
            let natural = match key {
                SortKey::ArrAtRisk => money(&b.arr_at_risk).cmp(&money(&a.arr_at_risk)),
                SortKey::Arr => money(&b.arr).cmp(&money(&a.arr)),
                SortKey::Score => a
                    .health_score
                    .partial_cmp(&b.health_score)
                    .unwrap_or(Ordering::Equal),
                SortKey::Churn => b
                    .churn_probability
                    .partial_cmp(&a.churn_probability)
                    .unwrap_or(Ordering::Equal),
                SortKey::Renewal => renewal_key(a).cmp(&renewal_key(b)),
                SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                SortKey::Alerts => b.open_alert_count.cmp(&a.open_alert_count),
            };
            if self.reversed {
                natural.reverse()
            } else {
                natural
            }
        });
    }

    /// The query string of this view with `sort` set to `key` (flipping the direction
    /// when it is already the key).
    fn sort_link(&self, book: &Book, key: SortKey) -> String {
        let mut pairs = self.pairs(book);
        pairs.retain(|(k, _)| *k != "sort" && *k != "dir");
        pairs.push(("sort", key.name().to_owned()));
        if self.sort == key && !self.reversed {
            pairs.push(("dir", "rev".to_owned()));
        }
        format!(
            "/?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }

    fn pairs(&self, book: &Book) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("csm", book.csm_id())];
        if let Some(color) = self.color {
            pairs.push(("color", color_param(color).to_owned()));
        }
        if let Some(tier) = self.tier {
            pairs.push(("tier", words::tier(tier as i32).to_lowercase()));
        }
        if let Some(segment) = self.segment {
            pairs.push(("segment", segment_param(segment).to_owned()));
        }
        if let Some(days) = self.renewal_days {
            pairs.push(("renewal", days.to_string()));
        }
        pairs.push(("sort", self.sort.name().to_owned()));
        if self.reversed {
            pairs.push(("dir", "rev".to_owned()));
        }
        pairs
    }
}

fn color_param(color: HealthColor) -> &'static str {
    match color {
        HealthColor::Green => "green",
        HealthColor::Yellow => "yellow",
        HealthColor::Red => "red",
        HealthColor::Unspecified => "",
    }
}

fn segment_param(segment: Segment) -> &'static str {
    match segment {
        Segment::Enterprise => "enterprise",
        Segment::Sme => "sme",
        Segment::Prosumer => "prosumer",
        Segment::Unspecified => "",
    }
}

fn renewal_key(row: &PortfolioAccount) -> (bool, i32, i32, i32) {
    match &row.renewal_date {
        Some(d) if d.year > 0 => (false, d.year, d.month, d.day),
        _ => (true, 0, 0, 0),
    }
}

async fn render(board: &Board, viewer: &Viewer, query: Option<&str>) -> Result<Markup, PageError> {
    let lang = viewer.lang;
    let pairs = query_pairs(query);
    let (book, csm_id, portfolio) = csm_portfolio(&board.calls, viewer, query).await?;
    let view = View::parse(&pairs);
    let ids: Vec<String> = portfolio
        .accounts
        .iter()
        .map(|a| a.account_id.clone())
        .collect();
    let (trends, picker) = tokio::join!(
        trends(board, &ids),
        book_picker(&board.calls, viewer, &book, "/", false)
    );
    let trends = trends.unwrap_or_default();
    let today = Utc::now().date_naive();
    let first_day = today - chrono::Days::new(TREND_DAYS as u64 - 1);

    let mut rows: Vec<PortfolioAccount> = portfolio
        .accounts
        .iter()
        .filter(|row| view.keeps(row, today))
        .cloned()
        .collect();
    view.order(&mut rows);
    let csm_name = portfolio
        .csm
        .as_ref()
        .map_or(csm_id.as_str(), |c| c.name.as_str());
    let title = format!("{} · {}", lang.t("Portfolio", "Portfolio"), csm_name);
    let here = format!("/?{}", query.unwrap_or_default());
    let missing: Vec<String> = portfolio
        .missing_sections
        .iter()
        .filter_map(|s| Section::try_from(*s).ok())
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("SECTION_")
                .replace('_', " ")
                .to_lowercase()
        })
        .collect();
    let live = format!("/live?csm={csm_id}");
    let content = html! {
        (picker)
        (layout::missing_note(lang, &missing))
        (summary(lang, &portfolio))
        (filters(lang, &view, &book))
        p.count { (rows.len()) " " (lang.t("of", "von")) " " (portfolio.accounts.len()) " " (lang.t("accounts", "Accounts")) }
        table.rows #portfolio {
            caption.visually-hidden { (lang.t("Accounts of the portfolio", "Accounts des Portfolios")) }
            thead {
                tr {
                    (sort_header(lang, &view, &book, SortKey::Name, lang.t("Account", "Account")))
                    (sort_header(lang, &view, &book, SortKey::Arr, "ARR"))
                    th scope="col" { "Tier" }
                    (sort_header(lang, &view, &book, SortKey::Score, lang.t("Health", "Health")))
                    th scope="col" { (lang.t("90 days", "90 Tage")) }
                    (sort_header(lang, &view, &book, SortKey::Churn, lang.t("Churn", "Churn")))
                    (sort_header(lang, &view, &book, SortKey::ArrAtRisk, lang.t("ARR at risk", "ARR im Risiko")))
                    (sort_header(lang, &view, &book, SortKey::Renewal, lang.t("Renewal", "Verlängerung")))
                    (sort_header(lang, &view, &book, SortKey::Alerts, lang.t("Open alerts", "Offene Warnungen")))
                }
            }
            tbody {
                @for row in &rows {
                    @let trend = trends.iter().find(|t| t.account_id == row.account_id);
                    tr data-account=(row.account_id) {
                        th scope="row" { a href=(format!("/accounts/{}", row.account_id)) { (row.name) } }
                        td.num { (format::money(lang, row.arr.as_ref())) }
                        td { (words::tier(row.tier)) }
                        td.health { (layout::health_badge(lang, row.color, row.health_score)) }
                        td { (sparkline(lang, trend, first_day)) }
                        td.num.churn { (format::percent(lang, row.churn_probability)) }
                        td.num { (format::money(lang, row.arr_at_risk.as_ref())) }
                        td { (format::date(lang, row.renewal_date.as_ref())) }
                        td.num.alerts { a href=(format!("/accounts/{}#alerts", row.account_id)) { (row.open_alert_count) } }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        viewer,
        Frame {
            title: &title,
            nav: Nav::Portfolio,
            here: &here,
            csm_query: Some(&book.query()),
            live: Some(live),
        },
        content,
    ))
}

fn sort_header(lang: Lang, view: &View, book: &Book, key: SortKey, name: &str) -> Markup {
    let sorted = view.sort == key;
    // Natural directions: descending for amounts, ascending for score, dates and names.
    let natural_ascending = matches!(key, SortKey::Score | SortKey::Renewal | SortKey::Name);
    let state = match (sorted, natural_ascending != view.reversed) {
        (false, _) => "none",
        (true, true) => "ascending",
        (true, false) => "descending",
    };
    html! {
        th scope="col" aria-sort=(state) {
            a href=(view.sort_link(book, key)) title=(lang.t("Sort", "Sortieren")) { (name) @if sorted { (if state == "ascending" { " ▲" } else { " ▼" }) } }
        }
    }
}

/// The daily scores of the rows, for their sparklines (a missing trend draws nothing).
async fn trends(
    board: &Board,
    ids: &[String],
) -> Result<Vec<scoring_pb::HealthTrend>, tonic::Status> {
    let mut trends = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BATCH) {
        let response =
            board
                .calls
                .scoring()
                .batch_get_health_trends(board.calls.request(
                    scoring_pb::BatchGetHealthTrendsRequest {
                        account_ids: chunk.to_vec(),
                        days: TREND_DAYS as i32,
                    },
                ))
                .await?
                .into_inner();
        trends.extend(response.trends);
    }
    Ok(trends)
}

fn sparkline(
    lang: Lang,
    trend: Option<&scoring_pb::HealthTrend>,
    first_day: chrono::NaiveDate,
) -> Markup {
    let points: Vec<(usize, f64)> = trend
        .map(|t| {
            t.points
                .iter()
                .filter_map(|p| {
                    let day = format::from_proto_date(p.day.as_ref())?;
                    Some((usize::try_from((day - first_day).num_days()).ok()?, p.score))
                })
                .collect()
        })
        .unwrap_or_default();
    let label = match (points.first(), points.last()) {
        (Some(first), Some(last)) => format!(
            "{} {:.0} → {:.0}",
            lang.t("score over 90 days:", "Score über 90 Tage:"),
            first.1,
            last.1
        ),
        _ => lang
            .t("no scores in 90 days", "keine Scores in 90 Tagen")
            .to_owned(),
    };
    charts::sparkline(&points, TREND_DAYS, &label)
}

fn summary(lang: Lang, portfolio: &gateway_pb::GetPortfolioResponse) -> Markup {
    let revenue = portfolio.revenue.as_ref();
    html! {
        section.summary aria-label=(lang.t("Summary", "Überblick")) {
            div.tiles {
                @for tier in &portfolio.tier_mix {
                    div.tile {
                        span.label { "Tier " (words::tier(tier.tier)) }
                        span.value { (tier.account_count) }
                        span.sub { (format::money(lang, tier.arr.as_ref())) }
                    }
                }
                div.tile {
                    span.label { (lang.t("NRR year to date", "NRR seit Jahresbeginn")) }
                    span.value { (format::percent(lang, revenue.and_then(|r| r.net_revenue_retention))) }
                }
                div.tile {
                    span.label { (lang.t("GRR year to date", "GRR seit Jahresbeginn")) }
                    span.value { (format::percent(lang, revenue.and_then(|r| r.gross_revenue_retention))) }
                }
                div.tile {
                    span.label { (lang.t("Quota attainment", "Quotenerfüllung")) }
                    span.value { (format::percent(lang, revenue.and_then(|r| r.quota_attainment))) }
                    span.sub { (lang.t("target", "Ziel")) " " (format::money(lang, revenue.and_then(|r| r.quota_target.as_ref()))) }
                }
                div.tile {
                    span.label { (lang.t("Open alerts", "Offene Warnungen")) }
                    span.value #open-alert-total { (portfolio.open_alert_total) }
                }
            }
        }
    }
}

fn filters(lang: Lang, view: &View, book: &Book) -> Markup {
    let colors = [HealthColor::Red, HealthColor::Yellow, HealthColor::Green];
    let segments = [Segment::Enterprise, Segment::Sme, Segment::Prosumer];
    html! {
        form.filters method="get" action="/" {
            input type="hidden" name="csm" value=(book.csm_id());
            input type="hidden" name="sort" value=(view.sort.name());
            label { (lang.t("Colour", "Farbe")) " "
                select name="color" data-autosubmit {
                    option value="" { (lang.t("all", "alle")) }
                    @for color in colors {
                        option value=(color_param(color)) selected[view.color == Some(color)] { (words::color(lang, color as i32).0) }
                    }
                }
            }
            label { "Tier "
                select name="tier" data-autosubmit {
                    option value="" { (lang.t("all", "alle")) }
                    @for tier in [Tier::A, Tier::B, Tier::C] {
                        option value=(words::tier(tier as i32).to_lowercase()) selected[view.tier == Some(tier)] { (words::tier(tier as i32)) }
                    }
                }
            }
            label { (lang.t("Segment", "Segment")) " "
                select name="segment" data-autosubmit {
                    option value="" { (lang.t("all", "alle")) }
                    @for segment in segments {
                        option value=(segment_param(segment)) selected[view.segment == Some(segment)] { (words::segment(lang, segment as i32)) }
                    }
                }
            }
            label { (lang.t("Renewal within", "Verlängerung in")) " "
                select name="renewal" data-autosubmit {
                    option value="" { (lang.t("any time", "beliebig")) }
                    @for days in [30, 60, 90, 180] {
                        option value=(days) selected[view.renewal_days == Some(days)] { (days) " " (lang.t("days", "Tagen")) }
                    }
                }
            }
            noscript { button type="submit" { (lang.t("Filter", "Filtern")) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_proto::common::v1::{Date, Money};

    fn row(
        name: &str,
        at_risk: i64,
        renewal: Option<(i32, i32, i32)>,
        color: HealthColor,
    ) -> PortfolioAccount {
        PortfolioAccount {
            account_id: name.into(),
            name: name.into(),
            arr_at_risk: Some(Money {
                minor_units: at_risk,
                currency_code: "EUR".into(),
            }),
            renewal_date: renewal.map(|(year, month, day)| Date { year, month, day }),
            color: color as i32,
            ..PortfolioAccount::default()
        }
    }

    #[test]
    fn filters_and_sorting_come_from_the_query() {
        let pairs = [
            ("color", "red"),
            ("tier", "a"),
            ("segment", "sme"),
            ("renewal", "90"),
            ("sort", "renewal"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let view = View::parse(&pairs);
        assert_eq!(view.color, Some(HealthColor::Red));
        assert_eq!(view.tier, Some(Tier::A));
        assert_eq!(view.segment, Some(Segment::Sme));
        assert_eq!(view.renewal_days, Some(90));
        assert_eq!(view.sort, SortKey::Renewal);
        assert_eq!(View::parse(&Default::default()), View::default());
    }

    #[test]
    fn the_renewal_window_and_colour_filter_rows() {
        let today = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default();
        let view = View {
            color: Some(HealthColor::Red),
            renewal_days: Some(30),
            ..View::default()
        };
        assert!(view.keeps(&row("a", 0, Some((2027, 1, 20)), HealthColor::Red), today));
        assert!(!view.keeps(&row("b", 0, Some((2027, 3, 1)), HealthColor::Red), today));
        assert!(!view.keeps(&row("c", 0, Some((2027, 1, 20)), HealthColor::Green), today));
        assert!(!view.keeps(&row("d", 0, None, HealthColor::Red), today));
    }

    #[test]
    fn rows_sort_by_the_chosen_key_and_direction() {
        let mut rows = vec![
            row("b", 10, Some((2027, 5, 1)), HealthColor::Red),
            row("a", 30, None, HealthColor::Red),
            row("c", 20, Some((2027, 2, 1)), HealthColor::Red),
        ];
        let names =
            |rows: &[PortfolioAccount]| rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        View {
            sort: SortKey::Renewal,
            ..View::default()
        }
        .order(&mut rows);
        assert_eq!(names(&rows), ["c", "b", "a"]);
        View {
            sort: SortKey::ArrAtRisk,
            reversed: true,
            ..View::default()
        }
        .order(&mut rows);
        assert_eq!(names(&rows), ["b", "c", "a"]);
        View {
            sort: SortKey::Name,
            ..View::default()
        }
        .order(&mut rows);
        assert_eq!(names(&rows), ["a", "b", "c"]);
    }
}
