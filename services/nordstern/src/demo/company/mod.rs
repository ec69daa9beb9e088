//! The generated demo company, as plain data: CSMs, accounts with log-normal ARR and a
//! contract history, a year of product usage per account and quarterly NPS answers.
//! Nothing here talks to a server, so the statistics can be tested directly.
//!
//! Every account has latent traits (engagement, how many of its features it uses,
//! whether it integrates, how it feels about the product, what it pays). Before each
//! renewal an account may disengage: its usage falls over the months before the term
//! end, its integration stops syncing and its NPS answers sour. Disengaged accounts
//! churn far more often, and so do accounts with low breadth, no integration,
//! detractors and small contracts, which is what practice reports. Churn is decided
//! from the traits, never from the features the model later sees, so the model has to
//! find the pattern in the usage the platform records.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use nordstern_domain::{
    account::Segment,
    churn::{PLATFORM_CATEGORICAL_FEATURES, arr_in_major_units, sigmoid},
    health::{HealthComponent, HealthInputs, IntegrationStatus},
    survey::{NpsAnswer, nps_counts_latest},
    usage::{feature_breadth, usage_trend},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

mod catalog;
mod history;

pub use catalog::{MODULES, Module};

use history::inputs_as_of;
pub use history::{HistoryRow, history_csv};

/// Days of usage history before today (the usage service keeps 400 by default).
pub const USAGE_DAYS: i64 = 365;
/// Features of the churn history are taken this long before each renewal or churn,
/// the platform's default for training from history.
pub const CUTOFF_DAYS: i64 = 90;
/// Days of usage a history row needs before its cut-off: the 30-day trend window and
/// the 90 days it is compared with.
pub const FEATURE_DAYS: i64 = 120;
/// Quarterly NPS campaigns: four in the past year, the fifth is today's.
pub const SURVEY_QUARTERS: usize = 5;
/// Minor units per major unit of the demo currency.
const CURRENCY_DECIMALS: u32 = 2;

/// The columns of the churn-history CSV the demo trains on; all are platform features,
/// so the trained model can score live accounts.
pub const HISTORY_NUMERIC_COLUMNS: [&str; 6] = [
    "arr",
    "login_regularity",
    "feature_breadth",
    "integration",
    "usage_trend",
    "nps",
];
pub const HISTORY_LABEL: &str = "churned";

const FIRST_NAMES: [&str; 16] = [
    "Anna", "Jonas", "Lea", "Felix", "Mia", "Lukas", "Sofia", "Paul", "Emma", "Noah", "Clara",
    "Elias", "Hannah", "Ben", "Marie", "Leon",
];
const LAST_NAMES: [&str; 16] = [
    "Schmidt", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein",
    "Wolf", "Brown", "Taylor", "Walker", "Wright", "Hughes", "Green",
];
const NAME_STEMS: [&str; 24] = [
    "Nord", "Alpen", "Rhein", "Blue", "Bright", "Cedar", "Delta", "Elb", "Falcon", "Granit",
    "Harbor", "Iron", "Kiel", "Linden", "Main", "Nova", "Oak", "Polar", "Quarz", "River", "Stern",
    "Tannen", "Vega", "Weser",
];
const NAME_ENDINGS: [&str; 16] = [
    "tech",
    "werk",
    "logistics",
    "soft",
    "data",
    "bau",
    "medical",
    "retail",
    "energy",
    "labs",
    "print",
    "foods",
    "mobility",
    "finance",
    "systems",
    "media",
];
const LEGAL_FORMS: [&str; 5] = ["GmbH", "AG", "SE", "Ltd", "Inc."];

pub struct CsmPlan {
    pub name: String,
    pub email: String,
}

/// Latent traits that drive usage, sentiment and churn.
#[derive(Debug, Clone, Copy)]
pub struct Traits {
    /// At most 14, so a day's active users fit one bit each in a `u64` mask.
    pub users: u32,
    /// Chance that a user is active on a working day, before disengagement.
    pub engagement: f64,
    /// Share of the purchased features in use.
    pub breadth: f64,
    /// Runs an integration that syncs twice a week.
    pub integrates: bool,
    /// Mean NPS answer (0–10) of the account's contacts.
    pub sentiment: f64,
    /// Seeds of the account's usage and survey answers, so each can be replayed alone.
    pub usage_seed: u64,
    pub survey_seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    Renewal,
    Expansion,
    Contraction,
    Churn,
}

#[derive(Debug, Clone, Copy)]
pub struct ContractStep {
    pub kind: ContractKind,
    /// ARR change in minor units (0 for a churn).
    pub change: i64,
    pub effective: NaiveDate,
    /// The new term end of a renewal.
    pub renewal: Option<NaiveDate>,
    /// ARR in force just before the step.
    pub arr_before: i64,
}

/// A renewal or churn at a term end: what the churn history is made of.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub on: NaiveDate,
    pub churned: bool,
    pub arr: i64,
}

pub struct AccountPlan {
    pub index: usize,
    pub name: String,
    pub crm_id: String,
    pub segment: Segment,
    pub initial_arr: i64,
    pub start: NaiveDate,
    pub first_term_end: NaiveDate,
    /// Modules bought: the first `module_count` of [`MODULES`].
    pub module_count: usize,
    pub traits: Traits,
    pub steps: Vec<ContractStep>,
    pub outcomes: Vec<Outcome>,
    pub churned_on: Option<NaiveDate>,
    /// When the account began to disengage and the term end that disengagement leads to.
    pub disengagements: Vec<(NaiveDate, NaiveDate)>,
    pub current_arr: i64,
}

impl AccountPlan {
    pub fn feature_keys(&self) -> Vec<&'static str> {
        MODULES[..self.module_count]
            .iter()
            .flat_map(|module| module.2.iter().copied())
            .collect()
    }

    pub fn module_keys(&self) -> Vec<&'static str> {
        MODULES[..self.module_count].iter().map(|m| m.0).collect()
    }

    /// Whether a bought module comes with an integration to set up.
    pub fn integration_offered(&self) -> bool {
        MODULES[..self.module_count].iter().any(|m| m.4)
    }

    /// Appends a contract step and applies its ARR change; a step is never dated before
    /// the previous one, as the service accepts events in effective-date order only.
    fn record(
        &mut self,
        kind: ContractKind,
        change: i64,
        effective: NaiveDate,
        renewal: Option<NaiveDate>,
    ) {
        let last = self.steps.last().map_or(self.start, |step| step.effective);
        self.steps.push(ContractStep {
            kind,
            // A churn loses the whole ARR; the service records that itself.
            change: if kind == ContractKind::Churn {
                0
            } else {
                change
            },
            effective: effective.max(last),
            renewal,
            arr_before: self.current_arr,
        });
        self.current_arr += change;
    }

    /// 1 while engaged, falling to 0.15 over the 120 days after disengagement began.
    fn engagement_factor(&self, day: NaiveDate) -> f64 {
        self.disengagements
            .iter()
            .filter(|(from, until)| day >= *from && day <= *until)
            .map(|(from, _)| 1.0 - 0.85 * ((day - *from).num_days() as f64 / 120.0).min(1.0))
            .fold(1.0, f64::min)
    }

    /// The last day the account uses the product: the day before its churn, or yesterday.
    fn last_usage_day(&self, today: NaiveDate) -> NaiveDate {
        let yesterday = today - Duration::days(1);
        self.churned_on.map_or(yesterday, |churn| {
            (churn - Duration::days(1)).min(yesterday)
        })
    }
}

pub struct Company {
    pub today: NaiveDate,
    pub csms: Vec<CsmPlan>,
    pub accounts: Vec<AccountPlan>,
}

/// One active user on one day.
#[derive(Debug, Clone, Copy)]
pub struct UserDay {
    pub user: u32,
    /// Index into the account's feature keys; `None` is a login without feature use.
    pub feature: Option<usize>,
    pub quantity: i64,
}

#[derive(Debug, Clone, Default)]
pub struct DayUsage {
    pub date: NaiveDate,
    pub users: Vec<UserDay>,
    pub integration_sync: bool,
}

impl DayUsage {
    /// LOGIN plus FEATURE_USED quantities: what the usage service calls usage.
    pub fn usage(&self) -> i64 {
        self.users.iter().map(|u| u.quantity).sum()
    }
}

/// One NPS answer; quarter [`SURVEY_QUARTERS`] − 1 is the running campaign.
#[derive(Debug, Clone)]
pub struct NpsPlan {
    pub quarter: usize,
    pub respondent: String,
    pub score: i32,
    pub answered_on: NaiveDate,
    /// The client-chosen id of an answer given by token, so a second run finds it.
    pub response_id: uuid::Uuid,
}

/// A draw from a normal distribution (Box–Muller), so ARR can be log-normal without
/// another dependency.
pub fn normal(rng: &mut impl Rng, mean: f64, std_dev: f64) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    mean + std_dev * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Log-normal ARR in minor units: most accounts small, a few very large (median ≈ 22,000).
pub fn log_normal_arr(rng: &mut impl Rng) -> i64 {
    normal(rng, 14.6, 1.1)
        .exp()
        .round()
        .clamp(100_000.0, 1.0e11) as i64
}

/// How long ago the running quarter's campaign went out: it is in its second week, so
/// about half of its answers have arrived, as a campaign's answers do over its first
/// two weeks.
pub const RUNNING_CAMPAIGN_AGE_DAYS: i64 = 7;

/// The first day of quarter `quarter`'s campaign.
pub fn survey_day(today: NaiveDate, quarter: usize) -> NaiveDate {
    let back = (SURVEY_QUARTERS - 1 - quarter) as i64 * 91 + RUNNING_CAMPAIGN_AGE_DAYS;
    today - Duration::days(back)
}

impl Company {
    pub fn generate(accounts: usize, csms: usize, seed: u64, today: NaiveDate) -> Company {
        let mut rng = StdRng::seed_from_u64(seed);
        let csms = (0..csms)
            .map(|index| {
                let first = FIRST_NAMES[index % FIRST_NAMES.len()];
                let last = LAST_NAMES[(index * 7 + index / LAST_NAMES.len()) % LAST_NAMES.len()];
                CsmPlan {
                    name: format!("{first} {last}"),
                    email: format!(
                        "{}.{}{}@demo.nordstern.dev",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        if index < FIRST_NAMES.len() {
                            String::new()
                        } else {
                            (index / FIRST_NAMES.len()).to_string()
                        }
                    ),
                }
            })
            .collect();
        let accounts = (0..accounts)
            .map(|index| plan_account(&mut rng, index, today))
            .collect();
        Company {
            today,
            csms,
            accounts,
        }
    }

    /// The first day of usage history.
    pub fn usage_start(&self) -> NaiveDate {
        self.today - Duration::days(USAGE_DAYS)
    }

    /// The account's product usage, day by day, replayed from its seed.
    pub fn usage(&self, account: &AccountPlan) -> Vec<DayUsage> {
        let mut rng = StdRng::seed_from_u64(account.traits.usage_seed);
        let features = account.feature_keys().len();
        let in_use = |factor: f64| {
            ((account.traits.breadth * factor.sqrt() * features as f64).ceil() as usize)
                .clamp(1, features)
        };
        let first = account.start.max(self.usage_start());
        let last = account.last_usage_day(self.today);
        let mut days = Vec::new();
        let mut day = first;
        while day <= last {
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            let factor = account.engagement_factor(day);
            let chance =
                (account.traits.engagement * factor * if weekend { 0.12 } else { 1.0 }).min(1.0);
            let mut usage = DayUsage {
                date: day,
                ..DayUsage::default()
            };
            for user in 0..account.traits.users {
                // Drawn for every user, active or not, so one user's day does not shift
                // another's.
                let active = rng.random_bool(chance);
                let uses_feature = rng.random_bool(0.85);
                // Disengaging users fall back to fewer features.
                let feature = rng.random_range(0..in_use(factor));
                let quantity = rng.random_range(1..=4);
                if active {
                    usage.users.push(UserDay {
                        user,
                        feature: uses_feature.then_some(feature),
                        quantity,
                    });
                }
            }
            // Syncs on Mondays and Thursdays, so one always lies within the 7 days that
            // make an integration live; they break once disengagement is well under way.
            usage.integration_sync = account.traits.integrates
                && matches!(day.weekday(), Weekday::Mon | Weekday::Thu)
                && factor > 0.5;
            days.push(usage);
            day += Duration::days(1);
        }
        days
    }

    /// The account's NPS answers: two contacts per quarterly campaign while it is a
    /// customer; disengaged contacts answer less often and lower. Each answer comes
    /// within two weeks of the campaign, so the running campaign's answers from after
    /// today are not given yet.
    pub fn nps_answers(&self, account: &AccountPlan) -> Vec<NpsPlan> {
        let mut rng = StdRng::seed_from_u64(account.traits.survey_seed);
        let mut answers = Vec::new();
        for quarter in 0..SURVEY_QUARTERS {
            let sent = survey_day(self.today, quarter);
            for contact in ["champion", "user"] {
                let answered_on = sent + Duration::days(rng.random_range(0..14));
                let factor = account.engagement_factor(answered_on);
                let responds = rng.random_bool(0.45 + 0.25 * factor);
                let response_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
                let score = normal(
                    &mut rng,
                    account.traits.sentiment - 4.0 * (1.0 - factor),
                    1.6,
                );
                let customer = account.start <= sent
                    && account.churned_on.is_none_or(|churn| answered_on < churn);
                if responds && customer && answered_on <= self.today {
                    answers.push(NpsPlan {
                        quarter,
                        respondent: format!("{contact}@{}", account.crm_id.to_lowercase()),
                        score: (score.round() as i32).clamp(0, 10),
                        answered_on,
                        response_id,
                    });
                }
            }
        }
        answers
    }

    /// Features as the platform would have computed them `CUTOFF_DAYS` before each
    /// renewal or churn that has a full feature window inside the usage history.
    pub fn history(&self) -> Vec<HistoryRow> {
        let mut rows = Vec::new();
        for account in &self.accounts {
            let eligible: Vec<&Outcome> = account
                .outcomes
                .iter()
                .filter(|o| {
                    o.on - Duration::days(CUTOFF_DAYS + FEATURE_DAYS) >= self.usage_start()
                        && o.on <= self.today
                })
                .collect();
            if eligible.is_empty() {
                continue;
            }
            let usage = self.usage(account);
            let answers = self.nps_answers(account);
            for outcome in eligible {
                let cutoff = outcome.on - Duration::days(CUTOFF_DAYS);
                rows.push(HistoryRow {
                    crm_id: account.crm_id.clone(),
                    segment: account.segment,
                    arr: outcome.arr,
                    churned: outcome.churned,
                    usage_before_cutoff: usage
                        .iter()
                        .filter(|d| d.date <= cutoff && d.date > cutoff - Duration::days(90))
                        .map(DayUsage::usage)
                        .sum(),
                    inputs: inputs_as_of(account, &usage, &answers, cutoff),
                });
            }
        }
        rows
    }
}

fn company_name(rng: &mut impl Rng) -> String {
    format!(
        "{}{} {}",
        NAME_STEMS[rng.random_range(0..NAME_STEMS.len())],
        NAME_ENDINGS[rng.random_range(0..NAME_ENDINGS.len())],
        LEGAL_FORMS[rng.random_range(0..LEGAL_FORMS.len())]
    )
}

fn plan_account(rng: &mut StdRng, index: usize, today: NaiveDate) -> AccountPlan {
    let arr = log_normal_arr(rng);
    let segment = if arr > 10_000_000 {
        Segment::Enterprise
    } else if arr > 1_500_000 {
        Segment::Sme
    } else {
        Segment::Prosumer
    };
    let users = match segment {
        Segment::Prosumer => rng.random_range(1..=2),
        Segment::Sme => rng.random_range(2..=5),
        Segment::Enterprise => rng.random_range(5..=14),
    };
    let traits = Traits {
        users,
        engagement: rng.random_range(0.3..0.9),
        breadth: rng.random_range(0.3..1.0),
        integrates: rng.random_bool(0.55),
        sentiment: normal(rng, 8.1, 1.3).clamp(2.0, 10.0),
        usage_seed: rng.random(),
        survey_seed: rng.random(),
    };
    // How each trait moves the odds of disengaging and of churning, in standard units.
    let standard = |value: f64, mean: f64, spread: f64| (value - mean) / spread;
    let engagement = standard(traits.engagement, 0.6, 0.17);
    let breadth = standard(traits.breadth, 0.65, 0.2);
    let sentiment = standard(traits.sentiment, 8.1, 1.3);
    let size = standard((arr as f64).ln(), 14.6, 1.1);
    let no_integration = if traits.integrates { -0.45 } else { 0.55 };
    let disengage_odds = -1.5 - 0.7 * engagement - 0.5 * breadth + 0.5 * no_integration;
    let churn_odds = |disengaged: bool| {
        -3.1 + if disengaged { 3.3 } else { 0.0 } - 0.7 * breadth + 0.8 * no_integration
            - 0.7 * sentiment
            - 0.45 * size
    };

    let expand_odds = -1.2 + 0.6 * engagement + 0.7 * breadth;

    let start = today - Duration::days(rng.random_range(60..1000));
    let module_count = rng.random_range(1..=MODULES.len());
    let first_term_end = start + Duration::days(365);
    let mut plan = AccountPlan {
        index,
        name: company_name(rng),
        crm_id: format!("DEMO-{:06}", index + 1),
        segment,
        initial_arr: arr,
        start,
        first_term_end,
        module_count,
        traits,
        steps: Vec::new(),
        outcomes: Vec::new(),
        churned_on: None,
        disengagements: Vec::new(),
        current_arr: arr,
    };
    let mut term_end = first_term_end;
    // Walk the contract term by term, into the next renewal that lies ahead, so an
    // account can already be disengaging before a renewal that has not come yet.
    loop {
        let disengaged = rng.random_bool(sigmoid(disengage_odds));
        let lead = rng.random_range(150..230);
        if disengaged {
            plan.disengagements
                .push((term_end - Duration::days(lead), term_end));
        }
        let churns = rng.random_bool(sigmoid(churn_odds(disengaged)));
        let expands = rng.random_bool(sigmoid(expand_odds)) && !disengaged;
        let contracts = rng.random_bool(0.07);
        let expansion_share = rng.random_range(0.05..0.4);
        let contraction_share = rng.random_range(0.05..0.3);
        let uplift_share = rng.random_range(0.0..0.08);
        if term_end >= today {
            break;
        }
        let share_of_arr = |share: f64, arr: i64| (arr as f64 * share) as i64;
        if churns {
            plan.outcomes.push(Outcome {
                on: term_end,
                churned: true,
                arr: plan.current_arr,
            });
            plan.record(ContractKind::Churn, -plan.current_arr, term_end, None);
            plan.churned_on = Some(term_end);
            break;
        }
        if expands {
            let change = share_of_arr(expansion_share, plan.current_arr);
            plan.record(
                ContractKind::Expansion,
                change,
                term_end - Duration::days(60),
                None,
            );
        } else if contracts && plan.current_arr > 200_000 {
            let change = -share_of_arr(contraction_share, plan.current_arr);
            plan.record(
                ContractKind::Contraction,
                change,
                term_end - Duration::days(30),
                None,
            );
        }
        plan.outcomes.push(Outcome {
            on: term_end,
            churned: false,
            arr: plan.current_arr,
        });
        let renewal = Some(term_end + Duration::days(365));
        let uplift = share_of_arr(uplift_share, plan.current_arr);
        plan.record(ContractKind::Renewal, uplift, term_end, renewal);
        term_end += Duration::days(365);
    }
    plan
}

#[cfg(test)]
mod tests;
