//! The browser's session: the `todo_session` cookie, read into the signed-in user.

use poem::{Request, web::cookie::CookieJar};

/// The cookie the host's sign-in sets (the same as the API's).
pub const SESSION_COOKIE: &str = "todo_session";

/// The session token the browser sent, if any.
pub fn session_token(req: &Request) -> Option<String> {
    let jar: &CookieJar = req.cookie();
    jar.get(SESSION_COOKIE)
        .map(|cookie| cookie.value_str().to_owned())
}
