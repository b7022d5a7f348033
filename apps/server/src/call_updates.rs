//! The timer behind `group_call_updated`: the domain's throttle holds back a change that
//! comes within a second of the last announcement of its conversation and says when it may
//! go out; this task sleeps until then and flushes. One task for all conversations.

use crate::app::App;
use std::sync::Weak;
use std::time::Instant;
use tokio::sync::watch;

/// Arms the delivery task with the earliest pending deadline.
#[derive(Debug)]
pub struct CallUpdateTimer {
    deadline: watch::Sender<Option<Instant>>,
}

impl CallUpdateTimer {
    /// Start the delivery task for `app` (it ends when the app is dropped).
    pub fn start(app: Weak<App>) -> Self {
        let (deadline, rx) = watch::channel(None);
        tokio::spawn(run(app, rx));
        Self { deadline }
    }

    /// Flush no later than `at` (keeps an earlier deadline).
    pub fn arm(&self, at: Instant) {
        self.deadline.send_if_modified(|current| match current {
            Some(c) if *c <= at => false,
            _ => {
                *current = Some(at);
                true
            }
        });
    }

    fn disarm(&self) {
        self.deadline.send_replace(None);
    }
}

async fn run(app: Weak<App>, mut rx: watch::Receiver<Option<Instant>>) {
    loop {
        let deadline = *rx.borrow_and_update();
        match deadline {
            None => {
                if rx.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            }
        }
        let Some(app) = app.upgrade() else {
            return;
        };
        app.call_updates.disarm();
        app.after_change();
    }
}
