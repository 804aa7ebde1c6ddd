//! Byte-exact comparison of a re-encoded message with the captured one.

/// Where and how two encodings first differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    pub offset: usize,
    /// The captured byte; `None` past its end.
    pub expected: Option<u8>,
    /// The re-encoded byte; `None` past its end.
    pub actual: Option<u8>,
    pub expected_len: usize,
    pub actual_len: usize,
}

/// `None` when `actual` is exactly `expected`.
pub fn compare(expected: &[u8], actual: &[u8]) -> Option<Difference> {
    let offset = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    if offset == expected.len() && offset == actual.len() {
        return None;
    }
    Some(Difference {
        offset,
        expected: expected.get(offset).copied(),
        actual: actual.get(offset).copied(),
        expected_len: expected.len(),
        actual_len: actual.len(),
    })
}

fn byte(b: Option<u8>) -> String {
    b.map_or_else(|| "end".to_string(), |b| format!("{b:#04x}"))
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "re-encoding differs at offset {}: captured {}, encoded {}",
            self.offset,
            byte(self.expected),
            byte(self.actual)
        )?;
        if self.expected_len != self.actual_len {
            write!(
                f,
                " (captured {} bytes, encoded {})",
                self.expected_len, self.actual_len
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_have_no_difference() {
        assert_eq!(compare(b"abcd", b"abcd"), None);
        assert_eq!(compare(b"", b""), None);
    }

    #[test]
    fn first_differing_byte_is_reported() {
        let d = compare(&[1, 2, 3, 4], &[1, 2, 9, 4]).unwrap();
        assert_eq!((d.offset, d.expected, d.actual), (2, Some(3), Some(9)));
        assert_eq!(
            d.to_string(),
            "re-encoding differs at offset 2: captured 0x03, encoded 0x09"
        );
    }

    #[test]
    fn length_differences_point_past_the_shorter() {
        let d = compare(&[1, 2, 3], &[1, 2, 3, 0]).unwrap();
        assert_eq!((d.offset, d.expected, d.actual), (3, None, Some(0)));
        assert!(d.to_string().ends_with("(captured 3 bytes, encoded 4)"));
        let d = compare(&[1, 2, 3, 0], &[1, 2]).unwrap();
        assert_eq!((d.offset, d.expected, d.actual), (2, Some(3), None));
    }
}
