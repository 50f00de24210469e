//! The weighted rating of API.md's Ranking: WR = v/(v+m)·R + m/(v+m)·C, a movie's mean `R`
//! over its `v` reviews pulled towards the catalogue's mean `C` by `m` reviews' worth of it.
//!
//! Ratings are compared exactly, as fractions of integers: the order must not depend on how
//! a float rounds, and two movies whose ratings differ only far down the decimals must still
//! come in the right order. `m` is any decimal a client sends and `C` a ratio of
//! catalogue-wide sums, so the products outgrow `i128`; they are big integers, whose cost is
//! a few multiplications per candidate of one request.

use std::cmp::Ordering;

use num_bigint::BigInt;

use crate::score::ScoreTally;

/// The most digits a prior weight is written with, and the largest power of ten its
/// exponent may name: room for every double-precision number, written in full or with an
/// exponent (from 5e-324 to 1.8e308), so any number a client's JSON library writes is taken,
/// while the exact value stays an integer of at most a few thousand bits.
const MAX_DIGITS: usize = 400;
const MAX_EXPONENT: i32 = 400;

/// The prior weight `m`, exactly: `numerator / denominator`, both non-negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorWeight {
    numerator: BigInt,
    denominator: BigInt,
}

impl Default for PriorWeight {
    /// API.md's default, 10.
    fn default() -> Self {
        PriorWeight::whole(10)
    }
}

impl PriorWeight {
    /// The weight of `reviews` whole reviews.
    pub fn whole(reviews: u32) -> Self {
        PriorWeight {
            numerator: BigInt::from(reviews),
            denominator: BigInt::from(1),
        }
    }

    /// Reads a weight written as a non-negative decimal number (`10`, `2.5`, `.5`, `1e3`,
    /// `2.5E-1`), exactly; `None` for anything else — a sign, `NaN`, `inf`, garbage — and for
    /// more than [`MAX_DIGITS`] digits or an exponent beyond ±[`MAX_EXPONENT`].
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        let (whole, fraction) = match mantissa.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (mantissa, ""),
        };
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole)
            || !digits(fraction)
            || (whole.is_empty() && fraction.is_empty())
            || (mantissa.contains('.') && fraction.is_empty())
            || whole.len() + fraction.len() > MAX_DIGITS
        {
            return None;
        }
        let exponent = match exponent {
            None => 0,
            Some(written) => {
                let unsigned = written.strip_prefix(['+', '-']).unwrap_or(written);
                if unsigned.is_empty() || unsigned.len() > 3 || !digits(unsigned) {
                    return None;
                }
                let value: i32 = unsigned.parse().ok()?;
                if value > MAX_EXPONENT {
                    return None;
                }
                if written.starts_with('-') {
                    -value
                } else {
                    value
                }
            }
        };
        let numerator: BigInt = format!("{whole}{fraction}").parse().ok()?;
        // The fraction's digits divide by ten each; the exponent multiplies back.
        let scale = exponent - i32::try_from(fraction.len()).ok()?;
        let power = BigInt::from(10).pow(scale.unsigned_abs());
        Some(if scale >= 0 {
            PriorWeight {
                numerator: numerator * power,
                denominator: BigInt::from(1),
            }
        } else {
            PriorWeight {
                numerator,
                denominator: power,
            }
        })
    }

    /// True for `m = 0`, where the weighted rating is the mean itself.
    pub fn is_zero(&self) -> bool {
        self.numerator == BigInt::ZERO
    }
}

/// An exact rating: `numerator / denominator` with a positive denominator.
#[derive(Debug, Clone)]
pub struct Rating {
    numerator: BigInt,
    denominator: BigInt,
}

impl Rating {
    /// The mean of a tally (0 without reviews).
    pub fn mean(tally: ScoreTally) -> Self {
        if tally.count <= 0 {
            return Rating {
                numerator: BigInt::ZERO,
                denominator: BigInt::from(1),
            };
        }
        Rating {
            numerator: BigInt::from(tally.sum),
            denominator: BigInt::from(tally.count),
        }
    }

    /// Rounded half away from zero to two decimals, as API.md shows scores (6.125 → 6.13).
    pub fn rounded(&self) -> f64 {
        let twice = BigInt::from(2) * &self.denominator;
        let magnitude = self.numerator.magnitude();
        let hundredths =
            (BigInt::from(200) * BigInt::from(magnitude.clone()) + &self.denominator) / twice;
        // A rating is a mean of scores 1..10, so the hundredths fit easily; saturate anyway.
        let hundredths = i64::try_from(&hundredths).unwrap_or(i64::MAX) as f64 / 100.0;
        if self.numerator < BigInt::ZERO {
            -hundredths
        } else {
            hundredths
        }
    }
}

impl Ord for Rating {
    fn cmp(&self, other: &Self) -> Ordering {
        // Denominators are positive, so cross-multiplying keeps the order.
        (&self.numerator * &other.denominator).cmp(&(&other.numerator * &self.denominator))
    }
}

impl PartialOrd for Rating {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rating {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rating {}

/// The weighted rating for one request: the catalogue's tally (`C` = its sum / its count)
/// and the prior weight `m`.
#[derive(Debug, Clone)]
pub struct Weighting {
    /// `C`'s numerator and denominator; `0 / 1` while no review counts.
    catalogue_sum: i64,
    catalogue_count: i64,
    weight: PriorWeight,
}

impl Weighting {
    pub fn new(catalogue: ScoreTally, weight: PriorWeight) -> Self {
        let (catalogue_sum, catalogue_count) = if catalogue.count > 0 {
            (catalogue.sum, catalogue.count)
        } else {
            (0, 1)
        };
        Weighting {
            catalogue_sum,
            catalogue_count,
            weight,
        }
    }

    pub fn weight(&self) -> &PriorWeight {
        &self.weight
    }

    /// `C`, the catalogue's mean.
    pub fn catalogue_mean(&self) -> Rating {
        Rating {
            numerator: BigInt::from(self.catalogue_sum),
            denominator: BigInt::from(self.catalogue_count),
        }
    }

    /// How the mean of `tally` compares with `C`.
    pub fn mean_against_catalogue(&self, tally: ScoreTally) -> Ordering {
        let mean = i128::from(tally.sum) * i128::from(self.catalogue_count);
        let catalogue = i128::from(self.catalogue_sum) * i128::from(tally.count.max(1));
        mean.cmp(&catalogue)
    }

    /// The weighted rating of a movie with `tally`'s reviews.
    pub fn rating(&self, tally: ScoreTally) -> Rating {
        self.rating_at(tally, tally.count)
    }

    /// The weighted rating a movie would have with `tally`'s mean and `count` reviews
    /// (at least one): what bounds the movies a read has not reached yet.
    ///
    /// With `R = a/b`, `m = p/q`, `C = T/N`:
    /// `WR = (R·v + m·C) / (v + m) = (a·v·q·N + p·T·b) / (b·N·(v·q + p))`.
    pub fn rating_at(&self, tally: ScoreTally, count: i64) -> Rating {
        let (a, b) = (BigInt::from(tally.sum), BigInt::from(tally.count.max(1)));
        let v = BigInt::from(count.max(1));
        let (p, q) = (&self.weight.numerator, &self.weight.denominator);
        let (t, n) = (
            BigInt::from(self.catalogue_sum),
            BigInt::from(self.catalogue_count),
        );
        Rating {
            numerator: &a * &v * q * &n + p * &t * &b,
            denominator: &b * &n * (&v * q + p),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn weight(text: &str) -> PriorWeight {
        PriorWeight::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    fn tally(sum: i64, count: i64) -> ScoreTally {
        ScoreTally { sum, count }
    }

    #[test]
    fn a_weight_is_any_non_negative_decimal_read_exactly() {
        assert_eq!(weight("10"), PriorWeight::whole(10));
        assert_eq!(weight("0"), PriorWeight::whole(0));
        assert_eq!(weight(" 25 "), PriorWeight::whole(25));
        assert_eq!(weight("1e3"), PriorWeight::whole(1000));
        assert_eq!(weight("2.5E+2"), PriorWeight::whole(250));
        assert_eq!(weight("0.25"), weight(".25"));
        assert_eq!(weight("25e-2"), weight("0.25"));
        let quarter = weight("0.25");
        assert_eq!(quarter.numerator, BigInt::from(25));
        assert_eq!(quarter.denominator, BigInt::from(100));
        assert!(weight("0.000").is_zero());
        assert!(!weight("0.001").is_zero());
    }

    #[test]
    fn a_weight_refuses_signs_specials_and_garbage() {
        for bad in [
            "", " ", "-1", "-0.5", "+1", "NaN", "nan", "inf", "-inf", "Infinity", "1e", "e3", "1.",
            ".", "1.2.3", "0x10", "1_000", "ten", "1e401", "1e-401", "1e4000", "1,5",
        ] {
            assert_eq!(PriorWeight::parse(bad), None, "{bad:?}");
        }
        assert_eq!(PriorWeight::parse(&"9".repeat(MAX_DIGITS + 1)), None);
        assert!(PriorWeight::parse(&"9".repeat(MAX_DIGITS)).is_some());
        // Every double: the largest, the smallest and one a fuzzer sent, also written in full.
        for double in [f64::MAX, f64::MIN_POSITIVE, 5e-324, 4.0281193454458543e217] {
            assert!(
                PriorWeight::parse(&format!("{double:e}")).is_some(),
                "{double:e}"
            );
            assert!(
                PriorWeight::parse(&format!("{double}")).is_some(),
                "{double}"
            );
        }
        assert!(PriorWeight::parse("1e400").is_some());
    }

    #[test]
    fn the_weighted_rating_blends_the_mean_with_the_catalogues() {
        // C = 6, m = 10: a single 10 is (10 + 60) / 11.
        let weighting = Weighting::new(tally(60, 10), PriorWeight::default());
        let single_ten = weighting.rating(tally(10, 1));
        assert_eq!(single_ten.rounded(), 6.36);
        // A hundred reviews averaging 8: (800 + 60) / 110 = 7.818…
        assert_eq!(weighting.rating(tally(800, 100)).rounded(), 7.82);
        // m = 0 is the mean itself.
        let plain = Weighting::new(tally(60, 10), PriorWeight::whole(0));
        assert_eq!(plain.rating(tally(29, 3)), Rating::mean(tally(29, 3)));
        assert_eq!(plain.rating(tally(29, 3)).rounded(), 9.67);
    }

    #[test]
    fn rounding_is_half_away_from_zero_and_exact() {
        // 6.125 exactly: C = 6.125, any movie at C has WR = C.
        let weighting = Weighting::new(tally(49, 8), PriorWeight::default());
        assert_eq!(weighting.rating(tally(49, 8)).rounded(), 6.13);
        assert_eq!(weighting.catalogue_mean().rounded(), 6.13);
        assert_eq!(Rating::mean(tally(0, 0)).rounded(), 0.0);
    }

    #[test]
    fn a_catalogue_without_reviews_has_mean_zero() {
        let weighting = Weighting::new(tally(0, 0), PriorWeight::default());
        assert_eq!(weighting.catalogue_mean().rounded(), 0.0);
        assert_eq!(
            weighting.mean_against_catalogue(tally(5, 1)),
            Ordering::Greater
        );
    }

    proptest! {
        /// The exact order agrees with a float computation wherever the floats are far
        /// enough apart to be trusted.
        #[test]
        fn the_exact_order_agrees_with_floats_where_they_are_clear(
            catalogue_sum in 1i64..100_000, catalogue_extra in 0i64..10_000,
            (a_sum, a_count) in (1i64..1000).prop_flat_map(|c| (c..=10 * c, Just(c))),
            (b_sum, b_count) in (1i64..1000).prop_flat_map(|c| (c..=10 * c, Just(c))),
            m_hundredths in 0u32..100_000,
        ) {
            let catalogue = tally(catalogue_sum + catalogue_extra, catalogue_sum / 10 + 1);
            let m = weight(&format!("{}.{:02}", m_hundredths / 100, m_hundredths % 100));
            let weighting = Weighting::new(catalogue, m);
            let float = |sum: i64, count: i64| {
                let c = catalogue.sum as f64 / catalogue.count as f64;
                let m = f64::from(m_hundredths) / 100.0;
                (sum as f64 + m * c) / (count as f64 + m)
            };
            let (fa, fb) = (float(a_sum, a_count), float(b_sum, b_count));
            let exact = weighting.rating(tally(a_sum, a_count)).cmp(&weighting.rating(tally(b_sum, b_count)));
            if (fa - fb).abs() > 1e-9 {
                prop_assert_eq!(exact, fa.partial_cmp(&fb).unwrap());
            }
            prop_assert!((weighting.rating(tally(a_sum, a_count)).rounded() - fa).abs() <= 0.005 + 1e-9);
        }
    }
}
