//! Attacks and hostile input, each tried from outside against a running host and each refused:
//! forged and signed-out tokens, a bad bearer token beside a good cookie, wrongly typed JSON,
//! hostile text, forged cursors, foreign origins and malformed messages on `/mcp`, oversized
//! requests, and the security headers every answer carries.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_tests::{
    TEST_JWT_SECRET,
    agent::{AgentServer, ApiUser, read},
    db::{Backend, TestDb},
    mcp::HttpServer,
};

fn sign(algorithm: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("sign a test token")
}

/// Every way to forge a token for `user`, named.
fn forged_tokens(user: &ApiUser) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    let claims = |extra: Value| {
        let mut claims =
            json!({"sub": user.id, "aud": "todo-agent", "iat": now, "exp": now + 3600});
        claims
            .as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        claims
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(json!({})).to_string())
    );
    // The payload of a real token with another `sub`, and the real signature.
    let mut parts: Vec<String> = user.token.split('.').map(str::to_owned).collect();
    let other = uuid::Uuid::now_v7().to_string();
    parts[1] = URL_SAFE_NO_PAD.encode(claims(json!({"sub": other})).to_string());
    let tampered = parts.join(".");
    vec![
        ("alg none", unsigned),
        ("HS512", sign(Algorithm::HS512, &claims(json!({})))),
        (
            "audience todo-mcp",
            sign(Algorithm::HS256, &claims(json!({"aud": "todo-mcp"}))),
        ),
        (
            "expired",
            sign(
                Algorithm::HS256,
                &claims(json!({"exp": now - 3600, "iat": now - 7200})),
            ),
        ),
        (
            "nbf in the future",
            sign(Algorithm::HS256, &claims(json!({"nbf": now + 3600}))),
        ),
        (
            "iat in the future",
            sign(Algorithm::HS256, &claims(json!({"iat": now + 3600}))),
        ),
        ("tampered payload", tampered),
        (
            "no exp",
            sign(
                Algorithm::HS256,
                &json!({"sub": user.id, "aud": "todo-agent", "iat": now}),
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
    ]
}

/// Forged tokens and a token whose `sub` has no account are refused on every kind of route,
/// and the refused requests leave nothing behind (no orphan task, no conversation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_and_tokens_of_no_account_are_refused() {
    let db = TestDb::create(Backend::Sqlite, "security::forged")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let now = chrono::Utc::now().timestamp();
    let ghost = uuid::Uuid::now_v7().to_string();
    let ghost_token = sign(
        Algorithm::HS256,
        &json!({"sub": ghost, "aud": "todo-agent", "iat": now, "exp": now + 3600}),
    );
    let mut cases = forged_tokens(&user);
    cases.push(("a sub with no account", ghost_token.clone()));
    for (name, token) in cases {
        let owner = if name == "a sub with no account" {
            &ghost
        } else {
            &user.id
        };
        for (method, path, body) in [
            (Method::GET, format!("/api/{owner}/tasks"), None),
            (
                Method::POST,
                format!("/api/{owner}/tasks"),
                Some(json!({"title": "orphan"})),
            ),
            (
                Method::POST,
                format!("/api/{owner}/chat"),
                Some(json!({"message": "add orphan"})),
            ),
            (Method::GET, "/api/auth/session".to_owned(), None),
        ] {
            let response = server
                .request(method.clone(), &path, Some(&token), body)
                .await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{name}: {method} {path}"
            );
            assert_eq!(response.error_code(), "unauthorized", "{name}");
        }
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM tasks").await, 0);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM conversations").await, 0);
    // The real token still works.
    assert_eq!(
        server
            .get(&user, &format!("/api/{}/tasks", user.id))
            .await
            .status,
        StatusCode::OK
    );
}

/// Sign-out revokes the token on the server: it is refused afterwards, by the API and the
/// pages, while the person's other sessions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_the_token() {
    let db = TestDb::create(Backend::Sqlite, "security::signout")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let other_session = server
        .request(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(
        other_session.status,
        StatusCode::OK,
        "{:?}",
        other_session.body
    );
    let other_token = other_session.body["token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let signed_out = server
        .request(Method::POST, "/api/auth/signout", Some(&user.token), None)
        .await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT);
    let cookie = signed_out.headers["set-cookie"].to_str().expect("ASCII");
    assert!(
        cookie.starts_with("todo_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let refused = server.get(&user, "/api/auth/session").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let page = server
        .http
        .get(format!("{}/tasks", server.base))
        .header("cookie", format!("todo_session={}", user.token))
        .send()
        .await
        .expect("reach the pages");
    assert_eq!(
        page.url().path(),
        "/signin",
        "a signed-out cookie is sent to the sign-in page"
    );
    let still = server
        .request(Method::GET, "/api/auth/session", Some(&other_token), None)
        .await;
    assert_eq!(still.status, StatusCode::OK);
}

/// Signing out in the browser ends the session there and revokes its token on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_of_the_pages_revokes_the_token() {
    let db = TestDb::create(Backend::Sqlite, "security::web_signout")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let signed_out = client
        .post(format!("{}/signout", server.base))
        .header("cookie", format!("todo_session={}", user.token))
        .header("origin", &server.base)
        .send()
        .await
        .expect("reach the pages");
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    let cookie = signed_out.headers()["set-cookie"].to_str().expect("ASCII");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    let refused = server.get(&user, "/api/auth/session").await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "the token is revoked"
    );
}

/// A request that sends a bad bearer token is refused even with a valid session cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bearer_token_is_not_rescued_by_the_cookie() {
    let db = TestDb::create(Backend::Sqlite, "security::bearer_and_cookie")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let response = server
        .http
        .get(format!("{}/api/{}/tasks", server.base, user.id))
        .header("authorization", "Bearer not-a-token")
        .header("cookie", format!("todo_session={}", user.token))
        .send()
        .await
        .expect("reach todo-agent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let with_cookie_only = server
        .http
        .get(format!("{}/api/{}/tasks", server.base, user.id))
        .header("cookie", format!("todo_session={}", user.token))
        .send()
        .await
        .expect("reach todo-agent");
    assert_eq!(with_cookie_only.status(), StatusCode::OK);
}

/// A number or a boolean where the schema says string is a 400, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_typed_json_is_refused_and_changes_nothing() {
    let db = TestDb::create(Backend::Sqlite, "security::types")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let tasks = format!("/api/{}/tasks", user.id);
    for body in [
        json!({"title": 12}),
        json!({"title": true}),
        json!({"title": null}),
        json!({"title": ["a"]}),
        json!({"title": "ok", "tags": [1]}),
        json!({"title": "ok", "priority": 3}),
        json!({"title": "ok", "due_at": 1_700_000_000}),
        json!({"title": "ok", "description": {"text": "x"}}),
        json!(["title"]),
        json!("title"),
    ] {
        let response = server
            .request(Method::POST, &tasks, Some(&user.token), Some(body.clone()))
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            response.body
        );
        assert_eq!(response.error_code(), "bad_request", "{body}");
    }
    for body in [
        json!({"email": "typed@example.com", "password": 12_345_678}),
        json!({"email": 42, "password": "long enough password"}),
        json!({"email": "typed@example.com", "password": "long enough password", "name": false}),
    ] {
        let response = server
            .request(Method::POST, "/api/auth/signup", None, Some(body.clone()))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let chat = format!("/api/{}/chat", user.id);
    for body in [
        json!({"message": 7}),
        json!({"message": "hi", "time_zone": 2}),
    ] {
        let response = server
            .request(Method::POST, &chat, Some(&user.token), Some(body.clone()))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM tasks").await, 0);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM conversations").await, 0);
}

/// Hostile text is either stored exactly (in NFC) and read back as sent, or refused with a
/// clear 422; never a 5xx, on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_stored_literally_or_refused_clearly() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend, "security::hostile_text").await else {
            continue;
        };
        let server = AgentServer::start(&db, &[]).await;
        let user = server.sign_up().await;
        let tasks = format!("/api/{}/tasks", user.id);
        let kept = [
            "'; DROP TABLE tasks; --",
            "Robert'); DELETE FROM users WHERE ('1'='1",
            "100% of the_tasks \\ done",
            "\u{202E}evil.exe\u{202C} right-to-left",
            "family 👨\u{200D}👩\u{200D}👧 and ❤\u{FE0F}",
            "Z\u{0337}\u{0322}a\u{0335}l\u{0336}g\u{0338}o",
            "<script>alert(1)</script>",
            "\u{1F600}\u{1F600}\u{1F600}",
        ];
        for title in kept {
            let response = server
                .request(
                    Method::POST,
                    &tasks,
                    Some(&user.token),
                    Some(json!({"title": title, "description": title})),
                )
                .await;
            assert_eq!(
                response.status,
                StatusCode::CREATED,
                "{title:?}: {:?}",
                response.body
            );
            assert_eq!(response.body["title"], title);
            assert_eq!(response.body["description"], title);
        }
        let refused = [
            json!({"title": "a\u{0}b"}),
            json!({"title": "ok", "description": "a\u{0}b"}),
            json!({"title": "\u{200B}\u{FEFF}\u{200D}"}),
            json!({"title": " \u{2060} "}),
            json!({"title": "x".repeat(10_000)}),
            json!({"title": "ok", "description": "y".repeat(100_000)}),
            json!({"title": "ok", "tags": ["a b"]}),
            json!({"title": "ok", "tags": ["#".repeat(40)]}),
            json!({"title": "ok", "due_at": "2026-13-45T99:00:00Z"}),
        ];
        for body in refused {
            let response = server
                .request(Method::POST, &tasks, Some(&user.token), Some(body.clone()))
                .await;
            assert_eq!(
                response.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {:?}",
                response.body
            );
            assert_eq!(response.error_code(), "invalid");
        }
        // Searching with SQL and LIKE metacharacters finds them literally.
        for (query, hits) in [
            ("'; drop", 1),
            ("100%", 1),
            ("the_t", 1),
            ("%", 1),
            ("_", 1),
        ] {
            let found = server
                .get(&user, &format!("{tasks}?q={}", urlencode(query)))
                .await;
            assert_eq!(found.status, StatusCode::OK, "{query}");
            assert_eq!(
                found.body["tasks"].as_array().map(Vec::len),
                Some(hits),
                "{query}: {:?}",
                found.body
            );
        }
        // A NUL in a chat message is refused, not a database error.
        let chat = server
            .request(
                Method::POST,
                &format!("/api/{}/chat", user.id),
                Some(&user.token),
                Some(json!({"message": "add a\u{0}b"})),
            )
            .await;
        assert_eq!(
            chat.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            chat.body
        );
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM tasks").await,
            kept.len() as i64
        );
    }
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// One Unicode rule on both databases: search and tags fold case with full Unicode rules,
/// text is stored in NFC, and an email written two ways is one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_follows_one_unicode_rule_on_both_databases() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend, "security::unicode").await else {
            continue;
        };
        let server = AgentServer::start(&db, &[]).await;
        let user = server.sign_up().await;
        let tasks = format!("/api/{}/tasks", user.id);
        for body in [
            json!({"title": "Äpfel kaufen", "tags": ["Straße"]}),
            json!({"title": "STRASSE fegen", "tags": ["STRASSE", "straße"]}),
            json!({"title": "Cafe\u{301} besuchen", "tags": ["\u{130}".repeat(32)]}),
        ] {
            let created = server
                .request(Method::POST, &tasks, Some(&user.token), Some(body.clone()))
                .await;
            assert_eq!(
                created.status,
                StatusCode::CREATED,
                "{body}: {:?}",
                created.body
            );
        }
        let titles = |body: &Value| -> Vec<String> {
            let mut titles: Vec<String> = body["tasks"]
                .as_array()
                .expect("tasks")
                .iter()
                .map(|task| task["title"].as_str().unwrap_or_default().to_owned())
                .collect();
            titles.sort();
            titles
        };
        for (query, expected) in [
            ("q=%C3%A4pfel", vec!["Äpfel kaufen"]),
            ("q=stra%C3%9Fe", vec!["STRASSE fegen"]),
            ("q=caf%C3%A9", vec!["Café besuchen"]),
            ("tag=STRASSE", vec!["STRASSE fegen", "Äpfel kaufen"]),
            ("tag=stra%C3%9Fe", vec!["STRASSE fegen", "Äpfel kaufen"]),
        ] {
            let found = server.get(&user, &format!("{tasks}?{query}")).await;
            assert_eq!(titles(&found.body), expected, "{backend:?} {query}");
        }
        let listed = server.get(&user, &tasks).await;
        let fegen = listed.body["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|task| task["title"] == "STRASSE fegen")
            .expect("the task")
            .clone();
        assert_eq!(
            fegen["tags"],
            json!(["strasse"]),
            "two spellings of one tag are one tag"
        );
        // NFC: the decomposed é came back composed.
        assert!(titles(&listed.body).contains(&"Café besuchen".to_owned()));

        let nfc = json!({"email": "jos\u{e9}@example.com", "password": "long enough password"});
        let nfd = json!({"email": "JOSE\u{301}@example.com", "password": "long enough password"});
        let first = server
            .request(Method::POST, "/api/auth/signup", None, Some(nfc))
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        let second = server
            .request(Method::POST, "/api/auth/signup", None, Some(nfd.clone()))
            .await;
        assert_eq!(
            second.status,
            StatusCode::CONFLICT,
            "{backend:?}: {:?}",
            second.body
        );
        let signin = server
            .request(Method::POST, "/api/auth/signin", None, Some(nfd))
            .await;
        assert_eq!(signin.status, StatusCode::OK);
    }
}

/// Forged cursors and out-of-range limits get 422; unreadable values get 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cursors_and_bad_limits_are_refused() {
    let db = TestDb::create(Backend::Sqlite, "security::cursors")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    for path in [
        format!("/api/{}/tasks?cursor=garbage", user.id),
        format!("/api/{}/tasks?cursor=eyJ4IjoxfQ", user.id),
        format!("/api/{}/tasks?cursor={}", user.id, "A".repeat(5000)),
        format!("/api/{}/conversations?cursor=garbage", user.id),
        format!("/api/{}/tasks?limit=0", user.id),
        format!("/api/{}/tasks?limit=201", user.id),
        format!("/api/{}/tasks?limit=-1", user.id),
        format!("/api/{}/conversations?limit=101", user.id),
    ] {
        let response = server.get(&user, &path).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {:?}",
            response.body
        );
    }
    for path in [
        format!("/api/{}/tasks?limit=ten", user.id),
        format!("/api/{}/tasks?limit=99999999999999999999", user.id),
        format!("/api/{}/conversations/not-a-uuid/messages", user.id),
    ] {
        let response = server.get(&user, &path).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{path}: {:?}",
            response.body
        );
    }
}

async fn mcp_post(
    url: &str,
    token: &str,
    origin: Option<&str>,
    body: String,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.expect("reach /mcp");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn initialize() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "curl", "version": "1"}}})
    .to_string()
}

/// Both `/mcp` endpoints refuse foreign origins with 403 and answer malformed messages with
/// JSON-RPC errors; a wrongly typed argument is a tool error with its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_refuses_foreign_origins_and_malformed_messages() {
    let db = TestDb::create(Backend::Sqlite, "security::mcp")
        .await
        .expect("SQLite");
    let host = AgentServer::start(&db, &[]).await;
    let user = host.sign_up().await;
    let token = user.mcp_token();
    let standalone = HttpServer::start(&db).await;
    let host_mcp = format!("{}/mcp", host.base);
    for (url, own_origin) in [
        (host_mcp.as_str(), host.base.clone()),
        (standalone.url.as_str(), "http://localhost:5173".to_owned()),
    ] {
        for foreign in [
            "https://evil.example",
            "http://localhost.evil.example",
            "null",
        ] {
            let (status, body) = mcp_post(url, &token, Some(foreign), initialize()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{url} {foreign}: {body}");
        }
        let (status, body) = mcp_post(url, &token, Some(&own_origin), initialize()).await;
        assert_eq!(status, StatusCode::OK, "{url} {own_origin}: {body}");
        let (status, _) = mcp_post(url, &token, None, initialize()).await;
        assert_eq!(status, StatusCode::OK, "no Origin: not a browser");

        for (body, code) in [
            ("{not json".to_owned(), -32700),
            (
                json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]).to_string(),
                -32600,
            ),
            ("42".to_owned(), -32600),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": 5}).to_string(),
                -32600,
            ),
        ] {
            let (status, response) = mcp_post(url, &token, None, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{url} {body}: {response}");
            assert_eq!(response["error"]["code"], code, "{body}: {response}");
            assert_eq!(response["jsonrpc"], "2.0");
        }
        let call = |arguments: Value| {
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "add_task", "arguments": arguments}})
            .to_string()
        };
        let (_, response) = mcp_post(url, &token, None, call(json!("buy milk"))).await;
        assert_eq!(response["error"]["code"], -32602, "{response}");
        assert_eq!(response["id"], 7);
        let (_, response) = mcp_post(url, &token, None, call(json!({"title": 12}))).await;
        assert_eq!(response["result"]["isError"], true, "{response}");
        assert_eq!(
            response["result"]["_meta"]["todo/errorCode"], "invalid_argument",
            "{response}"
        );
    }
    // A foreign Host (DNS rebinding) is refused too.
    let rebound = reqwest::Client::new()
        .post(&host_mcp)
        .bearer_auth(&token)
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(initialize())
        .send()
        .await
        .expect("reach /mcp");
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM tasks").await, 0);
}

/// Oversized URLs and headers get 414 and 431 with the error JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_urls_and_headers_get_the_error_json() {
    let db = TestDb::create(Backend::Sqlite, "security::sizes")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let long = server
        .get(
            &user,
            &format!("/api/{}/tasks?q={}", user.id, "a".repeat(9_000)),
        )
        .await;
    assert_eq!(long.status, StatusCode::URI_TOO_LONG);
    assert_eq!(long.error_code(), "uri_too_long");
    let response = server
        .http
        .get(format!("{}/api/{}/tasks", server.base, user.id))
        .bearer_auth(&user.token)
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .expect("reach todo-agent");
    let response = read(response).await;
    assert_eq!(response.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(response.error_code(), "headers_too_large");
    let mut many = server
        .http
        .get(format!("{}/api/{}/tasks", server.base, user.id))
        .bearer_auth(&user.token);
    for n in 0..150 {
        many = many.header(format!("x-header-{n}"), "v");
    }
    let response = read(many.send().await.expect("reach todo-agent")).await;
    assert_eq!(response.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(response.error_code(), "headers_too_large");
}

/// In production every answer carries the security headers; HSTS only there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let db = TestDb::create(Backend::Sqlite, "security::headers")
        .await
        .expect("SQLite");
    let production = AgentServer::start(&db, &[]).await;
    let user = production.sign_up().await;
    for path in [
        "/api/openapi.json",
        "/healthz",
        "/signin",
        "/tasks",
        "/no-such-page",
    ] {
        let response = production
            .http
            .get(format!("{}{path}", production.base))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("reach todo-agent");
        let headers = response.headers();
        for name in [
            "x-content-type-options",
            "referrer-policy",
            "content-security-policy",
            "strict-transport-security",
            "x-frame-options",
        ] {
            assert!(
                headers.contains_key(name),
                "{path} lacks {name}: {headers:?}"
            );
        }
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap_or_default()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    let developer_db = TestDb::create(Backend::Sqlite, "security::headers_dev")
        .await
        .expect("SQLite");
    let developer = AgentServer::start(&developer_db, &[("APP_MODE", "developer")]).await;
    let response = developer
        .http
        .get(format!("{}/healthz", developer.base))
        .send()
        .await
        .expect("reach");
    assert!(
        !response.headers().contains_key("strict-transport-security"),
        "plain HTTP in developer mode"
    );
    assert!(response.headers().contains_key("x-content-type-options"));
}
