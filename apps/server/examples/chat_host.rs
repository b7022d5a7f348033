//! A small chat server that embeds Huddle in its own Socket.IO namespace: one connection per
//! client carries the host's `message` event and all of Huddle's call events.
//!
//! * Its own authenticator: a session token (`auth: {session}` in the Socket.IO handshake,
//!   or a `session` cookie) that the chat app issued at login; here `session-<userId>` for
//!   every user of the directory.
//! * Its own event: `message {conversationId, text}` → ack `{ok: true}`, and `message
//!   {conversationId, from, text, system: false}` to the conversation's members.
//! * From Huddle's lifecycle stream it writes chat messages (`system: true`): "Alice started a
//!   call", "Call ended · 2 min · 3 people", "Missed call from Alice".
//!
//! `cargo run -p huddle --example chat_host -- --listen 127.0.0.1:8090 [--directory FILE]`

use call_domain::MemoryDirectory;
use huddle::auth::{AuthError, Authenticator, Handshake};
use huddle::{Config, Huddle, HuddleEvent, HuddleHandle};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The chat app's sessions: token → user id.
struct Sessions(HashMap<String, String>);

#[async_trait::async_trait]
impl Authenticator for Sessions {
    async fn authenticate(&self, h: Handshake<'_>) -> Result<String, AuthError> {
        let from_auth = h
            .auth
            .and_then(|a| a.get("session"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let from_cookie = || {
            h.request
                .headers
                .get("cookie")
                .and_then(|c| c.to_str().ok())
                .and_then(|c| {
                    c.split(';')
                        .filter_map(|kv| kv.trim().split_once('='))
                        .find(|(k, _)| *k == "session")
                        .map(|(_, v)| v.to_owned())
                })
        };
        let token = from_auth.or_else(from_cookie).ok_or(AuthError::Missing)?;
        self.0
            .get(&token)
            .cloned()
            .ok_or_else(|| AuthError::Invalid("unknown session".into()))
    }
}

/// What the host knows of its users and conversations.
struct Chat {
    names: HashMap<String, String>,
    conversations_of: HashMap<String, Vec<String>>,
    sessions: HashMap<String, String>,
}

impl Chat {
    fn from_directory(d: &MemoryDirectory) -> Self {
        let mut chat = Chat {
            names: HashMap::new(),
            conversations_of: HashMap::new(),
            sessions: HashMap::new(),
        };
        for u in d.users() {
            let name = u.name.clone().unwrap_or_else(|| format!("User {}", u.id));
            chat.names.insert(u.id.clone(), name);
            chat.sessions
                .insert(format!("session-{}", u.id), u.id.clone());
            let convs = d
                .conversations_of(&u.id)
                .into_iter()
                .map(|c| c.id)
                .collect();
            chat.conversations_of.insert(u.id.clone(), convs);
        }
        chat
    }

    fn name(&self, user: &str) -> String {
        self.names
            .get(user)
            .cloned()
            .unwrap_or_else(|| format!("User {user}"))
    }

    fn is_member(&self, user: &str, conversation: &str) -> bool {
        self.conversations_of
            .get(user)
            .is_some_and(|c| c.iter().any(|c| c == conversation))
    }
}

/// The host room of a conversation's members (Huddle uses none of the host's rooms).
fn room(conversation: &str) -> String {
    format!("chat:{conversation}")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    conversation_id: String,
    text: String,
}

/// The host's own connect handler: join the user's conversation rooms, handle `message`.
fn on_connect(socket: SocketRef, chat: Arc<Chat>) {
    let Some(user) = socket
        .extensions
        .get::<huddle::auth::Identity>()
        .map(|i| i.0)
    else {
        return;
    };
    for c in chat.conversations_of.get(&user).into_iter().flatten() {
        socket.join(room(c));
    }
    let from = user.clone();
    socket.on(
        "message",
        move |s: SocketRef, Data(m): Data<Value>, ack: AckSender| {
            let chat = chat.clone();
            let from = from.clone();
            async move {
                let Ok(m) = serde_json::from_value::<Message>(m) else {
                    let _ = ack.send(&json!({"error": "Invalid message"}));
                    return;
                };
                if !chat.is_member(&from, &m.conversation_id) || m.text.is_empty() {
                    let _ = ack.send(&json!({"error": "Not a member"}));
                    return;
                }
                let out = json!({"conversationId": m.conversation_id, "from": from,
                                 "text": m.text, "system": false});
                let _ = s
                    .within(room(&m.conversation_id))
                    .emit("message", &out)
                    .await;
                let _ = ack.send(&json!({"ok": true}));
            }
        },
    );
}

fn minutes(d: Duration) -> String {
    let m = d.as_secs() / 60;
    if m == 0 {
        "under a minute".to_owned()
    } else {
        format!("{m} min")
    }
}

/// The chat messages the host writes for call lifecycle events.
async fn narrate(io: SocketIo, handle: HuddleHandle, chat: Arc<Chat>) {
    let mut events = handle.events();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(huddle::EventsError::Lagged(n)) => {
                tracing::warn!(missed = n, "chat host fell behind the call events");
                continue;
            }
            Err(huddle::EventsError::Closed) => return,
        };
        let (to, text) = match &event {
            HuddleEvent::CallStarted {
                conversation_id,
                started_by,
                ..
            } => (
                vec![room(conversation_id)],
                format!("{} started a call", chat.name(started_by)),
            ),
            HuddleEvent::CallEnded {
                conversation_id,
                started_at,
                ended_at,
                participants,
                ..
            } => (
                vec![room(conversation_id)],
                format!(
                    "Call ended · {} · {} {}",
                    minutes(ended_at.duration_since(*started_at).unwrap_or_default()),
                    participants.len(),
                    if participants.len() == 1 {
                        "person"
                    } else {
                        "people"
                    }
                ),
            ),
            HuddleEvent::DirectCallEnded {
                caller,
                callee,
                answered: false,
                ..
            } => (
                vec![format!("user:{callee}")],
                format!("Missed call from {}", chat.name(caller)),
            ),
            _ => continue,
        };
        let conversation = match &event {
            HuddleEvent::CallStarted {
                conversation_id, ..
            }
            | HuddleEvent::CallEnded {
                conversation_id, ..
            } => Value::String(conversation_id.clone()),
            _ => Value::Null,
        };
        let out =
            json!({"conversationId": conversation, "from": null, "text": text, "system": true});
        for r in to {
            let _ = io.to(r).emit("message", &out).await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut listen = "127.0.0.1:8090".to_owned();
    let mut directory_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or(listen),
            "--directory" => directory_file = args.next(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let text = match directory_file {
        Some(f) => std::fs::read_to_string(f)?,
        None => huddle::DEMO_DIRECTORY.to_owned(),
    };
    let directory = MemoryDirectory::from_json(&text)?;
    let chat = Arc::new(Chat::from_directory(&directory));

    let (layer, io) = SocketIo::new_layer();
    let config = Config {
        workers: Some(1),
        webrtc_port: 0,
        rtc_listen_ip: "127.0.0.1".parse()?,
        ..Config::default()
    };
    let (routes, handle) = Huddle::builder(config)
        .directory(directory)
        .authenticator(Sessions(chat.sessions.clone()))
        .install_metrics(false)
        .attach(&io)
        .await?;

    let host_chat = chat.clone();
    let host = move |s: SocketRef| {
        on_connect(s.clone(), host_chat.clone());
        async {}
    };
    let wire = handle.clone();
    let huddle_mw = move |s: SocketRef, TryData(auth): TryData<Value>| {
        let huddle = wire.clone();
        async move {
            huddle.connect(&s, auth.ok().as_ref()).await?;
            // A personal room for user-addressed chat messages.
            if let Some(user) = s.extensions.get::<huddle::auth::Identity>() {
                s.join(format!("user:{}", user.0));
            }
            Ok::<(), huddle::ConnectError>(())
        }
    };
    io.ns("/", host.with(huddle_mw));
    tokio::spawn(narrate(io.clone(), handle.clone(), chat));

    let app = axum::Router::new()
        .route("/chat/health", axum::routing::get(|| async { "chat ok" }))
        .merge(routes)
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("chat host with Huddle on http://{listen}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            handle.shutdown().await;
        })
        .await?;
    Ok(())
}
