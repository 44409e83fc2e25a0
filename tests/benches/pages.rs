//! `cargo bench -p todo-tests --bench pages`: the web pages for a person with 1,000 tasks and a
//! 1,000-message conversation. Prints the server's time for `GET /tasks`, the bytes a first
//! load transfers (compressed, htmx included), the time to `DOMContentLoaded` in headless
//! Chromium, and the page's JavaScript heap after scrolling through the whole conversation.
//!
//! The server is this executable started again as `todo-agent serve` (see `api.rs`).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use todo_agent::chat::conversations::Role;
use todo_tests::{
    agent::AgentServer,
    browser::Browser,
    chat::seed_conversation,
    db::{Backend, TestDb},
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TASKS: usize = 1_000;
const MESSAGES: usize = 1_000;
const PAGE_LOADS: usize = 100;
const BROWSER_LOADS: usize = 10;

fn main() {
    if todo_tests::agent::serve_if_bench_role() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the runtime");
    runtime.block_on(run());
}

async fn run() {
    let db = TestDb::create(Backend::Sqlite, "bench pages")
        .await
        .expect("SQLite is always available");
    let server = AgentServer::start_bench(&db, &[("APP_MODE", "developer")]).await;
    let user = server.sign_up().await;
    for i in 0..TASKS {
        let priority = ["low", "medium", "high"][i % 3];
        server
            .add_task(
                &user,
                json!({"title": format!("task {i:04} with a title of a usual length"),
                       "priority": priority,
                       "due_at": format!("2030-01-{:02}T09:00:00Z", i % 28 + 1),
                       "tags": ["home", "work"]}),
            )
            .await;
    }
    let conversation = seed_conversation(&db, &user, MESSAGES, |n, role| match role {
        Role::User => format!("question {n}: what is left on my list for this week?"),
        _ => format!(
            "answer {n}: You have **3 open tasks**:\n- buy milk\n- call mum\n- write the report"
        ),
    })
    .await
    .to_string();
    let cookie = format!("todo_session={}", user.token);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");

    // Server time for the tasks page (first page of 50, with the sidebar's conversations).
    let mut histogram = Histogram::<u64>::new(3).expect("a histogram");
    for _ in 0..PAGE_LOADS {
        let started = Instant::now();
        let response = http
            .get(format!("{}/tasks", server.base))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET /tasks");
        let body = response.bytes().await.expect("the page");
        histogram
            .record(started.elapsed().as_micros() as u64)
            .expect("record");
        assert!(body.len() > 10_000, "a full page");
    }

    // Bytes of a first load: the page and each file it links, gzip-compressed.
    let page = http
        .get(format!("{}/tasks", server.base))
        .header("cookie", &cookie)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET /tasks");
    let mut transferred = page.bytes().await.expect("the page").len();
    let html = http
        .get(format!("{}/tasks", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET /tasks")
        .text()
        .await
        .expect("the page");
    for asset in html.split('"').filter(|part| part.starts_with("/static/")) {
        let body = http
            .get(format!("{}{asset}", server.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("an asset")
            .bytes()
            .await
            .expect("its bytes");
        transferred += body.len();
    }

    let browser_figures = browser_figures(&server, &user.email, &conversation).await;
    report(&histogram, transferred, browser_figures);
}

/// Median time to `DOMContentLoaded` of the tasks page, and the JS heap (MB) after scrolling
/// back through the whole conversation; `None` without Chromium.
async fn browser_figures(
    server: &AgentServer,
    email: &str,
    conversation: &str,
) -> Option<(f64, f64, usize)> {
    let browser = Browser::start("bench pages", 1300).await?;
    browser
        .client
        .goto(&format!("{}/signin", server.base))
        .await
        .expect("open the sign-in page");
    browser.fill("#email", email).await;
    browser.fill("#password", "correct horse battery").await;
    browser.click("form button[type=submit]").await;
    browser
        .wait_until("signed in", "location.pathname === '/tasks'")
        .await;
    let mut loads = Vec::new();
    for _ in 0..BROWSER_LOADS {
        browser
            .client
            .goto(&format!("{}/tasks", server.base))
            .await
            .expect("load the page");
        let value = browser
            .client
            .execute(
                "return performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd;",
                Vec::new(),
            )
            .await
            .expect("read the timing");
        loads.push(value.as_f64().unwrap_or(f64::NAN));
    }
    loads.sort_by(f64::total_cmp);
    let dom_content_loaded = loads[loads.len() / 2];

    browser
        .wait_for("#conversation")
        .await
        .select_by_value(conversation)
        .await
        .expect("pick the conversation");
    browser
        .wait_until(
            "the newest messages",
            "document.querySelectorAll('#messages li.msg').length > 0",
        )
        .await;
    let mut pages = 0;
    loop {
        let reached = browser
            .client
            .execute(
                "const list = document.querySelector('#messages'); list.scrollTop = 0; list.dispatchEvent(new Event('scroll')); return !list.querySelector('li.older');",
                Vec::new(),
            )
            .await
            .expect("scroll up");
        if reached == json!(true) || pages > MESSAGES {
            break;
        }
        pages += 1;
        browser
            .wait_until(
                "an older page",
                "!document.querySelector('#messages li.older[data-loading]')",
            )
            .await;
    }
    let heap: Value = browser
        .client
        .execute(
            "return (performance.memory && performance.memory.usedJSHeapSize) || 0;",
            Vec::new(),
        )
        .await
        .expect("read the heap");
    let heap_mb = heap.as_f64().unwrap_or(0.0) / 1_048_576.0;
    browser.close().await;
    Some((dom_content_loaded, heap_mb, pages))
}

#[expect(clippy::print_stdout, reason = "the report is the benchmark's output")]
fn report(histogram: &Histogram<u64>, transferred: usize, browser: Option<(f64, f64, usize)>) {
    let ms = |micros: u64| Duration::from_micros(micros).as_secs_f64() * 1000.0;
    println!("pages bench: {TASKS} tasks, a {MESSAGES}-message conversation");
    println!(
        "GET /tasks server time ({PAGE_LOADS} loads): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(histogram.value_at_quantile(0.5)),
        ms(histogram.value_at_quantile(0.95)),
        ms(histogram.max())
    );
    println!(
        "first load transferred (gzip, page + htmx + scripts + stylesheet): {:.1} KB (target < 100 KB)",
        transferred as f64 / 1024.0
    );
    match browser {
        Some((dom_content_loaded, heap_mb, pages)) => {
            println!(
                "DOMContentLoaded in headless Chromium (median of {BROWSER_LOADS}): {dom_content_loaded:.0} ms (target < 300 ms)"
            );
            println!(
                "JS heap after scrolling back through the conversation ({pages} older pages): {heap_mb:.1} MB (target < 30 MB)"
            );
        }
        None => println!("browser figures: skipped (no Chromium)"),
    }
}
