//! The assistant's evaluation in CI: the offline assistant must do the right thing for at least
//! 95 % of the instructions within its documented English (the rest is printed), and the
//! harness must judge a model's work through the same path, right and wrong alike.

use serde_json::json;
use todo_tests::{
    agent::TestApp,
    db::{Backend, TestDb},
    eval::{self, Case, Seed},
    fake_openai::{FakeOpenAi, Reply},
};

/// The share of the offline assistant's documented English that must work.
const REQUIRED: f64 = 0.95;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_assistant_handles_its_documented_english() {
    let db = TestDb::create(Backend::Sqlite, "eval::offline")
        .await
        .expect("SQLite");
    let server = TestApp::new(&db)
        .env("SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", "100000")
        .start()
        .await;
    let report = eval::run(&server, eval::cases::all_cases()).await;
    let text = report.render("the offline assistant");
    eprintln!("{text}");
    let (passed, run) = report.rate(|verdict| verdict.offline);
    assert!(
        run >= 45,
        "only {run} instructions within the offline English"
    );
    assert!(
        report.verdicts.len() >= 60,
        "{} instructions",
        report.verdicts.len()
    );
    assert!(
        passed as f64 >= REQUIRED * run as f64,
        "{passed}/{run} within the offline assistant's documented English:\n{text}"
    );
}

/// The model path of the harness: a scripted model that does the right thing passes, one that
/// does the wrong thing fails with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_judges_a_models_work() {
    let db = TestDb::create(Backend::Sqlite, "eval::model")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    let server = TestApp::new(&db)
        .model(&fake)
        .env("METRICS_BIND", "127.0.0.1:0")
        .start()
        .await;
    let add_milk = || Case {
        category: "add",
        offline: true,
        zone: "Europe/Berlin",
        seed: vec![Seed::open("call mum")],
        say: vec!["add buy milk"],
        check: |o| {
            o.completed("buy milk", false)?;
            o.no_due("buy milk")?;
            o.task("call mum").map(drop)
        },
    };

    fake.push(Reply::calls(&[("add_task", json!({"title": "buy milk"}))]));
    fake.push(Reply::text("Added “buy milk”."));
    let report = eval::run(&server, vec![add_milk()]).await;
    assert_eq!(report.rate(|_| true), (1, 1), "{}", report.render("fake"));
    assert_eq!(report.verdicts[0].tool_calls, 1);
    // Two model requests, each with the usage the fake reports for it.
    let tokens = report.verdicts[0]
        .tokens
        .expect("tokens read from /metrics");
    assert!(tokens.prompt > 0 && tokens.completion > 0, "{tokens:?}");
    assert!(
        report.render("fake").contains(" prompt and "),
        "{}",
        report.render("fake")
    );

    fake.push(Reply::calls(&[("add_task", json!({"title": "buy silk"}))]));
    fake.push(Reply::text("Added “buy silk”."));
    let report = eval::run(&server, vec![add_milk()]).await;
    assert_eq!(report.rate(|_| true), (0, 1));
    let why = report.verdicts[0].result.as_ref().expect_err("a failure");
    assert!(why.contains("no task titled “buy milk”"), "{why}");
    assert!(report.render("fake").contains("FAILED [add]"));

    // The request a model got is the product's: the user's words and the task tools.
    let request = &fake.requests()[0].body;
    let said = request["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|message| message["content"].as_str());
    assert_eq!(said, Some("add buy milk"));
}
