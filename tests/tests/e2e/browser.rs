//! The web pages in a real browser: headless Chromium against the real `todo-agent` binary.
//! Without Chromium and chromedriver these tests skip, saying so (and fail under
//! `TODO_TEST_REQUIRE_ALL=1`); a failing test leaves a screenshot in `target/browser-screenshots/`.

use std::time::Duration;

use serde_json::json;
use todo_tests::{
    agent::{AgentServer, FAKE_API_KEY},
    browser::Browser,
    chat::seed_conversation,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
};

/// A browser `width` pixels wide and a host of its own (developer mode: plain HTTP).
async fn start(test: &str, width: u32) -> Option<(Browser, AgentServer, TestDb)> {
    let browser = Browser::start(test, width).await?;
    let db = TestDb::create(Backend::Sqlite, test).await?;
    let server = AgentServer::start_process(&db, &[("APP_MODE", "developer")]).await;
    Some((browser, server, db))
}

/// A browser and a host whose model is a fresh fake.
async fn start_with_model(test: &str) -> Option<(Browser, AgentServer, FakeOpenAi, TestDb)> {
    let browser = Browser::start(test, 1300).await?;
    let db = TestDb::create(Backend::Sqlite, test).await?;
    let fake = FakeOpenAi::start().await;
    let server = AgentServer::start_process(
        &db,
        &[
            ("APP_MODE", "developer"),
            ("OPENAI_API_KEY", FAKE_API_KEY),
            ("OPENAI_BASE_URL", fake.base_url.as_str()),
            ("OPENAI_MODEL", "fake-model"),
        ],
    )
    .await;
    Some((browser, server, fake, db))
}

/// Types a message into the sidebar and sends it with Enter.
async fn say(browser: &Browser, text: &str) {
    browser.fill("#chat-input", text).await;
    browser
        .wait_for("#chat-input")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("press Enter");
}

/// Signs a new person up through the sign-up page; answers their email.
async fn sign_up(browser: &Browser, base: &str) -> String {
    let email = format!("web-{}@example.com", uuid::Uuid::new_v4().simple());
    browser
        .client
        .goto(&format!("{base}/signup"))
        .await
        .expect("open the sign-up page");
    browser.fill("#name", "Ada").await;
    browser.fill("#email", &email).await;
    browser.fill("#password", "correct horse battery").await;
    browser.click("form button[type=submit]").await;
    browser
        .wait_until("the tasks page", "location.pathname === '/tasks'")
        .await;
    email
}

/// Marks the current document, to tell an in-place update from a page load later.
async fn mark_page(browser: &Browser) {
    browser
        .client
        .execute("window.__samePage = true;", Vec::new())
        .await
        .expect("mark the page");
}

async fn still_same_page(browser: &Browser) -> bool {
    browser
        .client
        .execute("return window.__samePage === true;", Vec::new())
        .await
        .expect("read the mark")
        == json!(true)
}

/// The id of the row whose title is `title`.
async fn row_id(browser: &Browser, title: &str) -> String {
    let quoted = serde_json::to_string(title).expect("a string");
    let condition = format!(
        "[...document.querySelectorAll('#task-list .task')].some(li => li.querySelector('.title').textContent === {quoted})"
    );
    browser
        .wait_until(&format!("a row {title}"), &condition)
        .await;
    let script = format!(
        "return [...document.querySelectorAll('#task-list .task')].find(li => li.querySelector('.title').textContent === {quoted}).id;"
    );
    browser
        .client
        .execute(&script, Vec::new())
        .await
        .expect("find the row")
        .as_str()
        .expect("an id")
        .to_owned()
}

async fn add_task(browser: &Browser, title: &str, priority: &str, tags: &str) {
    browser.fill("#add-title", title).await;
    browser
        .wait_for("#add-priority")
        .await
        .select_by_value(priority)
        .await
        .expect("choose a priority");
    browser.fill("#add-tags", tags).await;
    browser.click("#add-task button[type=submit]").await;
    row_id(browser, title).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_signs_out_and_signs_in() {
    let test = "browser::sign_up_out_in";
    let Some((browser, server, _db)) = start(test, 1200).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            browser.client.goto(&format!("{base}/")).await.unwrap();
            browser
                .wait_until("the sign-in page", "location.pathname === '/signin'")
                .await;
            // A refused sign-up shows each field's error and keeps what was typed.
            browser.click("a[href='/signup']").await;
            browser.fill("#email", "not an email").await;
            browser.fill("#password", "short").await;
            browser.click("form button[type=submit]").await;
            browser.wait_for("#email-error").await;
            assert!(browser.text("#password-error").await.contains("8 to 128"));
            let kept = browser
                .wait_for("#email")
                .await
                .prop("value")
                .await
                .unwrap();
            assert_eq!(kept.as_deref(), Some("not an email"));

            let email = sign_up(&browser, &base).await;
            assert!(browser.text(".who").await.contains(&email));
            browser.click(".signout button").await;
            browser
                .wait_until("signed out", "location.pathname === '/signin'")
                .await;
            // Signed out means signed out: the tasks page sends us back.
            browser.client.goto(&format!("{base}/tasks")).await.unwrap();
            browser
                .wait_until("sent to sign in", "location.pathname === '/signin'")
                .await;
            browser.fill("#email", &email).await;
            browser.fill("#password", "wrong password").await;
            browser.click("form button[type=submit]").await;
            assert!(
                browser
                    .text(".form-error")
                    .await
                    .contains("Wrong email or password")
            );
            browser.fill("#password", "correct horse battery").await;
            browser.click("form button[type=submit]").await;
            browser
                .wait_until("signed in", "location.pathname === '/tasks'")
                .await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_added_edited_completed_filtered_and_deleted_in_place() {
    let test = "browser::tasks";
    let Some((browser, server, _db)) = start(test, 1200).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            sign_up(&browser, &base).await;
            mark_page(&browser).await;
            add_task(&browser, "Buy milk", "high", "home, errands").await;
            add_task(&browser, "Write report", "medium", "work").await;
            browser
                .wait_until("the form emptied", "document.querySelector('#add-title').value === ''")
                .await;
            let milk = row_id(&browser, "Buy milk").await;
            assert!(browser.text(&format!("#{milk} .meta")).await.contains("high priority"));

            // Edit in place.
            browser.click(&format!("#{milk} .actions a")).await;
            browser.wait_for(&format!("#{milk}.editing")).await;
            browser
                .fill(&format!("#{milk} input[name=title]"), "Buy oat milk")
                .await;
            browser.click(&format!("#{milk} button[type=submit]")).await;
            let milk = row_id(&browser, "Buy oat milk").await;

            // Complete, then show only open tasks: the URL says so.
            browser.click(&format!("#{milk} .check-button")).await;
            browser.wait_for(&format!("#{milk}.done")).await;
            browser
                .wait_for("#filter-status")
                .await
                .select_by_value("pending")
                .await
                .unwrap();
            browser
                .wait_until(
                    "the filtered list",
                    "location.search.includes('status=pending') && !document.querySelector('#task-list .task.done')",
                )
                .await;
            let report = row_id(&browser, "Write report").await;

            // Delete, confirming.
            browser.click(&format!("#{report} .danger")).await;
            browser.client.accept_alert().await.expect("a confirmation");
            let gone = format!("!document.getElementById('{report}')");
            browser.wait_until("the row removed", &gone).await;
            assert!(still_same_page(&browser).await, "the page was reloaded");

            // Reloading shows what the server has: the filter from the URL, nothing open.
            browser.client.refresh().await.unwrap();
            browser
                .wait_until(
                    "the filter kept",
                    "document.querySelector('#filter-status').value === 'pending'",
                )
                .await;
            browser
                .wait_until(
                    "an empty list",
                    "document.querySelectorAll('#task-list .task').length === 0",
                )
                .await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_users_is_shown_as_text() {
    let test = "browser::escaping";
    let Some((browser, server, _db)) = start(test, 1200).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            sign_up(&browser, &base).await;
            let hostile = "<img src=x onerror=alert(1)>";
            add_task(&browser, hostile, "low", "").await;
            browser.client.refresh().await.unwrap();
            row_id(&browser, hostile).await;
            let images = browser
                .client
                .execute(
                    "return document.querySelectorAll('#task-list img, #task-list script').length;",
                    Vec::new(),
                )
                .await
                .unwrap();
            assert_eq!(images, json!(0));
            assert!(
                browser.client.get_alert_text().await.is_err(),
                "a dialog was opened"
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_fit_a_narrow_screen() {
    let test = "browser::narrow";
    let Some((browser, server, _db)) = start(test, 390).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            let fits = "document.documentElement.scrollWidth <= window.innerWidth";
            browser
                .client
                .goto(&format!("{base}/signin"))
                .await
                .unwrap();
            browser.wait_until("the sign-in page fits", fits).await;
            sign_up(&browser, &base).await;
            add_task(
                &browser,
                "A long task title that has to wrap on a phone screen",
                "high",
                "phone",
            )
            .await;
            browser.wait_until("the tasks page fits", fits).await;
            // The assistant is a drawer here: closed, it is out of the way; open, it fits.
            browser.click("#chat-toggle").await;
            browser.wait_for("#chat.open").await;
            // The drawer slides in; typing into it waits until it has arrived.
            browser
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1]; const chat = document.getElementById('chat');
                     if (getComputedStyle(chat).transform === 'none') { done(true); }
                     else { chat.addEventListener('transitionend', () => done(true), { once: true }); setTimeout(() => done(false), 5000); }",
                    Vec::new(),
                )
                .await
                .expect("the drawer opens");
            browser.wait_until("the open drawer fits", fits).await;
            browser.fill("#chat-input", "hello").await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_streams_its_reply_and_the_task_list_follows() {
    let test = "browser::chat_stream";
    let Some((browser, server, fake, _db)) = start_with_model(test).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            sign_up(&browser, &base).await;
            mark_page(&browser).await;
            fake.set_token_delay(Duration::from_millis(120));
            fake.push(Reply::calls(&[("add_task", json!({"title": "buy milk"}))]));
            fake.push(Reply::Text(tokens(
                "Added **buy milk** for you. <script>alert(1)</script> Anything else?",
            )));
            say(&browser, "add buy milk tomorrow").await;
            // The tool's line, and the task in the list without a reload.
            browser
                .wait_until(
                    "the tool line",
                    "[...document.querySelectorAll('#messages .tool-line')].some(l => l.textContent.includes(\"Added task 'buy milk'\"))",
                )
                .await;
            row_id(&browser, "buy milk").await;
            // Part of the reply is on the page while it is still streaming.
            browser
                .wait_until(
                    "a partial reply",
                    "document.querySelector('#messages').getAttribute('aria-busy') === 'true' && document.querySelector('#messages li.assistant .text')?.textContent.startsWith('Added')",
                )
                .await;
            browser.screenshot_if_asked("chat-mid-stream").await;
            browser
                .wait_until(
                    "the finished reply",
                    "document.querySelector('#messages').getAttribute('aria-busy') === 'false' && document.querySelector('#messages li.assistant strong')?.textContent === 'buy milk'",
                )
                .await;
            let unsafe_nodes = browser
                .client
                .execute(
                    "return document.querySelectorAll('#messages script, #messages img').length;",
                    Vec::new(),
                )
                .await
                .unwrap();
            assert_eq!(unsafe_nodes, json!(0));
            assert!(
                browser
                    .text("#messages li.assistant .text")
                    .await
                    .contains("<script>alert(1)</script>"),
                "the model's markup is shown as text"
            );
            assert!(browser.client.get_alert_text().await.is_err(), "a dialog opened");
            assert!(still_same_page(&browser).await, "the page was reloaded");
            assert_eq!(
                browser.text("#chat-status").await,
                "The assistant replied."
            );
            browser.screenshot_if_asked("tasks-page").await;

            // The conversation is the server's: a reload shows it again, from the picker.
            browser.client.refresh().await.unwrap();
            browser
                .wait_until(
                    "the conversation reloaded",
                    "document.querySelectorAll('#messages li.msg').length >= 3",
                )
                .await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_reply_and_keeps_what_came() {
    let test = "browser::chat_stop";
    let Some((browser, server, fake, _db)) = start_with_model(test).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            sign_up(&browser, &base).await;
            fake.set_token_delay(Duration::from_millis(100));
            fake.push(Reply::Text(tokens(&"word ".repeat(300))));
            say(&browser, "talk for a long time").await;
            browser
                .wait_until(
                    "a partial reply",
                    "document.querySelector('#messages li.assistant .text')?.textContent.length > 10",
                )
                .await;
            browser.click("#chat-stop").await;
            browser
                .wait_until(
                    "the reply stopped",
                    "document.querySelector('#messages').getAttribute('aria-busy') === 'false' && document.querySelector('#messages li.assistant.partial')",
                )
                .await;
            assert!(
                fake.wait_cancelled(1, Duration::from_secs(5)).await,
                "the model request was dropped"
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_error_is_retried_by_itself() {
    let test = "browser::chat_retry";
    let Some((browser, server, fake, _db)) = start_with_model(test).await else {
        return;
    };
    let base = server.base.clone();
    browser
        .run(test, async {
            sign_up(&browser, &base).await;
            // Busy for longer than the host waits: a retryable error at once, then success.
            fake.push(Reply::rate_limited("120"));
            fake.push(Reply::text("Here I am."));
            say(&browser, "hello").await;
            browser
                .wait_until(
                    "the countdown",
                    "document.querySelector('#chat-error-text').textContent.includes('Retrying in')",
                )
                .await;
            browser
                .wait_until(
                    "the retried reply",
                    "[...document.querySelectorAll('#messages li.assistant .text')].some(t => t.textContent.includes('Here I am.')) && document.querySelector('#chat-error').hidden",
                )
                .await;
            // The message was sent once, and the failed reply is gone from the conversation.
            let users = browser
                .client
                .execute(
                    "return document.querySelectorAll('#messages li.user').length;",
                    Vec::new(),
                )
                .await
                .unwrap();
            assert_eq!(users, json!(1));
            assert_eq!(fake.requests().len(), 2);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_up_loads_older_messages_and_the_page_stays_bounded() {
    let test = "browser::chat_history";
    let Some((browser, server, _fake, db)) = start_with_model(test).await else {
        return;
    };
    let base = server.base.clone();
    let user = server.sign_up().await;
    let conversation = seed_conversation(&db, &user, 300, |n, _| format!("message {n}")).await;
    browser
        .run(test, async {
            browser.client.goto(&format!("{base}/signin")).await.unwrap();
            browser.fill("#email", &user.email).await;
            browser.fill("#password", "correct horse battery").await;
            browser.click("form button[type=submit]").await;
            browser
                .wait_until("signed in", "location.pathname === '/tasks'")
                .await;
            browser
                .wait_for("#conversation")
                .await
                .select_by_value(&conversation.to_string())
                .await
                .unwrap();
            browser
                .wait_until(
                    "the newest page",
                    "[...document.querySelectorAll('#messages li.msg')].some(l => l.textContent.includes('message 300'))",
                )
                .await;
            // Scroll up until the first message is there.
            for _ in 0..12 {
                let reached = browser
                    .client
                    .execute(
                        "const list = document.querySelector('#messages'); list.scrollTop = 0; list.dispatchEvent(new Event('scroll')); return [...list.querySelectorAll('li.msg')].some(l => l.textContent.trim().endsWith('message 1'));",
                        Vec::new(),
                    )
                    .await
                    .unwrap();
                if reached == json!(true) {
                    break;
                }
                browser
                    .wait_until(
                        "an older page",
                        "!document.querySelector('#messages li.older[data-loading]')",
                    )
                    .await;
            }
            browser
                .wait_until(
                    "the first message",
                    "[...document.querySelectorAll('#messages li.msg')].some(l => l.textContent.trim().endsWith('message 1'))",
                )
                .await;
            let shown = browser
                .client
                .execute(
                    "return document.querySelectorAll('#messages li.msg').length;",
                    Vec::new(),
                )
                .await
                .unwrap();
            assert!(shown.as_u64().unwrap() <= 200, "{shown} messages in the page");
        })
        .await;
}
