//! The user's clock: "now" in the time zone the client sent (`time_zone`: an IANA name such as
//! `Europe/Berlin`, or a UTC offset such as `+02:00`), UTC when it sent none. Relative dates
//! ("tomorrow", "next friday") are resolved against it.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A time zone as the client named it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

/// `now` in the user's zone.
#[derive(Debug, Clone)]
pub struct UserClock {
    pub zone: Zone,
    pub now: DateTime<Utc>,
}

/// A `time_zone` that is neither a zone name nor an offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "time_zone {raw:?} is neither an IANA time zone (like Europe/Berlin) nor a UTC offset (like +02:00)"
)]
pub struct UnknownZone {
    raw: String,
}

impl Zone {
    pub fn utc() -> Self {
        Zone::Fixed(Utc.fix())
    }

    /// Parses `Europe/Berlin`, `UTC`, `Z`, `+02:00`, `-0530` or `+2`.
    pub fn parse(raw: &str) -> Result<Self, UnknownZone> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("utc") || raw == "Z" {
            return Ok(Self::utc());
        }
        if let Some(offset) = parse_offset(raw) {
            return Ok(Zone::Fixed(offset));
        }
        Tz::from_str(raw).map(Zone::Named).map_err(|_| UnknownZone {
            // Quoted back to the client: a bounded excerpt of what it sent.
            raw: raw.chars().take(64).collect(),
        })
    }

    fn offset_at(&self, instant: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Named(tz) => tz.offset_from_utc_datetime(&instant.naive_utc()).fix(),
            Zone::Fixed(offset) => *offset,
        }
    }

    /// How a model should read this zone's name.
    pub fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_owned(),
            Zone::Fixed(offset) if offset.local_minus_utc() == 0 => "UTC".to_owned(),
            Zone::Fixed(offset) => format!("UTC{offset}"),
        }
    }
}

fn parse_offset(raw: &str) -> Option<FixedOffset> {
    let unsigned = raw.strip_prefix("UTC").unwrap_or(raw);
    let (sign, rest) = if let Some(rest) = unsigned.strip_prefix('+') {
        (1, rest)
    } else if let Some(rest) = unsigned.strip_prefix('-') {
        (-1, rest)
    } else {
        return None;
    };
    // Only ASCII digits from here on, so every index below falls on a character boundary.
    if !rest
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b':')
    {
        return None;
    }
    let (hours, minutes) = match rest.split_once(':') {
        Some((hours, minutes)) => (hours, minutes),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if !(0..=14).contains(&hours) || !(0..60).contains(&minutes) {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

impl UserClock {
    pub fn new(zone: Zone, now: DateTime<Utc>) -> Self {
        Self { zone, now }
    }

    /// Now, in the user's zone.
    pub fn local_now(&self) -> DateTime<FixedOffset> {
        self.now.with_timezone(&self.zone.offset_at(self.now))
    }

    pub fn today(&self) -> NaiveDate {
        self.local_now().date_naive()
    }

    /// `date` at `time` in the user's zone; in a DST gap, the first valid instant after it.
    pub fn at(&self, date: NaiveDate, time: NaiveTime) -> DateTime<FixedOffset> {
        let naive = date.and_time(time);
        match self.zone {
            Zone::Fixed(offset) => offset
                .from_local_datetime(&naive)
                .earliest()
                .unwrap_or_else(|| naive.and_utc().fixed_offset()),
            Zone::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .or_else(|| {
                    tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                        .earliest()
                })
                .map(|local| local.fixed_offset())
                .unwrap_or_else(|| naive.and_utc().fixed_offset()),
        }
    }
}

/// Wednesday 25 November 2026, 10:00 UTC, in `zone`: the clock of the unit tests.
#[cfg(test)]
pub fn test_clock(zone: &str) -> UserClock {
    UserClock::new(
        Zone::parse(zone).unwrap_or(Zone::Fixed(Utc.fix())),
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_from_names_and_offsets() {
        assert_eq!(Zone::parse("UTC").unwrap().name(), "UTC");
        assert_eq!(
            Zone::parse("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert_eq!(Zone::parse("+02:00").unwrap().name(), "UTC+02:00");
        assert_eq!(Zone::parse("-0530").unwrap().name(), "UTC-05:30");
        assert_eq!(Zone::parse("+2").unwrap().name(), "UTC+02:00");
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
        assert!(Zone::parse("+€1").is_err());
        assert!(Zone::parse("UTC+€1").is_err());
        assert!(Zone::parse("-1€11").is_err());
    }

    proptest::proptest! {
        /// Whatever a client sends as `time_zone`, the answer is a zone or an error.
        #[test]
        fn any_time_zone_text_parses_or_is_refused(raw in "\\PC{0,12}", prefix in "(UTC)?[+-]?") {
            let _ = Zone::parse(&raw);
            let _ = Zone::parse(&format!("{prefix}{raw}"));
        }
    }

    #[test]
    fn local_time_follows_the_zone() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 23, 30, 0).unwrap();
        let berlin = UserClock::new(Zone::parse("Europe/Berlin").unwrap(), now);
        assert_eq!(berlin.today().to_string(), "2026-11-26");
        let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap();
        assert_eq!(
            berlin.at(berlin.today(), noon).to_rfc3339(),
            "2026-11-26T12:00:00+01:00"
        );
        let utc = UserClock::new(Zone::parse("UTC").unwrap(), now);
        assert_eq!(utc.today().to_string(), "2026-11-25");
    }
}
