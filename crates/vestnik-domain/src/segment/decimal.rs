//! Exact decimal comparison for segment conditions: bonus balances, order sums and custom
//! number fields are compared as the decimal text they are, never through a float sum.

use std::cmp::Ordering;
use std::fmt;

use crate::order::Money;

/// Digits a threshold may have before and after the point: Money's 15 + 6 fit, and the
/// split into whole units and millionths that SQLite compares order sums with stays in i64.
pub const MAX_INTEGER_DIGITS: usize = 18;
pub const MAX_FRACTION_DIGITS: usize = 6;

/// A threshold in a condition: plain decimal notation (`1500`, `1500.5`, `-3`), kept as
/// canonical text (no leading zeros, no trailing fraction zeros), so that it reads back as
/// it was meant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    /// Digits before the point, without leading zeros; "0" for none.
    int: String,
    /// Digits after the point, without trailing zeros; empty for none.
    frac: String,
}

impl Decimal {
    /// Plain decimal notation with an optional `-`; `None` for anything else (exponents,
    /// commas, more than 18 + 6 digits).
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, unsigned) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || unsigned.ends_with('.') {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        if int.len() > MAX_INTEGER_DIGITS || frac.len() > MAX_FRACTION_DIGITS {
            return None;
        }
        let int = if int.is_empty() { "0" } else { int };
        let zero = int == "0" && frac.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            int: int.to_string(),
            frac: frac.to_string(),
        })
    }

    /// A whole number.
    pub fn from_int(n: i64) -> Decimal {
        Decimal {
            negative: n < 0,
            int: n.unsigned_abs().to_string(),
            frac: String::new(),
        }
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value as a whole number, when it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        if !self.frac.is_empty() {
            return None;
        }
        let magnitude: i64 = self.int.parse().ok()?;
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// Whole units and millionths of a non-negative value (`1500.25` → `(1500, 250000)`).
    pub fn units_and_micros(&self) -> Option<(i64, i64)> {
        if self.negative {
            return None;
        }
        let units: i64 = self.int.parse().ok()?;
        let micros: i64 = format!("{:0<6}", self.frac).parse().ok()?;
        Some((units, micros))
    }

    /// The nearest float: what SQLite compares bonus balances and custom numbers with.
    pub fn as_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(0.0)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str(&self.int)?;
        if !self.frac.is_empty() {
            write!(f, ".{}", self.frac)?;
        }
        Ok(())
    }
}

/// A decimal in scientific form: `sign × 0.digits × 10^exp`, digits without leading or
/// trailing zeros (empty for zero). Any two compare exactly, whatever their length.
#[derive(Debug, PartialEq, Eq)]
struct Normalised {
    sign: i8,
    digits: Vec<u8>,
    exp: i64,
}

/// Reads decimal text in any notation the product stores (`150.10`, `-5`, `1.5e2`, a JSON
/// number); `None` when it is not a number.
fn normalise(text: &str) -> Option<Normalised> {
    let t = text.trim();
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let leading = all.iter().take_while(|b| **b == b'0').count();
    let mut digits = all[leading..].to_vec();
    if digits.is_empty() {
        return Some(Normalised {
            sign: 0,
            digits,
            exp: 0,
        });
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let exp = (int.len() as i64 - leading as i64).checked_add(exponent)?;
    Some(Normalised {
        sign: if negative { -1 } else { 1 },
        digits,
        exp,
    })
}

/// Compares two numbers written as decimal text, exactly; `None` when either is not a number.
pub fn compare_text(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (normalise(a)?, normalise(b)?);
    if a.sign != b.sign {
        return Some(a.sign.cmp(&b.sign));
    }
    let magnitude = a.exp.cmp(&b.exp).then_with(|| a.digits.cmp(&b.digits));
    Some(if a.sign < 0 {
        magnitude.reverse()
    } else {
        magnitude
    })
}

/// The exact sum of amounts, as decimal text. Money has at most 15 + 6 digits, so millionths
/// in an i128 hold any realistic number of orders without rounding.
pub fn sum_money<'a>(amounts: impl IntoIterator<Item = &'a Money>) -> String {
    let mut micros: i128 = 0;
    for m in amounts {
        let (int, frac) = m.as_str().split_once('.').unwrap_or((m.as_str(), ""));
        let int: i128 = int.parse().unwrap_or(0);
        let frac: i128 = format!("{frac:0<6}").parse().unwrap_or(0);
        micros = micros.saturating_add(int * 1_000_000 + frac);
    }
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_plain_decimals_kept_canonical() {
        assert_eq!(Decimal::parse("1500.50").unwrap().to_string(), "1500.5");
        assert_eq!(Decimal::parse("007").unwrap().to_string(), "7");
        assert_eq!(Decimal::parse("-0.0").unwrap().to_string(), "0");
        assert_eq!(Decimal::parse("-2.25").unwrap().to_string(), "-2.25");
        for bad in [
            "",
            "1e3",
            "1,5",
            "abc",
            ".5",
            "1.",
            "1.1234567",
            "+5",
            "--1",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            Decimal::parse("1500.25").unwrap().units_and_micros(),
            Some((1500, 250_000))
        );
        assert_eq!(Decimal::parse("12").unwrap().as_i64(), Some(12));
        assert_eq!(Decimal::parse("12.5").unwrap().as_i64(), None);
    }

    #[test]
    fn text_compares_exactly_in_any_notation() {
        use Ordering::*;
        assert_eq!(compare_text("150.10", "150.1"), Some(Equal));
        assert_eq!(compare_text("1.5e2", "150"), Some(Equal));
        assert_eq!(compare_text("100.0000000000000001", "100"), Some(Greater));
        assert_eq!(compare_text("-5", "3"), Some(Less));
        assert_eq!(compare_text("-5", "-30"), Some(Greater));
        assert_eq!(compare_text("0", "-0.0"), Some(Equal));
        assert_eq!(compare_text("0.09", "0.1"), Some(Less));
        assert_eq!(compare_text("99", "100"), Some(Less));
        assert_eq!(compare_text("abc", "1"), None);
    }

    #[test]
    fn sums_of_money_are_exact() {
        let amounts: Vec<Money> = ["0.1", "0.2", "1500.50", "3"]
            .iter()
            .map(|a| Money::parse("total", a).unwrap())
            .collect();
        let sum = sum_money(&amounts);
        assert_eq!(compare_text(&sum, "1503.8"), Some(Ordering::Equal));
        assert_eq!(sum_money([]), "0.000000");
    }
}
