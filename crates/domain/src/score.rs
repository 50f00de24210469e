//! A movie's score: the exact mean of its review scores, kept as an integer sum and count.

/// Sum and count of a movie's review scores; the mean is exact because nothing is rounded
/// until it is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreTally {
    pub sum: i64,
    pub count: i64,
}

impl ScoreTally {
    /// The mean rounded half away from zero to two decimals (6.125 → 6.13), `None` without reviews.
    pub fn rounded_mean(self) -> Option<f64> {
        if self.count <= 0 {
            return None;
        }
        // Integer arithmetic keeps 6.125 from becoming 6.12 through binary floating point.
        let hundredths = (200 * self.sum + self.count) / (2 * self.count);
        Some(hundredths as f64 / 100.0)
    }

    /// A fixed-width key whose text order is descending exact mean: used to sort top-rated.
    /// Two means of counts below 10^7 differ by more than 10^-14, so 15 decimals keep them apart.
    pub fn descending_mean_key(self) -> String {
        let scale: i128 = 1_000_000_000_000_000;
        let scaled = if self.count <= 0 {
            0
        } else {
            i128::from(self.sum) * scale / i128::from(self.count)
        };
        format!("{:020}", 11 * scale - scaled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(sum: i64, count: i64) -> Option<f64> {
        ScoreTally { sum, count }.rounded_mean()
    }

    #[test]
    fn rounds_half_away_from_zero_to_two_decimals() {
        assert_eq!(mean(49, 8), Some(6.13)); // 6.125
        assert_eq!(mean(29, 3), Some(9.67));
        assert_eq!(mean(20, 3), Some(6.67));
        assert_eq!(mean(10, 3), Some(3.33));
        assert_eq!(mean(7, 1), Some(7.0));
        assert_eq!(mean(0, 0), None);
    }

    #[test]
    fn mean_key_orders_by_exact_mean_descending() {
        let high = ScoreTally { sum: 29, count: 3 }.descending_mean_key();
        let low = ScoreTally {
            sum: 9666,
            count: 1000,
        }
        .descending_mean_key();
        assert!(high < low, "29/3 > 9.666 must sort first");
        let ten = ScoreTally { sum: 10, count: 1 }.descending_mean_key();
        assert!(ten < high);
    }
}
