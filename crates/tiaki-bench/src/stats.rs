//! Small statistics and formatting helpers.

use std::time::Duration;

/// Latencies of individual operations, summarised.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub count: usize,
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Summary {
    pub fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let count = samples.len();
        let total: Duration = samples.iter().sum();
        let mean = u32::try_from(count)
            .ok()
            .filter(|&n| n > 0)
            .map_or(Duration::ZERO, |n| total / n);
        Self {
            count,
            mean,
            p50: percentile(samples, 50.0),
            p99: percentile(samples, 99.0),
        }
    }
}

/// The `pct` percentile of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or_default()
}

/// The median of some numbers (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let upper = v.get(mid).copied().unwrap_or(f64::NAN);
    if n % 2 == 1 {
        upper
    } else {
        let lower = v.get(mid - 1).copied().unwrap_or(f64::NAN);
        f64::midpoint(lower, upper)
    }
}

/// A duration in the unit that reads best: `812µs`, `1.23ms`, `2.00s`.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1.0 {
        format!("{:.0}ns", us * 1000.0)
    } else if us < 1000.0 {
        format!("{us:.1}µs")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(fmt_duration(Duration::from_micros(1230)), "1.23ms");
    }
}
