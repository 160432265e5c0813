//! Rate limits (EMQX `max_conn_rate`, `messages_rate`, `bytes_rate`): token buckets.
//!
//! A listener's `max_conn_rate` refuses connections beyond the rate at accept. A client's
//! `messages_rate` / `bytes_rate` never drop anything: like EMQX, the connection stops reading its
//! socket until the bucket has refilled, so TCP flow control slows the sender down.

use std::time::Duration;

use tokio::time::Instant;

/// `amount` tokens per `period`, e.g. EMQX's `"100/s"`, `"10KB/s"`, `"1000/10s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub amount: u64,
    pub period: Duration,
}

impl Rate {
    /// `amount` per second.
    pub fn per_second(amount: u64) -> Rate {
        Rate {
            amount,
            period: Duration::from_secs(1),
        }
    }

    fn tokens_per_sec(&self) -> f64 {
        self.amount as f64 / self.period.as_secs_f64().max(1e-9)
    }
}

/// A token bucket holding up to `amount` tokens (one period's worth), refilled continuously.
/// Taking more than there is leaves a debt that must be refilled before the next use.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: Rate) -> TokenBucket {
        let capacity = (rate.amount as f64).max(1.0);
        TokenBucket {
            capacity,
            per_sec: rate.tokens_per_sec(),
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take_one(&mut self) -> bool {
        self.refill(Instant::now());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens, going into debt if needed.
    pub(crate) fn take(&mut self, n: f64) {
        self.refill(Instant::now());
        self.tokens -= n;
    }

    /// When the debt is paid off; `None` if there is none (any more).
    pub(crate) fn ready_at(&self) -> Option<Instant> {
        if self.tokens >= 0.0 {
            return None;
        }
        let at = if self.per_sec <= 0.0 {
            Instant::now() + Duration::from_secs(3600)
        } else {
            self.last + Duration::from_secs_f64(-self.tokens / self.per_sec)
        };
        (at > Instant::now()).then_some(at)
    }
}

/// A client's inbound limits: messages (PUBLISH packets) and bytes per period. Boxed, and absent
/// when the listener sets neither rate: every connection carries one.
#[derive(Debug, Clone, Default)]
pub(crate) struct InboundLimiter(Option<Box<Buckets>>);

#[derive(Debug, Clone)]
struct Buckets {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl InboundLimiter {
    pub(crate) fn new(messages: Option<Rate>, bytes: Option<Rate>) -> InboundLimiter {
        if messages.is_none() && bytes.is_none() {
            return InboundLimiter(None);
        }
        InboundLimiter(Some(Box::new(Buckets {
            messages: messages.map(TokenBucket::new),
            bytes: bytes.map(TokenBucket::new),
        })))
    }

    /// Counts bytes read from the socket.
    pub(crate) fn on_read(&mut self, n: usize) {
        if let Some(b) = self.0.as_mut().and_then(|l| l.bytes.as_mut()) {
            b.take(n as f64);
        }
    }

    /// Counts one PUBLISH received.
    pub(crate) fn on_publish(&mut self) {
        if let Some(b) = self.0.as_mut().and_then(|l| l.messages.as_mut()) {
            b.take(1.0);
        }
    }

    /// While a bucket is in debt: when reading may go on.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        let l = self.0.as_ref()?;
        let m = l.messages.as_ref().and_then(TokenBucket::ready_at);
        let b = l.bytes.as_ref().and_then(TokenBucket::ready_at);
        m.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_one_period_then_refills_at_the_rate() {
        let mut b = TokenBucket::new(Rate::per_second(10));
        for _ in 0..10 {
            assert!(b.try_take_one());
        }
        assert!(!b.try_take_one());
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(b.try_take_one());
        assert!(!b.try_take_one());
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..10 {
            assert!(b.try_take_one());
        }
        assert!(!b.try_take_one(), "never more than one period's worth");
    }

    #[tokio::test(start_paused = true)]
    async fn debt_pauses_until_paid_off() {
        let mut l = InboundLimiter::new(None, Some(Rate::per_second(1000)));
        l.on_read(1000);
        assert_eq!(l.paused_until(), None, "exactly the capacity: no debt");
        l.on_read(500);
        let until = l.paused_until().expect("in debt");
        let wait = until - Instant::now();
        assert!(
            (wait.as_secs_f64() - 0.5).abs() < 0.01,
            "500 bytes at 1000/s: {wait:?}"
        );
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(l.paused_until().is_some(), "1 ms to go");
        tokio::time::advance(Duration::from_millis(2)).await;
        assert_eq!(
            l.paused_until(),
            None,
            "paid off by the passing of time alone"
        );
        l.on_read(1);
        assert_eq!(l.paused_until(), None, "refilled before taking");
        l.on_read(1);
        assert!(l.paused_until().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn messages_and_bytes_pause_until_the_later_of_both() {
        let mut l = InboundLimiter::new(
            Some(Rate {
                amount: 2,
                period: Duration::from_secs(10),
            }),
            Some(Rate::per_second(100)),
        );
        l.on_publish();
        l.on_publish();
        assert_eq!(l.paused_until(), None);
        l.on_publish();
        l.on_read(150);
        let wait = l.paused_until().expect("paused") - Instant::now();
        assert!(
            (wait.as_secs_f64() - 5.0).abs() < 0.01,
            "one message at 2/10s takes 5 s: {wait:?}"
        );
    }
}
