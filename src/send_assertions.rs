//! Compile-time proof that the native public types are `Send + Sync`.

use crate::{Error, EventStore, MemoryStorage, SqliteStorage, Subscription, Upcasters};

const fn assert_send_sync<T: Send + Sync>() {}
const fn assert_send<T: Send>() {}

const _: () = {
    assert_send_sync::<Error>();
    assert_send_sync::<EventStore<MemoryStorage>>();
    assert_send_sync::<EventStore<SqliteStorage>>();
    assert_send::<Subscription>();
    assert_send_sync::<Upcasters>();
};
