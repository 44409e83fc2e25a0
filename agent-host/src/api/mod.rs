//! The HTTP API (poem-openapi): one `#[OpenApi]` struct per resource, each holding only what it
//! needs, combined into one service whose document is served at `/api/openapi.json` with
//! interactive docs at `/api/docs`.

pub mod auth_routes;
pub mod chat_routes;
pub mod error;
pub mod event_stream;
pub mod password;
mod schema;
pub mod tags;
pub mod task_routes;
pub mod text;
pub mod timestamp;

use poem_openapi::OpenApiService;
use url::Url;

use auth_routes::AuthApi;
use chat_routes::ChatApi;
use task_routes::TaskApi;

/// The API service, to be nested at `/api`; `public_base_url` names its server.
pub fn service(
    auth: AuthApi,
    tasks: TaskApi,
    chat: ChatApi,
    public_base_url: &Url,
) -> OpenApiService<(AuthApi, TaskApi, ChatApi), ()> {
    let server = public_base_url
        .join("api")
        .map(|url| url.to_string())
        .unwrap_or_else(|_| "/api".to_owned());
    OpenApiService::new((auth, tasks, chat), "Todo Agent", env!("CARGO_PKG_VERSION"))
        .description(
            "Tasks and accounts of Todo Agent. Send `Authorization: Bearer <token>` from \
             sign-in or sign-up; every `/{user_id}/...` route answers 401 without a valid token \
             and 403 when `user_id` is not the token's user. Errors are \
             `{\"error\": {\"code\", \"message\"}}`.",
        )
        .server(server)
}
