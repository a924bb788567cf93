//! Projects', environments' and variables' wire types and the validation of what a client may
//! write are `jeny_api::projects` (shared with the clients); this room re-exports them. Nothing
//! here is server-only yet.

pub use jeny_api::projects::*;
