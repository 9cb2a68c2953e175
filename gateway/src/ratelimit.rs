//! Rate limits: a bucket per API key, per user and per client address, so that no caller can
//! take more than its share of the gateway and the database.
//!
//! Each bucket holds `limit` requests and refills at `limit` per minute: a caller may spend its
//! minute's worth at once, then one request every `60 s / limit`. Buckets follow the generic
//! cell rate algorithm (GCRA): one timestamp per caller (the "theoretical arrival time"), so a
//! check is one read and one write. They live in this process by default, or in Redis when
//! `redis_url` is set, so that every instance of the gateway shares them; Redis runs the check
//! as one script, on its own clock.
//!
//! Anonymous requests, and requests whose credentials are refused (guessing keys), count
//! against their address; requests with a key against the key; people signed in against
//! themselves. An IPv6 address counts with its /64, which one client usually holds whole.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use passerelle_entities::access::{Principal, Viewer};
use serde::Deserialize;

/// How long a bucket takes to refill whole.
const WINDOW_US: i64 = 60_000_000;
/// Buckets kept in memory before the full ones are dropped.
const MEMORY_BUCKETS: usize = 100_000;
/// The shortest time between two attempts to reach Redis after a failure.
const REDIS_RETRY: Duration = Duration::from_secs(1);
/// The shortest time between two log lines about Redis being down.
const REDIS_WARNING_EVERY: Duration = Duration::from_secs(10);

/// What happens to requests while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Served without a limit (availability first).
    #[default]
    Open,
    /// Refused with `503` and `RATE_LIMIT_UNAVAILABLE` (protection first).
    Closed,
}

/// Requests per minute for each kind of caller; 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client address: anonymous requests, and refused credentials.
    pub address: u32,
    /// Per API key.
    pub key: u32,
    /// Per person signed in.
    pub user: u32,
    /// Refused credentials per client address; once spent, requests with credentials from the
    /// address are refused before they are checked (a valid key too: no oracle for guessing).
    pub auth_failures: u32,
}

impl RateLimits {
    /// No limit for anyone (benchmarks, tests of other things).
    pub const OFF: RateLimits = RateLimits {
        address: 0,
        key: 0,
        user: 0,
        auth_failures: 0,
    };
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            address: 600,
            key: 3_000,
            user: 1_200,
            auth_failures: 30,
        }
    }
}

/// Whom a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Address(String),
    /// The refused credentials of an address.
    AuthFailures(String),
    Key(i64),
    User(i64),
}

impl Subject {
    /// The bucket of a viewer: its key, its user, or else its address (when known).
    pub fn of(viewer: &Viewer, address: Option<&str>) -> Option<Subject> {
        match &viewer.principal {
            Principal::ApiKey { key_id, .. } => Some(Subject::Key(*key_id)),
            Principal::User { user_id, .. } => Some(Subject::User(*user_id)),
            Principal::Anonymous => address.map(Subject::address),
        }
    }

    /// The bucket of a client address; an IPv6 address by its /64.
    pub fn address(address: &str) -> Subject {
        match address.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                Subject::Address(format!("{net}/64"))
            }
            Ok(IpAddr::V6(v6)) => Subject::Address(
                v6.to_ipv4_mapped()
                    .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            ),
            _ => Subject::Address(address.to_owned()),
        }
    }

    /// The refused credentials of a client address (an IPv6 address by its /64).
    pub fn auth_failures(address: &str) -> Subject {
        match Subject::address(address) {
            Subject::Address(a) => Subject::AuthFailures(a),
            other => other,
        }
    }

    fn bucket(&self) -> String {
        match self {
            Subject::Address(a) => format!("address:{a}"),
            Subject::AuthFailures(a) => format!("authfail:{a}"),
            Subject::Key(id) => format!("key:{id}"),
            Subject::User(id) => format!("user:{id}"),
        }
    }

    fn limit(&self, limits: &RateLimits) -> u32 {
        match self {
            Subject::Address(_) => limits.address,
            Subject::AuthFailures(_) => limits.auth_failures,
            Subject::Key(_) => limits.key,
            Subject::User(_) => limits.user,
        }
    }
}

/// A bucket after a request was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per minute.
    pub limit: u32,
    /// Requests that may be sent at once now.
    pub remaining: u64,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// Time until the next request is accepted (zero when this one was).
    pub retry_after: Duration,
}

/// What the limiter says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served; the quota, when the caller has a limit.
    Allowed(Option<Quota>),
    /// Over the limit: `429`.
    Limited(Quota),
    /// Redis cannot be reached and the limiter fails closed: `503`.
    Unavailable,
}

/// One check of the generic cell rate algorithm, in microseconds: `tat` is the bucket's
/// theoretical arrival time (absent: full). Returns the new `tat` when the request is allowed.
fn gcra(now: i64, tat: Option<i64>, limit: u32) -> (Option<i64>, Quota) {
    let limit64 = i64::from(limit.max(1));
    let interval = (WINDOW_US / limit64).max(1);
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + interval;
    let allow_at = new_tat - limit64 * interval;
    let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    if now < allow_at {
        return (
            None,
            Quota {
                limit,
                remaining: 0,
                reset: micros(tat - now),
                retry_after: micros(allow_at - now),
            },
        );
    }
    (
        Some(new_tat),
        Quota {
            limit,
            remaining: u64::try_from((now - allow_at) / interval).unwrap_or(0),
            reset: micros(new_tat - now),
            retry_after: Duration::ZERO,
        },
    )
}

/// Buckets in this process.
struct Memory {
    start: Instant,
    tats: Mutex<HashMap<String, i64>>,
}

impl Memory {
    fn take(&self, bucket: String, limit: u32, peek: bool) -> Quota {
        let now = i64::try_from(self.start.elapsed().as_micros()).unwrap_or(i64::MAX / 2);
        let mut tats = self.tats.lock().unwrap_or_else(|e| e.into_inner());
        let (new_tat, quota) = gcra(now, tats.get(&bucket).copied(), limit);
        if let Some(tat) = new_tat.filter(|_| !peek) {
            if tats.len() >= MEMORY_BUCKETS && !tats.contains_key(&bucket) {
                // A full bucket is the same as none: drop those.
                tats.retain(|_, t| *t > now);
                if tats.len() >= MEMORY_BUCKETS {
                    tracing::warn!(
                        buckets = MEMORY_BUCKETS,
                        "too many callers to keep a rate-limit bucket each; starting afresh"
                    );
                    tats.clear();
                }
            }
            tats.insert(bucket, tat);
        }
        quota
    }
}

/// The GCRA check as one Redis script, on Redis's clock, so that instances share buckets even
/// when their clocks drift; with `ARGV[3] == 1` it only looks (nothing counted). Returns
/// `{allowed, remaining, reset_us, retry_after_us}`.
const REDIS_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - limit * interval
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
if ARGV[3] ~= '1' then
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
end
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
";

/// Buckets in Redis.
struct Redis {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// No new connection attempt before this instant, after a failure.
    retry_at: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
}

impl Redis {
    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        if let Some(at) = *self.retry_at.lock().unwrap_or_else(|e| e.into_inner())
            && Instant::now() < at
        {
            return Err("waiting before reconnecting".to_owned());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let connected = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        match connected {
            Ok(Ok(conn)) => {
                *slot = Some(conn.clone());
                Ok(conn)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed("connection timed out".to_owned())),
        }
    }

    /// Notes a failure: no new attempt for a while.
    fn failed(&self, error: String) -> String {
        *self.retry_at.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + REDIS_RETRY);
        error
    }

    async fn take(&self, bucket: &str, limit: u32, peek: bool) -> Result<Quota, String> {
        let mut conn = self.connection().await?;
        let interval = (WINDOW_US / i64::from(limit.max(1))).max(1);
        let key = format!("{}ratelimit:{bucket}", self.prefix);
        let mut invocation = self.script.key(key);
        invocation.arg(interval).arg(limit).arg(u8::from(peek));
        let call = invocation.invoke_async::<Vec<i64>>(&mut conn);
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(self.dropped(e.to_string()).await),
            Err(_) => return Err(self.dropped("no answer in time".to_owned()).await),
        };
        let [allowed, remaining, reset, retry_after] = answer[..] else {
            return Err(format!("unexpected answer {answer:?}"));
        };
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let quota = Quota {
            limit,
            remaining: u64::try_from(remaining).unwrap_or(0),
            reset: micros(reset),
            retry_after: micros(retry_after),
        };
        Ok(if allowed == 1 {
            quota
        } else {
            Quota {
                remaining: 0,
                ..quota
            }
        })
    }

    /// Drops a connection that failed, so that the next check makes a new one.
    async fn dropped(&self, error: String) -> String {
        *self.connection.lock().await = None;
        self.failed(error)
    }

    /// Logs that Redis is down, at most once every few seconds.
    fn warn(&self, error: &str, failure: RedisFailure) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= REDIS_WARNING_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                error,
                failing = ?failure,
                "rate limits: Redis cannot be reached; requests are {} until it answers",
                match failure {
                    RedisFailure::Open => "served without a limit",
                    RedisFailure::Closed => "refused with 503",
                }
            );
        }
    }
}

enum Backend {
    Memory(Memory),
    Redis(Box<Redis>),
}

/// The gateway's rate limiter.
pub struct RateLimiter {
    limits: RateLimits,
    backend: Backend,
    failure: RedisFailure,
}

/// Where the limiter keeps its buckets.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Put before every key, so that several deployments can share a Redis.
    pub prefix: String,
    /// How long a check may wait for Redis.
    pub timeout: Duration,
    pub failure: RedisFailure,
}

impl RateLimiter {
    /// A limiter with buckets in memory, or in Redis.
    ///
    /// # Errors
    /// The Redis URL cannot be parsed (Redis being down is not an error: it is handled at each
    /// request as `failure` says).
    pub fn new(limits: RateLimits, redis: Option<RedisSettings>) -> anyhow::Result<RateLimiter> {
        let (backend, failure) = match redis {
            None => (
                Backend::Memory(Memory {
                    start: Instant::now(),
                    tats: Mutex::new(HashMap::new()),
                }),
                RedisFailure::Open,
            ),
            Some(s) => (
                Backend::Redis(Box::new(Redis {
                    client: redis::Client::open(s.url.as_str())
                        .map_err(|e| anyhow::anyhow!("redis_url: {e}"))?,
                    prefix: s.prefix,
                    timeout: s.timeout,
                    script: redis::Script::new(REDIS_SCRIPT),
                    connection: tokio::sync::Mutex::new(None),
                    retry_at: Mutex::new(None),
                    last_warning: Mutex::new(None),
                })),
                s.failure,
            ),
        };
        Ok(RateLimiter {
            limits,
            backend,
            failure,
        })
    }

    /// Counts one request of `subject`.
    pub async fn check(&self, subject: &Subject) -> Decision {
        self.decide(subject, false).await
    }

    /// Whether `subject` could make one more request now, without counting one.
    pub async fn peek(&self, subject: &Subject) -> Decision {
        self.decide(subject, true).await
    }

    async fn decide(&self, subject: &Subject, peek: bool) -> Decision {
        let limit = subject.limit(&self.limits);
        if limit == 0 {
            return Decision::Allowed(None);
        }
        let bucket = subject.bucket();
        let quota = match &self.backend {
            Backend::Memory(memory) => memory.take(bucket, limit, peek),
            Backend::Redis(redis) => match redis.take(&bucket, limit, peek).await {
                Ok(quota) => quota,
                Err(error) => {
                    redis.warn(&error, self.failure);
                    return match self.failure {
                        RedisFailure::Open => Decision::Allowed(None),
                        RedisFailure::Closed => Decision::Unavailable,
                    };
                }
            },
        };
        if quota.retry_after.is_zero() {
            Decision::Allowed(Some(quota))
        } else {
            Decision::Limited(quota)
        }
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last address of
/// `X-Forwarded-For` that is not one (a client can put anything at the start of that header;
/// only what trusted proxies appended is believed).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.iter().any(|n| n.contains(peer)) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Ok(addr) = hop.trim().parse::<IpAddr>() else {
            // A hop that is not an address: stop believing the header there.
            break;
        };
        client = addr;
        if !trusted.iter().any(|n| n.contains(addr)) {
            break;
        }
    }
    Some(client)
}

/// An address or a network, `10.0.0.0/8` or `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address nor a network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_spends_its_minute_at_once_then_refills_steadily() {
        let mut tat = None;
        let mut now = 0;
        for expected_remaining in (0..3).rev() {
            let (new_tat, quota) = gcra(now, tat, 3);
            assert_eq!(quota.remaining, expected_remaining);
            assert!(quota.retry_after.is_zero());
            tat = new_tat;
        }
        let (refused, quota) = gcra(now, tat, 3);
        assert_eq!(refused, None);
        assert_eq!(quota.retry_after, Duration::from_secs(20));
        assert_eq!(quota.reset, Duration::from_secs(60));
        now += 20_000_000;
        let (allowed, quota) = gcra(now, tat, 3);
        assert!(allowed.is_some(), "one request back after 20 s");
        assert_eq!(quota.remaining, 0);
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = ["10.0.0.0/8", "::1"]
            .iter()
            .map(|s| s.parse().expect("net"))
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let proxy = Some(ip("10.1.2.3"));
        assert_eq!(
            client_address(proxy, Some("1.2.3.4, 203.0.113.7, 10.9.9.9"), &trusted),
            Some(ip("203.0.113.7")),
            "the spoofed 1.2.3.4 at the start is not believed"
        );
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), Some("1.2.3.4"), &trusted),
            Some(ip("198.51.100.1")),
            "a client that is not a proxy cannot choose its address"
        );
        assert_eq!(
            client_address(proxy, Some("garbage, 203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nope".parse::<IpNet>().is_err());
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            Subject::address("2001:db8:1:2:aaaa::1"),
            Subject::address("2001:db8:1:2:bbbb::9")
        );
        assert_eq!(
            Subject::address("::ffff:192.0.2.1"),
            Subject::Address("192.0.2.1".into())
        );
    }

    #[test]
    fn the_memory_limiter_counts_each_subject_apart() {
        let limiter = RateLimiter::new(
            RateLimits {
                address: 2,
                key: 1,
                user: 0,
                auth_failures: 1,
            },
            None,
        )
        .expect("limiter");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            let a = Subject::Address("192.0.2.1".into());
            assert!(matches!(
                limiter.check(&a).await,
                Decision::Allowed(Some(_))
            ));
            assert!(matches!(
                limiter.check(&a).await,
                Decision::Allowed(Some(_))
            ));
            assert!(matches!(limiter.check(&a).await, Decision::Limited(_)));
            let f = Subject::AuthFailures("192.0.2.1".into());
            for _ in 0..3 {
                assert!(
                    matches!(limiter.peek(&f).await, Decision::Allowed(Some(_))),
                    "looking counts nothing"
                );
            }
            assert!(matches!(limiter.check(&f).await, Decision::Allowed(_)));
            assert!(matches!(limiter.peek(&f).await, Decision::Limited(_)));
            let k = Subject::Key(1);
            assert!(matches!(limiter.check(&k).await, Decision::Allowed(_)));
            assert!(matches!(limiter.check(&k).await, Decision::Limited(_)));
            assert!(matches!(
                limiter.check(&Subject::Key(2)).await,
                Decision::Allowed(_)
            ));
            for _ in 0..10 {
                assert_eq!(
                    limiter.check(&Subject::User(1)).await,
                    Decision::Allowed(None),
                    "0 is no limit"
                );
            }
        });
    }
}
