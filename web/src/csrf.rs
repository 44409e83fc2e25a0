//! Cross-site request forgery: a request that changes state must come from this site. The
//! session cookie is `SameSite=Lax`, so other sites' forms do not carry it; on top of that the
//! browser's `Origin` (or `Referer`) must be this site's. A request with neither header is not
//! from a browser and passes.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::Method, http::StatusCode};
use url::Url;

/// Where pages are served from, as browsers name it.
#[derive(Debug, Clone)]
pub struct SiteOrigin(pub Url);

/// Refuses state-changing requests from other sites with 403.
pub async fn same_site_only<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !from_this_site(&req) {
        tracing::info!(method = %req.method(), path = %req.uri().path(), "refused a cross-site form post");
        return Ok((
            StatusCode::FORBIDDEN,
            "Cross-site requests may not change data.",
        )
            .into_response());
    }
    Ok(next.call(req).await?.into_response())
}

fn from_this_site(req: &Request) -> bool {
    let Some(site) = req.data::<SiteOrigin>() else {
        return false;
    };
    let claimed = req.header("origin").or_else(|| req.header("referer"));
    match claimed {
        None => true,
        Some(claimed) => Url::parse(claimed).is_ok_and(|url| url.origin() == site.0.origin()),
    }
}
