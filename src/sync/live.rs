//! Live updates, sans-IO: what a driver does with hints (PROTOCOL.md, "Live updates").
//!
//! A hint (a `changed` on the live socket, a long-poll's answer, a timer) is untrusted: it
//! only ever leads to an ordinary pull, which checks everything as usual. So a server that
//! spams hints can cause extra pulls, at most one per hint and one per
//! [`MIN_PULL_GAP_MS`]; one that withholds them only delays changes until the next
//! hint, poll or sync. [`Hints`] coalesces them: one pull in flight, and a pull only
//! when the hinted cursor is past the engine's.

/// At most one pull per this many milliseconds, however many hints arrive.
pub const MIN_PULL_GAP_MS: u64 = 1_000;

/// The first reconnection waits up to this long (full jitter), in milliseconds.
pub const RECONNECT_MIN_MS: u64 = 1_000;

/// No reconnection waits longer than this, in milliseconds.
pub const RECONNECT_MAX_MS: u64 = 60_000;

/// Coalesced hints of one device.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    /// The highest cursor hinted since the last pull started.
    wanted: u64,
    /// What the pull in flight took from `wanted` (given back if it fails).
    taken: Option<u64>,
    /// When the last pull started.
    last_start: Option<u64>,
}

/// What the driver should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing: no hint is past the engine's cursor, or a pull is in flight.
    Idle,
    /// Pull now (then call [`Hints::started`]).
    Now,
    /// Pull in this many milliseconds (ask again then).
    In(u64),
}

impl Hints {
    /// A hint that the vault's latest cursor is `cursor`.
    pub fn hint(&mut self, cursor: u64) {
        self.wanted = self.wanted.max(cursor);
    }

    /// What to do, for an engine at `own_cursor`, at `now` (Unix milliseconds).
    pub fn due(&self, own_cursor: u64, now: u64) -> Due {
        if self.taken.is_some() || self.wanted <= own_cursor {
            return Due::Idle;
        }
        match self.last_start {
            Some(at) if now < at + MIN_PULL_GAP_MS => Due::In(at + MIN_PULL_GAP_MS - now),
            _ => Due::Now,
        }
    }

    /// A pull (any sync, a hinted one or not) started at `now`: it covers every hint so
    /// far.
    pub fn started(&mut self, now: u64) {
        self.taken = Some(core::mem::take(&mut self.wanted));
        self.last_start = Some(now);
    }

    /// The pull ended; if it failed, the hints it took are wanted again.
    pub fn finished(&mut self, pulled: bool) {
        if let Some(taken) = self.taken.take() {
            if !pulled {
                self.hint(taken);
            }
        }
    }
}

/// How long to wait before reconnection attempt `attempt` (0 for the first): "full
/// jitter", uniform in 1 s to min(60 s, 1 s × 2^attempt), from `random` (any `u32`).
pub fn reconnect_delay(attempt: u32, random: u32) -> u64 {
    let ceiling = RECONNECT_MIN_MS
        .saturating_mul(1 << attempt.min(16))
        .min(RECONNECT_MAX_MS);
    RECONNECT_MIN_MS + u64::from(random) % (ceiling - RECONNECT_MIN_MS + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_leads_to_a_pull_only_past_the_engines_cursor() {
        let mut hints = Hints::default();
        hints.hint(5);
        assert_eq!(hints.due(5, 0), Due::Idle, "not past the cursor");
        assert_eq!(
            hints.due(9, 0),
            Due::Idle,
            "behind the cursor: a stale or lying hint"
        );
        hints.hint(6);
        assert_eq!(hints.due(5, 0), Due::Now);
    }

    #[test]
    fn hints_are_coalesced_one_pull_in_flight_and_one_per_second() {
        let mut hints = Hints::default();
        hints.hint(10);
        hints.started(1_000);
        // A burst during the pull: nothing until it ends, then one more pull, a second
        // after the first started.
        for cursor in 11..100 {
            hints.hint(cursor);
            assert_eq!(hints.due(0, 1_100), Due::Idle);
        }
        hints.finished(true);
        assert_eq!(hints.due(10, 1_200), Due::In(800));
        assert_eq!(hints.due(10, 2_000), Due::Now);
        hints.started(2_000);
        hints.finished(true);
        assert_eq!(hints.due(99, 2_500), Due::Idle, "all covered");
    }

    #[test]
    fn a_spammed_hint_costs_at_most_one_pull_per_hint_and_per_second() {
        let mut hints = Hints::default();
        let mut pulls = 0;
        for second in 0..10 {
            let now = second * 1_000;
            hints.hint(u64::MAX);
            if hints.due(0, now) == Due::Now {
                hints.started(now);
                hints.finished(true);
                pulls += 1;
            }
            // The engine's cursor never reaches the lie; without a new hint, no pull.
            assert_eq!(hints.due(0, now + 1_000), Due::Idle);
        }
        assert_eq!(pulls, 10);
    }

    #[test]
    fn a_failed_pull_gives_its_hints_back() {
        let mut hints = Hints::default();
        hints.hint(4);
        hints.started(0);
        hints.finished(false);
        assert_eq!(hints.due(3, 1_000), Due::Now);
    }

    #[test]
    fn reconnection_waits_grow_with_full_jitter_within_1_to_60_seconds() {
        assert_eq!(reconnect_delay(0, 0), 1_000);
        assert_eq!(reconnect_delay(0, u32::MAX), 1_000);
        assert_eq!(reconnect_delay(3, 7_000), 8_000);
        assert!((1_000..=8_000).contains(&reconnect_delay(3, 123_456)));
        for attempt in [6, 7, 40, u32::MAX] {
            for random in [0, 59_000, 59_001, u32::MAX] {
                assert!((1_000..=60_000).contains(&reconnect_delay(attempt, random)));
            }
        }
        assert_eq!(reconnect_delay(40, 59_000), 60_000);
    }
}
