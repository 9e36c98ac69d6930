//! The two plain data types this crate stores for `tiaki-crypto`: wrapped keys are
//! opaque bytes here, with the KEK version that wrapped them.

pub use tiaki_crypto::{KekVersion, WrappedDataKey, WrappedPatientKey};
