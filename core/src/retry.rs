//! Retries: a message released by an actor's Error is tried again on a fresh
//! instance, up to the function's `max_attempts`, then ends as Failed.

use crate::limits::Limits;

/// What happens to a message whose actor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Try again; this is the attempt number it runs with.
    Again {
        /// The next attempt, counting from 1.
        attempt: u32,
    },
    /// It has had all its attempts: it ends as Failed.
    GiveUp,
}

/// The fate of a message that failed on attempt `attempt` (counting from 1).
pub const fn after_fault(attempt: u32, limits: &Limits) -> Retry {
    if attempt < limits.max_attempts {
        Retry::Again {
            attempt: attempt + 1,
        }
    } else {
        Retry::GiveUp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_up_to_max_attempts() {
        let l = Limits {
            max_attempts: 3,
            ..Limits::default()
        };
        assert_eq!(after_fault(1, &l), Retry::Again { attempt: 2 });
        assert_eq!(after_fault(2, &l), Retry::Again { attempt: 3 });
        assert_eq!(after_fault(3, &l), Retry::GiveUp);
        let once = Limits {
            max_attempts: 1,
            ..l
        };
        assert_eq!(after_fault(1, &once), Retry::GiveUp);
    }
}
