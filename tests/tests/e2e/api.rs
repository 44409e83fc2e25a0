//! The `todo-agent` HTTP API over real HTTP: accounts, every task route and filter, every auth
//! rule, the error shape, both MCP modes and the host's own `/mcp`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_tests::{
    TEST_JWT_SECRET,
    agent::{AgentServer, ApiUser, read},
    db::{Backend, TestDb},
    mcp::{HttpServer, call, workspace_binary},
    skip::skip,
};

/// Runs each listed `async fn(AgentServer)` against a fresh host on SQLite and on PostgreSQL.
macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {
        on_both_databases!(@variant sqlite, Sqlite; $($test),*);
        on_both_databases!(@variant postgres, Postgres; $($test),*);
    };
    (@variant $module:ident, $backend:ident; $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let name = concat!(module_path!(), "::", stringify!($test));
                    let Some(db) = todo_tests::db::TestDb::create(todo_tests::db::Backend::$backend, name).await else {
                        return;
                    };
                    let server = todo_tests::agent::AgentServer::start(&db, &[]).await;
                    super::$test(server).await;
                }
            )*
        }
    };
}

on_both_databases!(
    accounts_sign_up_sign_in_and_show_the_session,
    every_task_route_and_filter_works,
    tokens_are_checked_on_every_user_route,
    errors_have_one_shape_and_every_response_a_request_id,
    the_hosts_mcp_endpoint_sees_the_apis_tasks,
);

async fn accounts_sign_up_sign_in_and_show_the_session(server: AgentServer) {
    let email = format!("Ada-{}@Example.com", uuid::Uuid::new_v4().simple());
    let signup = server
        .request(
            Method::POST,
            "/api/auth/signup",
            None,
            Some(json!({"email": email, "password": "analytical engine", "name": "Ada"})),
        )
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let cookie = signup.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("todo_session="), "{cookie}");
    assert!(
        cookie.contains("SameSite=Lax") && cookie.contains("HttpOnly") && cookie.contains("Secure")
    );
    let user_id = signup.body["user_id"].as_str().unwrap().to_owned();

    let again = server
        .request(
            Method::POST,
            "/api/auth/signup",
            None,
            Some(json!({"email": email.to_uppercase(), "password": "another password"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "conflict");

    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": "long enough"}),
            "email",
        ),
        (
            json!({"email": "b@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "c@example.com", "password": "x".repeat(129)}),
            "password",
        ),
    ] {
        let response = server
            .request(Method::POST, "/api/auth/signup", None, Some(body))
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            response.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(field)
        );
    }

    let signin = server
        .request(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": email.to_lowercase(), "password": "analytical engine"})),
        )
        .await;
    assert_eq!(signin.status, StatusCode::OK);
    assert_eq!(signin.body["user_id"], user_id.as_str());
    let token = signin.body["token"].as_str().unwrap().to_owned();

    let wrong_password = server
        .request(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": email, "password": "wrong password"})),
        )
        .await;
    let unknown_email = server
        .request(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": "nobody@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.body, unknown_email.body,
        "the same answer for both"
    );

    let session = server
        .request(Method::GET, "/api/auth/session", Some(&token), None)
        .await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.body["user_id"], user_id.as_str());
    assert_eq!(session.body["email"], email.to_lowercase());
    assert_eq!(session.body["name"], "Ada");
    assert!(session.body["expires_at"].is_string());
}

async fn every_task_route_and_filter_works(server: AgentServer) {
    let user = server.sign_up().await;
    let tasks = format!("/api/{}/tasks", user.id);
    let milk = server
        .add_task(
            &user,
            json!({"title": "Buy milk", "priority": "high", "tags": ["Home"],
                                "due_at": "2030-01-01T09:00:00+01:00"}),
        )
        .await;
    assert_eq!(milk["title"], "Buy milk");
    assert_eq!(milk["due_at"], "2030-01-01T08:00:00.000000Z");
    assert_eq!(milk["tags"], json!(["home"]));
    server
        .add_task(
            &user,
            json!({"title": "Write report", "description": "Q3 numbers", "tags": ["work"]}),
        )
        .await;
    server
        .add_task(
            &user,
            json!({"title": "Call 50% of clients", "priority": "low"}),
        )
        .await;

    let titles = |response: &Value| -> Vec<String> {
        response["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|task| task["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |query: &'static str| {
        let path = format!("{tasks}{query}");
        let server = &server;
        let token = user.token.clone();
        async move { server.request(Method::GET, &path, Some(&token), None).await }
    };
    assert_eq!(
        titles(&get("").await.body),
        ["Buy milk", "Write report", "Call 50% of clients"]
    );
    assert_eq!(titles(&get("?q=q3").await.body), ["Write report"]);
    assert_eq!(titles(&get("?q=50%25").await.body), ["Call 50% of clients"]);
    assert_eq!(
        titles(&get("?priority=low").await.body),
        ["Call 50% of clients"]
    );
    assert_eq!(titles(&get("?tag=work").await.body), ["Write report"]);
    let first = get("?limit=2").await.body;
    assert_eq!(titles(&first), ["Buy milk", "Write report"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let rest = server
        .request(
            Method::GET,
            &format!("{tasks}?limit=2&cursor={cursor}"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(titles(&rest.body), ["Call 50% of clients"]);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let bad_filter = get("?status=finished").await;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_filter.body["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("status")
    );

    let one = format!("{tasks}/{}", milk["id"].as_str().unwrap());
    let got = server
        .request(Method::GET, &one, Some(&user.token), None)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, milk);

    let patched = server
        .request(
            Method::PATCH,
            &one,
            Some(&user.token),
            Some(json!({"title": "Buy oat milk", "completed": true, "due_at": ""})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["title"], "Buy oat milk");
    assert_eq!(patched.body["completed"], true);
    assert!(patched.body["completed_at"].is_string());
    assert_eq!(patched.body["due_at"], Value::Null);
    assert_eq!(
        titles(&get("?status=completed").await.body),
        ["Buy oat milk"]
    );
    let reopened = server
        .request(
            Method::PATCH,
            &one,
            Some(&user.token),
            Some(json!({"completed": false})),
        )
        .await;
    assert_eq!(reopened.body["completed"], false);

    let invalid = server
        .request(
            Method::PATCH,
            &one,
            Some(&user.token),
            Some(json!({"priority": "urgent"})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let empty = server
        .request(Method::PATCH, &one, Some(&user.token), Some(json!({})))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_title = server
        .request(
            Method::POST,
            &tasks,
            Some(&user.token),
            Some(json!({"title": "  "})),
        )
        .await;
    assert_eq!(bad_title.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_title.body["error"]["message"],
        "Title must not be empty."
    );

    let deleted = server
        .request(Method::DELETE, &one, Some(&user.token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = server
        .request(Method::GET, &one, Some(&user.token), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "not_found");
    let missing = format!("{tasks}/{}", uuid::Uuid::now_v7());
    for method in [Method::GET, Method::DELETE] {
        let response = server
            .request(method, &missing, Some(&user.token), None)
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND);
    }
}

async fn tokens_are_checked_on_every_user_route(server: AgentServer) {
    let alice = server.sign_up().await;
    let bob = server.sign_up().await;
    let task = server.add_task(&alice, json!({"title": "Alice's"})).await;
    let task_path = format!("/api/{}/tasks/{}", alice.id, task["id"].as_str().unwrap());
    let routes = [
        (Method::GET, format!("/api/{}/tasks", alice.id), None),
        (
            Method::POST,
            format!("/api/{}/tasks", alice.id),
            Some(json!({"title": "x"})),
        ),
        (Method::GET, task_path.clone(), None),
        (
            Method::PATCH,
            task_path.clone(),
            Some(json!({"title": "hijacked"})),
        ),
        (Method::DELETE, task_path.clone(), None),
    ];
    for (method, path, body) in &routes {
        for token in bad_tokens(&alice) {
            let response = server
                .request(method.clone(), path, token.as_deref(), body.clone())
                .await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            assert!(
                response.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            assert_eq!(response.error_code(), "unauthorized");
        }
        let response = server
            .request(method.clone(), path, Some(&bob.token), body.clone())
            .await;
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{method} {path} with bob's token"
        );
        assert_eq!(response.error_code(), "forbidden");
    }
    let unchanged = server
        .request(Method::GET, &task_path, Some(&alice.token), None)
        .await;
    assert_eq!(unchanged.body["title"], "Alice's");

    // The browser's cookie works too, and cannot be used from another site to change data.
    let cookie = format!("todo_session={}", alice.token);
    let via_cookie = read(
        server
            .http
            .get(format!("{}{task_path}", server.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(via_cookie.status, StatusCode::OK);
    let cross_site = read(
        server
            .http
            .post(format!("{}/api/{}/tasks", server.base, alice.id))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .json(&json!({"title": "forged"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let same_site = read(
        server
            .http
            .post(format!("{}/api/{}/tasks", server.base, alice.id))
            .header("cookie", &cookie)
            .header("origin", &server.base)
            .json(&json!({"title": "from the page"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        same_site.status,
        StatusCode::CREATED,
        "{:?}",
        same_site.body
    );
}

async fn errors_have_one_shape_and_every_response_a_request_id(server: AgentServer) {
    let user = server.sign_up().await;
    let tasks = format!("{}/api/{}/tasks", server.base, user.id);
    let bad_json = read(
        server
            .http
            .post(&tasks)
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_json.error_code(), "bad_request");

    let wrong_type = read(
        server
            .http
            .post(&tasks)
            .bearer_auth(&user.token)
            .header("content-type", "text/plain")
            .body("title")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(wrong_type.status.is_client_error());
    assert!(!wrong_type.error_code().is_empty(), "{:?}", wrong_type.body);

    // An oversized body is refused from its declared length, before it is read. The server may
    // close the connection while a client is still writing, so speak HTTP by hand: send the
    // headers and a little of the body, then read the answer.
    let (status, head, body) =
        oversized_post(&server, &format!("/api/{}/tasks", user.id), &user.token).await;
    assert_eq!(status, 413, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-request-id:"),
        "{head}"
    );
    assert_eq!(body["error"]["code"], "payload_too_large");

    let unknown = server
        .request(Method::GET, "/api/nothing/here/at/all", None, None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "not_found");

    for response in [&bad_json, &wrong_type, &unknown] {
        assert!(response.headers.contains_key("x-request-id"));
        let text = response.body.to_string();
        assert!(
            !text.contains("SELECT") && !text.contains("panicked"),
            "{text}"
        );
    }
    let health = server.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = server.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let list = server
        .request(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(list.headers["cache-control"], "no-store, private");
}

async fn the_hosts_mcp_endpoint_sees_the_apis_tasks(server: AgentServer) {
    let user = server.sign_up().await;
    server
        .add_task(&user, json!({"title": "Made through the API"}))
        .await;
    let token = user.mcp_token();
    let mcp = HttpServer::at(format!("{}/mcp", server.base));
    let client = mcp
        .client_with_token(&token)
        .await
        .expect("connect to the host's /mcp");
    let listed: Value = call(&client, "list_tasks", json!({})).await.ok();
    assert_eq!(listed["tasks"][0]["title"], "Made through the API");
    // An API token is for the API only.
    assert!(mcp.client_with_token(&user.token).await.is_err());
}

/// Ways to fail authentication: none, another audience, unsigned, tampered, expired, garbage.
fn bad_tokens(user: &ApiUser) -> Vec<Option<String>> {
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, exp: i64| json!({"sub": user.id, "aud": aud, "iat": now, "exp": exp});
    let sign = |claims: &Value| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("todo-agent", now + 3600).to_string())
    );
    let mut tampered = user.token.clone();
    tampered.pop();
    tampered.push(if user.token.ends_with('A') { 'B' } else { 'A' });
    vec![
        None,
        Some(sign(&claims("todo-mcp", now + 3600))),
        Some(unsigned),
        Some(tampered),
        Some(sign(&claims("todo-agent", now - 3600))),
        Some("garbage".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reaches_a_standalone_todo_mcp_through_mcp_tasks_url() {
    let db = TestDb::create(Backend::Sqlite, "api::remote_mcp")
        .await
        .expect("SQLite");
    let mcp = HttpServer::start(&db).await;
    let server = AgentServer::start(&db, &[("MCP_TASKS_URL", mcp.url.as_str())]).await;
    let user = server.sign_up().await;
    let created = server
        .add_task(
            &user,
            json!({"title": "Via the remote server", "tags": ["remote"]}),
        )
        .await;
    let listed = server
        .request(
            Method::GET,
            &format!("/api/{}/tasks?tag=remote", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(listed.body["tasks"][0]["id"], created["id"]);
    // The standalone server holds the task: its own MCP clients see it.
    let client = mcp.client_with_token(&user.mcp_token()).await.unwrap();
    let seen: Value = call(&client, "list_tasks", json!({})).await.ok();
    assert_eq!(seen["tasks"][0]["title"], "Via the remote server");
    // The host has no /mcp of its own in this mode.
    let none = server
        .request(Method::POST, "/mcp", None, Some(json!({})))
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    drop(mcp);
    let unreachable = server
        .request(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(unreachable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unreachable.error_code(), "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todo_agent_token_prints_a_token_the_hosts_mcp_accepts() {
    let db = TestDb::create(Backend::Sqlite, "api::token_command")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    server
        .add_task(&user, json!({"title": "Seen from Claude"}))
        .await;
    let output = tokio::process::Command::new(workspace_binary("todo-agent"))
        .args([
            "token",
            "--email",
            &user.email.to_uppercase(),
            "--days",
            "7",
        ])
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let mcp = HttpServer::at(format!("{}/mcp", server.base));
    let client = mcp.client_with_token(&token).await.unwrap();
    let listed: Value = call(&client, "list_tasks", json!({})).await.ok();
    assert_eq!(listed["tasks"][0]["title"], "Seen from Claude");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_with_its_errors() {
    let db = TestDb::create(Backend::Sqlite, "api::openapi")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let doc = server
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/auth/signup", &["post"][..]),
        ("/auth/signin", &["post"]),
        ("/auth/session", &["get"]),
        ("/{user_id}/tasks", &["get", "post"]),
        ("/{user_id}/tasks/{task_id}", &["get", "patch", "delete"]),
        ("/{user_id}/chat", &["post"]),
        ("/{user_id}/conversations", &["get"]),
        (
            "/{user_id}/conversations/{conversation_id}/messages",
            &["get"],
        ),
        ("/{user_id}/conversations/{conversation_id}", &["delete"]),
    ] {
        for method in methods {
            let responses = paths[path][method]["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} is documented"));
            for status in ["400", "401", "422", "500", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    // The chat answers either as an event stream of the six event types or as one JSON reply.
    let chat = &paths["/{user_id}/chat"]["post"]["responses"]["200"]["content"];
    assert!(chat["text/event-stream"].is_object(), "{chat}");
    assert!(
        chat["application/json; charset=utf-8"].is_object(),
        "{chat}"
    );
    let events = doc.body["components"]["schemas"]["ChatEvent"].to_string();
    for kind in [
        "start",
        "chunk",
        "tool_call",
        "tool_result",
        "done",
        "error",
    ] {
        assert!(
            events.contains(&format!("\"{kind}\"")),
            "{kind} in {events}"
        );
    }
    // Every code an `error` event (and an error body) can carry is in the document.
    let schemas = &doc.body["components"]["schemas"];
    let resolve = |schema: &Value| -> Value {
        let reference = schema["$ref"]
            .as_str()
            .or_else(|| schema["allOf"][0]["$ref"].as_str());
        match reference {
            Some(reference) => {
                schemas[reference.trim_start_matches("#/components/schemas/")].clone()
            }
            None => schema.clone(),
        }
    };
    for owner in ["ErrorEvent", "ErrorDetail"] {
        let codes = resolve(&schemas[owner]["properties"]["code"]);
        let listed: Vec<&str> = codes["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{owner}.code is an enum: {codes}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for code in todo_agent::error_code::ErrorCode::ALL {
            assert!(listed.contains(&code.as_str()), "{owner}.code lists {code}");
        }
    }
    let docs = server.request(Method::GET, "/api/docs", None, None).await;
    assert_eq!(docs.status, StatusCode::OK);
    validate_openapi(&doc.body).await;
}

/// Validates the document with `openapi-spec-validator` (Python), which knows OpenAPI 3.0 and 3.1.
async fn validate_openapi(doc: &Value) {
    let has_validator = tokio::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if !has_validator {
        skip(
            "api::openapi validation",
            "needs python3 with openapi-spec-validator: pip install -r tests/python/requirements.txt",
        );
        return;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let output = tokio::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the OpenAPI document is invalid:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Posts a 2 MiB JSON body by hand and returns the status, head and JSON body of the answer.
async fn oversized_post(server: &AgentServer, path: &str, token: &str) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let address = server.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{\"title\": \"",
        2 * 1024 * 1024
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers without reading the body")
    .ok();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let body = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    (status, head.to_owned(), body)
}

/// `2026-12-04T10:41:49.429335Z`: UTC, `Z`, six fractional digits.
fn is_instant(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let shape = "0000-00-00T00:00:00.000000Z";
    text.len() == shape.len()
        && text
            .chars()
            .zip(shape.chars())
            .all(|(c, s)| if s == '0' { c.is_ascii_digit() } else { c == s })
}

/// Every instant the product writes has one form: in the API (tokens, tasks, conversations,
/// messages), in tool results (over MCP and in the chat stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instant_is_written_in_one_rfc3339_form() {
    let db = TestDb::create(Backend::Sqlite, "api::instants")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let session = server.get(&user, "/api/auth/session").await;
    let signin = server
        .request(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": "correct horse battery"})),
        )
        .await;
    let task = server
        .add_task(
            &user,
            json!({"title": "when", "due_at": "2030-01-01T09:00:00+01:00"}),
        )
        .await;
    let done = server
        .request(
            Method::PATCH,
            &format!("/api/{}/tasks/{}", user.id, task["id"].as_str().unwrap()),
            Some(&user.token),
            Some(json!({"completed": true})),
        )
        .await;
    let events = server
        .chat(&user, json!({"message": "add write it down tomorrow"}))
        .await;
    let result = events
        .iter()
        .find(|event| event.kind() == "tool_result")
        .expect("the offline agent called add_task")
        .data["result"]["task"]
        .clone();
    let conversation = events[0].data["conversation_id"].as_str().unwrap();
    let conversations = server
        .get(&user, &format!("/api/{}/conversations", user.id))
        .await;
    let messages = server
        .get(
            &user,
            &format!("/api/{}/conversations/{conversation}/messages", user.id),
        )
        .await;
    let mcp = HttpServer::at(format!("{}/mcp", server.base));
    let client = mcp.client_with_token(&user.mcp_token()).await.unwrap();
    let listed: Value = call(&client, "list_tasks", json!({})).await.ok();

    let instants = [
        ("signup expires_at", signup_expiry(&server).await),
        ("session expires_at", session.body["expires_at"].clone()),
        ("signin expires_at", signin.body["expires_at"].clone()),
        ("task created_at", task["created_at"].clone()),
        ("task updated_at", task["updated_at"].clone()),
        ("task due_at", task["due_at"].clone()),
        ("task completed_at", done.body["completed_at"].clone()),
        (
            "stream tool result created_at",
            result["created_at"].clone(),
        ),
        ("stream tool result due_at", result["due_at"].clone()),
        (
            "conversation created_at",
            conversations.body["conversations"][0]["created_at"].clone(),
        ),
        (
            "conversation updated_at",
            conversations.body["conversations"][0]["updated_at"].clone(),
        ),
        (
            "message created_at",
            messages.body["messages"][0]["created_at"].clone(),
        ),
        (
            "MCP task created_at",
            listed["tasks"][0]["created_at"].clone(),
        ),
        (
            "MCP task completed_at",
            listed["tasks"][1]["completed_at"].clone(),
        ),
    ];
    for (what, value) in instants {
        assert!(is_instant(&value), "{what} is {value}");
    }
    assert_eq!(task["due_at"], "2030-01-01T08:00:00.000000Z");
}

/// A fresh sign-up's `expires_at` (the kit's `sign_up` keeps only the token).
async fn signup_expiry(server: &AgentServer) -> Value {
    let response = server
        .request(
            Method::POST,
            "/api/auth/signup",
            None,
            Some(json!({
                "email": format!("expiry-{}@example.com", uuid::Uuid::new_v4().simple()),
                "password": "correct horse battery",
            })),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    response.body["expires_at"].clone()
}
