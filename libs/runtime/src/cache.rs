//! A cache of versioned entries (the latest health score per account): Redis when a URL is
//! configured, a bounded in-process map in the embedded mode. The cache is an accelerator,
//! never a source of truth, so no method returns an error: a Redis failure is logged once
//! per outage and reads act as misses, which the caller answers from its database.
//!
//! **Version rule.** `put(key, version, payload)` stores only if there is no entry or the
//! stored version is *lower*, so an older computation that finishes late never replaces a
//! newer one. An equal version keeps the stored payload (the same version means the same
//! computation; first writer wins and a repeated write costs nothing). The rule protects
//! present entries only: after an entry is evicted or invalidated, any version may fill it.
//!
//! **Redis layout.** Each entry is a hash at `<namespace><key>` with the fields `v` (the
//! version as a decimal `i64`) and `p` (the payload bytes). A small Lua script compares
//! and writes atomically; it compares the decimal strings digit by digit because Lua
//! numbers are doubles and would round versions above 2^53.
//!
//! **Outages.** A failed command marks Redis down; while it is down, calls skip it without
//! touching the network, and every `retry_after` one background probe (PING) tries again,
//! so a dead Redis never adds a connect timeout to a request. Every command has a
//! `command_timeout`, so a hung Redis cannot stall a read either.
//!
//! **No stale reads after an outage.** A `put` (or `remove`) that did not reach Redis means
//! Redis may still hold an *older* entry for that key, and it may come back with its data
//! (a network partition or a paused server rather than a restart). The cache remembers
//! those keys (up to `max_stale_keys`; past that it remembers "the whole namespace may be
//! stale") and, when Redis answers again, deletes them (or the whole namespace, by SCAN and
//! UNLINK) *before* it serves reads from Redis again. A put that timed out but still
//! reaches Redis later is harmless: it carries the newest version, and the deletion that
//! follows on the same connection only turns it into a miss. The memory is per process: a
//! replica that never saw the failure has nothing to invalidate and needs nothing, since
//! its own successful puts went through the version rule.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use redis::{AsyncCommands, Client, Script, aio::ConnectionManager};

/// Namespace of the scoring service's latest scores; bump the version when the payload
/// format changes so old entries are simply never read.
pub const SCORING_NAMESPACE: &str = "nordstern:scoring:v1:";

/// Tuning of a [`VersionedCache`]; the defaults suit a request path.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Upper bound on one Redis command (and on one connection attempt).
    pub command_timeout: Duration,
    /// While Redis is down, how long calls skip it before the next probe.
    pub retry_after: Duration,
    /// Keys remembered for invalidation after failed writes; past this, the whole
    /// namespace is cleared on recovery.
    pub max_stale_keys: usize,
    /// Entries of the in-process backend.
    pub in_process_capacity: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            command_timeout: Duration::from_millis(250),
            retry_after: Duration::from_secs(1),
            max_stale_keys: 10_000,
            in_process_capacity: 100_000,
        }
    }
}

/// What a [`VersionedCache`] runs on, for health reporting and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// The embedded in-process map.
    InProcess,
    /// Redis answers and serves reads.
    RedisUp,
    /// Redis failed or has not answered since its last failure (or since start); reads
    /// are misses until a probe succeeds and the stale keys are deleted.
    RedisDown,
}

/// A Redis URL the client refuses; the only error the cache ever returns.
#[derive(Debug, thiserror::Error)]
#[error("redis_url: {0}")]
pub struct CacheError(#[source] redis::RedisError);

/// A versioned entry: the version it was computed at and its payload.
pub type Versioned = (i64, Vec<u8>);

/// The latest versioned payload per key, in Redis or in process. Cheap to clone; clones
/// share the connection and the state.
#[derive(Clone)]
pub struct VersionedCache {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Redis(Arc<RedisCache>),
    InProcess(Arc<InProcessCache>),
}

impl fmt::Debug for VersionedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("VersionedCache");
        if let Backend::Redis(redis) = &self.backend {
            debug.field("namespace", &redis.namespace);
        }
        debug.field("status", &self.status()).finish()
    }
}

impl VersionedCache {
    /// Redis under `namespace` (a key prefix such as [`SCORING_NAMESPACE`]) when a URL is
    /// given, the in-process map otherwise. An unreachable Redis is not an error: the cache
    /// starts down and recovers on its own. A URL the client refuses is.
    pub async fn connect(
        redis_url: Option<&str>,
        namespace: &str,
        options: CacheOptions,
    ) -> Result<Self, CacheError> {
        let Some(url) = redis_url else {
            return Ok(Self::in_process(options.in_process_capacity));
        };
        let client = Client::open(url).map_err(CacheError)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.command_timeout))
            .set_response_timeout(Some(options.command_timeout))
            // One attempt per reconnect; our own probe is the retry loop, so a reconnect
            // never keeps waiting callers in an exponential back-off.
            .set_number_of_retries(0);
        let manager =
            ConnectionManager::new_lazy_with_config(client, config).map_err(CacheError)?;
        let redis = Arc::new(RedisCache {
            manager,
            namespace: namespace.to_owned(),
            options,
            script: Script::new(PUT_SCRIPT),
            health: Mutex::new(Health {
                up: false,
                probing: false,
                next_probe: Instant::now(),
                stale: Stale::default(),
            }),
        });
        match redis.ping().await {
            Ok(()) => {
                redis.lock().up = true;
                tracing::info!(namespace, "redis cache connected");
            }
            Err(error) => {
                redis.lock().next_probe = Instant::now() + redis.options.retry_after;
                tracing::warn!(namespace, %error, "redis cache unreachable at start; reads go to the database until it answers");
            }
        }
        Ok(VersionedCache {
            backend: Backend::Redis(redis),
        })
    }

    /// The embedded in-process map holding at most `capacity` entries (least recently used
    /// ones are evicted first).
    pub fn in_process(capacity: usize) -> Self {
        VersionedCache {
            backend: Backend::InProcess(Arc::new(InProcessCache::new(capacity))),
        }
    }

    pub fn is_redis(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    pub fn status(&self) -> CacheStatus {
        match &self.backend {
            Backend::InProcess(_) => CacheStatus::InProcess,
            Backend::Redis(redis) if redis.lock().up => CacheStatus::RedisUp,
            Backend::Redis(_) => CacheStatus::RedisDown,
        }
    }

    /// Stores `payload` at `version` unless the entry holds the same or a newer version.
    pub async fn put(&self, key: &str, version: i64, payload: &[u8]) {
        match &self.backend {
            Backend::InProcess(map) => map.put(key, version, payload),
            Backend::Redis(redis) => redis.put(key, version, payload).await,
        }
    }

    /// [`Self::put`] for many entries, in one round trip to Redis.
    pub async fn put_many(&self, entries: &[(&str, i64, &[u8])]) {
        match &self.backend {
            Backend::InProcess(map) => {
                for (key, version, payload) in entries {
                    map.put(key, *version, payload);
                }
            }
            Backend::Redis(redis) => redis.put_many(entries).await,
        }
    }

    /// The entry of `key`; `None` on a miss or while Redis is down.
    pub async fn get(&self, key: &str) -> Option<Versioned> {
        match &self.backend {
            Backend::InProcess(map) => map.get(key),
            Backend::Redis(redis) => redis.get(key).await,
        }
    }

    /// The entries of `keys` in order, in one round trip; all misses while Redis is down.
    pub async fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Vec<Option<Versioned>> {
        match &self.backend {
            Backend::InProcess(map) => keys.iter().map(|key| map.get(key.as_ref())).collect(),
            Backend::Redis(redis) => redis.get_many(keys).await,
        }
    }

    /// Forgets `key` (e.g. the account was erased).
    pub async fn remove(&self, key: &str) {
        match &self.backend {
            Backend::InProcess(map) => map.remove(key),
            Backend::Redis(redis) => redis.remove(key).await,
        }
    }

    /// Forgets every entry of this namespace (erasure, tests).
    pub async fn remove_namespace(&self) {
        match &self.backend {
            Backend::InProcess(map) => map.clear(),
            Backend::Redis(redis) => redis.remove_namespace().await,
        }
    }
}

/// KEYS[1] = entry, ARGV[1] = version (canonical decimal i64), ARGV[2] = payload.
/// Returns 1 when stored, 0 when the stored version is the same or newer.
const PUT_SCRIPT: &str = r"
local function lower(stored, new)
  local stored_negative = string.sub(stored, 1, 1) == '-'
  local new_negative = string.sub(new, 1, 1) == '-'
  if stored_negative ~= new_negative then return stored_negative end
  if #stored ~= #new then
    if stored_negative then return #stored > #new end
    return #stored < #new
  end
  for i = 1, #stored do
    local a, b = string.byte(stored, i), string.byte(new, i)
    if a ~= b then
      if stored_negative then return a > b end
      return a < b
    end
  end
  return false
end
local stored = redis.call('HGET', KEYS[1], 'v')
if stored and not lower(stored, ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'p', ARGV[2])
return 1
";

/// Keys per DEL/UNLINK command and per SCAN step when invalidating.
const INVALIDATION_BATCH: usize = 500;

struct RedisCache {
    manager: ConnectionManager,
    namespace: String,
    options: CacheOptions,
    script: Script,
    health: Mutex<Health>,
}

struct Health {
    /// Redis answered its last command and nothing is left to invalidate.
    up: bool,
    /// A background probe is running.
    probing: bool,
    /// While down: no probe before this instant.
    next_probe: Instant,
    /// Keys whose writes did not reach Redis.
    stale: Stale,
}

#[derive(Default)]
struct Stale {
    keys: HashSet<String>,
    /// More keys failed than we remember: the whole namespace may be stale.
    everything: bool,
}

impl Stale {
    fn is_empty(&self) -> bool {
        !self.everything && self.keys.is_empty()
    }

    fn everything(&mut self) {
        self.everything = true;
        self.keys = HashSet::new();
    }

    fn add(&mut self, key: &str, limit: usize) {
        if self.everything {
            return;
        }
        if self.keys.len() >= limit && !self.keys.contains(key) {
            self.everything();
        } else {
            self.keys.insert(key.to_owned());
        }
    }

    fn record(&mut self, skipped: Skipped<'_>, limit: usize) {
        match skipped {
            Skipped::Read => {}
            Skipped::Write(key) => self.add(key, limit),
            Skipped::Everything => self.everything(),
        }
    }

    fn merge(&mut self, other: Stale, limit: usize) {
        if other.everything {
            self.everything();
        }
        for key in &other.keys {
            self.add(key, limit);
        }
    }
}

/// What a call that skips a down Redis leaves possibly stale there.
#[derive(Clone, Copy)]
enum Skipped<'a> {
    Read,
    Write(&'a str),
    Everything,
}

/// Why a Redis call did not give an answer.
enum Failure {
    Timeout,
    Redis(redis::RedisError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("command timed out"),
            Failure::Redis(error) => error.fmt(f),
        }
    }
}

impl RedisCache {
    fn lock(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry_key(&self, key: &str) -> String {
        format!("{}{key}", self.namespace)
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.options.command_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Failure::Redis(error)),
            Err(_) => Err(Failure::Timeout),
        }
    }

    async fn ping(&self) -> Result<(), Failure> {
        let mut connection = self.manager.clone();
        self.bounded(redis::cmd("PING").query_async::<()>(&mut connection))
            .await
    }

    /// Whether calls may use Redis now. While it is down this starts at most one
    /// background probe per `retry_after` and answers `false` at once, so no caller ever
    /// waits for a probe (and a cancelled caller cannot leave a probe half done).
    ///
    /// A skipped write records what it leaves stale in the same critical section, so a
    /// probe cannot declare Redis clean between the skip and the record.
    fn usable(self: &Arc<Self>, skipped: Skipped<'_>) -> bool {
        {
            let mut health = self.lock();
            if health.up {
                return true;
            }
            health.stale.record(skipped, self.options.max_stale_keys);
            if health.probing || Instant::now() < health.next_probe {
                return false;
            }
            health.probing = true;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move { this.recover().await });
        false
    }

    /// Records a failed call and what its failure may have left stale: the first failure
    /// of an outage is a warning, the rest are silent.
    fn failed(&self, operation: &str, failure: &Failure, skipped: Skipped<'_>) {
        let mut health = self.lock();
        health.stale.record(skipped, self.options.max_stale_keys);
        if health.up {
            health.up = false;
            health.next_probe = Instant::now() + self.options.retry_after;
            drop(health);
            tracing::warn!(
                namespace = %self.namespace,
                operation,
                error = %failure,
                "redis cache unavailable; reads go to the database until it answers again"
            );
        }
    }

    /// Probes Redis and deletes what may be stale; marks it up only when both worked and
    /// nothing new became stale meanwhile.
    async fn recover(&self) {
        const ROUNDS: usize = 4;
        let ok = self.ping().await.is_ok();
        if ok {
            for _ in 0..ROUNDS {
                let stale = {
                    let mut health = self.lock();
                    if health.stale.is_empty() {
                        health.up = true;
                        health.probing = false;
                        drop(health);
                        tracing::info!(namespace = %self.namespace, "redis cache recovered");
                        return;
                    }
                    std::mem::take(&mut health.stale)
                };
                if let Err(failure) = self.invalidate(&stale).await {
                    tracing::debug!(namespace = %self.namespace, error = %failure, "invalidating stale redis entries failed");
                    self.lock().stale.merge(stale, self.options.max_stale_keys);
                    break;
                }
                tracing::info!(
                    namespace = %self.namespace,
                    keys = stale.keys.len(),
                    whole_namespace = stale.everything,
                    "deleted redis entries that may be older than the database"
                );
            }
        }
        let mut health = self.lock();
        health.probing = false;
        health.next_probe = Instant::now() + self.options.retry_after;
    }

    async fn invalidate(&self, stale: &Stale) -> Result<(), Failure> {
        if stale.everything {
            return self.unlink_namespace().await;
        }
        let keys: Vec<String> = stale.keys.iter().map(|key| self.entry_key(key)).collect();
        let mut connection = self.manager.clone();
        for batch in keys.chunks(INVALIDATION_BATCH) {
            self.bounded(connection.del::<_, ()>(batch)).await?;
        }
        Ok(())
    }

    async fn unlink_namespace(&self) -> Result<(), Failure> {
        let pattern = format!("{}*", glob_escape(&self.namespace));
        let mut connection = self.manager.clone();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .bounded(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(INVALIDATION_BATCH)
                        .query_async(&mut connection),
                )
                .await?;
            if !keys.is_empty() {
                self.bounded(connection.unlink::<_, ()>(keys)).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn put(self: &Arc<Self>, key: &str, version: i64, payload: &[u8]) {
        if !self.usable(Skipped::Write(key)) {
            return;
        }
        let mut connection = self.manager.clone();
        let mut invocation = self.script.key(self.entry_key(key));
        invocation.arg(version.to_string()).arg(payload);
        if let Err(failure) = self
            .bounded(invocation.invoke_async::<i64>(&mut connection))
            .await
        {
            self.failed("put", &failure, Skipped::Write(key));
        }
    }

    async fn get(self: &Arc<Self>, key: &str) -> Option<Versioned> {
        if !self.usable(Skipped::Read) {
            return None;
        }
        let mut connection = self.manager.clone();
        match self
            .bounded(
                redis::cmd("HMGET")
                    .arg(self.entry_key(key))
                    .arg("v")
                    .arg("p")
                    .query_async::<RawEntry>(&mut connection),
            )
            .await
        {
            Ok(raw) => decode(raw),
            Err(failure) => {
                self.failed("get", &failure, Skipped::Read);
                None
            }
        }
    }

    async fn put_many(self: &Arc<Self>, entries: &[(&str, i64, &[u8])]) {
        // Every key is checked, so each skipped one is remembered as possibly stale.
        let mut usable = true;
        for (key, _, _) in entries {
            usable &= self.usable(Skipped::Write(key));
        }
        if entries.is_empty() || !usable {
            return;
        }
        // The script is (re)loaded first in the same pipeline, so EVALSHA never meets a
        // Redis that restarted without it.
        let mut pipeline = redis::pipe();
        pipeline.cmd("SCRIPT").arg("LOAD").arg(PUT_SCRIPT).ignore();
        for (key, version, payload) in entries {
            pipeline
                .cmd("EVALSHA")
                .arg(self.script.get_hash())
                .arg(1)
                .arg(self.entry_key(key))
                .arg(version.to_string())
                .arg(*payload)
                .ignore();
        }
        let mut connection = self.manager.clone();
        if let Err(failure) = self
            .bounded(pipeline.query_async::<()>(&mut connection))
            .await
        {
            for (key, _, _) in entries {
                self.failed("put_many", &failure, Skipped::Write(key));
            }
        }
    }

    async fn get_many<K: AsRef<str>>(self: &Arc<Self>, keys: &[K]) -> Vec<Option<Versioned>> {
        if keys.is_empty() || !self.usable(Skipped::Read) {
            return vec![None; keys.len()];
        }
        let mut pipeline = redis::pipe();
        for key in keys {
            pipeline
                .cmd("HMGET")
                .arg(self.entry_key(key.as_ref()))
                .arg("v")
                .arg("p");
        }
        let mut connection = self.manager.clone();
        match self
            .bounded(pipeline.query_async::<Vec<RawEntry>>(&mut connection))
            .await
        {
            Ok(raws) if raws.len() == keys.len() => raws.into_iter().map(decode).collect(),
            Ok(_) => vec![None; keys.len()],
            Err(failure) => {
                self.failed("get_many", &failure, Skipped::Read);
                vec![None; keys.len()]
            }
        }
    }

    async fn remove(self: &Arc<Self>, key: &str) {
        if !self.usable(Skipped::Write(key)) {
            return;
        }
        let mut connection = self.manager.clone();
        if let Err(failure) = self
            .bounded(connection.del::<_, ()>(self.entry_key(key)))
            .await
        {
            self.failed("remove", &failure, Skipped::Write(key));
        }
    }

    async fn remove_namespace(self: &Arc<Self>) {
        if !self.usable(Skipped::Everything) {
            return;
        }
        if let Err(failure) = self.unlink_namespace().await {
            self.failed("remove_namespace", &failure, Skipped::Everything);
        }
    }
}

/// `HMGET key v p`: both fields, or neither for a miss.
type RawEntry = (Option<String>, Option<Vec<u8>>);

fn decode((version, payload): RawEntry) -> Option<Versioned> {
    Some((version?.parse().ok()?, payload?))
}

/// Escapes the glob characters of SCAN's MATCH so a namespace matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The embedded backend: a map bounded to `capacity` entries that evicts the least
/// recently used eighth when full (amortised O(1) per insert instead of a scan per insert).
struct InProcessCache {
    capacity: usize,
    map: Mutex<InProcessMap>,
}

#[derive(Default)]
struct InProcessMap {
    entries: HashMap<String, Slot>,
    clock: u64,
}

struct Slot {
    version: i64,
    payload: Vec<u8>,
    used: u64,
}

impl InProcessCache {
    fn new(capacity: usize) -> Self {
        InProcessCache {
            capacity: capacity.max(1),
            map: Mutex::new(InProcessMap::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, InProcessMap> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, key: &str, version: i64, payload: &[u8]) {
        let mut map = self.lock();
        map.clock += 1;
        let now = map.clock;
        if let Some(slot) = map.entries.get_mut(key) {
            slot.used = now;
            if slot.version < version {
                slot.version = version;
                slot.payload = payload.to_vec();
            }
            return;
        }
        if map.entries.len() >= self.capacity {
            map.evict_least_recently_used(self.capacity.div_ceil(8));
        }
        map.entries.insert(
            key.to_owned(),
            Slot {
                version,
                payload: payload.to_vec(),
                used: now,
            },
        );
    }

    fn get(&self, key: &str) -> Option<Versioned> {
        let mut map = self.lock();
        map.clock += 1;
        let now = map.clock;
        map.entries.get_mut(key).map(|slot| {
            slot.used = now;
            (slot.version, slot.payload.clone())
        })
    }

    fn remove(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    fn clear(&self) {
        self.lock().entries.clear();
    }
}

impl InProcessMap {
    fn evict_least_recently_used(&mut self, count: usize) {
        let mut uses: Vec<u64> = self.entries.values().map(|slot| slot.used).collect();
        if uses.is_empty() {
            return;
        }
        let nth = count.clamp(1, uses.len()) - 1;
        let (_, cutoff, _) = uses.select_nth_unstable(nth);
        let cutoff = *cutoff;
        // Use ticks are unique, so exactly `count` entries are at or below the cutoff.
        self.entries.retain(|_, slot| slot.used > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> VersionedCache {
        VersionedCache::in_process(capacity)
    }

    #[tokio::test]
    async fn in_process_keeps_the_highest_version() {
        let cache = cache(16);
        assert_eq!(cache.status(), CacheStatus::InProcess);
        assert!(!cache.is_redis());
        assert_eq!(cache.get("a").await, None);
        cache.put("a", 5, b"five").await;
        cache.put("a", 4, b"four").await;
        assert_eq!(cache.get("a").await, Some((5, b"five".to_vec())));
        cache.put("a", 5, b"other five").await;
        assert_eq!(
            cache.get("a").await,
            Some((5, b"five".to_vec())),
            "equal version keeps the payload"
        );
        cache.put("a", 6, b"six").await;
        assert_eq!(cache.get("a").await, Some((6, b"six".to_vec())));
        cache.put("b", i64::MIN, b"min").await;
        assert_eq!(
            cache.get_many(&["b", "missing", "a"]).await,
            vec![
                Some((i64::MIN, b"min".to_vec())),
                None,
                Some((6, b"six".to_vec()))
            ]
        );
        cache.remove("a").await;
        assert_eq!(cache.get("a").await, None);
        cache.remove_namespace().await;
        assert_eq!(cache.get("b").await, None);
    }

    #[tokio::test]
    async fn in_process_is_bounded_and_evicts_the_least_recently_used() {
        let cache = cache(100);
        for i in 0..100 {
            cache.put(&format!("k{i}"), i, b"x").await;
        }
        // k0 is read, so k1..k13 are the least recently used.
        assert!(cache.get("k0").await.is_some());
        cache.put("new", 1, b"x").await;
        let Backend::InProcess(map) = &cache.backend else {
            panic!("in-process backend expected");
        };
        let len = map.lock().entries.len();
        assert!(len <= 100, "{len} entries");
        assert!(len >= 87, "evicts an eighth, not everything: {len}");
        assert!(cache.get("k0").await.is_some());
        assert!(cache.get("new").await.is_some());
        assert!(cache.get("k1").await.is_none());
        for i in 0..10_000 {
            cache.put(&format!("many{i}"), i, b"x").await;
        }
        assert!(map.lock().entries.len() <= 100);
    }

    #[test]
    fn stale_keys_overflow_into_the_whole_namespace() {
        let mut stale = Stale::default();
        assert!(stale.is_empty());
        stale.add("a", 2);
        stale.add("a", 2);
        stale.add("b", 2);
        assert_eq!(stale.keys.len(), 2);
        assert!(!stale.everything);
        stale.add("c", 2);
        assert!(stale.everything);
        assert!(stale.keys.is_empty());
        let mut other = Stale::default();
        other.add("d", 2);
        other.merge(stale, 2);
        assert!(other.everything);
    }

    #[test]
    fn glob_characters_of_a_namespace_are_escaped() {
        assert_eq!(glob_escape("ns:a*b?[c]\\:"), "ns:a\\*b\\?\\[c\\]\\\\:");
    }
}
