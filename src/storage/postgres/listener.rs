//! The `LISTEN` connection: one per [`PostgresStorage`](super::PostgresStorage), waking the
//! subscriptions of every store on its schema in this process when any process commits an
//! append.
//!
//! Notifications are hints: a subscription woken by one re-reads by position, so a lost,
//! folded or late notification costs latency, never an event. When the connection drops it is
//! opened again after a delay; once listening again it wakes every subscription, which re-read
//! whatever was appended while nobody listened. Subscriptions keep polling the head
//! meanwhile, so they never stall.

use std::time::Duration;

use futures::future::select;
use futures::StreamExt;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::storage::AppendNotifier;

/// Listens on `channel` until the task is aborted, notifying `notifier` on every notification
/// and after every (re)connect.
pub(super) async fn listen(
    config: Config,
    channel: String,
    notifier: AppendNotifier,
    reconnect_delay: Duration,
) {
    let listen_sql = format!("LISTEN \"{channel}\"");
    loop {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            let driven = async {
                // Ends when the connection fails or closes.
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(_) = message {
                        notifier.notify();
                    }
                }
            };
            let listening = async {
                if client.batch_execute(&listen_sql).await.is_ok() {
                    // Anything appended while nobody listened is re-read now.
                    notifier.notify();
                    futures::future::pending::<()>().await;
                }
            };
            // Whichever ends first: the connection, or a failed LISTEN.
            select(std::pin::pin!(driven), std::pin::pin!(listening)).await;
        }
        tokio::time::sleep(reconnect_delay).await;
    }
}
