//! Terminal output of the client commands: aligned tables, traffic-light colours (only
//! on a terminal, and never with `NO_COLOR`), figures with thousands separators, and a
//! progress bar on stderr for long operations.

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

use nordstern_proto::common::v1 as common;
use nordstern_runtime::bridge::ProtoEnum;

/// How a command writes its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Tables for people; `color` paints traffic lights with ANSI escapes.
    Text { color: bool },
    /// proto3 JSON of the response, one document, for scripts.
    Json,
}

impl Output {
    /// Text, coloured when stdout is a terminal and `NO_COLOR` is unset.
    pub fn detect(json: bool) -> Output {
        if json {
            return Output::Json;
        }
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Output::Text { color }
    }

    pub fn plain() -> Output {
        Output::Text { color: false }
    }

    fn color(self) -> bool {
        matches!(self, Output::Text { color: true })
    }

    /// The colour's name, painted in its own colour when colours are on.
    pub fn light(self, color: i32) -> String {
        use nordstern_domain::health::HealthColor;
        let Some(light) = HealthColor::from_i32(color) else {
            return "-".to_owned();
        };
        let code = match light {
            HealthColor::Green => "32",
            HealthColor::Yellow => "33",
            HealthColor::Red => "31",
        };
        self.paint(light.as_str(), code)
    }

    /// Red when colours are on, for what needs attention first.
    pub fn alarm(self, text: &str) -> String {
        self.paint(text, "31")
    }

    /// Bold when colours are on.
    pub fn strong(self, text: &str) -> String {
        self.paint(text, "1")
    }

    fn paint(self, text: &str, code: &str) -> String {
        if self.color() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Characters as a terminal shows them: ANSI escapes take no room.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut escape = false;
    for c in text.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// A table with a header row; columns whose header is right-aligned (numbers) are
/// padded on the left.
pub struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A header starting with `>` is right-aligned (the `>` is not shown).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers
                .iter()
                .map(|h| h.strip_prefix('>').unwrap_or(h))
                .collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(visible_width(cell));
            }
        }
        let line = |out: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
            let mut text = String::new();
            for (index, cell) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[index].saturating_sub(visible_width(cell)));
                if index > 0 {
                    text.push_str("  ");
                }
                if self.right[index] {
                    text.push_str(&pad);
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if index + 1 < cells.len() {
                        text.push_str(&pad);
                    }
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        line(out, &headers)?;
        for row in &self.rows {
            line(out, row)?;
        }
        Ok(())
    }
}

/// Whole major units with thousands separators: 1234567 minor units → "12,346".
pub fn format_money(money: Option<&common::Money>) -> String {
    let Some(money) = money else {
        return "-".to_owned();
    };
    let major = (money.minor_units as f64 / 100.0).round() as i64;
    let digits = major.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if major < 0 { "-" } else { "" };
    format!("{sign}{grouped} {}", money.currency_code)
}

pub fn percent(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{:.0} %", v * 100.0))
}

pub fn date(date: Option<&common::Date>) -> String {
    date.map_or("-".to_owned(), |d| {
        format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
    })
}

/// An enum value's proto name without its type prefix: `SEGMENT_SME` → `SME`.
pub fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

/// A progress bar on stderr, drawn only when stderr is a terminal and at most ten
/// times a second; `finish` leaves a final line either way.
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
    visible: bool,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: u64) -> Progress {
        Progress {
            label: label.into(),
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
            visible: std::io::stderr().is_terminal(),
        }
    }

    pub fn advance(&mut self, by: u64) {
        self.done += by;
        if !self.visible
            || self
                .drawn
                .is_some_and(|at| at.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(Instant::now());
        let share = if self.total == 0 {
            1.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0)
        };
        let filled = (share * 30.0).round() as usize;
        eprint!(
            "\r  {:<22} [{}{}] {:>3.0} %  {}/{}  {:.1} s ",
            self.label,
            "#".repeat(filled),
            "-".repeat(30 - filled),
            share * 100.0,
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Replaces the bar with a line of what was done (also where no bar is drawn, so a
    /// log shows each finished step) and returns the seconds it ran.
    pub fn finish(self) -> f64 {
        if self.drawn.is_some() {
            eprint!("\r{}\r", " ".repeat(100));
        }
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!(
            "  {}: {} of {} in {seconds:.1} s",
            self.label, self.done, self.total
        );
        seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_numbers_right_and_ignore_colour_escapes() {
        let colored = Output::Text { color: true };
        let mut table = Table::new(&["NAME", ">ARR", "HEALTH"]);
        table.row(vec![
            "Nordtech GmbH".into(),
            "1,200 EUR".into(),
            colored.light(1),
        ]);
        table.row(vec!["Oak AG".into(), "35 EUR".into(), colored.light(3)]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap_or_default();
        let text = String::from_utf8(out).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME                 ARR  HEALTH");
        assert_eq!(lines[1], "Nordtech GmbH  1,200 EUR  \x1b[32mGREEN\x1b[0m");
        assert_eq!(lines[2], "Oak AG            35 EUR  \x1b[31mRED\x1b[0m");
    }

    #[test]
    fn plain_output_has_no_escapes() {
        assert_eq!(Output::plain().light(2), "YELLOW");
        assert_eq!(Output::plain().light(0), "-");
        assert_eq!(Output::plain().strong("x"), "x");
    }

    #[test]
    fn money_is_grouped_in_major_units() {
        let eur = |minor_units| common::Money {
            minor_units,
            currency_code: "EUR".into(),
        };
        assert_eq!(format_money(Some(&eur(123_456_789))), "1,234,568 EUR");
        assert_eq!(format_money(Some(&eur(-99_900))), "-999 EUR");
        assert_eq!(format_money(Some(&eur(0))), "0 EUR");
        assert_eq!(format_money(None), "-");
    }
}
