//! The statistics of the rounds: median, spread (min-max) and the ratio of two medians.
//!
//! NaN stands for "no value in this round" (a step one side does not have) and is left out.
//!
//! ```
//! use benches::stats::{Spread, median, ratio};
//!
//! let ours = [1.0, 3.0, 2.0, f64::NAN];
//! assert_eq!(median(&ours), Some(2.0));
//! let spread = Spread::of(&ours).unwrap();
//! assert_eq!((spread.min, spread.max), (1.0, 3.0));
//! assert_eq!(spread.cell(2), "2.00 (1.00-3.00)");
//! assert_eq!(ratio(2.0, 4.0), Some(0.5));
//! assert_eq!(ratio(2.0, 0.0), None);
//! ```

/// The values that are not NaN, sorted.
fn sorted(values: &[f64]) -> Vec<f64> {
    let mut values: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    values.sort_by(f64::total_cmp);
    values
}

/// The median of the values that are not NaN (the mean of the two middle ones for an even
/// count), or `None` when there is none.
pub fn median(values: &[f64]) -> Option<f64> {
    Spread::of(values).map(|spread| spread.median)
}

/// `numerator / denominator`, or `None` when either is not finite or the denominator is 0
/// (no meaningful ratio).
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (numerator.is_finite() && denominator.is_finite() && denominator != 0.0)
        .then(|| numerator / denominator)
}

/// The median of some rounds and their spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// Median, minimum and maximum of the values that are not NaN, or `None` when there is
    /// none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let values = sorted(values);
        let n = values.len();
        let (&min, &max) = (values.first()?, values.last()?);
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread { median, min, max })
    }

    /// `median (min-max)`, each with `decimals` decimals: the cell of a table.
    pub fn cell(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// The middle item by `key` (the upper of the two middle ones for an even count), or `None`
/// for no items: the median run of a bench whose runs are more than one number.
pub fn middle_by_key<T, K: Ord>(mut items: Vec<T>, key: impl FnMut(&T) -> K) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    items.sort_by_key(key);
    let middle = items.len() / 2;
    Some(items.swap_remove(middle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn median_leaves_nan_out() {
        assert_eq!(median(&[f64::NAN, 1.0, 9.0, f64::NAN, 2.0]), Some(2.0));
        assert_eq!(median(&[f64::NAN, f64::NAN]), None);
    }

    #[test]
    fn spread_is_min_to_max() {
        let spread = Spread::of(&[0.25, 4.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            spread,
            Spread {
                median: 1.5,
                min: 0.25,
                max: 4.0
            }
        );
        assert_eq!(spread.cell(2), "1.50 (0.25-4.00)");
        assert_eq!(spread.cell(1), "1.5 (0.2-4.0)");
        assert_eq!(Spread::of(&[7.0]).unwrap().cell(3), "7.000 (7.000-7.000)");
        assert!(Spread::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn ratio_of_medians() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(0.0, 2.0), Some(0.0));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 2.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    #[test]
    fn middle_item_by_key() {
        let runs = vec![("c", 30), ("a", 10), ("d", 40), ("b", 20)];
        assert_eq!(middle_by_key(runs, |r| r.1), Some(("c", 30)));
        assert_eq!(middle_by_key(vec![2, 9, 1], |&v| v), Some(2));
        assert_eq!(middle_by_key(Vec::<u8>::new(), |&v| v), None);
    }
}
