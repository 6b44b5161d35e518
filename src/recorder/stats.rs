//! Latency distributions of completed calls (pure): one HdrHistogram per queue × tier ×
//! 15-minute interval for wait (answered calls), talk and handle time, in milliseconds. A
//! call counts in the interval it entered the queue, as the metrics reference says. Recording
//! into an existing interval allocates nothing; a new interval allocates its histograms once.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::domain::{Outcome, QueueId, TierId, Timestamp};
use crate::recorder::CallRecord;

/// Interval length: 15 minutes, in µs.
pub const INTERVAL_MICROS: i64 = 15 * 60 * 1_000_000;
/// Longest value kept exactly: one day in ms (longer values are clamped, and counted).
const MAX_MS: u64 = 24 * 3600 * 1000;
/// Intervals older than this many days are dropped.
const RETAIN_DAYS: i64 = 8;

/// The start of the 15-minute interval holding `at`.
pub fn interval_of(at: Timestamp) -> Timestamp {
    Timestamp::from_micros(at.as_micros().div_euclid(INTERVAL_MICROS) * INTERVAL_MICROS)
}

/// What one queue × tier × interval holds.
#[derive(Clone, Debug)]
pub struct Distributions {
    /// Wait of answered calls (answer − enqueue).
    pub wait: Histogram<u64>,
    /// Talk time of answered calls.
    pub talk: Histogram<u64>,
    /// Handle time (talk + ACW) of calls whose wrap-up ended.
    pub handle: Histogram<u64>,
}

impl Distributions {
    fn new() -> Distributions {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_MS, 3).expect("static bounds are valid");
        Distributions {
            wait: histogram(),
            talk: histogram(),
            handle: histogram(),
        }
    }
}

/// Percentiles of one distribution, in ms.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    /// Calls counted.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// `None` when nothing was recorded.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        (!h.is_empty()).then(|| Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }
}

/// Which distribution to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// Wait of answered calls.
    Wait,
    /// Talk time.
    Talk,
    /// Handle time.
    Handle,
}

/// All distributions, keyed by (interval start, queue, tier).
#[derive(Debug, Default)]
pub struct Stats {
    cells: BTreeMap<(Timestamp, QueueId, TierId), Distributions>,
    /// Values longer than a day, clamped to a day.
    pub clamped: u64,
}

impl Stats {
    /// Adds a completed call. Calls that never reached a queue have no queue figures.
    pub fn record(&mut self, call: &CallRecord) {
        let (Some(queue), Some(enqueued)) = (&call.queue, call.enqueued_at) else {
            return;
        };
        let interval = interval_of(enqueued);
        let key = (interval, queue.clone(), call.tier.clone());
        if !self.cells.contains_key(&key) {
            self.forget_before(Timestamp::from_micros(
                interval.as_micros() - RETAIN_DAYS * 96 * INTERVAL_MICROS,
            ));
        }
        let cell = self.cells.entry(key).or_insert_with(Distributions::new);
        let mut clamped = 0;
        let mut put = |h: &mut Histogram<u64>, ms: Option<i64>| {
            if let Some(ms) = ms {
                let ms = u64::try_from(ms.max(0)).unwrap_or(0);
                clamped += u64::from(ms > MAX_MS);
                h.saturating_record(ms.min(MAX_MS));
            }
        };
        if call.outcome == Outcome::Answered {
            put(&mut cell.wait, call.wait_ms);
            put(&mut cell.talk, call.talk_ms);
            if let (Some(talk), Some(acw)) = (call.talk_ms, call.acw_ms) {
                put(&mut cell.handle, Some(talk + acw));
            }
        }
        self.clamped += clamped;
    }

    /// Merged percentiles of `figure` for calls enqueued in `[from, to)`, for one queue and
    /// optionally one tier.
    pub fn percentiles(
        &self,
        figure: Figure,
        queue: &QueueId,
        tier: Option<&TierId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Percentiles> {
        let mut merged: Option<Histogram<u64>> = None;
        for ((interval, q, t), cell) in self
            .cells
            .range((interval_of(from), queue.clone(), TierId::new(""))..)
        {
            if *interval >= to {
                break;
            }
            if q != queue || tier.is_some_and(|tier| tier != t) {
                continue;
            }
            let h = match figure {
                Figure::Wait => &cell.wait,
                Figure::Talk => &cell.talk,
                Figure::Handle => &cell.handle,
            };
            match &mut merged {
                Some(m) => {
                    let _ = m.add(h); // same bounds everywhere: cannot fail
                }
                None => merged = Some(h.clone()),
            }
        }
        merged.as_ref().and_then(Percentiles::of)
    }

    fn forget_before(&mut self, limit: Timestamp) {
        self.cells.retain(|(interval, _, _), _| *interval >= limit);
    }
}

#[cfg(test)]
mod tests;
