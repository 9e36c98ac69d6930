//! Signing in so that a stolen password alone opens nothing.
//!
//! Every account must present a second factor: a TOTP code from an authenticator app,
//! or one of its one-time recovery codes. The password alone yields a *password-only*
//! session ([`PendingSignIn`]) that can do exactly two things — enrol an authenticator
//! if the account has none, or present a second factor — and is not an
//! [`Actor`](tiaki_domain::Actor), so no use case can be handed one. Presenting the
//! second factor ends it and opens a new session with a new token.
//!
//! The JSON API signs in with one call carrying all three, and every failure — unknown
//! username, wrong password, missing, wrong or replayed second factor, throttled —
//! is the same [`CoreError::SecondFactorRequired`](crate::CoreError) after the same
//! Argon2id verification (throttling answers sooner, but reveals nothing either, since
//! it counts usernames whether or not they exist). See [`throttle`] for the limits and
//! [`password_policy`] for what a new password must be.

mod devices;
mod email;
mod factors;
mod invitations;
mod login;
mod passkeys;
mod password_change;
pub mod password_policy;
mod recovery;
mod reset;
mod step_up;
pub mod throttle;

pub use devices::{DEVICE_COOKIE_PREFIX, DeviceCookie, PasswordOutcome, TrustedDeviceView};
pub use email::{EmailStatus, parse_address};
pub use factors::{Enrolled, ProvisionedFactors, RECOVERY_CODE_COUNT, TotpEnrolment};
pub use invitations::{
    InvitationPreview, InvitationStatus, InvitationView, IssuedInvitation, PatientRegistration,
    parse_username,
};
pub use login::{PasswordAccepted, PendingSignIn, SecondFactor};
pub use passkeys::{PasskeyEnrolled, PasskeyOptions, PasskeyView, SignInChoices, WebauthnConfig};
pub use password_change::PasswordChange;
pub use recovery::FactorsOverview;
pub use step_up::SteppedUp;
pub use throttle::ThrottleConfig;

/// The issuer name authenticator apps show beside the code.
pub const TOTP_ISSUER: &str = "Tiaki";
