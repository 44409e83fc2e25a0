//! Dates in plain English, resolved on the user's clock: `today`, `tonight`, `tomorrow`,
//! `the day after tomorrow`, `friday`, `on friday`, `this friday`, `next friday` (all the
//! coming Friday, 1 to 7 days ahead), `next week`, `in 3 days`, `in a week`, `2026-12-01`,
//! `jan 1`, `december 24`, `24 december`, `the 1st of january` (the next such day, or in the
//! year given after it), each optionally followed by a time: `at 5pm`, `at 17:30`, `at noon`,
//! `by 5pm`, or without `at` one that cannot be a number of something else (`5pm`, `17:30`).
//! A date without a time means 17:00, the end of a working day; `tonight` means 20:00.

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, NaiveTime, Weekday};

use crate::chat::clock::UserClock;

/// Words that may introduce a date and go with it.
const CONNECTORS: [&str; 6] = ["for", "by", "due", "on", "until", "before"];

/// A date phrase found in a list of words: where it is and what it means.
#[derive(Debug, PartialEq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub due: DateTime<FixedOffset>,
}

/// Finds the first date phrase in `words` (lower case, punctuation trimmed).
pub fn find(words: &[&str], clock: &UserClock) -> Option<Found> {
    (0..words.len()).find_map(|start| {
        let (date, mut end, default_time) = date_at(words, start, clock)?;
        let mut time = default_time;
        if let Some((at, after)) = time_at(words, end).or_else(|| bare_time_at(words, end)) {
            time = at;
            end = after;
        }
        let mut start = start;
        // "due on friday", "by tomorrow": the connectors belong to the date.
        while start > 0 && CONNECTORS.contains(&words[start - 1]) {
            start -= 1;
        }
        Some(Found {
            start,
            end,
            due: clock.at(date, time),
        })
    })
}

fn five_pm() -> NaiveTime {
    NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default()
}

/// A date starting at `words[i]`: the date, the index after it and its default time.
fn date_at(words: &[&str], i: usize, clock: &UserClock) -> Option<(NaiveDate, usize, NaiveTime)> {
    let today = clock.today();
    let word = |k: usize| words.get(i + k).copied().unwrap_or("");
    let days = |n: i64| today + Duration::days(n);
    match word(0) {
        "today" => Some((today, i + 1, five_pm())),
        "tonight" => Some((today, i + 1, NaiveTime::from_hms_opt(20, 0, 0)?)),
        "tomorrow" => Some((days(1), i + 1, five_pm())),
        "the" if word(1) == "day" && word(2) == "after" && word(3) == "tomorrow" => {
            Some((days(2), i + 4, five_pm()))
        }
        "day" if word(1) == "after" && word(2) == "tomorrow" => Some((days(2), i + 3, five_pm())),
        "next" if word(1) == "week" => Some((days(7), i + 2, five_pm())),
        "next" | "this" | "coming" => {
            let weekday = weekday(word(1))?;
            Some((coming(today, weekday), i + 2, five_pm()))
        }
        "in" => {
            let count = match word(1) {
                "a" | "an" | "one" => 1,
                number => number
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=3650).contains(n))?,
            };
            let unit = match word(2) {
                "day" | "days" => 1,
                "week" | "weeks" => 7,
                _ => return None,
            };
            Some((days(count * unit), i + 3, five_pm()))
        }
        other => {
            if let Some(weekday) = weekday(other) {
                return Some((coming(today, weekday), i + 1, five_pm()));
            }
            if let Some((date, end)) = day_of_month_at(words, i, today) {
                return Some((date, end, five_pm()));
            }
            let date = NaiveDate::parse_from_str(other, "%Y-%m-%d").ok()?;
            Some((date, i + 1, five_pm()))
        }
    }
}

/// `jan 1`, `january 1st`, `1 january`, `1st of january`, `the 1st of january`, each with an
/// optional year after it: the date and the index after the phrase. Without a year it is the
/// next such day from `today` (today included).
fn day_of_month_at(words: &[&str], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let word = |k: usize| words.get(i + k).copied().unwrap_or("");
    let (month, day, mut end) = if let Some(month) = month(word(0)) {
        (month, day_number(word(1))?, i + 2)
    } else {
        // "the 1st of january": "the" only before an ordinal, so "the 5 boxes" is no date.
        let (skip, day) = match (word(0), day_number(word(0))) {
            ("the", _) if word(1).ends_with(['t', 'd', 'h']) => (1, day_number(word(1))?),
            (_, Some(day)) => (0, day),
            _ => return None,
        };
        let of = usize::from(word(skip + 1) == "of");
        (month(word(skip + 1 + of))?, day, i + skip + 2 + of)
    };
    let explicit_year = words
        .get(end)
        .and_then(|year| year.parse::<i32>().ok())
        .filter(|year| (1970..=9999).contains(year));
    if let Some(year) = explicit_year {
        end += 1;
        return Some((NaiveDate::from_ymd_opt(year, month, day)?, end));
    }
    let this_year = NaiveDate::from_ymd_opt(today.year(), month, day);
    let date = match this_year {
        Some(date) if date >= today => date,
        // Passed this year (or 29 February of a common year): the next one that exists.
        _ => (1..=8).find_map(|ahead| NaiveDate::from_ymd_opt(today.year() + ahead, month, day))?,
    };
    Some((date, end))
}

/// `1`, `1st`, `2nd`, `3rd`, `24th`: a day of a month.
fn day_number(word: &str) -> Option<u32> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|suffix| word.strip_suffix(suffix))
        .unwrap_or(word);
    digits
        .parse::<u32>()
        .ok()
        .filter(|day| (1..=31).contains(day) && digits.len() <= 2)
}

fn month(word: &str) -> Option<u32> {
    Some(match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// A time right after a date without `at`: only one that cannot be something else (`5pm`,
/// `5 pm`, `17:30`, `noon`), so "friday 3 boxes" keeps its number.
fn bare_time_at(words: &[&str], i: usize) -> Option<(NaiveTime, usize)> {
    let first = *words.get(i)?;
    let unambiguous = matches!(first, "noon" | "midnight")
        || first.contains(':')
        || first.ends_with("am")
        || first.ends_with("pm")
        || matches!(words.get(i + 1), Some(&("am" | "pm")));
    if !unambiguous {
        return None;
    }
    // Read it as if "at" stood before it.
    let mut with_at = vec!["at"];
    with_at.extend_from_slice(&words[i..words.len().min(i + 2)]);
    time_at(&with_at, 0).map(|(time, used)| (time, i + used - 1))
}

/// `at 5pm`, `at 5 pm`, `at 17:30`, `at noon` (or `by 5pm`) starting at `words[i]`.
fn time_at(words: &[&str], i: usize) -> Option<(NaiveTime, usize)> {
    if !matches!(words.get(i), Some(&("at" | "by"))) {
        return None;
    }
    let first = *words.get(i + 1)?;
    if first == "noon" {
        return Some((NaiveTime::from_hms_opt(12, 0, 0)?, i + 2));
    }
    if first == "midnight" {
        return Some((NaiveTime::from_hms_opt(23, 59, 0)?, i + 2));
    }
    let (clock, suffix, used) = match words.get(i + 2) {
        Some(&next @ ("am" | "pm")) => (first, next, 3),
        _ => match first
            .strip_suffix("am")
            .or_else(|| first.strip_suffix("pm"))
        {
            Some(number) => (number, &first[number.len()..], 2),
            None => (first, "", 2),
        },
    };
    let (hour, minute) = match clock.split_once(':') {
        Some((hour, minute)) => (hour.parse::<u32>().ok()?, minute.parse::<u32>().ok()?),
        None => (clock.parse::<u32>().ok()?, 0),
    };
    let hour = match (suffix, hour) {
        ("am", 12) => 0,
        ("pm", 1..=11) => hour + 12,
        ("am" | "pm", 13..) => return None,
        _ => hour,
    };
    Some((NaiveTime::from_hms_opt(hour, minute, 0)?, i + used))
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// The next `weekday` after `today`: 1 to 7 days ahead.
fn coming(today: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (weekday.num_days_from_monday() as i64
        - today.weekday().num_days_from_monday() as i64)
        .rem_euclid(7);
    today + Duration::days(if ahead == 0 { 7 } else { ahead })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::clock::test_clock;

    /// Wednesday 25 November 2026, 10:00 UTC.
    fn clock(zone: &str) -> UserClock {
        test_clock(zone)
    }

    fn due(text: &str, zone: &str) -> Option<String> {
        let words: Vec<&str> = text.split(' ').collect();
        find(&words, &clock(zone)).map(|found| found.due.to_rfc3339())
    }

    #[test]
    fn relative_dates_resolve_on_the_users_clock() {
        assert_eq!(due("today", "UTC").unwrap(), "2026-11-25T17:00:00+00:00");
        assert_eq!(due("tomorrow", "UTC").unwrap(), "2026-11-26T17:00:00+00:00");
        assert_eq!(
            due("tomorrow", "Europe/Berlin").unwrap(),
            "2026-11-26T17:00:00+01:00"
        );
        assert_eq!(
            due("tomorrow", "+14:00").unwrap(),
            "2026-11-27T17:00:00+14:00"
        );
        assert_eq!(
            due("next friday", "UTC").unwrap(),
            "2026-11-27T17:00:00+00:00"
        );
        assert_eq!(
            due("wednesday", "UTC").unwrap(),
            "2026-12-02T17:00:00+00:00"
        );
        assert_eq!(
            due("in 3 days", "UTC").unwrap(),
            "2026-11-28T17:00:00+00:00"
        );
        assert_eq!(
            due("in a week", "UTC").unwrap(),
            "2026-12-02T17:00:00+00:00"
        );
        assert_eq!(
            due("next week", "UTC").unwrap(),
            "2026-12-02T17:00:00+00:00"
        );
        assert_eq!(
            due("the day after tomorrow", "UTC").unwrap(),
            "2026-11-27T17:00:00+00:00"
        );
        assert_eq!(
            due("2026-12-24", "UTC").unwrap(),
            "2026-12-24T17:00:00+00:00"
        );
        assert_eq!(due("tonight", "UTC").unwrap(), "2026-11-25T20:00:00+00:00");
    }

    #[test]
    fn times_and_connectors_belong_to_the_date() {
        let words = ["call", "bob", "by", "tomorrow", "at", "9am"];
        let found = find(&words, &clock("UTC")).unwrap();
        assert_eq!((found.start, found.end), (2, 6));
        assert_eq!(found.due.to_rfc3339(), "2026-11-26T09:00:00+00:00");
        assert_eq!(
            due("friday at 5 pm", "UTC").unwrap(),
            "2026-11-27T17:00:00+00:00"
        );
        assert_eq!(
            due("friday at 12am", "UTC").unwrap(),
            "2026-11-27T00:00:00+00:00"
        );
        assert_eq!(
            due("today at 14:30", "UTC").unwrap(),
            "2026-11-25T14:30:00+00:00"
        );
        assert_eq!(
            due("today at noon", "UTC").unwrap(),
            "2026-11-25T12:00:00+00:00"
        );
    }

    #[test]
    fn words_that_are_not_dates_are_left_alone() {
        assert_eq!(due("buy milk", "UTC"), None);
        assert_eq!(due("in the garden", "UTC"), None);
        assert_eq!(due("next steps", "UTC"), None);
        assert_eq!(due("the 5 boxes", "UTC"), None);
        assert_eq!(due("may i", "UTC"), None);
        assert_eq!(due("feb 30", "UTC"), None);
    }

    #[test]
    fn days_of_a_month_are_the_next_such_day() {
        // Today is Wednesday 25 November 2026.
        assert_eq!(due("jan 1", "UTC").unwrap(), "2027-01-01T17:00:00+00:00");
        assert_eq!(
            due("the 1st of january", "UTC").unwrap(),
            "2027-01-01T17:00:00+00:00"
        );
        assert_eq!(
            due("december 24", "UTC").unwrap(),
            "2026-12-24T17:00:00+00:00"
        );
        assert_eq!(
            due("24th december", "UTC").unwrap(),
            "2026-12-24T17:00:00+00:00"
        );
        assert_eq!(
            due("november 25", "UTC").unwrap(),
            "2026-11-25T17:00:00+00:00"
        );
        assert_eq!(
            due("november 24", "UTC").unwrap(),
            "2027-11-24T17:00:00+00:00"
        );
        assert_eq!(
            due("3 march 2028 at 9am", "UTC").unwrap(),
            "2028-03-03T09:00:00+00:00"
        );
        assert_eq!(due("feb 29", "UTC").unwrap(), "2028-02-29T17:00:00+00:00");
    }

    #[test]
    fn a_time_without_at_must_look_like_one() {
        assert_eq!(
            due("friday 5pm", "UTC").unwrap(),
            "2026-11-27T17:00:00+00:00"
        );
        assert_eq!(
            due("tomorrow 9:30", "UTC").unwrap(),
            "2026-11-26T09:30:00+00:00"
        );
        let words = ["friday", "3", "boxes"];
        let found = find(&words, &clock("UTC")).unwrap();
        assert_eq!((found.start, found.end), (0, 1));
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Date words in any order, with any numbers and times, in any zone: a date or none,
        /// never a panic (day counts, DST gaps and the ends of the calendar included).
        #[test]
        fn any_date_words_resolve_or_are_left_alone(
            words in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "today", "tonight", "tomorrow", "the", "day", "after", "next", "this",
                        "coming", "week", "weeks", "in", "a", "an", "one", "days", "at", "noon",
                        "midnight", "friday", "sunday", "by", "on", "due", "pm", "am",
                        "of", "jan", "may", "february", "1st", "29th", "31",
                    ]).prop_map(str::to_owned),
                    "-?[0-9]{1,12}",
                    "[0-9]{1,2}(:[0-9]{1,3})?(am|pm)?",
                    "[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}",
                    "\\PC{0,6}",
                ],
                0..8,
            ),
            zone in proptest::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York", "+14:00", "-12:00", "Pacific/Apia"]),
        ) {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let _ = find(&words, &clock(zone));
        }
    }
}
