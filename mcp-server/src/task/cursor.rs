//! The opaque `list_tasks` cursor.
//!
//! A cursor is the sort key of the last task of a page (keyset pagination), so a page stays
//! correct when tasks are added, completed or deleted between requests: nothing is skipped and a
//! task is shown twice only if it moved past the cursor (completing it does that).
//! It holds no user id: the store always filters by the session's user, so a forged cursor can
//! at most start a page elsewhere in the caller's own list.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Priority, TaskId, ValidationError};

const VERSION: &str = "v1";

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub completed: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub priority: Priority,
    pub id: TaskId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let due = self
            .due_at
            .map_or_else(|| "-".to_owned(), |it| it.timestamp_micros().to_string());
        let plain = format!(
            "{VERSION}|{}|{due}|{}|{}",
            u8::from(self.completed),
            self.priority.rank(),
            self.id.as_uuid().simple()
        );
        URL_SAFE_NO_PAD.encode(plain)
    }

    pub fn decode(raw: &str) -> Result<Self, ValidationError> {
        Self::try_decode(raw.trim()).ok_or(ValidationError::Cursor)
    }

    fn try_decode(raw: &str) -> Option<Self> {
        let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let mut parts = plain.split('|');
        if parts.next()? != VERSION {
            return None;
        }
        let completed = match parts.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let due_at = match parts.next()? {
            "-" => None,
            micros => Some(DateTime::from_timestamp_micros(micros.parse().ok()?)?),
        };
        let priority = Priority::from_rank(parts.next()?.parse().ok()?)?;
        let id = TaskId::from_uuid(Uuid::try_parse(parts.next()?).ok()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            completed,
            due_at,
            priority,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_cursor() -> impl Strategy<Value = Cursor> {
        (
            any::<bool>(),
            proptest::option::of(-62_000_000_000_000_000i64..250_000_000_000_000_000),
            0usize..3,
            any::<u128>(),
        )
            .prop_map(|(completed, micros, priority, id)| Cursor {
                completed,
                due_at: micros.and_then(DateTime::from_timestamp_micros),
                priority: Priority::ALL[priority],
                id: TaskId::from_uuid(Uuid::from_u128(id)),
            })
    }

    proptest! {
        #[test]
        fn cursors_round_trip(cursor in any_cursor()) {
            prop_assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        }

        #[test]
        fn garbage_is_rejected_not_panicked_on(raw in "\\PC{0,80}") {
            let _ = Cursor::decode(&raw);
        }
    }

    #[test]
    fn tampered_cursors_are_rejected() {
        assert_eq!(Cursor::decode("bm9wZQ"), Err(ValidationError::Cursor));
        assert_eq!(Cursor::decode(""), Err(ValidationError::Cursor));
        let forged = URL_SAFE_NO_PAD.encode("v1|0|-|9|0");
        assert_eq!(Cursor::decode(&forged), Err(ValidationError::Cursor));
    }
}
