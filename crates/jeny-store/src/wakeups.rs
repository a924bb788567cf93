//! Wake-ups: "something new was committed on this channel". Readers that follow a log (event
//! consumers, live streams) wait on a channel instead of polling. A commit wakes local waiters
//! directly. On SQLite, writers in other processes (a deploy's supervisor) are noticed by a
//! watcher that reads `PRAGMA data_version` every few milliseconds and wakes every channel when
//! it changes (see `Store::connect`). On PostgreSQL a commit also sends
//! `pg_notify` inside the transaction, and a listener relays other nodes' notifications here.
//! A wake-up carries no data: waiters re-read from their cursor, so a spurious or merged wake-up
//! is harmless and a lost one is only a delay until the next.

use std::sync::Arc;
use tokio::sync::watch;

/// A named wake-up channel. The set is closed so that PostgreSQL channel names are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Events,
    /// Deploys changed state or wrote output.
    Deploys,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Events, Channel::Deploys];

    pub fn pg_name(self) -> &'static str {
        match self {
            Channel::Events => "jeny_events",
            Channel::Deploys => "jeny_deploys",
        }
    }

    fn index(self) -> usize {
        match self {
            Channel::Events => 0,
            Channel::Deploys => 1,
        }
    }

    pub(crate) fn from_pg_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.pg_name() == name)
    }
}

/// One watch counter per channel; waking bumps it.
#[derive(Clone)]
pub(crate) struct Wakeups {
    senders: Arc<Vec<watch::Sender<u64>>>,
}

impl Wakeups {
    pub(crate) fn new() -> Wakeups {
        let senders = Channel::ALL.iter().map(|_| watch::channel(0).0).collect();
        Wakeups {
            senders: Arc::new(senders),
        }
    }

    pub(crate) fn wake(&self, channel: Channel) {
        self.senders[channel.index()].send_modify(|count| *count = count.wrapping_add(1));
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
