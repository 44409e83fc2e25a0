//! Reading the timestamps SQLite holds as text.
//!
//! Every instant is written as sqlx and `rusqlite_conn::bind` write it, RFC 3339 in UTC:
//! `2026-12-07T10:12:18.123456+00:00` (no fraction, or 3, 6 or 9 digits). A `list_tasks` of 50
//! reads 150 of them, and chrono's general RFC 3339 parser (a scanner over every form the
//! standard allows) was 4 % of the stdio server's CPU for that call. That one form is read here
//! by position; anything else, including any other offset or a leap second, goes to chrono,
//! whose answer is the reference a property test holds this one to.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// The instant `text` names, as chrono's RFC 3339 parser reads it; `None` where that parser
/// refuses it.
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    utc_fast_path(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.to_utc())
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)` with a fraction of 1 to 9 digits; `None` for
/// anything else (the caller then asks chrono).
fn utc_fast_path(text: &[u8]) -> Option<DateTime<Utc>> {
    let date_time = text
        .strip_suffix(b"+00:00")
        .or_else(|| text.strip_suffix(b"Z"))?;
    let (whole, fraction) = match date_time.get(19..)? {
        [] => (date_time, &[][..]),
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => (&date_time[..19], digits),
        _ => return None,
    };
    let [
        y1,
        y2,
        y3,
        y4,
        b'-',
        m1,
        m2,
        b'-',
        d1,
        d2,
        b'T',
        h1,
        h2,
        b':',
        i1,
        i2,
        b':',
        s1,
        s2,
    ] = *whole
    else {
        return None;
    };
    let year = digits(&[y1, y2, y3, y4])?;
    let second = digits(&[s1, s2])?;
    // chrono reads second 60 as a leap second; leave that to it.
    if second >= 60 {
        return None;
    }
    let nanos = digits(fraction)? * 10u32.pow(9 - fraction.len() as u32);
    let date = NaiveDate::from_ymd_opt(year as i32, digits(&[m1, m2])?, digits(&[d1, d2])?)?;
    let time = NaiveTime::from_hms_nano_opt(digits(&[h1, h2])?, digits(&[i1, i2])?, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// The number the ASCII digits spell; `None` if any is not a digit. At most nine digits.
fn digits(ascii: &[u8]) -> Option<u32> {
    ascii.iter().try_fold(0u32, |number, &byte| {
        byte.is_ascii_digit()
            .then(|| number * 10 + u32::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use chrono::SecondsFormat;
    use proptest::prelude::*;

    use super::*;

    fn chrono(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.to_utc())
    }

    #[test]
    fn the_stored_forms_take_the_fast_path() {
        for text in [
            "2026-12-07T10:12:18+00:00",
            "2026-12-07T10:12:18.5+00:00",
            "2026-12-07T10:12:18.123+00:00",
            "2026-12-07T10:12:18.123456+00:00",
            "2026-12-07T10:12:18.123456789Z",
        ] {
            let fast = utc_fast_path(text.as_bytes());
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, chrono(text), "{text}");
        }
    }

    #[test]
    fn other_forms_are_read_by_chrono() {
        for text in [
            "2026-12-07T11:12:18.123456+01:00",
            "2026-12-07 10:12:18+00:00",
            "2026-12-07t10:12:18z",
            "2016-12-31T23:59:60.5Z",
        ] {
            assert_eq!(utc_fast_path(text.as_bytes()), None, "{text}");
            assert_eq!(parse(text), chrono(text), "{text}");
            assert!(parse(text).is_some(), "{text}");
        }
        for text in [
            "",
            "2026-02-30T10:12:18Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T10:12:18.Z",
            "+00:00",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
        // More than nine digits of fraction: whatever chrono makes of it.
        let long = "2026-12-07T10:12:18.1234567890Z";
        assert_eq!(utc_fast_path(long.as_bytes()), None);
        assert_eq!(parse(long), chrono(long));
    }

    /// Text close to the stored form: every separator, fraction length and offset form.
    const NEAR_TIMESTAMP: &str = concat!(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}",
        r"(\.[0-9]{0,10})?(Z|z|\+00:00|[+-][0-9]{2}:[0-9]{2})?",
    );

    const PRECISIONS: [SecondsFormat; 5] = [
        SecondsFormat::Secs,
        SecondsFormat::Millis,
        SecondsFormat::Micros,
        SecondsFormat::Nanos,
        SecondsFormat::AutoSi,
    ];

    proptest! {
        #[test]
        fn any_text_reads_as_chrono_reads_it(text in any::<String>()) {
            prop_assert_eq!(parse(&text), chrono(&text));
        }

        #[test]
        fn near_timestamps_read_as_chrono_reads_them(text in NEAR_TIMESTAMP) {
            prop_assert_eq!(parse(&text), chrono(&text));
        }

        #[test]
        fn every_instant_written_reads_back(
            seconds in 0i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
        ) {
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            for format in PRECISIONS {
                for z in [false, true] {
                    let text = at.to_rfc3339_opts(format, z);
                    prop_assert!(utc_fast_path(text.as_bytes()).is_some(), "{}", text);
                    prop_assert_eq!(parse(&text), chrono(&text));
                }
            }
        }
    }
}
