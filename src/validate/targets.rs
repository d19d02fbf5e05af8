//! What `validate` checks against: the dataset configuration and realised
//! targets recorded in a load report, or a band preset when there is no report
//! (given with `--band`, or inferred from the row counts). Also the expected
//! values that follow from the shape's distribution parameters.

use std::path::Path;

use serde::Deserialize;

use crate::config::{Band, Counts, DatasetConfig, RealisedTargets};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Targets {
    pub dataset: DatasetConfig,
    /// Scale-dependent targets; `None` when there is no report to take them from.
    pub realised: Option<RealisedTargets>,
    /// Where the targets came from, for the report.
    pub source: String,
}

/// The part of a load report `validate` reads; everything else is ignored.
#[derive(Deserialize)]
struct LoadReport {
    dataset: DatasetConfig,
    #[serde(default)]
    realised_targets: Option<RealisedTargets>,
}

impl Targets {
    /// Reads the `dataset` and `realised_targets` of a load report.
    pub(crate) fn from_report(path: &Path) -> Result<Targets> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read load report {}: {e}", path.display()))
        })?;
        Self::parse_report(&text, &path.display().to_string())
    }

    pub(crate) fn parse_report(text: &str, name: &str) -> Result<Targets> {
        let r: LoadReport = serde_json::from_str(text).map_err(|e| {
            Error::Config(format!(
                "{name} is not a chatsynth load report (expected top-level \"dataset\" and \"realised_targets\"): {e}"
            ))
        })?;
        r.dataset
            .validate()
            .map_err(|e| Error::Config(format!("load report {name}: {e}")))?;
        Ok(Targets {
            dataset: r.dataset,
            realised: r.realised_targets,
            source: format!("load report {name}"),
        })
    }

    /// A band preset, with the realised targets its plan produces (the same
    /// numbers a load of that preset records in its report).
    pub(crate) fn from_band(band: Band, how: &str) -> Targets {
        let dataset = band.preset();
        let realised = Some(crate::gen::realised_targets(&dataset));
        Targets {
            dataset,
            realised,
            source: format!("band preset {} ({how})", band.name()),
        }
    }

    /// Profile completeness: each user's share of the 4 optional fields filled,
    /// ~ Beta(a, b); its mean is a / (a + b).
    pub(crate) fn profile_completeness_mean(&self) -> f64 {
        let s = &self.dataset.shape;
        s.profile_beta_a / (s.profile_beta_a + s.profile_beta_b)
    }

    /// Mean of normal(mean, sd) clamped to [3, 30].
    pub(crate) fn username_len_mean(&self) -> f64 {
        let s = &self.dataset.shape;
        normal_expectation(|z| (s.username_len_mean + s.username_len_sd * z).clamp(3.0, 30.0))
    }

    /// Median of the clamped log-normal: exp(mu), clamped.
    pub(crate) fn text_len_median(&self) -> f64 {
        let s = &self.dataset.shape;
        s.text_len_mu
            .exp()
            .clamp(1.0, s.text_len_max_chars.max(1) as f64)
    }

    /// Mean of log-normal(mu, sigma) clamped to [1, max]: ~exp(mu + sigma^2/2).
    /// (exp(4.5 + 0.72) ~ 185 for the default shape; see docs/data.md, "Shape".)
    pub(crate) fn text_len_mean(&self) -> f64 {
        let s = &self.dataset.shape;
        let max = s.text_len_max_chars.max(1) as f64;
        normal_expectation(|z| (s.text_len_mu + s.text_len_sigma * z).exp().clamp(1.0, max))
    }
}

/// E[f(Z)] for a standard normal Z (midpoint rule over [-9, 9]).
fn normal_expectation(f: impl Fn(f64) -> f64) -> f64 {
    let steps = 36_000;
    let (lo, hi) = (-9.0f64, 9.0f64);
    let dz = (hi - lo) / steps as f64;
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    (0..steps)
        .map(|i| {
            let z = lo + (i as f64 + 0.5) * dz;
            f(z) * norm * (-0.5 * z * z).exp() * dz
        })
        .sum()
}

/// The band whose preset has exactly these counts.
pub(crate) fn infer_band(counts: &Counts) -> Result<Band> {
    Band::ALL
        .into_iter()
        .find(|b| b.preset().counts == *counts)
        .ok_or_else(|| {
            Error::Config(format!(
                "the database holds {} users, {} conversations and {} messages, which match no band preset; pass --report LOAD_REPORT (or --band)",
                counts.users, counts.conversations, counts.messages
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_values_follow_the_shape() {
        let t = Targets::from_band(Band::Tiny, "test");
        assert!((t.profile_completeness_mean() - 2.0 / 7.0).abs() < 1e-12);
        // clamping normal(12, 4) at 3 lifts the mean a hair
        let u = t.username_len_mean();
        assert!(u > 12.0 && u < 12.02, "{u}");
        assert!((t.text_len_median() - 4.5f64.exp()).abs() < 1e-9);
        let mean = t.text_len_mean();
        let unclamped = (4.5f64 + 0.72).exp();
        assert!(mean < unclamped && mean > unclamped * 0.98, "{mean}");
    }

    #[test]
    fn bands_are_inferred_from_exact_counts_only() {
        assert_eq!(infer_band(&Band::Dev.preset().counts).unwrap(), Band::Dev);
        let mut c = Band::Tiny.preset().counts;
        c.messages += 1;
        let e = infer_band(&c).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(e.to_string().contains("--report"), "{e}");
    }

    #[test]
    fn reports_are_read_and_bad_ones_are_config_errors() {
        let dataset = serde_json::to_value(Band::Tiny.preset()).unwrap();
        let text = serde_json::json!({
            "version": 1,
            "dataset": dataset,
            "realised_targets": RealisedTargets {
                heavy_room_message_share: 0.31,
                ..Default::default()
            },
            "phases": []
        })
        .to_string();
        let t = Targets::parse_report(&text, "r.json").unwrap();
        assert_eq!(t.realised.unwrap().heavy_room_message_share, 0.31);
        assert_eq!(t.dataset.counts.messages, 10_000);
        for bad in ["not json", "{}", r#"{"dataset": {"band": "tiny"}}"#] {
            let e = Targets::parse_report(bad, "bad.json").unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
        }
        let e = Targets::from_report(Path::new("/nonexistent/report.json")).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }
}
