//! Every query on the deploys part's tables (`deploys`, `deploy_output`, `environment_locks`);
//! only this crate reads them. Portable SQL; where the backends differ (row locks, the clock) the
//! store's primitives say so (`WriteTx::for_update`, `now_sql`, `lock_named`).

mod deploys;
mod locks;
mod output;
mod retention;

pub use deploys::DeployFilter;
pub(crate) use deploys::*;
pub(crate) use locks::*;
pub(crate) use output::*;
pub(crate) use retention::*;
