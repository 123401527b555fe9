//! Rounds in alternating order.
//!
//! A bench that compares two sides runs them one after the other, several times. If the same
//! side always went first, it would always meet a cooler cache, or a machine still busy with
//! the other's writeback. So ours goes first in even rounds and theirs in odd ones.
//!
//! ```
//! use std::cell::RefCell;
//!
//! use benches::rounds::{in_turn_blocking, ours_first};
//!
//! let order = RefCell::new(Vec::new());
//! for round in 0..2 {
//!     let (ours, theirs) = in_turn_blocking(
//!         ours_first(round),
//!         || order.borrow_mut().push("ours"),
//!         || order.borrow_mut().push("theirs"),
//!     );
//!     assert_eq!((ours, theirs), ((), ()));
//! }
//! assert_eq!(order.into_inner(), ["ours", "theirs", "theirs", "ours"]);
//! ```

use std::future::Future;

/// Whether ours goes first in `round` (counted from 0): in even rounds it does.
pub fn ours_first(round: usize) -> bool {
    round.is_multiple_of(2)
}

/// Runs both sides, ours first when `ours_first`, and returns (ours, theirs).
///
/// `ours` is a future (nothing of it runs before it is awaited), `theirs` a blocking call
/// made on the caller's thread.
pub async fn in_turn<T, U>(
    ours_first: bool,
    ours: impl Future<Output = T>,
    theirs: impl FnOnce() -> U,
) -> (T, U) {
    if ours_first {
        let ours = ours.await;
        (ours, theirs())
    } else {
        let theirs = theirs();
        (ours.await, theirs)
    }
}

/// Runs both sides, ours first when `ours_first`, and returns (ours, theirs): [`in_turn`]
/// for two blocking calls.
pub fn in_turn_blocking<T, U>(
    ours_first: bool,
    ours: impl FnOnce() -> T,
    theirs: impl FnOnce() -> U,
) -> (T, U) {
    if ours_first {
        let ours = ours();
        (ours, theirs())
    } else {
        let theirs = theirs();
        (ours(), theirs)
    }
}

/// The order in which `N` sides run in `round`: `0, 1, ..., N-1` in even rounds, the reverse
/// in odd ones (side 0 being ours).
pub fn turn_order<const N: usize>(round: usize) -> [usize; N] {
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    if !ours_first(round) {
        order.reverse();
    }
    order
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn ours_goes_first_in_even_rounds() {
        let firsts: Vec<bool> = (0..5).map(ours_first).collect();
        assert_eq!(firsts, [true, false, true, false, true]);
    }

    #[test]
    fn blocking_sides_run_in_turn() {
        for (round, expected) in [(0, ["ours", "theirs"]), (1, ["theirs", "ours"])] {
            let order = RefCell::new(Vec::new());
            let result = in_turn_blocking(
                ours_first(round),
                || {
                    order.borrow_mut().push("ours");
                    1
                },
                || {
                    order.borrow_mut().push("theirs");
                    2
                },
            );
            assert_eq!(result, (1, 2), "results come back as (ours, theirs)");
            assert_eq!(order.into_inner(), expected, "round {round}");
        }
    }

    #[tokio::test]
    async fn the_future_runs_in_turn_too() {
        for (round, expected) in [(0, ["ours", "theirs"]), (1, ["theirs", "ours"])] {
            let order = RefCell::new(Vec::new());
            // Creating the future must not run it: only awaiting it does.
            let ours = async {
                order.borrow_mut().push("ours");
                "ours"
            };
            let theirs = || {
                order.borrow_mut().push("theirs");
                "theirs"
            };
            let result = in_turn(ours_first(round), ours, theirs).await;
            assert_eq!(result, ("ours", "theirs"));
            assert_eq!(order.into_inner(), expected, "round {round}");
        }
    }

    #[test]
    fn turn_order_reverses_in_odd_rounds() {
        assert_eq!(turn_order::<3>(0), [0, 1, 2]);
        assert_eq!(turn_order::<3>(1), [2, 1, 0]);
        assert_eq!(turn_order::<3>(2), [0, 1, 2]);
        assert_eq!(turn_order::<0>(1), [0usize; 0]);
    }
}
