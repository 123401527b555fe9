//! The `hpvs` CLI's tables: `+---+` borders, a header row, cells padded to the widest entry
//! of their column; a cell with line breaks spans several lines of its row.

use std::fmt;

/// A table to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header (the lists' headers are upper case: `NAME`, `STATE`...).
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// The two-column key/value table of `create` and `show`: `PROPERTIES | VALUES`.
    pub fn properties() -> Self {
        Self::new(["PROPERTIES", "VALUES"])
    }

    /// Adds a row; missing cells are empty.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a `PROPERTIES | VALUES` row.
    pub fn property(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.row([name.to_owned(), value.to_string()])
    }

    /// The rows so far (the header not counted).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl fmt::Display for Table {
    /// The table, one line per text line, without a final line break.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in [&self.header].into_iter().chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                let widest = cell.lines().map(|l| l.chars().count()).max().unwrap_or(0);
                *width = (*width).max(widest);
            }
        }
        let border: String = widths.iter().fold("+".to_owned(), |mut line, width| {
            line.push_str(&"-".repeat(width + 2));
            line.push('+');
            line
        });
        writeln!(f, "{border}")?;
        write_row(f, &widths, &self.header)?;
        if !self.rows.is_empty() {
            writeln!(f, "{border}")?;
        }
        for row in &self.rows {
            write_row(f, &widths, row)?;
        }
        write!(f, "{border}")
    }
}

/// One row, as many text lines as its tallest cell.
fn write_row(f: &mut fmt::Formatter<'_>, widths: &[usize], row: &[String]) -> fmt::Result {
    let cell_lines: Vec<Vec<&str>> = widths
        .iter()
        .enumerate()
        .map(|(index, _)| row.get(index).map_or(vec![], |cell| cell.lines().collect()))
        .collect();
    let height = cell_lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
    for line in 0..height {
        let mut text = String::from("|");
        for (width, lines) in widths.iter().zip(&cell_lines) {
            let cell = lines.get(line).copied().unwrap_or("");
            let pad = width - cell.chars().count();
            text.push(' ');
            text.push_str(cell);
            text.push_str(&" ".repeat(pad + 1));
            text.push('|');
        }
        writeln!(f, "{text}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_table() {
        let mut table = Table::properties();
        table
            .property("Name", "sb_user00")
            .property("Size", "40GB")
            .property("Passthrough", false);
        assert_eq!(
            table.to_string(),
            "\
+-------------+-----------+
| PROPERTIES  | VALUES    |
+-------------+-----------+
| Name        | sb_user00 |
| Size        | 40GB      |
| Passthrough | false     |
+-------------+-----------+"
        );
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn multi_line_cells_and_short_rows() {
        let mut table = Table::new(["NAME", "PORTS", "STATE"]);
        table
            .row(["wallet", "30100->443/tcp\n30101->80/tcp", "running"])
            .row(["é"]);
        assert_eq!(
            table.to_string(),
            "\
+--------+----------------+---------+
| NAME   | PORTS          | STATE   |
+--------+----------------+---------+
| wallet | 30100->443/tcp | running |
|        | 30101->80/tcp  |         |
| é      |                |         |
+--------+----------------+---------+"
        );
    }

    #[test]
    fn an_empty_list_is_its_header_alone() {
        let table = Table::new(["NAME", "URL"]);
        assert!(table.is_empty());
        assert_eq!(
            table.to_string(),
            "\
+------+-----+
| NAME | URL |
+------+-----+"
        );
    }
}
