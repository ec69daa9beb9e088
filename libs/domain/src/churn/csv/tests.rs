#![allow(clippy::unwrap_used)]

use super::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn records(text: &str, delimiter: char) -> Vec<(usize, Vec<String>)> {
    Records::new(text, delimiter)
        .map(|r| r.map(|r| (r.line, r.fields)))
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A valid file: header plus `rows` lines alternating churned and renewed.
fn file(header: &str, rows: &[&str]) -> String {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn ten_rows() -> Vec<String> {
    (0..10)
        .map(|i| format!("{i},{},SME", if i % 2 == 0 { "yes" } else { "no" }))
        .collect()
}

fn parse(text: &str) -> Result<Dataset, Vec<CsvViolation>> {
    parse_csv(text, ',', &names(&["arr"]), &names(&["segment"]), "churned")
}

fn descriptions(violations: &[CsvViolation]) -> Vec<String> {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect()
}

#[test]
fn quoted_fields_hold_delimiters_newlines_and_doubled_quotes() {
    let text = "a,b,c\r\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nplain,5\" screen,\"\"\n";
    assert_eq!(
        records(text, ','),
        vec![
            (1, names(&["a", "b", "c"])),
            (2, names(&["x,y", "say \"hi\"", "two\nlines"])),
            (4, names(&["plain", "5\" screen", ""])),
        ]
    );
}

#[test]
fn line_endings_blank_lines_and_no_trailing_newline() {
    assert_eq!(
        records("a;b\r\n1;2\r\n\r\n3;4", ';'),
        vec![
            (1, names(&["a", "b"])),
            (2, names(&["1", "2"])),
            (4, names(&["3", "4"])),
        ]
    );
    assert_eq!(
        records("a\rb\r", ','),
        vec![(1, names(&["a"])), (2, names(&["b"]))]
    );
    assert_eq!(records("a\n\n\n", ','), vec![(1, names(&["a"]))]);
    assert_eq!(records("a,,\n", ','), vec![(1, names(&["a", "", ""]))]);
}

#[test]
fn broken_quoting_is_reported_with_its_line() {
    let mut reader = Records::new("a\n\"open\nstill open", ',');
    assert!(reader.next().unwrap().is_ok());
    assert_eq!(
        reader.next().unwrap().err().unwrap(),
        "line 2: a quoted field is not closed"
    );
    assert!(reader.next().is_none());
    let mut reader = Records::new("\"a\"b,c", ',');
    assert_eq!(
        reader.next().unwrap().err().unwrap(),
        "line 1: text after the closing quote of a field"
    );
}

#[test]
fn parses_a_file_with_bom_crlf_spaces_and_missing_cells() {
    let mut text = "\u{feff}id, arr ,segment,churned\r\n".to_owned();
    for i in 0..10 {
        let arr = if i == 3 {
            String::new()
        } else {
            format!(" {i}.5 ")
        };
        let label = ["Yes", " churned ", "0", "RENEWED", "true"][i % 5];
        let segment = if i == 4 { "" } else { "\"SME, EU\"" };
        text.push_str(&format!("{i},{arr},{segment},{label}\r\n"));
    }
    let dataset = parse(&text).unwrap();
    assert_eq!(dataset.numeric_columns, names(&["arr"]));
    assert_eq!(dataset.categorical_columns, names(&["segment"]));
    assert_eq!(dataset.rows.len(), 10);
    assert_eq!(dataset.rows[0].numeric, vec![Some(0.5)]);
    assert_eq!(dataset.rows[3].numeric, vec![None]);
    assert_eq!(dataset.rows[0].categorical, names(&["SME, EU"]));
    assert_eq!(dataset.rows[4].categorical, names(&[""]));
    let labels: Vec<bool> = dataset.rows.iter().map(|r| r.churned).collect();
    assert_eq!(
        labels,
        vec![
            true, true, false, false, true, true, true, false, false, true
        ]
    );
}

#[test]
fn other_delimiters_and_request_delimiters() {
    let text = ten_rows().join("\n").replace(',', "\t");
    let dataset = parse_csv(
        &format!("arr\tchurned\tsegment\n{text}"),
        '\t',
        &names(&["arr"]),
        &[],
        "churned",
    )
    .unwrap();
    assert_eq!(dataset.rows.len(), 10);
    assert_eq!(delimiter_from_request(""), Ok(','));
    assert_eq!(delimiter_from_request(";"), Ok(';'));
    assert_eq!(delimiter_from_request("\t"), Ok('\t'));
    for bad in [",,", "\"", "\n", "ab"] {
        assert_eq!(delimiter_from_request(bad).unwrap_err().field, "delimiter");
    }
    let refused = parse_csv("a", '"', &names(&["a"]), &[], "b").unwrap_err();
    assert_eq!(refused, vec![delimiter_violation()]);
}

#[test]
fn bad_cells_are_reported_with_line_numbers() {
    let mut rows = ten_rows();
    rows[1] = "abc,no,SME".to_owned();
    rows[3] = "\"multi\nline\",maybe,SME".to_owned();
    rows[5] = "5,yes".to_owned();
    rows[6] = "NaN,yes,SME".to_owned();
    let violations = parse(&file(
        "arr,churned,segment",
        &rows.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .unwrap_err();
    assert_eq!(
        descriptions(&violations),
        vec![
            "csv_data: line 3: 'abc' in column arr is not a number",
            "csv_data: line 5: 'multi\nline' in column arr is not a number",
            "csv_data: line 5: 'maybe' in column churned is not a label (1/true/yes/churned or 0/false/no/renewed)",
            "csv_data: line 8: 2 fields where the header has 3",
            "csv_data: line 9: 'NaN' in column arr is not a number",
        ]
    );
}

#[test]
fn unknown_duplicate_and_overlapping_columns() {
    let text = file("arr,churned,segment,arr2,arr2", &[]);
    let violations = parse_csv(
        &text,
        ',',
        &names(&["arr", "mrr", "arr", "arr2"]),
        &names(&["segment", "a=b", "churned"]),
        "segment",
    )
    .unwrap_err();
    assert_eq!(
        descriptions(&violations),
        vec![
            "numeric_columns[2]: 'arr' is already numeric_columns[0]",
            "categorical_columns[1]: must not contain '='",
            "label_column: 'segment' is already categorical_columns[0]",
            "numeric_columns[1]: no column named 'mrr' in the header",
            "numeric_columns[3]: column 'arr2' appears more than once in the header",
        ]
    );
    let violations = parse_csv(&text, ',', &[], &[], "").unwrap_err();
    assert_eq!(
        descriptions(&violations),
        vec![
            "numeric_columns: at least one numeric or categorical column is needed",
            "label_column: must not be empty",
        ]
    );
}

#[test]
fn empty_files_too_few_rows_and_a_single_class() {
    for empty in ["", "\u{feff}", " \r\n"] {
        assert_eq!(
            descriptions(&parse(empty).unwrap_err()),
            vec!["csv_data: is empty; a header row and data rows are needed"]
        );
    }
    let rows = ten_rows();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    assert_eq!(
        descriptions(&parse(&file("arr,churned,segment", &rows[..9])).unwrap_err()),
        vec!["csv_data: has 9 data rows; at least 10 are needed"]
    );
    let all_churned: Vec<String> = (0..12).map(|i| format!("{i},1,SME")).collect();
    let all_churned: Vec<&str> = all_churned.iter().map(String::as_str).collect();
    assert_eq!(
        descriptions(&parse(&file("arr,churned,segment", &all_churned)).unwrap_err()),
        vec!["csv_data: needs both churned and renewed rows; all 12 are churned"]
    );
    assert!(parse(&file("arr,churned,segment", &rows)).is_ok());
    // Duplicate names among columns nobody asked for are no concern.
    let rows: Vec<String> = rows.iter().map(|r| format!("{r},x,y")).collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    assert!(parse(&file("arr,churned,segment,note,note", &rows)).is_ok());
}

#[test]
fn violations_are_capped_with_a_summary() {
    let rows: Vec<String> = (0..1000).map(|_| "x,yes,SME".to_owned()).collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let violations = parse(&file("arr,churned,segment", &rows)).unwrap_err();
    assert_eq!(violations.len(), MAX_CSV_VIOLATIONS + 1);
    assert_eq!(
        violations.last().unwrap().description,
        "980 more problems not listed"
    );
    let long = "y".repeat(500);
    let violations = parse(&format!("arr,churned,segment\n{long},1,A\n")).unwrap_err();
    assert!(violations[0].description.len() < 100, "{violations:?}");
}
