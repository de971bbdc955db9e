//! Handing what a setup made to its teardown, even when the setup is abandoned half-way.
//!
//! A fixture registers its teardown before it creates anything; the background task that
//! creates the container (or network) delivers it here when done. If the teardown already
//! ran (the setup timed out and was dropped, its task kept going), delivery fails and the
//! task cleans up itself: nothing is left for the reaper.

use parking_lot::Mutex;

enum State<T> {
    Pending,
    Ready(T),
    Closed,
}

/// A one-shot slot between a setup's task and its teardown.
pub(crate) struct Handoff<T> {
    state: Mutex<State<T>>,
}

impl<T> Handoff<T> {
    pub(crate) fn new() -> Self {
        Handoff {
            state: Mutex::new(State::Pending),
        }
    }

    /// Hands `value` to the teardown; gives it back when the teardown already ran.
    pub(crate) fn deliver(&self, value: T) -> Result<(), T> {
        let mut state = self.state.lock();
        match *state {
            State::Pending => {
                *state = State::Ready(value);
                Ok(())
            }
            _ => Err(value),
        }
    }

    /// For the teardown: takes what was delivered, and refuses later deliveries.
    pub(crate) fn close(&self) -> Option<T> {
        match std::mem::replace(&mut *self.state.lock(), State::Closed) {
            State::Ready(value) => Some(value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_value_reaches_the_teardown_once() {
        let h = Handoff::new();
        assert!(h.deliver(1).is_ok());
        assert_eq!(h.close(), Some(1));
        assert_eq!(h.close(), None);
    }

    #[test]
    fn a_late_delivery_is_refused_so_the_task_cleans_up() {
        let h = Handoff::new();
        assert_eq!(h.close(), None);
        assert_eq!(h.deliver(7), Err(7));
    }
}
