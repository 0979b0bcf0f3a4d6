//! A minimal CSV writer for run-directory tables (`metrics.csv`, `infoplane.csv`).
//!
//! Callers format numbers; use [`fmt_f64`] for floats so the file round-trips exactly. Fields that
//! contain a comma, a double quote or a line break are quoted (RFC 4180); lines end with `\n`.
//!
//! ```
//! use probe_report::{fmt_f64, CsvTable};
//!
//! let mut t = CsvTable::new(&["epoch", "layer", "i_xt_bits"]);
//! t.push(["1".to_string(), "layers.0".to_string(), fmt_f64(0.1 + 0.2)]).unwrap();
//! t.push(["2", "a,b", "NaN"]).unwrap();
//! assert_eq!(
//!     t.to_string(),
//!     "epoch,layer,i_xt_bits\n1,layers.0,0.30000000000000004\n2,\"a,b\",NaN\n"
//! );
//! assert!(t.push(["3"]).is_err());
//! ```

use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

/// An in-memory CSV table: a header and rows of already-formatted fields, all the same width.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The rows rendered as CSV lines, appended as they are pushed, so rendering the whole table
    /// (`probe analyze`'s files, a run's returned tables) does not format every field again.
    text: String,
}

impl CsvTable {
    /// A table with the given column names and no rows.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            text: String::new(),
        }
    }

    /// Appends a row. Errors (and leaves the table unchanged) if the number of fields differs from
    /// the number of header columns.
    pub fn push<I, S>(&mut self, row: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let row: Vec<String> = row.into_iter().map(Into::into).collect();
        if row.len() != self.header.len() {
            return Err(Error::CsvColumns {
                header: self.header.join(","),
                row: self.rows.len(),
                expected: self.header.len(),
                got: row.len(),
            });
        }
        render_line(&mut self.text, &row);
        self.rows.push(row);
        Ok(())
    }

    /// The column names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The rows pushed so far.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Number of rows (the header not counted).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows have been pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Reads back the text [`CsvTable`]'s `Display` writes (`path` names it in errors): a header
    /// line, then rows of its width, every line `\n`-terminated, fields quoted as
    /// [`CsvTable::push`] quotes them. Anything else (a torn last line, a foreign dialect) is an
    /// error, so a table read back renders to exactly `text`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |line: usize, reason: &str| Error::CsvParse {
            path: path.to_path_buf(),
            line,
            reason: reason.to_string(),
        };
        let mut records = split_records(text).map_err(|(line, reason)| bad(line, reason))?;
        if records.is_empty() {
            return Err(bad(1, "no header line"));
        }
        let rows = records.split_off(1);
        let header: Vec<&str> = records[0].iter().map(String::as_str).collect();
        let mut table = CsvTable::new(&header);
        for (i, row) in rows.into_iter().enumerate() {
            let width = row.len();
            table.push(row).map_err(|_| {
                bad(
                    i + 2,
                    &format!("{width} fields, the header has {}", header.len()),
                )
            })?;
        }
        if table.to_string() != text {
            return Err(bad(1, "not quoted the way probe writes CSV tables"));
        }
        Ok(table)
    }

    /// Writes the table to `path` with [`crate::atomic::write_atomic`].
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomic(path, self.to_string().as_bytes())
    }

    /// Writes the table to `path` with [`crate::atomic::replace_atomic`] (no fsync): for the
    /// intermediate versions of a table rewritten during a run.
    pub fn replace_atomic(&self, path: &Path) -> Result<()> {
        crate::atomic::replace_atomic(path, self.to_string().as_bytes())
    }
}

/// Renders the header and rows, one `\n`-terminated line each.
impl fmt::Display for CsvTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut header = String::new();
        render_line(&mut header, &self.header);
        f.write_str(&header)?;
        f.write_str(&self.text)
    }
}

/// Splits CSV text into records of fields (RFC 4180 quoting); errors give a 1-based line
/// (of the file's text) and a reason.
fn split_records(text: &str) -> std::result::Result<Vec<Vec<String>>, (usize, &'static str)> {
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                let opened = line;
                loop {
                    match chars.next() {
                        None => return Err((opened, "a quoted field is not closed")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            line += usize::from(ch == '\n');
                            field.push(ch);
                        }
                    }
                }
                if !matches!(chars.peek(), Some(',' | '\n')) {
                    return Err((line, "text after a closing quote"));
                }
            }
            ',' => fields.push(std::mem::take(&mut field)),
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut fields));
                line += 1;
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        return Err((line, "the last line has no line break (a torn write?)"));
    }
    Ok(records)
}

/// Appends `fields` as one CSV line (quoted where needed, `\n`-terminated) to `out`.
pub(crate) fn render_line(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push('\n');
}

/// Formats an `f64` as the shortest string that parses back to the same value (bit-exact,
/// including the sign of zero).
///
/// Plain decimal (Rust's `Display`) for magnitudes in `[1e-5, 1e16)` and zero; shortest
/// scientific notation (`LowerExp`, e.g. `1e-300`) outside it, where `Display` would spell out
/// hundreds of digits. Non-finite values give `NaN`, `inf`, `-inf`, which Rust, numpy and pandas
/// all parse.
pub fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    let a = x.abs();
    if a == 0.0 || a.is_infinite() || (1e-5..1e16).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with every quoting case: a comma in the header, a quote, a line feed, a carriage
    /// return, an empty field and surrounding spaces.
    fn quoting_cases() -> CsvTable {
        let mut t = CsvTable::new(&["a", "b,c"]);
        t.push(["plain", "has \"quote\""]).unwrap();
        t.push(["line\nbreak", "cr\rhere"]).unwrap();
        t.push(["", " spaced "]).unwrap();
        t
    }

    #[test]
    fn quotes_fields_with_comma_quote_or_newline() {
        let t = quoting_cases();
        assert_eq!(
            t.to_string(),
            "a,\"b,c\"\nplain,\"has \"\"quote\"\"\"\n\"line\nbreak\",\"cr\rhere\"\n, spaced \n"
        );
        assert_eq!(t.len(), 3);
    }

    /// `parse` is the inverse of `Display`: every quoting case of the test above reads back to
    /// the same fields, and text probe would not write is refused with its line.
    #[test]
    fn parse_reads_back_what_display_writes() {
        let t = quoting_cases();
        let text = t.to_string();
        let p = Path::new("t.csv");
        assert_eq!(CsvTable::parse(&text, p).unwrap(), t);
        let header_only = CsvTable::new(&["x"]);
        assert_eq!(CsvTable::parse("x\n", p).unwrap(), header_only);
        for (bad, line, why) in [
            ("", 1, "no header"),
            ("a,b\n1,2\n3,4", 3, "no line break"),
            ("a,b\n1\n", 2, "1 fields"),
            ("a,b\n\"1,2\n", 2, "not closed"),
            ("a,b\n\"1\"x,2\n", 2, "after a closing quote"),
            ("a,b\n\"1\",2\n", 1, "not quoted the way"),
        ] {
            let e = CsvTable::parse(bad, p).unwrap_err().to_string();
            assert!(
                e.contains("t.csv") && e.contains(&format!("line {line}:")) && e.contains(why),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn column_count_mismatch_is_an_error_and_leaves_table_unchanged() {
        let mut t = CsvTable::new(&["epoch", "loss"]);
        t.push(vec!["1".to_string(), "0.5".to_string()]).unwrap();
        let err = t.push(["2", "0.4", "extra"]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::CsvColumns {
                    row: 1,
                    expected: 2,
                    got: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("epoch,loss"), "{err}");
        assert!(t.push(["2"]).is_err());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn header_only_table() {
        let t = CsvTable::new(&["x"]);
        assert!(t.is_empty());
        assert_eq!(t.to_string(), "x\n");
    }

    #[test]
    fn write_atomic_writes_the_rendered_table() {
        let dir = crate::atomic::tests::TempDir::new("csv");
        let mut t = CsvTable::new(&["k", "v"]);
        t.push(["pi", &fmt_f64(std::f64::consts::PI)]).unwrap();
        let path = dir.0.join("metrics.csv");
        t.write_atomic(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "k,v\npi,3.141592653589793\n"
        );
    }

    fn assert_round_trip(x: f64) {
        let s = fmt_f64(x);
        let back: f64 = s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(back.to_bits(), x.to_bits(), "{x:e} -> {s:?} -> {back:e}");
        assert!(s.len() <= 24, "{x:e} -> {s:?} is not short");
    }

    #[test]
    fn fmt_f64_round_trips_exactly() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.1 + 0.2,
            1.0 / 3.0,
            2.0f64.ln(),
            1e-5,
            9.999_999_999_999_999e-6,
            1e16,
            9_999_999_999_999_998.0,
            1e300,
            1e-300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324, // smallest subnormal
            123_456_789.012_345_68,
        ];
        for x in specials {
            assert_round_trip(x);
        }
        // Pseudo-random bit patterns (xorshift64*), covering every exponent.
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut n = 0;
        while n < 20_000 {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let x = f64::from_bits(s.wrapping_mul(0x2545_F491_4F6C_DD1D));
            if x.is_finite() {
                assert_round_trip(x);
                n += 1;
            }
        }
    }

    #[test]
    fn fmt_f64_spells_short_common_values_and_non_finite() {
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(0.25), "0.25");
        assert_eq!(fmt_f64(12.5), "12.5");
        assert_eq!(fmt_f64(1e-7), "1e-7");
        assert_eq!(fmt_f64(f64::NAN), "NaN");
        assert_eq!(fmt_f64(f64::INFINITY), "inf");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-inf");
        assert!(fmt_f64(f64::INFINITY).parse::<f64>().unwrap().is_infinite());
        assert!(fmt_f64(f64::NAN).parse::<f64>().unwrap().is_nan());
    }
}
