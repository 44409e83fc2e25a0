//! The web pages over plain HTTP, as a browser without JavaScript uses them: forms post and
//! redirect, errors come back next to their fields, other sites cannot post, assets are
//! cached, and a long list comes in pages. (The browser tests are in `browser.rs`.)

use reqwest::{StatusCode, header};
use todo_tests::{
    agent::{AgentServer, ApiUser, TestApp},
    db::{Backend, TestDb},
};

struct Site {
    server: AgentServer,
    /// A client that keeps cookies and does not follow redirects, like a form post seen raw.
    browser: reqwest::Client,
    _db: TestDb,
}

impl Site {
    async fn start(name: &str) -> Self {
        let db = TestDb::create(Backend::Sqlite, name).await.expect("SQLite");
        let server = TestApp::new(&db).env("APP_MODE", "developer").start().await;
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("an HTTP client");
        Self {
            server,
            browser,
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.browser.get(self.url(path)).send().await.expect("GET")
    }

    /// Posts a form from this site (as a browser's `Origin` says).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser
            .post(self.url(path))
            .header("origin", &self.server.base)
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    async fn sign_up(&self) -> String {
        let email = format!("page-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self
            .post(
                "/signup",
                &[
                    ("email", &email),
                    ("password", "correct horse battery"),
                    ("name", "Ada"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/tasks");
        email
    }
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_work_without_javascript() {
    let site = Site::start("web::no_js").await;
    let root = site.get("/").await;
    assert_eq!(location(&root), "/signin");

    // A refused sign-up: 422, every field's error, what was typed kept (but never a password).
    let refused = site
        .post(
            "/signup",
            &[
                ("email", "nope"),
                ("password", "short pw"),
                ("name", "Ada <b>"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains(r#"id="email-error""#), "{page}");
    assert!(page.contains(r#"value="nope""#));
    assert!(
        page.contains("Ada &#60;b&#62;"),
        "the name is kept, escaped"
    );
    assert!(!page.contains("short pw"));

    site.sign_up().await;
    assert_eq!(location(&site.get("/").await), "/tasks");
    let added = site
        .post(
            "/tasks",
            &[
                ("title", "Water the plants"),
                ("priority", "high"),
                ("due_local", "2030-01-01T09:00"),
                ("tz_offset", ""),
                ("tags", "home, garden"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let page = site.get("/tasks").await.text().await.unwrap();
    assert!(page.contains("Water the plants"));
    // Without the page's script, times are in UTC.
    assert!(page.contains("due Tue 1 Jan 2030, 09:00 UTC"), "{page}");

    // A bad task: the page again, the error by the field, the typed title kept.
    let bad = site
        .post(
            "/tasks",
            &[
                ("title", ""),
                ("priority", "medium"),
                ("due_local", "soon"),
                ("tags", ""),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(page.contains(r#"id="add-due-error""#), "{page}");

    // Sign out ends the session.
    let out = site.post("/signout", &[]).await;
    assert_eq!(location(&out), "/signin");
    assert_eq!(location(&site.get("/tasks").await), "/signin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sites_cannot_post_and_pages_are_not_cached() {
    let site = Site::start("web::csrf").await;
    site.sign_up().await;
    let forged = site
        .browser
        .post(site.url("/tasks"))
        .header("origin", "http://evil.example")
        .form(&[("title", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let page = site.get("/tasks").await;
    let headers = page.headers().clone();
    assert!(!page.text().await.unwrap().contains("forged"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_have_hashed_names_and_are_cached_for_a_year() {
    let site = Site::start("web::assets").await;
    let page = site.get("/signin").await.text().await.unwrap();
    let mut found = 0;
    for url in page
        .split('"')
        .filter(|part| part.starts_with("/static/") && part.len() > "/static/".len())
    {
        found += 1;
        let asset = site.get(url).await;
        assert_eq!(asset.status(), StatusCode::OK, "{url}");
        assert_eq!(
            asset.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
    assert_eq!(found, 4, "htmx, two scripts and the stylesheet: {page}");
    assert_eq!(
        site.get("/static/app.css").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_comes_in_pages_and_other_users_tasks_stay_out() {
    let site = Site::start("web::paging").await;
    site.sign_up().await;
    for i in 0..60 {
        let title = format!("task {i:02}");
        site.post("/tasks", &[("title", title.as_str())]).await;
    }
    let page = site.get("/tasks").await.text().await.unwrap();
    assert_eq!(page.matches(r#"class="task""#).count(), 50);
    let more = page
        .split("href=\"/tasks?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the next page")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let next = site
        .browser
        .get(site.url(&format!("/tasks?{more}")))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(next.matches(r#"class="task""#).count(), 10, "{next}");
    assert!(!next.contains("<html"), "htmx gets the rows only");

    // Someone else's task id is not found for this user: nothing changes.
    let other: ApiUser = site.server.sign_up().await;
    let theirs = site
        .server
        .add_task(&other, serde_json::json!({"title": "not yours"}))
        .await;
    let id = theirs["id"].as_str().unwrap();
    let attempt = site
        .post(&format!("/tasks/{id}/complete"), &[("completed", "true")])
        .await;
    assert_eq!(location(&attempt), "/tasks");
    let theirs_now = site
        .server
        .get(&other, &format!("/api/{}/tasks/{id}", other.id))
        .await;
    assert_eq!(theirs_now.body["completed"], false);
}
