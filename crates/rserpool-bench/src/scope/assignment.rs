//! Which registrars the PEs (or the PUs) use: one, or several taken in
//! turn (PE i goes to the (i mod n)-th of them).

use std::fmt;
use std::str::FromStr;

/// A non-empty set of registrars by their 1-based numbers (1 to 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment(u64);

impl Assignment {
    pub const PR1: Assignment = Assignment(1);
    pub const PR2: Assignment = Assignment(2);

    /// Registrar `n` alone; `None` outside 1..=64.
    pub fn one(n: usize) -> Option<Assignment> {
        (1..=64).contains(&n).then(|| Assignment(1 << (n - 1)))
    }

    /// The registrar numbers, ascending.
    pub fn members(self) -> impl Iterator<Item = usize> {
        (1..=64).filter(move |n| self.0 & (1 << (n - 1)) != 0)
    }

    /// The highest registrar number.
    pub fn highest(self) -> usize {
        64 - self.0.leading_zeros() as usize
    }

    /// The registrar if there is just one.
    pub fn only(self) -> Option<usize> {
        (self.0.count_ones() == 1).then(|| self.highest())
    }
}

impl FromStr for Assignment {
    type Err = String;

    /// `1`, or several as `1,2` or `1+2`.
    fn from_str(s: &str) -> Result<Assignment, String> {
        let mut bits = 0u64;
        for part in s.split([',', '+']) {
            let n: usize = part
                .trim()
                .parse()
                .map_err(|_| format!("{s:?}: registrar numbers like 1 or 1,2 expected"))?;
            let one = Assignment::one(n)
                .ok_or_else(|| format!("{s:?}: registrars are numbered from 1 to 64"))?;
            bits |= one.0;
        }
        Ok(Assignment(bits))
    }
}

/// `1` or `1+2`: no comma, so it fits in a CSV field.
impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.members().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_or_several() {
        let a: Assignment = "2".parse().unwrap();
        assert_eq!(a.only(), Some(2));
        assert_eq!(a.to_string(), "2");
        let b: Assignment = "3,1".parse().unwrap();
        assert_eq!(b.members().collect::<Vec<_>>(), [1, 3]);
        assert_eq!(b.only(), None);
        assert_eq!(b.highest(), 3);
        assert_eq!(b.to_string(), "1+3");
        assert_eq!("1+3".parse::<Assignment>().unwrap(), b);
    }

    #[test]
    fn refuses_zero_junk_and_too_many() {
        assert!("0".parse::<Assignment>().is_err());
        assert!("65".parse::<Assignment>().is_err());
        assert!("".parse::<Assignment>().is_err());
        assert!("1,x".parse::<Assignment>().is_err());
        assert_eq!(Assignment::one(0), None);
    }
}
