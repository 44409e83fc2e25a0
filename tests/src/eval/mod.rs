//! The assistant's evaluation: plain-English instructions over seeded task lists, each judged
//! by the task list afterwards (and by the reply where the reply is the point), through the
//! product's own HTTP API, so it measures what users get from whichever model the host runs.
//!
//! [`cases::all_cases`] holds the instructions; [`run`] plays each on a fresh account of a running
//! host and returns a [`Report`]. `cargo run -p todo-tests --bin eval` runs it against the
//! offline assistant or any OpenAI-compatible server; `tests/e2e/eval.rs` runs it in CI.

pub mod cases;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use chrono::{DateTime, Datelike as _, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::agent::{AgentServer, ApiUser};

/// One instruction (or a short exchange) and how to judge it.
pub struct Case {
    pub category: &'static str,
    /// Whether the offline assistant's documented English (the README's table) covers it.
    pub offline: bool,
    /// The user's IANA time zone.
    pub zone: &'static str,
    /// The task list before the instruction.
    pub seed: Vec<Seed>,
    /// What the user says, message after message, in one conversation.
    pub say: Vec<&'static str>,
    /// The verdict on the outcome: `Err` says what went wrong.
    pub check: fn(&Outcome) -> Result<(), String>,
}

/// A task of the seeded list.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub title: &'static str,
    /// Due this many days from today (negative: in the past), at 17:00 in the user's zone.
    pub due_in_days: Option<i64>,
    pub priority: Option<&'static str>,
    pub tags: &'static [&'static str],
    pub completed: bool,
}

impl Seed {
    pub fn open(title: &'static str) -> Self {
        Self {
            title,
            ..Self::default()
        }
    }

    pub fn done(title: &'static str) -> Self {
        Self {
            title,
            completed: true,
            ..Self::default()
        }
    }

    pub fn due(mut self, days: i64) -> Self {
        self.due_in_days = Some(days);
        self
    }

    pub fn priority(mut self, priority: &'static str) -> Self {
        self.priority = Some(priority);
        self
    }

    pub fn tags(mut self, tags: &'static [&'static str]) -> Self {
        self.tags = tags;
        self
    }
}

/// What an instruction left behind.
#[derive(Debug)]
pub struct Outcome {
    /// Every task of the user afterwards, as the API lists them.
    pub tasks: Vec<Value>,
    /// The assistant's replies, one per message.
    pub replies: Vec<String>,
    pub tool_calls: usize,
    /// The user's zone and today there, when the case started.
    pub zone: Tz,
    pub today: NaiveDate,
}

impl Outcome {
    /// The last reply.
    pub fn reply(&self) -> &str {
        self.replies.last().map_or("", String::as_str)
    }

    /// The task titled `title` (case-insensitive).
    pub fn task(&self, title: &str) -> Result<&Value, String> {
        self.tasks
            .iter()
            .find(|task| {
                task["title"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(title))
            })
            .ok_or_else(|| format!("no task titled “{title}”; tasks: {}", self.titles()))
    }

    pub fn titles(&self) -> String {
        let titles: Vec<&str> = self
            .tasks
            .iter()
            .filter_map(|task| task["title"].as_str())
            .collect();
        format!("{titles:?}")
    }

    pub fn missing(&self, title: &str) -> Result<(), String> {
        match self.task(title) {
            Ok(_) => Err(format!("“{title}” is still there")),
            Err(_) => Ok(()),
        }
    }

    pub fn completed(&self, title: &str, completed: bool) -> Result<(), String> {
        let task = self.task(title)?;
        if task["completed"] == completed {
            Ok(())
        } else {
            Err(format!("“{title}” completed is {}", task["completed"]))
        }
    }

    pub fn priority(&self, title: &str, priority: &str) -> Result<(), String> {
        let task = self.task(title)?;
        if task["priority"] == priority {
            Ok(())
        } else {
            Err(format!("“{title}” has priority {}", task["priority"]))
        }
    }

    pub fn tags(&self, title: &str, tags: &[&str]) -> Result<(), String> {
        let task = self.task(title)?;
        let mut got: Vec<&str> = task["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        got.sort_unstable();
        let mut wanted = tags.to_vec();
        wanted.sort_unstable();
        if got == wanted {
            Ok(())
        } else {
            Err(format!("“{title}” has tags {got:?}, not {wanted:?}"))
        }
    }

    /// The task's due date-time in the user's zone.
    pub fn due(&self, title: &str) -> Result<Option<DateTime<Tz>>, String> {
        let task = self.task(title)?;
        match task["due_at"].as_str() {
            None => Ok(None),
            Some(raw) => DateTime::parse_from_rfc3339(raw)
                .map(|due| Some(due.with_timezone(&self.zone)))
                .map_err(|err| format!("“{title}” has due_at {raw}: {err}")),
        }
    }

    /// Due on `date` at `time` (`HH:MM`) in the user's zone.
    pub fn due_at(&self, title: &str, date: NaiveDate, time: &str) -> Result<(), String> {
        let due = self
            .due(title)?
            .ok_or_else(|| format!("“{title}” has no due date"))?;
        let got = due.format("%Y-%m-%d %H:%M").to_string();
        let wanted = format!("{} {time}", date.format("%Y-%m-%d"));
        if got == wanted {
            Ok(())
        } else {
            Err(format!("“{title}” is due {got}, not {wanted}"))
        }
    }

    pub fn no_due(&self, title: &str) -> Result<(), String> {
        match self.due(title)? {
            None => Ok(()),
            Some(due) => Err(format!("“{title}” is due {due}")),
        }
    }

    /// `today` plus `days`.
    pub fn day(&self, days: i64) -> NaiveDate {
        self.today + chrono::Duration::days(days)
    }

    /// The coming `weekday`: 1 to 7 days ahead.
    pub fn coming(&self, weekday: Weekday) -> NaiveDate {
        let ahead = (i64::from(weekday.num_days_from_monday())
            - i64::from(self.today.weekday().num_days_from_monday()))
        .rem_euclid(7);
        self.day(if ahead == 0 { 7 } else { ahead })
    }

    /// The next `month`/`day` from today (today included).
    pub fn next_date(&self, month: u32, day: u32) -> NaiveDate {
        (0..8)
            .find_map(|ahead| {
                NaiveDate::from_ymd_opt(self.today.year() + ahead, month, day)
                    .filter(|date| *date >= self.today)
            })
            .unwrap_or(self.today)
    }

    /// The reply names every title of `wanted` and none of `unwanted`.
    pub fn reply_names(&self, wanted: &[&str], unwanted: &[&str]) -> Result<(), String> {
        let reply = self.reply().to_lowercase();
        for title in wanted {
            if !reply.contains(&title.to_lowercase()) {
                return Err(format!(
                    "the reply does not name “{title}”: {}",
                    self.reply()
                ));
            }
        }
        for title in unwanted {
            if reply.contains(&title.to_lowercase()) {
                return Err(format!("the reply names “{title}”: {}", self.reply()));
            }
        }
        Ok(())
    }

    /// Nothing changed: the tasks are the seeded ones, in the same state.
    pub fn unchanged(&self, seed: &[(&str, bool)]) -> Result<(), String> {
        if self.tasks.len() != seed.len() {
            return Err(format!("the tasks are now {}", self.titles()));
        }
        seed.iter()
            .try_for_each(|(title, completed)| self.completed(title, *completed))
    }
}

/// How one case went.
#[derive(Debug)]
pub struct Verdict {
    pub category: &'static str,
    pub offline: bool,
    pub say: Vec<&'static str>,
    pub result: Result<(), String>,
    pub tool_calls: usize,
    /// The tokens the model server reported for the instruction's requests; `None` when the
    /// host was started without `METRICS_BIND`, so they could not be read.
    pub tokens: Option<Tokens>,
    pub took: Duration,
}

/// Tokens as the host's `/metrics` counts what the model server reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
}

impl Tokens {
    /// The host's totals so far, if it serves `/metrics`.
    async fn read(server: &AgentServer) -> Option<Tokens> {
        server.metrics_url.as_ref()?;
        let metrics = server.metrics().await;
        let total = |kind: &str| {
            metrics
                .get(&format!("todo_model_usage_tokens_total{{kind=\"{kind}\"}}"))
                .map_or(0, |value| *value as u64)
        };
        Some(Tokens {
            prompt: total("prompt"),
            completion: total("completion"),
        })
    }

    fn since(self, before: Tokens) -> Tokens {
        Tokens {
            prompt: self.prompt.saturating_sub(before.prompt),
            completion: self.completion.saturating_sub(before.completion),
        }
    }
}

/// Every verdict, and the summary lines.
#[derive(Debug, Default)]
pub struct Report {
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Passed and run among the cases `keep` selects.
    pub fn rate(&self, keep: impl Fn(&Verdict) -> bool) -> (usize, usize) {
        let chosen: Vec<&Verdict> = self.verdicts.iter().filter(|v| keep(v)).collect();
        let passed = chosen.iter().filter(|v| v.result.is_ok()).count();
        (passed, chosen.len())
    }

    /// The report as text: the rates overall, within the offline assistant's English and by
    /// category, tool calls and time per instruction, then each failure.
    pub fn render(&self, model: &str) -> String {
        let mut text = String::new();
        let percent = |(passed, run): (usize, usize)| {
            if run == 0 {
                "n/a".to_owned()
            } else {
                format!(
                    "{passed}/{run} ({:.0} %)",
                    100.0 * passed as f64 / run as f64
                )
            }
        };
        let _ = writeln!(text, "evaluation of {model}");
        let _ = writeln!(text, "  overall: {}", percent(self.rate(|_| true)));
        let _ = writeln!(
            text,
            "  within the offline assistant's documented English: {}",
            percent(self.rate(|v| v.offline))
        );
        let _ = writeln!(text, "  beyond it: {}", percent(self.rate(|v| !v.offline)));
        let categories: BTreeMap<&str, ()> =
            self.verdicts.iter().map(|v| (v.category, ())).collect();
        for category in categories.keys() {
            let _ = writeln!(
                text,
                "    {category:<12} {}",
                percent(self.rate(|v| v.category == *category))
            );
        }
        let messages: usize = self.verdicts.iter().map(|v| v.say.len()).sum();
        let calls: usize = self.verdicts.iter().map(|v| v.tool_calls).sum();
        let took: Duration = self.verdicts.iter().map(|v| v.took).sum();
        let per_message = |count: u64| count as f64 / messages.max(1) as f64;
        let tokens: Option<Tokens> =
            self.verdicts
                .iter()
                .map(|v| v.tokens)
                .try_fold(Tokens::default(), |sum, tokens| {
                    tokens.map(|tokens| Tokens {
                        prompt: sum.prompt + tokens.prompt,
                        completion: sum.completion + tokens.completion,
                    })
                });
        let tokens = match tokens {
            Some(tokens) if tokens.prompt + tokens.completion > 0 => format!(
                "{:.0} prompt and {:.0} completion tokens",
                per_message(tokens.prompt),
                per_message(tokens.completion)
            ),
            Some(_) => "no tokens reported by the model server".to_owned(),
            None => "tokens not read (no /metrics)".to_owned(),
        };
        let _ = writeln!(
            text,
            "  per message ({messages} messages): {:.2} tool calls, {:.0} ms, {tokens}",
            per_message(calls as u64),
            took.as_secs_f64() * 1000.0 / messages.max(1) as f64,
        );
        for verdict in &self.verdicts {
            if let Err(why) = &verdict.result {
                let scope = if verdict.offline {
                    ""
                } else {
                    " (beyond the offline English)"
                };
                let _ = writeln!(
                    text,
                    "  FAILED [{}]{scope} {:?}: {why}",
                    verdict.category, verdict.say
                );
            }
        }
        text
    }
}

/// Plays every case of `cases` on `server`, each on a fresh account.
pub async fn run(server: &AgentServer, cases: Vec<Case>) -> Report {
    let mut report = Report::default();
    for case in cases {
        report.verdicts.push(play(server, case).await);
    }
    report
}

async fn play(server: &AgentServer, case: Case) -> Verdict {
    let tokens_before = Tokens::read(server).await;
    let started = Instant::now();
    let (result, tool_calls) = match act(server, &case).await {
        Ok(outcome) => ((case.check)(&outcome), outcome.tool_calls),
        Err(err) => (Err(err), 0),
    };
    let took = started.elapsed();
    let tokens = match (Tokens::read(server).await, tokens_before) {
        (Some(after), Some(before)) => Some(after.since(before)),
        _ => None,
    };
    Verdict {
        category: case.category,
        offline: case.offline,
        say: case.say,
        result,
        tool_calls,
        tokens,
        took,
    }
}

/// Seeds the list, says each message, and reads the list back.
async fn act(server: &AgentServer, case: &Case) -> Result<Outcome, String> {
    let zone: Tz = case
        .zone
        .parse()
        .map_err(|err| format!("bad zone {}: {err}", case.zone))?;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let user = server.sign_up().await;
    for seed in &case.seed {
        seed_task(server, &user, seed, zone, today).await?;
    }
    let mut conversation: Option<String> = None;
    let mut replies = Vec::new();
    let mut tool_calls = 0;
    for message in &case.say {
        let mut body = json!({"message": message, "time_zone": case.zone});
        if let Some(id) = &conversation {
            body["conversation_id"] = json!(id);
        }
        let response = server
            .http
            .post(format!("{}/api/{}/chat", server.base, user.id))
            .bearer_auth(&user.token)
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|err| format!("the chat request failed: {err}"))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|err| format!("the chat answer is not JSON: {err}"))?;
        if status != StatusCode::OK {
            return Err(format!("the chat answered {status}: {reply}"));
        }
        conversation = reply["conversation_id"].as_str().map(str::to_owned);
        tool_calls += reply["tool_calls"].as_array().map_or(0, Vec::len);
        replies.push(reply["response"].as_str().unwrap_or_default().to_owned());
    }
    let listed = server
        .request(
            Method::GET,
            &format!("/api/{}/tasks?limit=200", user.id),
            Some(&user.token),
            None,
        )
        .await;
    let tasks = listed.body["tasks"].as_array().cloned().unwrap_or_default();
    Ok(Outcome {
        tasks,
        replies,
        tool_calls,
        zone,
        today,
    })
}

async fn seed_task(
    server: &AgentServer,
    user: &ApiUser,
    seed: &Seed,
    zone: Tz,
    today: NaiveDate,
) -> Result<(), String> {
    let mut body = json!({"title": seed.title, "tags": seed.tags});
    if let Some(priority) = seed.priority {
        body["priority"] = json!(priority);
    }
    if let Some(days) = seed.due_in_days {
        let date = today + chrono::Duration::days(days);
        let due = date
            .and_hms_opt(17, 0, 0)
            .and_then(|at| at.and_local_timezone(zone).earliest())
            .ok_or_else(|| format!("no 17:00 on {date} in {zone}"))?;
        body["due_at"] = json!(due.to_rfc3339());
    }
    let added = server
        .request(
            Method::POST,
            &format!("/api/{}/tasks", user.id),
            Some(&user.token),
            Some(body),
        )
        .await;
    if added.status != StatusCode::CREATED {
        return Err(format!("seeding “{}” failed: {:?}", seed.title, added.body));
    }
    if seed.completed {
        let id = added.body["id"].as_str().unwrap_or_default();
        let done = server
            .request(
                Method::PATCH,
                &format!("/api/{}/tasks/{id}", user.id),
                Some(&user.token),
                Some(json!({"completed": true})),
            )
            .await;
        if done.status != StatusCode::OK {
            return Err(format!(
                "completing “{}” failed: {:?}",
                seed.title, done.body
            ));
        }
    }
    Ok(())
}
