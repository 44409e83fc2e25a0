//! The HTTP API (poem-openapi): one `#[OpenApi]` struct per resource, combined into one
//! service whose document is served at `/api/openapi.json` with interactive docs at `/api/docs`.

pub mod auth_routes;
pub mod chat_routes;
pub mod error;
pub mod task_routes;

use std::sync::Arc;

use poem_openapi::{OpenApiService, Tags};

use crate::app::AppState;
use auth_routes::AuthApi;
use chat_routes::ChatApi;
use task_routes::TaskApi;

#[derive(Tags)]
enum ApiTags {
    /// Accounts and sessions.
    Auth,
    /// The signed-in user's tasks.
    Tasks,
    /// The assistant and its conversations.
    Chat,
}

/// The API service, to be nested at `/api`.
pub fn service(state: Arc<AppState>) -> OpenApiService<(AuthApi, TaskApi, ChatApi), ()> {
    let server = state
        .public_base_url
        .join("api")
        .map(|url| url.to_string())
        .unwrap_or_else(|_| "/api".to_owned());
    OpenApiService::new(
        (
            AuthApi {
                state: state.clone(),
            },
            TaskApi {
                state: state.clone(),
            },
            ChatApi { state },
        ),
        "Todo Agent",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Tasks and accounts of Todo Agent. Send `Authorization: Bearer <token>` from \
         sign-in or sign-up; every `/{user_id}/...` route answers 401 without a valid token \
         and 403 when `user_id` is not the token's user. Errors are \
         `{\"error\": {\"code\", \"message\"}}`.",
    )
    .server(server)
}
