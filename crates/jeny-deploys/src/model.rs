//! Deploys' and environment locks' wire types and the validation of what a client may ask are
//! `jeny_api::deploys` (shared with the clients); this room re-exports them. Nothing here is
//! server-only yet.

pub use jeny_api::deploys::*;
