//! Summary statistics over the repetitions of one benchmark cell.

/// Two-sided 95 % quantiles of Student's t distribution, t(0.975; df),
/// for df = 1..=30.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// t(0.975; df); beyond the table the normal quantile is close enough
/// (t(0.975; 31) = 2.040 against 1.96 at df = infinity, stepped down below).
pub fn t_975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T_975[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// Mean and the half-width of its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanCi {
    pub mean: f64,
    /// Zero for a single sample: no spread can be estimated from one value.
    pub half_width: f64,
}

/// The mean with its Student-t 95 % confidence interval; `None` for no
/// samples.
pub fn mean_ci(samples: &[f64]) -> Option<MeanCi> {
    let n = samples.len();
    if n == 0 {
        return None;
    }
    let mean = samples.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(MeanCi {
            mean,
            half_width: 0.0,
        });
    }
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half_width = t_975(n - 1) * (var / n as f64).sqrt();
    Some(MeanCi { mean, half_width })
}

/// The median; `None` for no samples.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_interval_of_three() {
        // mean 20, sample sd 10, se = 10 / sqrt 3, t(2) = 4.303
        let ci = mean_ci(&[10.0, 20.0, 30.0]).unwrap();
        assert!((ci.mean - 20.0).abs() < 1e-12);
        let want = 4.303 * 10.0 / 3f64.sqrt();
        assert!((ci.half_width - want).abs() < 1e-9, "{}", ci.half_width);
    }

    #[test]
    fn interval_of_identical_samples_is_empty() {
        let ci = mean_ci(&[5.0, 5.0, 5.0, 5.0]).unwrap();
        assert_eq!(ci.mean, 5.0);
        assert_eq!(ci.half_width, 0.0);
    }

    #[test]
    fn single_and_no_samples() {
        assert_eq!(
            mean_ci(&[7.0]),
            Some(MeanCi {
                mean: 7.0,
                half_width: 0.0
            })
        );
        assert_eq!(mean_ci(&[]), None);
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn t_quantiles_decrease_towards_normal() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(30), 2.042);
        assert!(t_975(40) < t_975(30) && t_975(1000) < t_975(40));
        assert!(t_975(0).is_nan());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
