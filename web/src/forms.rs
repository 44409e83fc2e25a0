//! What the forms post, and how a task form becomes the host's `TaskInput`.

use chrono::{FixedOffset, NaiveDateTime, TimeZone as _};
use serde::Deserialize;

use crate::host::TaskInput;

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// The sign-up form.
#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub name: String,
}

/// The add and edit forms of a task.
#[derive(Debug, Default, Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: String,
    /// `YYYY-MM-DDTHH:MM` in the browser's zone, or empty.
    #[serde(default)]
    pub due_local: String,
    /// The browser's offset from UTC in minutes, as `Date.getTimezoneOffset` gives it (west
    /// positive); `0` without JavaScript, so the page works in UTC.
    #[serde(default)]
    pub tz_offset: String,
    /// Comma- or space-separated.
    #[serde(default)]
    pub tags: String,
}

/// Complete or reopen.
#[derive(Deserialize)]
pub struct CompleteForm {
    #[serde(default)]
    pub completed: String,
}

impl TaskForm {
    /// The host's input, or why the due date cannot be read (a date the browser cannot have
    /// sent).
    pub fn to_input(&self) -> Result<TaskInput, &'static str> {
        let due_at = due_instant(&self.due_local, &self.tz_offset)?;
        Ok(TaskInput {
            title: self.title.clone(),
            description: self.description.clone(),
            priority: self.priority.clone(),
            due_at: due_at.unwrap_or_default(),
            tags: split_tags(&self.tags),
        })
    }
}

/// `home, errands #work` → `["home", "errands", "work"]`.
pub fn split_tags(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .map(|tag| tag.trim().trim_start_matches('#'))
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The RFC 3339 instant of a `datetime-local` value in the browser's zone; `None` when empty.
pub fn due_instant(local: &str, tz_offset: &str) -> Result<Option<String>, &'static str> {
    let local = local.trim();
    if local.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| "enter the due date as a date and a time")?;
    let minutes_west: i32 = match tz_offset.trim() {
        "" => 0,
        raw => raw
            .parse()
            .map_err(|_| "the time zone of the date is unknown")?,
    };
    if !(-18 * 60..=18 * 60).contains(&minutes_west) {
        return Err("the time zone of the date is unknown");
    }
    let offset =
        FixedOffset::west_opt(minutes_west * 60).ok_or("the time zone of the date is unknown")?;
    let at = offset
        .from_local_datetime(&naive)
        .single()
        .ok_or("that date does not exist")?;
    Ok(Some(at.to_rfc3339()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn local_dates_become_instants_in_the_browsers_zone() {
        assert_eq!(
            due_instant("2026-12-05T17:00", "-60").unwrap().as_deref(),
            Some("2026-12-05T17:00:00+01:00")
        );
        assert_eq!(
            due_instant("2026-12-05T17:00", "").unwrap().as_deref(),
            Some("2026-12-05T17:00:00+00:00")
        );
        assert_eq!(due_instant("  ", "0").unwrap(), None);
        assert!(due_instant("tomorrow", "0").is_err());
        assert!(due_instant("2026-12-05T17:00", "99999").is_err());
    }

    #[test]
    fn tags_split_on_commas_and_spaces() {
        assert_eq!(
            split_tags("home, errands #work,,"),
            ["home", "errands", "work"]
        );
        assert!(split_tags(" , ").is_empty());
    }

    proptest! {
        /// Whatever a client posts as a date and offset, the answer is an instant or a
        /// sentence, never a panic.
        #[test]
        fn any_due_input_is_read_or_refused(local in "\\PC{0,24}", offset in "\\PC{0,8}", minutes in any::<i32>()) {
            let _ = due_instant(&local, &offset);
            let _ = due_instant("2026-03-29T02:30", &minutes.to_string());
            let _ = split_tags(&local);
        }
    }
}
