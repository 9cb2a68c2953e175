//! The API's `DateTime` scalar as the objects a response holds many of send it, written by hand.
//!
//! async-graphql's `DateTime<Utc>` scalar writes its value with `chrono`'s general RFC 3339
//! writer (`to_rfc3339`), through `fmt::Write`, each field of the date computed again from the
//! instant: some 390 instructions per instant, 2% of the nested query's (120 instants,
//! `bench/rounds/count.sh instructions`). [`Instant`] is the same scalar (same name,
//! description and `specifiedBy`, parsed by async-graphql's own parser) written into one
//! buffer, its fields computed once, in some 230 instructions, to the same string:
//! `YYYY-MM-DDTHH:MM:SS`, then the fraction `chrono` writes (none, 3, 6 or 9 digits, the fewest
//! that hold it), then `+00:00`. Instants its fixed layout does not hold (years outside 0 to
//! 9999, leap seconds) are written by `chrono`.
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, Datelike, Timelike, Utc};

/// An instant the API sends as its `DateTime` scalar (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub DateTime<Utc>);

/// Implement the DateTime<Utc> scalar
///
/// The input/output is a string in RFC3339 format.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for Instant {
    fn parse(value: Value) -> InputValueResult<Self> {
        <DateTime<Utc> as ScalarType>::parse(value)
            .map(Instant)
            .map_err(InputValueError::propagate)
    }

    fn to_value(&self) -> Value {
        Value::String(rfc3339(self.0))
    }
}

/// `t` as `chrono`'s `to_rfc3339` writes it (see the module).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    // A `DateTime`'s fields are computed from its UTC time on every call: taken once.
    let utc = t.naive_utc();
    let (date, time) = (utc.date(), utc.time());
    let (year, nanos) = (date.year(), time.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.to_rfc3339();
    }
    let mut out = Vec::with_capacity(35);
    digits(&mut out, year.unsigned_abs(), 4);
    for (separator, value) in [
        (b'-', date.month()),
        (b'-', date.day()),
        (b'T', time.hour()),
        (b':', time.minute()),
        (b':', time.second()),
    ] {
        out.push(separator);
        digits(&mut out, value, 2);
    }
    let fraction = match nanos {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        out.push(b'.');
        digits(&mut out, value, width);
    }
    out.extend_from_slice(b"+00:00");
    String::from_utf8(out).unwrap_or_else(|_| t.to_rfc3339())
}

/// Appends `value`'s last `width` decimal digits to `out`, zeros first.
fn digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    let mut rest = value;
    for digit in out[start..].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
            .single()
            .expect("an instant")
    }

    /// Instants spread over the years the fixed layout holds and beyond, with every kind of
    /// fraction, written as `chrono` writes them.
    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        let mut cases = vec![
            at(2026, 12, 4, 9, 5, 7),
            at(0, 1, 1, 0, 0, 0),
            at(1, 1, 1, 0, 0, 0),
            at(9999, 12, 31, 23, 59, 59),
            at(10000, 1, 1, 0, 0, 0),
            at(-1, 6, 15, 12, 0, 0),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        // A leap second: chrono keeps it in the nanoseconds, past a billion.
        cases.push(
            Utc.from_utc_datetime(
                &chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                    .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
                    .expect("a leap second"),
            ),
        );
        // From year 1 to 9999, a century and seven seconds at a step: months, days and times
        // vary.
        let mut seconds: i64 = -62_135_596_800; // 0001-01-01
        while let Some(t) = DateTime::from_timestamp(seconds, 0) {
            if t.year() > 9999 {
                break;
            }
            for nanos in [
                0,
                1,
                120_000_000,
                123_456_000,
                999_999_999,
                5_000,
                5_000_000,
            ] {
                cases.push(
                    t.with_nanosecond(nanos)
                        .expect("nanoseconds under a billion"),
                );
            }
            seconds += 3_155_760_007;
        }
        assert!(cases.len() > 250, "{} cases", cases.len());
        for t in cases {
            assert_eq!(rfc3339(t), t.to_rfc3339(), "{t:?}");
            assert_eq!(Instant(t).to_value(), Value::String(t.to_rfc3339()));
        }
    }

    /// The schema holds one `DateTime` scalar for two Rust types (this one and async-graphql's,
    /// `Schema::build_with_ignore_name_conflicts`): whichever registers first, it says the same.
    #[test]
    fn the_scalar_is_described_as_async_graphqls() {
        use async_graphql::OutputType;
        use async_graphql::registry::{MetaType, Registry};
        fn described<T: OutputType>() -> (String, Option<String>, Option<String>) {
            let mut registry = Registry::default();
            T::create_type_info(&mut registry);
            let name = T::type_name();
            match registry.types.get(name.as_ref()) {
                Some(MetaType::Scalar {
                    name,
                    description,
                    specified_by_url,
                    ..
                }) => (name.clone(), description.clone(), specified_by_url.clone()),
                _ => panic!("{name} is no scalar"),
            }
        }
        let ours = described::<Instant>();
        assert_eq!(ours, described::<DateTime<Utc>>());
        assert_eq!(ours.0, "DateTime");
        assert!(ours.1.is_some_and(|d| d.contains("RFC3339")));
    }

    /// What async-graphql's scalar reads, this one reads; what it refuses, this one refuses.
    #[test]
    fn instants_are_parsed_as_async_graphql_parses_them() {
        for text in [
            "2026-12-04T09:05:07Z",
            "2026-12-04T09:05:07.5+02:00",
            "0001-01-01T00:00:00+00:00",
            "2026-12-04",
            "yesterday",
            "",
        ] {
            let value = Value::String(text.to_owned());
            let ours = Instant::parse(value.clone()).map(|i| i.0);
            let theirs = <DateTime<Utc> as ScalarType>::parse(value);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{text}");
            if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                assert_eq!(a, b, "{text}");
            }
        }
        assert!(Instant::parse(Value::Number(7.into())).is_err());
    }
}
