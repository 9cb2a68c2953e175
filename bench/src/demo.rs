//! What the bench binaries share about the demo data.
use passerelle::config::Settings;
use secrecy::SecretString;

/// A day-long token for the demo's admin, signed with `secret`, for servers run with `settings`'
/// issuer and audience.
pub fn admin_token(secret: &SecretString, settings: &Settings) -> anyhow::Result<String> {
    passerelle::auth::tokens::mint_for(
        secret,
        &settings.jwt_issuer,
        &settings.jwt_audience,
        "admin@passerelle.example",
        None,
        24 * 3600,
    )
}
