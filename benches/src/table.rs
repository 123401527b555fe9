//! The result table of a side-by-side bench: one [`Row`] of values per measurement, ours and
//! theirs over the rounds, printed by a [`Table`] as `median (min-max)` of each side and the
//! ratio of the medians.
//!
//! ```
//! use benches::table::{Ratio, Row, Table};
//!
//! const TABLE: Table = Table {
//!     label_width: 10,
//!     cell_width: 16,
//!     ratio_width: 6,
//!     decimals: 2,
//!     ratio_decimals: 2,
//!     ratio: Ratio::OursOverTheirs,
//!     ratio_suffix: "",
//! };
//! let mut row = Row::default();
//! row.push(1.0, 2.0);
//! row.push(3.0, 4.0);
//! assert_eq!(
//!     TABLE.header("row", "ours", "theirs", "ratio"),
//!     "row                    ours           theirs  ratio"
//! );
//! assert_eq!(
//!     TABLE.line("push", &row),
//!     "push       2.00 (1.00-3.00) 3.00 (2.00-4.00)   0.67"
//! );
//! ```

use crate::stats::{Spread, ratio};

/// Which way round the ratio column divides the medians.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratio {
    /// Ours / theirs: below 1, ours is faster (or smaller).
    OursOverTheirs,
    /// Theirs / ours: above 1, ours is faster.
    TheirsOverOurs,
}

/// One measurement over the rounds: our value and theirs in each round (NaN where a side has
/// no value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Our values, one per round.
    pub ours: Vec<f64>,
    /// Their values, one per round.
    pub theirs: Vec<f64>,
}

impl Row {
    /// Adds one round's values.
    pub fn push(&mut self, ours: f64, theirs: f64) {
        self.ours.push(ours);
        self.theirs.push(theirs);
    }

    /// The ratio of the medians, `way` round; `None` when a side has no value or the
    /// divisor is 0.
    pub fn ratio(&self, way: Ratio) -> Option<f64> {
        let ours = Spread::of(&self.ours)?.median;
        let theirs = Spread::of(&self.theirs)?.median;
        match way {
            Ratio::OursOverTheirs => ratio(ours, theirs),
            Ratio::TheirsOverOurs => ratio(theirs, ours),
        }
    }
}

/// The layout of a table: column widths, decimals and which ratio it shows. Cells without a
/// value print `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Width of the first column, the row's label (left-aligned).
    pub label_width: usize,
    /// Width of each side's `median (min-max)` cell (right-aligned).
    pub cell_width: usize,
    /// Width of the ratio column, suffix included (right-aligned).
    pub ratio_width: usize,
    /// Decimals of the values in the cells.
    pub decimals: usize,
    /// Decimals of the ratio.
    pub ratio_decimals: usize,
    /// Which way round the ratio divides.
    pub ratio: Ratio,
    /// Printed right after the ratio (`"x"`, or nothing).
    pub ratio_suffix: &'static str,
}

impl Table {
    /// The header line, with the columns' titles.
    pub fn header(&self, label: &str, ours: &str, theirs: &str, ratio: &str) -> String {
        self.columns(label, ours, theirs, ratio)
    }

    /// The line of `row`, labelled `what`.
    pub fn line(&self, what: &str, row: &Row) -> String {
        let cell = |values: &[f64]| {
            Spread::of(values).map_or_else(|| "-".to_owned(), |s| s.cell(self.decimals))
        };
        let ratio = row.ratio(self.ratio).map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.d$}{}", self.ratio_suffix, d = self.ratio_decimals),
        );
        self.columns(what, &cell(&row.ours), &cell(&row.theirs), &ratio)
    }

    /// Prints [`Table::line`] of `row` to stdout.
    pub fn print(&self, what: &str, row: &Row) {
        println!("{}", self.line(what, row));
    }

    fn columns(&self, label: &str, ours: &str, theirs: &str, ratio: &str) -> String {
        format!(
            "{label:<l$} {ours:>c$} {theirs:>c$} {ratio:>r$}",
            l = self.label_width,
            c = self.cell_width,
            r = self.ratio_width
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTARY: Table = Table {
        label_width: 8,
        cell_width: 16,
        ratio_width: 7,
        decimals: 1,
        ratio_decimals: 1,
        ratio: Ratio::TheirsOverOurs,
        ratio_suffix: "x",
    };

    fn row(ours: &[f64], theirs: &[f64]) -> Row {
        let mut row = Row::default();
        for (&o, &t) in ours.iter().zip(theirs) {
            row.push(o, t);
        }
        row
    }

    #[test]
    fn ratio_either_way_round() {
        let row = row(&[1.0, 2.0, 3.0], &[4.0, 6.0, 8.0]);
        assert_eq!(row.ratio(Ratio::OursOverTheirs), Some(2.0 / 6.0));
        assert_eq!(row.ratio(Ratio::TheirsOverOurs), Some(3.0));
        assert_eq!(Row::default().ratio(Ratio::OursOverTheirs), None);
    }

    #[test]
    fn lines_print_medians_spreads_and_ratio() {
        let row = row(&[10.0, 30.0, 20.0], &[40.0, 60.0, 50.0]);
        assert_eq!(
            NOTARY.line("list", &row),
            "list     20.0 (10.0-30.0) 50.0 (40.0-60.0)    2.5x"
        );
        assert_eq!(
            NOTARY.header("op", "ours", "Go", "Go/ours"),
            "op                   ours               Go Go/ours"
        );
    }

    #[test]
    fn a_side_without_values_prints_dashes() {
        let row = row(&[1.0, 2.0], &[f64::NAN, f64::NAN]);
        assert_eq!(
            NOTARY.line("key", &row),
            "key         1.5 (1.0-2.0)                -       -"
        );
    }
}
