//! Abuse limits of one process: sign-in attempts, password hashing, chat messages and
//! concurrent chat turns. Each is configured in [`crate::config::AbuseLimits`]; N processes
//! allow N times as much (the README says so).
//!
//! Rates are token buckets (`governor`), keyed by who is asking: sign-in by account and
//! client address, and by address alone, so nobody can lock a person out of their account from
//! elsewhere; chat messages by user. Password hashing and chat turns are capped by how many run
//! at once.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use todo_mcp::task::UserId;
use tokio::sync::Semaphore;

use crate::config::AbuseLimits;

/// Too many requests: when the next one may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; try again in {} s", retry_after_secs(*.0))]
pub struct RetryAfter(pub Duration);

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The host is at a cap of concurrent work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy; try again in a moment")]
pub struct Busy;

/// A token bucket per key: `per_minute` requests, all of them at once at most.
pub struct RateLimit<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    /// Takes one token of `key`'s bucket, or says how long until there is one.
    pub fn check(&self, key: &K) -> Result<(), RetryAfter> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.limiter.clock().now())))
    }

    /// Forgets keys whose buckets are full again, so the map only holds recent clients.
    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Sign-in (and sign-up) attempts.
pub struct SignInLimits {
    per_account_and_address: RateLimit<(String, IpAddr)>,
    per_address: RateLimit<IpAddr>,
}

impl SignInLimits {
    /// An attempt to sign in to `account` (a normalised email) from `client`.
    pub fn check_sign_in(&self, account: &str, client: IpAddr) -> Result<(), RetryAfter> {
        self.per_address.check(&client)?;
        self.per_account_and_address
            .check(&(account.to_owned(), client))
    }

    /// An attempt to create an account from `client`.
    pub fn check_sign_up(&self, client: IpAddr) -> Result<(), RetryAfter> {
        self.per_address.check(&client)
    }
}

/// How many Argon2 hashes run at once (each takes about 19 MiB and a core for tens of
/// milliseconds), and how many may wait for one; beyond that a request is refused at once.
pub struct HashGate {
    running: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl HashGate {
    pub fn new(at_once: usize, max_waiting: usize) -> Self {
        Self {
            running: Semaphore::new(at_once.max(1)),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Runs `work` on the blocking pool when a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, tokio::task::JoinError>, Busy> {
        let waiting = Waiting::join(&self.waiting);
        if waiting.ahead >= self.max_waiting {
            return Err(Busy);
        }
        let permit = self.running.acquire().await;
        // Counted as waiting until here, even when the caller gives up while it waits (a
        // client that leaves drops this future).
        drop(waiting);
        let _permit = permit.map_err(|_| Busy)?;
        Ok(tokio::task::spawn_blocking(work).await)
    }
}

/// A place in the [`HashGate`]'s queue, left when dropped.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// How many were waiting before this one.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize) -> Self {
        let ahead = count.fetch_add(1, Ordering::AcqRel);
        Self { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for HashGate {
    fn default() -> Self {
        Self::new(2, 32)
    }
}

/// Why a chat turn may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TurnRefused {
    #[error("too many messages; try again in {} s", retry_after_secs(.0.0))]
    TooFast(RetryAfter),
    #[error("you have {max} replies running already; wait for one to finish")]
    TooManyOfYours { max: usize },
    #[error("the server is answering as many messages as it can; try again in a moment")]
    ServerFull,
}

/// Chat messages per user, and turns running per user and in all.
pub struct TurnLimits {
    rate: RateLimit<UserId>,
    per_user: Mutex<HashMap<UserId, usize>>,
    max_per_user: usize,
    total: Arc<Semaphore>,
}

/// A running turn's place under the caps; freed when dropped.
pub struct TurnSlot {
    limits: Arc<Limits>,
    user: UserId,
    _total: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for TurnSlot {
    fn drop(&mut self) {
        let mut per_user = self
            .limits
            .turns
            .per_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = per_user.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

/// Every limit of this process.
pub struct Limits {
    pub sign_in: SignInLimits,
    pub hashing: HashGate,
    pub turns: TurnLimits,
}

impl Limits {
    pub fn new(config: &AbuseLimits) -> Arc<Self> {
        let limits = Arc::new(Self {
            sign_in: SignInLimits {
                per_account_and_address: RateLimit::per_minute(config.sign_in_per_account),
                per_address: RateLimit::per_minute(config.sign_in_per_address),
            },
            hashing: HashGate::new(config.hashes_at_once, config.hash_queue),
            turns: TurnLimits {
                rate: RateLimit::per_minute(config.chat_messages_per_minute),
                per_user: Mutex::new(HashMap::new()),
                max_per_user: config.turns_per_user,
                total: Arc::new(Semaphore::new(config.turns_total)),
            },
        });
        limits
            .clone()
            .forget_idle_keys_every(Duration::from_secs(60));
        limits
    }

    /// A place for a new turn of `user`: one message of their rate, one of their running
    /// turns and one of all.
    pub fn start_turn(self: &Arc<Self>, user: UserId) -> Result<TurnSlot, TurnRefused> {
        let turns = &self.turns;
        let mut per_user = turns
            .per_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = per_user.get(&user).copied().unwrap_or(0);
        if running >= turns.max_per_user {
            return Err(TurnRefused::TooManyOfYours {
                max: turns.max_per_user,
            });
        }
        let total = turns
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| TurnRefused::ServerFull)?;
        turns.rate.check(&user).map_err(TurnRefused::TooFast)?;
        per_user.insert(user, running + 1);
        Ok(TurnSlot {
            limits: self.clone(),
            user,
            _total: total,
        })
    }

    fn forget_idle_keys_every(self: Arc<Self>, period: Duration) {
        let limits = Arc::downgrade(&self);
        drop(self);
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limits) = limits.upgrade() else {
                    return;
                };
                limits.sign_in.per_account_and_address.forget_idle();
                limits.sign_in.per_address.forget_idle();
                limits.turns.rate.forget_idle();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn limits() -> Arc<Limits> {
        Limits::new(&AbuseLimits {
            sign_in_per_account: NonZeroU32::new(3).unwrap(),
            sign_in_per_address: NonZeroU32::new(5).unwrap(),
            hashes_at_once: 1,
            hash_queue: 1,
            chat_messages_per_minute: NonZeroU32::new(4).unwrap(),
            turns_per_user: 2,
            turns_total: 3,
        })
    }

    #[test]
    fn sign_in_is_limited_per_account_and_address_and_per_address() {
        let limits = limits();
        let home = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let attacker = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        for _ in 0..3 {
            limits
                .sign_in
                .check_sign_in("ada@example.com", attacker)
                .unwrap();
        }
        let refused = limits
            .sign_in
            .check_sign_in("ada@example.com", attacker)
            .unwrap_err();
        assert!(refused.0 > Duration::ZERO && refused.0 <= Duration::from_secs(20));
        // Ada herself, elsewhere, is not locked out.
        limits
            .sign_in
            .check_sign_in("ada@example.com", home)
            .unwrap();
        // The attacker's address runs out across accounts too.
        limits
            .sign_in
            .check_sign_in("bob@example.com", attacker)
            .unwrap();
        assert!(
            limits
                .sign_in
                .check_sign_in("eve@example.com", attacker)
                .is_err()
        );
    }

    #[tokio::test]
    async fn turns_are_capped_per_user_and_in_all() {
        let limits = limits();
        let ada = UserId::new(uuid::Uuid::now_v7());
        let bob = UserId::new(uuid::Uuid::now_v7());
        let first = limits.start_turn(ada).unwrap();
        let _second = limits.start_turn(ada).unwrap();
        assert_eq!(
            limits.start_turn(ada).err(),
            Some(TurnRefused::TooManyOfYours { max: 2 })
        );
        let _third = limits.start_turn(bob).unwrap();
        assert_eq!(limits.start_turn(bob).err(), Some(TurnRefused::ServerFull));
        drop(first);
        let again = limits.start_turn(ada).unwrap();
        drop(again);
        drop(_second);
        // The refused attempt did not count: this is Ada's fourth message this minute, and
        // her fifth is too fast.
        drop(limits.start_turn(ada).unwrap());
        assert!(matches!(
            limits.start_turn(ada),
            Err(TurnRefused::TooFast(_))
        ));
    }

    /// A gate of one hash at a time and one waiting, whose one hash runs until `release` is
    /// sent to (the task answers when it is done).
    async fn held_gate() -> (
        Arc<HashGate>,
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<Result<Option<()>, tokio::task::JoinError>, Busy>>,
    ) {
        let gate = Arc::new(HashGate::new(1, 1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let running = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(move || wait.recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        (gate, release, running)
    }

    #[tokio::test]
    async fn hashing_beyond_the_queue_is_refused_at_once() {
        let (gate, release, running) = held_gate().await;
        let queued = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| 2).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(gate.run(|| 3).await, Err(Busy)));
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().unwrap().unwrap(), 2);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_while_waiting_leaves_the_queue() {
        let (gate, release, running) = held_gate().await;
        // Waits behind the running hash, then gives up.
        let gave_up = tokio::time::timeout(Duration::from_millis(50), gate.run(|| 1)).await;
        assert!(gave_up.is_err());
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        // Its place in the queue was freed: a new caller gets through.
        assert_eq!(gate.run(|| 2).await.unwrap().unwrap(), 2);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
        assert_eq!(retry_after_secs(Duration::from_millis(6001)), 7);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
