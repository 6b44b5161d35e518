//! Queue and agent reports over stored calls and agent state spans, per 15 minutes, hour or
//! day. Pure: the store streams rows in, the API serialises what comes out. Every figure
//! follows `reference/contact-center-metrics.md`:
//!
//! - queue figures count a call in the interval it entered the queue; agent figures count a
//!   call in the interval it was answered; state time is split at interval boundaries;
//! - only calls that have ended are stored, so a call still waiting counts once it is
//!   answered or abandoned;
//! - percentiles are exact, by nearest rank: the smallest value with at least q·n values at
//!   or below it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration as Span, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{AgentStateSpan, CallRecord};
use crate::domain::{AgentId, AgentState, Category, Outcome, QueueId, TierId, Timestamp};

/// How long a customer's next call about the same matter undoes first-contact resolution.
pub const FCR_WINDOW: Span = Span::days(7);

/// The most intervals one report may hold (a year of hours, or about 100 days of quarters).
pub const MAX_INTERVALS: i64 = 9_000;

/// The length of a report's intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Interval {
    /// 15 minutes, the industry's usual interval.
    #[serde(rename = "15m")]
    Quarter,
    /// One hour.
    #[serde(rename = "1h")]
    Hour,
    /// One day, from local midnight.
    #[serde(rename = "1d")]
    Day,
}

/// A report's time range, cut into intervals in a time zone (days start at local midnight).
#[derive(Clone, Copy, Debug)]
pub struct Period {
    from: Timestamp,
    to: Timestamp,
    interval: Interval,
    tz: Tz,
}

/// A report request that cannot be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    /// `to` is not after `from`.
    #[error("`to` must be after `from`")]
    Empty,
    /// Too many intervals.
    #[error("the range holds more than {MAX_INTERVALS} intervals; use a longer interval")]
    TooLong,
}

impl Period {
    /// The range [from, to) in intervals of `interval`, local to `tz`.
    ///
    /// # Errors
    /// An empty range, or one with more than [`MAX_INTERVALS`] intervals.
    pub fn new(
        from: Timestamp,
        to: Timestamp,
        interval: Interval,
        tz: Tz,
    ) -> Result<Period, PeriodError> {
        if to <= from {
            return Err(PeriodError::Empty);
        }
        let length = match interval {
            Interval::Quarter => 15 * 60,
            Interval::Hour => 3600,
            Interval::Day => 86_400,
        };
        let seconds = (to.as_micros() - from.as_micros()) / 1_000_000;
        if seconds / length > MAX_INTERVALS {
            return Err(PeriodError::TooLong);
        }
        Ok(Period {
            from,
            to,
            interval,
            tz,
        })
    }

    /// Start of the range.
    pub fn from(&self) -> Timestamp {
        self.from
    }

    /// End of the range (excluded).
    pub fn to(&self) -> Timestamp {
        self.to
    }

    /// Whether `at` falls in the range.
    fn holds(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }

    /// The start of the interval holding `at`.
    pub fn interval_start(&self, at: Timestamp) -> Timestamp {
        let local = at.to_utc().with_timezone(&self.tz);
        let date = local.date_naive();
        let (hour, minute) = match self.interval {
            Interval::Quarter => (local.hour(), local.minute() - local.minute() % 15),
            Interval::Hour => (local.hour(), 0),
            Interval::Day => (0, 0),
        };
        let start = date.and_hms_opt(hour, minute, 0).and_then(|naive| {
            self.tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        });
        // A local start that does not exist (inside a DST gap): fall back to UTC.
        start.map_or(at, to_timestamp).min(at)
    }

    /// The start of the interval after the one starting at `start`.
    fn next_start(&self, start: Timestamp) -> Timestamp {
        match self.interval {
            Interval::Quarter => start.plus(std::time::Duration::from_secs(15 * 60)),
            Interval::Hour => start.plus(std::time::Duration::from_secs(3600)),
            Interval::Day => {
                let date = start.to_utc().with_timezone(&self.tz).date_naive();
                let next = date.succ_opt().unwrap_or(NaiveDate::MAX);
                let midnight = next.and_hms_opt(0, 0, 0).and_then(|naive| {
                    self.tz
                        .from_local_datetime(&naive)
                        .earliest()
                        .map(|t| t.with_timezone(&Utc))
                });
                midnight.map_or(
                    start.plus(std::time::Duration::from_secs(86_400)),
                    to_timestamp,
                )
            }
        }
    }

    /// `[start, end)` cut at interval boundaries and clipped to the range: (interval start,
    /// microseconds inside it).
    fn split(&self, start: Timestamp, end: Timestamp) -> Vec<(Timestamp, i64)> {
        let mut pieces = Vec::new();
        let mut at = start.max(self.from);
        let end = end.min(self.to);
        while at < end {
            let interval = self.interval_start(at);
            let piece_end = self.next_start(interval).min(end).max(at);
            if piece_end == at {
                break; // cannot advance (clock edge): never loop forever
            }
            pieces.push((interval, piece_end.as_micros() - at.as_micros()));
            at = piece_end;
        }
        pieces
    }

    /// The intervals' length.
    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// The time zone of dates and day boundaries.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// A time as RFC 3339 in the report's time zone.
    pub fn label(&self, at: Timestamp) -> String {
        at.to_utc()
            .with_timezone(&self.tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp::from_micros(at.timestamp_micros())
}

/// A tier's SL rule, from the configuration, for the per-tier rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TierTarget {
    /// T of "answered within T", in milliseconds.
    pub threshold_ms: i64,
    /// The share that should be answered within T (0.8 for 80/20).
    pub target: f64,
}

/// One row of the queue report: one queue, one tier (or all tiers), one interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueRow {
    /// Start of the interval (RFC 3339, in the report's time zone).
    pub interval_start: String,
    /// The queue.
    pub queue: QueueId,
    /// The tier; empty for the row of all tiers together.
    pub tier: Option<TierId>,
    /// Calls that entered the queue.
    pub offered: u64,
    /// Calls answered by an agent.
    pub answered: u64,
    /// Calls whose caller hung up while waiting (short abandons included).
    pub abandoned: u64,
    /// Abandons quicker than the queue's short-abandon threshold.
    pub short_abandons: u64,
    /// Calls the queue's overflow action took elsewhere.
    pub overflowed: u64,
    /// Answered within their tier's threshold.
    pub answered_within_threshold: u64,
    /// answered within T / (offered − short abandons).
    pub service_level: Option<f64>,
    /// The tier's T (per-tier rows only).
    pub sla_threshold_ms: Option<i64>,
    /// The tier's SL target (per-tier rows only).
    pub sla_target: Option<f64>,
    /// Whether SL met the target (per-tier rows only).
    pub sla_target_met: Option<bool>,
    /// Average wait of answered calls.
    pub asa_ms: Option<f64>,
    /// (abandons − short abandons) / (offered − short abandons).
    pub abandon_rate: Option<f64>,
    /// Average talk + ACW of answered calls.
    pub aht_ms: Option<f64>,
    /// Wait of answered and abandoned calls, median.
    pub wait_p50_ms: Option<i64>,
    /// Wait, 90th percentile.
    pub wait_p90_ms: Option<i64>,
    /// Wait, 99th percentile.
    pub wait_p99_ms: Option<i64>,
    /// Post-call surveys answered.
    pub surveys: u64,
    /// Average survey score (1–5).
    pub csat: Option<f64>,
    /// Share of surveys scored 4 or 5.
    pub csat_top2: Option<f64>,
}

#[derive(Default)]
struct QueueTally {
    offered: u64,
    answered: u64,
    abandoned: u64,
    short_abandons: u64,
    overflowed: u64,
    within: u64,
    wait_answered_ms: i64,
    handle_ms: i64,
    waits: Vec<i64>,
    surveys: Surveys,
}

#[derive(Default)]
struct Surveys {
    count: u64,
    sum: u64,
    top2: u64,
}

impl Surveys {
    fn add(&mut self, score: Option<u8>) {
        if let Some(score) = score {
            self.count += 1;
            self.sum += u64::from(score);
            self.top2 += u64::from(score >= 4);
        }
    }

    fn average(&self) -> Option<f64> {
        ratio(self.sum, self.count)
    }

    fn top2_share(&self) -> Option<f64> {
        ratio(self.top2, self.count)
    }
}

impl QueueTally {
    fn add(&mut self, call: &CallRecord) {
        self.offered += 1;
        match call.outcome {
            Outcome::Answered => {
                self.answered += 1;
                self.wait_answered_ms += call.wait_ms.unwrap_or(0);
                self.handle_ms += call.talk_ms.unwrap_or(0) + call.acw_ms.unwrap_or(0);
            }
            Outcome::Abandoned => self.abandoned += 1,
            Outcome::Overflowed => self.overflowed += 1,
            Outcome::EndedInIvr => {}
        }
        self.short_abandons += u64::from(call.short_abandon);
        self.within += u64::from(call.sla_met == Some(true));
        if matches!(call.outcome, Outcome::Answered | Outcome::Abandoned) {
            self.waits.extend(call.wait_ms);
        }
        self.surveys.add(call.survey_score);
    }

    fn row(
        mut self,
        interval_start: String,
        queue: QueueId,
        tier: Option<TierId>,
        target: Option<TierTarget>,
    ) -> QueueRow {
        self.waits.sort_unstable();
        let counted = self.offered - self.short_abandons;
        let service_level = ratio(self.within, counted);
        QueueRow {
            interval_start,
            queue,
            tier,
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            short_abandons: self.short_abandons,
            overflowed: self.overflowed,
            answered_within_threshold: self.within,
            service_level,
            sla_threshold_ms: target.map(|t| t.threshold_ms),
            sla_target: target.map(|t| t.target),
            sla_target_met: target.zip(service_level).map(|(t, sl)| sl >= t.target),
            asa_ms: average(self.wait_answered_ms, self.answered),
            abandon_rate: ratio(self.abandoned - self.short_abandons, counted),
            aht_ms: average(self.handle_ms, self.answered),
            wait_p50_ms: percentile(&self.waits, 0.50),
            wait_p90_ms: percentile(&self.waits, 0.90),
            wait_p99_ms: percentile(&self.waits, 0.99),
            surveys: self.surveys.count,
            csat: self.surveys.average(),
            csat_top2: self.surveys.top2_share(),
        }
    }
}

/// Builds the queue report from calls streamed in (any order).
pub struct QueueReport {
    period: Period,
    targets: HashMap<TierId, TierTarget>,
    per_tier_only: bool,
    tallies: BTreeMap<(Timestamp, QueueId, Option<TierId>), QueueTally>,
}

impl QueueReport {
    /// An empty report. `per_tier_only` leaves out the all-tiers rows (when the request
    /// names one tier, they would repeat its rows).
    pub fn new(period: Period, targets: HashMap<TierId, TierTarget>, per_tier_only: bool) -> Self {
        QueueReport {
            period,
            targets,
            per_tier_only,
            tallies: BTreeMap::new(),
        }
    }

    /// Counts one stored call; calls that never queued or queued outside the range are
    /// skipped.
    pub fn add(&mut self, call: &CallRecord) {
        let (Some(queue), Some(enqueued_at)) = (&call.queue, call.enqueued_at) else {
            return;
        };
        if !self.period.holds(enqueued_at) {
            return;
        }
        let start = self.period.interval_start(enqueued_at);
        let tier = Some(call.tier.clone());
        self.tallies
            .entry((start, queue.clone(), tier))
            .or_default()
            .add(call);
        if !self.per_tier_only {
            self.tallies
                .entry((start, queue.clone(), None))
                .or_default()
                .add(call);
        }
    }

    /// The rows by interval, queue, then tier (all tiers first).
    pub fn rows(self) -> Vec<QueueRow> {
        let period = self.period;
        let targets = self.targets;
        self.tallies
            .into_iter()
            .map(|((start, queue, tier), tally)| {
                let target = tier.as_ref().and_then(|t| targets.get(t).copied());
                tally.row(period.label(start), queue, tier, target)
            })
            .collect()
    }
}

/// One row of the agent report: one agent, one interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentRow {
    /// Start of the interval (RFC 3339, in the report's time zone).
    pub interval_start: String,
    /// The agent.
    pub agent: AgentId,
    /// Calls answered in the interval.
    pub handled: u64,
    /// Average talk + ACW of those calls.
    pub aht_ms: Option<f64>,
    /// Average talk time.
    pub talk_ms: Option<f64>,
    /// Average after-call work.
    pub acw_ms: Option<f64>,
    /// Time talking or in wrap-up, from the state spans.
    pub handling_ms: i64,
    /// Time available (idle or ringing), from the state spans.
    pub available_ms: i64,
    /// Time on break.
    pub break_ms: i64,
    /// Time not ready after a missed offer.
    pub not_ready_ms: i64,
    /// handling / (handling + available).
    pub occupancy: Option<f64>,
    /// Handled calls resolved with no call from the same customer about the same category
    /// within 7 days, over handled calls.
    pub fcr: Option<f64>,
    /// Post-call surveys answered.
    pub surveys: u64,
    /// Average survey score (1–5).
    pub csat: Option<f64>,
    /// Share of surveys scored 4 or 5.
    pub csat_top2: Option<f64>,
}

#[derive(Default)]
struct AgentTally {
    handled: u64,
    talk_ms: i64,
    acw_ms: i64,
    first_contact: u64,
    surveys: Surveys,
    state_us: [i64; 7],
}

impl AgentTally {
    fn state_ms(&self, state: AgentState) -> i64 {
        self.state_us[state as usize] / 1000
    }

    fn row(self, interval_start: String, agent: AgentId) -> AgentRow {
        let handling_ms = self.state_ms(AgentState::Talking) + self.state_ms(AgentState::WrapUp);
        let available_ms =
            self.state_ms(AgentState::Available) + self.state_ms(AgentState::Offered);
        AgentRow {
            interval_start,
            agent,
            handled: self.handled,
            aht_ms: average(self.talk_ms + self.acw_ms, self.handled),
            talk_ms: average(self.talk_ms, self.handled),
            acw_ms: average(self.acw_ms, self.handled),
            handling_ms,
            available_ms,
            break_ms: self.state_ms(AgentState::Break),
            not_ready_ms: self.state_ms(AgentState::NotReady),
            occupancy: ratio_i(handling_ms, handling_ms + available_ms),
            fcr: ratio(self.first_contact, self.handled),
            surveys: self.surveys.count,
            csat: self.surveys.average(),
            csat_top2: self.surveys.top2_share(),
        }
    }
}

/// Who called, for FCR: the customer when recognised, else the caller number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Caller {
    Customer(i64),
    Number(String),
}

fn caller_of(call: &CallRecord) -> Caller {
    match call.customer_id {
        Some(id) => Caller::Customer(id),
        None => Caller::Number(call.caller_number.clone()),
    }
}

/// Later calls by caller and category, for FCR: feed every categorised call that arrived
/// in [from, to + 7 days).
#[derive(Default)]
pub struct Contacts {
    arrivals: HashMap<(Caller, Category), Vec<Timestamp>>,
}

impl Contacts {
    /// Remembers one categorised call.
    pub fn add(&mut self, call: &CallRecord) {
        if let Some(d) = &call.disposition {
            self.arrivals
                .entry((caller_of(call), d.category))
                .or_default()
                .push(call.arrived_at);
        }
    }

    /// Whether the same caller called about the same category after `call`, within 7 days.
    fn called_again(&self, call: &CallRecord, category: Category) -> bool {
        let until = call
            .arrived_at
            .plus(FCR_WINDOW.to_std().unwrap_or_default());
        self.arrivals
            .get(&(caller_of(call), category))
            .is_some_and(|times| times.iter().any(|&t| call.arrived_at < t && t <= until))
    }
}

/// Builds the agent report from answered calls and state spans streamed in.
pub struct AgentReport {
    period: Period,
    tallies: BTreeMap<(Timestamp, AgentId), AgentTally>,
}

impl AgentReport {
    /// An empty report.
    pub fn new(period: Period) -> Self {
        AgentReport {
            period,
            tallies: BTreeMap::new(),
        }
    }

    /// Counts one answered call (by the interval it was answered in); `contacts` says
    /// whether the customer called again.
    pub fn add_call(&mut self, call: &CallRecord, contacts: &Contacts) {
        let (Some(agent), Some(answered_at)) = (&call.agent, call.answered_at) else {
            return;
        };
        if call.outcome != Outcome::Answered || !self.period.holds(answered_at) {
            return;
        }
        let start = self.period.interval_start(answered_at);
        let tally = self.tallies.entry((start, agent.clone())).or_default();
        tally.handled += 1;
        tally.talk_ms += call.talk_ms.unwrap_or(0);
        tally.acw_ms += call.acw_ms.unwrap_or(0);
        if let Some(d) = &call.disposition {
            let first = d.resolved && !contacts.called_again(call, d.category);
            tally.first_contact += u64::from(first);
        }
        tally.surveys.add(call.survey_score);
    }

    /// Adds one state span, split at interval boundaries and clipped to the range.
    pub fn add_span(&mut self, span: &AgentStateSpan) {
        if span.state == AgentState::LoggedOut {
            return;
        }
        for (start, micros) in self.period.split(span.started_at, span.ended_at) {
            let tally = self.tallies.entry((start, span.agent.clone())).or_default();
            tally.state_us[span.state as usize] += micros;
        }
    }

    /// The rows by interval, then agent.
    pub fn rows(self) -> Vec<AgentRow> {
        let period = self.period;
        self.tallies
            .into_iter()
            .map(|((start, agent), tally)| tally.row(period.label(start), agent))
            .collect()
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn ratio_i(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn average(sum: i64, count: u64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests;
