//! The event log: every state change in jeny is an event, appended in the same transaction as the
//! change, so the log and the state never disagree. Events are ordered by a gap-tolerant
//! increasing id that matches commit order (see `log::append`), durable, and read by consumers
//! that keep their own cursor (`consumer`), so nothing is lost across a restart and a consumer can
//! be added without touching the producer. `GET /api/v1/events` is the audit trail and its live
//! form.

pub mod api;
mod consumer;
mod log;
mod model;

pub use consumer::{
    BoxError, StartFrom, Subscriber, cursor_position, load_or_create_cursor, run_subscriber,
    save_cursor,
};
pub use log::{EventFilter, append, latest_id, read_after};
pub use model::{Event, NewEvent};
