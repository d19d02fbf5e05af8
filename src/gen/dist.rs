//! Distributions: each sampler is a small function of an RNG. Pure logic with
//! property tests of moments and quantiles beside it (no database).

use rand::RngCore;

use super::rng::unit_f64;

#[inline]
pub fn uniform<R: RngCore>(r: &mut R) -> f64 {
    unit_f64(r.next_u64())
}

/// A uniform in (0, 1], safe for `ln`.
#[inline]
pub fn open_unit<R: RngCore>(r: &mut R) -> f64 {
    1.0 - uniform(r)
}

#[inline]
pub fn chance<R: RngCore>(r: &mut R, p: f64) -> bool {
    uniform(r) < p
}

/// Integer in [lo, hi] (inclusive).
#[inline]
pub fn range<R: RngCore>(r: &mut R, lo: u64, hi: u64) -> u64 {
    debug_assert!(hi >= lo);
    lo + ((r.next_u64() as u128 * (hi - lo + 1) as u128) >> 64) as u64
}

/// Standard normal (Box-Muller; one value per call, two uniforms).
#[inline]
pub fn std_normal<R: RngCore>(r: &mut R) -> f64 {
    let u1 = open_unit(r);
    let u2 = uniform(r);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[inline]
pub fn normal<R: RngCore>(r: &mut R, mean: f64, sd: f64) -> f64 {
    mean + sd * std_normal(r)
}

#[inline]
pub fn lognormal<R: RngCore>(r: &mut R, mu: f64, sigma: f64) -> f64 {
    (mu + sigma * std_normal(r)).exp()
}

#[inline]
pub fn exponential<R: RngCore>(r: &mut R, mean: f64) -> f64 {
    -mean * open_unit(r).ln()
}

/// Gamma(shape k, scale 1), Marsaglia-Tsang (k >= 1; boosted for k < 1).
pub fn gamma<R: RngCore>(r: &mut R, k: f64) -> f64 {
    if k < 1.0 {
        let u = open_unit(r);
        return gamma(r, k + 1.0) * u.powf(1.0 / k);
    }
    let d = k - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = std_normal(r);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = open_unit(r);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

pub fn beta<R: RngCore>(r: &mut R, a: f64, b: f64) -> f64 {
    let x = gamma(r, a);
    let y = gamma(r, b);
    x / (x + y)
}

/// Geometric number of failures before a success with probability `p`,
/// shifted to start at `lo` and truncated to [lo, hi] by inverse CDF.
pub fn truncated_geometric<R: RngCore>(r: &mut R, p: f64, lo: u64, hi: u64) -> u64 {
    let q = 1.0 - p;
    let span = (hi - lo + 1) as f64;
    // P(X < n) = 1 - q^n, truncated to n in [0, span).
    let mass = 1.0 - q.powf(span);
    let u = uniform(r) * mass;
    let n = ((1.0 - u).ln() / q.ln()).floor();
    lo + (n.max(0.0) as u64).min(hi - lo)
}

/// Quantile of a continuous power law with density ~ x^-alpha on [lo, hi].
#[inline]
pub fn power_law_quantile(p: f64, alpha: f64, lo: f64, hi: f64) -> f64 {
    let a = alpha - 1.0;
    let lo_a = lo.powf(-a);
    let hi_a = hi.powf(-a);
    (lo_a - p * (lo_a - hi_a)).powf(-1.0 / a)
}

/// A discrete power law on the integers [lo, hi] (density ~ x^-alpha).
pub fn power_law_int<R: RngCore>(r: &mut R, alpha: f64, lo: u64, hi: u64) -> u64 {
    let x = power_law_quantile(uniform(r), alpha, lo as f64, hi as f64 + 1.0);
    (x.floor() as u64).clamp(lo, hi)
}

/// Index sampled from cumulative weights (`cdf` ascending, last = total).
#[inline]
pub fn pick_cdf<R: RngCore>(r: &mut R, cdf: &[f64]) -> usize {
    let total = *cdf.last().expect("non-empty cdf");
    let x = uniform(r) * total;
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

/// A fitted quantile curve as an inverse-CDF table: `N + 1` values at the
/// probabilities `i / N`, so a draw is one multiply, one index and one lerp.
pub struct InverseCdf {
    table: Vec<f64>,
}

impl InverseCdf {
    const N: usize = 4096;

    pub fn new(c: &crate::config::Curve) -> InverseCdf {
        InverseCdf {
            table: (0..=Self::N)
                .map(|i| c.at(i as f64 / Self::N as f64))
                .collect(),
        }
    }

    /// The value at probability `u` in [0, 1).
    #[inline]
    pub fn at(&self, u: f64) -> f64 {
        let x = u * Self::N as f64;
        let i = (x as usize).min(Self::N - 1);
        let (a, b) = (self.table[i], self.table[i + 1]);
        a + (x - i as f64) * (b - a)
    }

    #[inline]
    pub fn sample<R: RngCore>(&self, r: &mut R) -> f64 {
        self.at(uniform(r))
    }
}

/// Zipf-like choice over `n` ranks (weight 1/(rank+1)^s), by a precomputed CDF.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let cdf = (0..n)
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cdf }
    }

    #[inline]
    pub fn sample<R: RngCore>(&self, r: &mut R) -> usize {
        pick_cdf(r, &self.cdf)
    }

    #[inline]
    pub fn weight(&self, i: usize) -> f64 {
        if i == 0 {
            self.cdf[0]
        } else {
            self.cdf[i] - self.cdf[i - 1]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::rng::stream;

    fn draws(n: usize, mut f: impl FnMut(&mut rand_pcg::Pcg64Mcg) -> f64) -> Vec<f64> {
        let mut r = stream(99, 1, 1);
        (0..n).map(|_| f(&mut r)).collect()
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn quantile(v: &[f64], q: f64) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        s[((s.len() - 1) as f64 * q) as usize]
    }

    #[test]
    fn normal_moments() {
        let v = draws(200_000, |r| normal(r, 12.0, 4.0));
        let m = mean(&v);
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((m - 12.0).abs() < 0.05, "{m}");
        assert!((sd - 4.0).abs() < 0.05, "{sd}");
    }

    #[test]
    fn lognormal_text_lengths_match_spec() {
        // docs/data.md: log-normal(4.5, 1.2) clamped to [1, 5000]: median ~90, mean ~185.
        let v = draws(200_000, |r| {
            lognormal(r, 4.5, 1.2).round().clamp(1.0, 5000.0)
        });
        let med = quantile(&v, 0.5);
        let m = mean(&v);
        assert!((med - 90.0).abs() < 4.0, "median {med}");
        assert!((m - 184.0).abs() < 12.0, "mean {m}");
    }

    #[test]
    fn exponential_mean() {
        let v = draws(200_000, |r| exponential(r, 45.0));
        assert!((mean(&v) - 45.0).abs() < 0.6);
    }

    #[test]
    fn beta_2_5_moments() {
        let v = draws(100_000, |r| beta(r, 2.0, 5.0));
        assert!((mean(&v) - 2.0 / 7.0).abs() < 0.005, "{}", mean(&v));
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    fn geometric_small_groups() {
        let v = draws(100_000, |r| truncated_geometric(r, 0.3, 3, 20) as f64);
        assert!(v.iter().all(|x| (3.0..=20.0).contains(x)));
        // P(X = 3) = p / (1 - q^18) ~= 0.3
        let p3 = v.iter().filter(|&&x| x == 3.0).count() as f64 / v.len() as f64;
        assert!((p3 - 0.3).abs() < 0.01, "{p3}");
    }

    #[test]
    fn power_law_bounds_and_tail() {
        let v = draws(100_000, |r| power_law_int(r, 2.5, 21, 256) as f64);
        assert!(v.iter().all(|x| (21.0..=256.0).contains(x)));
        // CCDF(2 * 21) ~= 2^-1.5 = 0.354 for alpha 2.5 (slightly less with truncation)
        let above = v.iter().filter(|&&x| x >= 42.0).count() as f64 / v.len() as f64;
        assert!((above - 0.34).abs() < 0.02, "{above}");
    }

    #[test]
    fn power_law_quantile_is_monotone_and_bounded() {
        let mut prev = 0.0;
        for i in 0..=100 {
            let x = power_law_quantile(i as f64 / 100.0, 1.8, 1.0, 200.0);
            assert!(x >= prev && (1.0..=200.0 + 1e-9).contains(&x));
            prev = x;
        }
    }

    #[test]
    fn inverse_cdf_tables_reproduce_their_curve() {
        let c = crate::config::Curve {
            points: vec![[0.0, 1.0], [0.5, 10.0], [0.9, 20.0], [1.0, 1000.0]],
        };
        let t = InverseCdf::new(&c);
        let v = draws(200_000, |r| t.sample(r));
        assert!(
            (quantile(&v, 0.5) - 10.0).abs() < 0.2,
            "{}",
            quantile(&v, 0.5)
        );
        assert!((quantile(&v, 0.7) - 15.0).abs() < 0.2);
        // Above p90 the curve climbs to 1000: its mean is 505 there.
        let top: Vec<f64> = v.iter().copied().filter(|&x| x > 20.0).collect();
        assert!((top.len() as f64 / v.len() as f64 - 0.1).abs() < 0.005);
        assert!((mean(&top) - 510.0).abs() < 15.0, "{}", mean(&top));
        assert!(v.iter().all(|x| (1.0..=1000.0).contains(x)));
        assert_eq!(t.at(0.0), 1.0);
    }

    #[test]
    fn zipf_prefers_low_ranks() {
        let z = Zipf::new(1000, 1.0);
        let mut r = stream(1, 1, 1);
        let n = 100_000;
        let top10 = (0..n).filter(|_| z.sample(&mut r) < 10).count() as f64 / n as f64;
        // H(10)/H(1000) = 2.929/7.485
        assert!((top10 - 0.391).abs() < 0.01, "{top10}");
    }
}
