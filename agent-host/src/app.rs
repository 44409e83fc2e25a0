//! Building and running the `todo-agent` server: one port for the API, `/mcp`, `/healthz` and
//! `/readyz`.
//!
//! `App::build` binds the listener first (so the URL can be printed and tests can bind port 0),
//! then connects to the database and runs both migrators; `run_until_stopped` serves until the
//! shutdown token is cancelled and lets open requests finish.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler,
    http::{StatusCode, header},
    listener::{Acceptor, Listener, TcpListener},
    middleware::{RequestId, SetHeader, Tracing},
    web::Data,
};
use sea_orm::DatabaseConnection;
use todo_mcp::{
    auth::{JwtSecret, TokenKeys},
    db,
    net::NoDelayAcceptor,
    store::TaskStore,
};
use todo_migrations::{HostMigrator, MigratorTrait as _, TaskMigrator};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::{
    accounts::AccountStore,
    api::{self, error::render_poem_error},
    auth::AuthContext,
    chat::{
        ChatService, conversations::ConversationStore, model::Provider, offline::OfflineModel,
        openai::OpenAiModel,
    },
    config::{Config, Security},
    tasks::{TaskGateway, TaskTarget},
};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long open requests get to finish after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// How long of that a chat reply may keep streaming before it is stopped.
const TURN_GRACE: Duration = Duration::from_secs(7);

/// What the request handlers share.
pub struct AppState {
    pub accounts: AccountStore,
    pub tasks: TaskGateway,
    pub keys: TokenKeys,
    pub security: Security,
    pub public_base_url: Url,
    pub db: DatabaseConnection,
    pub chat: Arc<ChatService>,
}

/// A bound, migrated, not yet serving `todo-agent`.
pub struct App {
    acceptor: NoDelayAcceptor,
    state: Arc<AppState>,
    embedded_tasks: Option<TaskStore>,
}

impl App {
    /// Binds `BIND`; the caller may announce the address before `connect`.
    pub async fn bind(config: &Config) -> anyhow::Result<NoDelayAcceptor> {
        let acceptor = TcpListener::bind(config.bind)
            .into_acceptor()
            .await
            .with_context(|| format!("listen on BIND={}", config.bind))?;
        Ok(NoDelayAcceptor(acceptor))
    }

    /// Connects to the database, runs the migrations and assembles the state.
    pub async fn build(
        config: &Config,
        secret: &JwtSecret,
        acceptor: NoDelayAcceptor,
    ) -> anyhow::Result<Self> {
        let bound = Self::local_addr(&acceptor).unwrap_or(config.bind);
        let db = db::connect(&config.database_url).await?;
        HostMigrator::up(&db, None)
            .await
            .with_context(|| format!("run the host migrations on {}", config.database_url))?;
        let keys = TokenKeys::new(secret);
        let (tasks, embedded_tasks) = match &config.mcp_tasks_url {
            Some(url) => (
                TaskGateway::new(TaskTarget::Remote {
                    url: url.clone(),
                    keys: keys.clone(),
                }),
                None,
            ),
            None => {
                // The embedded task server shares the pool; only its store touches its tables.
                TaskMigrator::up(&db, None).await.with_context(|| {
                    format!("run the task migrations on {}", config.database_url)
                })?;
                let store = TaskStore::new(db.clone());
                (
                    TaskGateway::new(TaskTarget::Embedded(store.clone())),
                    Some(store),
                )
            }
        };
        let provider = match &config.openai.api_key {
            Some(key) => Provider::OpenAi(Box::new(
                OpenAiModel::new(&config.openai, &key.0).context("build the model client")?,
            )),
            None => Provider::Offline(OfflineModel),
        };
        match &provider {
            Provider::OpenAi(_) => tracing::info!(
                model = %config.openai.model,
                base_url = config.openai.base_url.as_ref().map_or("https://api.openai.com/v1", |url| url.as_str()),
                "the assistant uses an OpenAI-compatible model"
            ),
            Provider::Offline(_) => tracing::info!(
                "the assistant is the built-in offline agent; set OPENAI_API_KEY to use a model"
            ),
        }
        let chat = Arc::new(ChatService::new(
            ConversationStore::new(db.clone()),
            provider,
            tasks.clone(),
        ));
        let state = Arc::new(AppState {
            accounts: AccountStore::new(db.clone()),
            chat,
            tasks,
            keys,
            security: config.security(),
            public_base_url: config.public_base_url(bound),
            db,
        });
        Ok(Self {
            acceptor,
            state,
            embedded_tasks,
        })
    }

    pub fn local_addr(acceptor: &impl Acceptor) -> Option<SocketAddr> {
        acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    ///
    /// Chat turns get most of the grace period to finish their replies; then they are told to
    /// stop (their clients get a retryable `error` event, what they had is stored) so that the
    /// server can end within the grace period.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> io::Result<()> {
        let chat = self.state.chat.clone();
        let stop_turns = {
            let shutdown = shutdown.clone();
            let chat = chat.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                tokio::time::sleep(TURN_GRACE).await;
                chat.stop_turns(GRACE_PERIOD - TURN_GRACE).await;
            })
        };
        let routes = routes(self.state, self.embedded_tasks, shutdown.child_token());
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(routes, shutdown.cancelled_owned(), Some(GRACE_PERIOD))
            .await;
        stop_turns.abort();
        // Turns still running store what they have before the process exits.
        chat.stop_turns(Duration::from_secs(2)).await;
        served
    }
}

fn routes(
    state: Arc<AppState>,
    embedded_tasks: Option<TaskStore>,
    shutdown: CancellationToken,
) -> impl Endpoint {
    let api = api::service(state.clone());
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let auth_context = AuthContext {
        keys: state.keys.clone(),
        public_base_url: state.public_base_url.clone(),
    };
    let api_routes = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .with(
            SetHeader::new()
                .overriding(header::CACHE_CONTROL, state.security.private_cache_control),
        );
    let mut route = Route::new()
        .nest("/api", api_routes)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz));
    if let Some(store) = embedded_tasks {
        route = route.at(
            "/mcp",
            todo_mcp::http::mcp_endpoint(store, state.keys.clone(), shutdown),
        );
    }
    route
        .around(limit_body)
        .data(auth_context)
        .data(state)
        .catch_all_error(render_poem_error)
        .with(Tracing)
        .with(RequestId::default())
}

/// Refuses bodies over [`MAX_BODY_BYTES`] with 413, whether or not they declare their length.
async fn limit_body<E: Endpoint>(endpoint: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        Some(_) => {}
        None => {
            let body = req.take_body().into_bytes_limit(MAX_BODY_BYTES).await?;
            req.set_body(body);
        }
    }
    Ok(endpoint.call(req).await?.into_response())
}

/// The process is up.
#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
#[handler]
async fn readyz(state: Data<&Arc<AppState>>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}
