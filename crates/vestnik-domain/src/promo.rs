//! Promo codes: lists the shop imports into named pools, handed out one per message by the
//! template function `get_promocode()` (each code at most once, across all nodes).

use serde::Serialize;

use crate::contact::ValidationError;

/// Longest accepted code; longer lines are almost surely not codes (a pasted CSV row).
pub const MAX_CODE_LEN: usize = 64;
/// The pool `get_promocode()` uses when the template names none.
pub const DEFAULT_POOL: &str = "default";

/// A pool name: 1–64 of letters, digits, `_`, `-`, `.`.
pub fn validate_pool(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "pool",
            format!(
                "`{name}` is not a pool name: use 1-64 letters, digits, `_`, `-` or `.` (e.g. `summer-sale`)"
            ),
        ))
    }
}

/// A line of an import file that is not a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeLineIssue {
    pub line: usize,
    pub reason: String,
}

/// The codes of a file with one code per line: surrounding whitespace trimmed, blank lines
/// skipped, lines with inner whitespace or control characters or over `MAX_CODE_LEN`
/// characters reported (and skipped).
pub fn parse_code_lines(text: &str) -> (Vec<String>, Vec<CodeLineIssue>) {
    let mut codes = Vec::new();
    let mut issues = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let code = raw.trim().trim_start_matches('\u{feff}');
        if code.is_empty() {
            continue;
        }
        let reason = if code.chars().count() > MAX_CODE_LEN {
            Some(format!("longer than {MAX_CODE_LEN} characters"))
        } else if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("contains spaces or control characters; put one code per line".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => issues.push(CodeLineIssue {
                line: i + 1,
                reason,
            }),
            None => codes.push(code.to_string()),
        }
    }
    (codes, issues)
}

/// What an import added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PromoImport {
    pub added: u64,
    /// Codes already in the pool, or repeated in the file: kept once.
    pub duplicates: u64,
}

/// A pool's size and use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromoPool {
    pub pool: String,
    pub total: u64,
    pub issued: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_codes_and_bad_lines_are_reported() {
        let (codes, issues) = parse_code_lines("\u{feff}SALE-1\r\n\n  SALE-2  \nSALE 3\nX\u{7}Y\n");
        assert_eq!(codes, ["SALE-1", "SALE-2"]);
        assert_eq!(
            issues.iter().map(|i| i.line).collect::<Vec<_>>(),
            [4, 5],
            "{issues:?}"
        );
        let (_, long) = parse_code_lines(&"A".repeat(65));
        assert_eq!(long[0].line, 1);
    }

    #[test]
    fn pool_names_are_checked() {
        assert!(validate_pool("summer-sale_2026.v1").is_ok());
        for bad in ["", "has space", "кириллица", &"a".repeat(65)] {
            assert!(validate_pool(bad).is_err(), "{bad}");
        }
    }
}
