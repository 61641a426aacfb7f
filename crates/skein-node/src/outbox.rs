//! A bounded per-peer send queue that drops its oldest frame when full.
//!
//! Why drop-oldest rather than backpressure: the protocol core must never
//! block on one slow or dead peer (that would stall it for every other peer),
//! and skein protocols resend state periodically, so the newest frames are
//! the valuable ones. Every drop is counted in `skein_send_dropped_total`.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

pub struct Outbox {
    queue: Mutex<VecDeque<Vec<u8>>>,
    ready: Notify,
    capacity: usize,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "an outbox needs room for one frame");
        Self {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(64))),
            ready: Notify::new(),
            capacity,
        }
    }

    /// Queues a frame; returns false if the oldest frame was dropped for it.
    pub fn push(&self, frame: Vec<u8>) -> bool {
        let kept_all = {
            let mut queue = self.queue.lock().expect("outbox lock poisoned");
            let room = queue.len() < self.capacity;
            if !room {
                queue.pop_front();
            }
            queue.push_back(frame);
            room
        };
        self.ready.notify_one();
        kept_all
    }

    /// Waits for the next frame.
    pub async fn pop(&self) -> Vec<u8> {
        loop {
            if let Some(frame) = self.queue.lock().expect("outbox lock poisoned").pop_front() {
                return frame;
            }
            self.ready.notified().await;
        }
    }

    pub fn len(&self) -> usize {
        self.queue.lock().expect("outbox lock poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_newest_frames_at_capacity() {
        let outbox = Outbox::new(2);
        assert!(outbox.push(vec![1]));
        assert!(outbox.push(vec![2]));
        assert!(!outbox.push(vec![3]));
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox.pop().await, vec![2]);
        assert_eq!(outbox.pop().await, vec![3]);
        assert!(outbox.is_empty());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let outbox = std::sync::Arc::new(Outbox::new(4));
        let waiter = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.pop().await }
        });
        tokio::task::yield_now().await;
        outbox.push(vec![9]);
        assert_eq!(waiter.await.unwrap(), vec![9]);
    }
}
