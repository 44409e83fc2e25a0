//! The web pages of Todo Agent: server-rendered Askama templates with htmx partial updates.
//!
//! This crate depends on neither the host nor the MCP server: it declares what it needs as
//! [`host::WebHost`] (the current user, sign-in and sign-up, task operations), and `todo-agent`
//! implements that trait and mounts [`routes`]. Templates live in the workspace's `templates/`
//! and are checked at compile time; static files are embedded ([`assets`]).

pub mod assets;
mod csrf;
pub mod forms;
pub mod host;
pub mod markdown;
mod pages;
mod session;
pub mod views;

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt as _, Route, get,
    http::header,
    middleware::{Compression, CookieJarManager, SetHeader},
    post,
};
use url::Url;

use crate::{assets::Assets, csrf::SiteOrigin, host::WebHost};

pub use session::SESSION_COOKIE;

/// The Content-Security-Policy of every page: scripts and styles only from this site, so no
/// text that reaches a page can run as script or restyle it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What the page handlers share.
pub struct Web {
    host: Arc<dyn WebHost>,
    assets: Arc<Assets>,
}

/// The page routes (`/`, `/signin`, `/signup`, `/signout`, `/tasks...`) and `/static/...`, for
/// a host to nest at its root. `site` is where people open the pages (`PUBLIC_BASE_URL`):
/// state-changing requests must come from it.
pub fn routes(host: Arc<dyn WebHost>, site: Url) -> impl Endpoint + 'static {
    let assets = Arc::new(Assets::default());
    let web = Arc::new(Web {
        host,
        assets: assets.clone(),
    });
    let pages = Route::new()
        .at("/", get(pages::index))
        .at("/signin", get(pages::signin_page).post(pages::signin))
        .at("/signup", get(pages::signup_page).post(pages::signup))
        .at("/signout", post(pages::signout))
        .at("/tasks", get(pages::tasks).post(pages::add_task))
        .at("/tasks/:id", get(pages::task_row).post(pages::update_task))
        .at("/tasks/:id/edit", get(pages::edit_form))
        .at("/tasks/:id/complete", post(pages::complete_task))
        .at("/tasks/:id/delete", post(pages::delete_task))
        .at("/chat/conversations", get(pages::conversation_options))
        .at("/chat/:conversation/messages", get(pages::chat_messages))
        .around(csrf::same_site_only)
        .with(
            SetHeader::new()
                .overriding("content-security-policy", CONTENT_SECURITY_POLICY)
                // Pages show one person's data: never cached, and a fragment and a page of
                // the same URL are not the same answer.
                .overriding(header::CACHE_CONTROL, "no-store")
                .overriding(header::VARY, "HX-Request, Cookie")
                .overriding("x-content-type-options", "nosniff")
                .overriding("referrer-policy", "same-origin"),
        )
        .with(CookieJarManager::new())
        .data(web)
        .data(SiteOrigin(site));
    // Pages and files are compressed for browsers that accept it (the chat's event stream is
    // the API's, and is never buffered for compression).
    Route::new()
        .at("/static/:file", get(assets::serve_asset).data(assets))
        .nest("/", pages)
        .with(Compression::new())
}
