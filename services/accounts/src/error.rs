//! The accounts service answers with the shared error set of the runtime.

pub use nordstern_runtime::error::{
    ServiceError as AccountsError, ServiceResult as AccountsResult,
};
