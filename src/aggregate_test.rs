//! A given/when/then harness for aggregates: no store, just the fold and the decision.

use std::fmt::Debug;

use crate::aggregate::Aggregate;

/// Tests a decision function against events given as history.
///
/// ```
/// # use evstore::{Aggregate, AggregateTest};
/// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// # enum CounterEvent { Added(u32) }
/// # #[derive(Default)] struct Counter(u32);
/// # impl Aggregate for Counter { type Event = CounterEvent;
/// #     fn apply(&mut self, CounterEvent::Added(n): &CounterEvent) { self.0 += n } }
/// fn add(counter: &Counter, n: u32) -> Result<Vec<CounterEvent>, String> {
///     if counter.0 + n > 10 { Err("too many".into()) } else { Ok(vec![CounterEvent::Added(n)]) }
/// }
/// AggregateTest::<Counter>::given([CounterEvent::Added(4)])
///     .when(|c| add(c, 3))
///     .then([CounterEvent::Added(3)]);
/// AggregateTest::<Counter>::given([CounterEvent::Added(9)])
///     .when(|c| add(c, 3))
///     .then_error("too many".to_string());
/// ```
pub struct AggregateTest<A: Aggregate> {
    state: A,
}

/// The outcome of [`AggregateTest::when`], to check with `then…`.
pub struct AggregateOutcome<A: Aggregate, E> {
    state: A,
    outcome: Result<Vec<A::Event>, E>,
}

impl<A: Aggregate> AggregateTest<A> {
    /// The aggregate after applying `history` to its default state.
    pub fn given(history: impl IntoIterator<Item = A::Event>) -> Self {
        let mut state = A::default();
        for event in history {
            state.apply(&event);
        }
        AggregateTest { state }
    }

    /// Runs a decision against the state.
    pub fn when<E>(
        self,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> AggregateOutcome<A, E> {
        let outcome = decide(&self.state);
        AggregateOutcome {
            state: self.state,
            outcome,
        }
    }
}

impl<A, E> AggregateOutcome<A, E>
where
    A: Aggregate,
    A::Event: PartialEq + Debug,
    E: PartialEq + Debug,
{
    /// Asserts the decision produced exactly `expected`; returns the state with them applied.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "the decision produced other events");
                let mut state = self.state;
                events.iter().for_each(|event| state.apply(event));
                state
            }
            Err(error) => {
                panic!("expected events {expected:?}, the decision failed with {error:?}")
            }
        }
    }

    /// Asserts the decision was refused with `expected`.
    #[track_caller]
    pub fn then_error(self, expected: E) {
        match self.outcome {
            Ok(events) => {
                panic!("expected the error {expected:?}, the decision produced {events:?}")
            }
            Err(error) => assert_eq!(error, expected, "the decision failed otherwise"),
        }
    }
}
