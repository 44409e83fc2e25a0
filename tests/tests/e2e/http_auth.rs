//! `todo-mcp serve` refuses every request without a valid `todo-mcp` bearer token.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use todo_tests::{
    TEST_JWT_SECRET,
    db::{Backend, TestDb},
    mcp::{HttpServer, mcp_token, new_user},
};

fn claims(audience: &str, expires_in: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": new_user().to_string(), "aud": audience, "iat": now, "exp": now + expires_in})
}

fn sign(algorithm: Algorithm, secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign a test token")
}

async fn post_initialize(server: &HttpServer, authorization: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(&server.url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "curl", "version": "1"}}
        }));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("reach todo-mcp serve")
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_a_bearer_challenge() {
    let db = TestDb::create(Backend::Sqlite, "http_auth")
        .await
        .expect("SQLite");
    let server = HttpServer::start(&db).await;
    let valid = claims("todo-mcp", 3600);
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(valid.to_string())
    );
    let mut tampered = sign(Algorithm::HS256, TEST_JWT_SECRET, &valid);
    // A different last character (one in 64 signatures already ends in 'A').
    let last = tampered.pop();
    tampered.push(if last == Some('A') { 'B' } else { 'A' });

    let cases = [
        ("no header", None),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("basic auth", Some("Basic dXNlcjpwYXNz".to_owned())),
        ("garbage", Some("Bearer not.a.jwt".to_owned())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    TEST_JWT_SECRET,
                    &claims("todo-mcp", -3600)
                )
            )),
        ),
        (
            "other secret",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    "another-secret-another-secret-0000",
                    &valid
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {unsigned}"))),
        (
            "alg HS512",
            Some(format!(
                "Bearer {}",
                sign(Algorithm::HS512, TEST_JWT_SECRET, &valid)
            )),
        ),
        ("tampered signature", Some(format!("Bearer {tampered}"))),
        (
            "agent audience",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    TEST_JWT_SECRET,
                    &claims("todo-agent", 3600)
                )
            )),
        ),
    ];
    for (case, authorization) in cases {
        let response = post_initialize(&server, authorization).await;
        assert_eq!(response.status(), 401, "{case}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer"),
            "{case}: challenge {challenge:?}"
        );
        let body: serde_json::Value = response.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["code"], "unauthorized", "{case}");
    }

    let response =
        post_initialize(&server, Some(format!("Bearer {}", mcp_token(new_user())))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_rmcp_client_sees_an_authorization_error_for_a_bad_token() {
    let db = TestDb::create(Backend::Sqlite, "http_auth")
        .await
        .expect("SQLite");
    let server = HttpServer::start(&db).await;
    let Err(err) = server.client_with_token("nope").await else {
        panic!("the handshake must be refused");
    };
    assert!(err.to_string().to_lowercase().contains("auth"), "{err}");
}
