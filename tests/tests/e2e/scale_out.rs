//! Several processes on one PostgreSQL behind nginx, as `docs/deployment.md` describes: two
//! `todo-mcp serve` and two `todo-agent` (each host using one of the task servers through
//! `MCP_TASKS_URL`), all started at the same moment on a fresh database, round robin in front.
//! A conversation whose turns land on alternating hosts stays whole and in order; one host
//! killed under load leaves the other serving every request.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_tests::{
    agent::{AgentServer, ApiUser},
    balancer::{Nginx, Passed},
    db::{Backend, TestDb},
    mcp::HttpServer,
};

const TEST: &str = "scale_out::two_hosts_behind_nginx";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_behind_nginx_share_one_postgres() {
    let Some(db) = TestDb::create_empty(Backend::Postgres, TEST).await else {
        return;
    };
    // Everything starts at once on the empty database: the migrations take turns.
    let (task_server_a, task_server_b) =
        tokio::join!(HttpServer::start(&db), HttpServer::start(&db));
    let host_env = |tasks: &HttpServer| {
        vec![
            ("MCP_TASKS_URL", tasks.url.clone()),
            ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
            // The test's one user chats more than a person would; limits are not its subject.
            ("CHAT_MESSAGES_PER_MINUTE", "1000".to_owned()),
        ]
    };
    let (env_a, env_b) = (host_env(&task_server_a), host_env(&task_server_b));
    let (env_a, env_b) = (as_pairs(&env_a), as_pairs(&env_b));
    let (mut host_a, host_b) = tokio::join!(
        AgentServer::start_process(&db, &env_a),
        AgentServer::start_process(&db, &env_b),
    );
    let Some(nginx) = Nginx::start(TEST, &[&host_a.base, &host_b.base]).await else {
        return;
    };
    let front = AgentServer::elsewhere(nginx.url.clone());

    // One conversation, turn after turn through the balancer.
    let user = front.sign_up().await;
    let mut conversation = None;
    let titles = [
        "buy milk",
        "call mum",
        "water plants",
        "pay rent",
        "book dentist",
        "fix bike",
    ];
    for title in titles {
        let mut body = json!({"message": format!("add {title}")});
        if let Some(id) = &conversation {
            body["conversation_id"] = json!(id);
        }
        let events = front.chat(&user, body).await;
        let kinds: Vec<&str> = events.iter().map(|event| event.kind()).collect();
        assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
        assert!(kinds.contains(&"tool_result"), "{kinds:?}");
        conversation.get_or_insert_with(|| {
            events[0].data["conversation_id"]
                .as_str()
                .expect("the start event names the conversation")
                .to_owned()
        });
    }
    let conversation = conversation.expect("the first turn started a conversation");

    // Consecutive turns were served by different hosts.
    let is_turn = |passed: &Passed| passed.method == "POST" && passed.path.ends_with("/chat");
    let turns: Vec<String> = nginx
        .passed_once(|passed| passed.iter().filter(|p| is_turn(p)).count() >= titles.len())
        .await
        .into_iter()
        .filter(is_turn)
        .map(|passed| passed.upstream)
        .collect();
    assert_eq!(turns.len(), titles.len(), "{turns:?}");
    assert!(
        turns.windows(2).all(|pair| pair[0] != pair[1]),
        "round robin alternates the hosts: {turns:?}"
    );

    // The conversation is whole and in order, whichever host reads it.
    for _ in 0..2 {
        let messages = front
            .get(
                &user,
                &format!(
                    "/api/{}/conversations/{conversation}/messages?limit=200",
                    user.id
                ),
            )
            .await;
        assert_eq!(messages.status, StatusCode::OK, "{:?}", messages.body);
        let said: Vec<String> = messages.body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|message| message["role"] == "user")
            .map(|message| message["content"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = titles.iter().map(|title| format!("add {title}")).collect();
        assert_eq!(said, expected);
    }
    assert_eq!(task_titles(&front, &user).await.len(), titles.len());

    // Clients keep sending for a while; one host is killed in the middle of it.
    let during = load_for(&front, &user, Duration::from_millis(1_200));
    let kill = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        host_a.signal("KILL");
        host_a.wait().await;
    };
    let (during, ()) = tokio::join!(during, kill);
    assert!(during.len() > 24, "the load kept going: {during:?}");
    let refused = during
        .iter()
        .filter(|status| **status == StatusCode::BAD_GATEWAY)
        .count();
    eprintln!(
        "while a host was killed: {} requests, {refused} answered 502",
        during.len()
    );
    // A request the killed host was answering may fail with the balancer's 502; nothing else.
    for status in &during {
        assert!(
            status.is_success() || *status == StatusCode::BAD_GATEWAY,
            "during the kill: {during:?}"
        );
    }
    let after = load(&front, &user, 24).await;
    assert!(
        after.iter().all(StatusCode::is_success),
        "after the kill the other host serves every request: {after:?}"
    );
    // And what was written through either host is all there.
    let tasks = task_titles(&front, &user).await;
    for title in titles {
        assert!(
            tasks.iter().any(|task| task == title),
            "{title} in {tasks:?}"
        );
    }
}

fn as_pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

/// Eight clients sending [`load`]'s mix one request after another until `time` has passed:
/// the statuses of everything they sent.
async fn load_for(front: &AgentServer, user: &ApiUser, time: Duration) -> Vec<StatusCode> {
    let until = tokio::time::Instant::now() + time;
    let clients = (0..8).map(|_| async move {
        let mut statuses = Vec::new();
        while tokio::time::Instant::now() < until {
            statuses.extend(load(front, user, 4).await);
        }
        statuses
    });
    join_all(clients).await.into_iter().flatten().collect()
}

/// `requests` requests from concurrent clients: task lists, task adds and chat turns (one in
/// four each of add and chat, each turn a new conversation), answered with their statuses.
async fn load(front: &AgentServer, user: &ApiUser, requests: usize) -> Vec<StatusCode> {
    let sent = (0..requests).map(|i| async move {
        match i % 4 {
            0 => {
                front
                    .request(
                        Method::POST,
                        &format!("/api/{}/tasks", user.id),
                        Some(&user.token),
                        Some(json!({"title": format!("load task {i}")})),
                    )
                    .await
                    .status
            }
            1 => {
                let response = front
                    .http
                    .post(format!("{}/api/{}/chat", front.base, user.id))
                    .bearer_auth(&user.token)
                    .header("accept", "application/json")
                    .json(&json!({"message": format!("add load chat {i}")}))
                    .send()
                    .await
                    .expect("reach the balancer");
                response.status()
            }
            _ => {
                front
                    .get(user, &format!("/api/{}/tasks?limit=20", user.id))
                    .await
                    .status
            }
        }
    });
    join_all(sent).await
}

async fn task_titles(front: &AgentServer, user: &ApiUser) -> Vec<String> {
    let listed = front
        .get(user, &format!("/api/{}/tasks?limit=100", user.id))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|task: &Value| task["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}
