//! The pages' static files, embedded in the binary: htmx (vendored, see the README for its
//! version and licence), the page's script and its stylesheet. Each is served under a name
//! with its content hash (`app.3f2a….css`), so it can be cached for a year and a new build is
//! fetched at once.

use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::{Data, Path},
};
use sha2::{Digest as _, Sha256};

const HTMX: &[u8] = include_bytes!("../static/htmx-2.0.11.min.js");
const APP_JS: &[u8] = include_bytes!("../static/app.js");
const CHAT_JS: &[u8] = include_bytes!("../static/chat.js");
const APP_CSS: &[u8] = include_bytes!("../static/app.css");

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// `app.3f2a9c1d07b4e851.css`: what the pages link to.
    pub file_name: String,
    body: &'static [u8],
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, body: &'static [u8], content_type: &'static str) -> Self {
        let digest = Sha256::digest(body);
        let hash: String = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            file_name: format!("{stem}.{hash}.{extension}"),
            body,
            content_type,
        }
    }

    /// The URL path of the file.
    pub fn url(&self) -> String {
        format!("/static/{}", self.file_name)
    }
}

/// The pages' files.
#[derive(Debug)]
pub struct Assets {
    pub htmx: Asset,
    pub script: Asset,
    pub chat: Asset,
    pub style: Asset,
}

impl Default for Assets {
    fn default() -> Self {
        Self {
            htmx: Asset::new("htmx-2.0.11", "js", HTMX, "text/javascript; charset=utf-8"),
            script: Asset::new("app", "js", APP_JS, "text/javascript; charset=utf-8"),
            chat: Asset::new("chat", "js", CHAT_JS, "text/javascript; charset=utf-8"),
            style: Asset::new("app", "css", APP_CSS, "text/css; charset=utf-8"),
        }
    }
}

impl Assets {
    fn find(&self, file_name: &str) -> Option<&Asset> {
        [&self.htmx, &self.script, &self.chat, &self.style]
            .into_iter()
            .find(|asset| asset.file_name == file_name)
    }
}

/// `GET /static/{file}`: a file by its hashed name, cacheable for a year.
#[handler]
pub fn serve_asset(Path(file): Path<String>, assets: Data<&std::sync::Arc<Assets>>) -> Response {
    match assets.find(&file) {
        Some(asset) => Response::builder()
            .header(header::CONTENT_TYPE, asset.content_type)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .header("x-content-type-options", "nosniff")
            .body(asset.body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_content_hash() {
        let assets = Assets::default();
        assert!(assets.style.file_name.starts_with("app."));
        assert!(assets.style.file_name.ends_with(".css"));
        assert_eq!(assets.style.file_name.len(), "app..css".len() + 16);
        assert_ne!(assets.script.file_name, assets.style.file_name);
        assert!(assets.find(&assets.htmx.file_name).is_some());
        assert!(assets.find("app.css").is_none());
    }
}
