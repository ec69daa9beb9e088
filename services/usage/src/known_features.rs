//! Which feature keys the product catalog names, as ingestion needs to know it: read from
//! the accounts service at most once a minute, and again when a batch names a key the
//! last reading did not have (a module may just have been added), but not more often
//! than every two seconds, so a sender of unknown keys cannot turn every batch into a
//! catalog read.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::summary::Catalog;

const MAX_AGE: Duration = Duration::from_secs(60);
const MIN_REFRESH_ON_MISS: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct KnownFeatures {
    reading: Mutex<Option<(Instant, Catalog)>>,
}

impl KnownFeatures {
    /// The keys of `used` (key → events) that no module names, with their counts.
    pub async fn unknown<E>(
        &self,
        used: BTreeMap<String, i64>,
        read_catalog: impl Future<Output = Result<Catalog, E>>,
    ) -> Result<BTreeMap<String, i64>, E> {
        if used.is_empty() {
            return Ok(used);
        }
        let mut reading = self.reading.lock().await;
        let misses = |reading: &Option<(Instant, Catalog)>| match reading {
            None => true,
            Some((_, catalog)) => used.keys().any(|key| !catalog.names_feature(key)),
        };
        let refresh = match reading.as_ref() {
            None => true,
            Some((at, _)) => {
                at.elapsed() > MAX_AGE || (at.elapsed() > MIN_REFRESH_ON_MISS && misses(&reading))
            }
        };
        if refresh {
            *reading = Some((Instant::now(), read_catalog.await?));
        }
        let Some((_, catalog)) = reading.as_ref() else {
            return Ok(used);
        };
        Ok(used
            .into_iter()
            .filter(|(key, _)| !catalog.names_feature(key))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_proto::accounts::v1 as accounts_pb;

    fn catalog(features: &[&str]) -> Catalog {
        Catalog::from_modules(vec![accounts_pb::ProductModule {
            module_key: "analytics".to_owned(),
            feature_keys: features.iter().map(|f| (*f).to_owned()).collect(),
            ..accounts_pb::ProductModule::default()
        }])
    }

    fn used(keys: &[(&str, i64)]) -> BTreeMap<String, i64> {
        keys.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    #[tokio::test]
    async fn names_only_the_keys_no_module_has_and_rereads_on_a_miss_after_a_pause() {
        let known = KnownFeatures::default();
        let first = known
            .unknown(used(&[("dashboards", 3), ("teleport", 2)]), async {
                Ok::<_, ()>(catalog(&["dashboards"]))
            })
            .await;
        assert_eq!(first, Ok(used(&[("teleport", 2)])));
        // A miss right after a reading does not read again.
        let soon = known
            .unknown(used(&[("teleport", 1)]), async {
                Ok::<_, ()>(catalog(&["dashboards", "teleport"]))
            })
            .await;
        assert_eq!(soon, Ok(used(&[("teleport", 1)])));
        // Once the pause is over, a miss reads the catalog again and sees the new module.
        if let Some((at, _)) = known.reading.lock().await.as_mut() {
            *at = at
                .checked_sub(MIN_REFRESH_ON_MISS + Duration::from_millis(1))
                .unwrap_or(*at);
        }
        let later = known
            .unknown(used(&[("teleport", 1)]), async {
                Ok::<_, ()>(catalog(&["dashboards", "teleport"]))
            })
            .await;
        assert_eq!(later, Ok(BTreeMap::new()));
    }

    #[tokio::test]
    async fn a_batch_without_features_reads_nothing_and_a_failed_reading_is_returned() {
        let known = KnownFeatures::default();
        let nothing = known
            .unknown(BTreeMap::new(), async { Err::<Catalog, _>("unreachable") })
            .await;
        assert_eq!(nothing, Ok(BTreeMap::new()));
        let failed = known
            .unknown(used(&[("x", 1)]), async { Err::<Catalog, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
    }
}
