//! Concurrency slots that a provider can give back while it only waits.
//!
//! The reconciler works on at most `concurrency` nodes at once: each node job holds one slot of
//! a semaphore. Some clouds answer a write with a long-running operation (GCE: an Operation
//! that is DONE seconds later). A job that keeps its slot while it sleeps between operation
//! polls blocks the next node from even sending its request — the Kubernetes GCE route
//! controller does exactly that with 200 slots. [`idle`] lets a provider release the job's slot
//! for the duration of a wait and take one back before it sends anything again, so the slots
//! limit requests in progress, not operations in flight.
//!
//! Outside a job (tests, `plan`), [`idle`] just runs the future.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slot of the job running on this task.
#[derive(Clone)]
pub struct Slot {
    semaphore: Arc<Semaphore>,
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl Slot {
    /// Wraps a permit already taken from `semaphore`.
    pub fn new(semaphore: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            semaphore,
            permit: Arc::new(Mutex::new(Some(permit))),
        }
    }

    fn release(&self) {
        self.permit.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    async fn reacquire(&self) {
        if self
            .permit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return;
        }
        // A closed semaphore means shutdown: carry on without a slot, the job ends soon.
        let Ok(permit) = self.semaphore.clone().acquire_owned().await else {
            return;
        };
        let mut held = self.permit.lock().unwrap_or_else(|p| p.into_inner());
        // Another call of the same job may have taken one meanwhile: keep one only.
        if held.is_none() {
            *held = Some(permit);
        }
    }

    /// Runs `fut` with this slot available to [`idle`] calls inside it.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}

tokio::task_local! {
    static CURRENT: Slot;
}

/// Runs `wait` (which must only wait: sleep, poll an operation) without holding the current
/// job's slot, and takes a slot back afterwards. A job with several calls in progress gives the
/// slot up when the first of them goes idle; the others finish the request they are sending.
pub async fn idle<F: Future>(wait: F) -> F::Output {
    let Ok(slot) = CURRENT.try_with(Clone::clone) else {
        return wait.await;
    };
    slot.release();
    let out = wait.await;
    slot.reacquire().await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_wait_frees_the_slot_for_another_job() {
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.clone().acquire_owned().await.unwrap();
        let slot = Slot::new(sem.clone(), permit);
        let seen = slot
            .scope(async {
                assert_eq!(sem.available_permits(), 0, "held while working");
                idle(async { sem.available_permits() }).await
            })
            .await;
        assert_eq!(seen, 1, "released while idle");
        assert_eq!(sem.available_permits(), 1, "released when the job ends");
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_wait_the_job_waits_for_a_slot_again() {
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.clone().acquire_owned().await.unwrap();
        let slot = Slot::new(sem.clone(), permit);
        let start = tokio::time::Instant::now();
        let sem2 = sem.clone();
        slot.scope(async move {
            idle(async {
                // Another job takes the freed slot while we wait, and keeps it for 50 ms.
                let theirs = sem2.clone().try_acquire_owned().unwrap();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    drop(theirs);
                });
            })
            .await;
        })
        .await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(50));
        assert_eq!(sem.available_permits(), 1);
    }

    #[tokio::test]
    async fn outside_a_job_idle_just_runs() {
        assert_eq!(idle(async { 7 }).await, 7);
    }
}
