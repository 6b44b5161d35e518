//! Estimated wait, as `reference/contact-center-metrics.md` defines it: for a caller with
//! k calls ahead, EWT ≈ (k + 1) · h / N, where h is the queue's recent average handle time
//! and N the agents logged into the queue and not on break. No figure is given while fewer
//! than [`MIN_SAMPLES`] recent calls back h.

use std::collections::VecDeque;
use std::time::Duration;

/// Recent calls h needs before an estimate is given.
pub const MIN_SAMPLES: usize = 10;

/// How many recent calls h averages over.
pub const WINDOW: usize = 100;

/// A queue's last handle times (talk + ACW), for h.
#[derive(Clone, Debug, Default)]
pub struct RecentHandleTimes {
    times: VecDeque<Duration>,
    sum: Duration,
}

impl RecentHandleTimes {
    /// Adds a handled call; the oldest of more than [`WINDOW`] drops out.
    pub fn record(&mut self, handle: Duration) {
        self.times.push_back(handle);
        self.sum += handle;
        if self.times.len() > WINDOW {
            if let Some(old) = self.times.pop_front() {
                self.sum -= old;
            }
        }
    }

    /// h, once at least [`MIN_SAMPLES`] calls back it.
    pub fn average(&self) -> Option<Duration> {
        let n = self.times.len();
        (n >= MIN_SAMPLES).then(|| self.sum / u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// EWT for a caller with `ahead` calls before them; `None` when nobody serves the queue
/// (the wait has no bound) or h is not known yet.
pub fn estimated_wait(ahead: usize, aht: Option<Duration>, serving: u32) -> Option<Duration> {
    if serving == 0 {
        return None;
    }
    let calls = u32::try_from(ahead + 1).unwrap_or(u32::MAX);
    Some(aht?.saturating_mul(calls) / serving)
}

/// What to announce: whole minutes, rounded up (never 0).
pub fn announced_minutes(ewt: Duration) -> u64 {
    ewt.as_secs().div_ceil(60).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn no_estimate_until_ten_calls_back_the_average() {
        let mut recent = RecentHandleTimes::default();
        for _ in 0..9 {
            recent.record(secs(180));
        }
        assert_eq!(recent.average(), None);
        recent.record(secs(280));
        assert_eq!(recent.average(), Some(secs(190))); // (9·180 + 280) / 10
    }

    #[test]
    fn the_average_covers_the_last_hundred_calls() {
        let mut recent = RecentHandleTimes::default();
        for _ in 0..WINDOW {
            recent.record(secs(600));
        }
        for _ in 0..WINDOW {
            recent.record(secs(60));
        }
        assert_eq!(recent.average(), Some(secs(60)));
    }

    #[test]
    fn ewt_is_calls_ahead_plus_one_times_h_over_agents() {
        // 4 ahead, h = 3 min, 5 agents serving: 5 · 180 / 5 = 180 s.
        assert_eq!(estimated_wait(4, Some(secs(180)), 5), Some(secs(180)));
        assert_eq!(estimated_wait(0, Some(secs(180)), 6), Some(secs(30)));
        assert_eq!(estimated_wait(4, Some(secs(180)), 0), None);
        assert_eq!(estimated_wait(4, None, 5), None);
    }

    #[test]
    fn announcements_round_up_to_the_minute() {
        assert_eq!(announced_minutes(secs(30)), 1);
        assert_eq!(announced_minutes(secs(60)), 1);
        assert_eq!(announced_minutes(secs(61)), 2);
        assert_eq!(announced_minutes(Duration::ZERO), 1);
    }
}
