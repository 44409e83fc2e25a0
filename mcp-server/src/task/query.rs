//! What `list_tasks` filters by and how much it returns.

use std::str::FromStr;

use super::{Priority, Tag, ValidationError};

pub(crate) const DEFAULT_PAGE_SIZE: u16 = 50;
pub(crate) const MAX_PAGE_SIZE: u16 = 200;
pub(crate) const QUERY_MAX_CHARS: usize = 200;

/// Which tasks by completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

impl FromStr for StatusFilter {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Self::All),
            "pending" | "open" => Ok(Self::Pending),
            "completed" | "done" => Ok(Self::Completed),
            _ => Err(ValidationError::Status {
                value: raw.chars().take(64).collect(),
            }),
        }
    }
}

/// A substring of a title or description, matched literally (`%` and `_` too) and without
/// regard to case by full Unicode case folding (`straße` finds `STRASSE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(String);

impl SearchQuery {
    /// `Ok(None)` for a blank query, which matches everything.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let normalized = todo_migrations::text::nfc(raw.trim());
        let text = normalized.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let length = text.chars().count();
        if length > QUERY_MAX_CHARS {
            return Err(ValidationError::QueryTooLong { length });
        }
        if text.chars().any(char::is_control) {
            return Err(ValidationError::QueryControlCharacter);
        }
        Ok(Some(Self(todo_migrations::text::fold(text))))
    }

    /// The case-folded text to look for (matched against the folded title and description).
    pub fn needle(&self) -> &str {
        &self.0
    }
}

/// How many tasks one page holds: 1 to 200, 50 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u16);

impl PageSize {
    pub fn parse(raw: Option<i64>) -> Result<Self, ValidationError> {
        match raw {
            None => Ok(Self(DEFAULT_PAGE_SIZE)),
            Some(value) => u16::try_from(value)
                .ok()
                .filter(|it| (1..=MAX_PAGE_SIZE).contains(it))
                .map(Self)
                .ok_or(ValidationError::Limit { value }),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self(DEFAULT_PAGE_SIZE)
    }
}

/// Filters of `list_tasks`; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: StatusFilter,
    pub query: Option<SearchQuery>,
    pub priority: Option<Priority>,
    pub tag: Option<Tag>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_bounded() {
        assert_eq!(PageSize::parse(None).map(PageSize::get), Ok(50));
        assert_eq!(PageSize::parse(Some(1)).map(PageSize::get), Ok(1));
        assert_eq!(PageSize::parse(Some(200)).map(PageSize::get), Ok(200));
        for bad in [0, -1, 201, i64::MAX, i64::MIN] {
            assert_eq!(
                PageSize::parse(Some(bad)),
                Err(ValidationError::Limit { value: bad })
            );
        }
    }

    #[test]
    fn queries_are_lower_cased_and_blank_means_none() {
        assert_eq!(
            SearchQuery::parse(" Milk% ").map(|q| q.map(|q| q.0)),
            Ok(Some("milk%".into()))
        );
        assert_eq!(SearchQuery::parse("  "), Ok(None));
        assert!(SearchQuery::parse("a\u{1f}b").is_err());
    }

    #[test]
    fn status_accepts_the_documented_words() {
        assert_eq!("pending".parse(), Ok(StatusFilter::Pending));
        assert_eq!("Completed".parse(), Ok(StatusFilter::Completed));
        assert_eq!("all".parse(), Ok(StatusFilter::All));
        assert!("finished".parse::<StatusFilter>().is_err());
    }
}
