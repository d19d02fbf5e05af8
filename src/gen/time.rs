//! Message times: an hourly density over the window (diurnal x weekly x
//! seasonal) sampled by inverse CDF, and per-conversation timelines made of
//! bursts with exponential gaps, strictly increasing.

use rand::RngCore;

use super::dist::{exponential, uniform};
use crate::config::{Shape, Window};
use crate::util::calendar::{hour_of_day, weekday, MS_PER_DAY, MS_PER_HOUR};

/// Relative activity by UTC hour: peaks 09-12 and 18-21, trough at night.
/// Ratio max/min = 2.5 here; `Density` rescales it to the configured ratio.
const DIURNAL: [f64; 24] = [
    0.55, 0.45, 0.40, 0.40, 0.40, 0.45, 0.55, 0.70, 0.85, 1.00, 1.00, 1.00, 0.90, 0.80, 0.75, 0.75,
    0.80, 0.90, 1.00, 1.00, 1.00, 0.90, 0.75, 0.65,
];

/// The hourly weight of the diurnal curve for a peak-to-trough ratio `r`.
pub fn diurnal_weight(hour: u32, r: f64) -> f64 {
    let trough = 1.0 / r;
    trough + (DIURNAL[hour as usize] - 0.40) / 0.60 * (1.0 - trough)
}

/// Cumulative activity per hour of the window.
pub struct Density {
    start_ms: i64,
    /// cdf[h] = total weight of hours < h; len = hours + 1.
    cdf: Vec<f64>,
}

impl Density {
    pub fn new(window: &Window, shape: &Shape) -> Density {
        let start = window.start_ms();
        let hours = (window.len_ms() / MS_PER_HOUR) as usize;
        let mut cdf = Vec::with_capacity(hours + 1);
        let mut acc = 0.0;
        cdf.push(0.0);
        if let Some(f) = &shape.fitted {
            // The measured weekday x hour histogram, spread over the times
            // each (weekday, hour) cell occurs in the window.
            let mut occurs = [[0u32; 24]; 7];
            for h in 0..hours {
                let t = start + h as i64 * MS_PER_HOUR;
                occurs[weekday(t) as usize][hour_of_day(t) as usize] += 1;
            }
            for h in 0..hours {
                let t = start + h as i64 * MS_PER_HOUR;
                let (d, hr) = (weekday(t) as usize, hour_of_day(t) as usize);
                acc += f.hour_by_weekday[d][hr] / occurs[d][hr].max(1) as f64;
                cdf.push(acc);
            }
            return Density {
                start_ms: start,
                cdf,
            };
        }
        for h in 0..hours {
            let t = start + h as i64 * MS_PER_HOUR;
            let dow = weekday(t);
            let week = if dow >= 5 {
                shape.weekend_factor
            } else {
                shape.weekday_factor
            };
            let day_of_year = (t.div_euclid(MS_PER_DAY) as f64) % 365.25;
            let season = 1.0
                + shape.seasonal_amplitude * (std::f64::consts::TAU * day_of_year / 365.25).sin();
            acc += diurnal_weight(hour_of_day(t), shape.diurnal_peak_to_trough) * week * season;
            cdf.push(acc);
        }
        Density {
            start_ms: start,
            cdf,
        }
    }

    fn end_ms(&self) -> i64 {
        self.start_ms + (self.cdf.len() as i64 - 1) * MS_PER_HOUR
    }

    fn cdf_at(&self, t: i64) -> f64 {
        let t = t.clamp(self.start_ms, self.end_ms());
        let off = t - self.start_ms;
        let h = (off / MS_PER_HOUR) as usize;
        if h + 1 >= self.cdf.len() {
            return *self.cdf.last().unwrap();
        }
        let frac = (off % MS_PER_HOUR) as f64 / MS_PER_HOUR as f64;
        self.cdf[h] + frac * (self.cdf[h + 1] - self.cdf[h])
    }

    /// A time in [a, b) drawn from the density.
    pub fn sample<R: RngCore>(&self, r: &mut R, a: i64, b: i64) -> i64 {
        if b <= a + 1 {
            return a;
        }
        let (ca, cb) = (self.cdf_at(a), self.cdf_at(b));
        let x = ca + uniform(r) * (cb - ca);
        let h = self.cdf.partition_point(|&c| c <= x).saturating_sub(1);
        let h = h.min(self.cdf.len() - 2);
        let w = self.cdf[h + 1] - self.cdf[h];
        let frac = if w > 0.0 { (x - self.cdf[h]) / w } else { 0.0 };
        let t = self.start_ms + h as i64 * MS_PER_HOUR + (frac * MS_PER_HOUR as f64) as i64;
        t.clamp(a, b - 1)
    }
}

/// The time of a conversation's last message: drawn first, from the density
/// in the later half of the conversation's life, so a conversation row can
/// know it without generating the whole timeline.
pub fn last_message_time<R: RngCore>(r: &mut R, d: &Density, first: i64, end: i64) -> i64 {
    let lo = first + (end - first) / 2;
    d.sample(r, lo, end)
}

/// Fills `out` with `n` strictly increasing times in [first, end), the last of
/// which is `last_message_time` drawn from the same RNG. Bursts: burst starts
/// follow the density; inside a burst, gaps are exponential.
pub fn timeline<R: RngCore>(
    r: &mut R,
    d: &Density,
    shape: &Shape,
    first: i64,
    end: i64,
    n: usize,
    out: &mut Vec<i64>,
) {
    out.clear();
    let last = last_message_time(r, d, first, end);
    if n == 0 {
        return;
    }
    let gap_ms = shape.burst_gap_mean_s * 1000.0;
    let p_continue = 1.0 - 1.0 / shape.burst_mean_messages.max(1.0);
    while out.len() < n - 1 {
        let mut t = d.sample(r, first, last);
        loop {
            out.push(t.min(last - 1));
            if out.len() >= n - 1 || uniform(r) >= p_continue {
                break;
            }
            t += 1 + exponential(r, gap_ms) as i64;
        }
    }
    out.sort_unstable();
    out.push(last);
    // Strictly increasing, and never past `last`: push forward, then pull back.
    for k in 1..out.len() {
        if out[k] <= out[k - 1] {
            out[k] = out[k - 1] + 1;
        }
    }
    for k in (0..out.len().saturating_sub(1)).rev() {
        if out[k] >= out[k + 1] {
            out[k] = out[k + 1] - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Band;
    use crate::gen::rng::stream;

    #[test]
    fn diurnal_ratio_is_configurable() {
        let w: Vec<f64> = (0..24).map(|h| diurnal_weight(h, 2.5)).collect();
        let (mx, mn) = (
            w.iter().cloned().fold(0.0, f64::max),
            w.iter().cloned().fold(9.0, f64::min),
        );
        assert!((mx / mn - 2.5).abs() < 1e-9);
        let w3: Vec<f64> = (0..24).map(|h| diurnal_weight(h, 3.0)).collect();
        let r3 = w3.iter().cloned().fold(0.0, f64::max) / w3.iter().cloned().fold(9.0, f64::min);
        assert!((r3 - 3.0).abs() < 1e-9);
    }

    #[test]
    fn samples_follow_the_hourly_shape() {
        let cfg = Band::Dev.preset();
        let d = Density::new(&cfg.window, &cfg.shape);
        let mut r = stream(5, 5, 5);
        let mut hours = [0u32; 24];
        let (a, b) = (cfg.window.start_ms(), cfg.window.end_ms);
        for _ in 0..200_000 {
            let t = d.sample(&mut r, a, b);
            assert!(t >= a && t < b);
            hours[hour_of_day(t) as usize] += 1;
        }
        let peak = (hours[10] + hours[19]) as f64 / 2.0;
        let trough = (hours[3] + hours[4]) as f64 / 2.0;
        assert!((peak / trough - 2.5).abs() < 0.15, "{}", peak / trough);
    }

    #[test]
    fn timelines_are_strictly_increasing_and_bounded() {
        let cfg = Band::Tiny.preset();
        let d = Density::new(&cfg.window, &cfg.shape);
        let mut out = Vec::new();
        for (i, n) in [1usize, 2, 7, 500, 20_000].into_iter().enumerate() {
            let mut r = stream(1, 2, i as u64);
            let first = cfg.window.start_ms() + 3 * MS_PER_DAY;
            timeline(
                &mut r,
                &d,
                &cfg.shape,
                first,
                cfg.window.end_ms,
                n,
                &mut out,
            );
            assert_eq!(out.len(), n);
            assert!(out.windows(2).all(|w| w[0] < w[1]));
            assert!(out[0] >= first && *out.last().unwrap() < cfg.window.end_ms);
            let mut r2 = stream(1, 2, i as u64);
            assert_eq!(
                last_message_time(&mut r2, &d, first, cfg.window.end_ms),
                *out.last().unwrap()
            );
        }
    }
}
