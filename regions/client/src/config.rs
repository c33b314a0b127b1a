//! How long the client tries, and how it paces its retries.

use std::time::Duration;

use crate::error::ConfigError;

/// Time bounds of every operation of a [`crate::RegionClient`].
///
/// Every bound is finite, so no call can hang: an operation ends by its
/// `deadline` whatever the replicas do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Overall time for one operation, all attempts and waits included. When
    /// it passes, the operation ends with the last failure it saw.
    pub deadline: Duration,
    /// Time for one attempt at one replica. Sent as the gRPC deadline (except
    /// for streams, where it bounds only the opening) and enforced locally, so
    /// a replica that hangs costs one attempt, not the whole deadline.
    pub attempt_timeout: Duration,
    /// Time to establish a TCP connection to a replica. Short, because a
    /// replica that does not accept connections should be skipped quickly.
    pub connect_timeout: Duration,
    /// First wait between rounds of attempts; doubled each round.
    pub backoff_min: Duration,
    /// Cap on the wait between rounds of attempts.
    pub backoff_max: Duration,
    /// How many `NotLeader` redirects in a row are followed at once, without
    /// waiting. Past that the client backs off, so two replicas that point at
    /// each other during an election cannot make it spin.
    pub redirects_in_a_row_max: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            backoff_min: Duration::from_millis(25),
            backoff_max: Duration::from_secs(1),
            redirects_in_a_row_max: 3,
        }
    }
}

impl ClientConfig {
    /// The default bounds with another overall deadline; the attempt and
    /// connect timeouts shrink to it if it is shorter than they are.
    pub fn with_deadline(deadline: Duration) -> Self {
        let default = Self::default();
        Self {
            deadline,
            attempt_timeout: default.attempt_timeout.min(deadline),
            connect_timeout: default.connect_timeout.min(deadline),
            ..default
        }
    }

    /// Checks that every bound is positive and that they fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("deadline", self.deadline),
            ("attempt_timeout", self.attempt_timeout),
            ("connect_timeout", self.connect_timeout),
            ("backoff_min", self.backoff_min),
            ("backoff_max", self.backoff_max),
        ];
        for (field, value) in positive {
            if value.is_zero() {
                return Err(ConfigError::Setting { field, reason: "must be more than zero".to_owned() });
            }
        }
        if self.attempt_timeout > self.deadline {
            return Err(ConfigError::Setting {
                field: "attempt_timeout",
                reason: "must not exceed deadline".to_owned(),
            });
        }
        if self.backoff_min > self.backoff_max {
            return Err(ConfigError::Setting {
                field: "backoff_min",
                reason: "must not exceed backoff_max".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(ClientConfig::default().validate(), Ok(()));
    }

    #[test]
    fn short_deadline_shrinks_the_attempts() {
        let config = ClientConfig::with_deadline(Duration::from_millis(500));
        assert_eq!(config.attempt_timeout, Duration::from_millis(500));
        assert_eq!(config.connect_timeout, Duration::from_millis(500));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn bad_bounds_name_the_field() {
        let check = |config: ClientConfig, field: &str| match config.validate() {
            Err(ConfigError::Setting { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: got {other:?}"),
        };
        check(ClientConfig { deadline: Duration::ZERO, ..ClientConfig::default() }, "deadline");
        check(ClientConfig { attempt_timeout: Duration::from_secs(11), ..ClientConfig::default() }, "attempt_timeout");
        check(ClientConfig { backoff_min: Duration::from_secs(2), ..ClientConfig::default() }, "backoff_min");
    }
}
