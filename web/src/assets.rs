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

    /// The value of a `--name: #rrggbb;` colour of the stylesheet.
    fn colour(name: &str) -> [f64; 3] {
        let css = std::str::from_utf8(APP_CSS).unwrap();
        let at = css
            .find(&format!("--{name}:"))
            .unwrap_or_else(|| panic!("--{name}"));
        let hex = css[at..].split('#').nth(1).unwrap();
        let channel = |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        [channel(0), channel(2), channel(4)]
    }

    fn luminance(rgb: [f64; 3]) -> f64 {
        let linear = |value: f64| {
            let value = value / 255.0;
            if value <= 0.03928 {
                value / 12.92
            } else {
                ((value + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
    }

    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let (light, dark) = {
            let (x, y) = (luminance(a), luminance(b));
            if x > y { (x, y) } else { (y, x) }
        };
        (light + 0.05) / (dark + 0.05)
    }

    /// Every text colour of the stylesheet passes WCAG AA (4.5:1) on the page's backgrounds.
    #[test]
    fn text_colours_pass_wcag_aa() {
        let white = [255.0, 255.0, 255.0];
        for text in ["ink", "muted", "accent", "danger", "high", "done"] {
            for (name, background) in [("white", white), ("bg", colour("bg"))] {
                let ratio = contrast(colour(text), background);
                assert!(ratio >= 4.5, "--{text} on {name}: {ratio:.2}");
            }
        }
        assert!(contrast(white, colour("accent")) >= 4.5, "button text");
    }

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
