//! The groups of operations in the OpenAPI document.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and sessions.
    Auth,
    /// The signed-in user's tasks.
    Tasks,
    /// The assistant and its conversations.
    Chat,
}
