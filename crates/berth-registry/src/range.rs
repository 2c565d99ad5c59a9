//! Byte ranges: the `Range` header of blob GETs and the `Content-Range` of upload chunks.

/// What a `Range` request header asks of a blob of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable single range: serve the whole blob with 200.
    Full,
    /// Serve bytes `start..=end` with 206.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// The range lies outside the blob: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header (RFC 9110 §14.2) for a blob of `size` bytes.
///
/// Only a single `bytes=` range is honoured; multiple ranges or other units fall back to the
/// whole blob, which the RFC allows.
pub fn parse_range(header: &str, size: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range: the last N bytes.
        return match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if size == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Partial { start: size.saturating_sub(n), end: size - 1 },
            Err(_) => RangeRequest::Full,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Full;
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    let end = if last.is_empty() {
        size - 1
    } else {
        match last.parse::<u64>() {
            Ok(e) if e >= start => e.min(size - 1),
            _ => return RangeRequest::Full,
        }
    };
    RangeRequest::Partial { start, end }
}

/// Parses an upload chunk's `Content-Range`: `<start>-<end>`, inclusive (a `bytes` prefix, as
/// some clients send, is tolerated). `None` when malformed, or so large that its length
/// (`end - start + 1`) would not fit in a `u64`.
pub fn parse_content_range(header: &str) -> Option<(u64, u64)> {
    let s = header.trim();
    let s = s.strip_prefix("bytes=").or_else(|| s.strip_prefix("bytes ")).unwrap_or(s);
    let s = s.split('/').next()?;
    let (a, b) = s.split_once('-')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (start, end) = (a.parse().ok()?, b.parse().ok()?);
    (end >= start && end < u64::MAX).then_some((start, end))
}

/// The `Range` value reported for an upload holding `offset` bytes: `0-<last byte>`.
/// An empty upload reports `0-0`, as CNCF distribution does and clients expect.
pub fn upload_range(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeRequest::Partial { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=90-", 100), RangeRequest::Partial { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=90-200", 100), RangeRequest::Partial { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-10", 100), RangeRequest::Partial { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-1000", 100), RangeRequest::Partial { start: 0, end: 99 });
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeRequest::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeRequest::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeRequest::Full);
        assert_eq!(parse_range("bytes=x-1", 100), RangeRequest::Full);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(parse_content_range("bytes=5-5"), Some((5, 5)));
        assert_eq!(parse_content_range("9-1"), None);
        assert_eq!(parse_content_range("-1"), None);
        assert_eq!(parse_content_range("a-b"), None);
        assert_eq!(parse_content_range("+1-2"), None);
        assert_eq!(parse_content_range("0-18446744073709551615"), None);
        assert_eq!(parse_content_range("0-99999999999999999999999"), None);
    }

    #[test]
    fn upload_ranges() {
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(10), "0-9");
    }
}
