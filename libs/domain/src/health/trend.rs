//! The daily view of a score history, for sparklines: each day's last computation.

use chrono::{DateTime, NaiveDate};

use super::HealthColor;

/// One stored computation: when (microseconds since the epoch), the score and colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Computation {
    pub computed_at_micros: i64,
    pub score: f64,
    pub color: HealthColor,
}

/// A day's last computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyScore {
    pub day: NaiveDate,
    pub score: f64,
    pub color: HealthColor,
}

/// The last computation of each UTC day, oldest day first, whatever order `history`
/// comes in.
pub fn daily_last(history: impl IntoIterator<Item = Computation>) -> Vec<DailyScore> {
    let mut history: Vec<Computation> = history.into_iter().collect();
    history.sort_by_key(|c| c.computed_at_micros);
    let mut days: Vec<DailyScore> = Vec::new();
    for computation in history {
        let Some(day) =
            DateTime::from_timestamp_micros(computation.computed_at_micros).map(|t| t.date_naive())
        else {
            continue;
        };
        let point = DailyScore {
            day,
            score: computation.score,
            color: computation.color,
        };
        match days.last_mut() {
            Some(last) if last.day == day => *last = point,
            _ => days.push(point),
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::ColorThresholds;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000_000;

    fn at(micros: i64, score: f64) -> Computation {
        Computation {
            computed_at_micros: micros,
            score,
            color: ColorThresholds::default().color(score),
        }
    }

    #[test]
    fn each_day_keeps_its_last_computation() {
        let days = daily_last([
            at(DAY + 5, 50.0),
            at(3, 80.0),
            at(DAY + 1, 30.0),
            at(1, 10.0),
        ]);
        let scores: Vec<f64> = days.iter().map(|d| d.score).collect();
        assert_eq!(scores, [80.0, 50.0]);
        assert_eq!(
            days[1].day,
            NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default()
        );
        assert!(daily_last([]).is_empty());
    }

    proptest! {
        #[test]
        fn one_point_per_day_in_order(times in proptest::collection::vec(0i64..30 * DAY, 0..60)) {
            let history: Vec<Computation> = times.iter().map(|t| at(*t, (*t % 100) as f64)).collect();
            let days = daily_last(history.clone());
            let mut distinct: Vec<i64> = times.iter().map(|t| t / DAY).collect();
            distinct.sort_unstable();
            distinct.dedup();
            prop_assert_eq!(days.len(), distinct.len());
            prop_assert!(days.windows(2).all(|w| w[0].day < w[1].day));
            for day in &days {
                let latest = history
                    .iter()
                    .filter(|c| DateTime::from_timestamp_micros(c.computed_at_micros).map(|t| t.date_naive()) == Some(day.day))
                    .max_by_key(|c| c.computed_at_micros)
                    .map(|c| c.score);
                prop_assert_eq!(latest, Some(day.score));
            }
        }
    }
}
