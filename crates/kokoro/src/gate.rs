//! Fair turns at the shared session: at most as many model calls at once as
//! the layout has workers, across every text being spoken. When a call ends,
//! the waiting call with the fewest ids goes next, a wait of 100 ms counting
//! as one id less, so that the short first chunks of a new request jump ahead
//! of the long chunks of a book (first audio soon), and a long chunk that has
//! waited long enough (about 14 s for 150 ids against 10) goes before new
//! short ones: nothing starves. Ties go
//! first come, first served. Concurrent requests thus interleave chunk by
//! chunk, each still delivered in order by its own scheduler.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use kokoro_infer::{SharedHandle, Synthesize};

/// Milliseconds of waiting that count as one id less. At 20 ms, four clients
/// sending paragraphs waited 2.9 s (median) for first audio, the long chunks
/// of the others outranking a new request's first one after 2.8 s.
const MS_PER_ID: u128 = 100;

/// A counting semaphore that grants permits shortest call first, with aging.
#[derive(Debug)]
pub(crate) struct Gate {
    permits: usize,
    ms_per_id: u128,
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Calls running now.
    running: usize,
    /// Calls waiting: ticket, ids, since when.
    waiting: Vec<(u64, usize, Instant)>,
    /// Tickets granted a permit but not yet woken.
    granted: Vec<u64>,
    next: u64,
}

impl State {
    /// Grants free permits to the best waiters.
    fn grant(&mut self, permits: usize, ms_per_id: u128) {
        while self.running < permits && !self.waiting.is_empty() {
            let now = Instant::now();
            let score = |&(ticket, ids, since): &(u64, usize, Instant)| {
                let waited = now.duration_since(since).as_millis() / ms_per_id;
                (ids as i128 - waited as i128, ticket)
            };
            let best = (0..self.waiting.len())
                .min_by_key(|&i| score(&self.waiting[i]))
                .unwrap_or(0);
            let (ticket, _, _) = self.waiting.swap_remove(best);
            self.granted.push(ticket);
            self.running += 1;
        }
    }
}

/// What the gate holds: running calls and waiting ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Model calls running now.
    pub running: usize,
    /// Model calls waiting for their turn.
    pub waiting: usize,
}

impl Gate {
    pub(crate) fn new(permits: usize) -> Self {
        Self::with_aging(permits, MS_PER_ID)
    }

    /// A gate where a wait of `ms_per_id` milliseconds counts as one id less.
    fn with_aging(permits: usize, ms_per_id: u128) -> Self {
        Self {
            permits: permits.max(1),
            ms_per_id: ms_per_id.max(1),
            state: Mutex::new(State::default()),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the turn of a call of `ids` ids, then holds a permit until
    /// the guard drops.
    fn enter(&self, ids: usize) -> Permit<'_> {
        let mut state = self.lock();
        let ticket = state.next;
        state.next += 1;
        state.waiting.push((ticket, ids, Instant::now()));
        state.grant(self.permits, self.ms_per_id);
        while !state.granted.contains(&ticket) {
            state = self.turn.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.granted.retain(|&t| t != ticket);
        Permit(self)
    }

    pub(crate) fn load(&self) -> Load {
        let state = self.lock();
        Load {
            running: state.running,
            waiting: state.waiting.len(),
        }
    }
}

struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running -= 1;
        state.grant(self.0.permits, self.0.ms_per_id);
        drop(state);
        self.0.turn.notify_all();
    }
}

/// A worker's handle on the shared session that takes its turn at the gate
/// for every call.
pub(crate) struct Gated {
    pub(crate) handle: SharedHandle,
    pub(crate) gate: Arc<Gate>,
}

impl Synthesize for Gated {
    fn synthesize(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> kokoro_infer::Result<Vec<f32>> {
        let _permit = self.gate.enter(ids.len());
        self.handle.synthesize(ids, style, speed)
    }

    fn synthesize_timed(
        &mut self,
        ids: &[i64],
        style: &[f32],
        speed: f32,
    ) -> kokoro_infer::Result<kokoro_infer::Synthesis> {
        let _permit = self.gate.enter(ids.len());
        self.handle.synthesize_timed(ids, style, speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_calls_than_permits_and_every_call_served() {
        let gate = Arc::new(Gate::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..8 {
                let (gate, running, most, served) =
                    (gate.clone(), running.clone(), most.clone(), served.clone());
                s.spawn(move || {
                    for k in 0..20 {
                        let _p = gate.enter((t * 7 + k * 13) % 150);
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(served.load(Ordering::SeqCst), 160);
        assert_eq!(gate.load(), Load::default());
    }

    /// Waits until `n` calls wait at the gate.
    fn until_waiting(gate: &Gate, n: usize) {
        while gate.load().waiting < n {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_short_call_goes_before_a_long_one_that_came_first() {
        // One permit, held; a 150-id call queues, then a 10-id call: the short one goes first.
        let gate = Arc::new(Gate::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = gate.enter(150);
        std::thread::scope(|s| {
            for (ids, name) in [(150, "long"), (10, "short")] {
                let (g, o) = (gate.clone(), order.clone());
                let before = gate.load().waiting;
                s.spawn(move || {
                    let _p = g.enter(ids);
                    o.lock().unwrap().push(name);
                });
                until_waiting(&gate, before + 1);
            }
            drop(held);
        });
        assert_eq!(*order.lock().unwrap(), vec!["short", "long"]);
    }

    #[test]
    fn a_long_call_that_waited_goes_before_a_new_short_one() {
        // A millisecond an id here, so that the wait is short.
        let gate = Arc::new(Gate::with_aging(1, 1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = gate.enter(10);
        std::thread::scope(|s| {
            let (g, o) = (gate.clone(), order.clone());
            s.spawn(move || {
                let _p = g.enter(150);
                o.lock().unwrap().push("long");
            });
            until_waiting(&gate, 1);
            // 150 ids at 1 ms an id: after 160 ms of waiting it outranks a 10-id call.
            std::thread::sleep(std::time::Duration::from_millis(160));
            let (g, o) = (gate.clone(), order.clone());
            s.spawn(move || {
                let _p = g.enter(10);
                o.lock().unwrap().push("short");
            });
            until_waiting(&gate, 2);
            drop(held);
        });
        assert_eq!(*order.lock().unwrap(), vec!["long", "short"]);
    }
}
