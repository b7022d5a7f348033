//! Huddle patch: a bounded single-receiver queue that allocates only while it holds items.
//!
//! It replaces the `tokio::sync::mpsc::channel(max_buffer_size)` that buffered the outgoing
//! [`PacketBuf`](engineioxide_core::PacketBuf)s of a socket. A tokio bounded channel allocates
//! its first block of 32 slots when it is created and keeps it for its whole life (5.4 KiB per
//! socket for `PacketBuf`), which dominated the memory of an idle socket. This queue is a
//! [`VecDeque`] behind a [`std::sync::Mutex`]: `VecDeque::new()` does not allocate, and the
//! buffer is released again every time the queue drains.
//!
//! It keeps the semantics engineioxide relies on from the tokio channel:
//! * the bound: queued items plus outstanding [`Permit`]s never exceed the capacity, and
//!   [`Sender::try_send`] / [`Sender::try_reserve`] fail with [`TrySendError::Full`] at the same
//!   point (a multi-packet `PacketBuf` is one item, so it stays atomic);
//! * dropping a [`Permit`] without sending frees its slot;
//! * after [`Receiver::close`] (or dropping the receiver) sends fail with
//!   [`TrySendError::Closed`], [`Sender::is_closed`] is true and [`Sender::closed`] resolves; the
//!   receiver still gets the items already queued (and those sent through permits taken before
//!   the close), then `None`;
//! * FIFO order, one receiver (it is `&mut`), [`Receiver::poll_recv`] for the polling stream;
//!   [`Receiver::recv`] is cancel safe.
//!
//! Difference: dropping the [`Sender`] does not close the queue (engineioxide keeps the sender
//! in the `Socket` next to the receiver, so it is never dropped first).
use std::{
    collections::VecDeque,
    fmt,
    future::poll_fn,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
};

use futures_util::task::AtomicWaker;
use tokio::sync::{
    Notify,
    mpsc::error::{SendError, TryRecvError, TrySendError},
};

struct State<T> {
    items: VecDeque<T>,
    /// Slots held by outstanding [`Permit`]s.
    reserved: usize,
    closed: bool,
}

impl<T> State<T> {
    fn is_full(&self, capacity: usize) -> bool {
        self.items.len() + self.reserved >= capacity
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Wakes the single receiver when an item is queued or the queue is closed.
    rx_waker: AtomicWaker,
    /// Wakes senders waiting for a free slot ([`Sender::send`]) or for the close
    /// ([`Sender::closed`]). Waiters re-check the state, so spurious wake-ups are harmless.
    tx_notify: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while the lock is held; if it ever did, the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        let mut state = self.lock();
        if state.closed {
            Err(TrySendError::Closed(()))
        } else if state.is_full(self.capacity) {
            Err(TrySendError::Full(()))
        } else {
            state.reserved += 1;
            Ok(())
        }
    }

    /// Gives back the slot of a permit, queueing `item` in it if there is one.
    fn release_permit(&self, item: Option<T>) {
        let mut state = self.lock();
        let was_full = state.is_full(self.capacity);
        state.reserved -= 1;
        let sent = item.is_some();
        state.items.extend(item);
        let closed_and_idle = state.closed && state.reserved == 0;
        drop(state);
        if sent || closed_and_idle {
            self.rx_waker.wake();
        }
        if !sent && was_full {
            self.tx_notify.notify_waiters();
        }
    }

    fn close(&self) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.closed = true;
        drop(state);
        self.rx_waker.wake();
        self.tx_notify.notify_waiters();
    }
}

/// Creates a bounded queue of `capacity` items.
///
/// # Panics
/// Panics if `capacity` is 0, as `tokio::sync::mpsc::channel` does.
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "bounded queue requires capacity > 0");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            reserved: 0,
            closed: false,
        }),
        capacity,
        rx_waker: AtomicWaker::new(),
        tx_notify: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending half of the queue.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` if there is a free slot and the queue is open.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(TrySendError::Closed(item));
        }
        if state.is_full(self.shared.capacity) {
            return Err(TrySendError::Full(item));
        }
        state.items.push_back(item);
        drop(state);
        self.shared.rx_waker.wake();
        Ok(())
    }

    /// Reserves a slot, to be filled later with [`Permit::send`].
    pub(crate) fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.shared.try_reserve()?;
        Ok(Permit {
            shared: &self.shared,
        })
    }

    /// Waits for a free slot, then queues `item`. Fails if the queue is closed.
    pub(crate) async fn send(&self, item: T) -> Result<(), SendError<T>> {
        loop {
            let notified = self.shared.tx_notify.notified();
            tokio::pin!(notified);
            // Register before checking so that a slot freed in between is not missed.
            notified.as_mut().enable();
            match self.shared.try_reserve() {
                Ok(()) => {
                    Permit {
                        shared: &self.shared,
                    }
                    .send(item);
                    return Ok(());
                }
                Err(TrySendError::Closed(())) => return Err(SendError(item)),
                Err(TrySendError::Full(())) => notified.await,
            }
        }
    }

    /// Returns true once the receiver is closed or dropped.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Waits until the receiver is closed or dropped.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.shared.tx_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

/// A reserved slot in the queue. Dropping it without sending frees the slot.
pub(crate) struct Permit<'a, T> {
    shared: &'a Shared<T>,
}

impl<T> Permit<'_, T> {
    /// Queues `item` in the reserved slot.
    pub(crate) fn send(self, item: T) {
        let shared = self.shared;
        // The slot is given back here, so the `Drop` impl must not run.
        std::mem::forget(self);
        shared.release_permit(Some(item));
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.shared.release_permit(None);
    }
}

/// The receiving half of the queue; there is only one.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// `Some(item)`, `Some(None)` once closed and drained, `None` if nothing is available yet.
    fn pop(&mut self) -> Option<Option<T>> {
        let mut state = self.shared.lock();
        let was_full = state.is_full(self.shared.capacity);
        match state.items.pop_front() {
            Some(item) => {
                if state.items.is_empty() && state.items.capacity() > 0 {
                    // Release the buffer: an idle socket keeps no allocation for its queue.
                    state.items = VecDeque::new();
                }
                drop(state);
                if was_full {
                    self.shared.tx_notify.notify_waiters();
                }
                Some(Some(item))
            }
            // As with tokio, a permit taken before the close may still deliver an item.
            None if state.closed && state.reserved == 0 => Some(None),
            None => None,
        }
    }

    /// Polls for the next item: `Ready(None)` once the queue is closed and drained.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(res) = self.pop() {
            return Poll::Ready(res);
        }
        self.shared.rx_waker.register(cx.waker());
        // Check again: an item queued before the registration would not have woken us.
        match self.pop() {
            Some(res) => Poll::Ready(res),
            None => Poll::Pending,
        }
    }

    /// Receives the next item, `None` once the queue is closed and drained. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives the next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.pop() {
            Some(Some(item)) => Ok(item),
            Some(None) => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Closes the queue: no more sends, the queued items can still be received.
    pub(crate) fn close(&mut self) {
        self.shared.close();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Receiver")
            .field("len", &state.items.len())
            .field("reserved", &state.reserved)
            .field("closed", &state.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use engineioxide_core::{Packet, PacketBuf};
    use futures_util::FutureExt;
    use smallvec::smallvec;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[test]
    fn new_queue_does_not_allocate_and_drain_releases_the_buffer() {
        let (tx, mut rx) = channel::<PacketBuf>(128);
        assert_eq!(rx.shared.lock().items.capacity(), 0);
        for _ in 0..40 {
            tx.try_send(smallvec![Packet::Ping]).unwrap();
        }
        assert!(rx.shared.lock().items.capacity() >= 40);
        for _ in 0..39 {
            rx.try_recv().unwrap();
        }
        assert!(
            rx.shared.lock().items.capacity() > 0,
            "still holds one item"
        );
        rx.try_recv().unwrap();
        assert_eq!(rx.shared.lock().items.capacity(), 0);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn bound_counts_items_and_permits() {
        let (tx, mut rx) = channel::<u32>(3);
        tx.try_send(1).unwrap();
        let permit = tx.try_reserve().unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));

        // Dropping a permit without sending frees its slot.
        drop(permit);
        let permit = tx.try_reserve().unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));

        // Receiving frees a slot.
        assert_eq!(rx.try_recv().unwrap(), 1);
        tx.try_send(3).unwrap();
        permit.send(4);
        assert_eq!(rx.try_recv().unwrap(), 2);
        assert_eq!(rx.try_recv().unwrap(), 3);
        assert_eq!(rx.try_recv().unwrap(), 4);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn fifo_order_with_permits_filled_late() {
        let (tx, mut rx) = channel::<u32>(8);
        let early = tx.try_reserve().unwrap();
        tx.try_send(1).unwrap();
        early.send(2); // the order is the order of the sends, as with tokio
        tx.try_send(3).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn multi_packet_buf_is_one_item() {
        let (tx, mut rx) = channel::<PacketBuf>(1);
        tx.try_send(smallvec![
            Packet::Message("a".into()),
            Packet::Binary(vec![1].into()),
            Packet::Binary(vec![2].into()),
        ])
        .unwrap();
        assert!(tx.try_send(smallvec![Packet::Ping]).is_err());
        assert_eq!(rx.try_recv().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn close_semantics() {
        let (tx, mut rx) = channel::<u32>(4);
        tx.try_send(1).unwrap();
        let permit = tx.try_reserve().unwrap();
        assert!(!tx.is_closed());
        assert!(tx.closed().now_or_never().is_none());

        rx.close();
        assert!(tx.is_closed());
        tx.closed().now_or_never().expect("closed resolves");
        assert!(matches!(tx.try_send(2), Err(TrySendError::Closed(2))));
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
        assert!(tx.send(2).await.is_err());

        // Queued items are still delivered, then the permit's item, then None.
        assert_eq!(rx.recv().await, Some(1));
        assert!(rx.recv().now_or_never().is_none(), "waits for the permit");
        permit.send(3);
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, None);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
    }

    #[tokio::test]
    async fn dropping_a_permit_after_close_ends_the_receiver() {
        let (tx, mut rx) = channel::<u32>(4);
        let permit = tx.try_reserve().unwrap();
        rx.close();
        let recv = tokio::spawn(async move { rx.recv().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!recv.is_finished());
        drop(permit);
        let res = tokio::time::timeout(TIMEOUT, recv).await.unwrap().unwrap();
        assert_eq!(res, None);
        assert!(tx.is_closed());
    }

    #[tokio::test]
    async fn dropping_the_receiver_closes() {
        let (tx, rx) = channel::<u32>(4);
        let waiter = tokio::spawn(async move {
            tx.closed().await;
            tx.try_send(1)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(rx);
        let res = tokio::time::timeout(TIMEOUT, waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(res, Err(TrySendError::Closed(1))));
    }

    #[tokio::test]
    async fn recv_is_woken_by_send_permit_and_close() {
        let (tx, mut rx) = channel::<u32>(4);
        let recv = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        });
        let tx = Arc::new(tx);
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.try_send(1).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.try_reserve().unwrap().send(2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let tx2 = tx.clone();
        std::thread::spawn(move || tx2.try_send(3).unwrap())
            .join()
            .unwrap();
        for i in 4..100 {
            tx.send(i).await.unwrap(); // capacity 4: waits for the receiver
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !recv.is_finished(),
            "the receiver waits while the queue is open"
        );
        // The receiver was moved into the task; close through the shared state (what
        // `Receiver::close` does).
        tx.shared.close();
        let got = tokio::time::timeout(TIMEOUT, recv).await.unwrap().unwrap();
        assert_eq!(got, (1..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn send_waits_for_a_free_slot() {
        let (tx, mut rx) = channel::<u32>(1);
        tx.try_send(1).unwrap();
        let tx = Arc::new(tx);
        let tx2 = tx.clone();
        let sender = tokio::spawn(async move { tx2.send(2).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sender.is_finished());
        assert_eq!(rx.recv().await, Some(1));
        tokio::time::timeout(TIMEOUT, sender)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(rx.recv().await, Some(2));

        // A waiting sender fails when the queue closes.
        tx.try_send(3).unwrap();
        let tx2 = tx.clone();
        let sender = tokio::spawn(async move { tx2.send(4).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        rx.close();
        let res = tokio::time::timeout(TIMEOUT, sender)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(res, Err(SendError(4))));
    }

    #[test]
    fn packet_buf_size() {
        // For the record in HUDDLE_PATCH.md: the bytes one queued item takes.
        println!(
            "size_of::<PacketBuf>() = {}",
            std::mem::size_of::<PacketBuf>()
        );
    }
}
