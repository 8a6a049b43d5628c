//! Retry policy and the one overall deadline for upstream calls.
//!
//! `call` makes at most `policy.max_attempts` attempts of one request, each with a timeout equal
//! to what is left of the deadline, sleeping the policy's backoff (or the upstream's
//! `Retry-After`, when it sends one) between them. Which failures are retried is the policy's
//! choice: never a user's 401/403, and never anything a non-idempotent request may have executed.
//! Mapping the final failure to an `ApiError` is the surface's job.

use crate::databricks::{DatabricksClient, UpstreamError, UpstreamResponse};
use crate::secret::Secret;
use crate::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One point in time every attempt and every sleep must finish by.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + budget,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The point in time itself (for `tokio::time::timeout_at` and friends).
    pub fn end(&self) -> Instant {
        self.end
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// Which upstream failures a request may retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retryable {
    /// 429, 503, 504 and connection failures: idempotent reads and model invocations.
    Transient,
    /// 429 only: the request was refused before it ran, so even a non-idempotent POST (a SQL
    /// statement submission) is safe to send again.
    RateLimitOnly,
    /// Nothing (best-effort calls such as a statement cancel).
    Never,
}

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_attempts: u32,
    /// Sleep before attempt 2, 3, …; the last value repeats.
    pub backoff: &'static [Duration],
    pub retryable: Retryable,
}

/// at most 3 attempts, backoff 1 s then 2 s.
pub const BACKOFF: &[Duration] = &[Duration::from_secs(1), Duration::from_secs(2)];

impl Policy {
    pub const TRANSIENT: Policy = Policy {
        max_attempts: 3,
        backoff: BACKOFF,
        retryable: Retryable::Transient,
    };
    pub const RATE_LIMIT_ONLY: Policy = Policy {
        max_attempts: 3,
        backoff: BACKOFF,
        retryable: Retryable::RateLimitOnly,
    };
    pub const ONCE: Policy = Policy {
        max_attempts: 1,
        backoff: BACKOFF,
        retryable: Retryable::Never,
    };

    fn retries(&self, error: &UpstreamError) -> bool {
        match (self.retryable, error) {
            (Retryable::Never, _) => false,
            // A user's 401/403 (and every other 4xx but 429) is final.
            (_, UpstreamError::Api { status: 429, .. }) => true,
            (Retryable::RateLimitOnly, _) => false,
            (Retryable::Transient, UpstreamError::Api { status, .. }) => {
                matches!(status, 503 | 504)
            }
            // A transport timeout means the per-attempt timeout (the whole remaining budget)
            // ran out; only connection failures are worth another attempt.
            (Retryable::Transient, UpstreamError::Transport { timeout, .. }) => !timeout,
            (Retryable::Transient, UpstreamError::NotConfigured) => false,
        }
    }

    fn delay_before(&self, attempt: u32, error: &UpstreamError) -> Duration {
        if let UpstreamError::Api {
            retry_after: Some(seconds),
            ..
        } = error
        {
            return Duration::from_secs(*seconds);
        }
        let i = (attempt as usize).saturating_sub(2);
        self.backoff
            .get(i)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::ZERO)
    }
}

/// How a retried call ended without a success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A final answer: not retryable, or the attempts are used up, or the next wait (e.g. a long
    /// `Retry-After`) would not fit before the deadline. The last upstream error.
    Upstream { error: UpstreamError, attempts: u32 },
    /// The deadline passed before any answer arrived (or during the last attempt).
    DeadlineExceeded {
        last: Option<UpstreamError>,
        attempts: u32,
    },
}

impl Failure {
    pub fn attempts(&self) -> u32 {
        match self {
            Failure::Upstream { attempts, .. } | Failure::DeadlineExceeded { attempts, .. } => {
                *attempts
            }
        }
    }
}

/// One request with retries inside `deadline`, with the caller's token.
#[allow(clippy::too_many_arguments)]
pub async fn call(
    client: &Arc<DatabricksClient>,
    service: &'static str,
    method: Method,
    path: &str,
    token: &Secret,
    body: Option<&[u8]>,
    deadline: Deadline,
    policy: Policy,
) -> Result<UpstreamResponse, Failure> {
    run(deadline, policy, |remaining| {
        let client = Arc::clone(client);
        let (path, token, body) = (path.to_string(), token.clone(), body.map(<[u8]>::to_vec));
        async move {
            client
                .call(service, method, path, token, body, Some(remaining))
                .await
        }
    })
    .await
}

/// Attempts of any upstream operation with retries inside `deadline`: `attempt` gets the time
/// left and makes one try. The same policy as `call`, for callers that do not go through the
/// blocking client (a streamed model answer opens its connection asynchronously).
pub async fn run<T, F, Fut>(
    deadline: Deadline,
    policy: Policy,
    mut attempt_once: F,
) -> Result<T, Failure>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = Result<T, UpstreamError>>,
{
    let mut attempt = 0;
    let mut last: Option<UpstreamError> = None;
    loop {
        attempt += 1;
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(Failure::DeadlineExceeded {
                last,
                attempts: attempt - 1,
            });
        }
        let error = match attempt_once(remaining).await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if let UpstreamError::Transport { timeout: true, .. } = error {
            if deadline.expired() || deadline.remaining() < Duration::from_millis(5) {
                return Err(Failure::DeadlineExceeded {
                    last: Some(error),
                    attempts: attempt,
                });
            }
        }
        if attempt >= policy.max_attempts || !policy.retries(&error) {
            return Err(Failure::Upstream {
                error,
                attempts: attempt,
            });
        }
        let delay = policy.delay_before(attempt + 1, &error);
        if delay >= deadline.remaining() {
            // Waiting would overrun the deadline. A server that told us how long to wait gets
            // its answer passed on (e.g. 429 with `retry_after`); otherwise the budget is spent.
            let told = matches!(
                error,
                UpstreamError::Api {
                    retry_after: Some(_),
                    ..
                }
            );
            return Err(if told {
                Failure::Upstream {
                    error,
                    attempts: attempt,
                }
            } else {
                Failure::DeadlineExceeded {
                    last: Some(error),
                    attempts: attempt,
                }
            });
        }
        log::debug!("attempt {attempt} failed ({error}); retrying in {delay:?}");
        last = Some(error);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, retry_after: Option<u64>) -> UpstreamError {
        UpstreamError::Api {
            status,
            error_code: "X".into(),
            message: "m".into(),
            retry_after,
        }
    }

    #[test]
    fn a_users_401_and_403_are_never_retried() {
        for policy in [Policy::TRANSIENT, Policy::RATE_LIMIT_ONLY] {
            assert!(!policy.retries(&api(401, None)));
            assert!(!policy.retries(&api(403, Some(1))));
            assert!(!policy.retries(&api(400, None)));
            assert!(policy.retries(&api(429, None)));
        }
        assert!(Policy::TRANSIENT.retries(&api(503, None)));
        assert!(Policy::TRANSIENT.retries(&api(504, None)));
        assert!(!Policy::TRANSIENT.retries(&api(500, None)));
        assert!(!Policy::RATE_LIMIT_ONLY.retries(&api(503, None)));
        assert!(!Policy::ONCE.retries(&api(429, None)));
        let refused = UpstreamError::Transport {
            timeout: false,
            message: "connection refused".into(),
        };
        assert!(Policy::TRANSIENT.retries(&refused));
        assert!(!Policy::RATE_LIMIT_ONLY.retries(&refused));
    }

    #[test]
    fn backoff_is_one_then_two_seconds_unless_the_server_says() {
        let p = Policy::TRANSIENT;
        assert_eq!(p.delay_before(2, &api(503, None)), Duration::from_secs(1));
        assert_eq!(p.delay_before(3, &api(503, None)), Duration::from_secs(2));
        assert_eq!(p.delay_before(4, &api(503, None)), Duration::from_secs(2));
        assert_eq!(p.delay_before(2, &api(429, Some(0))), Duration::ZERO);
        assert_eq!(
            p.delay_before(3, &api(429, Some(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn deadlines_count_down() {
        let d = Deadline::after(Duration::from_millis(50));
        assert!(!d.expired());
        assert!(d.remaining() <= Duration::from_millis(50));
        assert!(Deadline::after(Duration::ZERO).expired());
    }
}
