//! Building and running the `todo-agent` server: one port for the API, `/chatkit`, `/mcp`,
//! `/healthz`, `/readyz` and the web pages.
//!
//! `App::build` binds the listener first (so the URL can be printed and tests can bind port 0),
//! then connects to the database and runs both migrators; `run_until_stopped` serves until the
//! shutdown token is cancelled and lets open requests finish.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler,
    http::{HeaderName, Method, StatusCode, header},
    middleware::{Cors, RequestId, SetHeader},
    post,
    web::Data,
};
use sea_orm::DatabaseConnection;
use todo_mcp::{
    auth::{JwtSecret, TokenKeys},
    db,
    http::{AllowedOrigins, McpHttpOptions, loopback_hosts},
    net::{ConnectionLimits, HttpServer},
    store::TaskStore,
};
use todo_migrations::{HostMigrator, TaskMigrator};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::{
    accounts::AccountStore,
    api::{
        self, auth_routes::AuthApi, chat_routes::ChatApi, error::render_poem_error,
        task_routes::TaskApi,
    },
    auth::{AuthContext, SessionIssuer},
    chat::{
        ChatService, conversations::ConversationStore, metered::MeteredModel, model::ChatModel,
        offline::OfflineModel, openai::OpenAiModel,
    },
    chatkit::{self, ChatKitEndpoint},
    client::{TrustedProxies, resolve_client},
    config::{Config, Security, Timing},
    limits::Limits,
    metrics::{self, Metrics, count_requests},
    middleware::{catch_panic, limit_body, limit_head, security_headers},
    tasks::{TaskGateway, TaskTarget},
    telemetry::trace_request,
    web_pages::WebPages,
};

/// A bound, migrated, not yet serving `todo-agent`: the parts the routes are made of.
pub struct App {
    server: HttpServer,
    limits: ConnectionLimits,
    trusted_proxies: Arc<TrustedProxies>,
    accounts: AccountStore,
    tasks: TaskGateway,
    chat: Arc<ChatService>,
    keys: TokenKeys,
    security: Security,
    public_base_url: Url,
    db: DatabaseConnection,
    embedded_tasks: Option<TaskStore>,
    timing: Timing,
    metrics: Arc<Metrics>,
    /// `METRICS_BIND`'s listener, when set.
    metrics_server: Option<HttpServer>,
    /// `CORS_ORIGINS`: other sites' pages that may call `/chatkit`.
    cors_origins: Vec<String>,
}

impl App {
    /// Binds `BIND`; the caller may announce the address before `connect`.
    pub async fn bind(config: &Config) -> anyhow::Result<HttpServer> {
        HttpServer::bind(config.bind, config.limits)
            .await
            .with_context(|| format!("listen on BIND={}", config.bind))
    }

    /// Connects to the database, runs the migrations and assembles the state.
    pub async fn build(
        config: &Config,
        secret: &JwtSecret,
        server: HttpServer,
    ) -> anyhow::Result<Self> {
        let bound = server.local_addr().unwrap_or(config.bind);
        let metrics_server = match config.metrics_bind {
            Some(addr) => Some(
                HttpServer::bind(addr, config.limits)
                    .await
                    .with_context(|| format!("listen on METRICS_BIND={addr}"))?,
            ),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        let db = db::connect(&config.database_url).await?;
        let migrating = db::migration_pool(&config.database_url, &db).await?;
        todo_migrations::up::<HostMigrator>(&migrating)
            .await
            .with_context(|| format!("run the host migrations on {}", config.database_url))?;
        // On a SQLite file, the statements of every request and turn run on one connection of
        // their own thread rather than on sqlx's pool (see `todo_mcp::db::SqliteThread`).
        let sqlite = db::SqliteThread::open(&config.database_url, "sqlite")
            .transpose()
            .with_context(|| format!("open {} for the host's statements", config.database_url))?;
        let keys = TokenKeys::new(secret);
        let (tasks, embedded_tasks) = match &config.mcp_tasks_url {
            Some(url) => (
                TaskGateway::new(
                    TaskTarget::remote(url.clone(), keys.clone())
                        .context("build the HTTP client of MCP_TASKS_URL")?,
                    metrics.clone(),
                ),
                None,
            ),
            None => {
                // The embedded task server shares the pool; only its store touches its tables.
                todo_migrations::up::<TaskMigrator>(&migrating)
                    .await
                    .with_context(|| {
                        format!("run the task migrations on {}", config.database_url)
                    })?;
                let store = match &sqlite {
                    Some(thread) => TaskStore::with_sqlite_thread(db.clone(), thread.clone()),
                    None => TaskStore::new(db.clone()),
                };
                (
                    TaskGateway::new(TaskTarget::Embedded(store.clone()), metrics.clone()),
                    Some(store),
                )
            }
        };
        let model: Arc<dyn ChatModel> = match &config.openai.api_key {
            Some(key) => {
                tracing::info!(
                    model = %config.openai.model,
                    base_url = config.openai.base_url.as_ref().map_or("https://api.openai.com/v1", |url| url.as_str()),
                    "the assistant uses an OpenAI-compatible model"
                );
                Arc::new(
                    OpenAiModel::new(&config.openai, key, config.timing.model)
                        .context("build the model client")?,
                )
            }
            None => {
                tracing::info!(
                    "the assistant is the built-in offline agent; set OPENAI_API_KEY to use a model"
                );
                Arc::new(OfflineModel)
            }
        };
        let model = Arc::new(MeteredModel::new(model, metrics.clone()));
        let limits = Limits::new(&config.abuse);
        let mut conversations = ConversationStore::new(db.clone());
        let mut accounts = AccountStore::new(db.clone(), limits.clone());
        if let Some(thread) = sqlite {
            conversations = conversations.with_sqlite_thread(thread.clone());
            accounts = accounts.with_sqlite_thread(thread);
        }
        let chat = Arc::new(ChatService::new(
            conversations,
            model,
            tasks.clone(),
            limits.clone(),
        ));
        Ok(Self {
            server,
            limits: config.limits,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            accounts,
            tasks,
            chat,
            keys,
            security: config.security(),
            public_base_url: config.public_base_url(bound),
            db,
            embedded_tasks,
            timing: config.timing,
            metrics,
            metrics_server,
            cors_origins: config.cors_origins.clone(),
        })
    }

    /// The assistant, for whoever watches its turns (tests wait for them to settle).
    pub fn chat(&self) -> Arc<ChatService> {
        self.chat.clone()
    }

    /// Where the server listens (port 0 resolved).
    pub fn bound_addr(&self) -> Option<SocketAddr> {
        self.server.local_addr().ok()
    }

    /// Where `/metrics` is served, when `METRICS_BIND` is set (port 0 resolved).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server
            .as_ref()
            .and_then(|server| server.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    ///
    /// Chat turns get most of the grace period to finish their replies; then they are told to
    /// stop (their clients get a retryable `error` event, what they had is stored) so that the
    /// server can end within the grace period.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) -> io::Result<()> {
        let chat = self.chat.clone();
        let Timing {
            shutdown_grace,
            turn_grace,
            ..
        } = self.timing;
        let stop_turns = {
            let shutdown = shutdown.clone();
            let chat = chat.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                tokio::time::sleep(turn_grace).await;
                chat.stop_turns(shutdown_grace.saturating_sub(turn_grace))
                    .await;
            })
        };
        let metrics_served = self.metrics_server.take().map(|server| {
            let routes = Route::new().at(
                "/metrics",
                get(metrics_text)
                    .data(self.metrics.clone())
                    .data(self.db.clone()),
            );
            tokio::spawn(server.serve(routes, shutdown.clone(), shutdown_grace))
        });
        let (server, routes) = self.into_routes(shutdown.child_token());
        let served = server.serve(routes, shutdown, shutdown_grace).await;
        if let Some(metrics_served) = metrics_served {
            match metrics_served.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "the /metrics listener failed"),
                Err(err) => tracing::warn!(error = %err, "the /metrics listener panicked"),
            }
        }
        stop_turns.abort();
        // Turns still running store what they have before the process exits.
        chat.stop_turns(Duration::from_secs(2)).await;
        served
    }
}

impl App {
    /// The listener and the route tree: each API resource gets only the parts it needs.
    fn into_routes(self, shutdown: CancellationToken) -> (HttpServer, impl Endpoint + 'static) {
        let auth_context = AuthContext {
            keys: self.keys.clone(),
            accounts: self.accounts.clone(),
            public_base_url: self.public_base_url.clone(),
        };
        let pages = todo_web::routes(
            Arc::new(WebPages {
                accounts: self.accounts.clone(),
                conversations: self.chat.conversations().clone(),
                sessions: SessionIssuer::new(self.keys.clone(), self.security),
                auth: auth_context.clone(),
                tasks: self.tasks.clone(),
            }),
            self.public_base_url.clone(),
        );
        let chatkit = post(ChatKitEndpoint {
            chat: self.chat.clone(),
            heartbeat: self.timing.heartbeat,
            metrics: self.metrics.clone(),
        });
        let api = api::service(
            AuthApi {
                accounts: self.accounts,
                sessions: SessionIssuer::new(self.keys.clone(), self.security),
            },
            TaskApi { tasks: self.tasks },
            ChatApi {
                chat: self.chat,
                heartbeat: self.timing.heartbeat,
                metrics: self.metrics.clone(),
            },
            &self.public_base_url,
        );
        // The API's document with `/chatkit`, written once.
        let document = chatkit::openapi::document(&api.spec(), &self.public_base_url);
        let spec = poem::endpoint::make_sync(move |_| {
            Response::builder()
                .content_type("application/json; charset=utf-8")
                .body(document.clone())
        });
        let docs = api.swagger_ui();
        let mcp_url = self.public_base_url.clone();
        let bound = self.server.local_addr().ok();
        let api_routes = Route::new()
            .at("/openapi.json", spec)
            .nest("/docs", docs)
            .nest("/", api)
            .with(
                SetHeader::new()
                    .overriding(header::CACHE_CONTROL, self.security.private_cache_control),
            );
        let mut route = Route::new()
            .nest("/api", api_routes)
            .at("/healthz", get(healthz))
            .at("/readyz", get(readyz).data(self.db))
            .nest("/", pages);
        route = if self.cors_origins.is_empty() {
            route.at("/chatkit", chatkit)
        } else {
            route.at(
                "/chatkit",
                chatkit.with(chatkit_cors(&self.cors_origins, &self.public_base_url)),
            )
        };
        if let Some(store) = self.embedded_tasks {
            let options = mcp_options(&mcp_url, bound, self.limits);
            route = route.at(
                "/mcp",
                todo_mcp::http::mcp_endpoint(store, self.keys, options, shutdown),
            );
        }
        let body_read = self.limits.body_read;
        let proxies = self.trusted_proxies;
        let security = self.security;
        let metrics = self.metrics;
        let routes = route
            .around(catch_panic)
            .around(move |endpoint, req| limit_body(endpoint, req, body_read))
            .around(limit_head)
            .data(auth_context)
            .around(move |endpoint, req| resolve_client(endpoint, req, proxies.clone()))
            // Inside the error rendering, which would lose the route pattern of a failure.
            .around(move |endpoint, req| count_requests(endpoint, req, metrics.clone()))
            .catch_all_error(render_poem_error)
            .around(move |endpoint, req| security_headers(endpoint, req, security))
            .around(trace_request)
            .with(RequestId::default());
        (self.server, routes)
    }
}

/// `/mcp` of the embedded task server: pages of `PUBLIC_BASE_URL` only, and the `Host` names
/// this host is reached by (its public name, this machine's names, its bind address).
fn mcp_options(
    public: &Url,
    bound: Option<SocketAddr>,
    limits: ConnectionLimits,
) -> McpHttpOptions {
    let origin = public.origin().ascii_serialization();
    let allowed_origins = AllowedOrigins::default()
        .with(&origin)
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "PUBLIC_BASE_URL has no origin; /mcp accepts no browser origin");
            AllowedOrigins::default()
        });
    let mut allowed_hosts: Vec<String> = loopback_hosts().into_iter().map(str::to_owned).collect();
    allowed_hosts.extend(public.host_str().map(str::to_owned));
    allowed_hosts.extend(bound.map(|addr| addr.ip().to_string()));
    McpHttpOptions {
        allowed_origins,
        allowed_hosts,
        body_read: limits.body_read,
    }
}

/// Lets the pages of `CORS_ORIGINS` (and this site's own) call `/chatkit` with a bearer
/// token. No credentials: a cookie is never sent across sites, and the cookie check refuses
/// writes from other sites anyway.
fn chatkit_cors(origins: &[String], public: &Url) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_origin(public.origin().ascii_serialization())
        .allow_methods([Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(chatkit::TIME_ZONE_HEADER),
        ])
        .max_age(600)
}

/// `/metrics`, in the Prometheus text format.
#[handler]
fn metrics_text(metrics: Data<&Arc<Metrics>>, db: Data<&DatabaseConnection>) -> Response {
    Response::builder()
        .content_type(metrics::CONTENT_TYPE)
        .body(metrics.render(&db))
}

/// The process is up.
#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the database: a load balancer's check must not hang.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The database answers, within [`READY_CHECK_TIMEOUT`].
#[handler]
async fn readyz(db: Data<&DatabaseConnection>) -> Response {
    match tokio::time::timeout(READY_CHECK_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => "ready".into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}
