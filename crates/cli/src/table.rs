//! Tables as kubectl prints them (no borders, upper-case headers, three spaces between columns)
//! and kubectl's short ages (`5s`, `3m`, `2h`), shared by `get` and `lab`.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};
use jiff::{SignedDuration, Timestamp};

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

/// The time since `then` as kubectl prints ages: seconds under 2 minutes, then minutes (with
/// seconds under 10 minutes), hours (with minutes under 8 hours), days, years. Up to a second
/// in the future counts as now (clocks of two machines differ a little); more is `<invalid>`.
pub(crate) fn age(then: Timestamp, now: Timestamp) -> String {
    let d: SignedDuration = now.duration_since(then);
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_rest(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_rest(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// The age of an RFC 3339 time as written in a status, `<none>` when there is none and
/// `<invalid>` when it cannot be read.
pub(crate) fn age_of(time: Option<&str>, now: Timestamp) -> String {
    match time {
        None => "<none>".to_string(),
        Some(text) => match text.parse::<Timestamp>() {
            Ok(then) => age(then, now),
            Err(_) => "<invalid>".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ago(seconds: i64) -> String {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        age(now - SignedDuration::from_secs(seconds), now)
    }

    #[test]
    fn ages_follow_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (185, "3m5s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 5 * 3600, "3d5h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
        ];
        let got: Vec<(i64, String)> = cases.iter().map(|(s, _)| (*s, ago(*s))).collect();
        let want: Vec<(i64, String)> = cases.iter().map(|(s, a)| (*s, a.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_missing_or_unreadable_time_is_said_so() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(age_of(None, now), "<none>");
        assert_eq!(age_of(Some("yesterday"), now), "<invalid>");
        assert_eq!(age_of(Some("2024-12-31T23:59:30Z"), now), "30s");
    }

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
