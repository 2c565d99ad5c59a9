//! Durations written the way Docker (Go's `time.ParseDuration`) accepts
//! them: `30s`, `1m30s`, `500ms`, `1.5h`, `-2s`, or a bare `0`.

/// Parses a Go-style duration into nanoseconds; `None` if malformed or out
/// of the `i64` range.
pub fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = take_digits(rest);
        let (fraction, after_fraction) = match after_whole.strip_prefix('.') {
            Some(after_dot) => take_digits(after_dot),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_len = after_fraction.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after_fraction.len());
        let unit = unit_nanos(after_fraction.get(..unit_len)?)?;
        rest = after_fraction.get(unit_len..)?;
        total = total.checked_add(component(whole, fraction, unit)?)?;
        if total > 1u128 << 63 {
            return None;
        }
    }
    if negative {
        i64::try_from(total).map(|t| -t).ok().or((total == 1u128 << 63).then_some(i64::MIN))
    } else {
        i64::try_from(total).ok()
    }
}

fn take_digits(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    (text.get(..end).unwrap_or(""), text.get(end..).unwrap_or(""))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// `whole.fraction` units, truncated to whole nanoseconds.
fn component(whole: &str, fraction: &str, unit: u128) -> Option<u128> {
    let mut value: u128 = 0;
    for d in whole.bytes() {
        value = value.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
        if value > 1u128 << 63 {
            return None;
        }
    }
    let mut nanos = value.checked_mul(unit)?;
    // Digits past the 20th cannot change a nanosecond count.
    let fraction = fraction.get(..fraction.len().min(20)).unwrap_or("");
    let mut numerator: u128 = 0;
    let mut scale: u128 = 1;
    for d in fraction.bytes() {
        numerator = numerator * 10 + u128::from(d - b'0');
        scale *= 10;
    }
    nanos = nanos.checked_add(numerator.checked_mul(unit)? / scale)?;
    Some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_go_durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration(".5s"), Some(500_000_000));
        assert_eq!(parse_duration("2us"), Some(2_000));
        assert_eq!(parse_duration("2\u{b5}s"), Some(2_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(parse_duration("1h2m3s4ms5us6ns"), Some(3_723_004_005_006));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "30", "s", "1x", "1.s.", "--1s", "abc", "1s ", "99999999999999999999h", "-"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
