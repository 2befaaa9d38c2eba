//! Tables as kubectl prints them (no borders, upper-case headers, three spaces between columns),
//! shared by `get` and `lab`.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};

/// Columns are separated by this many spaces, as kubectl's tab writer does.
const GAP: u16 = 3;

/// A borderless table with these headers and rows.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    finish(&plain(Some(headers), rows))
}

/// Rows printed after a table (a watch), padded to the widths the table had so they line up
/// under its header: `widths` are those widths, grown by whatever these rows need.
pub(crate) fn render_more(widths: &mut Vec<u16>, rows: &[Vec<String>]) -> String {
    let mut table = plain(None, rows);
    widths.resize(table.column_count(), 0);
    for (w, content) in widths.iter_mut().zip(table.column_max_content_widths()) {
        *w = (*w).max(content);
    }
    for (column, w) in table.column_iter_mut().zip(widths.iter()) {
        // The bound counts the padding too.
        let total = *w + column.padding_width();
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(total)));
    }
    finish(&table)
}

/// The content width of each column of a table of these headers and rows (what
/// [`render_more`] starts from).
pub(crate) fn widths(headers: &[&str], rows: &[Vec<String>]) -> Vec<u16> {
    plain(Some(headers), rows).column_max_content_widths()
}

/// A table of these rows (and headers), styled like kubectl's.
fn plain(headers: Option<&[&str]>, rows: &[Vec<String>]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    // Rows of a watch must keep their widths whatever the terminal is: never wrap, never shrink.
    table.set_content_arrangement(ContentArrangement::Disabled);
    if let Some(headers) = headers {
        table.set_header(headers.iter().copied());
    }
    table.add_rows(rows.iter().cloned());
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { GAP }));
        column.set_cell_alignment(CellAlignment::Left);
    }
    table
}

fn finish(table: &Table) -> String {
    let mut text = table.trim_fmt();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_no_borders_and_three_space_gaps() {
        let rows = vec![
            vec!["lab-n1".to_string(), "n1".to_string(), "5s".to_string()],
            vec![
                "a".to_string(),
                "node-long".to_string(),
                "<none>".to_string(),
            ],
        ];
        assert_eq!(
            render(&["NAME", "NODE", "LAST UPDATED"], &rows),
            "NAME     NODE        LAST UPDATED\n\
             lab-n1   n1          5s\n\
             a        node-long   <none>\n"
        );
    }

    #[test]
    fn later_rows_line_up_under_the_header_and_widen_when_needed() {
        let headers = ["NAME", "NODE", "AGE"];
        let first = vec![vec!["a".to_string(), "n1".to_string(), "5s".to_string()]];
        let mut w = widths(&headers, &first);
        let later = vec![vec![
            "much-longer-name".to_string(),
            "n1".to_string(),
            "6s".to_string(),
        ]];
        assert_eq!(render_more(&mut w, &first), "a      n1     5s\n");
        assert_eq!(
            render_more(&mut w, &later),
            "much-longer-name   n1     6s\n"
        );
        assert_eq!(
            render_more(&mut w, &first),
            "a                  n1     5s\n"
        );
    }
}
