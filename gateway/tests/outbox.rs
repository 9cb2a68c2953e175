//! Two `passerelle serve` processes on one database share the outbox: 1,000 webhook calls,
//! each received exactly once, by a receiver that always answers 200.
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passerelle::testing::TestDatabase;
use passerelle_entities::{OutboxStatus, outbox, publisher, webhook};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");
const EVENTS: usize = 1_000;

/// A receiver that answers 200 and counts each event id it is sent.
async fn receiver() -> (Arc<Mutex<HashMap<String, usize>>>, String) {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let seen = Arc::clone(&state);
            async move {
                let id = headers
                    .get("passerelle-webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                *seen.lock().expect("lock").entry(id).or_default() += 1;
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, url)
}

/// A gateway serving on an ephemeral port with its delivery worker, once it is up.
fn gateway(database_url: &str) -> std::process::Child {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("PASSERELLE_CONFIG")
        .env("DATABASE_URL", database_url)
        .env("PASSERELLE_LOG", "warn")
        .env("PASSERELLE_SCHEDULER", "false")
        .env("PASSERELLE_GEOCODER_URL", "off")
        .env("PASSERELLE_OUTBOX_POLL_MS", "20")
        .env("PASSERELLE_WEBHOOK_ALLOW_PRIVATE", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("the URL line");
    assert!(line.contains("Passerelle is running"), "{line}");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_deliver_a_thousand_events_each_exactly_once() {
    let db = TestDatabase::create("outbox-two").await.expect("database");
    let conn = db.connect_migrated().await.expect("migrate");
    let (seen, url) = receiver().await;
    let now = passerelle_entities::time::now();
    let publisher = publisher::ActiveModel {
        name: Set("Partenaire".into()),
        is_annonceur: Set(true),
        is_diffuseur: Set(false),
        moderator: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("publisher")
    .id;
    webhook::ActiveModel {
        publisher_id: Set(publisher),
        url: Set(url),
        topics: Set(webhook::Topics(vec!["APPLICATION".into()])),
        secret: Set("whsec_test".into()),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("webhook");
    let mut first = gateway(&db.url);
    let mut second = gateway(&db.url);
    // The write lock first (SQLite): the gateways' workers write beside this transaction, and
    // one that reads before it writes cannot take the lock after them (`SQLITE_BUSY`). This
    // test failed once at its first event in a full run; its error was not kept, and this is
    // the likely cause.
    let txn = conn
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .expect("begin");
    for n in 0..EVENTS {
        outbox::to_webhooks(
            &txn,
            publisher,
            "APPLICATION",
            "APPLICATION_TEST",
            serde_json::json!({ "n": n }),
        )
        .await
        .expect("event");
    }
    txn.commit().await.expect("commit");

    let mut waited = Duration::ZERO;
    loop {
        let sent = outbox::Entity::find()
            .filter(outbox::Column::Status.eq(OutboxStatus::Sent))
            .count(&conn)
            .await
            .expect("count");
        if sent as usize == EVENTS {
            break;
        }
        assert!(
            waited < Duration::from_secs(90),
            "{sent} of {EVENTS} sent in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    // Anything sent twice would arrive now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), EVENTS, "every event arrived");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let workers: Vec<Option<String>> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::LockedBy)
        .distinct()
        .into_tuple()
        .all(&conn)
        .await
        .expect("workers");
    assert_eq!(workers.len(), 2, "both gateways took part: {workers:?}");
    db.drop_database().await;
}

/// A message as the relay kept it: its envelope recipients and its data.
type Kept = (Vec<String>, String);

/// A local SMTP server standing in for the mail relay: it speaks just enough SMTP for a client
/// to send, keeps each message (envelope recipients and data), and refuses every recipient
/// with 550 when `refuse` is set.
async fn smtp_stand_in(refuse: bool) -> (Arc<Mutex<Vec<Kept>>>, String) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
    let kept: Arc<Mutex<Vec<Kept>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("smtp://{}", listener.local_addr().expect("addr"));
    let store = Arc::clone(&kept);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = AsyncBufReader::new(read).lines();
                let _ = write.write_all(b"220 stand-in ESMTP\r\n").await;
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 stand-in\r\n"
                    } else if upper.starts_with("MAIL FROM") {
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        if refuse {
                            b"550 mailbox unavailable\r\n"
                        } else {
                            to.push(line[8..].trim().to_owned());
                            b"250 OK\r\n"
                        }
                    } else if upper == "DATA" {
                        let _ = write.write_all(b"354 go on\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        store
                            .lock()
                            .expect("lock")
                            .push((std::mem::take(&mut to), data));
                        b"250 kept\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (kept, url)
}

#[tokio::test]
async fn emails_go_through_smtp_when_configured_and_a_refusal_is_retried_later() {
    use passerelle::outbox::{Delivery, Mailer, deliver_due};
    let db = TestDatabase::create("outbox-smtp").await.expect("database");
    let conn = db.connect_migrated().await.expect("migrate");
    let row = outbox::email(
        "APPLICATION_VALIDATED",
        "jeune@example.org",
        "Passerelle · Candidature acceptée",
        "Bonne nouvelle : votre participation à la mission « Éveil » est confirmée.",
        None,
    )
    .insert(&conn)
    .await
    .expect("email");
    let (kept, url) = smtp_stand_in(false).await;
    let settings = passerelle::config::Settings {
        smtp_url: Some(url.into()),
        ..Default::default()
    };
    let delivery = Delivery::from_settings(&settings);
    let mailer = Mailer::new(&delivery).expect("mailer");
    assert_eq!(
        deliver_due(&conn, &delivery, "w", &mailer)
            .await
            .expect("deliver"),
        1
    );
    let kept = kept.lock().expect("lock").clone();
    assert_eq!(kept.len(), 1, "one message reached the relay");
    let (to, data) = &kept[0];
    assert_eq!(to, &["<jeune@example.org>".to_owned()]);
    assert!(
        data.contains(&format!("Message-ID: <{}@passerelle>", row.event_id)),
        "{data}"
    );
    assert!(
        data.contains("From: Passerelle <ne-pas-repondre@passerelle.localhost>"),
        "{data}"
    );
    assert!(data.contains("Subject: "), "{data}");
    let sent = outbox::Entity::find_by_id(row.id)
        .one(&conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!((sent.status, sent.attempts), (OutboxStatus::Sent, 1));

    // A relay that refuses the recipient: the attempt is counted, the error kept, the next
    // attempt scheduled after the backoff.
    let again = outbox::email(
        "APPLICATION_DONE",
        "jeune@example.org",
        "Sujet",
        "Corps",
        None,
    )
    .insert(&conn)
    .await
    .expect("email");
    let (_, url) = smtp_stand_in(true).await;
    let settings = passerelle::config::Settings {
        smtp_url: Some(url.into()),
        ..Default::default()
    };
    let delivery = Delivery::from_settings(&settings);
    let mailer = Mailer::new(&delivery).expect("mailer");
    let before = passerelle_entities::time::now();
    deliver_due(&conn, &delivery, "w", &mailer)
        .await
        .expect("deliver");
    let failed = outbox::Entity::find_by_id(again.id)
        .one(&conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!((failed.status, failed.attempts), (OutboxStatus::Pending, 1));
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("550")),
        "{failed:?}"
    );
    assert!(
        failed.next_attempt_at >= before + chrono::Duration::seconds(29),
        "{failed:?}"
    );
    db.drop_database().await;
}
