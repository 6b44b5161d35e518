//! Erlang C, as `reference/contact-center-metrics.md` defines it: the chance a call waits,
//! the service level and the ASA for N agents, from traffic A = λ·h. Computed with the Erlang
//! B recursion, so thousands of agents neither overflow nor lose precision.

use std::time::Duration;

/// A queue's offered traffic and staffing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErlangC {
    /// Traffic intensity A = λ·h, in erlangs.
    traffic: f64,
    /// Average handle time h, in seconds.
    aht: f64,
    /// Agents serving the queue.
    agents: u32,
}

impl ErlangC {
    /// `arrivals_per_second` (λ), average handle time and agents. `None` when the figures
    /// make no sense (negative or non-finite rate, zero handle time).
    pub fn new(arrivals_per_second: f64, aht: Duration, agents: u32) -> Option<ErlangC> {
        let aht = aht.as_secs_f64();
        let valid = arrivals_per_second.is_finite() && arrivals_per_second >= 0.0 && aht > 0.0;
        valid.then_some(ErlangC {
            traffic: arrivals_per_second * aht,
            aht,
            agents,
        })
    }

    /// Traffic intensity A, in erlangs.
    pub fn traffic(&self) -> f64 {
        self.traffic
    }

    /// Agents serving the queue.
    pub fn agents(&self) -> u32 {
        self.agents
    }

    /// Whether the queue is stable (N > A); otherwise it grows without bound.
    pub fn is_stable(&self) -> bool {
        f64::from(self.agents) > self.traffic
    }

    /// P(wait): the chance an arriving call has to wait. 1 when N ≤ A.
    pub fn p_wait(&self) -> f64 {
        if !self.is_stable() {
            return 1.0;
        }
        let a = self.traffic;
        let mut b = 1.0; // Erlang B with 0 agents
        for k in 1..=self.agents {
            b = a * b / (f64::from(k) + a * b);
        }
        let n = f64::from(self.agents);
        n * b / (n - a * (1.0 - b))
    }

    /// Service level: the share of calls answered within `threshold`. 0 when N ≤ A.
    pub fn service_level(&self, threshold: Duration) -> f64 {
        if !self.is_stable() {
            return 0.0;
        }
        let spare = f64::from(self.agents) - self.traffic;
        1.0 - self.p_wait() * (-spare * threshold.as_secs_f64() / self.aht).exp()
    }

    /// Average speed of answer, in seconds; infinite when N ≤ A.
    pub fn asa(&self) -> f64 {
        if !self.is_stable() {
            return f64::INFINITY;
        }
        self.p_wait() * self.aht / (f64::from(self.agents) - self.traffic)
    }

    /// The fewest agents that meet `target` service level within `threshold`.
    pub fn agents_for(
        arrivals_per_second: f64,
        aht: Duration,
        threshold: Duration,
        target: f64,
    ) -> Option<u32> {
        let base = ErlangC::new(arrivals_per_second, aht, 0)?;
        // Start just above the traffic: fewer agents can never be stable.
        let first = base.traffic.floor() as u32 + 1;
        (first..first.saturating_add(100_000)).find(|&agents| {
            let staffed = ErlangC { agents, ..base };
            staffed.service_level(threshold) >= target
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 erlangs (λ = 1/18 per second, h = 180 s).
    fn ten_erlangs(agents: u32) -> ErlangC {
        ErlangC::new(1.0 / 18.0, Duration::from_secs(180), agents).expect("valid")
    }

    #[test]
    fn p_wait_matches_the_published_table_for_ten_erlangs() {
        for (agents, table) in [
            (11, 0.6821),
            (12, 0.4494),
            (13, 0.2853),
            (14, 0.1741),
            (15, 0.1020),
        ] {
            let p = ten_erlangs(agents).p_wait();
            assert!((p - table).abs() < 5e-4, "N={agents}: {p} vs {table}");
        }
    }

    #[test]
    fn service_level_and_asa_follow_the_formulas() {
        let c = ten_erlangs(12);
        // 1 − 0.449388 · e^(−2·20/180), and 0.449388 · 180 / 2
        assert!((c.service_level(Duration::from_secs(20)) - 0.640158).abs() < 1e-5);
        assert!((c.asa() - 40.44494).abs() < 1e-3);
    }

    #[test]
    fn too_few_agents_is_unstable_not_a_number() {
        let c = ten_erlangs(10);
        assert!(!c.is_stable());
        assert_eq!(c.p_wait(), 1.0);
        assert_eq!(c.service_level(Duration::from_secs(20)), 0.0);
        assert!(c.asa().is_infinite());
    }

    #[test]
    fn thousands_of_agents_stay_finite_and_correct() {
        // 4,900 erlangs on 5,000 agents: P(wait) = 0.099938 (computed independently with the
        // same recursion in double precision, which is exact to ~1e-12 here).
        let c = ErlangC::new(4900.0 / 300.0, Duration::from_secs(300), 5000).expect("valid");
        let p = c.p_wait();
        assert!(p.is_finite() && (p - 0.099938).abs() < 1e-5, "{p}");
        assert!(c.service_level(Duration::from_secs(20)).is_finite());
    }

    #[test]
    fn staffing_finds_the_fewest_agents_for_a_target() {
        // 80/20 at 10 erlangs, h = 180 s: 13 agents give 79.6 %, 14 give 88.8 %: 14.
        let needed = ErlangC::agents_for(
            1.0 / 18.0,
            Duration::from_secs(180),
            Duration::from_secs(20),
            0.8,
        )
        .expect("reachable");
        assert_eq!(needed, 14);
        assert!(ten_erlangs(needed).service_level(Duration::from_secs(20)) >= 0.8);
        assert!(ten_erlangs(needed - 1).service_level(Duration::from_secs(20)) < 0.8);
    }

    #[test]
    fn nonsense_inputs_are_refused() {
        assert!(ErlangC::new(f64::NAN, Duration::from_secs(180), 5).is_none());
        assert!(ErlangC::new(-1.0, Duration::from_secs(180), 5).is_none());
        assert!(ErlangC::new(1.0, Duration::ZERO, 5).is_none());
    }
}
