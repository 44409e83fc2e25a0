//! The page routes: sign-in, sign-up, sign-out and the tasks page with its htmx fragments.
//!
//! Every form works without JavaScript (a post, then a redirect or the page again with the
//! errors); with htmx, the same routes answer the fragment that changes (`HX-Request`).

use std::sync::Arc;

use askama::Template;
use chrono::Utc;
use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form, Html, Path, Query, Redirect},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    Web,
    forms::{CompleteForm, SignInForm, SignUpForm, TaskForm},
    host::{ClientIp, FormErrors, TaskFilter, WebError, WebUser},
    session::session_token,
    views::{
        AddForm, AddFragment, EditForm, EditFragment, EditPage, FilterView, MessagesFragment,
        OptionsFragment, RowFragment, SignInPage, SignUpPage, TaskRow, TasksPage, rows_of,
        user_label,
    },
};

/// Tasks per page of the list.
pub const PAGE_SIZE: u32 = 50;
/// Messages per page of the sidebar.
const MESSAGES_PAGE: u32 = 30;

/// `/`: the tasks, or the sign-in page.
#[handler]
pub async fn index(req: &Request, web: Data<&Arc<Web>>) -> Response {
    match signed_in(req, &web).await {
        Some(_) => see_other("/tasks"),
        None => see_other("/signin"),
    }
}

#[handler]
pub async fn signin_page(req: &Request, web: Data<&Arc<Web>>) -> Response {
    if signed_in(req, &web).await.is_some() {
        return see_other("/tasks");
    }
    render(
        StatusCode::OK,
        &SignInPage {
            assets: web.assets.clone(),
            email: String::new(),
            errors: FormErrors::default(),
        },
    )
}

#[handler]
pub async fn signin(req: &Request, web: Data<&Arc<Web>>, Form(form): Form<SignInForm>) -> Response {
    match web
        .host
        .sign_in(&form.email, &form.password, client_ip(req))
        .await
    {
        Ok(session) => signed_in_redirect(&session.set_cookie),
        Err(err) => {
            let (status, errors) = form_failure(err);
            render(
                status,
                &SignInPage {
                    assets: web.assets.clone(),
                    email: form.email,
                    errors,
                },
            )
        }
    }
}

#[handler]
pub async fn signup_page(req: &Request, web: Data<&Arc<Web>>) -> Response {
    if signed_in(req, &web).await.is_some() {
        return see_other("/tasks");
    }
    render(
        StatusCode::OK,
        &SignUpPage {
            assets: web.assets.clone(),
            email: String::new(),
            name: String::new(),
            errors: FormErrors::default(),
        },
    )
}

#[handler]
pub async fn signup(req: &Request, web: Data<&Arc<Web>>, Form(form): Form<SignUpForm>) -> Response {
    let name = Some(form.name.trim()).filter(|name| !name.is_empty());
    match web
        .host
        .sign_up(&form.email, &form.password, name, client_ip(req))
        .await
    {
        Ok(session) => signed_in_redirect(&session.set_cookie),
        Err(err) => {
            let (status, errors) = form_failure(err);
            render(
                status,
                &SignUpPage {
                    assets: web.assets.clone(),
                    email: form.email,
                    name: form.name,
                    errors,
                },
            )
        }
    }
}

#[handler]
pub async fn signout(req: &Request, web: Data<&Arc<Web>>) -> Response {
    let mut response = see_other("/signin");
    let cookie = web.host.sign_out(session_token(req).as_deref()).await;
    if let Ok(cookie) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
pub struct TasksQuery {
    status: Option<String>,
    priority: Option<String>,
    tag: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

impl TasksQuery {
    fn filter(&self) -> TaskFilter {
        let set = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        TaskFilter {
            status: set(&self.status).filter(|status| status != "all"),
            priority: set(&self.priority),
            tag: set(&self.tag).map(|tag| tag.trim_start_matches('#').to_owned()),
            query: set(&self.q),
        }
    }
}

/// `GET /tasks`: the page, or (for htmx) the rows of a filtered list or of the next page.
#[handler]
pub async fn tasks(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<TasksQuery>,
) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    let filter = query.filter();
    let view = FilterView::from_filter(&filter);
    let page = web
        .host
        .list_tasks(user.id, &filter, query.cursor.as_deref(), PAGE_SIZE)
        .await;
    if is_htmx(req) {
        return match page {
            Ok(page) => render(StatusCode::OK, &rows_of(&page, &view, Utc::now())),
            Err(err) => fragment_error(err),
        };
    }
    let (rows, more, list_error) = match page {
        Ok(page) => {
            let rows = rows_of(&page, &view, Utc::now());
            (rows.rows, rows.more, None)
        }
        // A bad filter (an unknown priority, a tag with spaces) is the task server's sentence.
        Err(WebError::Form(errors)) => (Vec::new(), None, errors.first()),
        Err(err) => (Vec::new(), None, Some(err.to_string())),
    };
    let conversations = web.host.conversations(user.id).await.unwrap_or_default();
    render(
        StatusCode::OK,
        &TasksPage {
            assets: web.assets.clone(),
            user_id: user.id.to_string(),
            user_label: user_label(&user),
            conversations,
            filter: view,
            add: AddForm::empty(),
            rows,
            more,
            list_error,
        },
    )
}

/// `POST /tasks`: adds a task; htmx gets the new row, a browser without it the page again.
#[handler]
pub async fn add_task(req: &Request, web: Data<&Arc<Web>>, Form(form): Form<TaskForm>) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    let added = match form.to_input() {
        Ok(input) => web.host.add_task(user.id, input).await,
        Err(message) => Err(WebError::Form(Box::new(FormErrors::due(message)))),
    };
    match added {
        Ok(task) if is_htmx(req) => render(
            StatusCode::OK,
            &RowFragment {
                row: TaskRow::of(&task, Utc::now()),
            },
        ),
        Ok(_) => see_other("/tasks"),
        Err(err) => {
            let (status, errors) = form_failure(err);
            let add = AddForm {
                title: form.title,
                priority: form.priority,
                due_local: form.due_local,
                tags: form.tags,
                errors,
            };
            if is_htmx(req) {
                // The errors go into the form, not into the list the form targets.
                let mut response = render(StatusCode::OK, &AddFragment { add });
                set_header(&mut response, "hx-retarget", "#add-task");
                set_header(&mut response, "hx-reswap", "outerHTML");
                return response;
            }
            render(
                status,
                &TasksPage {
                    assets: web.assets.clone(),
                    user_id: user.id.to_string(),
                    user_label: user_label(&user),
                    conversations: Vec::new(),
                    filter: FilterView::from_filter(&TaskFilter::default()),
                    add,
                    rows: Vec::new(),
                    more: None,
                    list_error: None,
                },
            )
        }
    }
}

/// `GET /tasks/{id}`: the row (htmx: cancel an edit).
#[handler]
pub async fn task_row(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<Uuid>) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    if !is_htmx(req) {
        return see_other("/tasks");
    }
    match web.host.get_task(user.id, id).await {
        Ok(task) => render(
            StatusCode::OK,
            &RowFragment {
                row: TaskRow::of(&task, Utc::now()),
            },
        ),
        Err(err) => fragment_error(err),
    }
}

/// `GET /tasks/{id}/edit`: the edit form, in place (htmx) or as a page.
#[handler]
pub async fn edit_form(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<Uuid>) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    match web.host.get_task(user.id, id).await {
        Ok(task) => edit_response(req, &web, StatusCode::OK, EditForm::of(&task)),
        Err(err) if is_htmx(req) => fragment_error(err),
        Err(_) => see_other("/tasks"),
    }
}

/// `POST /tasks/{id}`: saves an edit.
#[handler]
pub async fn update_task(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<Uuid>,
    Form(form): Form<TaskForm>,
) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    let input = form.to_input();
    let updated = match &input {
        Ok(input) => web.host.update_task(user.id, id, input.clone()).await,
        Err(message) => Err(WebError::Form(Box::new(FormErrors::due(*message)))),
    };
    match updated {
        Ok(task) if is_htmx(req) => render(
            StatusCode::OK,
            &RowFragment {
                row: TaskRow::of(&task, Utc::now()),
            },
        ),
        Ok(_) => see_other("/tasks"),
        Err(WebError::NotFound) if !is_htmx(req) => see_other("/tasks"),
        Err(err) => {
            let (status, errors) = form_failure(err);
            let typed = input.unwrap_or_else(|_| crate::host::TaskInput {
                title: form.title.clone(),
                description: form.description.clone(),
                priority: form.priority.clone(),
                due_at: String::new(),
                tags: crate::forms::split_tags(&form.tags),
            });
            let edit = EditForm::refused(id.to_string(), &typed, form.due_local, errors);
            // htmx swaps the form in place only on a 2xx answer.
            let status = if is_htmx(req) { StatusCode::OK } else { status };
            edit_response(req, &web, status, edit)
        }
    }
}

/// `POST /tasks/{id}/complete`: completes or reopens.
#[handler]
pub async fn complete_task(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<Uuid>,
    Form(form): Form<CompleteForm>,
) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    let completed = form.completed != "false";
    match web.host.set_completed(user.id, id, completed).await {
        Ok(task) if is_htmx(req) => render(
            StatusCode::OK,
            &RowFragment {
                row: TaskRow::of(&task, Utc::now()),
            },
        ),
        Ok(_) => see_other("/tasks"),
        Err(err) if is_htmx(req) => fragment_error(err),
        Err(_) => see_other("/tasks"),
    }
}

/// `POST /tasks/{id}/delete`: deletes; htmx swaps the row for nothing.
#[handler]
pub async fn delete_task(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<Uuid>) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    match web.host.delete_task(user.id, id).await {
        // Already gone is as good as deleted.
        Ok(()) | Err(WebError::NotFound) if is_htmx(req) => Html(String::new()).into_response(),
        Ok(()) | Err(WebError::NotFound) => see_other("/tasks"),
        Err(err) if is_htmx(req) => fragment_error(err),
        Err(_) => see_other("/tasks"),
    }
}

/// `GET /chat/conversations`: the picker's options, after a new conversation started.
#[handler]
pub async fn conversation_options(req: &Request, web: Data<&Arc<Web>>) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    match web.host.conversations(user.id).await {
        Ok(conversations) => render(StatusCode::OK, &OptionsFragment { conversations }),
        Err(err) => fragment_error(err),
    }
}

/// Which messages of a conversation.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /chat/{conversation}/messages`: a page of the sidebar's messages, replies rendered
/// from Markdown to safe HTML.
#[handler]
pub async fn chat_messages(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(conversation): Path<Uuid>,
    Query(query): Query<MessagesQuery>,
) -> Response {
    let Some(user) = signed_in(req, &web).await else {
        return to_signin(req);
    };
    let limit = query.limit.unwrap_or(MESSAGES_PAGE).clamp(1, 200);
    match web
        .host
        .messages(user.id, conversation, query.before, limit)
        .await
    {
        Ok(page) => render(StatusCode::OK, &MessagesFragment::of(page)),
        Err(err) => fragment_error(err),
    }
}

fn edit_response(req: &Request, web: &Web, status: StatusCode, edit: EditForm) -> Response {
    if is_htmx(req) {
        render(status, &EditFragment { edit })
    } else {
        render(
            status,
            &EditPage {
                assets: web.assets.clone(),
                edit,
            },
        )
    }
}

/// The signed-in user, from the session cookie.
async fn signed_in(req: &Request, web: &Web) -> Option<WebUser> {
    let token = session_token(req)?;
    web.host.current_user(&token).await
}

fn is_htmx(req: &Request) -> bool {
    req.header("hx-request")
        .is_some_and(|value| value == "true")
}

/// Sends a browser without a session to the sign-in page (htmx follows `HX-Redirect`).
fn to_signin(req: &Request) -> Response {
    if is_htmx(req) {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        set_header(&mut response, "hx-redirect", "/signin");
        return response;
    }
    see_other("/signin")
}

fn see_other(location: &str) -> Response {
    Redirect::see_other(location).into_response()
}

fn signed_in_redirect(set_cookie: &str) -> Response {
    let mut response = see_other("/tasks");
    if let Ok(cookie) = set_cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A failed form: its status and what to show where.
fn form_failure(err: WebError) -> (StatusCode, FormErrors) {
    match err {
        WebError::Form(errors) => (StatusCode::UNPROCESSABLE_ENTITY, *errors),
        WebError::NotFound => (
            StatusCode::NOT_FOUND,
            FormErrors {
                form: Some(err.to_string()),
                ..FormErrors::default()
            },
        ),
        WebError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            FormErrors {
                form: Some(err.to_string()),
                ..FormErrors::default()
            },
        ),
        WebError::TooMany { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            FormErrors {
                form: Some(err.to_string()),
                ..FormErrors::default()
            },
        ),
    }
}

/// The client's address, as the host resolved it.
fn client_ip(req: &Request) -> std::net::IpAddr {
    req.extensions()
        .get::<ClientIp>()
        .map(|client| client.0)
        .or_else(|| req.remote_addr().as_socket_addr().map(|addr| addr.ip()))
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}

/// A failed htmx request: a status and a sentence, which the page's script shows.
fn fragment_error(err: WebError) -> Response {
    let status = match &err {
        WebError::Form(_) => StatusCode::UNPROCESSABLE_ENTITY,
        WebError::NotFound => StatusCode::NOT_FOUND,
        WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        WebError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
    };
    let message = match err {
        WebError::Form(errors) => errors
            .first()
            .unwrap_or_else(|| "That is not valid.".to_owned()),
        other => other.to_string(),
    };
    (status, message).into_response()
}

fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response.set_status(status);
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

fn set_header(response: &mut Response, name: &'static str, value: &'static str) {
    response
        .headers_mut()
        .insert(name, poem::http::HeaderValue::from_static(value));
}
