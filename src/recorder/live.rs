//! Today's live queue figures for the supervisor views (pure), updated the moment a call is
//! resolved (answered, abandoned, overflowed) rather than when its record is written, so
//! the wallboard never lags by talk and wrap-up time.
//!
//! Definitions (`reference/contact-center-metrics.md`): calls still waiting count once they
//! are answered or abandoned, so the SL denominator is the resolved calls:
//! `SL = answered within T / (answered + abandoned + overflowed − short abandons)`,
//! `abandon rate = (abandoned − short) / (resolved − short)`, `ASA = Σ wait / answered`.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::domain::{QueueId, TierId};

/// Counters for one queue and tier since the start of the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Calls enqueued.
    pub offered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Answered within the tier's SL threshold.
    pub answered_within: u64,
    /// Abandoned (short ones included).
    pub abandoned: u64,
    /// Abandoned before the short-abandon threshold.
    pub short_abandons: u64,
    /// Taken by the overflow action.
    pub overflowed: u64,
    /// Sum of waits of answered calls, ms.
    pub answered_wait_ms: u64,
}

impl Counts {
    fn resolved_less_short(&self) -> u64 {
        (self.answered + self.abandoned + self.overflowed).saturating_sub(self.short_abandons)
    }

    /// Service level, or `None` before any call counts.
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_within, self.resolved_less_short())
    }

    /// Abandon rate, or `None` before any call counts.
    pub fn abandon_rate(&self) -> Option<f64> {
        ratio(
            self.abandoned.saturating_sub(self.short_abandons),
            self.resolved_less_short(),
        )
    }

    /// Average speed of answer in ms, or `None` before any answer.
    pub fn asa_ms(&self) -> Option<f64> {
        ratio(self.answered_wait_ms, self.answered)
    }

    fn add(&mut self, other: &Counts) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within += other.answered_within;
        self.abandoned += other.abandoned;
        self.short_abandons += other.short_abandons;
        self.overflowed += other.overflowed;
        self.answered_wait_ms += other.answered_wait_ms;
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Today's counters per queue and tier.
#[derive(Clone, Debug, Default)]
pub struct LiveFigures {
    day: i64,
    counts: HashMap<(QueueId, TierId), Counts>,
}

impl LiveFigures {
    /// Starts a new day when `day` (days since the epoch, UTC) changed.
    pub fn roll_day(&mut self, day: i64) {
        if day != self.day {
            self.day = day;
            self.counts.clear();
        }
    }

    fn entry(&mut self, queue: &QueueId, tier: &TierId) -> &mut Counts {
        self.counts
            .entry((queue.clone(), tier.clone()))
            .or_default()
    }

    /// A call entered a queue.
    pub fn enqueued(&mut self, queue: &QueueId, tier: &TierId) {
        self.entry(queue, tier).offered += 1;
    }

    /// A call was answered after `wait`.
    pub fn answered(
        &mut self,
        queue: &QueueId,
        tier: &TierId,
        wait: Duration,
        threshold: Duration,
    ) {
        let c = self.entry(queue, tier);
        c.answered += 1;
        c.answered_within += u64::from(wait <= threshold);
        c.answered_wait_ms += u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    }

    /// A call was abandoned after `wait`.
    pub fn abandoned(&mut self, queue: &QueueId, tier: &TierId, wait: Duration, short: Duration) {
        let c = self.entry(queue, tier);
        c.abandoned += 1;
        c.short_abandons += u64::from(wait < short);
    }

    /// A supervisor moved a waiting call: it counts in the queue it ends in, as its record
    /// does.
    pub fn moved(&mut self, from: &QueueId, to: &QueueId, tier: &TierId) {
        let old = self.entry(from, tier);
        old.offered = old.offered.saturating_sub(1);
        self.entry(to, tier).offered += 1;
    }

    /// A call left by the overflow action.
    pub fn overflowed(&mut self, queue: &QueueId, tier: &TierId) {
        self.entry(queue, tier).overflowed += 1;
    }

    /// A queue's counters, all tiers together.
    pub fn queue(&self, queue: &QueueId) -> Counts {
        let mut total = Counts::default();
        for ((q, _), c) in &self.counts {
            if q == queue {
                total.add(c);
            }
        }
        total
    }

    /// A queue's counters for one tier.
    pub fn queue_tier(&self, queue: &QueueId, tier: &TierId) -> Counts {
        self.counts
            .get(&(queue.clone(), tier.clone()))
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_level_excludes_short_abandons_and_counts_only_resolved_calls() {
        let (q, gold) = (QueueId::new("general"), TierId::new("gold"));
        let (t, short) = (Duration::from_secs(20), Duration::from_secs(5));
        let mut live = LiveFigures::default();
        for _ in 0..6 {
            live.enqueued(&q, &gold);
        }
        live.answered(&q, &gold, Duration::from_secs(10), t); // within
        live.answered(&q, &gold, Duration::from_secs(20), t); // within (≤ T)
        live.answered(&q, &gold, Duration::from_secs(30), t); // late
        live.abandoned(&q, &gold, Duration::from_secs(2), short); // short: excluded
        live.abandoned(&q, &gold, Duration::from_secs(40), short);
        // one call still waiting: not counted yet
        let c = live.queue(&q);
        assert_eq!(c.offered, 6);
        assert_eq!(c.service_level(), Some(2.0 / 4.0));
        assert_eq!(c.abandon_rate(), Some(1.0 / 4.0));
        assert_eq!(c.asa_ms(), Some(20_000.0));
    }

    #[test]
    fn no_resolved_calls_gives_no_figure_rather_than_nan() {
        let live = LiveFigures::default();
        let c = live.queue(&QueueId::new("general"));
        assert_eq!(c.service_level(), None);
        assert_eq!(c.asa_ms(), None);
    }
}
