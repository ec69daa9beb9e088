//! RFC 4180 records with the physical line each starts on, for imports that report
//! problems by line and column (churn history, accounts, contracts).

pub struct Record {
    /// Physical line the record starts on, 1-based.
    pub line: usize,
    pub fields: Vec<String>,
}

/// RFC 4180 records: quoted fields may hold delimiters, line breaks and doubled quotes;
/// records end with CRLF, LF or a lone CR. A quote inside an unquoted field is taken
/// literally, as spreadsheet exports sometimes write `5" screen`.
pub struct Records<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    delimiter: char,
    line: usize,
    broken: bool,
}

impl<'a> Records<'a> {
    pub fn new(text: &'a str, delimiter: char) -> Self {
        Records {
            chars: text.chars().peekable(),
            delimiter,
            line: 1,
            broken: false,
        }
    }

    fn read_record(&mut self) -> Result<Record, String> {
        let start = self.line;
        let mut fields = Vec::new();
        let mut quoted_any = false;
        loop {
            let mut field = String::new();
            if self.chars.peek() == Some(&'"') {
                quoted_any = true;
                self.chars.next();
                loop {
                    match self.chars.next() {
                        None => return Err(format!("line {start}: a quoted field is not closed")),
                        Some('"') if self.chars.peek() == Some(&'"') => {
                            self.chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                self.line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                match self.chars.peek() {
                    None | Some('\r' | '\n') => {}
                    Some(&c) if c == self.delimiter => {}
                    Some(_) => {
                        return Err(format!(
                            "line {}: text after the closing quote of a field",
                            self.line
                        ));
                    }
                }
            } else {
                while let Some(&c) = self.chars.peek() {
                    if c == self.delimiter || c == '\r' || c == '\n' {
                        break;
                    }
                    field.push(c);
                    self.chars.next();
                }
            }
            fields.push(field);
            match self.chars.next() {
                Some(c) if c == self.delimiter => continue,
                Some('\r') => {
                    if self.chars.peek() == Some(&'\n') {
                        self.chars.next();
                    }
                    self.line += 1;
                }
                Some('\n') => self.line += 1,
                _ => {}
            }
            // A blank line is one empty unquoted field; the caller skips it.
            if !quoted_any && fields.len() == 1 && fields[0].is_empty() {
                fields.clear();
            }
            return Ok(Record {
                line: start,
                fields,
            });
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.broken && self.chars.peek().is_some() {
            match self.read_record() {
                Ok(record) if record.fields.is_empty() => continue,
                Ok(record) => return Some(Ok(record)),
                Err(error) => {
                    self.broken = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}
