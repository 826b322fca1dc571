//! Exact prices. A feed's `18973.37` must reach the email as `18973.37`, and sums and
//! comparisons (price drops, "from 1 000 ₽") must not wobble, so no float is involved: a price
//! is an integer count of 10^-scale units with the scale the shop wrote.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Digits before the point: ten trillion in any currency is more than a product costs, and
/// together with [`MAX_FRACTION_DIGITS`] the value always fits in a `u64`.
const MAX_INTEGER_DIGITS: usize = 13;
/// Digits after the point; currencies need two or three, crypto-style rates six.
const MAX_FRACTION_DIGITS: usize = 6;

/// A non-negative decimal amount, exact. `Display` and serde give the decimal text with the
/// shop's own number of fraction digits (`1500.50` stays `1500.50`); a decimal comma, which
/// Russian spreadsheets export, is read as a point.
///
/// Equality is of the written form: `1500.5` and `1500.50` are different values of this type;
/// compare [`Price::to_minor_units`] to compare amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    /// The amount times 10^`scale`.
    units: u64,
    /// Fraction digits as written.
    scale: u8,
}

/// Why a price text was refused; shown after the field name ("price is not a number: …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("is empty")]
    Empty,
    #[error("is negative: `{0}`")]
    Negative(String),
    #[error("is not a number: `{0}` (write digits with an optional decimal point, e.g. 1500.50)")]
    NotANumber(String),
    #[error(
        "has too many digits: `{0}` (at most {MAX_INTEGER_DIGITS} before the point and {MAX_FRACTION_DIGITS} after)"
    )]
    TooManyDigits(String),
}

impl Price {
    /// Reads `1500`, `1500.50` or `1500,50` (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Price, PriceError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(PriceError::Empty);
        }
        if t.starts_with('-') {
            return Err(PriceError::Negative(t.to_string()));
        }
        let (int, frac) = match t.split_once(['.', ',']) {
            Some((i, f)) => (i, f),
            None => (t, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let has_point = int.len() < t.len();
        if int.is_empty() || !all_digits(int) || !all_digits(frac) || has_point && frac.is_empty() {
            return Err(PriceError::NotANumber(t.to_string()));
        }
        let significant = int.trim_start_matches('0');
        if significant.len() > MAX_INTEGER_DIGITS || frac.len() > MAX_FRACTION_DIGITS {
            return Err(PriceError::TooManyDigits(t.to_string()));
        }
        // Within the digit limits this cannot overflow: at most 19 digits < u64::MAX.
        let units = int
            .bytes()
            .chain(frac.bytes())
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        Ok(Price {
            units,
            scale: frac.len() as u8,
        })
    }

    /// The amount in units of 10^-`fraction_digits` (kopecks and cents for 2), or `None` when
    /// that would drop non-zero digits the shop wrote (`12.345` in kopecks).
    pub fn to_minor_units(&self, fraction_digits: u8) -> Option<u64> {
        if fraction_digits >= self.scale {
            let factor = 10u64.checked_pow(u32::from(fraction_digits - self.scale))?;
            self.units.checked_mul(factor)
        } else {
            let divisor = 10u64.pow(u32::from(self.scale - fraction_digits));
            self.units
                .is_multiple_of(divisor)
                .then_some(self.units / divisor)
        }
    }

    /// Fraction digits as written (`1500.50` → 2).
    pub fn scale(&self) -> u8 {
        self.scale
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.units);
        }
        let divisor = 10u64.pow(u32::from(self.scale));
        write!(
            f,
            "{}.{:0width$}",
            self.units / divisor,
            self.units % divisor,
            width = usize::from(self.scale)
        )
    }
}

impl std::str::FromStr for Price {
    type Err = PriceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Price::parse(s)
    }
}

/// As a JSON string, so that no reader downstream turns it into a float.
impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Price::parse(&text).map_err(|e| serde::de::Error::custom(format!("price {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Price {
        Price::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn keeps_the_written_decimal_text() {
        assert_eq!(price("18973.37").to_string(), "18973.37");
        assert_eq!(price("1500.50").to_string(), "1500.50");
        assert_eq!(price("0.05").to_string(), "0.05");
        assert_eq!(price(" 2258 ").to_string(), "2258");
        assert_eq!(price("12,5").to_string(), "12.5");
    }

    #[test]
    fn converts_to_minor_units_exactly() {
        assert_eq!(price("18973.37").to_minor_units(2), Some(1_897_337));
        assert_eq!(price("2258.9").to_minor_units(2), Some(225_890));
        assert_eq!(price("100").to_minor_units(2), Some(10_000));
        assert_eq!(price("1.230").to_minor_units(2), Some(123));
        assert_eq!(price("1.235").to_minor_units(2), None);
    }

    #[test]
    fn refuses_what_is_not_a_plain_amount() {
        assert_eq!(Price::parse(""), Err(PriceError::Empty));
        assert_eq!(Price::parse("  "), Err(PriceError::Empty));
        assert_eq!(Price::parse("-5"), Err(PriceError::Negative("-5".into())));
        for bad in [
            "12,5a", "abc", "1 500", "1.2.3", ".5", "5.", "1e3", "+5", "NaN", "١٢",
        ] {
            assert!(
                matches!(Price::parse(bad), Err(PriceError::NotANumber(_))),
                "{bad} should be refused"
            );
        }
        assert!(matches!(
            Price::parse("12345678901234"),
            Err(PriceError::TooManyDigits(_))
        ));
        assert!(matches!(
            Price::parse("1.1234567"),
            Err(PriceError::TooManyDigits(_))
        ));
        assert_eq!(
            price("9999999999999.999999").to_string(),
            "9999999999999.999999"
        );
    }

    #[test]
    fn serialises_as_a_string() {
        let json = serde_json::to_string(&price("1500.50")).unwrap_or_default();
        assert_eq!(json, "\"1500.50\"");
        let back: Price = serde_json::from_str("\"1500.50\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, price("1500.50"));
    }
}
