//! Validated task fields.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use todo_migrations::text;
use unicode_segmentation::UnicodeSegmentation as _;

use super::ValidationError;

pub(crate) const TITLE_MAX_CHARS: usize = 200;
pub(crate) const DESCRIPTION_MAX_CHARS: usize = 4_000;
pub(crate) const MAX_TAGS: usize = 10;
pub(crate) const TAG_MAX_CHARS: usize = 32;

/// A task title: in NFC, trimmed, 1 to 200 characters (counted in NFC), one line, with
/// something visible in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let title = text::nfc(raw.trim());
        let title = title.trim();
        let length = title.chars().count();
        if length == 0 || text::is_blank(title) {
            return Err(ValidationError::TitleEmpty);
        }
        if length > TITLE_MAX_CHARS {
            return Err(ValidationError::TitleTooLong { length });
        }
        if title.chars().any(char::is_control) {
            return Err(ValidationError::TitleControlCharacter);
        }
        Ok(Self(title.to_owned()))
    }

    /// A title read back from the store, which only ever holds parsed titles.
    pub(crate) fn from_stored(title: String) -> Self {
        Self(title)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text about a task, in NFC, up to 4,000 characters. Blank text means "no description".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// `Ok(None)` for blank input, so clients can clear a description with `""`.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        // Only the ends are trimmed: line breaks and indentation inside are the user's.
        let normalized = text::nfc(raw.trim());
        let description = normalized.trim();
        if text::is_blank(description) {
            return Ok(None);
        }
        let length = description.chars().count();
        if length > DESCRIPTION_MAX_CHARS {
            return Err(ValidationError::DescriptionTooLong { length });
        }
        if description
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(ValidationError::DescriptionControlCharacter);
        }
        Ok(Some(Self(description.to_owned())))
    }

    pub(crate) fn from_stored(description: String) -> Self {
        Self(description)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How urgent a task is. Stored as a rank so that ordering is plain integer ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Medium, Priority::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    pub fn rank(self) -> i16 {
        match self {
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
        }
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|it| it.rank() == rank)
    }
}

impl FromStr for Priority {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let wanted = raw.trim();
        Self::ALL
            .into_iter()
            .find(|it| it.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ValidationError::Priority {
                value: raw.chars().take(64).collect(),
            })
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A due date given as RFC 3339. It is kept as an instant (UTC); the offset the client wrote
/// only serves to find that instant.
pub struct DueAt;

impl DueAt {
    /// `Ok(None)` for blank input, so clients can clear a due date with `""`.
    pub fn parse(raw: &str) -> Result<Option<DateTime<Utc>>, ValidationError> {
        let text = raw.trim();
        if text.is_empty() {
            return Ok(None);
        }
        // Kept to the microsecond, the precision both databases store.
        DateTime::parse_from_rfc3339(text)
            .ok()
            .and_then(|it| DateTime::from_timestamp_micros(it.timestamp_micros()))
            .map(Some)
            .ok_or_else(|| ValidationError::DueAt {
                value: raw.chars().take(64).collect(),
            })
    }
}

/// One tag: trimmed and case-folded (full Unicode rules, so `Straße` and `STRASSE` are one
/// tag), 1 to 32 characters as a person counts them (grapheme clusters: `İ` folds to two code
/// points but is one character), no spaces, commas or control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let tag = text::fold(raw.trim().trim_start_matches('#'));
        if tag.is_empty() || text::is_blank(&tag) {
            return Err(ValidationError::TagEmpty);
        }
        if tag.graphemes(true).count() > TAG_MAX_CHARS {
            return Err(ValidationError::TagTooLong {
                tag: shortened(&tag),
            });
        }
        if tag
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
        {
            return Err(ValidationError::TagCharacter {
                tag: shortened(&tag),
            });
        }
        Ok(Self(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The start of a long value, for an error message.
fn shortened(value: &str) -> String {
    value.chars().take(64).collect()
}

/// A task's tags: at most 10, without duplicates, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let mut tags = raw
            .iter()
            .map(|it| Tag::parse(it.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        tags.dedup();
        if tags.len() > MAX_TAGS {
            return Err(ValidationError::TooManyTags { count: tags.len() });
        }
        Ok(Self(tags))
    }

    /// Tags read back from the store, which only ever holds parsed tags.
    pub(crate) fn from_stored(mut tags: Vec<String>) -> Self {
        tags.sort();
        Self(tags.into_iter().map(Tag).collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            Title::parse("  buy milk ").map(|t| t.0),
            Ok("buy milk".into())
        );
        assert_eq!(Title::parse(" \t "), Err(ValidationError::TitleEmpty));
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            Title::parse(&"é".repeat(201)),
            Err(ValidationError::TitleTooLong { length: 201 })
        );
        assert_eq!(
            Title::parse("two\nlines"),
            Err(ValidationError::TitleControlCharacter)
        );
    }

    #[test]
    fn priorities_parse_case_insensitively_and_rank_in_order() {
        assert_eq!("HIGH".parse::<Priority>(), Ok(Priority::High));
        assert!("urgent".parse::<Priority>().is_err());
        assert!(Priority::Low.rank() < Priority::Medium.rank());
        for priority in Priority::ALL {
            assert_eq!(Priority::from_rank(priority.rank()), Some(priority));
        }
    }

    #[test]
    fn due_dates_need_rfc3339_and_are_kept_as_instants() {
        let due = DueAt::parse("2026-05-01T17:00:00+02:00").unwrap().unwrap();
        assert_eq!(due.to_rfc3339(), "2026-05-01T15:00:00+00:00");
        assert_eq!(DueAt::parse(""), Ok(None));
        assert!(DueAt::parse("tomorrow").is_err());
        assert!(DueAt::parse("2026-05-01").is_err());
    }

    #[test]
    fn tags_are_normalised_deduplicated_and_bounded() {
        let tags = Tags::parse(&["Work", " #home", "work"]).unwrap();
        let names: Vec<_> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["home", "work"]);
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(
            Tags::parse(&eleven),
            Err(ValidationError::TooManyTags { count: 11 })
        );
        assert!(Tags::parse(&["a b"]).is_err());
        assert!(Tags::parse(&[""]).is_err());
        assert!(Tags::parse(&["x".repeat(33)]).is_err());
    }

    #[test]
    fn text_is_kept_in_nfc_and_matched_by_its_folded_form() {
        let composed = Title::parse("caf\u{e9}").unwrap();
        assert_eq!(Title::parse("cafe\u{301}").unwrap(), composed);
        assert_eq!(
            Title::parse("\u{200B}\u{FEFF}\u{200D}"),
            Err(ValidationError::TitleEmpty)
        );
        assert_eq!(
            Description::parse("a\u{0}b"),
            Err(ValidationError::DescriptionControlCharacter)
        );
        assert!(
            Description::parse("line one\n\tline two")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            Tag::parse("Straße").unwrap(),
            Tag::parse("STRASSE").unwrap()
        );
        let dotted = "\u{130}".repeat(32);
        assert_eq!(
            Tag::parse(&dotted).unwrap(),
            Tag::parse(&dotted.to_lowercase()).unwrap()
        );
        assert!(Tag::parse(&"\u{130}".repeat(33)).is_err());
    }

    proptest! {
        #[test]
        fn any_accepted_title_is_trimmed_nonempty_and_bounded(raw in "\\PC{0,250}") {
            if let Ok(title) = Title::parse(&raw) {
                prop_assert_eq!(title.as_str(), title.as_str().trim());
                let length = title.as_str().chars().count();
                prop_assert!((1..=TITLE_MAX_CHARS).contains(&length));
            }
        }

        #[test]
        fn any_accepted_tag_is_lowercase_and_parses_to_itself(raw in "\\PC{0,40}") {
            if let Ok(tag) = Tag::parse(&raw) {
                prop_assert_eq!(text::fold(tag.as_str()), tag.as_str());
                prop_assert_eq!(Tag::parse(tag.as_str()), Ok(tag.clone()));
            }
        }
    }
}
