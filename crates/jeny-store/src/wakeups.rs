//! Wake-ups: "something new was committed on this channel". Readers that follow a log (event
//! consumers, live streams) wait on a channel instead of polling. A commit wakes local waiters
//! directly. On SQLite, writers in other processes (a deploy's supervisor) are noticed by a
//! watcher that reads `PRAGMA data_version` every few milliseconds and wakes every channel when
//! it changes (see `Store::connect`). On PostgreSQL a commit also sends
//! `pg_notify` inside the transaction, and a listener relays other nodes' notifications here.
//! A wake-up carries no data but, on a keyed channel, the key of what changed (a deploy's id for
//! its output): only that key's waiters wake, here and, through the notification's payload, on
//! other nodes; when the key is unknown (another process's commit on SQLite, a lost listener),
//! every waiter of the channel wakes. Waiters re-read from their cursor, so a spurious or merged
//! wake-up is harmless and a lost one is only a delay until the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;

/// A named wake-up channel. The set is closed so that PostgreSQL channel names are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Events,
    /// Deploys changed state (queued, started, ended, a cancel asked).
    Deploys,
    /// A deploy wrote output; keyed by the deploy's id.
    DeployOutput,
    /// A credential may have ended or a person's roles changed (a token or session revoked, a
    /// sign-out, a role, grants or the allowlist changed): live streams check theirs again.
    Credentials,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Events,
        Channel::Deploys,
        Channel::DeployOutput,
        Channel::Credentials,
    ];

    pub fn pg_name(self) -> &'static str {
        match self {
            Channel::Events => "jeny_events",
            Channel::Deploys => "jeny_deploys",
            Channel::DeployOutput => "jeny_deploy_output",
            Channel::Credentials => "jeny_credentials",
        }
    }

    fn index(self) -> usize {
        match self {
            Channel::Events => 0,
            Channel::Deploys => 1,
            Channel::DeployOutput => 2,
            Channel::Credentials => 3,
        }
    }

    pub(crate) fn from_pg_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.pg_name() == name)
    }
}

/// The waiters of one key on one channel.
type KeyedSenders = HashMap<(Channel, String), Weak<watch::Sender<u64>>>;

/// One watch counter per channel, and one per key that someone waits on; waking bumps them.
#[derive(Clone)]
pub(crate) struct Wakeups {
    senders: Arc<Vec<watch::Sender<u64>>>,
    keyed: Arc<Mutex<KeyedSenders>>,
}

/// A waiter on one key of a channel (`Store::subscribe_key`): `changed()` returns when that key
/// is woken, or the whole channel is.
pub struct KeyedWake {
    receiver: watch::Receiver<u64>,
    /// Keeps the key's sender alive while someone waits on it.
    _sender: Arc<watch::Sender<u64>>,
}

impl KeyedWake {
    /// Marks what has been seen, so that `changed` waits for the next wake-up.
    pub fn borrow_and_update(&mut self) {
        self.receiver.borrow_and_update();
    }

    /// Whether a wake-up came since the last `borrow_and_update`.
    pub fn has_changed(&self) -> bool {
        self.receiver.has_changed().unwrap_or(false)
    }

    /// Waits for the next wake-up of the key or of its whole channel.
    pub async fn changed(&mut self) {
        // The sender lives as long as this waiter, so this never fails.
        let _ = self.receiver.changed().await;
    }
}

impl Wakeups {
    pub(crate) fn new() -> Wakeups {
        let senders = Channel::ALL.iter().map(|_| watch::channel(0).0).collect();
        Wakeups {
            senders: Arc::new(senders),
            keyed: Arc::default(),
        }
    }

    fn keyed(&self) -> std::sync::MutexGuard<'_, KeyedSenders> {
        self.keyed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes every waiter of `channel`, keyed ones included.
    pub(crate) fn wake(&self, channel: Channel) {
        self.senders[channel.index()].send_modify(|count| *count = count.wrapping_add(1));
        let mut keyed = self.keyed();
        keyed.retain(|_, sender| sender.strong_count() > 0);
        for ((of, _), sender) in keyed.iter() {
            if *of == channel
                && let Some(sender) = sender.upgrade()
            {
                sender.send_modify(|count| *count = count.wrapping_add(1));
            }
        }
    }

    /// Wakes the waiters of `key` on `channel` only.
    pub(crate) fn wake_key(&self, channel: Channel, key: &str) {
        let sender = self
            .keyed()
            .get(&(channel, key.to_owned()))
            .and_then(Weak::upgrade);
        if let Some(sender) = sender {
            sender.send_modify(|count| *count = count.wrapping_add(1));
        }
    }

    pub(crate) fn subscribe_key(&self, channel: Channel, key: &str) -> KeyedWake {
        let mut keyed = self.keyed();
        let entry = (channel, key.to_owned());
        let sender = match keyed.get(&entry).and_then(Weak::upgrade) {
            Some(sender) => sender,
            None => {
                let sender = Arc::new(watch::channel(0).0);
                keyed.insert(entry, Arc::downgrade(&sender));
                sender
            }
        };
        KeyedWake {
            receiver: sender.subscribe(),
            _sender: sender,
        }
    }

    pub(crate) fn wake_all(&self) {
        for channel in Channel::ALL {
            self.wake(channel);
        }
    }

    pub(crate) fn subscribe(&self, channel: Channel) -> watch::Receiver<u64> {
        self.senders[channel.index()].subscribe()
    }
}
