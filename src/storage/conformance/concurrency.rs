//! Appends made at the same moment: each is decided alone, whatever the backend does to commit
//! them together.

use futures::future::join_all;

use super::{event, kind};
use crate::storage::Storage;
use crate::{ErrorKind, EventStore, ExpectedVersion, ReadAllOptions, ReadStreamOptions};

/// Many appends started together — one with a wrong expected version, two racing for the first
/// version of one stream, one reusing the id of another — all commit except the ones that must
/// fail, which fail with their own typed errors and write nothing.
pub async fn concurrent_appends_are_decided_one_by_one<S: Storage>(store: EventStore<S>) {
    store
        .append(
            "account-0",
            ExpectedVersion::NoStream,
            vec![event("Opened", 0)],
        )
        .await
        .unwrap();
    let reused_id = uuid::Uuid::now_v7().to_string();
    let mut appends = Vec::new();
    for i in 1..=12u64 {
        let (stream, expected, new) = match i {
            // Stale: account-0 is at version 1.
            4 => ("account-0", ExpectedVersion::Exact(7), event("Stale", i)),
            // Two appends race to create one stream: exactly one wins.
            7 | 8 => ("race-1", ExpectedVersion::NoStream, event("Created", i)),
            // Carries the id of append 2 to another stream: a duplicate, whichever runs first.
            10 => (
                "other-10",
                ExpectedVersion::Any,
                event("Deposited", i).with_id(reused_id.clone()),
            ),
            2 => (
                "account-2",
                ExpectedVersion::NoStream,
                event("Deposited", i).with_id(reused_id.clone()),
            ),
            _ => (
                ["account-1", "account-3"][i as usize % 2],
                ExpectedVersion::Any,
                event("Deposited", i),
            ),
        };
        let store = store.clone();
        appends.push(async move { (i, store.append(stream, expected, vec![new]).await) });
    }
    let results = join_all(appends).await;

    let failed: Vec<(u64, ErrorKind)> = results
        .iter()
        .filter(|(_, result)| result.is_err())
        .map(|(i, result)| (*i, kind(result.clone())))
        .collect();
    let race_losers = failed.iter().filter(|(i, _)| *i == 7 || *i == 8).count();
    assert_eq!(
        race_losers, 1,
        "one of the racing creations fails: {failed:?}"
    );
    assert!(
        failed.contains(&(4, ErrorKind::WrongExpectedVersion)),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|(i, k)| (*i == 2 || *i == 10) && *k == ErrorKind::DuplicateEventId),
        "one of the appends sharing an id is a duplicate: {failed:?}"
    );
    assert_eq!(failed.len(), 3, "every other append commits: {failed:?}");
    for (i, k) in &failed {
        if *i == 7 || *i == 8 {
            assert_eq!(*k, ErrorKind::WrongExpectedVersion);
        }
    }

    let all = store.read_all(ReadAllOptions::new()).await.unwrap();
    assert_eq!(
        all.len(),
        1 + 12 - 3,
        "nothing of the failed appends is stored"
    );
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let acknowledged: Vec<u64> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok().map(|r| r.position))
        .collect();
    for position in &acknowledged {
        assert!(
            positions.contains(position),
            "acknowledged {position} is stored"
        );
    }
    let account_0 = store
        .read_stream("account-0", ReadStreamOptions::new())
        .await
        .unwrap();
    assert_eq!(account_0.len(), 1, "the stale append wrote nothing");
    let race = store
        .read_stream("race-1", ReadStreamOptions::new())
        .await
        .unwrap();
    assert_eq!(race.len(), 1);
    assert_eq!(race[0].version, 1);
    // Streams appended to several times in one moment get consecutive versions.
    for stream in ["account-1", "account-3"] {
        let versions: Vec<u64> = store
            .read_stream(stream, ReadStreamOptions::new())
            .await
            .unwrap()
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    }
}
