//! The time budget of one Alexa request, shared by everything that answers it.

use std::time::Duration;

use tokio::time::Instant;

/// The instant by which the skill must have its answer ready.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// A deadline at a given instant.
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// The instant itself.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether no time is left.
    pub fn is_past(&self) -> bool {
        self.remaining().is_zero()
    }

    /// This deadline or `budget` from now, whichever comes first.
    pub fn cap(&self, budget: Duration) -> Self {
        Self(self.0.min(Instant::now() + budget))
    }

    /// A deadline `margin` earlier than this one (for work that must finish before the answer is sent).
    pub fn earlier_by(&self, margin: Duration) -> Self {
        Self(self.0.checked_sub(margin).unwrap_or_else(Instant::now))
    }
}
