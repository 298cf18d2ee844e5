//! Parallel jobs with serial results: a bounded, ordered work pool on scoped threads.
//!
//! [`ordered`] runs `work(i)` for `i in 0..n` on `threads` workers and hands the results to
//! `consume` **in index order** on the calling thread. At most `window` results wait to be
//! consumed (a worker does not start unit `i` before unit `i − window` was consumed), so memory
//! is bounded by `threads` scratch states plus `window` results, whatever `n` is. Because every
//! unit's result depends only on its index and `consume` sees them in order, the outcome is the
//! same for any number of threads (1 thread runs everything on the calling thread).
//!
//! Why not rayon: its ordered parallel iterators collect everything (unbounded memory) or have
//! no back-pressure; a window over a `Mutex` + `Condvar` is all this needs.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// How many threads a job uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jobs {
    /// Worker threads (1 = serial, on the calling thread).
    pub threads: usize,
}

impl Default for Jobs {
    /// One worker per available core.
    fn default() -> Self {
        Jobs {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl Jobs {
    /// Everything on the calling thread.
    pub fn serial() -> Jobs {
        Jobs { threads: 1 }
    }

    /// Results waiting to be consumed, at most.
    pub fn window(&self) -> usize {
        self.threads.max(1) * 2
    }
}

/// A progress callback: called on the calling thread with the number of payload bytes just
/// completed (the total is known up front from the tensor list).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

struct State<R> {
    next: usize,
    consumed: usize,
    ready: BTreeMap<usize, R>,
    stop: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sets `stop` if a worker unwinds, so the consumer does not wait for it forever (the panic is
/// then re-raised by the thread scope).
struct StopOnUnwind<'a, R>(&'a Mutex<State<R>>, &'a Condvar);

impl<R> Drop for StopOnUnwind<'_, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.0).stop = true;
            self.1.notify_all();
        }
    }
}

/// Runs `work` over `0..n` on `jobs.threads` workers, each with its own `init()` scratch state,
/// and feeds the results to `consume` in index order (see the module docs). The first error
/// from `consume` stops the job (units not yet started are skipped) and is returned.
pub fn ordered<S, R, E>(
    n: usize,
    jobs: Jobs,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) -> R + Sync,
    mut consume: impl FnMut(usize, R) -> Result<(), E>,
) -> Result<(), E>
where
    R: Send,
{
    let threads = jobs.threads.max(1).min(n.max(1));
    if threads <= 1 {
        let mut s = init();
        for i in 0..n {
            consume(i, work(&mut s, i))?;
        }
        return Ok(());
    }
    let window = jobs.window();
    let state = Mutex::new(State {
        next: 0,
        consumed: 0,
        ready: BTreeMap::new(),
        stop: false,
    });
    let cv = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let _guard = StopOnUnwind(&state, &cv);
                let mut s = init();
                loop {
                    let i = {
                        let mut st = lock(&state);
                        while !st.stop && st.next < n && st.next >= st.consumed + window {
                            st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
                        }
                        if st.stop || st.next >= n {
                            return;
                        }
                        st.next += 1;
                        st.next - 1
                    };
                    let r = work(&mut s, i);
                    lock(&state).ready.insert(i, r);
                    cv.notify_all();
                }
            });
        }
        let mut out = Ok(());
        for i in 0..n {
            let r = {
                let mut st = lock(&state);
                loop {
                    if let Some(r) = st.ready.remove(&i) {
                        st.consumed = i + 1;
                        break Some(r);
                    }
                    if st.stop {
                        break None;
                    }
                    st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            cv.notify_all();
            let Some(r) = r else { break };
            if let Err(e) = consume(i, r) {
                out = Err(e);
                break;
            }
        }
        lock(&state).stop = true;
        cv.notify_all();
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_for_any_thread_count() {
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            ordered(
                100,
                Jobs { threads },
                || 0u64,
                |count, i| {
                    *count += 1;
                    // uneven work so that units finish out of order
                    std::thread::sleep(std::time::Duration::from_micros((i % 7) as u64 * 50));
                    i * i
                },
                |i, r| {
                    assert_eq!(r, i * i);
                    seen.push(i);
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            assert_eq!(seen, (0..100).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    #[test]
    fn an_error_stops_the_job() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let r = ordered(
            1000,
            Jobs { threads: 2 },
            || (),
            |_, i| {
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                i
            },
            |i, _| if i == 10 { Err(i) } else { Ok(()) },
        );
        assert_eq!(r, Err(10));
        // bounded by the window: nothing close to all 1000 units ran
        assert!(started.into_inner() <= 10 + 1 + Jobs { threads: 2 }.window() + 2);
    }
}
