//! Fetching a partner's feed over HTTP: bounded in time and size, retried on network errors
//! and server errors, conditional on the last feed's validators, and refused when the URL leads
//! to a private or loopback address (unless the configuration allows it).
//!
//! The body is written to an anonymous temporary file as it arrives, so memory stays flat
//! whatever the feed size; the import then streams it from there.
use std::fmt;
use std::io::{Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::header::{
    CONTENT_LENGTH, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    LOCATION,
};
use reqwest::{StatusCode, Url};
use tokio::io::AsyncWriteExt;

/// The default largest feed accepted: 200 MiB, counted after decompression.
pub const DEFAULT_MAX_BYTES: u64 = 200 * 1024 * 1024;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// How feeds are fetched.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Largest body accepted, after decompression.
    pub max_bytes: u64,
    /// Time to open the connection.
    pub connect_timeout: Duration,
    /// Time for the whole response, body included, per attempt.
    pub timeout: Duration,
    /// Further attempts after a network error or a 5xx/429 answer.
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff: Duration,
    /// Allow URLs that resolve to loopback, private or link-local addresses.
    pub allow_private: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_bytes: DEFAULT_MAX_BYTES,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(300),
            retries: 3,
            backoff: Duration::from_secs(2),
            allow_private: false,
        }
    }
}

/// Basic-auth credentials of a feed. The password never shows in `Debug`.
#[derive(Clone)]
pub struct BasicAuth {
    pub user: String,
    pub password: Option<String>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The validators of a feed version, sent back to make the next request conditional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Validators {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Validators {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        }
    }

    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// What a fetch brought back.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the feed has not changed since the validators sent.
    NotModified,
    /// A new feed, in a temporary file positioned at its start (deleted when dropped).
    Feed {
        file: std::fs::File,
        bytes: u64,
        validators: Validators,
    },
}

/// Why a feed could not be fetched. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid feed URL: {0}")]
    InvalidUrl(String),
    #[error(
        "the feed URL leads to {addr}, a private or loopback address; set feed_allow_private to allow it"
    )]
    PrivateAddress { addr: IpAddr },
    #[error("cannot resolve the feed's host {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("the feed server answered HTTP {0}")]
    Status(u16),
    #[error("the feed is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the feed did not arrive within {0} s")]
    Timeout(u64),
    #[error("cannot fetch the feed: {0}")]
    Network(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("cannot store the feed: {0}")]
    Io(#[from] std::io::Error),
}

impl FetchError {
    /// Errors that another attempt may cure: the network, a timeout, a 5xx or 429 answer.
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Network(_) | FetchError::Timeout(_) => true,
            FetchError::Status(code) => *code >= 500 || *code == 429,
            _ => false,
        }
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared,
/// benchmarking, documentation, IETF-reserved, multicast or unspecified, and, for IPv6 forms
/// that carry an IPv4 address (mapped, compatible, NAT64, 6to4), not carrying such an address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [first, second, third, _] = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_broadcast()
                || a.is_documentation()
                || a.is_unspecified()
                || a.is_multicast()
                || first == 0
                || first >= 240
                || (first == 100 && (second & 0xc0) == 64)
                || (first == 192 && second == 0 && third == 0)
                || (first == 198 && (second & 0xfe) == 18))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            let embedded = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ))
            };
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address
            // in their last 32 bits, 6to4 (2002:aabb:ccdd::) in bits 16 to 48.
            if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return !a.is_loopback() && !a.is_unspecified() && is_public(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public(embedded(s[1], s[2]));
            }
            !(a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

pub use passerelle_entities::publisher::display_url;

/// Fetches `url`, conditionally on `validators`, retrying transient failures.
///
/// # Errors
/// See [`FetchError`]; transient ones only after the last retry.
pub async fn fetch(
    url: &str,
    auth: Option<&BasicAuth>,
    validators: &Validators,
    options: &FetchOptions,
) -> Result<Fetched, FetchError> {
    let mut attempt = 0;
    loop {
        let result =
            tokio::time::timeout(options.timeout, fetch_once(url, auth, validators, options))
                .await
                .unwrap_or(Err(FetchError::Timeout(options.timeout.as_secs())));
        match result {
            Err(e) if e.is_transient() && attempt < options.retries => {
                let wait = options.backoff.saturating_mul(1 << attempt.min(16));
                tracing::warn!(error = %e, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "feed fetch failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Checks where `url` leads and returns the addresses to connect to: http or https, and, unless
/// `allow_private`, public addresses only (webhook calls use it too).
pub async fn resolve(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::InvalidUrl(format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| FetchError::InvalidUrl("no host".to_owned()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| FetchError::Resolve {
                host: bare.to_owned(),
                message: e.to_string(),
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(FetchError::Resolve {
            host: bare.to_owned(),
            message: "no address".to_owned(),
        });
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(FetchError::PrivateAddress { addr: bad.ip() });
    }
    Ok(addrs)
}

fn network(e: &reqwest::Error) -> FetchError {
    // Without the URL: it may carry credentials.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    FetchError::Network(message)
}

async fn fetch_once(
    url: &str,
    auth: Option<&BasicAuth>,
    validators: &Validators,
    options: &FetchOptions,
) -> Result<Fetched, FetchError> {
    let mut url = Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
    let origin = url.origin();
    for _ in 0..=MAX_REDIRECTS {
        let addrs = resolve(&url, options.allow_private).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        crate::install_tls_provider();
        // Connect only to the addresses checked above, so that a second DNS answer cannot
        // lead elsewhere; follow redirects here, checking each hop the same way.
        // No proxy from the environment either: a proxy would resolve the host again.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!(
                "Passerelle/",
                env!("CARGO_PKG_VERSION"),
                " feed import"
            ))
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|e| network(&e.without_url()))?;
        let mut request = client
            .get(url.clone())
            .header("accept", "application/xml, text/xml;q=0.9, */*;q=0.1");
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(date) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, date);
        }
        // Credentials go to the feed's own origin only (scheme, host and port): never to
        // another host it redirects to, nor over plain HTTP after an HTTPS start.
        if let Some(a) = auth
            && url.origin() == origin
        {
            request = request.basic_auth(&a.user, a.password.as_ref());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| network(&e.without_url()))?;
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(FetchError::Status(status.as_u16()))?;
            url = url
                .join(location)
                .map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
            continue;
        }
        if status == StatusCode::NOT_MODIFIED && !validators.is_empty() {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let compressed = response.headers().contains_key("content-encoding");
        if !compressed && declared.is_some_and(|n| n > options.max_bytes) {
            return Err(FetchError::TooLarge {
                limit: options.max_bytes,
            });
        }
        let new_validators = Validators::from_headers(response.headers());
        let mut file = tokio::fs::File::from_std(tempfile::tempfile()?);
        let mut bytes: u64 = 0;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| network(&e.without_url()))?
        {
            bytes += chunk.len() as u64;
            if bytes > options.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: options.max_bytes,
                });
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        let mut file = file.into_std().await;
        file.seek(SeekFrom::Start(0))?;
        return Ok(Fetched::Feed {
            file,
            bytes,
            validators: new_validators,
        });
    }
    Err(FetchError::TooManyRedirects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:c0a8:0101::1",
            "fec0::1",
            "192.0.0.8",
            "198.18.0.1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = text.parse().expect("an address");
            assert!(!is_public(ip), "{text} must not be public");
        }
        for text in [
            "8.8.8.8",
            "51.15.0.1",
            "2001:4860:4860::8888",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            let ip: IpAddr = text.parse().expect("an address");
            assert!(is_public(ip), "{text} is public");
        }
    }

    #[test]
    fn displayed_urls_carry_no_credentials() {
        assert_eq!(
            display_url("https://user:secret@feeds.example.org/missions.xml?token=abc"),
            "https://feeds.example.org/missions.xml"
        );
        assert_eq!(display_url("not a url"), "(invalid URL)");
    }
}
