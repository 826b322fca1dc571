//! The one error type of this crate. Every message names the value at fault and says what to do,
//! because these reach an admin configuring a provider or a DKIM key, not a developer.
//!
//! Sending a message never returns a `MailError`: the outcome of an SMTP transaction is a
//! [`SendOutcome`](crate::SendOutcome), because a deferral or a bounce is a normal result the
//! campaign sender records, not a failure of the program.

/// What went wrong while configuring a provider, building or signing a message, or checking a
/// provider's login.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The provider URL could not be understood. The URL is never repeated in the message,
    /// because it may carry a password.
    #[error("invalid SMTP provider URL: {reason}")]
    InvalidProviderUrl { reason: String },

    /// A provider setting other than the URL is out of range.
    #[error("invalid SMTP provider setting: {reason}")]
    InvalidSetting { reason: String },

    /// An email address (sender, recipient, reply-to) is not a valid address.
    #[error("invalid email address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },

    /// A header value would be malformed or could inject other headers.
    #[error("invalid value for the {header} header: {reason}")]
    InvalidHeader {
        header: &'static str,
        reason: String,
    },

    /// lettre refused to build the message (it names the missing or conflicting part).
    #[error("could not build the email message: {0}")]
    Build(String),

    /// A DKIM key could not be generated, parsed or used.
    #[error("DKIM key problem: {reason}")]
    DkimKey { reason: String },

    /// Signing failed (the message has none of the headers to sign, or the crypto library failed).
    #[error("could not DKIM-sign the message: {reason}")]
    DkimSign { reason: String },

    /// A signature did not verify against the given DNS record.
    #[error("DKIM verification failed: {reason}")]
    DkimVerify { reason: String },

    /// TLS for the provider could not be set up (e.g. no usable root certificates).
    #[error("could not set up TLS for {server}: {reason}")]
    Tls { server: String, reason: String },

    /// The provider's SMTP server rejected the login.
    #[error(
        "the SMTP server at {server} refused the login for user {user}: {reply}; check the username and password (or app password) in the provider settings"
    )]
    AuthRefused {
        server: String,
        user: String,
        reply: String,
    },

    /// The provider could not be reached or talked to (refused, timed out, TLS failure, an
    /// unexpected reply).
    #[error("could not talk to the SMTP server at {server}: {reason}")]
    Unreachable { server: String, reason: String },

    /// The SMTP pool was created outside a tokio runtime; lettre's pool needs one for its
    /// idle-connection reaper.
    #[error("the SMTP pool must be created inside a tokio runtime")]
    NoRuntime,
}
